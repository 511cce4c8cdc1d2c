"""Judge-preference pairs from the model's judgements of its own judgements: Meta-Rewarding
(Wu et al. 2024, arXiv 2407.19594, section 2, "judge preference data").

1. Which answer (`select_answers`): per prompt, the answer whose K valid judgement scores spread
   the most (a population variance). Judgements that all agree give the meta-judge nothing to
   separate, so a prompt whose answers all drew identical scores gives no judgement pair. The
   paper also works from the judgements' disagreement; this variance rule is our reading of it.
2. Battles (`battles`): every two distinct judgements of that answer, each order once (A, B and
   B, A).
3. Ranking (`judge_pairs`), the paper's rule: each win is weighted by the position it was won
   from, w_first = (wins in second position) / (all wins) and w_second = (wins in first
   position) / (all wins), counted over all the iteration's battles, so a meta-judge that
   favours one position gains nothing from it; a verdict that names no winner (unparsed; the
   verdict format has no tie) counts 0. The weighted battle matrix is fitted with a
   Bradley-Terry model by maximum likelihood and read as Elo ratings (1000 + 400 log10 odds);
   a ridge of 1e-4 on the log-strengths (ours) keeps them finite where a judgement won every
   battle. Chosen = the highest rating, rejected = the lowest (the first sample among equals);
   equal ratings give no pair. A pair whose chosen judgement is longer than `max_chosen_chars`
   is dropped (the paper's filter: without it the judge learns to write ever longer judgements).

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


def position_weights(verdicts: list[MetaVerdict]) -> tuple[float, float]:
    """(w_first, w_second): a win from the position the meta-judge favours counts less."""
    first = sum(v.winner == "A" for v in verdicts)
    second = sum(v.winner == "B" for v in verdicts)
    if first + second == 0:
        return 0.5, 0.5
    return second / (first + second), first / (first + second)


def elo_ratings(verdicts: list[MetaVerdict], weights: tuple[float, float]) -> dict[int, float]:
    """Each judgement's Elo rating from its position-weighted battles (Bradley-Terry, maximum likelihood)."""
    import numpy as np
    from scipy.optimize import minimize
    players = sorted({v.first for v in verdicts} | {v.second for v in verdicts})
    index = {p: i for i, p in enumerate(players)}
    wins = np.zeros((len(players), len(players)))  # wins[m, n]: m's weighted wins over n
    for v in verdicts:
        if v.winner == "A":
            wins[index[v.first], index[v.second]] += weights[0]
        elif v.winner == "B":
            wins[index[v.second], index[v.first]] += weights[1]

    def loss(r):
        diff = r[:, None] - r[None, :]
        return float(np.sum(wins * np.logaddexp(0.0, -diff)) + 0.5e-4 * r @ r)

    def grad(r):
        p_lose = 1.0 / (1.0 + np.exp(r[:, None] - r[None, :]))  # sigma(r_n - r_m)
        g = wins * p_lose
        return -(g.sum(axis=1) - g.sum(axis=0)) + 1e-4 * r
    fit = minimize(loss, np.zeros(len(players)), jac=grad, method="L-BFGS-B", options={"gtol": 1e-10})
    return {p: 1000.0 + 400.0 * float(fit.x[index[p]]) / np.log(10.0) for p in players}


def judge_pairs(selected: list[tuple[Candidate, list[Judgement]]], verdicts: list[MetaVerdict],
                judge_prompt, max_chosen_chars: int | None = None) -> tuple[list[PreferencePair], dict]:
    """`judge_prompt(candidate) -> list[Message]`: the prompt the judgements answered."""
    from .schemas import Message
    by_cand: dict[str, list[MetaVerdict]] = defaultdict(list)
    for v in verdicts:
        by_cand[v.candidate_id].append(v)
    weights = position_weights(verdicts)
    pairs, equal, too_long = [], 0, 0
    for c, js in selected:
        rating = elo_ratings(by_cand[c.id], weights) if by_cand.get(c.id) else {}
        ranked = sorted(js, key=lambda j: (-round(rating.get(j.sample, 1000.0), 6), j.sample))
        hi, lo = ranked[0], ranked[-1]
        if round(rating.get(hi.sample, 1000.0), 6) == round(rating.get(lo.sample, 1000.0), 6):
            equal += 1
            continue
        if max_chosen_chars is not None and len(hi.text) > max_chosen_chars:
            too_long += 1
            continue
        pairs.append(PreferencePair(
            id=f"{c.prompt_id}/judge", prompt=judge_prompt(c), kind="judgement",
            chosen=[Message(role="assistant", content=hi.text)], rejected=[Message(role="assistant", content=lo.text)],
            chosen_id=f"{c.id}/j{hi.sample}", rejected_id=f"{c.id}/j{lo.sample}",
            chosen_score=round(rating[hi.sample], 6), rejected_score=round(rating[lo.sample], 6)))
    stats = {"answers_meta_judged": len(selected), "battles": len(verdicts),
             "verdicts_unparsed": sum(v.winner is None for v in verdicts),
             "position_a_wins": sum(v.winner == "A" for v in verdicts),
             "position_b_wins": sum(v.winner == "B" for v in verdicts),
             "position_weights": {"first": weights[0], "second": weights[1]},
             "dropped_equal_ratings": equal, "dropped_long_chosen": too_long,
             "max_chosen_chars": max_chosen_chars, "judge_pairs": len(pairs)}
    return pairs, stats


def mix(answer_pairs: list[PreferencePair], judge_pairs_: list[PreferencePair], ratio: float) -> tuple[list, dict]:
    """The DPO data: every answer pair, then at most `ratio` judgement pairs per answer pair,
    those with the widest gap between the two judgements' ratings first (the clearest lessons)."""
    limit = int(ratio * len(answer_pairs))
    ranked = sorted(judge_pairs_, key=lambda p: -(p.chosen_score - p.rejected_score))  # stable: file order among equals
    kept = ranked[:limit]
    return answer_pairs + kept, {"judge_pairs": len(kept), "judge_pairs_available": len(judge_pairs_),
                                 "meta_ratio": ratio}
