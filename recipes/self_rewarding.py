"""The whole Self-Rewarding recipe: seed -> M1 (SFT on IFT+EFT) -> M2 -> ... -> M_T (T = run.iterations).

    seed   IFT (first-turn prompt + best human reply) and EFT (judge-format examples) from
           Open Assistant, or the small demo seed shipped with the package
    [sft_ift, eft]  with seed.eft_source=build: an IFT-only SFT model judges OASST's
           human-ranked replies; prompts where its ranking agrees with the humans' become EFT
    sft    M0 -> M1, loss on response tokens (lr 5.5e-6 cosine -> 1.1e-6, batch 16)
    iter t `recipes/iteration.py` for t = 2..T: M_{t-1} makes prompts, candidates, judgements,
           pairs; DPO trains M_t. (The paper's numbering: iteration 1 is M1 itself.)
    eval   reward-model metrics of every model; with eval.h2h_each_iteration, M_t vs M_(t-1)
           head-to-head (each pair judged in both orders)

Every stage reads and writes typed artifacts under `run.run_dir` and records a manifest;
`srlm run` skips finished stages whose config and inputs are unchanged. Which engines run
generation and training is configuration, so a 70B cluster run and the CPU demo are this
same file.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from srlm_nemo.config import Config
from srlm_nemo.pipeline import Stage

from recipes.iteration import iteration_stages, rm_eval_stage


def recipe_stages(cfg: Config, run_dir: Path, base_model: Path) -> list[Stage]:
    seed_dir = run_dir / "seed"
    seed = Stage("seed", "seed", seed_dir, config={"seed": asdict(cfg.seed)},
                 inputs=_seed_inputs(cfg),
                 outputs={n: seed_dir / f"{n}.jsonl" for n in ("ift", "eft_train", "eval_trees", "ranked_pool")})
    stages = [seed]
    eft_train = seed.outputs["eft_train"]
    if cfg.seed.eft_source == "build" or cfg.seed.run_eft_builder:
        # The paper's EFT: an IFT-only SFT model judges human-ranked replies; agreeing ones are kept.
        sft_ift = Stage("sft_ift", "sft", run_dir / "sft_ift", config=_sft_config(cfg),
                        inputs={"ift": seed.outputs["ift"], "model": base_model},
                        outputs={"model": run_dir / "sft_ift" / "model"}, model="SFT-IFT")
        eft = Stage("eft", "eft", run_dir / "eft",
                    config={"seed": asdict(cfg.seed), "judge": asdict(cfg.judge), "run_seed": cfg.run.seed,
                            "system_prompt": cfg.model.system_prompt},
                    inputs={"ranked_pool": seed.outputs["ranked_pool"], "model": sft_ift.outputs["model"]},
                    outputs={n: run_dir / "eft" / f"{n}.jsonl" for n in ("eft_train", "eft_eval", "judged")},
                    model="SFT-IFT")
        stages += [sft_ift, eft]
        if cfg.eval.rm:  # the paper's "SFT baseline" row of Table 4, while its engine is up
            stages.append(rm_eval_stage(cfg, run_dir, sft_ift.outputs["model"], "SFT-IFT", seed.outputs["eval_trees"]))
        if cfg.seed.eft_source == "build":
            eft_train = eft.outputs["eft_train"]
    sft = Stage("sft", "sft", run_dir / "sft", config=_sft_config(cfg),
                inputs={"ift": seed.outputs["ift"], "eft_train": eft_train, "model": base_model},
                outputs={"model": run_dir / "sft" / "model"}, model="M1")
    stages.append(sft)
    trees = seed.outputs["eval_trees"] if cfg.eval.rm else None
    policy, label = sft.outputs["model"], "M1"
    # The paper's numbering: iteration 1 is the SFT model M1; iteration t >= 2 trains M_t from M_{t-1}.
    for t in range(2, cfg.run.iterations + 1):
        it = iteration_stages(cfg, run_dir, t, policy, label, seed.outputs["ift"], trees)
        stages += it
        policy, label = it[-1].outputs["model"], it[-1].model
    if trees:  # the last model has no iteration of its own
        stages.append(rm_eval_stage(cfg, run_dir, policy, label, trees))
    if cfg.eval.h2h_each_iteration:  # the paper's M_t vs M_(t-1), once every model exists
        from srlm_nemo.evaluate import h2h_stage, model_path
        prompts = Path(cfg.eval.h2h_prompts).expanduser() if cfg.eval.h2h_prompts else seed.outputs["eval_trees"]
        for t in range(2, cfg.run.iterations + 1):
            stages.append(h2h_stage(cfg, model_path(cfg, f"M{t}"), model_path(cfg, f"M{t - 1}"), prompts))
    return stages


def _sft_config(cfg: Config) -> dict:
    return {"sft": asdict(cfg.sft), "training": asdict(cfg.training), "judge_template": cfg.judge.template,
            "system_prompt": cfg.model.system_prompt}


def _seed_inputs(cfg: Config) -> dict[str, Path]:
    if cfg.seed.source == "oasst_trees":
        return {"oasst": Path(cfg.seed.path).expanduser()}
    if cfg.seed.source == "demo":
        from srlm_nemo.stages.seed import DATA
        return {f"demo_{n}": DATA / f"demo_{n}.jsonl" for n in ("ift", "eft", "trees")}
    return {}  # oasst_hf: identified by seed.hf_dataset/hf_split in the config
