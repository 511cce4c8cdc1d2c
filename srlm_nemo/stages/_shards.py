"""Shared by the generation stages: work in fixed shards, each written atomically."""
from __future__ import annotations

from tqdm import tqdm

from ..artifacts import ShardedWriter
from ..locks import shard_lock
from ..pipeline import StagePartDone


class ShardWorkDone(StagePartDone):
    """A shard worker wrote its share; a plain run of the stage then merges every shard."""


def generate_in_shards(ctx, stage, fp, items: list, shard_size: int, make_records, record_type,
                       desc: str) -> list:
    """`make_records(shard_items, shard_index) -> records`. Finished shards are read back,
    so a killed run resumes at the first missing shard with nothing lost or repeated.

    As worker `rank` of `world` (ctx.shard_worker; Slurm tasks on several nodes), fill only the
    shards i with i % world == rank, then stop: the merging run reads them back in order and
    makes any shard still missing. Seeds depend on the shard, not the worker, so the result is
    the same for any number of workers."""
    worker = ctx.shard_worker
    writer = ShardedWriter(stage.dir, fp, worker=worker is not None)
    n_shards = (len(items) + shard_size - 1) // shard_size
    done = set(writer.finished())
    if worker is not None:
        rank, world = worker
        mine = [i for i in range(n_shards) if i % world == rank and i not in done]
        for i in tqdm(mine, desc=f"{desc} [worker {rank}/{world}]", unit="shard", disable=ctx.quiet):
            with shard_lock(writer.path(i)) as mine_now:
                if mine_now and not writer.done(i):  # else another worker has it
                    writer.write(i, make_records(items[i * shard_size:(i + 1) * shard_size], i))
        raise ShardWorkDone(f"worker {rank} of {world}: wrote {len(mine)} of {n_shards} shards "
                            "(a plain run of the stage merges them)")
    out = []
    with tqdm(total=len(items), desc=desc, unit="item", disable=ctx.quiet) as bar:
        for i in range(n_shards):
            chunk = items[i * shard_size:(i + 1) * shard_size]
            if i in done:
                recs = writer.read(i, record_type)
            else:
                recs = make_records(chunk, i)
                writer.write(i, recs)
            out.extend(recs)
            bar.update(len(chunk))
    return out


def shard_seed(run_seed: int, iteration: int | None, stage_salt: int, shard: int) -> int:
    return (run_seed * 1_000_003 + (iteration or 0) * 10_007 + stage_salt * 101 + shard) % (2**31 - 1)


def judge_samples(ctx, model, items: list[tuple[str, str]], n: int, seed: int) -> list[tuple[list, int | None]]:
    """The judge prompt for each (question, response), `n` samples each from `model`, parsed:
    per item (a list of (judgement text, ParsedScore), the characters of the response kept when
    it had to be cut to fit the context, else None). Shared by the judge, EFT and RM-eval stages."""
    from ..judge_parse import parse_score
    from ..schemas import Sampling
    j = ctx.cfg.judge
    sampling = Sampling(n=n, temperature=j.temperature, top_p=j.top_p, max_tokens=j.max_new_tokens, seed=seed)
    gen = ctx.generator(model)
    convs, kept = _fit_judge_prompts(ctx, gen, items)
    outs = gen.chat(convs, sampling)
    return [
        ([(o.text, parse_score(o.text, j.min_score, j.max_score)) for o in comps], k) for comps, k in zip(outs, kept)
    ]


def _fit_judge_prompts(ctx, gen, items: list[tuple[str, str]]) -> tuple[list, list]:
    from ..templates import chat, judge_prompt
    j, system = ctx.cfg.judge, ctx.cfg.model.system_prompt
    return fit_prompts(ctx, gen, items, lambda i, q, r: chat(system, judge_prompt(j.template, q, r)), j.max_new_tokens)


def fit_prompts(ctx, gen, items: list[tuple[str, str]], conv, reserve: int) -> tuple[list, list]:
    """Prompts `conv(i, question, response)` that fit `model.max_model_len` with `reserve` tokens
    left for the reply: a response too long (real OASST replies can be) is cut at the end, by the
    share of tokens over, until it fits, and the cut is recorded (the characters kept, else None).
    Engines that cannot count tokens (a remote server) send them whole."""
    budget = ctx.cfg.model.max_model_len - reserve
    convs, kept = [conv(i, q, r) for i, (q, r) in enumerate(items)], [None] * len(items)
    count = getattr(gen, "prompt_tokens", None)
    if count is None:
        return convs, kept
    for i, n_tokens in enumerate(count(convs)):
        q, r = items[i]
        while n_tokens > budget and (r or q):
            if r:
                r = r[:max(0, int(len(r) * budget / n_tokens) - 16)]  # proportional cut, a little under
            else:  # the question alone is too long
                q = q[:max(0, int(len(q) * budget / n_tokens) - 16)]
            convs[i], kept[i] = conv(i, q, r), len(r)
            n_tokens = count([convs[i]])[0]
    return convs, kept
