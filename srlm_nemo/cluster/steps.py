"""`srlm cluster steps --part sft|iteration [--iteration T|auto] [overrides]`: the job steps of one
Slurm job, one shell-quoted `srun` line per stage, in the recipe's order. The sbatch scripts in
slurm/ run these lines; stages already done are skipped by srlm itself, so a requeued or
resubmitted job continues where it stopped."""
from __future__ import annotations

import shlex

from ..pipeline import state
from .plan import srun_prefix

GENERATION_KINDS = {"prompts", "candidates", "judge", "eft", "rm_eval"}


def job_stages(stages, part: str, iteration: str) -> tuple[int | None, list]:
    if part == "sft":  # seed, [sft_ift, eft, eval/rm/SFT-IFT], sft: everything before iteration 2
        first = next((i for i, s in enumerate(stages) if s.iteration is not None), len(stages))
        return None, stages[:first]
    iters = sorted({s.iteration for s in stages if s.iteration is not None and s.name.startswith("iter_")})
    if iteration == "auto":
        todo = [t for t in iters if any(state(s) != "done" for s in stages if s.iteration == t)]
        if not todo:
            return None, []
        t = todo[0]
    else:
        t = int(iteration)
    chosen = [s for s in stages if s.iteration == t]
    if t == max(iters):  # the last model's own evaluation closes the last iteration's job
        chosen += [s for s in stages if s.iteration is None and s.name.startswith("eval/rm/") and s.model == f"M{t}"]
    return t, chosen


def step_lines(cfg, stages, overrides: list[str], python: str = "python") -> list[str]:
    c = cfg.cluster
    lines = []
    for s in stages:
        image = c.generation_image if s.kind in GENERATION_KINDS else c.training_image
        cmd = srun_prefix(c, 1, image, 1) + [python, "-m", "srlm_nemo.cli", "stage", s.name, *overrides]
        lines.append(shlex.join(cmd))
    return lines
