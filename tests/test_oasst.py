import json
import random

import pytest

from srlm_nemo import oasst
from srlm_nemo.artifacts import ArtifactError
from srlm_nemo.eft import ranking_agrees, rebalance, split_by_prompt
from srlm_nemo.schemas import EFTExample


def _rows():
    """Flat rows as in the HF dataset OpenAssistant/oasst1 (a subset of its columns)."""
    def m(mid, parent, role, text, lang="en", rank=None, tree="t1"):
        return {"message_id": mid, "parent_id": parent, "role": role, "text": text, "lang": lang,
                "rank": rank, "message_tree_id": tree, "deleted": False, "review_result": True}
    return [
        m("p1", None, "prompter", "How do magnets work?"),
        m("a1", "p1", "assistant", "Second best answer.", rank=1),
        m("a0", "p1", "assistant", "Best answer about magnetic domains.", rank=0),
        m("a2", "p1", "assistant", "Worst answer.", rank=2),
        m("f1", "a0", "prompter", "A follow-up turn, not first-turn."),
        m("p2", None, "prompter", "Wie spät ist es?", lang="de", tree="t2"),
        m("b0", "p2", "assistant", "Keine Ahnung.", lang="de", rank=0, tree="t2"),
        m("p3", None, "prompter", "Name a prime number.", tree="t3"),
        m("c0", "p3", "assistant", "Seven.", rank=0, tree="t3"),
        m("c1", "p3", "assistant", "Nine.", rank=1, tree="t3"),
        m("p4", None, "prompter", "Unranked prompt.", tree="t4"),
        m("d0", "p4", "assistant", "Reply without rank.", tree="t4"),
    ]


def _to_tree(node_rows, root_id):
    by_parent = {}
    for r in node_rows:
        by_parent.setdefault(r["parent_id"], []).append(r)

    def build(r):
        d = {k: r[k] for k in ("message_id", "text", "role", "lang", "rank")}
        d["replies"] = [build(c) for c in by_parent.get(r["message_id"], [])]
        return d
    root = next(r for r in node_rows if r["message_id"] == root_id)
    return {"message_tree_id": root["message_tree_id"], "tree_state": "ready_for_export", "prompt": build(root)}


def test_flat_rows_and_trees_export_agree(tmp_path):
    rows = _rows()
    path = tmp_path / "x.trees.jsonl"
    path.write_text("".join(json.dumps(_to_tree(rows, pid)) + "\n" for pid in ("p1", "p2", "p3", "p4")))
    for roots in (oasst.trees_from_rows(rows), oasst.read_trees(path)):
        ift = oasst.ift_examples(roots, lang="en")
        assert [(e.prompt, e.response) for e in ift] == [
            ("How do magnets work?", "Best answer about magnetic domains."), ("Name a prime number.", "Seven.")]
        ranked = oasst.ranked_prompts(roots, lang="en", min_replies=2)
        assert [r.prompt_id for r in ranked] == ["oasst-p1", "oasst-p3"]
        assert sorted((x.reply_id, x.rank) for x in ranked[0].replies) == [("a0", 0), ("a1", 1), ("a2", 2)]
        # no overlap with IFT when asked
        assert oasst.ranked_prompts(roots, exclude_ids={e.id for e in ift}) == []


def test_trees_export_bad_input(tmp_path):
    p = tmp_path / "bad.trees.jsonl"
    p.write_text('{"prompt": {"message_id": "x", "role": "prompter"}}\n')
    with pytest.raises(ArtifactError, match=r"bad.trees.jsonl:1: message is missing field 'text'"):
        oasst.read_trees(p)
    p.write_text('{"nope": 1}\n')
    with pytest.raises(ArtifactError, match=":1: expected an object"):
        oasst.read_trees(p)


def test_ranking_agreement():
    assert ranking_agrees([0, 1, 2], [5, 3, 1])
    assert not ranking_agrees([0, 1, 2], [5, 5, 1])   # a tie between different ranks disagrees
    assert not ranking_agrees([0, 1], [2, 4])
    assert not ranking_agrees([0, 1], [4, None])      # every reply needs a valid score
    assert ranking_agrees([0, 0, 1], [3, 4, 1])       # equal human ranks impose no order


def _eft(pid, score, i=0):
    return EFTExample(id=f"{pid}-{i}", prompt_id=pid, question="q", response="r", judgement=f"j\nScore: {score}",
                      score=score, source="t")


def test_rebalance_caps_most_common_score():
    ex = [_eft(f"p{i}", 4, i) for i in range(10)] + [_eft(f"q{i}", 2, i) for i in range(3)] + [_eft("r", 5)]
    out = rebalance(ex, 1.0, random.Random(0))
    counts = {s: sum(1 for e in out if e.score == s) for s in (2, 4, 5)}
    assert counts == {2: 3, 4: 3, 5: 1}


def test_split_by_prompt_has_no_overlap():
    ex = [_eft(f"p{i % 7}", i % 6, i) for i in range(30)]
    train, ev = split_by_prompt(ex, n_train=100, n_eval=8, rng=random.Random(0))
    assert not {e.prompt_id for e in train} & {e.prompt_id for e in ev}
    assert len(ev) <= 8 and len(train) + len(ev) <= 30


def test_hf_dataset_path_loads_flat_rows_with_datasets(tmp_path):
    """seed.source=oasst_hf goes through `datasets.load_dataset`; here on a local dataset
    directory in the HF layout (no hub access), the same flat schema as OpenAssistant/oasst1."""
    pytest.importorskip("datasets")
    d = tmp_path / "oasst1_local"
    d.mkdir()
    (d / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    roots = oasst.trees_from_rows(oasst.load_hf_rows(str(d), "train"))
    assert [e.prompt for e in oasst.ift_examples(roots)] == ["How do magnets work?", "Name a prime number."]
