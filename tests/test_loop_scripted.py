"""The self-rewarding loop, proved end to end: the tiny random Llama trains for real (SFT, DPO),
and the scripted generation backend (srlm_nemo/backends/scripted.py) writes prompts, answers of
known quality, `Score: N` judgements and pairwise verdicts, so every count below is known in
advance: each prompt's N=4 answers have 4 different qualities, so every prompt gives a pair,
DPO trains on them and changes the weights, and checkpoint selection picks what the script says.
"""
import json
import shutil

import pytest
from safetensors.numpy import load_file

from srlm_nemo.artifacts import file_sha256, read_jsonl
from srlm_nemo.backends.scripted import quality
from srlm_nemo.schemas import Candidate, CandidateScore, GeneratedPrompt, PreferencePair

from .conftest import REPO, srlm

ITERS = (2, 3)


def _args(model, run_dir, *extra):
    return ["experiment=tiny", "model=hf_dir", f"model.path={model}", f"run.run_dir={run_dir}",
            f"run.cache_dir={run_dir}/cache", "generation.name=scripted", *extra]


def _stats(run_dir, name):
    return json.loads((run_dir / name / "manifest.json").read_text())["stats"]


def _weights(model_dir):
    return load_file(str(model_dir / "model.safetensors"))


def _max_diff(a, b):
    assert a.keys() == b.keys()
    return max(float(abs(a[k] - b[k]).max()) for k in a)


@pytest.fixture(scope="module")
def loop_run(tiny_model, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("loop") / "run"
    p = srlm("run", *_args(tiny_model, run_dir))
    return run_dir, p


def test_every_prompt_gives_a_pair_of_its_best_and_worst_answer(loop_run):
    run_dir, _ = loop_run
    for t in ITERS:
        d = run_dir / f"iter_{t}"
        prompts = read_jsonl(d / "prompts/prompts.jsonl", GeneratedPrompt)
        cands = read_jsonl(d / "candidates/candidates.jsonl", Candidate)
        scores = {s.candidate_id: s for s in read_jsonl(d / "judge/scores.jsonl", CandidateScore)}
        pairs = read_jsonl(d / "pairs/pairs.jsonl", PreferencePair)
        assert len(prompts) == 4 and len(cands) == 16
        assert _stats(run_dir, f"iter_{t}/judge")["parse_rate"] == 1.0
        # the judge's mean of K=3 samples is each answer's scripted quality
        assert all(scores[c.id].mean_score == quality(c.text) and scores[c.id].num_valid == 3 for c in cands)
        assert len(pairs) == 4 and _stats(run_dir, f"iter_{t}/pairs")["pairs"] == 4
        by_id = {c.id: c for c in cands}
        for pair in pairs:
            prompt_id = by_id[pair.chosen_id].prompt_id
            assert by_id[pair.rejected_id].prompt_id == prompt_id
            qs = [quality(c.text) for c in cands if c.prompt_id == prompt_id]
            assert len(set(qs)) == 4  # no tie to drop
            assert (pair.chosen_score, pair.rejected_score) == (max(qs), min(qs))
            assert quality(pair.chosen[0].content) == max(qs) and quality(pair.rejected[0].content) == min(qs)


def test_dpo_trains_on_the_pairs_and_changes_the_weights(loop_run):
    run_dir, _ = loop_run
    previous = run_dir / "sft/model"
    for t in ITERS:
        st = _stats(run_dir, f"iter_{t}/dpo")
        assert (st["pairs"], st["steps"], st["kept"]) == (4, 2, "final")
        assert st["first_loss"] > 0 and st["last_reward_margin"] is not None
        model = run_dir / f"iter_{t}/dpo/model"
        assert _max_diff(_weights(model), _weights(previous)) > 0, f"M{t} has M{t - 1}'s weights"
        previous = model


def test_head_to_head_and_reward_model_evaluation_read_every_verdict(loop_run):
    run_dir, _ = loop_run
    for name in ("eval/h2h/M2_vs_M1", "eval/h2h/M3_vs_M2"):
        h = _stats(run_dir, name)
        assert h["unparseable_verdicts"] == 0 and h["win"] + h["tie"] + h["loss"] == h["prompts"] == 6
    for m in ("M1", "M2", "M3"):
        assert _stats(run_dir, f"eval/rm/{m}")["parse_rate"] == 1.0


def test_editing_the_self_instruct_template_reruns_exactly_its_readers(loop_run, tiny_model, tmp_path):
    run_dir = tmp_path / "edited"
    shutil.copytree(loop_run[0], run_dir)
    prompts = tmp_path / "prompts"
    shutil.copytree(REPO / "prompts", prompts)
    with open(prompts / "self_instruct.j2", "a") as f:
        f.write("\nEach request fits in one line.\n")
    p = srlm("run", *_args(tiny_model, run_dir), env={"SRLM_PROMPTS_DIR": str(prompts)})
    ran = {line.split()[2] for line in p.stderr.splitlines() if line.startswith("[run ]")}
    skipped = {line.split()[1].rstrip(":") for line in p.stderr.splitlines() if line.startswith("[skip]")}
    downstream = {f"iter_{t}/{s}" for t in ITERS for s in ("prompts", "candidates", "judge", "pairs", "dpo")}
    assert ran == downstream | {"eval/rm/M2", "eval/rm/M3", "eval/h2h/M2_vs_M1", "eval/h2h/M3_vs_M2"}
    assert skipped == {"seed", "sft", "eval/rm/M1"}


def _selection(tiny_model, tmp_path, script: dict, *how: str):
    run_dir = tmp_path / "sel"
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"answer_quality": script}))
    args = _args(tiny_model, run_dir, "run.iterations=2", *(how or ["dpo.select=self"]), "dpo.save_steps=1",
                 "dpo.select_max_prompts=4", f"generation.script={path}")
    for s in ("seed", "sft"):
        srlm("stage", s, *args)
    for s in ("prompts", "candidates", "judge"):
        srlm("stage", s, "-i", "2", *args)
    srlm("stage", "eval/rm/M1", *args)  # the guards compare the judge with the human-ranked replies
    srlm("stage", "pairs", "-i", "2", *args)
    # in two steps, as on a cluster: training (batch host), then selection (generation container)
    p = srlm("stage", "dpo", "-i", "2", "--train-only", *args)
    assert "[part] iter_2/dpo: trained; the checkpoint selection runs as the next step" in p.stderr
    assert not (run_dir / "iter_2/dpo/manifest.json").exists()
    p = srlm("stage", "dpo", "-i", "2", *args)
    assert "trained already (2 checkpoints); not training again" in p.stderr
    return run_dir, _stats(run_dir, "iter_2/dpo")


