"""Log-probability stage (pairs.strategy=cream): one model's log p(answer | prompt) for every
candidate, the quantity CREAM ranks answers by (DPO rewarding; the pairs stage turns these into
rewards, srlm_nemo/pairs.py `dpo_rewards`).

in : candidates.jsonl (Candidate), a model
out: <stage>/logprobs.jsonl (ReplyLogprob: the answer's summed token log-probabilities and its
     token count, in the conversation the answer was sampled in: system prompt + question);
     answers too long for model.max_model_len (or given a non-finite log-probability) get None
     and are counted in the manifest (unscored)
"""
from __future__ import annotations

import math
from pathlib import Path

from ..artifacts import read_jsonl, write_jsonl
from ..config import GENERATION_KNOBS
from ..pipeline import Stage, reads
from ..run_layout import RunLayout
from ..schemas import Candidate, ReplyLogprob
from ..templates import chat
from ._shards import generate_in_shards

READS = ("model.system_prompt", "pairs.logprob_shard_size", *GENERATION_KNOBS)


def declare(cfg, layout: RunLayout, name: str, candidates: Path, model: Path, label: str, iteration: int) -> Stage:
    """`model` scores every answer in `candidates` by its log-probability."""
    d = layout.stage_dir(name)
    return Stage(name, "logprob", d, config=reads(cfg, *READS), inputs={"candidates": candidates, "model": model},
                 outputs={"logprobs": d / "logprobs.jsonl"}, iteration=iteration, model=label)


def run(ctx, stage, fp):
    cands = read_jsonl(stage.inputs["candidates"], Candidate)
    system = ctx.cfg.model.system_prompt

    def make(chunk, i):
        gen = ctx.generator(stage.inputs["model"])
        scored = gen.reply_logprobs([chat(system, c.prompt) for c in chunk], [c.text for c in chunk])
        # None: too long for the context, or a log-probability that is not finite (a token the
        # model gives probability 0); either way the answer is left out of the rankings
        scored = [s if s and math.isfinite(s[0]) else None for s in scored]
        return [ReplyLogprob(candidate_id=c.id, prompt_id=c.prompt_id, logprob=s[0] if s else None,
                             tokens=s[1] if s else None) for c, s in zip(chunk, scored)]

    rows = generate_in_shards(ctx, stage, fp, cands, ctx.cfg.pairs.logprob_shard_size, make, ReplyLogprob,
                              f"iter {stage.iteration} log-probabilities ({stage.model})")
    write_jsonl(stage.outputs["logprobs"], rows)
    scored = [r for r in rows if r.logprob is not None]
    return {"answers": len(rows), "unscored": len(rows) - len(scored),
            "mean_logprob_per_token": sum(r.logprob / r.tokens for r in scored) / len(scored) if scored else None}
