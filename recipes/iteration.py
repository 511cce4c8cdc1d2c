"""One self-rewarding iteration, M_t -> M_{t+1} (Yuan et al. 2024, section 2.2-2.3).

    prompts     M_t (or a fixed model) writes new prompts by 8-shot self-instruct; filtered
    candidates  M_t answers each prompt N=4 times (T 0.7, top-p 0.9)
    judge       M_t scores each answer K=3 times with the additive 5-point rubric; mean of valid
    pairs       highest vs lowest mean per prompt; ties dropped
    dpo         DPO from M_t on the pairs (beta 0.1), reference = M_t -> M_{t+1}

Assumptions: the seed stage and the model M_t exist (the whole recipe in
`recipes/self_rewarding.py` makes sure of that); one generation engine serves M_t for the
three generation stages; the trainer runs after the engine is released.
Backends are configuration (`generation=`, `training=`); nothing here branches on them.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from srlm_nemo.config import Config
from srlm_nemo.pipeline import Stage


def iteration_stages(cfg: Config, run_dir: Path, t: int, policy: Path, policy_label: str,
                     ift: Path) -> list[Stage]:
    d = run_dir / f"iter_{t}"
    next_label = f"M{t + 1}"
    gen_model = policy if cfg.prompts.generator == "policy" else Path(cfg.prompts.generator)
    earlier = {f"prompts_iter_{s}": run_dir / f"iter_{s}" / "prompts" / "prompts.jsonl" for s in range(1, t)}
    sampling_seed = {"seed": cfg.run.seed, "iteration": t}

    prompts = Stage(f"iter_{t}/prompts", "prompts", d / "prompts",
                    config={"prompts": asdict(cfg.prompts), **sampling_seed},
                    inputs={"ift": ift, "generator": gen_model, **earlier},
                    outputs={"prompts": d / "prompts" / "prompts.jsonl"}, iteration=t,
                    model=policy_label if cfg.prompts.generator == "policy" else cfg.prompts.generator)
    candidates = Stage(f"iter_{t}/candidates", "candidates", d / "candidates",
                       config={"candidates": asdict(cfg.candidates), "system_prompt": cfg.model.system_prompt,
                               **sampling_seed},
                       inputs={"prompts": prompts.outputs["prompts"], "model": policy},
                       outputs={"candidates": d / "candidates" / "candidates.jsonl"}, iteration=t,
                       model=policy_label)
    judge = Stage(f"iter_{t}/judge", "judge", d / "judge",
                  config={"judge": asdict(cfg.judge), "system_prompt": cfg.model.system_prompt, **sampling_seed},
                  inputs={"candidates": candidates.outputs["candidates"], "model": policy,
                          "template": _template_path(cfg.judge.template)},
                  outputs={"judgements": d / "judge" / "judgements.jsonl", "scores": d / "judge" / "scores.jsonl"},
                  iteration=t, model=policy_label)
    pairs = Stage(f"iter_{t}/pairs", "pairs", d / "pairs",
                  config={"pairs": asdict(cfg.pairs), "system_prompt": cfg.model.system_prompt},
                  inputs={"candidates": candidates.outputs["candidates"], "scores": judge.outputs["scores"]},
                  outputs={"pairs": d / "pairs" / "pairs.jsonl"}, iteration=t)
    dpo = Stage(f"iter_{t}/dpo", "dpo", d / "dpo",
                config={"dpo": asdict(cfg.dpo), "training": asdict(cfg.training)},
                inputs={"pairs": pairs.outputs["pairs"], "model": policy},
                outputs={"model": d / "dpo" / "model"}, iteration=t, model=next_label)
    return [prompts, candidates, judge, pairs, dpo]


def _template_path(name: str) -> Path:
    from srlm_nemo.templates import load_template, prompts_dir
    load_template(name)  # fails early, naming the template, if it does not exist
    p = Path(name).expanduser()
    return p if p.exists() else prompts_dir() / name
