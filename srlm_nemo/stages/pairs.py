"""Pair stage: one pair per prompt by `pairs.strategy` (srlm_nemo/pairs.py); ties and prompts
with too few valid candidates dropped, each reason counted; the guards checked before DPO.

in : candidates.jsonl (Candidate), scores.jsonl (CandidateScore); with pairs.strategy=cream the
     previous model's scores of the same candidates (cream_scores); with judge.meta the
     meta-judge's judgement pairs (judge_pairs), up to judge.meta_ratio per answer pair
out: <stage>/pairs.jsonl (PreferencePair; TRL's conversational prompt/chosen/rejected, + weight)
"""
from __future__ import annotations

from ..artifacts import read_jsonl, write_jsonl
from ..guards import check, figures
from ..meta_judge import mix
from ..pairs import build_pairs, cream_weights
from ..schemas import Candidate, CandidateScore, PreferencePair


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
    if "judge_pairs" in stage.inputs:  # judge.meta: judgement pairs join the answer pairs
        pairs, meta = mix(pairs, read_jsonl(stage.inputs["judge_pairs"], PreferencePair), ctx.cfg.judge.meta_ratio)
        counts.update(meta)
    write_jsonl(stage.outputs["pairs"], pairs)
    return {**counts, "guard": guard}
