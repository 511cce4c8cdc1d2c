"""Judge stage: M_t scores each candidate K times with the additive 5-point prompt.

in : candidates.jsonl (Candidate), judge model M_t, template `judge.template` from prompts/
out: <stage>/judgements.jsonl (Judgement: every sample, with parse errors),
     <stage>/scores.jsonl (CandidateScore: mean over valid samples);
     parse rate, failure reasons and score histogram in the manifest
"""
from __future__ import annotations

from collections import Counter

from pathlib import Path

from ..artifacts import read_jsonl, write_jsonl
from ..config import GENERATION_KNOBS, JUDGE_KNOBS
from ..judge_parse import mean_valid
from ..pipeline import Stage, reads
from ..run_layout import RunLayout
from ..schemas import Candidate, CandidateScore, Judgement
from ..templates import template_path
from ._shards import generate_in_shards, judge_samples, shard_seed

# What every stage that judges with the rubric reads (judge, rm_eval, meta_judge): not the
# meta-judge's own keys, so switching judge.meta on re-runs only what it changes.
READS = (*JUDGE_KNOBS, "model.system_prompt", "run.seed", *GENERATION_KNOBS)


def declare(cfg, layout: RunLayout, name: str, candidates: Path, model: Path, label: str, iteration: int) -> Stage:
    """`model` scores `candidates` with the rubric, K samples each: the judge stage, and every
    second judge of the same (or other) answers: previous, reference, anchor, future."""
    d = layout.stage_dir(name)
    return Stage(name, "judge", d, config=reads(cfg, *READS),
                 inputs={"candidates": candidates, "model": model, "template": template_path(cfg.judge.template)},
                 outputs={"judgements": d / "judgements.jsonl", "scores": d / "scores.jsonl"},
                 iteration=iteration, model=label)


def score_candidates(cands: list[Candidate], judgements: list[Judgement]) -> list[CandidateScore]:
    by_cand: dict[str, list[Judgement]] = {}
    for j in judgements:
        by_cand.setdefault(j.candidate_id, []).append(j)
    out = []
    for c in cands:
        js = by_cand.get(c.id, [])
        mean, n_valid = mean_valid([j.score for j in js])
        out.append(CandidateScore(candidate_id=c.id, prompt_id=c.prompt_id, mean_score=mean, num_valid=n_valid,
                                  num_samples=len(js), scores=[j.score for j in js if j.score is not None],
                                  length_chars=len(c.text)))
    return out


def parse_summary(judgements: list[Judgement]) -> dict:
    """Parse rate and failure reasons: one definition for the judge, EFT and RM-eval stages."""
    n = len(judgements)
    valid = sum(1 for j in judgements if j.score is not None)
    return {"parse_rate": valid / n if n else 0.0, "failures": dict(Counter(j.error for j in judgements if j.error)),
            # replies cut to fit the model's context before they were judged
            "truncated_replies": sum(1 for j in judgements if j.sample == 0 and j.truncated_to_chars is not None)}


def judge_stats(judgements: list[Judgement], scores: list[CandidateScore]) -> dict:
    n = len(judgements)
    valid = [j.score for j in judgements if j.score is not None]
    spreads = [max(s.scores) - min(s.scores) for s in scores if len(s.scores) >= 2]
    scored = [(s.mean_score, s.length_chars) for s in scores if s.mean_score is not None]
    return {"judgements": n, "valid": len(valid), **parse_summary(judgements),
            "score_histogram": {str(k): v for k, v in sorted(Counter(valid).items())},
            "candidates_without_valid_score": sum(1 for s in scores if s.mean_score is None),
            "mean_within_candidate_spread": sum(spreads) / len(spreads) if spreads else None,
            # Does the judge reward length? (The paper saw answers grow 1,092 -> 2,552 chars.)
            "score_length_spearman": _spearman(scored)}


def _spearman(pairs) -> float | None:
    import math

    from scipy.stats import spearmanr
    if len(pairs) < 3 or len({a for a, _ in pairs}) < 2 or len({b for _, b in pairs}) < 2:
        return None
    rho = spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic
    return None if math.isnan(rho) else float(rho)


def run(ctx, stage, fp):
    j = ctx.cfg.judge
    cands = read_jsonl(stage.inputs["candidates"], Candidate)

    def make(chunk, i):
        outs = judge_samples(ctx, stage.inputs["model"], [(c.prompt, c.text or "(empty)") for c in chunk], j.k,
                             shard_seed(ctx.cfg.run.seed, stage.iteration, 4, i))
        return [Judgement(candidate_id=c.id, prompt_id=c.prompt_id, sample=k, text=text, score=p.score, error=p.error,
                          truncated_to_chars=cut)
                for c, (comps, cut) in zip(chunk, outs) for k, (text, p) in enumerate(comps)]

    judgements = generate_in_shards(ctx, stage, fp, cands, j.shard_size, make, Judgement,
                                    f"iter {stage.iteration} judge")
    scores = score_candidates(cands, judgements)
    write_jsonl(stage.outputs["judgements"], judgements)
    write_jsonl(stage.outputs["scores"], scores)
    return judge_stats(judgements, scores)
