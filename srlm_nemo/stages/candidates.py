"""Candidate stage: N responses per prompt from M_t, one request per prompt (n=N).

in : prompts.jsonl (GeneratedPrompt), policy model M_t
out: <stage>/candidates.jsonl (Candidate), with sampling parameters and seed per record
"""
from __future__ import annotations

from pathlib import Path

from ..artifacts import read_jsonl, write_jsonl
from ..config import GENERATION_KNOBS
from ..pipeline import Stage, reads
from ..run_layout import RunLayout
from ..schemas import Candidate, GeneratedPrompt, Sampling
from ..templates import chat
from ._shards import generate_in_shards, shard_seed

READS = ("candidates", "model.system_prompt", "run.seed", *GENERATION_KNOBS)


def declare(cfg, layout: RunLayout, name: str, prompts: Path, model: Path, label: str, iteration: int) -> Stage:
    """`model` answers `prompts` N times each: the policy (candidates), and M1 or the future
    model of pairs.strategy=temporal (anchor_candidates, future_candidates)."""
    d = layout.stage_dir(name)
    return Stage(name, "candidates", d, config=reads(cfg, *READS), inputs={"prompts": prompts, "model": model},
                 outputs={"candidates": d / "candidates.jsonl"}, iteration=iteration, model=label)


def run(ctx, stage, fp):
    c = ctx.cfg.candidates
    prompts = read_jsonl(stage.inputs["prompts"], GeneratedPrompt)

    def make(chunk, i):
        sampling = Sampling(n=c.n, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_new_tokens,
                            seed=shard_seed(ctx.cfg.run.seed, stage.iteration, 3, i))
        outs = ctx.generator(stage.inputs["model"]).chat(
            [chat(ctx.cfg.model.system_prompt, p.prompt) for p in chunk], sampling)
        return [Candidate(id=f"{p.id}/c{j}", prompt_id=p.id, prompt=p.prompt, index=j, text=o.text.strip(),
                          finish_reason=o.finish_reason, num_tokens=o.num_tokens, model=stage.model or "",
                          sampling=sampling)
                for p, comps in zip(chunk, outs) for j, o in enumerate(comps)]

    cands = generate_in_shards(ctx, stage, fp, prompts, c.shard_size, make, Candidate,
                               f"iter {stage.iteration} candidates")
    write_jsonl(stage.outputs["candidates"], cands)
    lengths = [len(x.text) for x in cands]
    return {"prompts": len(prompts), "candidates": len(cands),
            "empty": sum(1 for x in cands if not x.text),
            "mean_length_chars": sum(lengths) / len(lengths) if lengths else 0.0}
