"""Preference pairs from judged candidates: highest vs lowest mean score, ties dropped."""
from __future__ import annotations

from collections import Counter, defaultdict

from .schemas import Candidate, CandidateScore, Message, PreferencePair


def build_pairs(candidates: list[Candidate], scores: list[CandidateScore], min_valid: int = 2,
                length_control: bool = False, length_band: float = 0.0,
                system_prompt: str | None = None) -> tuple[list[PreferencePair], Counter]:
    by_id = {c.id: c for c in candidates}
    per_prompt: dict[str, list[CandidateScore]] = defaultdict(list)
    for s in scores:
        per_prompt[s.prompt_id].append(s)
    counts: Counter = Counter()
    pairs = []
    for pid in dict.fromkeys(c.prompt_id for c in candidates):  # candidate order = prompt order
        counts["prompts"] += 1
        scored = [s for s in per_prompt.get(pid, []) if s.mean_score is not None]
        if len(scored) < min_valid:
            counts["dropped_too_few_valid"] += 1
            continue
        hi = max(s.mean_score for s in scored)
        lo = min(s.mean_score for s in scored)
        if hi == lo:
            counts["dropped_tie"] += 1
            continue
        if length_control:
            # Among near-best pick the shortest, among near-worst the longest (off in the paper).
            chosen = min((s for s in scored if s.mean_score >= hi - length_band), key=lambda s: s.length_chars)
            rejected = max((s for s in scored if s.mean_score <= lo + length_band), key=lambda s: s.length_chars)
            if chosen.mean_score <= rejected.mean_score:
                chosen = next(s for s in scored if s.mean_score == hi)
                rejected = next(s for s in scored if s.mean_score == lo)
        else:  # first in candidate order among equals: deterministic
            chosen = next(s for s in scored if s.mean_score == hi)
            rejected = next(s for s in scored if s.mean_score == lo)
        c, r = by_id[chosen.candidate_id], by_id[rejected.candidate_id]
        prompt = ([Message(role="system", content=system_prompt)] if system_prompt else []) + \
            [Message(role="user", content=c.prompt)]
        pairs.append(PreferencePair(
            id=pid, prompt=prompt,
            chosen=[Message(role="assistant", content=c.text)],
            rejected=[Message(role="assistant", content=r.text)],
            chosen_id=c.id, rejected_id=r.id,
            chosen_score=chosen.mean_score, rejected_score=rejected.mean_score))
        counts["pairs"] += 1
    return pairs, counts