def test_external_selection_keeps_the_best_win_rate_against_the_previous_model(tiny_model, tmp_path):
    """The paper's rule (dpo.select=external): every checkpoint and the final model against
    M_(t-1), judged by a model other than the one trained (eval.judge), on the seed's own
    selection prompts; the best win rate is kept. checkpoint-1 answers at quality 0, checkpoint-2
    and the final model at 5: checkpoint-1 loses or ties M1's answers, the other two win or tie
    them alike: the first of the best, checkpoint-2, is kept although the final model is as good."""
    run_dir, st = _selection(tiny_model, tmp_path, {"checkpoint-1": 0, "checkpoint-2": 5, "iter_2/dpo/model": 5},
                             "dpo.select=external", f"eval.judge={tiny_model}")
    sel = st["selection"]
    assert [(r["candidate"], r["against"], r["picked"]) for r in sel["rounds"]] == [
        ("checkpoint-1", "start", True), ("checkpoint-2", "start", True), ("final", "start", False)]
    rates = [r["win_rate"] for r in sel["rounds"]]
    assert rates[0] < rates[1] == rates[2]
    assert (st["kept"], sel["rule"], sel["prompts"]) == ("checkpoint-2", "external", 4)
    assert file_sha256(run_dir / "iter_2/dpo/model/model.safetensors") == \
        file_sha256(run_dir / "iter_2/dpo/work/checkpoint-2/model.safetensors")
    # the prompts were the seed's selection set: IFT prompts not trained on, none an eval tree
    m = json.loads((run_dir / "iter_2/dpo/manifest.json").read_text())
    assert m["inputs"]["select_prompts"]["path"].endswith("seed/select.jsonl")
    held = {r["instruction"] for r in read_jsonl(run_dir / "seed/select.jsonl")}
    assert held and not held & {r["prompt"] for r in read_jsonl(run_dir / "seed/ift.jsonl")}
    assert not held & {r["prompt"] for r in read_jsonl(run_dir / "seed/eval_trees.jsonl")}


