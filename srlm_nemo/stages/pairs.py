"""Pair stage: highest vs lowest mean score per prompt; ties and prompts with too few valid
candidates dropped, each reason counted.

in : candidates.jsonl (Candidate), scores.jsonl (CandidateScore)
out: <stage>/pairs.jsonl (PreferencePair; TRL's conversational prompt/chosen/rejected)
"""
from __future__ import annotations

from ..artifacts import read_jsonl, write_jsonl
from ..guards import check, figures
from ..pairs import build_pairs
from ..schemas import Candidate, CandidateScore


def run(ctx, stage, fp):
    p = ctx.cfg.pairs
    cands = read_jsonl(stage.inputs["candidates"], Candidate)
    scores = read_jsonl(stage.inputs["scores"], CandidateScore)
    pairs, counts = build_pairs(cands, scores, min_valid=p.min_valid_candidates, length_control=p.length_control,
                                length_band=p.length_band, system_prompt=ctx.cfg.model.system_prompt)
    prev = {k: read_jsonl(stage.inputs[f"previous_{k}"], t) for k, t in (("candidates", Candidate),
                                                                           ("scores", CandidateScore))
            if f"previous_{k}" in stage.inputs}
    fig = figures(cands, scores, pairs, counts, ctx.cfg.judge.max_score, prev.get("candidates"), prev.get("scores"))
    guard = check(fig, ctx.cfg.guard, stage.name, ctx.log)  # guard.mode=stop raises before pairs.jsonl exists
    write_jsonl(stage.outputs["pairs"], pairs)
    return {**counts, "guard": guard}
