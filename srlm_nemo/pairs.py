"""Preference pairs from judged candidates; `pairs.strategy` picks the rule.

paper           Yuan et al. 2024, section 2.3: the highest vs the lowest mean score of a prompt's
                answers; a prompt whose answers all score the same is dropped (a tie).
length_control  Meta-Rewarding (Wu et al. 2024, arXiv 2407.19594, section on length control; as
                NVIDIA's NeMo-Aligner implements it, branch degert/self-rewarding-trt,
                nemo_aligner/experimental/self_rewarding/self_rewarding.py): two bands of the
                prompt's score range. Chosen: the shortest answer in the top band
                [(1 - rho) * S_max + rho * S_min, S_max]; rejected: the longest answer in the
                bottom band [S_min, (1 - rho) * S_min + rho * S_max]. Where both are one answer
                (or the same text: the bands overlap when rho > 0.5) the prompt is dropped, as
                there. rho = 0 is the paper rule with ties broken by length (NeMo-Aligner breaks
                them by the judgements' variance instead: ours).
cream           CREAM (Wang et al., ICLR 2025; their code, github Raibows/CREAM: rewarding.py,
                cal_consistency.py, data.py, sft_dpo_trainer.py). No judge prompt: the policy
                M_{t-1} and the model before it each rank the prompt's answers by DPO rewarding,
                the implicit reward log pi(y|x) - log pi_ref(y|x) summed over the answer's tokens
                with the model's own DPO reference; a model with no reference (the base model M0)
                ranks by its mean token log-probability (`dpo_rewards`). The pair is the highest
                vs the lowest of the policy's ranking; the weight is the two rankings'
                consistency C = (Kendall tau + 1) / 2 (`cream_pairs`), by default its mean over
                the iteration's pairs (pairs.cream_average, their published command). DPO then
                minimises C * L(chosen > rejected) + (1 - C) * L(rejected > chosen).
cream_judge     Ours: CREAM's weights with the paper's rubric judge in place of DPO rewarding:
                the paper's pair, C from the policy's and the previous model's mean rubric
                scores (`cream_weights`). Not CREAM's method; kept to compare the two rewards.
temporal        Temporal Self-Rewarding (Wang et al. 2025, arXiv 2508.06026): "anchored
                rejection" and "future-guided chosen" (`temporal_pairs`). The rejected answer is
                the lowest-scored of the initial model M1's answers to the same prompt (scored by
                this iteration's judge), so negatives do not improve along with the policy. A
                temporary "future" model is DPO-trained on (policy's best, anchored rejection);
                its answers, scored by the same judge, give the chosen answer when their best
                scores at least as high as the policy's best. We could read only the paper's
                abstract and summaries here, not its full text: the two rules are as they state
                them; the tie rules, and keeping the policy's best when the future model scores
                lower, are ours.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict

from .schemas import Candidate, CandidateScore, Message, PreferencePair, ReplyLogprob


def _choose(scored: list[CandidateScore], strategy: str, rho: float) -> tuple[CandidateScore, CandidateScore]:
    hi = max(s.mean_score for s in scored)
    lo = min(s.mean_score for s in scored)
    if strategy == "length_control":
        top, bottom = (1 - rho) * hi + rho * lo, (1 - rho) * lo + rho * hi
        chosen = min((s for s in scored if s.mean_score >= top), key=lambda s: s.length_chars)
        rejected = max((s for s in scored if s.mean_score <= bottom), key=lambda s: s.length_chars)
        return chosen, rejected
    # first in candidate order among equals: deterministic
    return next(s for s in scored if s.mean_score == hi), next(s for s in scored if s.mean_score == lo)


def build_pairs(candidates: list[Candidate], scores: list[CandidateScore], min_valid: int = 2,
                strategy: str = "paper", length_rho: float = 0.0,  # cream_judge pairs as paper, weighted later
                system_prompt: str | None = None) -> tuple[list[PreferencePair], Counter]:
    by_id = {c.id: c for c in candidates}
    per_prompt = _valid_by_prompt(scores)
    counts: Counter = Counter()
    pairs = []
    for pid in dict.fromkeys(c.prompt_id for c in candidates):  # candidate order = prompt order
        counts["prompts"] += 1
        scored = per_prompt.get(pid, [])
        if len(scored) < min_valid:
            counts["dropped_too_few_valid"] += 1
            continue
        if len({s.mean_score for s in scored}) == 1:
            counts["dropped_tie"] += 1
            continue
        chosen, rejected = _choose(scored, strategy, length_rho)
        if chosen.candidate_id == rejected.candidate_id or \
                by_id[chosen.candidate_id].text == by_id[rejected.candidate_id].text:
            counts["dropped_same_answer"] += 1  # length_control's bands overlap at this prompt
            continue
        pairs.append(_pair(pid, by_id, chosen, rejected, chosen.candidate_id, rejected.candidate_id, system_prompt))
        counts["pairs"] += 1
    return pairs, counts


def _valid_by_prompt(scores: list[CandidateScore]) -> dict[str, list[CandidateScore]]:
    """Each prompt's scored answers (a mean of valid judgements), in file order."""
    out: dict[str, list[CandidateScore]] = defaultdict(list)
    for s in scores:
        if s.mean_score is not None:
            out[s.prompt_id].append(s)
    return out


