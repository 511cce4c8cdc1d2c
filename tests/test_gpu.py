"""The one-GPU path: the whole tiny recipe with the hf generation backend on CUDA and TRL training
in bf16 on the GPU (`training=trl_gpu`). Skipped without CUDA (CI has none); run on a GPU machine
with `pytest tests/test_gpu.py`."""
import json

import pytest

from .conftest import srlm

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_tiny_recipe_on_one_gpu(tiny_model, tmp_path):
    run_dir = tmp_path / "gpu"
    p = srlm("run", "experiment=tiny", "training=trl_gpu", "model=hf_dir", f"model.path={tiny_model}",
             f"run.run_dir={run_dir}", f"run.cache_dir={run_dir}/cache", "model.dtype=bfloat16")
    for name in ("sft", "iter_2/judge", "iter_3/dpo", "eval/rm/M3"):
        assert (run_dir / name / "manifest.json").exists(), p.stderr[-3000:]
    from srlm_nemo.backends.hf_engine import HFGenerator
    from srlm_nemo.config import load_config
    cfg = load_config(["experiment=tiny", "model=hf_dir", f"model.path={tiny_model}", "model.dtype=bfloat16"])[0]
    gen = HFGenerator(str(run_dir / "sft/model"), cfg.generation, cfg.model)
    assert gen.model.device.type == "cuda" and gen.model.dtype == torch.bfloat16
    sft = json.loads((run_dir / "sft/manifest.json").read_text())
    assert sft["stats"]["steps"] == 2  # experiment=tiny: sft.max_steps=2
    # a random judge parses no score, so no pairs: give iteration 2 scores (as test_e2e_tiny's
    # selection test does) and train DPO on the GPU, the reference model beside the policy
    from srlm_nemo.artifacts import read_jsonl, write_jsonl
    from srlm_nemo.schemas import Candidate, CandidateScore
    cands = read_jsonl(run_dir / "iter_2/candidates/candidates.jsonl", Candidate)
    write_jsonl(run_dir / "iter_2/judge/scores.jsonl", [
        CandidateScore(candidate_id=c.id, prompt_id=c.prompt_id, mean_score=float(c.index), num_valid=1,
                       num_samples=3, scores=[float(c.index)], length_chars=len(c.text)) for c in cands])
    args = ["experiment=tiny", "training=trl_gpu", "model=hf_dir", f"model.path={tiny_model}", f"run.run_dir={run_dir}",
            f"run.cache_dir={run_dir}/cache", "model.dtype=bfloat16"]
    srlm("stage", "pairs", "-i", "2", *args)
    srlm("stage", "dpo", "-i", "2", *args)
    dpo = json.loads((run_dir / "iter_2/dpo/manifest.json").read_text())["stats"]
    assert dpo["pairs"] == 4 and dpo["steps"] >= 1 and dpo["last_loss"] is not None
