"""Seed stage.

in : the shipped demo seed (srlm_nemo/data), an OASST trees export, or the OASST HF dataset
out: seed/ift.jsonl (IFTExample), seed/eft_train.jsonl (EFTExample),
     seed/eval_trees.jsonl (RankedPrompt: held-out ranked replies for reward-model eval),
     seed/ranked_pool.jsonl (RankedPrompt: ranked prompts for building EFT; none overlap IFT),
     seed/select.jsonl (HeldOutPrompt: prompts for checkpoint selection, dpo.select; none overlap
     IFT or the eval trees)
"""
from __future__ import annotations

import random

from pathlib import Path

from .. import oasst
from ..artifacts import ArtifactError, read_jsonl, write_jsonl
from ..config import eft_source
from ..pipeline import Stage, reads
from ..resources import data_dir
from ..run_layout import SEED_FILES, RunLayout
from ..schemas import EFTExample, HeldOutPrompt, IFTExample, RankedPrompt

DATA = data_dir()
READS = tuple(f"seed.{k}" for k in ("source", "path", "hf_dataset", "hf_split", "lang", "num_ift", "eft_source",
                                     "num_eft_train", "num_eft_eval", "num_eval_trees", "num_ranked_pool", "num_select",
                                     "min_replies", "seed")) + ("run.max_prompt_chars",)


def declare(cfg, layout: RunLayout) -> Stage:
    return Stage("seed", "seed", layout.stage_dir("seed"), config=reads(cfg, *READS), inputs=_inputs(cfg),
                 outputs={n: layout.seed_file(n) for n in SEED_FILES})


def _inputs(cfg) -> dict[str, Path]:
    if cfg.seed.source == "oasst_trees":
        return {"oasst": Path(cfg.seed.path).expanduser()}
    if cfg.seed.source == "demo":
        return {f"demo_{n}": DATA / f"demo_{n}.jsonl" for n in ("ift", "eft", "trees")}
    return {}  # oasst_hf: identified by seed.hf_dataset/hf_split in the config


def run(ctx, stage, fp):
    s = ctx.cfg.seed
    rng = random.Random(s.seed)
    if s.source == "demo":
        shipped = read_jsonl(DATA / "demo_ift.jsonl", IFTExample)
        ift = shipped[:s.num_ift]
        select = [HeldOutPrompt(id=e.id, instruction=e.prompt, dataset="demo")
                  for e in shipped[s.num_ift:s.num_ift + s.num_select]]  # the IFT examples not trained on
        eft = read_jsonl(DATA / "demo_eft.jsonl", EFTExample)[:s.num_eft_train]
        trees = read_jsonl(DATA / "demo_trees.jsonl", RankedPrompt)
        pool, evals = trees, trees
        counts, warnings = {}, []
    else:
        if s.source == "oasst_trees":
            roots = oasst.read_trees(s.path)
        else:
            roots = oasst.trees_from_rows(oasst.load_hf_rows(s.hf_dataset, s.hf_split))
        roots, counts = oasst.dedupe(roots)
        ift, evals, pool, select, warnings = oasst.split(roots, s, rng)
        for w in warnings:
            ctx.log(f"       seed: warning: {w}")
        _check_enough(s, evals, pool)
        # EFT is built in the `eft` stage (the paper's way); seed.eft_source=demo uses the shipped examples.
        eft = read_jsonl(DATA / "demo_eft.jsonl", EFTExample)[:s.num_eft_train] if eft_source(s) == "demo" else []
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
    write_jsonl(stage.outputs["select"], select)
    return {"ift": len(ift), "eft_train": len(eft), "eval_trees": len(evals), "ranked_pool": len(pool),
            "select": len(select),
            "skipped_too_long": len(too_long), "source": s.source, **counts, "warnings": warnings}


def _check_enough(s, evals, pool) -> None:
    if not evals:
        raise ArtifactError(
            f"seed.source={s.source}: no ranked prompt left to hold out for evaluation (lang={s.lang}, "
            f"seed.min_replies={s.min_replies}); the export needs first-turn prompts with ranked replies"
        )
    if eft_source(s) == "build" and not pool:
        raise ArtifactError(f"seed: no ranked prompt left for the EFT builder after {len(evals)} eval trees "
                            f"(seed.num_eval_trees); lower it, or use seed.eft_source=demo")
