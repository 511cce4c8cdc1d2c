import pytest

from srlm_nemo.verdicts import combine, parse_winner, summarise


@pytest.mark.parametrize("text,v", [("Winner: A", "A"), ("reasons...\nwinner: b", "B"), ("Winner: tie", "tie"),
                                     ("**Winner:** A", "A"), ("Winner: A\nOn reflection, Winner: B", "B"),
                                     ("A is better", None), ("", None)])
def test_parse_winner(text, v):
    assert parse_winner(text) == v


def test_both_orders_must_agree():
    # first: X shown as A; second: X shown as B
    assert combine("A", "B") == "win"
    assert combine("B", "A") == "loss"
    assert combine("A", "A") == "tie"     # position bias: the judge always picks the first
    assert combine("A", None) == "tie"    # unparseable verdict
    assert combine("tie", "tie") == "tie"


def test_summary_counts():
    s = summarise(["win", "win", "tie", "loss"], unparseable=1)
    assert (s["win"], s["tie"], s["loss"], s["prompts"]) == (2, 1, 1, 4)
    assert s["win_rate"] == 0.5 and s["win_rate_ties_half"] == 0.625
