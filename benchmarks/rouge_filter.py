"""ROUGE-L novelty filter: rouge-score 0.1.2 (the reference) vs srlm_nemo.rouge, same inputs.

    .venv/bin/python benchmarks/rouge_filter.py [--pool 20000] [--candidates 2000] [--ref-seconds 20]

Prompts: Self-Instruct's seed tasks and AlpacaEval's instructions from ../shared/data when present
(else the package's demo prompts), expanded to the pool size by recombining their words. The
reference runs on a prefix of the candidates for --ref-seconds (it does ~5k pairs/s); ours runs on
all of them. Decisions on the common prefix are compared; pairs per second and the ratio printed.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from rouge_score import rouge_scorer

from srlm_nemo.rouge import RougePool, novelty_filter

ROOT = Path(__file__).resolve().parent.parent


def load_prompts() -> list[str]:
    data = ROOT.parent / "shared" / "data"
    if (data / "self_instruct_seed_tasks.jsonl").exists():
        out = [json.loads(line)["instruction"] for line in open(data / "self_instruct_seed_tasks.jsonl")]
        out += [r["instruction"] for r in json.load(open(data / "alpaca_eval_instructions.json"))]
        return out
    return [json.loads(line)["prompt"] for line in open(ROOT / "srlm_nemo/data/demo_ift.jsonl")]


def synth(base: list[str], n: int, rng: random.Random) -> list[str]:
    """Real prompts first, then recombinations: half of one prompt + half of another."""
    out = list(base[:n])
    while len(out) < n:
        a, b = rng.sample(base, 2)
        wa, wb = a.split(), b.split()
        out.append(" ".join(wa[: len(wa) // 2] + wb[len(wb) // 2:]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=20000)
    ap.add_argument("--candidates", type=int, default=2000)
    ap.add_argument("--ref-seconds", type=float, default=20.0)
    ap.add_argument("--threshold", type=float, default=0.7)
    a = ap.parse_args()
    rng = random.Random(0)
    base = load_prompts()
    texts = synth(base, a.pool + a.candidates, rng)
    rng.shuffle(texts)
    pool_texts, cands = texts[: a.pool], texts[a.pool:]

    # Reference: rouge-score, one candidate at a time against pool + kept, until the time budget.
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    ref_pool, ref_dec, ref_pairs = list(pool_texts), [], 0
    t0 = time.perf_counter()
    for c in cands:
        best = max(scorer.score(p, c)["rougeL"].fmeasure for p in ref_pool)
        ref_pairs += len(ref_pool)
        keep = not best > a.threshold
        ref_dec.append(keep)
        if keep:
            ref_pool.append(c)
        if time.perf_counter() - t0 > a.ref_seconds:
            break
    ref_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    pool = RougePool(pool_texts)
    ours = novelty_filter(pool, cands, a.threshold)
    our_s = time.perf_counter() - t0
    kept_before = 0
    our_pairs = 0
    for keep, _, _ in ours:
        our_pairs += a.pool + kept_before
        kept_before += keep
    same = [k for k, _, _ in ours[: len(ref_dec)]] == ref_dec
    ref_rate, our_rate = ref_pairs / ref_s, our_pairs / our_s
    print(f"prompts: pool {a.pool}, candidates {len(cands)} (reference checked the first {len(ref_dec)})")
    print(f"rouge-score : {ref_pairs:>12,d} pairs in {ref_s:7.2f} s = {ref_rate:>14,.0f} pairs/s")
    print(
        f"srlm_nemo   : {our_pairs:>12,d} pairs in {our_s:7.2f} s = {our_rate:>14,.0f} pairs/s (incl. tokenising "
        "the pool)"
    )
    print(f"ratio       : {our_rate / ref_rate:,.0f}x   identical decisions on the common prefix: {same}")
    print(f"kept        : {sum(k for k, _, _ in ours)} of {len(cands)}")


if __name__ == "__main__":
    main()
