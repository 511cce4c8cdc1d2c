"""Warnings, a stop, or a rollback before DPO trains on data that shows the loop going wrong.

Later work on self-rewarding found that the plain loop can saturate or regress through judge
bias and length growth (the 2024 paper saw answers grow from 1,092 to 2,552 characters). Each
iteration's pairs stage measures, from that iteration's candidates, scores and answer pairs
(and the previous iteration's, from iteration 3 on):

* tie_rate: prompts dropped because every answer got the same mean score;
* top_score_share: answers scored the rubric's maximum (a saturating judge);
* score_inflation: mean score now minus the previous iteration's;
* length_ratio: mean chosen length / mean rejected length (the judge rewarding length);
* length_growth: mean answer length now / the previous iteration's;
* agreement_drop: the judge's pairwise accuracy on the human-ranked eval trees (a frozen
  reference: eval.rm), the previous iteration's judge's minus this one's;
* reference_agreement: with guard.reference_judge, the share of prompts where a frozen judge's
  mean scores order this judge's best and worst answer as this judge does (a tie counts half).
  It measures the judge, so it uses the paper's pair of the policy's own answers whatever
  pairs.strategy builds (temporal's anchor and future answers are not the frozen judge's).

`run.guard`: `warn` (default) logs each crossed threshold and records every figure in the
manifest; `stop` fails the pairs stage, so nothing is trained on that data, with an error
naming each figure, its value and its threshold; `rollback` keeps the pairs for inspection but
DPO does not train on them: M_t is M_{t-1} unchanged (no model trained on crossing data is ever
promoted, so that is the best model so far) and the next iteration starts again from it.
"""
from __future__ import annotations

from .artifacts import ArtifactError


class GuardStop(ArtifactError):
    pass


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def figures(cands, scores, pairs, counts, max_score: float, prev_cands=None, prev_scores=None,
            accuracy=None, prev_accuracy=None, reference_scores=None, lookup=None, judge_pairs=None) -> dict:
    """`accuracy`, `prev_accuracy`: the two judges' pairwise accuracy on the eval trees;
    `reference_scores`: the frozen judge's CandidateScores of these candidates, compared on
    `judge_pairs` (the judge's best vs worst answer per prompt; default `pairs`); `lookup`: the
    pairs' answer ids -> Candidate where they are not all `cands` (pairs.strategy=temporal)."""
    by_id = lookup or {c.id: c for c in cands}
    mean_score = _mean([s.mean_score for s in scores])
    out = {
        "tie_rate": counts.get("dropped_tie", 0) / counts["prompts"] if counts.get("prompts") else None,
        "top_score_share": _mean([float(s.mean_score == max_score) for s in scores if s.mean_score is not None]),
        "length_ratio": None, "score_inflation": None, "length_growth": None,
        "mean_score": mean_score, "mean_answer_chars": _mean([len(c.text) for c in cands]),
        "reference_accuracy": accuracy, "agreement_drop": None, "reference_agreement": None,
    }
    chosen = _mean([len(by_id[p.chosen_id].text) for p in pairs])
    rejected = _mean([len(by_id[p.rejected_id].text) for p in pairs])
    if chosen is not None and rejected:
        out["length_ratio"] = chosen / rejected
    if (
        prev_scores is not None
        and mean_score is not None
        and (prev := _mean([s.mean_score for s in prev_scores])) is not None
    ):
        out["score_inflation"] = mean_score - prev
    if prev_cands and (prev_len := _mean([len(c.text) for c in prev_cands])):
        out["length_growth"] = out["mean_answer_chars"] / prev_len
    if accuracy is not None and prev_accuracy is not None:
        out["agreement_drop"] = prev_accuracy - accuracy
    if reference_scores is not None:
        out["reference_agreement"] = reference_agreement(pairs if judge_pairs is None else judge_pairs,
                                                         reference_scores)
    return out


def reference_agreement(pairs, reference_scores) -> float | None:
    ref = {s.candidate_id: s.mean_score for s in reference_scores}
    votes = [1.0 if a > b else 0.5 if a == b else 0.0 for p in pairs
             if (a := ref.get(p.chosen_id)) is not None and (b := ref.get(p.rejected_id)) is not None]
    return _mean(votes)


# figure -> (its threshold's key in `guard`, crossed when the value is above it (max) or below it (min))
THRESHOLDS = {"tie_rate": ("max_tie_rate", "max"), "top_score_share": ("max_top_score_share", "max"),
              "score_inflation": ("max_score_inflation", "max"), "length_ratio": ("max_length_ratio", "max"),
              "length_growth": ("max_length_growth", "max"), "agreement_drop": ("max_agreement_drop", "max"),
              "reference_agreement": ("min_reference_agreement", "min")}


def check(fig: dict, g, mode: str, stage: str, log) -> dict:
    """Each guarded figure against its threshold; returns what goes into the manifest (and,
    with mode=rollback, tells DPO not to train). mode=stop raises on a crossed threshold."""
    crossed = []
    out = {}
    for name, (key, side) in THRESHOLDS.items():
        limit, value = getattr(g, key), fig.get(name)
        over = value is not None and (value > limit if side == "max" else value < limit)
        out[name] = {"value": value, "threshold": limit, "crossed": over}
        if over:
            crossed.append(f"{name} = {value:.3f} {'>' if side == 'max' else '<'} guard.{key} = {limit:g}")
    for c in crossed:
        log(f"       {stage}: guard: {c}")
    if crossed and mode == "stop":
        raise GuardStop(f"{stage}: run.guard=stop: {'; '.join(crossed)}; nothing was trained on these pairs "
                        "(raise the threshold or set run.guard=warn to go on)")
    rolled_back = bool(crossed) and mode == "rollback"
    if rolled_back:
        log(f"       {stage}: run.guard=rollback: DPO will not train on these pairs; the model is carried over")
    return {"mode": mode, "figures": fig, "checks": out, "crossed": len(crossed), "crossed_what": crossed,
            "rolled_back": rolled_back}
