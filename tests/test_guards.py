"""The guards' figures and checks (srlm_nemo/guards.py) on hand-made answers, scores and pairs."""
import pytest

from srlm_nemo.config import GuardConfig
from srlm_nemo.guards import GuardStop, check, figures, reference_agreement
from srlm_nemo.schemas import Candidate, CandidateScore, Message, PreferencePair, Sampling

S = Sampling(n=2, temperature=0.7, top_p=0.9, max_tokens=8)


def _cand(cid, text):
    return Candidate(id=cid, prompt_id=cid.split("/")[0], prompt="q", index=0, text=text, num_tokens=1, model="M1",
                     sampling=S)


def _score(cid, s):
    return CandidateScore(candidate_id=cid, prompt_id=cid.split("/")[0], mean_score=s, num_valid=1, num_samples=1,
                          scores=[s], length_chars=1)


def _pair(pid, c, r):
    m = [Message(role="assistant", content="x")]
    return PreferencePair(id=pid, prompt=[Message(role="user", content="q")], chosen=m, rejected=m,
                          chosen_id=c, rejected_id=r, chosen_score=1.0, rejected_score=0.0)


def test_reference_agreement_counts_ties_half_and_skips_unscored():
    pairs = [
        _pair("a", "a/c0", "a/c1"),
        _pair("b", "b/c0", "b/c1"),
        _pair("c", "c/c0", "c/c1"),
        _pair("d", "d/c0", "d/c1"),
    ]
    ref = [_score("a/c0", 4), _score("a/c1", 1), _score("b/c0", 2), _score("b/c1", 2), _score("c/c0", 0),
           _score("c/c1", 3), _score("d/c0", 5)]  # d's rejected answer has no reference score
    assert reference_agreement(pairs, ref) == pytest.approx((1 + 0.5 + 0) / 3)


def test_figures_with_every_reference():
    cands = [_cand("a/c0", "x" * 30), _cand("a/c1", "x" * 10)]
    scores = [_score("a/c0", 5), _score("a/c1", 2)]
    f = figures(cands, scores, [_pair("a", "a/c0", "a/c1")], {"prompts": 1}, 5.0,
                prev_cands=[_cand("a/c0", "x" * 10)], prev_scores=[_score("a/c0", 3)],
                accuracy=0.55, prev_accuracy=0.7, reference_scores=[_score("a/c0", 1), _score("a/c1", 4)])
    assert f["length_ratio"] == 3.0 and f["length_growth"] == 2.0 and f["score_inflation"] == 0.5
    assert f["top_score_share"] == 0.5 and f["tie_rate"] == 0.0
    assert f["agreement_drop"] == pytest.approx(0.15) and f["reference_agreement"] == 0.0


@pytest.mark.parametrize("mode", ["warn", "stop", "rollback"])
def test_a_max_and_a_min_threshold_crossed(mode):
    fig = {"agreement_drop": 0.15, "reference_agreement": 0.25, "length_ratio": 1.0}
    logged = []
    if mode == "stop":
        with pytest.raises(GuardStop, match="agreement_drop = 0.150 > guard.max_agreement_drop = 0.1; "
                                            "reference_agreement = 0.250 < guard.min_reference_agreement = 0.5"):
            check(fig, GuardConfig(), mode, "iter_2/pairs", logged.append)
        return
    out = check(fig, GuardConfig(), mode, "iter_2/pairs", logged.append)
    assert out["crossed"] == 2 and out["checks"]["length_ratio"]["crossed"] is False
    assert out["rolled_back"] == (mode == "rollback")
    assert any("rollback" in line for line in logged) == (mode == "rollback")


def test_nothing_crossed_never_rolls_back():
    out = check({"length_ratio": 1.0}, GuardConfig(), "rollback", "s", lambda _: None)
    assert out["crossed"] == 0 and not out["rolled_back"]
    assert out["checks"]["reference_agreement"] == {"value": None, "threshold": 0.5, "crossed": False}
