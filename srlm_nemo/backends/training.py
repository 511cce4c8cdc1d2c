"""Training behind one interface: `sft(...)` and `dpo(...)` take a model directory and records
and leave an HF safetensors checkpoint (with tokenizer and chat template) in `out_dir`.

`trl` runs here (CPU or one GPU); `nemo_aligner` (srlm_nemo/backends/nemo_aligner/trainer.py) on a Slurm
cluster. The runner's RunContext picks one by `training.name`.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainResult:
    model_dir: str
    steps: int
    checkpoints: list[str] = field(default_factory=list)
    kept: str = "final"
    log: list[dict] = field(default_factory=list)
