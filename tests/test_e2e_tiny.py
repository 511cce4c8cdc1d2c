"""The whole recipe on a tiny random-weight Llama (built by the test, no download), hf backend.

Checks every artifact validates against its schema, manifests are complete, a finished run
re-runs with no work, changed config re-runs only what depends on it, a SIGKILL inside a
generation stage resumes to the identical result. (The loop with real pairs, DPO and checkpoint
selection: tests/test_loop_scripted.py.)
"""
import json
import shutil
import time

import pytest

from srlm_nemo.artifacts import read_jsonl
from srlm_nemo.schemas import ARTIFACT_TYPES, Candidate, GeneratedPrompt, Judgement

from .conftest import srlm

STAGES = (
    ["seed", "sft"]
    + [f"iter_{t}/{s}" for t in (2, 3) for s in ("prompts", "candidates", "judge", "pairs", "dpo")]
    + ["eval/rm/M1", "eval/rm/M2", "eval/rm/M3", "eval/h2h/M2_vs_M1", "eval/h2h/M3_vs_M2"]
)


def _args(model, run_dir, *extra):
    return ["experiment=tiny", "model=hf_dir", f"model.path={model}", f"run.run_dir={run_dir}",
            f"run.cache_dir={run_dir}/cache", *extra]


@pytest.fixture(scope="module")
def tiny_run(tiny_model, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "tiny"
    p = srlm("run", *_args(tiny_model, run_dir))
    return run_dir, p


def test_all_stages_and_artifacts(tiny_run):
    run_dir, p = tiny_run
    for name in STAGES:
        m = json.loads((run_dir / name / "manifest.json").read_text())
        assert m["stage"] == name and len(m["fingerprint"]) == 64
        assert {"config_hash", "inputs", "outputs", "seconds", "versions", "model"} <= set(m)
        assert "torch" in m["versions"] and "transformers" in m["versions"]
        for out in m["outputs"].values():
            assert len(out["hash"]) == 64
    for f, rtype in {
        "seed/ift.jsonl": "ift",
        "seed/eft_train.jsonl": "eft_train",
        "seed/eval_trees.jsonl": "eval_trees",
        "iter_2/prompts/prompts.jsonl": "prompts",
        "iter_2/candidates/candidates.jsonl": "candidates",
        "iter_2/judge/judgements.jsonl": "judgements",
        "iter_2/judge/scores.jsonl": "scores",
        "iter_2/pairs/pairs.jsonl": "pairs",
    }.items():
        read_jsonl(run_dir / f, ARTIFACT_TYPES[rtype])  # validates every record
    prompts = read_jsonl(run_dir / "iter_2/prompts/prompts.jsonl", GeneratedPrompt)
    cands = read_jsonl(run_dir / "iter_2/candidates/candidates.jsonl", Candidate)
    judgements = read_jsonl(run_dir / "iter_2/judge/judgements.jsonl", Judgement)
    assert len(prompts) == 4 and len(cands) == 4 * 4 and len(judgements) == 3 * len(cands)
    assert {c.sampling.n for c in cands} == {4} and all(c.sampling.seed is not None for c in cands)
    for t in (1, 2, 3):  # model directories are HF checkpoints with tokenizer and chat template
        d = run_dir / ("sft/model" if t == 1 else f"iter_{t}/dpo/model")
        assert (d / "model.safetensors").exists() and (d / "tokenizer.json").exists()
        assert (d / "chat_template.jinja").exists() or "chat_template" in (d / "tokenizer_config.json").read_text()
    summary = (run_dir / "summary.md").read_text()
    assert "judge parse rate" in summary and "summary.md" in p.stdout
    # reward-model evaluation of every model: one row per human-ranked reply, scored or null
    rm = json.loads((run_dir / "eval/rm/M2/manifest.json").read_text())["stats"]
    n_replies = sum(len(t.replies) for t in read_jsonl(run_dir / "seed/eval_trees.jsonl", ARTIFACT_TYPES["eval_trees"]))
    assert rm["metrics"]["counts"]["rows"] == n_replies and "parse_rate" in rm
    assert "| M3 |" in summary and "81.7" in summary  # the paper's Table 4 beside ours


def test_rerun_does_no_work(tiny_run, tiny_model):
    run_dir, _ = tiny_run
    before = {n: (run_dir / n / "manifest.json").stat().st_mtime_ns for n in STAGES}
    t0 = time.time()
    p = srlm("run", *_args(tiny_model, run_dir))
    assert time.time() - t0 < 30
    assert p.stderr.count("[skip]") == len(STAGES) and "[run ]" not in p.stderr
    assert before == {n: (run_dir / n / "manifest.json").stat().st_mtime_ns for n in STAGES}


def test_plan_and_status(tiny_run, tiny_model):
    run_dir, _ = tiny_run
    p = srlm("plan", *_args(tiny_model, run_dir, "judge.k=2"))
    assert "would run: iter_2/judge" in p.stdout.replace("\n", " ")
    assert "stale" in p.stdout and "rouge_threshold" in p.stdout
    p = srlm("status", str(run_dir))
    assert "done  iter_3/dpo" in p.stdout and "summary.md" in p.stdout


def test_changed_config_reruns_downstream_only(tiny_run, tiny_model, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(tiny_run[0], run_dir)
    p = srlm("run", *_args(tiny_model, run_dir, "pairs.min_valid_candidates=3"))
    ran = {line.split()[2] for line in p.stderr.splitlines() if line.startswith("[run ]")}
    assert "iter_2/pairs" in ran and "iter_2/judge" not in ran and "sft" not in ran


def test_kill_mid_generation_resumes_to_same_result(tiny_run, tiny_model, tmp_path):
    ref_dir, _ = tiny_run
    run_dir = tmp_path / "killed"
    # iteration 1's candidates stage has 2 shards (4 prompts, shard_size 2): kill after the first.
    p = srlm("run", *_args(tiny_model, run_dir), env={"SRLM_FAULT_KILL_AFTER_SHARDS": "1:iter_2/candidates"},
             check=False)
    assert p.returncode == -9
    cdir = run_dir / "iter_2" / "candidates"
    assert [x.name for x in (cdir / "shards").glob("*/*.jsonl")] == ["00000.jsonl"]
    plan = srlm("plan", *_args(tiny_model, run_dir)).stdout.splitlines()
    assert any("iter_2/candidates" in line and "partial" in line for line in plan)
    assert not (cdir / "manifest.json").exists()
    p = srlm("run", *_args(tiny_model, run_dir))
    assert "[run ] iter_2/candidates (resuming)" in p.stderr
    ours = read_jsonl(cdir / "candidates.jsonl", Candidate)
    ref = read_jsonl(ref_dir / "iter_2/candidates/candidates.jsonl", Candidate)
    assert [c.id for c in ours] == [c.id for c in ref]  # nothing lost, nothing duplicated
    assert [c.text for c in ours] == [c.text for c in ref]  # shard seeds make resume reproducible


def test_stage_with_missing_input_is_a_clear_error(tiny_model, tmp_path):
    p = srlm("stage", "judge", "-i", "2", *_args(tiny_model, tmp_path / "empty"), check=False)
    assert p.returncode == 2 and "input missing" in p.stderr and "candidates" in p.stderr


def test_bad_model_path_and_key(tmp_path):
    p = srlm("plan", "experiment=tiny", "model=hf_dir", f"model.path={tmp_path}/nope", check=False)
    assert p.returncode == 2 and "model.path" in p.stderr and "nope" in p.stderr
    p = srlm("plan", "experiment=tiny", "candidates.temprature=1", check=False)
    assert p.returncode == 2 and "candidates.temprature" in p.stderr


def test_oasst_trees_with_eft_builder(tiny_model, tmp_path):
    """The real OASST path on a trees file the test writes: IFT, held-out eval trees, and the EFT
    builder (IFT-only SFT model judges ranked replies). The random model parses no score, so it
    keeps no EFT example, and the manifest says exactly that."""
    trees = tmp_path / "mini.trees.jsonl"
    with open(trees, "w") as f:
        for i in range(12):
            replies = [
                {
                    "message_id": f"r{i}-{k}",
                    "text": f"reply {k} to question {i} with some words",
                    "role": "assistant",
                    "lang": "en",
                    "rank": k,
                    "replies": [],
                }
                for k in range(3)
            ]
            f.write(json.dumps({"message_tree_id": f"t{i}", "prompt": {
                "message_id": f"p{i}", "text": f"Question number {i}: how does thing {i} work?", "role": "prompter",
                "lang": "en", "replies": replies}}) + "\n")
    run_dir = tmp_path / "oasst"
    srlm("run", *_args(tiny_model, run_dir, "seed.source=oasst_trees", f"seed.path={trees}", "seed.num_ift=6",
                       "seed.num_eval_trees=2", "seed.num_ranked_pool=4", "seed.eft_source=build", "run.iterations=1"))
    seed = json.loads((run_dir / "seed/manifest.json").read_text())["stats"]
    assert (seed["ift"], seed["eval_trees"], seed["ranked_pool"]) == (6, 2, 4)  # held out first, IFT from the rest
    eft = json.loads((run_dir / "eft/manifest.json").read_text())["stats"]
    assert eft["replies_judged"] == 12 and eft["ranked_prompts"] == 4
    assert (eft["prompts_agree"], eft["prompts_disagree"]) == (0, 4)  # a random judge parses no score
    assert eft["eft_train"] == len(read_jsonl(run_dir / "eft/eft_train.jsonl"))
    sft = json.loads((run_dir / "sft/manifest.json").read_text())
    assert sft["inputs"]["eft_train"]["path"].endswith("eft/eft_train.jsonl")
    assert (run_dir / "eval/rm/SFT-IFT/manifest.json").exists()  # the SFT-baseline row of Table 4


def test_report_renders_and_links_resolve(tiny_run, tmp_path):
    import re

    from PIL import Image
    run_dir = tmp_path / "report_run"
    shutil.copytree(tiny_run[0], run_dir)
    shutil.rmtree(run_dir / "report", ignore_errors=True)
    p = srlm("report", str(run_dir))
    page = run_dir / "report" / "index.md"
    assert str(page) in p.stdout
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text())
    assert {"prompts_filters.png", "judge.png", "pairs.png", "dpo.png", "response_length.png",
            "reward_model.png", "head_to_head.png", "win_rates.png"} <= set(links)  # every panel after `srlm run`
    for link in links:
        with Image.open(page.parent / link) as im:  # a real, decodable PNG with content
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200
            assert len(im.convert("L").getcolors(maxcolors=1 << 16) or []) > 10
    assert (tiny_run[0] / "report" / "index.md").exists()  # `srlm run` refreshed it itself


def test_eval_alpaca_and_h2h_on_tiny_models(tiny_run, tiny_model, tmp_path):
    run_dir = tmp_path / "evals"
    shutil.copytree(tiny_run[0], run_dir)
    instr = tmp_path / "alpaca_like.json"  # the AlpacaEval file layout: a JSON list
    instr.write_text(json.dumps([{"instruction": "Name a fruit.", "dataset": "demo"},
                                 {"instruction": "How do magnets work?", "dataset": "demo"}]))
    srlm("eval", "alpaca", "--model", "M3", "--instructions", str(instr), *_args(tiny_model, run_dir,
                                                                              "eval.max_new_tokens=8"))
    outs = json.loads((run_dir / "eval/alpaca/M3/model_outputs.json").read_text())
    assert [set(o) for o in outs] == [{"instruction", "output", "generator", "dataset"}] * 2
    assert outs[0]["instruction"] == "Name a fruit." and outs[0]["generator"] == "srlm-nemo-M3"
    srlm("eval", "h2h", "--a", "M3", "--b", "M2", "--prompts", str(instr),
             *_args(tiny_model, run_dir, "eval.max_new_tokens=8", "eval.judge_max_new_tokens=8"))
    stats = json.loads((run_dir / "eval/h2h/M3_vs_M2/manifest.json").read_text())["stats"]
    assert stats["win"] + stats["tie"] + stats["loss"] == stats["prompts"] == 2
    # a random judge writes no verdict: every prompt is a tie, and the unparseable ones are counted
    assert stats["tie"] == 2 and stats["unparseable_verdicts"] == 4
    assert len(read_jsonl(run_dir / "eval/h2h/M3_vs_M2/judgements.jsonl")) == 2
    report = (run_dir / "report/index.md").read_text()
    assert "| M3 | M2 |" in report and "model_outputs.json" in report and "head_to_head.png" in report
    # M_t against M_(t-1) is a point of the across-iterations panel, drawn beside the paper's line
    from PIL import Image
    assert "win_rates.png" in report
    with Image.open(run_dir / "report/win_rates.png") as im:
        assert im.format == "PNG" and len(im.convert("L").getcolors(maxcolors=1 << 16) or []) > 10
    # the hub's AlpacaEval set cannot be fetched offline: a clear error that says what to do
    p = srlm("eval", "alpaca", "--model", "M3", "--instructions", "hub",
             *_args(tiny_model, run_dir, f"run.cache_dir={tmp_path}/empty-cache"),
             env={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}, check=False)
    assert p.returncode == 2 and "give a local file with --instructions FILE" in p.stderr


def _mt_questions(path):
    path.write_text(
        "".join(
            json.dumps(q) + "\n"
            for q in [
                {
                    "question_id": 81,
                    "category": "writing",
                    "turns": ["Write a short travel note about Rome.", "Now make it rhyme."],
                },
                {
                    "question_id": 101,
                    "category": "reasoning",
                    "turns": ["What is 3 + 4?", "And times 2?"],
                    "reference": ["7", "14"],
                },
            ]
        )
    )
    return path


def test_eval_mtbench_answer_format_on_tiny_models(tiny_run, tiny_model, tmp_path):
    run_dir = tmp_path / "mt"
    shutil.copytree(tiny_run[0], run_dir)
    q = _mt_questions(tmp_path / "question.jsonl")
    srlm("eval", "mtbench", "--model", "M2", "--questions", str(q),
         *_args(tiny_model, run_dir, "eval.max_new_tokens=6", "eval.judge_max_new_tokens=6"))
    answers = read_jsonl(run_dir / "eval/mt_bench/M2/model_answer.jsonl")
    assert [a["question_id"] for a in answers] == [81, 101]
    assert all(set(a) == {"question_id", "answer_id", "model_id", "choices", "tstamp"} for a in answers)
    assert all(len(a["choices"][0]["turns"]) == 2 for a in answers)  # two turns answered
    judgments = read_jsonl(run_dir / "eval/mt_bench/M2/judgments.jsonl")
    assert [(j["question_id"], j["turn"]) for j in judgments] == [(81, 1), (81, 2), (101, 1), (101, 2)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": 1, "turns": "not a list"}\n')
    p = srlm("eval", "mtbench", "--model", "M2", "--questions", str(bad), *_args(tiny_model, run_dir), check=False)
    assert p.returncode == 2 and "bad.jsonl:1: an MT-Bench question needs" in p.stderr


def test_shard_workers_then_merge_equal_one_process(tiny_run, tiny_model, tmp_path):
    """Data-parallel generation as on a cluster (Slurm tasks, one per replica): workers fill
    disjoint shards at the same time, a plain run merges them in order. Same bytes as one process."""
    import subprocess
    import sys

    from .conftest import REPO
    ref_dir, _ = tiny_run
    run_dir = tmp_path / "run"
    shutil.copytree(ref_dir, run_dir, ignore=shutil.ignore_patterns("candidates", "judge"))
    for stage, world in (("iter_2/candidates", 2), ("iter_2/judge", 3)):
        procs = [subprocess.Popen([sys.executable, "-m", "srlm_nemo.cli", "stage", stage, "--shard-worker",
                                   "--rank", str(r), "--world", str(world), *_args(tiny_model, run_dir)],
                                  cwd=REPO, stderr=subprocess.PIPE, text=True) for r in range(world)]
        logs = [p.communicate(timeout=600)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), logs
        assert all(f"as shard worker {r} of {world}" in log for r, log in enumerate(logs))
        assert not (run_dir / stage / "manifest.json").exists()  # workers never finish the stage
        merged = srlm("stage", stage, *_args(tiny_model, run_dir))
        assert "starting" not in merged.stderr  # every shard was there: the merge generated nothing
        out = "candidates.jsonl" if stage.endswith("candidates") else "judgements.jsonl"
        assert (run_dir / stage / out).read_bytes() == (ref_dir / stage / out).read_bytes()
    bad = srlm("stage", "iter_2/pairs", "--shard-worker", "--rank", "0", "--world", "2", *_args(tiny_model, run_dir),
               check=False)
    assert bad.returncode == 2 and "not a sharded generation stage" in bad.stderr


def test_tensorboard_and_wandb_offline_logging(tiny_run, tiny_model, tmp_path):
    """The report's metrics in TensorBoard (rebuilt from the manifests: a re-run logs nothing twice)
    and in an offline W&B run that a resumed recipe continues."""
    pytest.importorskip("tensorboard")
    pytest.importorskip("wandb")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run_dir = tmp_path / "tracked"
    shutil.copytree(tiny_run[0], run_dir)
    args = _args(tiny_model, run_dir, "log.tensorboard=true", "log.wandb_project=srlm-test", "log.wandb_mode=offline")
    for _ in range(2):  # the second run is a resume with nothing to do
        srlm("run", *args, env={"WANDB_SILENT": "true"})
    events = list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = EventAccumulator(str(events[0]))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    # (the tiny random judge parses nothing: no pairs, no DPO curve, no ranking metrics, only parse rates)
    assert {"iteration/pairs", "iteration/judge_parse_rate", "reward_model/parse_rate", "train_sft/loss"} <= tags
    assert [e.step for e in acc.Scalars("iteration/pairs")] == [2, 3]  # once per iteration, not per refresh
    pairs = {e.step: e.value for e in acc.Scalars("iteration/pairs")}
    for t in (2, 3):
        assert pairs[t] == len(read_jsonl(run_dir / f"iter_{t}/pairs/pairs.jsonl"))
    run_id = (run_dir / "wandb_id").read_text().strip()
    offline = sorted((run_dir / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(offline) == 2  # one W&B run id, continued by the second `srlm run`
