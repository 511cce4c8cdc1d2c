"""Pair stage: highest vs lowest mean score per prompt; ties and prompts with too few valid
candidates dropped, each reason counted.

in : candidates.jsonl (Candidate), scores.jsonl (CandidateScore)
out: <stage>/pairs.jsonl (PreferencePair; TRL's conversational prompt/chosen/rejected)
"""
from __future__ import annotations

from ..artifacts import read_jsonl, write_jsonl
from ..pairs import build_pairs
from ..schemas import Candidate, CandidateScore


def run(ctx, stage, fp):
    p = ctx.cfg.pairs
    pairs, counts = build_pairs(read_jsonl(stage.inputs["candidates"], Candidate),
                                read_jsonl(stage.inputs["scores"], CandidateScore),
                                min_valid=p.min_valid_candidates, length_control=p.length_control,
                                length_band=p.length_band, system_prompt=ctx.cfg.model.system_prompt)
    write_jsonl(stage.outputs["pairs"], pairs)
    return dict(counts)
