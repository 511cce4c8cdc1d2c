"""Head-to-head judging (the paper's protocol): each pair of answers is judged twice, once in
each order; the verdicts must agree for a win or a loss, otherwise (disagreement, a tie vote
or an unparseable verdict) the prompt counts as a tie.

The verdict is the LAST `Winner: A|B|tie` line (case-insensitive); anything else is unparseable.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Optional

WINNER_RE = re.compile(r"winner\s*\**\s*:\s*\**\s*(a|b|tie)\b", re.IGNORECASE)


def parse_winner(text: str) -> Optional[str]:
    m = WINNER_RE.findall(text or "")
    return {"a": "A", "b": "B", "tie": "tie"}[m[-1].lower()] if m else None


def combine(first: Optional[str], second: Optional[str]) -> str:
    """`first`: verdict with model X as A; `second`: with model X as B. Returns X's outcome."""
    x_first = {"A": "win", "B": "loss"}.get(first or "", "tie")
    x_second = {"B": "win", "A": "loss"}.get(second or "", "tie")
    return x_first if x_first == x_second else "tie"


def summarise(outcomes: list[str], unparseable: int = 0) -> dict:
    c = Counter(outcomes)
    n = len(outcomes)
    return {"prompts": n, "win": c["win"], "tie": c["tie"], "loss": c["loss"], "unparseable_verdicts": unparseable,
            "win_rate": c["win"] / n if n else None,
            # ties count half, as AlpacaEval and the paper's tables do for a single number
            "win_rate_ties_half": (c["win"] + 0.5 * c["tie"]) / n if n else None}
