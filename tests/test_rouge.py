import json
import random

import pytest
from rouge_score import rouge_scorer

from srlm_nemo.rouge import RougePool, rouge_l, tokenize

from .conftest import SHARED_DATA

REF = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def _real_prompts():
    seed = SHARED_DATA / "self_instruct_seed_tasks.jsonl"
    alpaca = SHARED_DATA / "alpaca_eval_instructions.json"
    if not seed.exists() or not alpaca.exists():
        pytest.skip("../shared/data not present (fresh clone)")
    out = [json.loads(l)["instruction"] for l in open(seed)]
    out += [r["instruction"] for r in json.load(open(alpaca))]
    return out


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