def _pair(pid: str, answers: dict[str, Candidate], chosen: CandidateScore, rejected: CandidateScore,
          chosen_id: str, rejected_id: str, system_prompt: str | None) -> PreferencePair:
    """The pair in TRL's conversational form; `answers` maps the two ids to their Candidates."""
    c, r = answers[chosen_id], answers[rejected_id]
    prompt = ([Message(role="system", content=system_prompt)] if system_prompt else []) + \
        [Message(role="user", content=c.prompt)]
    return PreferencePair(id=pid, prompt=prompt, chosen=[Message(role="assistant", content=c.text)],
                          rejected=[Message(role="assistant", content=r.text)], chosen_id=chosen_id,
                          rejected_id=rejected_id, chosen_score=chosen.mean_score, rejected_score=rejected.mean_score)


def _kendall(xs: list[float], ys: list[float]) -> float | None:
    """Kendall's tau-b (ties in the coarse 0-5 scores handled); None when one side is constant."""
    from scipy.stats import kendalltau
    tau = kendalltau(xs, ys).statistic
    return None if math.isnan(tau) else float(tau)


def cream_weights(pairs: list[PreferencePair], scores: list[CandidateScore], previous: list[CandidateScore],
                  average: bool = False) -> tuple[list[PreferencePair], dict]:
    """pairs.strategy=cream_judge (ours): each pair weighted by C = (tau + 1) / 2, tau between the
    two rubric judges' mean scores of the prompt's answers that both scored. CREAM's code ranks
    with ties broken by position, which on coarse 0-5 scores makes ties look like agreement;
    tau-b does not. Where the previous judge scored
    every shared answer the same, it confirms nothing: C = 0.5 (the pair then pulls neither way).
    Where fewer than two answers have both scores, C is the mean of the measured pairs (1 when
    none is measured). `average`: every pair gets that mean (CREAM's dataset-level variant)."""
    now = {s.candidate_id: s.mean_score for s in scores if s.mean_score is not None}
    before = {s.candidate_id: s.mean_score for s in previous if s.mean_score is not None}
    prompt_of = {s.candidate_id: s.prompt_id for s in scores}
    both: dict[str, list[str]] = defaultdict(list)
    for cid, pid in prompt_of.items():
        if cid in now and cid in before:
            both[pid].append(cid)
    measured: dict[str, float] = {}
    constant = 0
    for p in pairs:
        ids = both.get(p.id, [])
        if len(ids) < 2:
            continue
        tau = _kendall([now[i] for i in ids], [before[i] for i in ids])
        constant += tau is None
        measured[p.id] = 0.5 if tau is None else (tau + 1) / 2
    mean = sum(measured.values()) / len(measured) if measured else 1.0
    out = [p.model_copy(update={"weight": mean if average else measured.get(p.id, mean)}) for p in pairs]
    stats = {"measured": len(measured), "unmeasured": len(pairs) - len(measured), "previous_judge_constant": constant,
             "mean_consistency": mean if measured else None}
    return out, stats


