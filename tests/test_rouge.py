import json
import random

import pytest
from rouge_score import rouge_scorer

from srlm_nemo.rouge import RougePool, novelty_filter, rouge_l, tokenize

from .conftest import REPO, SHARED_DATA

REF = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def _real_prompts():
    """Real English text every clone has: the prompts of the package's demo seed (written by us)
    and the sentences of its replies; plus Self-Instruct's and AlpacaEval's prompts when
    ../shared/data is beside the checkout."""
    import re
    data = REPO / "srlm_nemo" / "data"
    rows = {n: [json.loads(line) for line in open(data / f"demo_{n}.jsonl")] for n in ("ift", "eft", "trees")}
    out = [r["prompt"] for r in rows["ift"]] + sorted({r["question"] for r in rows["eft"]})
    out += [t["prompt"] for t in rows["trees"]]
    replies = [r["response"] for r in rows["ift"]] + [x["text"] for t in rows["trees"] for x in t["replies"]]
    out += [s for text in replies for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 4]
    seed = SHARED_DATA / "self_instruct_seed_tasks.jsonl"
    alpaca = SHARED_DATA / "alpaca_eval_instructions.json"
    if seed.exists() and alpaca.exists():
        out += [json.loads(line)["instruction"] for line in open(seed)]
        out += [r["instruction"] for r in json.load(open(alpaca))]
    assert len(out) >= 300
    return list(dict.fromkeys(out))


def test_identical_and_disjoint():
    assert rouge_l("Write a poem about the sea", "write a POEM about the sea!") == 1.0
    assert rouge_l("alpha beta", "gamma delta") == 0.0
    assert rouge_l("", "anything") == 0.0


def test_matches_rouge_score_on_real_prompts():
    prompts = _real_prompts()
    rng = random.Random(0)
    pool_texts = rng.sample(prompts, 150)
    pool = RougePool(pool_texts)
    for q in rng.sample(prompts, 60):
        ours, idx = pool.max_score(q)
        ref = max(REF.score(p, q)["rougeL"].fmeasure for p in pool_texts)
        assert ours == pytest.approx(ref, abs=1e-12)
        assert (ours > 0.7) == (ref > 0.7)
        if idx >= 0:
            assert REF.score(pool_texts[idx], q)["rougeL"].fmeasure == pytest.approx(ours, abs=1e-12)


def test_matches_rouge_score_on_edge_cases():
    cases = [("a a a b", "a b b b"), ("x", "x y z"), ("Hello, world!!", "hello world"),
             ("ümlaut café", "umlaut cafe"), ("日本語の文", "日本語の文"), ("42 is 6*7", "6 7 42")]
    for a, b in cases:
        assert rouge_l(a, b) == pytest.approx(REF.score(b, a)["rougeL"].fmeasure, abs=1e-12)


def test_unicode_tokenizer_option_sees_non_latin_duplicates():
    assert tokenize("日本語の文") == []
    assert rouge_l("日本語 の 文", "日本語 の 文", tokenizer="unicode") == 1.0


def _ref_filter(pool_texts, cands, threshold=0.7):
    """The reference: rouge-score, strictly one candidate at a time, max > threshold drops."""
    pool = list(pool_texts)
    out = []
    for c in cands:
        scores = [REF.score(p, c)["rougeL"].fmeasure for p in pool]
        best = max(scores) if scores else 0.0
        keep = not best > threshold
        out.append((keep, best))
        if keep:
            pool.append(c)
    return out


def _check_same(pool_texts, cands, threshold=0.7, block=None):
    ours = novelty_filter(RougePool(pool_texts), cands, threshold, block=block)
    ref = _ref_filter(pool_texts, cands, threshold)
    assert [k for k, _, _ in ours] == [k for k, _ in ref]
    for (_, s, _), (_, r) in zip(ours, ref):
        assert s == r  # bit-identical F-measure, so boundary cases decide alike


