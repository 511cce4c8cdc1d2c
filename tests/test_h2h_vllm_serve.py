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
    recs = [
        json.loads(line) for line in (run_dir / "eval/h2h/model_vs_model/judgements.jsonl").read_text().splitlines()
    ]
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
    judgments = [
        json.loads(line) for line in (run_dir / "eval/mt_bench/model/judgments.jsonl").read_text().splitlines()
    ]
    assert all(j["judgment"].strip() for j in judgments)  # the served judge wrote a verdict for each
    assert all(j["score"] is None or 1 <= j["score"] <= 10 for j in judgments)


def test_alpaca_eval_scores_our_file_with_a_vllm_serve_annotator(server, tiny_model, tmp_path):
    """`srlm eval alpaca` writes model_outputs.json, and the alpaca_eval package itself reads it and
    annotates it with AlpacaEval 2.0's weighted classifier sent to a real `vllm serve`."""
    pytest.importorskip("alpaca_eval")
    from .conftest import REPO
    # six prompts of the demo seed in AlpacaEval's instruction format (every clone has them)
    demo = [json.loads(line) for line in open(REPO / "srlm_nemo" / "data" / "demo_ift.jsonl")][:6]
    instr = tmp_path / "alpaca_eval.json"
    instr.write_text(json.dumps([{"instruction": r["prompt"], "dataset": "srlm_demo"} for r in demo]))
    run_dir = tmp_path / "run"
    base = ["experiment=tiny", "model=hf_dir", f"model.path={tiny_model}", f"run.run_dir={run_dir}",
            "eval.max_new_tokens=16"]
    srlm("eval", "alpaca", "--model", str(tiny_model), "--instructions", str(instr), *base)  # the baseline
    ref = json.loads((run_dir / "eval/alpaca/model/model_outputs.json").read_text())
    for r in ref:
        r["generator"] = "baseline"
    (tmp_path / "reference.json").write_text(json.dumps(ref))
    p = srlm("eval", "alpaca", "--model", str(tiny_model), "--instructions", str(instr), *base, "run.seed=1",
             "eval.alpaca_annotator=endpoint", f"eval.alpaca_reference={tmp_path / 'reference.json'}",
             f"eval.judge_base_url={server}", "eval.judge_model=smol")
    result = json.loads((run_dir / "eval/alpaca/model/alpaca_eval/result.json").read_text())
    assert result["annotator"] == "srlm_endpoint" and result["n_total"] == 6
    assert 0.0 <= result["win_rate"] <= 100.0
    assert result["comparable"] is False and "NOT comparable" in result["note"] and "NOT comparable" in p.stdout
    annotations = json.loads(open(result["annotations"]).read())
    assert len(annotations) == 6 and all(a["generator_2"] == "srlm-nemo-model" for a in annotations)
    assert sum(a["preference"] is not None for a in annotations) >= 1  # the served judge gave logprobs


def test_the_annotators_key_is_never_written_to_a_file(tmp_path, monkeypatch):
    pytest.importorskip("alpaca_eval")
    from srlm_nemo.alpaca_eval_run import endpoint_annotator
    from srlm_nemo.config import load_config
    secret = "sk-test-ABCDEF0123456789"
    monkeypatch.setenv("MY_JUDGE_KEY", secret)
    e = load_config(["experiment=tiny", "eval.judge_base_url=http://127.0.0.1:9/v1", "eval.judge_model=j",
                     "eval.judge_api_key_env=MY_JUDGE_KEY"])[0].eval
    (tmp_path / "client_configs.yaml").write_text(f"default: [{{api_key: {secret}}}]")  # an older version's
    cfg, env = endpoint_annotator(e, tmp_path)
    assert env["OPENAI_API_KEY"] == secret and env["OPENAI_API_BASE"] == "http://127.0.0.1:9/v1"
    assert not __import__("pathlib").Path(env["OPENAI_CLIENT_CONFIG_PATH"]).exists()
    assert not any(secret in p.read_text() for p in tmp_path.rglob("*") if p.is_file())
