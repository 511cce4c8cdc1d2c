"""Seed stage.

in : the shipped demo seed (srlm_nemo/data), an OASST trees export, or the OASST HF dataset
out: seed/ift.jsonl (IFTExample), seed/eft_train.jsonl (EFTExample),
     seed/eval_trees.jsonl (RankedPrompt: held-out ranked replies for reward-model eval),
     seed/ranked_pool.jsonl (RankedPrompt: ranked prompts for building EFT; none overlap IFT)
"""
from __future__ import annotations

import random
from pathlib import Path

from ..artifacts import read_jsonl, write_jsonl
from ..schemas import EFTExample, IFTExample, RankedPrompt
from .. import oasst

DATA = Path(__file__).resolve().parent.parent / "data"


def run(ctx, stage, fp):
    s = ctx.cfg.seed
    rng = random.Random(s.seed)
    if s.source == "demo":
        ift = read_jsonl(DATA / "demo_ift.jsonl", IFTExample)[:s.num_ift]
        eft = read_jsonl(DATA / "demo_eft.jsonl", EFTExample)[:s.num_eft_train]
        trees = read_jsonl(DATA / "demo_trees.jsonl", RankedPrompt)
        pool, evals = trees, trees
    else:
        if s.source == "oasst_trees":
            roots = oasst.read_trees(s.path)
        else:
            roots = oasst.trees_from_rows(oasst.load_hf_rows(s.hf_dataset, s.hf_split))
        ift = oasst.ift_examples(roots, lang=s.lang, limit=s.num_ift)
        ranked = oasst.ranked_prompts(roots, lang=s.lang, min_replies=s.min_replies,
                                      exclude_ids={e.id for e in ift})
        rng.shuffle(ranked)
        # Held-out prompts for reward-model evaluation; the rest may become EFT training data.
        n_eval = min(len(ranked) // 4, s.num_eft_eval)
        evals, pool = ranked[:n_eval], ranked[n_eval:]
        # eft_source=build makes EFT in the `eft` stage; eft_source=demo uses the shipped examples.
        eft = read_jsonl(DATA / "demo_eft.jsonl", EFTExample)[:s.num_eft_train] if s.eft_source == "demo" else []
    too_long = [e for e in ift if len(e.prompt) > ctx.cfg.run.max_prompt_chars]
    if too_long:  # counted and logged, not fatal: the method drops what it cannot serve
        ctx.log(f"       seed: skipped {len(too_long)} IFT examples over run.max_prompt_chars")
        ift = [e for e in ift if len(e.prompt) <= ctx.cfg.run.max_prompt_chars]
    if not ift:
        raise ValueError(f"seed.source={s.source}: no IFT examples found (lang={s.lang!r})")
    write_jsonl(stage.outputs["ift"], ift)
    write_jsonl(stage.outputs["eft_train"], eft)
    write_jsonl(stage.outputs["eval_trees"], evals)
    write_jsonl(stage.outputs["ranked_pool"], pool)
    return {"ift": len(ift), "eft_train": len(eft), "eval_trees": len(evals), "ranked_pool": len(pool),
            "skipped_too_long": len(too_long), "source": s.source}
