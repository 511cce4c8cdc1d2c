"""Building EFT (judge-format) training data from human-ranked replies.

Agreement (kept only then, per prompt): every reply got a valid score, and for every pair of
replies with different human ranks the better-ranked one (lower rank) has the strictly
higher model score. Rebalancing: the most common score is downsampled to at most
`max_ratio` times the count of the second most common score, so score 4 cannot dominate.
"""
from __future__ import annotations

import random
from collections import Counter
from itertools import combinations
from typing import Optional

from .schemas import EFTExample


def ranking_agrees(human_ranks: list[int], scores: list[Optional[float]]) -> bool:
    if any(s is None for s in scores):
        return False
    for (ra, sa), (rb, sb) in combinations(zip(human_ranks, scores), 2):
        if ra != rb and not ((ra < rb and sa > sb) or (rb < ra and sb > sa)):
            return False
    return True


def rebalance(examples: list[EFTExample], max_ratio: float, rng: random.Random) -> list[EFTExample]:
    counts = Counter(round(e.score) for e in examples)
    if len(counts) < 2:
        return list(examples)
    (top, n_top), (_, n_second) = counts.most_common(2)
    cap = max(1, int(max_ratio * n_second))
    if n_top <= cap:
        return list(examples)
    top_idx = [i for i, e in enumerate(examples) if round(e.score) == top]
    keep_top = set(rng.sample(top_idx, cap))
    return [e for i, e in enumerate(examples) if round(e.score) != top or i in keep_top]


def split_by_prompt(examples: list[EFTExample], n_train: int, n_eval: int,
                    rng: random.Random) -> tuple[list[EFTExample], list[EFTExample]]:
    """Eval prompts are disjoint from train prompts; sizes are upper bounds in examples."""
    prompts = sorted({e.prompt_id for e in examples})
    rng.shuffle(prompts)
    by_prompt: dict[str, list[EFTExample]] = {}
    for e in examples:
        by_prompt.setdefault(e.prompt_id, []).append(e)
    train, evals = [], []
    for pid in prompts:
        group = by_prompt[pid]
        if len(evals) + len(group) <= n_eval and len(evals) < n_eval:
            evals.extend(group)
        elif len(train) + len(group) <= n_train:
            train.extend(group)
    return train, evals
