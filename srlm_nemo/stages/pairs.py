"""Pair stage: one pair per prompt by `pairs.strategy` (srlm_nemo/pairs.py); ties and prompts
with too few valid candidates dropped, each reason counted; the guards checked before DPO.

in : candidates.jsonl (Candidate), scores.jsonl (CandidateScore); with pairs.strategy=cream the
     log-probabilities of the candidates under the policy, the model before it (the policy's DPO
     reference) and, from iteration 3, the one before that (cream_policy, cream_previous,
     cream_older: ReplyLogprob); with pairs.strategy=cream_judge the
     previous model's rubric scores of the same candidates (cream_scores); with judge.meta the
     meta-judge's judgement pairs (judge_pairs), up to judge.meta_ratio per answer pair; with
     pairs.strategy=temporal the initial model's answers and scores (anchor_*) and, in the final
     pairs stage, the future model's (future_*); for the
     guards, the previous iteration's candidates and scores, the two judges' reward-model rows
     on the eval trees (reference_rm, previous_reference_rm) and a frozen judge's scores
     (reference_scores), each where it exists
out: <stage>/pairs.jsonl (PreferencePair; TRL's conversational prompt/chosen/rejected, + weight),
     <stage>/guard.json (the guard figures and checks; DPO reads whether to roll back)
"""
from __future__ import annotations

from pathlib import Path

from ..artifacts import read_jsonl, write_json, write_jsonl
from ..guards import check, figures
from ..meta_judge import mix
from ..pairs import build_pairs, cream_pairs, cream_rewards, cream_weights, temporal_answers, temporal_pairs
from ..pipeline import Stage, reads
from ..rm_metrics import rm_metrics
from ..run_layout import RunLayout
from ..schemas import Candidate, CandidateScore, PreferencePair, ReplyLogprob

READS = ("pairs", "model.system_prompt", "guard", "run.guard", "judge.max_score")
# The inputs that options add (each option's stages say which they give): what this stage reads
# of them is decided by which are present.
OPTIONAL_INPUTS = ("cream_policy", "cream_previous", "cream_older", "cream_scores", "judge_pairs", "anchor_candidates",
                   "anchor_scores", "future_candidates", "future_scores", "previous_candidates", "previous_scores",
                   "reference_rm", "previous_reference_rm", "reference_scores")


def declare(cfg, layout: RunLayout, name: str, t: int, inputs: dict[str, Path]) -> Stage:
    """`inputs`: candidates and scores, and any of OPTIONAL_INPUTS."""
    unknown = set(inputs) - {"candidates", "scores", *OPTIONAL_INPUTS}
    assert not unknown, f"{name}: inputs no pair rule reads: {sorted(unknown)}"
    d = layout.stage_dir(name)
    meta = ["judge.meta_ratio"] if "judge_pairs" in inputs else []
    return Stage(name, "pairs", d, config=reads(cfg, *READS, *meta), inputs=inputs,
                 outputs={"pairs": d / "pairs.jsonl", "guard": d / "guard.json"}, iteration=t)


def run(ctx, stage, fp):
    p = ctx.cfg.pairs
    cands = read_jsonl(stage.inputs["candidates"], Candidate)
    scores = read_jsonl(stage.inputs["scores"], CandidateScore)
    lookup = None
    if p.strategy == "temporal":  # anchored rejection; future-guided chosen once the future model answered
        anchor = (read_jsonl(stage.inputs["anchor_candidates"], Candidate),
                  read_jsonl(stage.inputs["anchor_scores"], CandidateScore))
        future = (
            (
                read_jsonl(stage.inputs["future_candidates"], Candidate),
                read_jsonl(stage.inputs["future_scores"], CandidateScore),
            )
            if "future_candidates" in stage.inputs
            else None
        )
        pairs, counts = temporal_pairs(
            cands, scores, anchor, future, p.min_valid_candidates, ctx.cfg.model.system_prompt
        )
        lookup = temporal_answers(cands, anchor[0], future[0] if future else None)
    elif p.strategy == "cream":  # DPO rewarding: the policy's rewards pick, the two rankings weigh
        pairs, counts, consistency = cream_pairs(cands, *_cream_rewards(stage), p.cream_average,
                                                 ctx.cfg.model.system_prompt)
        counts["cream"] = consistency
    else:
        pairs, counts = build_pairs(cands, scores, min_valid=p.min_valid_candidates, strategy=p.strategy,
                                    length_rho=p.length_rho, system_prompt=ctx.cfg.model.system_prompt)
    if "cream_scores" in stage.inputs:
        pairs, counts["cream"] = cream_weights(pairs, scores, read_jsonl(stage.inputs["cream_scores"], CandidateScore),
                                               p.cream_average)
    guard = check(
        _figures(ctx, stage, cands, scores, pairs, counts, lookup),
        ctx.cfg.guard,
        ctx.cfg.run.guard,
        stage.name,
        ctx.log,
    )  # run.guard=stop raises before pairs.jsonl exists
    if "judge_pairs" in stage.inputs:  # judge.meta: judgement pairs join the answer pairs
        pairs, meta = mix(pairs, read_jsonl(stage.inputs["judge_pairs"], PreferencePair), ctx.cfg.judge.meta_ratio)
        counts.update(meta)
    write_jsonl(stage.outputs["pairs"], pairs)
    write_json(stage.outputs["guard"], guard)
    return {**counts, "guard": guard}


def _cream_rewards(stage) -> tuple[dict[str, float], dict[str, float]]:
    """The policy's DPO rewards and the previous model's, from the log-probability stages."""
    def rows(name):
        return read_jsonl(stage.inputs[name], ReplyLogprob) if name in stage.inputs else None
    return cream_rewards(rows("cream_policy"), rows("cream_previous"), rows("cream_older"))


def _figures(ctx, stage, cands, scores, pairs, counts, lookup) -> dict:
    def opt(name, schema=CandidateScore):
        return read_jsonl(stage.inputs[name], schema) if name in stage.inputs else None

    def accuracy(name):
        return rm_metrics(read_jsonl(stage.inputs[name]))["pairwise_accuracy"] if name in stage.inputs else None
    # the frozen judge checks this judge: on its best vs worst answer of each prompt (the paper's
    # pair), whatever answers pairs.strategy pairs
    judged = build_pairs(cands, scores, min_valid=ctx.cfg.pairs.min_valid_candidates)[0] \
        if "reference_scores" in stage.inputs else None
    return figures(cands, scores, pairs, counts, ctx.cfg.judge.max_score, opt("previous_candidates", Candidate),
                   opt("previous_scores"), accuracy("reference_rm"), accuracy("previous_reference_rm"),
                   opt("reference_scores"), lookup, judged)
