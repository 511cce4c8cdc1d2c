"""`srlm cluster smoke` (srlm_nemo/cluster/smoke.py): one line per step, PASS / FAIL / SKIP, exit 1
on a FAIL. Here (no GPU, no Transformer Engine, no Apex) the NeMo steps SKIP and say why; what
needs NeMo's sources runs only where SRLM_NEMO_SRC names a directory holding NeMo/ (v2.1.0) and
NeMo-Aligner/ (v0.7.0) checkouts, as on the development machine, not on CI."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srlm_nemo.cluster.smoke import TINY_ARCH, first_loss, max_logit_difference, scaled_section
from srlm_nemo.config import load_config
from srlm_nemo.megatron_layout import validate_layout

from .conftest import REPO, srlm

STEPS = ["probe", "tiny_model", "convert", "verify", "round_trip", "sft", "dpo", "export", "generate"]


def _lines(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if parts and parts[0] in ("PASS", "FAIL", "SKIP") and len(parts) > 1:
            out[parts[1]] = line
    return out


def test_without_nemo_the_nemo_steps_skip_and_say_why(tmp_path):
    p = srlm("cluster", "smoke", "--python", sys.executable, "--nemo-dir", str(tmp_path / "no-nemo"),
             "--aligner-dir", str(tmp_path / "no-aligner"), "--work", str(tmp_path / "smoke"))
    lines = _lines(p.stdout)
    assert list(lines) == STEPS
    assert {k: v.split()[0] for k, v in lines.items()} == {
        "probe": "PASS", "tiny_model": "PASS", "convert": "SKIP", "verify": "SKIP", "round_trip": "SKIP",
        "sft": "SKIP", "dpo": "SKIP", "export": "SKIP", "generate": "PASS"}
    assert "NeMo's sources (--nemo-dir)" in lines["convert"] and "transformer_engine" in lines["convert"]
    assert "convert did not pass" in lines["verify"]
    assert "4 heads / 2 KV heads, tied embeddings True" in lines["tiny_model"]
    assert "head to head vs tiny_hf" in lines["generate"]
    assert "smoke: 3 passed, 0 failed, 6 skipped" in p.stdout


def test_a_failing_step_shows_its_log_and_fails_the_command(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'RuntimeError: the training image is broken' >&2\nexit 3\n")
    fake.chmod(0o755)
    p = srlm("cluster", "smoke", "--python", str(fake), "--work", str(tmp_path / "smoke"), check=False)
    assert p.returncode == 1
    lines = _lines(p.stdout)
    assert lines["probe"].startswith("FAIL  probe") and "exit 3" in lines["probe"]
    assert "      | RuntimeError: the training image is broken" in p.stdout
    assert f"full log: {tmp_path / 'smoke' / 'logs' / 'probe.log'}" in p.stdout
    assert "1 failed" in p.stdout.splitlines()[-1]


@pytest.mark.parametrize("gpus,layout", [(1, (1, 1)), (2, (2, 1)), (4, (2, 2)), (8, (2, 2))])
def test_the_smoke_layout_passes_the_runs_own_layout_check(gpus, layout):
    from dataclasses import replace
    cfg, _ = load_config(["experiment=llama2_70b_h100"])  # its sequence parallelism, TE, batch sizes
    for sec in ("sft", "dpo"):
        s = scaled_section(getattr(cfg, sec), gpus)
        assert (s.parallel.tensor_parallel, s.parallel.pipeline_parallel) == layout
        cluster = replace(cfg.cluster, gpus_per_node=layout[0] * layout[1])
        assert validate_layout(sec, s, TINY_ARCH, cluster) == 1


def test_first_loss_reads_nemo_aligners_progress_bar():
    """NeMo-Aligner's DPO loop sets tqdm's postfix to the step's metrics, each named train_*;
    written here by tqdm itself. A checkpoint name's validation_loss is not the training loss."""
    import io

    from tqdm import tqdm
    out = io.StringIO()
    out.write("saved megatron_gpt--validation_loss=0.512-step=1-consumed_samples=4.0\n")
    bar = tqdm(range(2), file=out, desc="Training steps")
    for step in bar:
        bar.set_postfix({"train_loss": [0.6931471805599453, 0.52][step], "train_acc": 0.5, "train_lr": 1e-6})
    assert first_loss(out.getvalue()) == pytest.approx(0.693)
    assert first_loss("val_loss=0.5 validation_loss=0.4") is None


