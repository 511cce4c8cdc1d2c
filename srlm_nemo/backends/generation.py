"""Text generation behind one interface; stages never know which engine runs.

`complete(prompts, sampling)` continues raw text; `chat(conversations, sampling)` applies the
model's chat template. Both return, per input, `sampling.n` Completions. Engines that can also
score given replies (vLLM, HF, the scripted one) have `reply_logprobs(conversations, replies)`:
per reply, (sum of its tokens' log-probabilities, its token count), or None where it does not fit
the context (CREAM's DPO rewarding, stages/logprob.py).
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


def reply_tokens(tok, conversations: list[list[dict]], replies: list[str], max_len: int,
                 chat_template: str | None = None) -> list[tuple[list[int], int] | None]:
    """Per (conversation, reply): the token ids of the conversation with the reply as the
    assistant's turn, and where the reply's tokens start (after the prompt as `chat` renders it;
    the template's end-of-turn tokens count as the reply's, as in CREAM's rewarding.py). None
    where the whole does not fit `max_len` tokens (one left for the engine's own step)."""
    kw = {"chat_template": chat_template} if chat_template else {}
    out: list[tuple[list[int], int] | None] = []
    for conv, reply in zip(conversations, replies):
        prefix = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True, **kw)
        whole = tok.apply_chat_template(conv + [{"role": "assistant", "content": reply}], tokenize=False, **kw)
        prefix_ids = tok(prefix, add_special_tokens=False)["input_ids"]
        ids = tok(whole, add_special_tokens=False)["input_ids"]
        start = next((i for i, (a, b) in enumerate(zip(prefix_ids, ids)) if a != b), len(prefix_ids))
        out.append((ids, start) if len(ids) < max_len and start < len(ids) else None)
    return out


def fallback_chat_template() -> str:
    from ..templates import prompts_dir
    return (prompts_dir() / "chat" / "chatml.jinja").read_text()
