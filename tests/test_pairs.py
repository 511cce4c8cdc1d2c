from srlm_nemo.pairs import build_pairs, temporal_pairs
from srlm_nemo.schemas import Candidate, CandidateScore, Sampling

S = Sampling(n=4, temperature=0.7, top_p=0.9, max_tokens=8)


def _case(pid, scores, texts=None):
    cands, cs = [], []
    for i, s in enumerate(scores):
        text = (texts or [f"answer {i}"] * len(scores))[i]
        cands.append(Candidate(id=f"{pid}/c{i}", prompt_id=pid, prompt=f"prompt {pid}", index=i, text=text,
                               num_tokens=2, model="M1", sampling=S))
        cs.append(CandidateScore(candidate_id=f"{pid}/c{i}", prompt_id=pid, mean_score=s,
                                 num_valid=0 if s is None else 3, num_samples=3,
                                 scores=[] if s is None else [s] * 3, length_chars=len(text)))
    return cands, cs


def test_highest_vs_lowest_and_drop_reasons():
    c1, s1 = _case("a", [3.0, 4.5, None, 1.0])
    c2, s2 = _case("b", [2.0, 2.0, 2.0, 2.0])
    c3, s3 = _case("c", [5.0, None, None, None])
    pairs, counts = build_pairs(c1 + c2 + c3, s1 + s2 + s3)
    assert len(pairs) == 1
    p = pairs[0]
    assert (p.chosen_id, p.rejected_id, p.chosen_score, p.rejected_score) == ("a/c1", "a/c3", 4.5, 1.0)
    assert p.prompt[0].role == "user" and p.chosen[0].content == "answer 1"
    assert counts == {"prompts": 3, "pairs": 1, "dropped_tie": 1, "dropped_too_few_valid": 1}


def test_length_control_band_follows_rho():
    # S_max 5, S_min 1: the top band is [(1 - rho) * 5 + rho * 1, 5]
    texts = ["long " * 60, "mid " * 30, "x" * 5, "worst " * 10, "worst but longest " * 20]
    c, s = _case("a", [5.0, 4.5, 2.0, 1.0, 1.0], texts=texts)
    pick = {rho: build_pairs(c, s, strategy="length_control", length_rho=rho)[0][0] for rho in (0.0, 0.2, 0.9)}
    assert pick[0.0].chosen_id == "a/c0"  # band [5, 5]: only the top answer
    assert pick[0.2].chosen_id == "a/c1"  # band [4.2, 5]: the shorter of the two
    assert pick[0.9].chosen_id == "a/c2"  # band [1.4, 5]: the shortest of three
    # rejected: the longest in the bottom band (here the longer of the two at 1.0 each time)
    assert {p.rejected_id for p in pick.values()} == {"a/c4"}
    paper, _ = build_pairs(c, s)  # the paper's rule: first top vs first bottom
    assert (paper[0].chosen_id, paper[0].rejected_id) == ("a/c0", "a/c3")


def test_length_control_rejects_the_longest_answer_of_the_bottom_band():
    """Meta-Rewarding's second band: the rejected answer is the longest scoring within
    [S_min, (1 - rho) S_min + rho S_max], not only among those at S_min."""
    texts = ["a" * 50, "b" * 40, "c" * 300, "d" * 20]
    c, s = _case("a", [5.0, 4.0, 1.5, 1.0], texts=texts)
    pair = build_pairs(c, s, strategy="length_control", length_rho=0.2)[0][0]  # bottom band [1.0, 1.8]
    assert (pair.chosen_id, pair.rejected_id) == ("a/c0", "a/c2")  # top band [4.2, 5]: only c0


def test_length_control_drops_a_prompt_whose_bands_pick_one_answer():
    """With rho > 0.5 the bands overlap: the shortest of the top band can be the longest of the
    bottom band. One answer cannot be both chosen and rejected: the prompt is dropped."""
    c, s = _case("a", [5.0, 3.0, 1.0], texts=["x" * 300, "y" * 100, "z" * 10])
    pairs, counts = build_pairs(c, s, strategy="length_control", length_rho=0.6)  # [2.6, 5] and [1, 3.4]
    assert pairs == [] and counts["dropped_same_answer"] == 1


def _scores(pid, values):
    return [CandidateScore(candidate_id=f"{pid}/c{i}", prompt_id=pid, mean_score=v, num_valid=0 if v is None else 3,
                           num_samples=3, scores=[] if v is None else [v] * 3, length_chars=10)
            for i, v in enumerate(values)]