def test_the_first_loss_is_read_from_tensorboard_at_full_precision(tmp_path):
    """What the dpo step reads first: `train/loss` at the lowest step of NeMo's TensorBoard log
    (also across the event files of a resumed run), not the progress bar's three digits."""
    from torch.utils.tensorboard import SummaryWriter

    from srlm_nemo.cluster.smoke import READ_FIRST_LOSS
    for run, steps in (("resumed", (1,)), ("first", (0, 1))):
        w = SummaryWriter(str(tmp_path / "results" / run))
        for s in steps:
            w.add_scalar("train/loss", 0.6931 + s / 10, s)
            w.add_scalar("val/loss", 0.1, s)
        w.close()
    p = subprocess.run([sys.executable, "-c", READ_FIRST_LOSS, str(tmp_path / "results")], capture_output=True,
                       text=True, check=True)
    step, value = p.stdout.split()[1:]
    assert step == "0" and float(value) == pytest.approx(0.6931, abs=1e-6)
    empty = subprocess.run([sys.executable, "-c", READ_FIRST_LOSS, str(tmp_path / "none")], capture_output=True,
                           text=True, check=True)
    assert empty.stdout.split() == ["FIRST_LOSS"]


def test_relative_source_directories_are_read_from_where_the_command_ran(tmp_path, monkeypatch):
    """The steps run inside --work, so `--nemo-dir .gpu-src/NeMo` must mean the directory seen
    from where srlm was started (on the GPU machine NeMo's converter was first looked for inside
    the work directory and not found)."""
    from srlm_nemo.backends.nemo_aligner import checkpoints, checks, commands, data  # noqa: F401
    from srlm_nemo.cluster.smoke import Smoke
    monkeypatch.chdir(tmp_path)
    smoke = Smoke(load_config([])[0], Path("work"), sys.executable, Path("src/NeMo"), Path("src/NeMo-Aligner"),
                  out=lambda line: None)
    cmd = commands.convert_hf_to_nemo(smoke.cluster, "hf", "out.nemo")
    assert cmd[1] == f"{tmp_path}/src/NeMo/scripts/checkpoint_converters/convert_llama_hf_to_nemo.py"
    assert smoke.aligner_dir == tmp_path / "src/NeMo-Aligner"


@pytest.mark.parametrize("prints,exits,expect", [
    ("FIRST_LOSS 0 0.6931472", 0, (0.6931472, "TensorBoard train/loss at step 0")),
    ("FIRST_LOSS", 0, (0.693, "progress bar, 3 digits")),                      # no train/loss logged
    ("ModuleNotFoundError: No module named 'tensorboard'", 1, (0.693, "progress bar, 3 digits"))])
def test_the_first_loss_falls_back_to_the_progress_bar(prints, exits, expect, tmp_path):
    """The training Python reads NeMo's TensorBoard log; where it logged no train/loss or has no
    TensorBoard, the step reads the progress bar instead of failing."""
    from srlm_nemo.cluster.smoke import Smoke
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\necho \"{prints}\"\nexit {exits}\n")
    fake.chmod(0o755)
    smoke = Smoke(load_config([])[0], tmp_path / "work", str(fake), None, None, out=lambda line: None)
    log = tmp_path / "dpo.log"
    log.write_text("Training steps:  50%|#####     | 1/2 [00:03<00:03, train_loss=0.693, train_acc=0.5, train_lr=1e-6]")
    value, source = smoke.first_dpo_loss(log)
    assert (value, source) == (pytest.approx(expect[0]), expect[1])


def test_reference_log_probs_against_hf_catch_a_wrong_model_or_shift(tiny_model):
    """The dpo step's comparison, on a dump laid out as NeMo-Aligner's collate lays it out
    (inputs = sequence without its last token, labels = the next tokens, the prompt's -100):
    log-probs of the same model agree; another model's, or labels left unshifted, do not."""
    import torch
    from transformers import AutoModelForCausalLM

    from srlm_nemo.cluster.smoke import REFERENCE_TOLERANCE, reference_difference

    def dump(model, scored_shift=1):
        """scored_shift 0: the reference scored each position's own token, not the next one."""
        seqs, prompt = [[1, 5, 9, 14, 3, 7, 2], [1, 5, 9, 20, 21, 2, 2]], 3
        tokens = [s[:-1] for s in seqs]
        labels = [([-100] * prompt + s[prompt:])[1:] for s in seqs]
        scored = [([-100] * prompt + s[prompt:])[scored_shift:scored_shift + len(s) - 1] for s in seqs]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor(tokens)).logits.float(), dim=-1)
        ref = [[float(logp[b, i, max(label, 0)]) for i, label in enumerate(row)] for b, row in enumerate(scored)]
        return {"tokens": tokens, "labels": labels, "logprobs": ref}

    m = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32)
    assert reference_difference(dump(m), tiny_model)[0] < 1e-5
    assert reference_difference(dump(m, scored_shift=0), tiny_model)[0] > REFERENCE_TOLERANCE
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    assert reference_difference(dump(m), tiny_model)[0] > REFERENCE_TOLERANCE


