"""Which engines run the stages: `generation.name` picks the generation engine that serves a model,
`training.name` the trainer (stages never know which)."""
from __future__ import annotations

from pathlib import Path

from .generation import Generator


def make_generator(gen_cfg, model_path: str | Path, model_cfg) -> Generator:
    if gen_cfg.name == "vllm":
        from .vllm_engine import VLLMGenerator
        return VLLMGenerator(str(model_path), gen_cfg, model_cfg)
    if gen_cfg.name == "hf":
        from .hf_engine import HFGenerator
        return HFGenerator(str(model_path), gen_cfg, model_cfg)
    if gen_cfg.name == "openai":
        from .openai_engine import OpenAIGenerator
        return OpenAIGenerator(str(model_path), gen_cfg, model_cfg)
    if gen_cfg.name == "scripted":
        from .scripted import ScriptedGenerator
        return ScriptedGenerator(str(model_path), gen_cfg, model_cfg)
    from ..config import GENERATION_BACKENDS
    raise ValueError(f"generation.name={gen_cfg.name!r}: one of {', '.join(GENERATION_BACKENDS)}")


def make_trainer(cfg):
    """`training.name` picks the backend; the cluster one reads the cluster and layout sections."""
    if cfg.training.name == "trl":
        from .trl_trainer import TRLTrainer
        return TRLTrainer(cfg.training)
    if cfg.training.name == "nemo_aligner":
        from .nemo_aligner.trainer import NemoAlignerTrainer
        return NemoAlignerTrainer(cfg)
    from ..config import TRAINING_BACKENDS
    raise ValueError(f"training.name={cfg.training.name!r}: one of {', '.join(TRAINING_BACKENDS)}")