def test_selection_refuses_prompts_shared_with_the_head_to_head(tiny_model, tmp_path):
    """dpo.select_prompts naming the head-to-head prompts: an error naming both files before the
    DPO stage trains (validate before wipe), not a selection that leaks into the evaluation."""
    shared = tmp_path / "shared.jsonl"
    shared.write_text("".join(json.dumps({"instruction": f"Describe a tide pool, case {i}."}) + "\n" for i in range(3)))
    run_dir = tmp_path / "leak"
    args = _args(tiny_model, run_dir, "run.iterations=2", "dpo.select=self", f"dpo.select_prompts={shared}",
                 f"eval.h2h_prompts={shared}")
    p = srlm("run", *args, check=False)
    assert p.returncode != 0
    assert f"{shared}: 3 of its 3 prompts are also head-to-head prompts ({shared})" in p.stderr
    assert "Traceback" not in p.stderr and not (run_dir / "iter_2/dpo/model").exists()


def test_selection_picks_a_later_checkpoint_that_wins(tiny_model, tmp_path):
    # dpo.select=self (ours): checkpoint-1 answers best, the final model worst: M2 is checkpoint-1
    run_dir, st = _selection(tiny_model, tmp_path, {"checkpoint-1": 5, "iter_2/dpo/model": 0})
    sel = st["selection"]
    assert [(r["candidate"], r["against"], r["picked"]) for r in sel["rounds"]] == [
        ("checkpoint-1", "start", True), ("checkpoint-2", "checkpoint-1", False), ("final", "checkpoint-1", False)]
    assert st["kept"] == sel["picked"] == "checkpoint-1"
    m2 = file_sha256(run_dir / "iter_2/dpo/model/model.safetensors")
    assert m2 == file_sha256(run_dir / "iter_2/dpo/work/checkpoint-1/model.safetensors")
    assert m2 != file_sha256(run_dir / "sft/model/model.safetensors")


def test_selection_keeps_the_starting_model_when_no_checkpoint_wins(tiny_model, tmp_path):
    run_dir, st = _selection(tiny_model, tmp_path, {"checkpoint": 0, "iter_2/dpo/model": 0})
    sel = st["selection"]
    assert [r["candidate"] for r in sel["rounds"]] == ["checkpoint-1", "checkpoint-2", "final"]
    assert not any(r["picked"] for r in sel["rounds"]) and st["kept"] == "start"
    assert file_sha256(run_dir / "iter_2/dpo/model/model.safetensors") == \
        file_sha256(run_dir / "sft/model/model.safetensors")


def test_a_bad_input_or_setting_leaves_finished_stages_untouched(loop_run, tiny_model, tmp_path):
    run_dir = tmp_path / "bad"
    shutil.copytree(loop_run[0], run_dir)
    keep = {p: p.read_bytes() for p in [run_dir / "sft/manifest.json", run_dir / "sft/model/model.safetensors",
                                        run_dir / "iter_2/dpo/manifest.json",
                                        run_dir / "iter_2/dpo/model/model.safetensors"]}
    p = srlm("run", *_args(tiny_model, run_dir, "dpo.learning_rate=-1e-3"), check=False)
    assert p.returncode == 2 and "dpo.learning_rate: must be > 0" in p.stderr
    ift = run_dir / "seed/ift.jsonl"
    lines = ift.read_text().splitlines()
    ift.write_text("\n".join(lines[:-1] + [lines[-1][:20]]) + "\n")  # the last record cut short
    p = srlm("run", *_args(tiny_model, run_dir), check=False)
    assert p.returncode == 2 and f"seed/ift.jsonl:{len(lines)}: malformed JSON" in p.stderr
    assert "Traceback" not in p.stderr
    assert all(path.read_bytes() == data for path, data in keep.items())
    assert (run_dir / "sft/work").exists() or not (loop_run[0] / "sft/work").exists()