def dpo_rewards(policy: list[ReplyLogprob], reference: list[ReplyLogprob] | None) -> dict[str, float]:
    """Answer id -> CREAM's reward by one model (rewarding.py): its summed log-probability minus
    its DPO reference's (the difference DPO's implicit reward scales by beta, which no ranking
    needs); with no reference, the mean log-probability per token. Answers either model could not
    score (too long for the context) are left out."""
    if reference is None:
        return {r.candidate_id: r.logprob / r.tokens for r in policy if r.logprob is not None}
    ref = {r.candidate_id: r.logprob for r in reference if r.logprob is not None}
    return {r.candidate_id: r.logprob - ref[r.candidate_id] for r in policy
            if r.logprob is not None and r.candidate_id in ref}


def cream_rewards(policy: list[ReplyLogprob], previous: list[ReplyLogprob],
                  older: list[ReplyLogprob] | None) -> tuple[dict[str, float], dict[str, float]]:
    """The two rankings CREAM compares: the policy's DPO rewards (its reference is the model before
    it: M1's is M0, M_t's is M_{t-1}) and the previous model's (against the one before it, or its
    mean log-probability per token where it has none: the base model)."""
    return dpo_rewards(policy, previous), dpo_rewards(previous, older)


def cream_pairs(candidates: list[Candidate], now: dict[str, float], before: dict[str, float], average: bool = True,
                system_prompt: str | None = None) -> tuple[list[PreferencePair], Counter, dict]:
    """CREAM's pairs (cal_consistency.py): the highest vs the lowest of `now` (the policy's DPO
    rewards; first among equals), a prompt dropped where both are one answer. Its consistency:
    Kendall's tau between the ordinal ranks (ties by position, scipy's rankdata 'ordinal') of
    `now` and `before` over the prompt's answers, C = (tau + 1) / 2, measured where both rewarded
    every answer. A pair without C gets the mean C of the measured pairs (data.py), and with
    `average` every pair does (consistency_avg)."""
    by_prompt: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        by_prompt[c.prompt_id].append(c)
    counts: Counter = Counter()
    chosen: list[tuple[str, Candidate, Candidate, float | None]] = []
    for pid, answers in by_prompt.items():
        counts["prompts"] += 1
        ranked = [c for c in answers if c.id in now]
        if len(ranked) < 2:
            counts["dropped_too_few_valid"] += 1
            continue
        hi = max(ranked, key=lambda c: now[c.id])
        lo = min(ranked, key=lambda c: now[c.id])
        if now[hi.id] == now[lo.id]:  # every answer rewarded the same (CREAM: argmax == argmin)
            counts["dropped_tie"] += 1
            continue
        chosen.append((pid, hi, lo, _consistency(answers, now, before)))
    measured = [c for *_, c in chosen if c is not None]
    mean = sum(measured) / len(measured) if measured else 1.0
    pairs = [_reward_pair(pid, hi, lo, now, mean if average or c is None else c, system_prompt)
             for pid, hi, lo, c in chosen]
    counts["pairs"] = len(pairs)
    return pairs, counts, {"measured": len(measured), "unmeasured": len(chosen) - len(measured),
                           "mean_consistency": mean if measured else None, "average": average}


