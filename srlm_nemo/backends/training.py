"""Training behind one interface: `sft(...)` and `dpo(...)` take a model directory and records
and leave an HF safetensors checkpoint (with tokenizer and chat template) in `out_dir`.

`trl` runs here (CPU or one GPU); `nemo_aligner` (srlm_nemo/backends/nemo_aligner/trainer.py) on a Slurm
cluster. The runner's RunContext picks one by `training.name`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..artifacts import ArtifactError


class TrainingDiverged(ArtifactError):
    """Training ended with a loss or weights that are not finite numbers: nothing is saved and
    the stage is not done."""


def first_non_finite_loss(log: list[dict]) -> dict | None:
    """The first record of a training log whose loss is not a finite number, else None."""
    return next((r for r in log if isinstance(r.get("loss"), (int, float)) and not math.isfinite(r["loss"])), None)


@dataclass
class TrainResult:
    model_dir: str
    steps: int
    checkpoints: list[str] = field(default_factory=list)
    kept: str = "final"
    log: list[dict] = field(default_factory=list)