def test_cream_judge_weights_from_kendall_tau_between_the_two_rubric_judges():
    import math

    from srlm_nemo.pairs import cream_weights
    now = {"agree": [5, 3, 1], "reverse": [5, 3, 1], "flat": [5, 3, 1], "unscored": [5, 3, 1], "tie": [5, 5, 1]}
    before = {"agree": [4, 2, 0], "reverse": [0, 2, 4], "flat": [2, 2, 2], "unscored": [None, None, 3],
              "tie": [3, 4, 1]}
    cands, scores, previous = [], [], []
    for pid in now:
        c, sc = _case(pid, [float(v) for v in now[pid]])
        cands += c
        scores += sc
        previous += _scores(pid, before[pid])
    pairs, _ = build_pairs(cands, scores, strategy="cream_judge")
    weighted, stats = cream_weights(pairs, scores, previous)
    w = {p.id: p.weight for p in weighted}
    # tau-b by hand for "tie": pairs (0,1) tied now: neither; (0,2), (1,2) concordant:
    # 2 / sqrt((3 - 1) * 3) -> C = (tau + 1) / 2
    tie = (2 / math.sqrt(6) + 1) / 2
    assert (w["agree"], w["reverse"], w["flat"]) == (1.0, 0.0, 0.5)
    assert math.isclose(w["tie"], tie)
    mean = (1.0 + 0.0 + 0.5 + tie) / 4
    assert math.isclose(w["unscored"], mean)  # one answer scored by both: not measured
    assert stats["measured"] == 4 and stats["unmeasured"] == 1 and stats["previous_judge_constant"] == 1
    averaged, _ = cream_weights(pairs, scores, previous, average=True)
    assert all(math.isclose(p.weight, mean) for p in averaged)
    # the labels themselves are the paper's pairs
    assert [(p.chosen_id, p.rejected_id) for p in weighted] == [(p.chosen_id, p.rejected_id) for p in pairs]


def test_judge_scores_and_stats():
    from srlm_nemo.schemas import Judgement
    from srlm_nemo.stages.judge import judge_stats, score_candidates
    cands, _ = _case("a", [0, 0, 0], texts=["x", "xxxx", "xxxxxxxxx"])
    js = [
        Judgement(
            candidate_id=c.id, prompt_id="a", sample=k, text="", score=s, error=None if s is not None else "no_score"
        )
        for c, ss in zip(cands, [(1.0, 2.0, None), (3.0, 3.0, 3.0), (None, None, None)])
        for k, s in enumerate(ss)
    ]
    scores = score_candidates(cands, js)
    assert [(s.mean_score, s.num_valid, s.num_samples) for s in scores] == [(1.5, 2, 3), (3.0, 3, 3), (None, 0, 3)]
    st = judge_stats(js, scores)
    assert st["parse_rate"] == 5 / 9 and st["failures"] == {"no_score": 4}
    assert st["score_histogram"] == {"1.0": 1, "2.0": 1, "3.0": 3}
    assert st["candidates_without_valid_score"] == 1
    assert st["mean_within_candidate_spread"] == 0.5  # (1.0 + 0.0) / 2
    assert st["score_length_spearman"] is None  # fewer than 3 scored candidates


def test_temporal_rejects_the_initial_models_worst_and_takes_the_future_models_best_when_it_scores_as_high():
    """Anchored rejection: the initial model's lowest answer where it scores below the policy's
    lowest (a), else the policy's own lowest (b: the anchor only ties it; c: the anchor scores
    higher). Future-guided chosen: the future model's best where it scores at least as high."""
    now = _case("a", [3.0, 4.0, 2.0]), _case("b", [2.0, 2.5]), _case("c", [1.0, 1.5]), _case("d", [3.0, None])
    anchor = _case("a", [2.5, 1.0]), _case("b", [3.0, 2.0]), _case("c", [2.0, 3.0]), _case("d", [1.0])
    future = _case("a", [4.0, 3.5]), _case("b", [2.0, 2.4]), _case("c", [None]), _case("d", [5.0])

    def cat(cases):
        return [x for c, _ in cases for x in c], [x for _, s in cases for x in s]
    anchored, counts = temporal_pairs(*cat(now), anchor=cat(anchor))
    assert [(p.id, p.chosen_id, p.rejected_id) for p in anchored] == [("a", "a/c1", "anchor:a/c1"),
                                                                      ("b", "b/c1", "b/c0"), ("c", "c/c1", "c/c0")]
    # d: one valid answer (< min_valid)
    assert counts == {"prompts": 4, "pairs": 3, "dropped_too_few_valid": 1, "rejected_from_anchor": 1,
                      "rejected_from_policy": 2}
    assert anchored[1].rejected[0].content == "answer 0" and anchored[0].rejected_score == 1.0
    final, counts = temporal_pairs(*cat(now), anchor=cat(anchor), future=cat(future))
    # a: the future's 4.0 equals the policy's best: the future's is chosen; b: 2.4 < 2.5: the policy's
    assert [(p.id, p.chosen_id, p.chosen_score) for p in final] == [("a", "future:a/c0", 4.0), ("b", "b/c1", 2.5),
                                                                    ("c", "c/c1", 1.5)]
    assert counts["chosen_from_future"] == 1 and counts["pairs"] == 3


