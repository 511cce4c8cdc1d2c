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


def make_trainer(cfg):
    """`cfg` is the whole Config: the cluster backend needs the cluster and layout sections."""
    if cfg.training.name == "trl":
        from .trl_trainer import TRLTrainer
        return TRLTrainer(cfg.training)
    if cfg.training.name == "nemo_aligner":
        from ..cluster.trainer import NemoAlignerTrainer
        return NemoAlignerTrainer(cfg)
    raise ValueError(f"training.name={cfg.training.name!r}: one of trl, nemo_aligner")
