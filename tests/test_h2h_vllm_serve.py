"""Head-to-head with the pairwise judge on a real OpenAI-compatible endpoint (`vllm serve`)."""
import json

import pytest

from .conftest import srlm

pytestmark = pytest.mark.slow


def test_h2h_with_a_vllm_serve_judge(server, tiny_model, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in
                               ["Give one tip for sleeping well.", "What is 2 + 2?", "Name a planet."]))
    run_dir = tmp_path / "run"
    p = srlm("eval", "h2h", "--a", str(tiny_model), "--b", str(tiny_model), "--prompts", str(prompts),
             "experiment=tiny", "model=hf_dir", f"model.path={tiny_model}", f"run.run_dir={run_dir}",
             "eval.max_new_tokens=8", f"eval.judge_base_url={server}", "eval.judge_model=smol",
             "eval.judge_max_new_tokens=96")
    stats = json.loads(p.stdout[:p.stdout.rindex("}") + 1])
    assert stats["judge"] == server and stats["prompts"] == 3
    assert stats["win"] + stats["tie"] + stats["loss"] == 3
    recs = [json.loads(l) for l in (run_dir / "eval/h2h/model_vs_model/judgements.jsonl").read_text().splitlines()]
    assert len(recs) == 3 and all(r["a_first"].strip() for r in recs)  # the served model did answer


def test_mtbench_with_a_vllm_serve_judge(server, tiny_model, tmp_path):
    from .test_e2e_tiny import _mt_questions
    q = _mt_questions(tmp_path / "question.jsonl")
    run_dir = tmp_path / "run"
    p = srlm("eval", "mtbench", "--model", str(tiny_model), "--questions", str(q), "experiment=tiny", "model=hf_dir",
             f"model.path={tiny_model}", f"run.run_dir={run_dir}", "eval.max_new_tokens=8",
             f"eval.judge_base_url={server}", "eval.judge_model=smol", "eval.judge_max_new_tokens=128")
    stats = json.loads(p.stdout[:p.stdout.rindex("}") + 1])
    assert stats["judgments"] == 4 and stats["judge"] == server
    judgments = [json.loads(l) for l in (run_dir / "eval/mt_bench/model/judgments.jsonl").read_text().splitlines()]
    assert all(j["judgment"].strip() for j in judgments)  # the served judge wrote a verdict for each
    assert all(j["score"] is None or 1 <= j["score"] <= 10 for j in judgments)
