"""The judge's score, parsed from free text, by one small grammar (the judge template asks for
a last line `Score: <points>`):

    score-line := "Score" ":" number [ ("/" | "out of") max ] [ "point" | "points" ] [ "." ]

* `Score` is a word of its own (so "Underscore: 3" is not one), in any case; markdown bold
  around it or the number (`**Score:** 4`) and spaces are allowed; the number is the rest of
  its line, nothing else may follow.
* number := ASCII digits with an optional sign and decimal part ("4", "3.5"); no exponent, no
  other digit forms ("1e1", "５" and "four" are `malformed`).
* A scale after the number must be the rubric's own maximum: "Score: 3 out of 10" on a 0-5
  rubric is `other_scale`, not 3.
* The LAST score line counts. A number outside [min_score, max_score] is `out_of_range`; no
  score line is `no_score`; blank text is `empty`. Such judgements are kept in
  judgements.jsonl with their reason and dropped from the average.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

SCORE_LINE = re.compile(r"(?<![A-Za-z0-9_])score\s*\**\s*:\s*\**(.*)$", re.IGNORECASE | re.MULTILINE)
NUMBER = r"-?[0-9]+(?:\.[0-9]+)?"
VALUE = re.compile(rf"\s*({NUMBER})\s*\**\s*(?:(?:/|out\s+of)\s*({NUMBER}))?\s*(?:points?)?\s*\**\s*\.?\s*",
                   re.IGNORECASE)


@dataclass(frozen=True)
class ParsedScore:
    score: Optional[float]
    error: Optional[str]


def parse_score(text: str, min_score: float = 0.0, max_score: float = 5.0) -> ParsedScore:
    if not text or not text.strip():
        return ParsedScore(None, "empty")
    lines = SCORE_LINE.findall(text)
    if not lines:
        return ParsedScore(None, "no_score")
    m = VALUE.fullmatch(lines[-1])
    if m is None:
        return ParsedScore(None, "malformed")
    if m.group(2) is not None and float(m.group(2)) != max_score:
        return ParsedScore(None, "other_scale")
    value = float(m.group(1))
    if not (min_score <= value <= max_score):
        return ParsedScore(None, "out_of_range")
    return ParsedScore(value, None)


def mean_valid(scores: list[Optional[float]]) -> tuple[Optional[float], int]:
    valid = [s for s in scores if s is not None]
    return (sum(valid) / len(valid) if valid else None), len(valid)
