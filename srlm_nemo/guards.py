"""Warnings, or a stop, before DPO trains on data that shows the loop going wrong.

Later work on self-rewarding found that the plain loop can saturate or regress through judge
bias and length growth (the 2024 paper saw answers grow from 1,092 to 2,552 characters). Each
iteration's pairs stage measures, from that iteration's candidates, scores and pairs (and the
previous iteration's, from iteration 3 on):

* tie_rate: prompts dropped because every answer got the same mean score;
* top_score_share: answers scored the rubric's maximum (a saturating judge);
* score_inflation: mean score now minus the previous iteration's;
* length_ratio: mean chosen length / mean rejected length (the judge rewarding length);
* length_growth: mean answer length now / the previous iteration's.

`guard.mode`: `warn` (default) logs each crossed threshold and records every figure in the
manifest; `stop` also fails the pairs stage, so nothing is trained on that data, with an error
naming each figure, its value and its threshold.
"""
from __future__ import annotations

from .artifacts import ArtifactError


class GuardStop(ArtifactError):
    pass


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def figures(cands, scores, pairs, counts, max_score: float, prev_cands=None, prev_scores=None) -> dict:
    by_id = {c.id: c for c in cands}
    mean_score = _mean([s.mean_score for s in scores])
    out = {
        "tie_rate": counts.get("dropped_tie", 0) / counts["prompts"] if counts.get("prompts") else None,
        "top_score_share": _mean([float(s.mean_score == max_score) for s in scores if s.mean_score is not None]),
        "length_ratio": None, "score_inflation": None, "length_growth": None,
        "mean_score": mean_score, "mean_answer_chars": _mean([len(c.text) for c in cands]),
    }
    chosen = _mean([len(by_id[p.chosen_id].text) for p in pairs])
    rejected = _mean([len(by_id[p.rejected_id].text) for p in pairs])
    if chosen is not None and rejected:
        out["length_ratio"] = chosen / rejected
    if prev_scores is not None and mean_score is not None and (prev := _mean([s.mean_score for s in prev_scores])) is not None:
        out["score_inflation"] = mean_score - prev
    if prev_cands and (prev_len := _mean([len(c.text) for c in prev_cands])):
        out["length_growth"] = out["mean_answer_chars"] / prev_len
    return out


THRESHOLDS = {"tie_rate": "max_tie_rate", "top_score_share": "max_top_score_share", "score_inflation":
              "max_score_inflation", "length_ratio": "max_length_ratio", "length_growth": "max_length_growth"}


def check(fig: dict, g, stage: str, log) -> dict:
    """Each guarded figure against its threshold; returns what goes into the manifest."""
    crossed = []
    out = {}
    for name, key in THRESHOLDS.items():
        limit, value = getattr(g, key), fig.get(name)
        over = value is not None and value > limit
        out[name] = {"value": value, "threshold": limit, "crossed": over}
        if over:
            crossed.append(f"{name} = {value:.3f} > guard.{key} = {limit:g}")
    for c in crossed:
        log(f"       {stage}: guard: {c}")
    if crossed and g.mode == "stop":
        raise GuardStop(f"{stage}: guard.mode=stop: {'; '.join(crossed)}; nothing was trained on these pairs "
                        "(raise the threshold or set guard.mode=warn to go on)")
    return {"mode": g.mode, "figures": fig, "checks": out, "crossed": len(crossed)}
