"""Meta-Rewarding's judgement pairs (srlm_nemo/meta_judge.py) on hand-made judgements and verdicts."""
from srlm_nemo.meta_judge import battles, judge_pairs, mix, select_answers
from srlm_nemo.schemas import Candidate, Judgement, Message, MetaVerdict, PreferencePair, Sampling

S = Sampling(n=4, temperature=0.7, top_p=0.9, max_tokens=8, seed=0)


def _cand(pid, i):
    return Candidate(id=f"{pid}/c{i}", prompt_id=pid, prompt=f"question {pid}", index=i, text=f"answer {i}",
                     finish_reason="stop", num_tokens=2, model="M1", sampling=S)


def _judgements(cand, scores):
    return [Judgement(candidate_id=cand.id, prompt_id=cand.prompt_id, sample=k, text=f"{cand.id} says {s} ({k})",
                      score=s) for k, s in enumerate(scores)]


def _prompt(c):
    return [Message(role="user", content=f"grade {c.id}")]


def test_the_answer_whose_judgements_disagree_most_is_meta_judged():
    a, b, c = _cand("p", 0), _cand("p", 1), _cand("q", 0)
    js = _judgements(a, [3, 3, 4]) + _judgements(b, [1, 5, 3]) + _judgements(c, [2, 2, 2])
    sel = select_answers([a, b, c], js)
    assert [x.id for x, _ in sel] == [b.id]  # q's only answer drew one score three times: nothing to compare
    assert [j.sample for j in sel[0][1]] == [0, 1, 2]


def test_identical_judgement_texts_count_once_and_invalid_ones_not_at_all():
    a = _cand("p", 0)
    js = _judgements(a, [1, 4, None]) + [Judgement(candidate_id=a.id, prompt_id="p", sample=3,
                                                   text=f"{a.id} says 1 (0)", score=1)]
    (_, kept), = select_answers([a], js)
    assert [j.sample for j in kept] == [0, 1]


def test_every_two_judgements_meet_in_both_orders():
    a = _cand("p", 0)
    sel = select_answers([a], _judgements(a, [1, 3, 5]))
    shown = [(x.sample, y.sample) for _, x, y in battles(sel)]
    assert sorted(shown) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]


def _verdicts(sel, pick):
    """`pick(first, second) -> "A" | "B" | "tie"` for every battle."""
    return [MetaVerdict(candidate_id=c.id, prompt_id=c.prompt_id, first=x.sample, second=y.sample, text="",
                        winner=pick(x.sample, y.sample)) for c, x, y in battles(sel)]


def test_the_most_and_least_winning_judgements_make_the_pair():
    a = _cand("p", 0)
    sel = select_answers([a], _judgements(a, [1, 3, 5]))
    # sample 2 beats everyone, sample 0 loses to everyone: shares 1, 0.5, 0
    pairs, stats = judge_pairs(sel, _verdicts(sel, lambda x, y: "A" if x > y else "B"), _prompt)
    (p,) = pairs
    assert p.kind == "judgement" and p.prompt[0].content == f"grade {a.id}"
    assert (p.chosen_id, p.rejected_id) == (f"{a.id}/j2", f"{a.id}/j0")
    assert p.chosen[0].content.endswith("(2)") and p.rejected[0].content.endswith("(0)")
    assert (p.chosen_score, p.rejected_score) == (1.0, 0.0)
    assert stats["battles"] == 6 and stats["judge_pairs"] == 1


def test_a_meta_judge_that_always_picks_the_first_teaches_nothing():
    """Both orders cancel pure position bias: every judgement wins half, so no pair is made."""
    a = _cand("p", 0)
    sel = select_answers([a], _judgements(a, [1, 3, 5]))
    pairs, stats = judge_pairs(sel, _verdicts(sel, lambda x, y: "A"), _prompt)
    assert pairs == [] and stats["dropped_equal_shares"] == 1 and stats["position_a_wins"] == 6


def test_unparsed_verdicts_count_as_ties():
    a = _cand("p", 0)
    sel = select_answers([a], _judgements(a, [1, 5]))
    verdicts = _verdicts(sel, lambda x, y: None if x == 0 else "A")  # only (1, 0) has a verdict: 1 wins
    (p,), stats = judge_pairs(sel, verdicts, _prompt)
    assert (p.chosen_id, p.chosen_score, p.rejected_score) == (f"{a.id}/j1", 0.75, 0.25)
    assert stats["verdicts_unparsed"] == 1


def _pair(i, kind="answer", gap=1.0):
    return PreferencePair(
        id=str(i),
        prompt=[Message(role="user", content="q")],
        kind=kind,
        chosen=[Message(role="assistant", content="a")],
        rejected=[Message(role="assistant", content="b")],
        chosen_id="a",
        rejected_id="b",
        chosen_score=gap,
        rejected_score=0.0,
    )


def test_the_ratio_bounds_judgement_pairs_and_keeps_the_clearest():
    answers = [_pair(i) for i in range(4)]
    judged = [_pair(f"j{i}", "judgement", gap) for i, gap in enumerate([0.25, 1.0, 0.5, 0.75])]
    out, stats = mix(answers, judged, 0.5)
    assert out[:4] == answers and [p.id for p in out[4:]] == ["j1", "j3"]
    assert stats == {"judge_pairs": 2, "judge_pairs_available": 4, "meta_ratio": 0.5}
    assert len(mix(answers, judged, 0.0)[0]) == 4 and len(mix(answers, judged, 5.0)[0]) == 8
