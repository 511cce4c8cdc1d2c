"""Each metric on small cases worked out by hand (the arithmetic is in the comments)."""
import pytest

from srlm_nemo.rm_metrics import rm_metrics


def rows(spec):
    return [{"prompt_id": p, "reply_id": f"{p}{i}", "human_rank": r, "model_score": s}
            for p, reps in spec.items() for i, (r, s) in enumerate(reps)]


def test_perfect_prompt_and_a_wrong_one():
    m = rm_metrics(rows({
        "a": [(0, 5), (1, 3), (2, 1)],   # 3 pairs, all right; exact match; rho = tau = 1
        "b": [(0, 2), (1, 4)],           # 1 pair, wrong; not exact; rho = tau = -1
    }))
    assert m["pairwise_accuracy"] == pytest.approx(3 / 4)
    assert m["exact_match"] == pytest.approx(1 / 2)
    assert m["spearman"] == pytest.approx(0.0) and m["kendall"] == pytest.approx(0.0)   # (1 + -1) / 2
    assert m["five_best"] == pytest.approx(1.0)   # the only 5 is a rank-0 reply


def test_ties_nulls_and_equal_human_ranks():
    m = rm_metrics(rows({
        "a": [(0, 4), (1, 4), (2, 1)],     # pairs: (0,1) tie -> wrong, (0,2) right, (1,2) right
        "b": [(0, 5), (0, 3), (1, None)],  # equal ranks: no pair; the null reply is left out
        "c": [(0, 5), (1, 5)],             # tie -> wrong; both 5s, one rank 0
    }))
    # pairs: a gives 2 of 3, b none (same rank), c 0 of 1 -> 2/4
    assert m["pairwise_accuracy"] == pytest.approx(2 / 4)
    # exact: a no (tie across ranks), c no; b is left out: its replies share one human rank, so
    # there is no order to match (counting it as a match would be vacuous) -> 0/2
    assert m["exact_match"] == pytest.approx(0.0)
    # fives: b0 (rank 0), c0 (rank 0), c1 (rank 1) -> 2/3
    assert m["five_best"] == pytest.approx(2 / 3)
    # b: human side constant -> 0; c: model side constant -> 0;
    # a: scores (4,4,1) vs -rank (0,-1,-2): spearman of ranks (2.5,2.5,1) vs (3,2,1) = 0.8660254;
    #    kendall tau-b: concordant 2, discordant 0, ties in x 1 -> 2 / sqrt(2*3) = 0.8164966
    assert m["spearman"] == pytest.approx(0.8660254 / 3, abs=1e-6)
    assert m["kendall"] == pytest.approx(0.8164966 / 3, abs=1e-6)
    assert m["counts"]["unscored"] == 1 and m["counts"]["pairs"] == 4


def test_nothing_qualifies():
    m = rm_metrics(rows({"a": [(0, None), (1, 2)]}))
    assert m["pairwise_accuracy"] is None and m["exact_match"] is None and m["five_best"] is None


def test_cli_recomputes_from_a_scores_file(tmp_path):
    import json

    from .conftest import srlm
    f = tmp_path / "scores.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows({"a": [(0, 5), (1, 3)], "b": [(0, 1), (1, 2)]})))
    out = json.loads(srlm("eval", "rm-metrics", "--scores", str(f)).stdout)
    assert out["pairwise_accuracy"] == 0.5 and out["exact_match"] == 0.5 and out["five_best"] == 1.0
    assert set(out) >= {"pairwise_accuracy", "five_best", "exact_match", "spearman", "kendall", "counts"}
    f.write_text('{"prompt_id": "a", "reply_id": "x", "human_rank": 0}\n')
    p = srlm("eval", "rm-metrics", "--scores", str(f), check=False)
    assert p.returncode == 2 and "scores.jsonl:1: missing field(s) model_score" in p.stderr


@pytest.mark.parametrize("lines,message", [
    (['{"prompt_id": "a", "reply_id": "x", "human_rank": 0, "model_score": NaN}'],
     ":1: NaN is not a number JSON allows"),
    (['{"prompt_id": "a", "reply_id": "x", "human_rank": 0, "model_score": "four"}'], ":1: model_score must be"),
    (['{"prompt_id": "a", "reply_id": "x", "human_rank": "best", "model_score": 4}'], ":1: human_rank must be"),
    (['[1, 2]'], ":1: each line must be a JSON object, got list"),
    (['{"prompt_id": "a", "reply_id": "x", "human_rank": 0, "model_score": 4}', '',
      '{"prompt_id": "a", "reply_id": "x", "human_rank": 1, "model_score": 2}'],
     ":3: prompt_id 'a', reply_id 'x' again (first on line 1)"),
])
def test_cli_refuses_rows_that_would_change_the_metrics_silently(tmp_path, lines, message):
    from .conftest import srlm
    f = tmp_path / "scores.jsonl"
    f.write_text("\n".join(lines) + "\n")
    p = srlm("eval", "rm-metrics", "--scores", str(f), check=False)
    assert p.returncode == 2 and f"scores.jsonl{message}" in p.stderr and "Traceback" not in p.stderr
