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
