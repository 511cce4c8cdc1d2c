"""Training behind one interface: `sft(...)` and `dpo(...)` take a model directory and records
and leave an HF safetensors checkpoint (with tokenizer and chat template) in `out_dir`.

`trl` runs here (CPU or one GPU). The cluster issue adds `nemo_aligner` behind the same calls.
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


def make_trainer(train_cfg):
    if train_cfg.name == "trl":
        from .trl_trainer import TRLTrainer
        return TRLTrainer(train_cfg)
    raise NotImplementedError(
        f"training.name={train_cfg.name!r}: the NeMo-Aligner backend is the cluster issue's work "
        "and is not part of this build; use training=trl")