def _kill_when(args, path, timeout=300):
    """`srlm run ARGS`, SIGKILLed the moment `path` appears (polled every 2 ms)."""
    import os
    import subprocess
    import sys
    import time
    p = subprocess.Popen([sys.executable, "-m", "srlm_nemo.cli", "run", *args], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.time() + timeout
    while p.poll() is None and not path.exists() and time.time() < deadline:
        time.sleep(0.002)
    p.kill()
    p.wait()
    assert path.exists(), f"{path} never appeared"


@pytest.mark.parametrize("at", ["sft/work/checkpoint-2", "sft/work/checkpoint-2/trainer_state.json",
                                "iter_2/dpo/work/checkpoint-2", "iter_2/dpo/work/checkpoint-2/trainer_state.json"])
def test_a_kill_while_a_checkpoint_is_written_resumes_to_the_same_models(loop_run, tiny_model, tmp_path, at):
    """A checkpoint folder cut short by the kill is not resumed from (it used to stop every later
    run); a complete last checkpoint is the result, not one more step (the HF Trainer resumed
    from it trained step 3 of 2, and every model after it differed)."""
    run_dir = tmp_path / "killed"
    _kill_when(_args(tiny_model, run_dir, "run.iterations=2"), run_dir / at)
    srlm("run", *_args(tiny_model, run_dir, "run.iterations=2"))
    stage = at.split("/work")[0]
    assert _stats(run_dir, stage)["steps"] == 2
    ref = loop_run[0]
    for model in ("sft/model", "iter_2/dpo/model"):
        assert file_sha256(run_dir / model / "model.safetensors") == file_sha256(
            ref / model / "model.safetensors"
        ), model


@pytest.mark.parametrize("content", ["[]", "{", '"text"'])
def test_a_manifest_that_is_not_one_makes_its_stage_not_done(loop_run, tiny_model, tmp_path, content):
    run_dir = tmp_path / "corrupt"
    shutil.copytree(loop_run[0], run_dir)
    (run_dir / "iter_2/pairs/manifest.json").write_text(content)
    for cmd in (["plan", *_args(tiny_model, run_dir)], ["status", str(run_dir)]):
        p = srlm(*cmd)
        assert "Traceback" not in p.stderr
    p = srlm("run", *_args(tiny_model, run_dir))
    assert "iter_2/pairs/manifest.json: not a manifest" in p.stderr and "the stage counts as not done" in p.stderr
    ran = {line.split()[2] for line in p.stderr.splitlines() if line.startswith("[run ]")}
    assert ran == {"iter_2/pairs"}  # same pairs again: nothing after it changes
    assert json.loads((run_dir / "iter_2/pairs/manifest.json").read_text())["stage"] == "iter_2/pairs"


def test_usr1_to_a_running_stage_stops_it_for_a_requeue(tiny_model, tmp_path):
    """Slurm's time-limit warning sent to the job steps (not only the batch shell): the stage
    exits EXIT_REQUEUE (75), which the job runner answers by requeueing, and a re-run finishes."""
    import os
    import signal
    import subprocess
    import sys
    import time
    run_dir = tmp_path / "usr1"
    p = subprocess.Popen([sys.executable, "-m", "srlm_nemo.cli", "run", *_args(tiny_model, run_dir)], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.time() + 300
    while p.poll() is None and not (run_dir / "sft/work").exists() and time.time() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGUSR1)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 75, err[-2000:]
    assert "SIGUSR1: the job is near its time limit" in err and "Traceback" not in err
    assert not (run_dir / "sft/manifest.json").exists()
    srlm("run", *_args(tiny_model, run_dir, "run.iterations=1"))
    assert (run_dir / "sft/manifest.json").exists()


def test_one_writer_per_run_directory(tiny_model, tmp_path):
    """Two `srlm run`s on one run directory: the second is refused at once, naming the holder; a
    holder killed with SIGKILL leaves its lock file, and the next run takes it over."""
    import os
    import subprocess
    import sys
    import time
    run_dir = tmp_path / "shared"
    first = subprocess.Popen([sys.executable, "-m", "srlm_nemo.cli", "run", *_args(tiny_model, run_dir)], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.time() + 120
    while not (run_dir / ".srlm.lock").exists() or not (run_dir / ".srlm.lock").read_text():
        assert time.time() < deadline and first.poll() is None
        time.sleep(0.05)
    p = srlm("run", *_args(tiny_model, run_dir), check=False)
    assert p.returncode == 2 and f"in use by pid {first.pid} on" in p.stderr and "`srlm run`" in p.stderr
    p = srlm("stage", "candidates", "-i", "2", "--shard-worker", "--rank", "0", "--world", "2",
             *_args(tiny_model, run_dir), check=False)
    assert p.returncode == 2 and "in use by" in p.stderr  # workers share the lock with each other only
    first.kill()
    first.wait()
    assert (run_dir / ".srlm.lock").read_text()  # the dead holder's card is still there
    p = srlm("run", *_args(tiny_model, run_dir, "run.iterations=1"))
    assert (run_dir / "sft/manifest.json").exists()


def test_guards_measure_each_iteration_and_stop_before_training(loop_run, tiny_model, tmp_path):
    """The scripted answers have 4 different qualities per prompt, so no ties and a top-score
    share of 1 in 6 or so; iteration 3 is compared with iteration 2. With a threshold below what
    the data shows and run.guard=stop, the pairs stage fails and DPO never trains on it. The
    judge's agreement with the human-ranked eval trees is the RM-eval stage's pairwise accuracy;
    the scripted judges of M1 and M2 are the same rules, so it does not drop."""
    run_dir = loop_run[0]
    g2, g3 = (_stats(run_dir, f"iter_{t}/pairs")["guard"] for t in ITERS)
    assert g2["mode"] == "warn" and g2["checks"]["tie_rate"]["value"] == 0.0
    assert g2["checks"]["score_inflation"]["value"] is None and g3["checks"]["score_inflation"]["value"] is not None
    cands = read_jsonl(run_dir / "iter_2/candidates/candidates.jsonl", Candidate)
    share = sum(quality(c.text) == 5 for c in cands) / len(cands)
    assert g2["checks"]["top_score_share"]["value"] == pytest.approx(share)
    assert g2["figures"]["reference_accuracy"] == _stats(run_dir, "eval/rm/M1")["metrics"]["pairwise_accuracy"]
    assert g2["checks"]["agreement_drop"]["value"] is None and g3["checks"]["agreement_drop"]["value"] == 0.0
    assert "Guards before DPO" in (run_dir / "summary.md").read_text()
    stopped = tmp_path / "stopped"
    p = srlm("run", *_args(tiny_model, stopped, "run.guard=stop", "guard.max_length_ratio=0.5"), check=False)
    assert p.returncode == 2 and "iter_2/pairs: run.guard=stop: length_ratio = " in p.stderr
    assert "> guard.max_length_ratio = 0.5" in p.stderr
    assert not (stopped / "iter_2/pairs/pairs.jsonl").exists() and not (stopped / "iter_2/dpo/manifest.json").exists()


def test_rollback_carries_the_model_over_and_the_next_iteration_starts_from_it(tiny_model, tmp_path):
    """run.guard=rollback with a frozen reference judge that disagrees: M0 (the tiny model itself)
    judges in reverse (scripted), so it orders no pair as the pairs do (reference agreement 0 <
    0.5). Neither iteration's DPO trains: M2 and M3 are M1's weights, and the run completes."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"judge_reversed": [str(tiny_model)]}))
    run_dir = tmp_path / "run"
    srlm("run", *_args(tiny_model, run_dir, "run.guard=rollback", f"guard.reference_judge={tiny_model}",
                       f"generation.script={script}"))
    m1 = _weights(run_dir / "sft/model")
    for t in ITERS:
        g = _stats(run_dir, f"iter_{t}/pairs")["guard"]
        assert g["checks"]["reference_agreement"] == {"value": 0.0, "threshold": 0.5, "crossed": True}
        assert g["rolled_back"] and g["crossed_what"] == [
            "reference_agreement = 0.000 < guard.min_reference_agreement = 0.5"
        ]
        dpo = _stats(run_dir, f"iter_{t}/dpo")
        assert dpo["kept"] == "rolled_back" and dpo["steps"] == 0
        assert _max_diff(_weights(run_dir / f"iter_{t}/dpo/model"), m1) == 0.0
        assert len(read_jsonl(run_dir / f"iter_{t}/pairs/pairs.jsonl", PreferencePair)) == 4  # kept to inspect
    manifest = json.loads((run_dir / "iter_3/candidates/manifest.json").read_text())
    assert manifest["inputs"]["model"]["path"].endswith("iter_2/dpo/model")  # the carried-over M2 answers
    assert "rolled back" in (run_dir / "summary.md").read_text()


def test_cream_judge_weights_pairs_by_the_two_rubric_judges_agreement(tiny_model, tmp_path):
    """pairs.strategy=cream_judge (ours): the model before the policy judges the same answers. The base model
    M0 judges in reverse (scripted), so iteration 2's pairs get weight 0 (every ranking reversed:
    Kendall tau -1) and DPO trains on the swapped label; at iteration 3, M1 and M2 agree: weight 1."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"judge_reversed": [str(tiny_model)]}))
    run_dir = tmp_path / "run"
    srlm("run", *_args(tiny_model, run_dir, "pairs.strategy=cream_judge", "pairs.cream_average=false",
                       f"generation.script={script}"))
    for t, weight in ((2, 0.0), (3, 1.0)):
        d = run_dir / f"iter_{t}"
        previous = {s.candidate_id: s.mean_score for s in read_jsonl(d / "judge_previous/scores.jsonl", CandidateScore)}
        now = {s.candidate_id: s.mean_score for s in read_jsonl(d / "judge/scores.jsonl", CandidateScore)}
        assert previous == {c: (5 - q if t == 2 else q) for c, q in now.items()}
        pairs = read_jsonl(d / "pairs/pairs.jsonl", PreferencePair)
        assert len(pairs) == 4 and {p.weight for p in pairs} == {weight}
        assert _stats(run_dir, f"iter_{t}/pairs")["cream"]["measured"] == 4
    manifest = json.loads((run_dir / "iter_2/judge_previous/manifest.json").read_text())
    assert manifest["model"] == "M0"
    log = [json.loads(line) for line in open(run_dir / "iter_2/dpo/work/train_log.jsonl")]
    assert log[0]["label_weight"] == 0.0  # the soft-label trainer ran
    assert not any("label_weight" in r for r in
                   map(json.loads, open(run_dir / "iter_3/dpo/work/train_log.jsonl")))  # plain labels: TRL's own
    # the summary puts the strategies side by side on each iteration's own scores
    rows = {
        (r["iteration"], r["strategy"]): r
        for r in json.loads((run_dir / "summary.json").read_text())["pair_strategies"]
    }
    assert rows[(2, "cream_judge")]["trained"] and rows[(2, "cream_judge")]["mean_weight"] == 0.0
    assert rows[(3, "cream_judge")]["mean_weight"] == 1.0 and not rows[(3, "paper")]["trained"]
    assert all(rows[(t, s)]["pairs"] == 4 for t in (2, 3) for s in ("paper", "length_control", "cream_judge"))
    for page in ("summary.md", "report/index.md"):
        assert "Pair strategies side by side" in (run_dir / page).read_text()


def test_cream_ranks_by_dpo_rewards_of_two_models(tiny_model, tmp_path):
    """pairs.strategy=cream: log-probability stages under the policy, the model before it and
    (iteration 3) the one before that; pairs from the policy's DPO rewards, not the rubric judge.
    Scripted log-probs: log p = -0.5 per token + w * quality, w per model (M0 -1, M1 1, M2 3), so
    at iteration 2 M1's reward (w_M1 - w_M0) * q ranks by quality while M0 (no reference: per
    token) ranks in reverse: C = 0; at iteration 3 M2's and M1's rewards both rank by quality:
    C = 1. M1's rubric judge is reversed, so a rubric-picked pair would be the opposite one."""
    run_dir = tmp_path / "run"
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"judge_reversed": ["sft/model"],
                                  "logprob_quality": {"sft/model": 1.0, "iter_2/dpo": 3.0, str(tiny_model): -1.0}}))
    srlm("run", *_args(tiny_model, run_dir, "pairs.strategy=cream", f"generation.script={script}"))
    for t, models, weight in ((2, {"policy": "M1", "previous": "M0"}, 0.0),
                              (3, {"policy": "M2", "previous": "M1", "older": "M0"}, 1.0)):
        d = run_dir / f"iter_{t}"
        assert {x.name for x in d.glob("logprob_*")} == {f"logprob_{who}" for who in models}
        for who, label in models.items():
            m = json.loads((d / f"logprob_{who}/manifest.json").read_text())
            assert (m["kind"], m["model"], m["stats"]["unscored"]) == ("logprob", label, 0)
        q_of = {c.id: quality(c.text) for c in read_jsonl(d / "candidates/candidates.jsonl", Candidate)}
        pairs = read_jsonl(d / "pairs/pairs.jsonl", PreferencePair)
        assert len(pairs) == 4 and {p.weight for p in pairs} == {weight}
        for p in pairs:
            mine = [q for c, q in q_of.items() if c.startswith(p.id + "/")]
            assert (q_of[p.chosen_id], q_of[p.rejected_id]) == (max(mine), min(mine))
        assert _stats(run_dir, f"iter_{t}/pairs")["cream"]["mean_consistency"] == weight
    rows = {(r["iteration"], r["strategy"]): r
            for r in json.loads((run_dir / "summary.json").read_text())["pair_strategies"]}
    assert rows[(2, "cream")]["trained"] and rows[(2, "cream")]["mean_weight"] == 0.0
    assert (2, "cream_judge") not in rows  # no rubric judge of the previous model ran
    # the paper's rule on the reversed rubric scores picks the opposite answers at iteration 2
    assert rows[(2, "paper")]["pairs"] == 4 and not rows[(2, "paper")]["trained"]


