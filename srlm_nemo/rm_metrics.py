"""Reward-modelling metrics of the paper's Table 4, with these exact definitions.

Input rows: {"prompt_id", "reply_id", "human_rank" (0 = best), "model_score" (mean of the valid
judge samples, or null)}. A reply with a null score is left out of every metric.

* pairwise_accuracy: over all pairs of replies to the same prompt with different human ranks and
  both scores present, the fraction where the better-ranked reply has the strictly higher score
  (a tie in model score counts as a disagreement).
* five_best: of replies whose model score is exactly 5, the fraction that humans ranked 0.
* exact_match: of prompts with >= 2 scored replies of different human ranks, the fraction whose
  replies sorted by model score (descending) are exactly in human order, with no tie between
  replies of different rank (a prompt whose replies share one rank has no order to match).
* spearman / kendall: per prompt with >= 2 scored replies, scipy's spearmanr and kendalltau (tau-b)
  between model score and negated human rank; a prompt where either side is constant counts as 0;
  the mean over those prompts.
All are fractions (not percent); None where nothing qualifies.
"""
from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations

# The paper's Table 4 (percent for the first three), for reference beside our numbers.
PAPER_TABLE4 = {
    "SFT baseline": {
        "pairwise_accuracy": 65.1,
        "five_best": 39.6,
        "exact_match": 10.1,
        "spearman": 0.253,
        "kendall": 0.233,
    },
    "M1": {"pairwise_accuracy": 78.7, "five_best": 41.5, "exact_match": 13.1, "spearman": 0.279, "kendall": 0.253},
    "M2": {"pairwise_accuracy": 80.4, "five_best": 44.3, "exact_match": 14.3, "spearman": 0.331, "kendall": 0.315},
    "M3": {"pairwise_accuracy": 81.7, "five_best": 43.2, "exact_match": 14.3, "spearman": 0.349, "kendall": 0.324},
}


def check_rows(path, numbered_rows: list[tuple[int, object]]) -> None:
    """A scores file as `srlm eval rm-metrics` takes it; each error names the file and line.
    NaN or infinite scores and a (prompt_id, reply_id) given twice would change the metrics
    without a word (a NaN counted as scored, a duplicate reply paired twice), so they are errors."""
    from .artifacts import ArtifactError
    if not numbered_rows:  # metrics of nothing would print as nulls with exit 0
        raise ArtifactError(f"{path}: no scores in it")
    seen: dict = {}
    for i, r in numbered_rows:
        where = f"{path}:{i}"
        if not isinstance(r, dict):
            raise ArtifactError(f"{where}: each line must be a JSON object, got {type(r).__name__}")
        missing = {"prompt_id", "reply_id", "human_rank", "model_score"} - set(r)
        if missing:
            raise ArtifactError(f"{where}: missing field(s) {', '.join(sorted(missing))}")
        rank, score = r["human_rank"], r["model_score"]
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
            raise ArtifactError(f"{where}: human_rank must be an integer >= 0 (0 = best), got {rank!r}")
        if score is not None and not _finite(score):
            raise ArtifactError(f"{where}: model_score must be a finite number or null, got {str(score)[:40]}")
        for field in ("prompt_id", "reply_id"):  # a null or an object is not grouped under its str()
            if not isinstance(r[field], str) or not r[field]:
                raise ArtifactError(f"{where}: {field} must be a non-empty string, got {r[field]!r}")
        key = (r["prompt_id"], r["reply_id"])
        if key in seen:
            raise ArtifactError(f"{where}: prompt_id {key[0]!r}, reply_id {key[1]!r} again (first on line {seen[key]})")
        seen[key] = i


def _finite(x) -> bool:
    """A JSON number a float holds: not a bool, not NaN or infinite, not an integer past 1e308."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:
        return False


def baselines(rows: list[dict], lengths: dict, draws: int = 20) -> dict:
    """The same metrics on the same rows (those the model scored) for two judges that know
    nothing: a random one (an integer 0-5 per reply, the mean over `draws` seeded draws) and one
    that prefers the longer reply (score = its length in characters). A model's numbers mean
    something only where they beat these."""
    import random
    scored = [r for r in rows if r.get("model_score") is not None]
    keys = ("pairwise_accuracy", "five_best", "exact_match", "spearman", "kendall")
    runs = [rm_metrics([{**r, "model_score": float(random.Random(seed * 7919 + i).randint(0, 5))}
                        for i, r in enumerate(scored)]) for seed in range(draws)]
    rand = {k: _mean([m[k] for m in runs if m[k] is not None]) for k in keys}
    length = rm_metrics([{**r, "model_score": float(lengths[r["reply_id"]])} for r in scored])
    return {"rows": len(scored), "random": rand, "length": {k: length[k] for k in keys}}


def _mean(xs):
    return sum(xs) / len(xs) if xs else None


def rm_metrics(rows: list[dict]) -> dict:
    from scipy.stats import kendalltau, spearmanr
    by_prompt: dict[str, list[tuple[int, float]]] = defaultdict(list)
    n_null = 0
    for r in rows:
        if r.get("model_score") is None:
            n_null += 1
            continue
        by_prompt[str(r["prompt_id"])].append((int(r["human_rank"]), float(r["model_score"])))
    pair_hits = []
    exact, spear, kend = [], [], []
    for replies in by_prompt.values():
        ok_all, compared = True, 0
        for (ra, sa), (rb, sb) in combinations(replies, 2):
            if ra == rb:
                continue
            hit = sa > sb if ra < rb else sb > sa
            pair_hits.append(hit)
            ok_all &= hit
            compared += 1
        if len(replies) < 2:
            continue
        if compared:  # replies that share one human rank give no order to match
            exact.append(ok_all)
        ranks = [-r for r, _ in replies]
        scores = [s for _, s in replies]
        if len(set(ranks)) < 2 or len(set(scores)) < 2:
            spear.append(0.0)
            kend.append(0.0)
            continue
        rho = spearmanr(scores, ranks).statistic
        tau = kendalltau(scores, ranks).statistic  # tau-b by default
        spear.append(0.0 if math.isnan(rho) else float(rho))
        kend.append(0.0 if math.isnan(tau) else float(tau))
    fives = [r for replies in by_prompt.values() for r, s in replies if s == 5]
    return {
        "pairwise_accuracy": _mean([float(h) for h in pair_hits]),
        "five_best": _mean([float(r == 0) for r in fives]),
        "exact_match": _mean([float(e) for e in exact]),
        "spearman": _mean(spear), "kendall": _mean(kend),
        "counts": {"rows": len(rows), "scored": len(rows) - n_null, "unscored": n_null,
                   "prompts": len(by_prompt), "prompts_with_2plus": len(exact), "pairs": len(pair_hits),
                   "score_5": len(fives)},
    }