def test_temporal_drops_a_prompt_whose_best_only_ties_the_anchor():
    (c, s), (ac, as_) = _case("a", [2.0, 2.0]), _case("a", [2.0, 3.0])
    pairs, counts = temporal_pairs(c, s, anchor=(ac, as_))
    assert pairs == [] and counts["dropped_tie"] == 1


def _logprobs(values, tokens=None):
    from srlm_nemo.schemas import ReplyLogprob
    return [ReplyLogprob(candidate_id=cid, prompt_id=cid.split("/")[0], logprob=v,
                         tokens=None if v is None else (tokens or {}).get(cid, 1)) for cid, v in values.items()]


def test_dpo_rewards_are_the_policy_minus_its_reference_or_the_mean_token_logprob():
    """CREAM's rewarding.py: with a reference, sum log pi - sum log pi_ref; without one (the base
    model), the log-probability per token. Answers a model could not score are left out."""
    from srlm_nemo.pairs import dpo_rewards
    policy = _logprobs({"a/c0": -10.0, "a/c1": -20.0, "a/c2": None}, {"a/c0": 5, "a/c1": 4})
    reference = _logprobs({"a/c0": -15.0, "a/c1": -18.0, "a/c2": -3.0})
    assert dpo_rewards(policy, reference) == {"a/c0": 5.0, "a/c1": -2.0}
    assert dpo_rewards(policy, None) == {"a/c0": -2.0, "a/c1": -5.0}


def test_cream_pairs_from_known_rewards():
    """CREAM's cal_consistency.py and data.py on hand-made rewards: the pair is the highest vs the
    lowest DPO reward (not a rubric score: none is read); C = (tau + 1) / 2 on ordinal ranks;
    a prompt with an answer the previous model could not score gets the mean C; equal rewards
    everywhere drop the prompt; cream_average gives every pair the mean."""
    from srlm_nemo.pairs import cream_pairs
    cands = []
    for pid, n in (("a", 3), ("b", 2), ("c", 3), ("d", 2)):
        cands += _case(pid, [0.0] * n, texts=[f"{pid} answer {i}" for i in range(n)])[0]
    now = {"a/c0": 5.0, "a/c1": -2.0, "a/c2": 10.0, "b/c0": 1.0, "b/c1": 1.0,
           "c/c0": 0.0, "c/c1": 3.0, "c/c2": 1.0, "d/c0": 2.0, "d/c1": 1.0}
    before = {"a/c0": -3.0, "a/c1": -4.5, "a/c2": -4.0, "b/c0": 0.0, "b/c1": 1.0,
              "c/c0": 1.0, "c/c1": 2.0, "d/c0": 5.0, "d/c1": 1.0}
    pairs, counts, stats = cream_pairs(cands, now, before, average=False)
    got = {p.id: (p.chosen_id, p.rejected_id, round(p.weight, 6)) for p in pairs}
    # a: ranks now (2, 1, 3), before (3, 1, 2): 2 concordant, 1 discordant -> tau 1/3 -> C 2/3
    # d: both rank c0 first -> C 1; c: c/c2 unscored before -> mean of a and d
    mean = (2 / 3 + 1.0) / 2
    assert got == {"a": ("a/c2", "a/c1", round(2 / 3, 6)), "c": ("c/c1", "c/c0", round(mean, 6)),
                   "d": ("d/c0", "d/c1", 1.0)}
    assert counts == {"prompts": 4, "pairs": 3, "dropped_tie": 1}
    assert stats["measured"] == 2 and stats["unmeasured"] == 1
    assert [(p.chosen_score, p.rejected_score) for p in pairs][0] == (10.0, -2.0)  # the DPO rewards
    averaged, _, _ = cream_pairs(cands, now, before, average=True)
    assert [round(p.weight, 6) for p in averaged] == [round(mean, 6)] * 3


def test_cream_consistency_breaks_ties_by_position_as_the_authors_do():
    """scipy's rankdata(method="ordinal"), as cal_consistency.py ranks: a previous model that
    rewards every answer the same agrees with a policy that ranks them in file order."""
    from srlm_nemo.pairs import cream_pairs
    cands = _case("a", [0.0] * 3, texts=["x", "y", "z"])[0]
    now = {"a/c0": 1.0, "a/c1": 2.0, "a/c2": 3.0}
    pairs, _, _ = cream_pairs(cands, now, {c: -1.0 for c in now}, average=False)
    assert pairs[0].weight == 1.0
    pairs, _, _ = cream_pairs(cands, {"a/c0": 3.0, "a/c1": 2.0, "a/c2": 1.0}, {c: -1.0 for c in now}, average=False)
    assert pairs[0].weight == 0.0
