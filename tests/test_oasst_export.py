"""Open Assistant's trees-export format through the loop's front half, on a small file of that
format the repository ships (tests/data, written by us): gzipped, with a tree given twice, a
message id given twice, a language to skip, and replies far longer than the model's context."""
import gzip
import json
import shutil

import pytest

from srlm_nemo.artifacts import read_jsonl
from srlm_nemo.rm_metrics import baselines
from srlm_nemo.schemas import Judgement

from .conftest import REPO, srlm

SAMPLE = REPO / "tests" / "data" / "oasst_format_sample.trees.jsonl"


def _args(model, run_dir, export, *extra):
    return ["experiment=tiny", "model=hf_dir", f"model.path={model}", f"run.run_dir={run_dir}",
            f"run.cache_dir={run_dir}/cache", "seed.source=oasst_trees", f"seed.path={export}", "seed.num_ift=8",
            "seed.num_eval_trees=4", "seed.num_ranked_pool=6", "seed.num_select=3", "run.iterations=1",
            "model.max_model_len=1024", *extra]


@pytest.fixture(scope="module")
def export_run(tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oasst")
    export = tmp / "sample.trees.jsonl.gz"
    with open(SAMPLE, "rb") as src, gzip.open(export, "wb") as dst:
        shutil.copyfileobj(src, dst)
    run_dir = tmp / "run"
    p = srlm("run", *_args(tiny_model, run_dir, export))
    return run_dir, export, p


def _stats(run_dir, name):
    return json.loads((run_dir / name / "manifest.json").read_text())["stats"]


def test_split_holds_out_eval_trees_and_pool_and_counts_duplicates(export_run):
    run_dir, _, _ = export_run
    s = _stats(run_dir, "seed")
    assert (s["ift"], s["eval_trees"], s["ranked_pool"]) == (8, 4, 6)
    assert (s["duplicate_trees"], s["duplicate_messages"]) == (1, 1) and s["warnings"] == []
    ift = {r["id"] for r in read_jsonl(run_dir / "seed/ift.jsonl")}
    held = {r["prompt_id"] for f in ("eval_trees", "ranked_pool") for r in read_jsonl(run_dir / f"seed/{f}.jsonl")}
    assert len(held) == 10 and not ift & held  # nothing evaluated or judged was trained on
    select = {r["id"] for r in read_jsonl(run_dir / "seed/select.jsonl")}
    assert s["select"] == len(select) == 3 and not select & (ift | held)  # checkpoint selection's own prompts
    assert all(i.startswith("oasst-t") for i in ift | held | select)  # the German trees are not English


def test_eft_is_built_from_open_assistant_by_default(export_run):
    run_dir, _, p = export_run
    eft = _stats(run_dir, "eft")
    assert eft["ranked_prompts"] == 6 and eft["prompts_agree"] + eft["prompts_disagree"] == 6
    sft = json.loads((run_dir / "sft/manifest.json").read_text())
    assert sft["inputs"]["eft_train"]["path"].endswith("eft/eft_train.jsonl")
    summary = (run_dir / "summary.md").read_text()
    assert ("M1 trained on none" in summary) == (eft["eft_train"] == 0) and "shipped demo EFT" not in summary


def test_replies_longer_than_the_context_are_cut_and_counted(export_run):
    run_dir, _, _ = export_run
    judged = read_jsonl(run_dir / "eval/rm/M1/judgements.jsonl", Judgement) + \
        read_jsonl(run_dir / "eft/judged.jsonl", Judgement)
    cut = {j.candidate_id for j in judged if j.truncated_to_chars is not None}
    long = {r["reply_id"] for f in ("eval_trees", "ranked_pool") for t in read_jsonl(run_dir / f"seed/{f}.jsonl")
            for r in t["replies"] if len(r["text"]) > 4000}
    assert long and cut == long  # exactly the long ones, nothing else
    assert _stats(run_dir, "eval/rm/M1")["truncated_replies"] + _stats(run_dir, "eft")["truncated_replies"] == len(long)


def test_report_shows_baselines_and_stages_run_by_name(export_run, tiny_model):
    run_dir, export, _ = export_run
    summary = (run_dir / "summary.md").read_text()
    assert "random judge, same" in summary and "longer is better, same" in summary
    for name in ("sft_ift", "eft"):
        p = srlm("stage", name, *_args(tiny_model, run_dir, export))
        assert f"[skip] {name}" in p.stderr


def test_sizes_an_export_cannot_supply_are_warned_about(export_run, tiny_model, tmp_path):
    _, export, _ = export_run
    p = srlm("stage", "seed", *_args(tiny_model, tmp_path / "big", export, "seed.num_ift=1000"))
    assert "seed: warning: seed.num_ift=1000: only 14 available" in p.stderr
    p = srlm("stage", "seed", *_args(tiny_model, tmp_path / "none", export, "seed.num_eval_trees=30"), check=False)
    assert p.returncode == 2 and "no ranked prompt left for the EFT builder" in p.stderr


def test_baselines_by_hand():
    rows = [{"prompt_id": "a", "reply_id": r, "human_rank": k, "model_score": 1.0} for k, r in enumerate("xyz")]
    b = baselines(rows, {"x": 300, "y": 200, "z": 100})  # the best reply is the longest: length is right
    assert b["rows"] == 3 and b["length"]["pairwise_accuracy"] == 1.0 and b["length"]["exact_match"] == 1.0
    assert 0.0 <= b["random"]["pairwise_accuracy"] <= 1.0
    assert baselines(rows, {"x": 100, "y": 200, "z": 300})["length"]["pairwise_accuracy"] == 0.0
    assert baselines([{**r, "model_score": None} for r in rows], {"x": 1, "y": 2, "z": 3})["rows"] == 0
