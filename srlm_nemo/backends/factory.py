"""Which generation engine serves a model: `generation.name` picks it (stages never know)."""
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