def test_meta_judge_pairs_judgements_and_joins_them_to_dpo(tiny_model, tmp_path):
    """judge.meta: the scripted judge's K=3 judgements of an answer are off by 0, +1 and -1 points
    (judge_noise) and the scripted meta-judge prefers the judgement nearer the answer's quality.
    So the meta-judged answer of each prompt is one whose judgements spread most (quality 1-4:
    nothing clipped), every chosen judgement is the exact one, and judge.meta_ratio=0.5 lets two
    of the four judgement pairs join the four answer pairs."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"judge_noise": [0, 1, -1]}))
    run_dir = tmp_path / "run"
    srlm("run", *_args(tiny_model, run_dir, "judge.meta=true", "judge.meta_ratio=0.5", f"generation.script={script}"))
    for t in ITERS:
        d = run_dir / f"iter_{t}"
        text = {c.id: c.text for c in read_jsonl(d / "candidates/candidates.jsonl", Candidate)}
        judged = read_jsonl(d / "meta_judge/judge_pairs.jsonl", PreferencePair)
        assert len(judged) == 4 and all(p.kind == "judgement" for p in judged)
        for p in judged:
            assert 1 <= quality(text[p.chosen_id.rsplit("/j", 1)[0]]) <= 4
            assert "(offset 0)" in p.chosen[0].content and "(offset 0)" not in p.rejected[0].content
            assert "<response>" in p.prompt[-1].content  # the judge prompt the judgements answered
        assert _stats(run_dir, f"iter_{t}/meta_judge")["battles"] == 4 * 6
        pairs = read_jsonl(d / "pairs/pairs.jsonl", PreferencePair)
        assert [p.kind for p in pairs] == ["answer"] * 4 + ["judgement"] * 2
        assert _stats(run_dir, f"iter_{t}/pairs")["judge_pairs"] == 2
        assert _stats(run_dir, f"iter_{t}/dpo")["judge_pairs"] == 2


def test_temporal_anchors_rejections_to_m1_and_takes_chosen_from_the_future_model(tiny_model, tmp_path):
    """pairs.strategy=temporal with scripted qualities by model path: M1 (sft/model) always
    answers at quality 1, the future model of iteration 2 at 5 and of iteration 3 at 2; M2 answers
    by the usual hash (4 qualities per prompt, best >= 3).
    Iteration 2: the anchor is M1's own answers (all 1: ties), so the anchored pairs are empty,
    the future model is M1 carried over, and every final pair is (future 5, the policy's own 1: the
    anchor's lowest does not score below it, so the policy's lowest is rejected).
    Iteration 3: M1 answers again as the anchor (1); the anchored pairs are (M2's best, 1); the
    future model trains on them, but its answers (2) score below M2's best, which stays chosen."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"answer_quality": {"iter_2/future_dpo": 5, "iter_3/future_dpo": 2, "sft/model": 1}}))
    run_dir = tmp_path / "run"
    srlm("run", *_args(tiny_model, run_dir, "pairs.strategy=temporal", f"generation.script={script}"))
    d2, d3 = run_dir / "iter_2", run_dir / "iter_3"
    assert _stats(run_dir, "iter_2/pairs_anchored")["dropped_tie"] == 4
    assert _stats(run_dir, "iter_2/future_dpo")["kept"] == "carried_over"
    pairs2 = read_jsonl(d2 / "pairs/pairs.jsonl", PreferencePair)
    assert len(pairs2) == 4 and _stats(run_dir, "iter_2/pairs")["chosen_from_future"] == 4
    assert all(p.chosen_id.startswith("future:") and quality(p.chosen[0].content) == 5 and
               not p.rejected_id.startswith("anchor:") and quality(p.rejected[0].content) == 1 for p in pairs2)
    assert not (d2 / "anchor_candidates").exists()  # at t = 2 the policy is M1: its own answers are the anchor
    assert json.loads((d3 / "anchor_candidates/manifest.json").read_text())["model"] == "M1"
    best = {}
    for c in read_jsonl(d3 / "candidates/candidates.jsonl", Candidate):
        best[c.prompt_id] = max(best.get(c.prompt_id, 0), quality(c.text))
    anchored = read_jsonl(d3 / "pairs_anchored/pairs.jsonl", PreferencePair)
    assert [quality(p.chosen[0].content) for p in anchored] == [best[p.id] for p in anchored] and len(anchored) == 4
    assert _stats(run_dir, "iter_3/future_dpo")["steps"] == 2  # trained on them
    final = read_jsonl(d3 / "pairs/pairs.jsonl", PreferencePair)
    assert [(p.chosen_id, p.rejected_id) for p in final] == [(p.chosen_id, p.rejected_id) for p in anchored]
    assert _stats(run_dir, "iter_3/pairs").get("chosen_from_future", 0) == 0
    rows = {
        (r["iteration"], r["strategy"]): r
        for r in json.loads((run_dir / "summary.json").read_text())["pair_strategies"]
    }
    assert (
        rows[(2, "temporal")]["trained"] and rows[(2, "temporal")]["pairs"] == 4 and not rows[(2, "paper")]["trained"]
    )


def test_the_options_compose_temporal_meta_judge_and_rollback(tiny_model, tmp_path):
    """pairs.strategy=temporal with judge.meta and a rollback on a disagreeing frozen judge: the
    anchored pairs cross the guard too, so the future model is the policy carried over; the final
    pairs (answers + judgement pairs) are kept for inspection and DPO carries the policy over."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"judge_reversed": [str(tiny_model)], "judge_noise": [0, 1, -1]}))
    run_dir = tmp_path / "run"
    srlm("run", *_args(tiny_model, run_dir, "run.iterations=2", "pairs.strategy=temporal", "judge.meta=true",
                       "run.guard=rollback", f"guard.reference_judge={tiny_model}", f"generation.script={script}"))
    for stage in ("future_dpo", "dpo"):
        assert _stats(run_dir, f"iter_2/{stage}")["kept"] == "rolled_back", stage
    assert _max_diff(_weights(run_dir / "iter_2/dpo/model"), _weights(run_dir / "sft/model")) == 0.0
    kinds = [p.kind for p in read_jsonl(run_dir / "iter_2/pairs/pairs.jsonl", PreferencePair)]
    assert kinds.count("answer") == 4 and kinds.count("judgement") == 4
    assert _stats(run_dir, "iter_2/pairs")["guard"]["checks"]["reference_agreement"]["crossed"]


def test_each_iteration_keeps_its_own_prompt_count(tiny_model, tmp_path):
    """prompts.num_prompts_by_iteration: iteration 2 keeps the first count, later iterations the
    next (the last repeating), each recorded as its stage's target."""
    run_dir = tmp_path / "counts"
    args = _args(tiny_model, run_dir, "run.iterations=4", "prompts.num_prompts_by_iteration=[2,5]",
                 f"prompts.generator={tiny_model}")
    srlm("stage", "seed", *args)
    for t, want in ((2, 2), (3, 5), (4, 5)):
        srlm("stage", "prompts", "-i", str(t), *args)
        kept = read_jsonl(run_dir / f"iter_{t}/prompts/prompts.jsonl", GeneratedPrompt)
        assert len(kept) == want == _stats(run_dir, f"iter_{t}/prompts")["target"]
