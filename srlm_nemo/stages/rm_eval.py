"""Reward-model evaluation stage: model M judges the held-out human-ranked replies.

in : eval_trees.jsonl (RankedPrompt), the model being evaluated, judge template
out: <stage>/rm_scores.jsonl (rows for `srlm eval rm-metrics`), <stage>/judgements.jsonl;
     the Table 4 metrics, parse rate and failures in the manifest
"""
from __future__ import annotations

from pathlib import Path

from ..artifacts import read_jsonl, write_jsonl
from ..judge_parse import mean_valid
from ..pipeline import Stage, reads
from ..rm_metrics import baselines, rm_metrics
from ..run_layout import RunLayout, eval_stage
from ..schemas import Judgement, RankedPrompt
from ..templates import template_path
from ._shards import generate_in_shards, judge_samples, shard_seed
from .judge import READS, parse_summary


def declare(cfg, layout: RunLayout, model: Path, label: str, eval_trees: Path, iteration: int | None = None) -> Stage:
    """`iteration`: the iteration whose judge `model` is (its seeds follow it), None for the last model."""
    name = eval_stage("rm", label)
    d = layout.stage_dir(name)
    return Stage(name, "rm_eval", d, config=reads(cfg, *READS),
                 inputs={"eval_trees": eval_trees, "model": model, "template": template_path(cfg.judge.template)},
                 outputs={"rm_scores": d / "rm_scores.jsonl", "judgements": d / "judgements.jsonl"},
                 iteration=iteration, model=label)


def run(ctx, stage, fp):
    j = ctx.cfg.judge
    trees = read_jsonl(stage.inputs["eval_trees"], RankedPrompt)
    items = [(rp, r) for rp in trees for r in rp.replies]

    def make(chunk, i):
        outs = judge_samples(ctx, stage.inputs["model"], [(rp.prompt, r.text) for rp, r in chunk], j.k,
                             shard_seed(ctx.cfg.run.seed, stage.iteration, 6, i))
        return [Judgement(candidate_id=r.reply_id, prompt_id=rp.prompt_id, sample=k, text=text, score=p.score,
                          error=p.error, truncated_to_chars=cut)
                for (rp, r), (comps, cut) in zip(chunk, outs) for k, (text, p) in enumerate(comps)]

    judged = generate_in_shards(ctx, stage, fp, items, j.shard_size, make, Judgement, f"RM eval {stage.model}")
    by_reply: dict[str, list] = {}
    for x in judged:
        by_reply.setdefault(x.candidate_id, []).append(x.score)
    rows = [{"prompt_id": rp.prompt_id, "reply_id": r.reply_id, "human_rank": r.rank,
             "model_score": mean_valid(by_reply.get(r.reply_id, []))[0]} for rp, r in items]
    write_jsonl(stage.outputs["judgements"], judged)
    write_jsonl(stage.outputs["rm_scores"], rows)
    lengths = {r.reply_id: len(r.text) for _, r in items}
    return {"model": stage.model, "metrics": rm_metrics(rows), "baselines": baselines(rows, lengths),
            **parse_summary(judged)}
