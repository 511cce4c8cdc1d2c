"""The whole Self-Rewarding recipe: seed -> M1 (SFT on IFT+EFT) -> M2 -> ... -> M_T (T = run.iterations).

    seed   IFT (first-turn prompt + best human reply) and EFT (judge-format examples) from
           Open Assistant, or the small demo seed shipped with the package
    [sft_ift, eft]  with seed.eft_source=build: an IFT-only SFT model judges OASST's
           human-ranked replies; prompts where its ranking agrees with the humans' become EFT
    sft    M0 -> M1, loss on response tokens (lr 5.5e-6 cosine -> 1.1e-6, batch 16)
    iter t `recipes/iteration.py` for t = 2..T: M_{t-1} makes prompts, candidates, judgements,
           pairs; DPO trains M_t. (The paper's numbering: iteration 1 is M1 itself.)
    eval   reward-model metrics of every model; head-to-head (each pair judged in both orders):
           M_t vs M_(t-1) with eval.h2h_each_iteration, the last model vs M1 with eval.h2h_final

Every stage reads and writes typed artifacts under `run.run_dir` and records a manifest;
`srlm run` skips finished stages whose config and inputs are unchanged. Which engines run
generation and training is configuration, so a 70B cluster run and the CPU demo are this
same file.
"""
from __future__ import annotations

from pathlib import Path

from srlm_nemo.config import GENERATION_KNOBS, TRAINING_KNOBS, Config, eft_source
from srlm_nemo.models import resolve_model
from srlm_nemo.pipeline import Stage, reads
from srlm_nemo.templates import template_path

from srlm_nemo.recipes.evaluation import h2h_stage, model_path, rm_eval_stage, run_dir
from srlm_nemo.recipes.iteration import iteration_stages

SEED_READS = tuple(f"seed.{k}" for k in ("source", "path", "hf_dataset", "hf_split", "lang", "num_ift", "eft_source",
                                          "num_eft_train", "num_eft_eval", "num_eval_trees", "num_ranked_pool",
                                          "min_replies", "seed")) + ("run.max_prompt_chars",)
# What the EFT builder reads of `seed` and `judge` (not judge.k: it samples seed.eft_judge_samples).
EFT_READS = ("seed.eft_judge_samples", "seed.eft_max_score_ratio", "seed.seed", "seed.num_eft_train",
             "seed.num_eft_eval", "judge.temperature", "judge.top_p", "judge.max_new_tokens", "judge.template",
             "judge.min_score", "judge.max_score", "judge.shard_size", "model.system_prompt", "run.seed",
             *GENERATION_KNOBS)


def build(cfg: Config, convert: bool = False) -> list[Stage]:
    """The stages of `cfg`'s run. A cluster experiment names paths on the cluster's file system,
    so it is planned anywhere without resolving (or converting) its base model."""
    base = resolve_model(cfg.model.path, cfg.run.cache_dir, convert=convert) \
        if cfg.training.name != "nemo_aligner" or convert else Path(cfg.model.path)
    return recipe_stages(cfg, run_dir(cfg), base)


def recipe_stages(cfg: Config, run_dir: Path, base_model: Path) -> list[Stage]:
    seed_dir = run_dir / "seed"
    seed = Stage("seed", "seed", seed_dir, config=reads(cfg, *SEED_READS),
                 inputs=_seed_inputs(cfg),
                 outputs={n: seed_dir / f"{n}.jsonl" for n in ("ift", "eft_train", "eval_trees", "ranked_pool")})
    stages = [seed]
    eft_train = seed.outputs["eft_train"]
    if eft_source(cfg.seed) == "build" or cfg.seed.run_eft_builder:
        # The paper's EFT: an IFT-only SFT model judges human-ranked replies; agreeing ones are kept.
        sft_ift = Stage("sft_ift", "sft", run_dir / "sft_ift", config=_sft_reads(cfg, eft=False),
                        inputs={"ift": seed.outputs["ift"], "model": base_model},
                        outputs={"model": run_dir / "sft_ift" / "model"}, model="SFT-IFT")
        eft = Stage("eft", "eft", run_dir / "eft", config=reads(cfg, *EFT_READS),
                    inputs={"ranked_pool": seed.outputs["ranked_pool"], "model": sft_ift.outputs["model"],
                            "template": template_path(cfg.judge.template)},
                    outputs={n: run_dir / "eft" / f"{n}.jsonl" for n in ("eft_train", "eft_eval", "judged")},
                    model="SFT-IFT")
        stages += [sft_ift, eft]
        if cfg.eval.rm:  # the paper's "SFT baseline" row of Table 4, while its engine is up
            stages.append(rm_eval_stage(cfg, run_dir, sft_ift.outputs["model"], "SFT-IFT", seed.outputs["eval_trees"]))
        if eft_source(cfg.seed) == "build":
            eft_train = eft.outputs["eft_train"]
    # M1 trains on EFT examples rendered with the judge template, so the template is an input
    sft = Stage("sft", "sft", run_dir / "sft", config=_sft_reads(cfg, eft=True),
                inputs={"ift": seed.outputs["ift"], "eft_train": eft_train, "model": base_model,
                        "judge_template": template_path(cfg.judge.template)},
                outputs={"model": run_dir / "sft" / "model"}, model="M1")
    stages.append(sft)
    trees = seed.outputs["eval_trees"] if cfg.eval.rm else None
    policy, label = sft.outputs["model"], "M1"
    # The paper's numbering: iteration 1 is the SFT model M1; iteration t >= 2 trains M_t from M_{t-1}.
    previous = (base_model, "M0")
    for t in range(2, cfg.run.iterations + 1):
        it = iteration_stages(cfg, run_dir, t, policy, label, seed.outputs["ift"], trees, previous)
        stages += it
        previous = (policy, label)
        policy, label = it[-1].outputs["model"], it[-1].model
    if trees:  # the last model has no iteration of its own
        stages.append(rm_eval_stage(cfg, run_dir, policy, label, trees))
    return stages + _h2h_stages(cfg, seed.outputs["eval_trees"])


def _h2h_stages(cfg: Config, eval_trees: Path) -> list[Stage]:
    """eval.h2h_each_iteration: the paper's M_t vs M_(t-1), once every model exists;
    eval.h2h_final: the last model vs M1 (cheaper: one comparison)."""
    prompts = Path(cfg.eval.h2h_prompts).expanduser() if cfg.eval.h2h_prompts else eval_trees
    last = cfg.run.iterations
    pairs = [(t, t - 1) for t in range(2, last + 1)] if cfg.eval.h2h_each_iteration else []
    if cfg.eval.h2h_final and last >= 2 and (last, 1) not in pairs:
        pairs.append((last, 1))
    return [h2h_stage(cfg, model_path(cfg, f"M{a}"), model_path(cfg, f"M{b}"), prompts) for a, b in pairs]


def _sft_reads(cfg: Config, eft: bool) -> dict:
    # with EFT examples, judge.template names their template (its contents are an input)
    return reads(cfg, "sft", *(["judge.template"] if eft else []), "model.system_prompt", *TRAINING_KNOBS)


def _seed_inputs(cfg: Config) -> dict[str, Path]:
    if cfg.seed.source == "oasst_trees":
        return {"oasst": Path(cfg.seed.path).expanduser()}
    if cfg.seed.source == "demo":
        from srlm_nemo.stages.seed import DATA
        return {f"demo_{n}": DATA / f"demo_{n}.jsonl" for n in ("ift", "eft", "trees")}
    return {}  # oasst_hf: identified by seed.hf_dataset/hf_split in the config
