"""Prompt stage: 8-shot self-instruct (6 IFT + 2 generated demos), post-processing, filters.

in : ift.jsonl (IFTExample), prompts.jsonl of earlier iterations (GeneratedPrompt),
     generator model (M_t, or the fixed model `prompts.generator`)
out: <stage>/prompts.jsonl (GeneratedPrompt); per-filter counts in the manifest

Work is done in rounds of `requests_per_round` requests; each round is a shard holding every
raw task the model wrote and the filter's decision, so resume replays the decisions exactly.
"""
from __future__ import annotations

import random
from dataclasses import fields

from tqdm import tqdm

from pathlib import Path

from ..artifacts import ShardedWriter, read_jsonl, write_jsonl
from ..config import GENERATION_KNOBS, PromptsConfig, prompts_at
from ..pipeline import Stage, reads
from ..rouge import RougePool
from ..run_layout import RunLayout, iteration_stage
from ..schemas import GeneratedPrompt, IFTExample, Sampling
from ..self_instruct import PromptFilter, attempts_of, sample_demos
from ..templates import render, template_path
from ._shards import shard_seed

# the prompts section but its counts: a stage reads its own iteration's target (`declare`), so a
# later iteration's count changes nothing before it
READS = (*(f"prompts.{f.name}" for f in fields(PromptsConfig) if not f.name.startswith("num_prompts")), "run.seed",
         *GENERATION_KNOBS)


def declare(cfg, layout: RunLayout, t: int, ift: Path, generator: Path, generator_label: str) -> Stage:
    """Iteration t's new prompts, written by `generator` (the policy, or prompts.generator); the
    earlier iterations' prompts join the ROUGE-L pool."""
    name = iteration_stage(t, "prompts")
    earlier = {f"prompts_iter_{s}": layout.iteration_output(s, "prompts", "prompts.jsonl") for s in range(2, t)}
    return Stage(
        name,
        "prompts",
        layout.stage_dir(name),
        config={**reads(cfg, *READS), "prompts.target": prompts_at(cfg.prompts, t)},
        inputs={"ift": ift, "generator": generator, **earlier, "template": template_path(cfg.prompts.template)},
        outputs={"prompts": layout.output(name, "prompts.jsonl")},
        iteration=t,
        model=generator_label,
    )


def run(ctx, stage, fp):
    c, t = ctx.cfg.prompts, stage.iteration
    ift = [e.prompt for e in read_jsonl(stage.inputs["ift"], IFTExample)]
    earlier = [g.prompt for k in sorted(stage.inputs) if k.startswith("prompts_iter_")
               for g in read_jsonl(stage.inputs[k], GeneratedPrompt)]
    filt = PromptFilter(RougePool(ift + earlier, tokenizer=c.rouge_tokenizer), threshold=c.rouge_threshold,
                        min_words=c.min_words, max_words=c.max_words, keywords=list(c.keywords),
                        drop_non_ascii_start=c.drop_non_ascii_start)
    kept: list[GeneratedPrompt] = []  # in order; their texts feed the 2 "generated" demos
    writer = ShardedWriter(stage.dir, fp)
    done = set(writer.finished())
    label = stage.model or str(stage.inputs["generator"])
    rnd, target = 0, stage.config["prompts.target"]  # declared per iteration (`declare`)
    with tqdm(total=target, desc=f"iter {t} prompts", unit="prompt", disable=ctx.quiet) as bar:
        while len(kept) < target and rnd < c.max_rounds:
            attempts = writer.read(rnd) if rnd in done else _ask(ctx, stage, ift, [g.prompt for g in kept], rnd)
            bar.update(_decide(attempts, filt, kept, target, t, rnd, label))
            if rnd not in done:
                writer.write(rnd, attempts)
            rnd += 1
    if not kept:
        raise RuntimeError(f"{stage.name}: the generator produced no prompt that passed the filters "
                           f"in {rnd} rounds; counts: {dict(filt.counts)}")
    write_jsonl(stage.outputs["prompts"], kept)
    return {"rounds": rnd, "requests": rnd * c.requests_per_round, "kept": len(kept),
            "filter_counts": dict(filt.counts), "target": target}


def _ask(ctx, stage, ift: list[str], generated: list[str], rnd: int) -> list[dict]:
    """One round's requests to the generator; every task it wrote, those of a completion the token
    limit cut marked as such (a round is a shard: resume replays its decisions)."""
    c, t = ctx.cfg.prompts, stage.iteration
    rng = random.Random(shard_seed(ctx.cfg.run.seed, t, 1, rnd))
    demos = [sample_demos(ift, generated, c.shots_ift, c.shots_generated, rng) for _ in range(c.requests_per_round)]
    requests = [render(c.template, demos=d) for d in demos]
    # the list's next number after the new items ends a completion (every request has as many demos)
    after = len(demos[0]) + 1 + c.tasks_per_completion
    sampling = Sampling(n=c.samples_per_request, temperature=c.temperature, top_p=c.top_p,
                        max_tokens=c.max_new_tokens, seed=shard_seed(ctx.cfg.run.seed, t, 2, rnd),
                        stop=[f"\n{after}."])
    outs = ctx.generator(stage.inputs["generator"]).complete(requests, sampling)
    return [a for comps in outs for o in comps for a in attempts_of(o.text, o.finish_reason, c.drop_truncated)]


def _decide(attempts: list[dict], filt: PromptFilter, kept: list[GeneratedPrompt], target: int, t: int, rnd: int,
            label: str) -> int:
    """The filter's decision on each attempt, recorded in it; the kept ones appended to `kept`.
    Returns how many were kept."""
    before = len(kept)
    for a in attempts:
        if a.get("decision") == "truncated":
            filt.counts["seen"] += 1
            filt.counts["dropped_truncated"] += 1
            continue
        if len(kept) >= target:
            a["decision"] = "not_needed"
            continue
        ok, reason, score, closest = filt.check(a["text"])
        a.update(decision="kept" if ok else reason, max_rouge_l=score)
        if ok:
            kept.append(GeneratedPrompt(
                id=f"it{t}-p{len(kept):05d}", prompt=a["text"], iteration=t, round=rnd, max_rouge_l=round(score, 6),
                closest=filt.pool.texts[closest] if closest >= 0 else "", generator=label))
    return len(kept) - before
