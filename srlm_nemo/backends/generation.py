"""Text generation behind one interface; stages never know which engine runs.

`complete(prompts, sampling)` continues raw text; `chat(conversations, sampling)` applies the
model's chat template. Both return, per input, `sampling.n` Completions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol

from ..schemas import Sampling


@dataclass
class Completion:
    text: str
    finish_reason: Optional[str]
    num_tokens: Optional[int]  # None where the backend cannot say (OpenAI API with n > 1)


class Generator(Protocol):
    model_name: str

    def complete(self, prompts: list[str], sampling: Sampling) -> list[list[Completion]]: ...

    def chat(self, conversations: list[list[dict]], sampling: Sampling) -> list[list[Completion]]: ...

    def close(self) -> None: ...


def fallback_chat_template() -> str:
    from ..templates import prompts_dir
    return (prompts_dir() / "chat" / "chatml.jinja").read_text()


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
    raise ValueError(f"generation.name: unknown backend {gen_cfg.name!r}")
