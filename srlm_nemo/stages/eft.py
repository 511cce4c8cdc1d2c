"""EFT builder stage: the IFT-only SFT model judges human-ranked replies (paper, section 3.1).

in : ranked_pool.jsonl (RankedPrompt; no overlap with IFT), IFT-only SFT model, judge template
out: <stage>/eft_train.jsonl, <stage>/eft_eval.jsonl (EFTExample), split by prompt;
     <stage>/judged.jsonl (Judgement per reply sample, for audit); every count in the manifest

Kept: prompts whose replies the model ranks as the humans did (`srlm_nemo.eft.ranking_agrees`).
Then the most common score is downsampled (`seed.eft_max_score_ratio`). A small model may keep
few or none: the paper saw the same without EFT; the counts say so.
"""
from __future__ import annotations

import random
from collections import Counter

from ..artifacts import read_jsonl, write_jsonl
from ..eft import ranking_agrees, rebalance, split_by_prompt
from pathlib import Path

from ..config import GENERATION_KNOBS
from ..judge_parse import mean_valid
from ..pipeline import Stage, reads
from ..run_layout import RunLayout
from ..schemas import EFTExample, Judgement, RankedPrompt
from ..templates import template_path
from ._shards import generate_in_shards, judge_samples, shard_seed
from .judge import parse_summary

# What the EFT builder reads of `seed` and `judge` (not judge.k: it samples seed.eft_judge_samples).
READS = ("seed.eft_judge_samples", "seed.eft_max_score_ratio", "seed.seed", "seed.num_eft_train",
         "seed.num_eft_eval", "judge.temperature", "judge.top_p", "judge.max_new_tokens", "judge.template",
         "judge.min_score", "judge.max_score", "judge.shard_size", "model.system_prompt", "run.seed",
         *GENERATION_KNOBS)
OUTPUTS = ("eft_train", "eft_eval", "judged")


def declare(cfg, layout: RunLayout, ranked_pool: Path, model: Path) -> Stage:
    """The IFT-only SFT model `model` judges the human-ranked replies of `ranked_pool`."""
    d = layout.stage_dir("eft")
    return Stage("eft", "eft", d, config=reads(cfg, *READS),
                 inputs={"ranked_pool": ranked_pool, "model": model, "template": template_path(cfg.judge.template)},
                 outputs={n: d / f"{n}.jsonl" for n in OUTPUTS}, model="SFT-IFT")


def run(ctx, stage, fp):
    s, j = ctx.cfg.seed, ctx.cfg.judge
    ranked = read_jsonl(stage.inputs["ranked_pool"], RankedPrompt)
    items = [(rp, r) for rp in ranked for r in rp.replies]

    def make(chunk, i):
        outs = judge_samples(ctx, stage.inputs["model"], [(rp.prompt, r.text) for rp, r in chunk],
                             s.eft_judge_samples, shard_seed(ctx.cfg.run.seed, 0, 5, i))
        return [Judgement(candidate_id=r.reply_id, prompt_id=rp.prompt_id, sample=k, text=text, score=p.score,
                          error=p.error, truncated_to_chars=cut)
                for (rp, r), (comps, cut) in zip(chunk, outs) for k, (text, p) in enumerate(comps)]

    judged = generate_in_shards(ctx, stage, fp, items, j.shard_size, make, Judgement, "EFT judging")
    by_reply: dict[str, list[Judgement]] = {}
    for x in judged:
        by_reply.setdefault(x.candidate_id, []).append(x)
    kept, counts = [], Counter(prompts_agree=0, prompts_disagree=0)
    for rp in ranked:
        means = [mean_valid([x.score for x in by_reply.get(r.reply_id, [])])[0] for r in rp.replies]
        if not ranking_agrees([r.rank for r in rp.replies], means):
            counts["prompts_disagree"] += 1
            continue
        counts["prompts_agree"] += 1
        for r in rp.replies:
            first_valid = next(x for x in by_reply[r.reply_id] if x.score is not None)
            kept.append(EFTExample(id=f"{rp.prompt_id}/{r.reply_id}", prompt_id=rp.prompt_id, question=rp.prompt,
                                   response=r.text, judgement=first_valid.text.strip(), score=first_valid.score,
                                   human_rank=r.rank, source="eft-builder"))
    balanced = rebalance(kept, s.eft_max_score_ratio, random.Random(s.seed))
    train, evals = split_by_prompt(balanced, s.num_eft_train, s.num_eft_eval, random.Random(s.seed))
    write_jsonl(stage.outputs["judged"], judged)
    write_jsonl(stage.outputs["eft_train"], train)
    write_jsonl(stage.outputs["eft_eval"], evals)
    return {
        **counts,
        "parse_rate": parse_summary(judged)["parse_rate"],
        "truncated_replies": parse_summary(judged)["truncated_replies"],
        "ranked_prompts": len(ranked),
        "replies_judged": len(items),
        "examples_agreeing": len(kept),
        "after_rebalance": len(balanced),
        "eft_train": len(train),
        "eft_eval": len(evals),
        "score_histogram": {str(k): v for k, v in sorted(Counter(e.score for e in balanced).items())},
    }
