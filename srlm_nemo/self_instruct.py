"""Self-instruct prompt creation: demonstration sampling, post-processing and filters.

The filters follow Self-Instruct (Wang et al. 2023; its code: yizhongw/self-instruct,
self_instruct/bootstrap_instructions.py, post_process_gpt3_response) as the paper does: a
completion the token limit cut is dropped whole, then tasks of 3 words or fewer or over 150,
with an unsuitable keyword, starting "Write a program", with punctuation or a non-ASCII
character, or ROUGE-L > 0.7 to the pool. Each drop is counted under its own reason so the
manifest says where prompts went; the exact-duplicate check is ours.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field

from .rouge import RougePool

_NUMBERED = re.compile(r"^\s*(\d{1,3})\s*[\.\):]\s*(.*)$")
# What a model writes after a task when it goes on to answer it.
_TRAILING_ANSWER = re.compile(r"\s*(?:\b(?:Answer|Output|Response|Solution|Input)\s*:).*$",
                              re.IGNORECASE | re.DOTALL)
_QUOTES = "\"'`“”‘’"


def sample_demos(ift_prompts: list[str], generated: list[str], n_ift: int, n_generated: int,
                 rng: random.Random) -> list[str]:
    """Paper: 6 demonstrations from the IFT prompts and 2 from the prompts generated so far;
    while fewer than 2 have been generated, the remainder comes from IFT."""
    k_gen = min(n_generated, len(generated))
    demos = rng.sample(ift_prompts, min(len(ift_prompts), n_ift + n_generated - k_gen))
    demos += rng.sample(generated, k_gen)
    rng.shuffle(demos)
    return [" ".join(d.split()) for d in demos]  # one line each: the list format needs it


def clean_task(text: str) -> str:
    text = _TRAILING_ANSWER.sub("", text)
    text = " ".join(text.split())
    return text.strip(_QUOTES + " ").strip()


def split_generation(text: str) -> list[str]:
    """The model continues item `k.` of a numbered list: the first line is that item, later
    lines that start with a number are further items, anything else (answers, chatter) ends
    the item before it."""
    tasks: list[str] = []
    for i, line in enumerate(text.split("\n")):
        m = _NUMBERED.match(line)
        if i == 0:
            tasks.append(line if not m else m.group(2))
        elif m:
            tasks.append(m.group(2))
    return [t for t in (clean_task(t) for t in tasks) if t]


def attempts_of(text: str, finish_reason: str | None, drop_truncated: bool = True) -> list[dict]:
    """The tasks of one completion as attempts for the filter. A completion the token limit cut
    (finish_reason "length") is dropped whole, as Self-Instruct does: each of its tasks is
    recorded with the decision "truncated"."""
    cut = drop_truncated and finish_reason == "length"
    return [{"text": task, "decision": "truncated"} if cut else {"text": task} for task in split_generation(text)]


def normalise(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass
class PromptFilter:
    """Keeps a prompt when it passes every check; counts each drop reason."""
    pool: RougePool
    threshold: float = 0.7
    min_words: int = 4
    max_words: int = 150
    keywords: list = field(default_factory=list)
    drop_non_ascii_start: bool = True
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self):
        self._seen = {normalise(t) for t in self.pool.texts}
        kws = sorted(self.keywords, key=len, reverse=True)
        self._kw = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in kws) + r")\b",
                              re.IGNORECASE) if kws else None

    def check(self, text: str) -> tuple[bool, str, float, int]:
        """Returns (keep, reason, max_rouge, closest_index); `keep` adds it to the pool."""
        self.counts["seen"] += 1
        words = len(text.split())
        reason, score, closest = "", 0.0, -1
        if words < self.min_words:
            reason = "too_short"
        elif words > self.max_words:
            reason = "too_long"
        elif self._kw is not None and self._kw.search(text):
            reason = "keyword"
        elif text.casefold().startswith("write a program"):  # Self-Instruct: code-or-answer ambiguity
            reason = "program_task"
        elif not text[0].isalnum() and not text[0].isspace():
            reason = "starts_with_punctuation"
        elif self.drop_non_ascii_start and not text[0].isascii():
            reason = "starts_non_ascii"
        elif normalise(text) in self._seen:
            reason = "duplicate"
        else:
            score, closest = self.pool.max_score(text)
            if score > self.threshold:  # Self-Instruct drops on max > 0.7
                reason = "rouge_l"
        if reason:
            self.counts[f"dropped_{reason}"] += 1
            return False, reason, score, closest
        self.counts["kept"] += 1
        self._seen.add(normalise(text))
        self.pool.add(text)
        return True, "", score, closest