def test_novelty_filter_matches_rouge_score_on_real_prompts():
    prompts = _real_prompts()
    rng = random.Random(1)
    pool = prompts[:120]
    cands = rng.sample(prompts[120:], 150)
    # near-duplicates of pool entries and of earlier candidates, as a generator would write them
    cands += [p.replace("the", "a", 1) for p in rng.sample(pool, 40)] + [c + " Please." for c in cands[:30]]
    rng.shuffle(cands)
    _check_same(pool, cands, block=37)  # small blocks: many intra-block comparisons


def test_novelty_filter_matches_rouge_score_on_generated_edge_cases():
    rng = random.Random(2)
    words = ["alpha", "beta", "gamma", "delta", "eps"]  # tiny vocabulary: many scores near 0.7
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(400)]
    texts += ["", "!!!", "日本語", "Beta-gamma", "ALPHA beta"]
    for threshold in (0.7, 0.5, 0.8):
        _check_same(texts[:40], texts[40:], threshold, block=16)
    # an exact boundary: lcs 7 of 10 and 10 -> F = 0.7 (not > 0.7): kept by both
    a = "w1 w2 w3 w4 w5 w6 w7 x1 x2 x3"
    b = "w1 w2 w3 w4 w5 w6 w7 y1 y2 y3"
    _check_same([a], [b])
    assert novelty_filter(RougePool([a]), [b])[0][0] is True


def test_filter_command(tmp_path):
    from .conftest import srlm
    pool = tmp_path / "pool.jsonl"
    cands = tmp_path / "cands.jsonl"
    pool.write_text(json.dumps({"instruction": "Write a short poem about the sea"}) + "\n")
    cands.write_text("".join(json.dumps(r) + "\n" for r in [
        {"prompt": "Write a short poem about the blue sea", "id": 1},
        {"prompt": "Explain how tides work", "id": 2, "extra": [1, 2]},
        {"prompt": "Explain how the tides work", "id": 3},
    ]))
    out = tmp_path / "kept.jsonl"
    p = srlm("prompts", "filter", "--pool", str(pool), "--candidates", str(cands), "--out", str(out))
    assert json.loads(p.stdout)["kept"] == 1
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert kept == [{"prompt": "Explain how tides work", "id": 2, "extra": [1, 2], "rouge_l_max": 0.0,
                     "rouge_l_closest": None}]
    cands.write_text('{"text": "no field"}\n')
    p = srlm("prompts", "filter", "--pool", str(pool), "--candidates", str(cands), "--out", str(out), check=False)
    assert p.returncode == 2 and "cands.jsonl:1: needs a string field" in p.stderr


@pytest.mark.parametrize("extra,message", [
    (["--threshold", "1.5"], "--threshold: must be in (0, 1], got 1.5"),
    (["--threshold", "-1"], "--threshold: must be in (0, 1], got -1.0"),
    (["--threshold", "nan"], "--threshold: must be in (0, 1], got nan"),
    (["--out", "{cands}"], "is the --candidates input; writing there would destroy it"),
    (["--out", "{pool}"], "is the --pool input"),
    (["--out", "{tmp}"], "is a directory"),
])
def test_filter_command_refuses_bad_arguments_before_touching_anything(tmp_path, extra, message):
    from .conftest import srlm
    pool, cands = tmp_path / "pool.jsonl", tmp_path / "cands.jsonl"
    pool.write_text(json.dumps({"instruction": "Write a short poem about the sea"}) + "\n")
    cands.write_text("".join(json.dumps({"prompt": f"Explain how tide number {i} works"}) + "\n" for i in range(11)))
    before = cands.read_text()
    args = [a.format(cands=cands, pool=pool, tmp=tmp_path) for a in extra]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "kept.jsonl")]
    p = srlm("prompts", "filter", "--pool", str(pool), "--candidates", str(cands), *args, check=False)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr
    assert cands.read_text() == before