def test_the_round_trip_check_catches_a_wrong_weight_mapping(tiny_model, tmp_path):
    """A faithful BF16 round trip (the weights rounded to bf16, as the .nemo holds them) passes the
    tolerance; the unrounded original does not (so the check compares at bf16, not looser), and
    neither does a copy whose two layers' query weights were swapped (a wrong mapping)."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from srlm_nemo.cluster.smoke import ROUND_TRIP_TOLERANCE

    def copy(name, change):
        d = tmp_path / name
        shutil.copytree(tiny_model, d)
        w = load_file(str(d / "model.safetensors"))
        change(w)
        save_file(w, str(d / "model.safetensors"), metadata={"format": "pt"})
        return d

    def to_bf16(w):
        for k in w:
            w[k] = w[k].to(torch.bfloat16).to(torch.float32)

    def swap(w):
        to_bf16(w)
        q0, q1 = "model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.weight"
        w[q0], w[q1] = w[q1].clone(), w[q0].clone()
    assert max_logit_difference(tiny_model, copy("faithful", to_bf16)) <= ROUND_TRIP_TOLERANCE
    assert max_logit_difference(tiny_model, copy("unrounded", lambda w: None)) > ROUND_TRIP_TOLERANCE
    assert max_logit_difference(tiny_model, copy("swapped", swap)) > 100 * ROUND_TRIP_TOLERANCE


@pytest.mark.skipif(not os.environ.get("SRLM_NEMO_SRC") or not (REPO / ".venv-contract/bin/python").exists(),
                    reason="needs SRLM_NEMO_SRC (NeMo v2.1.0 and NeMo-Aligner v0.7.0 checkouts) and .venv-contract")
def test_nemos_own_converter_runs_here_until_it_needs_apex(tmp_path):
    """--force runs NeMo v2.1.0's converter in the contract venv (NeMo, Megatron Core, NeMo-Aligner;
    no Apex, no Transformer Engine, no GPU): it reads the tiny checkpoint, builds its config and
    stops where NeMo's DDP strategy needs Apex. The exact error, so a change in it is seen."""
    src = Path(os.environ["SRLM_NEMO_SRC"])
    p = srlm("cluster", "smoke", "--force", "--python", str(REPO / ".venv-contract/bin/python"),
             "--nemo-dir", str(src / "NeMo"), "--aligner-dir", str(src / "NeMo-Aligner"),
             "--work", str(tmp_path / "smoke"), check=False, timeout=900)
    lines = _lines(p.stdout)
    assert lines["convert"].startswith("FAIL  convert") and "ImportError: Apex was not found" in p.stdout
    assert "'precision': '16'" in (tmp_path / "smoke/logs/convert.log").read_text()  # bf16 asked, no CUDA
    assert p.returncode == 1


@pytest.mark.parametrize("algo,keys", [("sft", {"input", "output"}),
                                       ("dpo", {"prompt", "chosen_response", "rejected_response"})])
def test_the_sft_and_dpo_steps_data_is_written_here(algo, keys, tiny_model, tmp_path):
    """What the GPU-only sft/dpo steps train on is written on CPU by the run's own NeMo-Aligner
    writers: one global batch for training, one for validation, from the shipped demo seed."""
    import json

    from srlm_nemo.cluster.smoke import write_training_data
    train, val = write_training_data(algo, tiny_model, tmp_path / algo, 4)
    for path in (train, val):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(rows) == 4 and all(set(r) == keys for r in rows)
    if algo == "dpo":
        assert all(r["chosen_response"] != r["rejected_response"] for r in rows)


@pytest.mark.skipif(not os.environ.get("SRLM_NEMO_SRC") or not (REPO / ".venv-contract/bin/python").exists(),
                    reason="needs SRLM_NEMO_SRC (NeMo v2.1.0 and NeMo-Aligner v0.7.0 checkouts) and .venv-contract")
def test_the_gpu_machines_pruned_packages_end_each_script_as_before():
    """What tests/gpu/prune.txt deletes (so NeMo's packages reach the GPU machine in one call),
    deleted in a copy of .venv-contract: each script the smoke test runs ends exactly as it does
    in the original. Deleting a library pyarrow links (its Substrait) made this fail."""
    p = subprocess.run(["bash", str(REPO / "tests/gpu/check_prune.sh"), os.environ["SRLM_NEMO_SRC"]],
                       capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert p.stdout.count("\nsame ") == 5
