"""Pair stage: one pair per prompt by `pairs.strategy` (srlm_nemo/pairs.py); ties and prompts
with too few valid candidates dropped, each reason counted; the guards checked before DPO.

in : candidates.jsonl (Candidate), scores.jsonl (CandidateScore); with pairs.strategy=cream the
     previous model's scores of the same candidates (cream_scores)
out: <stage>/pairs.jsonl (PreferencePair; TRL's conversational prompt/chosen/rejected, + weight)
"""
from __future__ import annotations

from ..artifacts import read_jsonl, write_jsonl
from ..guards import check, figures
from ..pairs import build_pairs, cream_weights
from ..schemas import Candidate, CandidateScore


def run(ctx, stage, fp):
    p = ctx.cfg.pairs
    cands = read_jsonl(stage.inputs["candidates"], Candidate)
    scores = read_jsonl(stage.inputs["scores"], CandidateScore)
    pairs, counts = build_pairs(cands, scores, min_valid=p.min_valid_candidates, strategy=p.strategy,
                                length_rho=p.length_rho, system_prompt=ctx.cfg.model.system_prompt)
    if "cream_scores" in stage.inputs:
        pairs, counts["cream"] = cream_weights(pairs, scores, read_jsonl(stage.inputs["cream_scores"], CandidateScore),
                                               p.cream_average)
    prev = {k: read_jsonl(stage.inputs[f"previous_{k}"], t) for k, t in (("candidates", Candidate),
                                                                           ("scores", CandidateScore))
            if f"previous_{k}" in stage.inputs}
    fig = figures(cands, scores, pairs, counts, ctx.cfg.judge.max_score, prev.get("candidates"), prev.get("scores"))
    guard = check(fig, ctx.cfg.guard, stage.name, ctx.log)  # guard.mode=stop raises before pairs.jsonl exists
    write_jsonl(stage.outputs["pairs"], pairs)
    return {**counts, "guard": guard}
