"""The whole Self-Rewarding recipe: seed -> M1 (SFT on IFT+EFT) -> M2 -> ... -> M_T (T = run.iterations).

    seed   IFT (first-turn prompt + best human reply) and EFT (judge-format examples) from
           Open Assistant, or the small demo seed shipped with the package
    [sft_ift, eft]  with seed.eft_source=build: an IFT-only SFT model judges OASST's
           human-ranked replies; prompts where its ranking agrees with the humans' become EFT
    sft    M0 -> M1, loss on response tokens (lr 5.5e-6 cosine -> 1.1e-6, batch 16)
    iter t `iteration.py` beside this file, for t = 2..T: M_{t-1} makes prompts, candidates,
           judgements, pairs; DPO trains M_t. (The paper's numbering: iteration 1 is M1 itself.)
    eval   reward-model metrics of every model; head-to-head (each pair judged in both orders):
           M_t vs M_(t-1) with eval.h2h_each_iteration, the last model vs M1 with eval.h2h_final

Each stage is one module of srlm_nemo/stages/ (what it reads, its inputs and outputs, and its
`run`); this file only wires them together. Every stage writes typed artifacts under
`run.run_dir` (srlm_nemo/run_layout.py) and records a manifest; `srlm run` skips finished stages
whose config and inputs are unchanged. Which engines run generation and training is
configuration, so a 70B cluster run and the CPU demo are this same file.
"""
from __future__ import annotations

from pathlib import Path

from srlm_nemo.config import Config, eft_source, paths_on_cluster
from srlm_nemo.models import resolve_model
from srlm_nemo.pipeline import Stage
from srlm_nemo.recipes.evaluation import h2h_stages
from srlm_nemo.recipes.iteration import iteration_stages
from srlm_nemo.run_layout import RunLayout
from srlm_nemo.stages import eft, rm_eval, seed, sft


def build(cfg: Config, convert: bool = False) -> list[Stage]:
    """The stages of `cfg`'s run. A cluster experiment names paths on the cluster's file system,
    so it is planned anywhere without resolving (or converting) its base model."""
    base = Path(cfg.model.path) if paths_on_cluster(cfg) and not convert else \
        resolve_model(cfg.model.path, cfg.run.cache_dir, convert=convert)
    return recipe_stages(cfg, RunLayout.of(cfg).root, base)


def recipe_stages(cfg: Config, run_dir: Path, base_model: Path) -> list[Stage]:
    layout = RunLayout(run_dir)
    seeded = seed.declare(cfg, layout)
    ift, trees = seeded.outputs["ift"], seeded.outputs["eval_trees"]
    stages, eft_train = [seeded], seeded.outputs["eft_train"]
    if eft_source(cfg.seed) == "build" or cfg.seed.run_eft_builder:
        built = _eft_builder(cfg, layout, seeded, base_model)
        stages += built
        if eft_source(cfg.seed) == "build":
            eft_train = built[1].outputs["eft_train"]
    m1 = sft.declare(cfg, layout, "sft", "M1", ift, base_model, eft_train=eft_train)
    stages.append(m1)
    rm_trees = trees if cfg.eval.rm else None
    # The paper's numbering: iteration 1 is the SFT model M1; iteration t >= 2 trains M_t from M_{t-1}.
    lineage = [(base_model, "M0"), (m1.outputs["model"], "M1")]
    for t in range(2, cfg.run.iterations + 1):
        iteration = iteration_stages(cfg, layout, t, lineage, ift, rm_trees)
        stages += iteration
        lineage.append((iteration[-1].outputs["model"], iteration[-1].model))
    policy = lineage[-1]
    if rm_trees:  # the last model has no iteration of its own
        stages.append(rm_eval.declare(cfg, layout, *policy, rm_trees))
    return stages + h2h_stages(cfg, layout, trees)


def _eft_builder(cfg: Config, layout: RunLayout, seeded: Stage, base_model: Path) -> list[Stage]:
    """The paper's EFT: an IFT-only SFT model judges human-ranked replies; agreeing ones are kept.
    With eval.rm, that model's reward-model metrics too (the paper's "SFT baseline" row of
    Table 4), while its engine is up."""
    sft_ift = sft.declare(cfg, layout, "sft_ift", "SFT-IFT", seeded.outputs["ift"], base_model)
    judged = eft.declare(cfg, layout, seeded.outputs["ranked_pool"], sft_ift.outputs["model"])
    rm = [rm_eval.declare(cfg, layout, sft_ift.outputs["model"], "SFT-IFT", seeded.outputs["eval_trees"])] \
        if cfg.eval.rm else []
    return [sft_ift, judged, *rm]