def _consistency(answers: list[Candidate], now: dict[str, float], before: dict[str, float]) -> float | None:
    if not all(c.id in now and c.id in before for c in answers):
        return None
    from scipy.stats import kendalltau, rankdata
    tau = kendalltau(rankdata([now[c.id] for c in answers], method="ordinal"),
                     rankdata([before[c.id] for c in answers], method="ordinal")).statistic
    return (float(tau) + 1) / 2


def _reward_pair(pid: str, hi: Candidate, lo: Candidate, now: dict[str, float], weight: float,
                 system_prompt: str | None) -> PreferencePair:
    """A CREAM pair; its scores are the two answers' DPO rewards."""
    scored = {c.id: CandidateScore(candidate_id=c.id, prompt_id=pid, mean_score=now[c.id], num_valid=1,
                                   num_samples=1, scores=[now[c.id]], length_chars=len(c.text)) for c in (hi, lo)}
    pair = _pair(pid, {hi.id: hi, lo.id: lo}, scored[hi.id], scored[lo.id], hi.id, lo.id, system_prompt)
    return pair.model_copy(update={"weight": min(1.0, max(0.0, weight))})


def temporal_answers(candidates: list[Candidate], anchor: list[Candidate],
                     future: list[Candidate] | None = None) -> dict[str, Candidate]:
    """Answer id -> Candidate across the three models: each numbers its answers alike, so the
    initial model's ids are prefixed "anchor:" and the future model's "future:"."""
    return {c.id: c for c in candidates} | {f"anchor:{c.id}": c for c in anchor} | \
        {f"future:{c.id}": c for c in future or []}


def temporal_pairs(candidates: list[Candidate], scores: list[CandidateScore], anchor: tuple[list, list],
                   future: tuple[list, list] | None = None, min_valid: int = 2,
                   system_prompt: str | None = None) -> tuple[list[PreferencePair], Counter]:
    """Temporal Self-Rewarding's pairs. `anchor`, `future`: (candidates, scores) of the initial
    model's and the future model's answers to the same prompts, scored by this iteration's
    judge; `future` None gives the anchored pairs the future model trains on. Their answers'
    ids are prefixed as in `temporal_answers`."""
    answers = temporal_answers(candidates, anchor[0], future[0] if future else None)
    now, old = _valid_by_prompt(scores), _valid_by_prompt(anchor[1])
    new = _valid_by_prompt(future[1]) if future else {}
    counts: Counter = Counter()
    pairs = []
    for pid in dict.fromkeys(c.prompt_id for c in candidates):
        counts["prompts"] += 1
        if len(now.get(pid, [])) < min_valid:
            counts["dropped_too_few_valid"] += 1
            continue
        chosen = max(now[pid], key=lambda x: x.mean_score)  # first among equals
        chosen_id = chosen.candidate_id
        if new.get(pid) and (best := max(new[pid], key=lambda x: x.mean_score)).mean_score >= chosen.mean_score:
            chosen, chosen_id = best, f"future:{best.candidate_id}"
            counts["chosen_from_future"] += 1
        rejected, rejected_id = _anchored_rejection(now[pid], old.get(pid, []))
        counts["rejected_from_anchor" if rejected_id.startswith("anchor:") else "rejected_from_policy"] += 1
        if chosen.mean_score <= rejected.mean_score:  # no gap to learn from
            counts["dropped_tie"] += 1
            continue
        pairs.append(_pair(pid, answers, chosen, rejected, chosen_id, rejected_id, system_prompt))
        counts["pairs"] += 1
    return pairs, counts


def _anchored_rejection(policy: list[CandidateScore], anchor: list[CandidateScore]) -> tuple[CandidateScore, str]:
    """Anchored Rejection: the initial model's lowest-scored answer where it scores below the
    policy's lowest, else the policy's own lowest (first among equals). Returns it and its id."""
    own = min(policy, key=lambda x: x.mean_score)
    if anchor and (past := min(anchor, key=lambda x: x.mean_score)).mean_score < own.mean_score:
        return past, f"anchor:{past.candidate_id}"
    return own, own.candidate_id
