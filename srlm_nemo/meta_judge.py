"""Judge-preference pairs from the model's judgements of its own judgements: Meta-Rewarding
(Wu et al. 2024, arXiv 2407.19594, section 2, "judge preference data").

1. Which answer (`select_answers`): per prompt, the answer whose K valid judgement scores spread
   the most (a population variance). Judgements that all agree give the meta-judge nothing to
   separate, so a prompt whose answers all drew identical scores gives no judgement pair. The
   paper also works from the judgements' disagreement; this variance rule is our reading of it.
2. Battles (`battles`): every two distinct judgements of that answer, each order once (A, B and
   B, A), so the meta-judge's position bias cancels.
3. Ranking (`judge_pairs`): a judgement's share of its battles won, a tie counting half. The
   paper fits Elo ratings to the battle matrix; in a complete round robin like this one the
   Bradley-Terry fit behind Elo orders the players by wins, so the share gives the same order
   without an iterative fit. Chosen = the highest share, rejected = the lowest (the first
   sample among equals); equal shares give no pair.

The pair's prompt is the judge prompt the judgements answered, so DPO trains the judge's own
task; its chosen and rejected texts are the two judgements (kind="judgement").
"""
from __future__ import annotations

from collections import defaultdict
from itertools import combinations

from .schemas import Candidate, Judgement, MetaVerdict, PreferencePair


def _variance(xs: list[float]) -> float:
    m = sum(xs) / len(xs)
    return sum((x - m) ** 2 for x in xs) / len(xs)


def select_answers(cands: list[Candidate], judgements: list[Judgement]) -> list[tuple[Candidate, list[Judgement]]]:
    """Per prompt (in candidate order), the answer to meta-judge and its valid, distinct judgements."""
    by_cand: dict[str, list[Judgement]] = defaultdict(list)
    for j in judgements:
        if j.score is not None:
            by_cand[j.candidate_id].append(j)
    best: dict[str, tuple[float, Candidate, list[Judgement]]] = {}
    for c in cands:
        first_of_text: dict[str, Judgement] = {}  # one judgement per text: the same words cannot differ
        for j in sorted(by_cand.get(c.id, []), key=lambda j: j.sample):
            first_of_text.setdefault(j.text, j)
        distinct = list(first_of_text.values())
        if len(distinct) < 2:
            continue
        spread = _variance([j.score for j in distinct])
        if spread > 0 and (c.prompt_id not in best or spread > best[c.prompt_id][0]):
            best[c.prompt_id] = (spread, c, distinct)
    return [(c, js) for _, c, js in best.values()]


def battles(selected: list[tuple[Candidate, list[Judgement]]]) -> list[tuple[Candidate, Judgement, Judgement]]:
    """(answer, judgement shown as A, judgement shown as B): each two judgements in both orders."""
    out = []
    for c, js in selected:
        for a, b in combinations(js, 2):
            out += [(c, a, b), (c, b, a)]
    return out


def _shares(verdicts: list[MetaVerdict]) -> dict[int, float]:
    points: dict[int, float] = defaultdict(float)
    games: dict[int, int] = defaultdict(int)
    for v in verdicts:
        games[v.first] += 1
        games[v.second] += 1
        if v.winner in ("A", "B"):
            points[v.first if v.winner == "A" else v.second] += 1
        else:  # a tie or no verdict: half each
            points[v.first] += 0.5
            points[v.second] += 0.5
    return {s: points[s] / games[s] for s in games}


def judge_pairs(selected: list[tuple[Candidate, list[Judgement]]], verdicts: list[MetaVerdict],
                judge_prompt) -> tuple[list[PreferencePair], dict]:
    """`judge_prompt(candidate) -> list[Message]`: the prompt the judgements answered."""
    from .schemas import Message
    by_cand: dict[str, list[MetaVerdict]] = defaultdict(list)
    for v in verdicts:
        by_cand[v.candidate_id].append(v)
    pairs, equal = [], 0
    for c, js in selected:
        shares = _shares(by_cand.get(c.id, []))
        ranked = sorted(js, key=lambda j: (-shares.get(j.sample, 0.5), j.sample))
        hi, lo = ranked[0], ranked[-1]
        if shares.get(hi.sample, 0.5) == shares.get(lo.sample, 0.5):
            equal += 1
            continue
        pairs.append(PreferencePair(
            id=f"{c.prompt_id}/judge", prompt=judge_prompt(c), kind="judgement",
            chosen=[Message(role="assistant", content=hi.text)], rejected=[Message(role="assistant", content=lo.text)],
            chosen_id=f"{c.id}/j{hi.sample}", rejected_id=f"{c.id}/j{lo.sample}",
            chosen_score=shares[hi.sample], rejected_score=shares[lo.sample]))
    stats = {"answers_meta_judged": len(selected), "battles": len(verdicts),
             "verdicts_unparsed": sum(v.winner is None for v in verdicts),
             "position_a_wins": sum(v.winner == "A" for v in verdicts),
             "position_b_wins": sum(v.winner == "B" for v in verdicts),
             "dropped_equal_shares": equal, "judge_pairs": len(pairs)}
    return pairs, stats


def mix(answer_pairs: list[PreferencePair], judge_pairs_: list[PreferencePair], ratio: float) -> tuple[list, dict]:
    """The DPO data: every answer pair, then at most `ratio` judgement pairs per answer pair,
    those with the widest gap between the two judgements' shares first (the clearest lessons)."""
    limit = int(ratio * len(answer_pairs))
    ranked = sorted(judge_pairs_, key=lambda p: -(p.chosen_score - p.rejected_score))  # stable: file order among equals
    kept = ranked[:limit]
    return answer_pairs + kept, {"judge_pairs": len(kept), "judge_pairs_available": len(judge_pairs_),
                                 "meta_ratio": ratio}
