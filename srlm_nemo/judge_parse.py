"""The judge's score, parsed from free text. Bounded and documented:

* The score is the number in the LAST occurrence of `Score: N` (case-insensitive; markdown
  bold like `**Score:** 4` and a trailing `/5` or `out of 5` are tolerated).
* N is an integer or a decimal. N outside [min_score, max_score] is `out_of_range`.
* No occurrence is `no_score`; blank text is `empty`. Such judgements are kept in
  judgements.jsonl with their reason and dropped from the average.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

SCORE_RE = re.compile(r"score\s*\**\s*:\s*\**\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedScore:
    score: Optional[float]
    error: Optional[str]


def parse_score(text: str, min_score: float = 0.0, max_score: float = 5.0) -> ParsedScore:
    if not text or not text.strip():
        return ParsedScore(None, "empty")
    matches = SCORE_RE.findall(text)
    if not matches:
        return ParsedScore(None, "no_score")
    value = float(matches[-1])
    if not (min_score <= value <= max_score):
        return ParsedScore(None, "out_of_range")
    return ParsedScore(value, None)


def mean_valid(scores: list[Optional[float]]) -> tuple[Optional[float], int]:
    valid = [s for s in scores if s is not None]
    return (sum(valid) / len(valid) if valid else None), len(valid)
