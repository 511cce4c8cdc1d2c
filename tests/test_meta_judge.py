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
    # sample 2 beats everyone, sample 0 loses to everyone, each from both positions
    pairs, stats = judge_pairs(sel, _verdicts(sel, lambda x, y: "A" if x > y else "B"), _prompt)
    (p,) = pairs
    assert p.kind == "judgement" and p.prompt[0].content == f"grade {a.id}"
    assert (p.chosen_id, p.rejected_id) == (f"{a.id}/j2", f"{a.id}/j0")
    assert p.chosen[0].content.endswith("(2)") and p.rejected[0].content.endswith("(0)")
    assert p.chosen_score > 1000.0 > p.rejected_score  # Elo ratings around 1000
    assert stats["battles"] == 6 and stats["judge_pairs"] == 1


def test_a_meta_judge_that_always_picks_the_first_teaches_nothing():
    """Pure position bias teaches nothing: every win is from the first position, whose weight is
    then 0, so every rating stays equal and no pair is made."""
    a = _cand("p", 0)
    sel = select_answers([a], _judgements(a, [1, 3, 5]))
    pairs, stats = judge_pairs(sel, _verdicts(sel, lambda x, y: "A"), _prompt)
    assert pairs == [] and stats["dropped_equal_ratings"] == 1 and stats["position_a_wins"] == 6
    assert stats["position_weights"] == {"first": 0.0, "second": 1.0}


def test_unparsed_verdicts_count_nothing():
    a = _cand("p", 0)
    sel = select_answers([a], _judgements(a, [1, 3, 5]))
    # 0 and 1 never get a verdict; 2 beats both from both positions
    verdicts = _verdicts(sel, lambda x, y: None if {x, y} == {0, 1} else "A" if x > y else "B")
    (p,), stats = judge_pairs(sel, verdicts, _prompt)
    assert p.chosen_id == f"{a.id}/j2" and stats["verdicts_unparsed"] == 2
    assert p.rejected_score == round(p.rejected_score, 6) < 1000.0 < p.chosen_score


def test_position_weights_cancel_a_first_position_bias():
    """The paper's weights: with wins mostly from the first position (3 of 4 over the iteration),
    a win from the second position counts three times one from the first. Judgement r won its only
    decided battle from the second position, p from the first: r is rated above p. Unweighted
    shares call them equal and would have picked p, the first sample."""
    a, b = _cand("p", 0), _cand("q", 0)
    jp, jq, jr = _judgements(a, [1, 3, 5])
    js, jt = _judgements(b, [2, 4])
    selected = [(a, [jp, jq, jr]), (b, [js, jt])]

    def verdict(c, first, second, winner):
        return MetaVerdict(candidate_id=c.id, prompt_id=c.prompt_id, first=first.sample, second=second.sample,
                           text="", winner=winner)
    verdicts = [verdict(a, jp, jq, "A"), verdict(a, jq, jp, None), verdict(a, jq, jr, "B"), verdict(a, jr, jq, None),
                verdict(a, jp, jr, None), verdict(a, jr, jp, None), verdict(b, js, jt, "A"), verdict(b, jt, js, "A")]
    pairs, stats = judge_pairs(selected, verdicts, _prompt)
    assert stats["position_weights"] == {"first": 0.25, "second": 0.75}
    (p,) = pairs  # q's two judgements each won once from the first position: equal
    assert (p.chosen_id, p.rejected_id) == (f"{a.id}/j2", f"{a.id}/j1") and stats["dropped_equal_ratings"] == 1


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


def test_a_pair_whose_chosen_judgement_is_too_long_is_dropped():
    """The paper's length filter looks at the chosen judgement only: a long rejected one stays."""
    a, b = _cand("p", 0), _cand("q", 0)
    ja = _judgements(a, [1, 3])
    jb = _judgements(b, [2, 4])
    ja[1] = ja[1].model_copy(update={"text": "x" * 40})  # a's winner is long
    jb[0] = jb[0].model_copy(update={"text": "y" * 40})  # b's loser is long
    selected = select_answers([a, b], ja + jb)
    verdicts = _verdicts(selected, lambda x, y: "A" if x > y else "B")
    pairs, stats = judge_pairs(selected, verdicts, _prompt, max_chosen_chars=39)
    assert [p.id for p in pairs] == ["q/judge"] and stats["dropped_long_chosen"] == 1
    assert len(judge_pairs(selected, verdicts, _prompt, max_chosen_chars=40)[0]) == 2
    assert len(judge_pairs(selected, verdicts, _prompt)[0]) == 2


def test_judgement_pairs_stop_after_the_last_judge_iteration(tmp_path):
    """judge.meta_last_iteration=2: iteration 2 meta-judges and trains on judgement pairs,
    iteration 3 neither meta-judges nor gives its pairs stage judgement pairs."""
    from srlm_nemo.config import load_config
    from srlm_nemo.recipes.self_rewarding import build
    base = ["judge.meta=true", "run.iterations=3", f"run.run_dir={tmp_path / 'run'}", f"run.cache_dir={tmp_path}"]
    for last, with_meta in ((None, {2, 3}), (2, {2}), (3, {2, 3})):
        extra = [] if last is None else [f"judge.meta_last_iteration={last}"]
        stages = {s.name: s for s in build(load_config(base + extra)[0])}
        assert {t for t in (2, 3) if f"iter_{t}/meta_judge" in stages} == with_meta, last
        assert {t for t in (2, 3) if "judge_pairs" in stages[f"iter_{t}/pairs"].inputs} == with_meta, last
