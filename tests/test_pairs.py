from srlm_nemo.pairs import build_pairs
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


def test_length_control_prefers_short_chosen_long_rejected():
    c, s = _case("a", [5.0, 4.8, 1.0, 1.2], texts=["long " * 30, "short", "tiny", "very long " * 20])
    pairs, _ = build_pairs(c, s, length_control=True, length_band=0.5)
    assert pairs[0].chosen_id == "a/c1" and pairs[0].rejected_id == "a/c3"
    pairs, _ = build_pairs(c, s)  # off (the paper): plain max/min
    assert pairs[0].chosen_id == "a/c0" and pairs[0].rejected_id == "a/c2"


def test_judge_scores_and_stats():
    from srlm_nemo.schemas import Judgement
    from srlm_nemo.stages.judge import judge_stats, score_candidates
    cands, _ = _case("a", [0, 0, 0], texts=["x", "xxxx", "xxxxxxxxx"])
    js = [Judgement(candidate_id=c.id, prompt_id="a", sample=k, text="", score=s, error=None if s is not None else "no_score")
          for c, ss in zip(cands, [(1.0, 2.0, None), (3.0, 3.0, 3.0), (None, None, None)]) for k, s in enumerate(ss)]
    scores = score_candidates(cands, js)
    assert [(s.mean_score, s.num_valid, s.num_samples) for s in scores] == [(1.5, 2, 3), (3.0, 3, 3), (None, 0, 3)]
    st = judge_stats(js, scores)
    assert st["parse_rate"] == 5 / 9 and st["failures"] == {"no_score": 4}
    assert st["score_histogram"] == {"1.0": 1, "2.0": 1, "3.0": 3}
    assert st["candidates_without_valid_score"] == 1
    assert st["mean_within_candidate_spread"] == 0.5  # (1.0 + 0.0) / 2
    assert st["score_length_spearman"] is None  # fewer than 3 scored candidates
