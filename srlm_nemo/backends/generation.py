"""Text generation behind one interface; stages never know which engine runs.

`complete(prompts, sampling)` continues raw text; `chat(conversations, sampling)` applies the
model's chat template. Both return, per input, `sampling.n` Completions.
"""
from __future__ import annotations

from dataclasses import dataclass
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
