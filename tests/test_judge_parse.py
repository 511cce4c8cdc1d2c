import pytest

from srlm_nemo.judge_parse import mean_valid, parse_score


@pytest.mark.parametrize("text,score,error", [
    ("Relevant and complete.\nScore: 4", 4.0, None),
    ("score: 3.5", 3.5, None),
    ("**Score:** 5", 5.0, None),
    ("First I thought Score: 2 but on reflection\nScore: 3", 3.0, None),  # last one wins
    ("Score: 7", None, "out_of_range"),
    ("Score: -1", None, "out_of_range"),
    ("Score: 4\nActually Score: 9", None, "out_of_range"),  # the last is the one judged
    ("I would give it four points.", None, "no_score"),
    ("   \n", None, "empty"),
    ("", None, "empty"),
    ("Score: 0", 0.0, None),
    ("Score: 4/5", 4.0, None),
    ("Score: 4 out of 5.", 4.0, None),
    ("Total.\nScore: 2 points", 2.0, None),
    ("Score: **3**", 3.0, None),
    # not a score on the rubric's own terms (each was read as one before)
    ("Underscore: 3", None, "no_score"),
    ("Score: 3 out of 10", None, "other_scale"),
    ("Score: 1e1", None, "malformed"),
    ("Score: \uff15", None, "malformed"),  # a fullwidth digit
    ("Score: 4 because it is good", None, "malformed"),
    ("Score: four", None, "malformed"),
])
def test_parse_score(text, score, error):
    p = parse_score(text)
    assert (p.score, p.error) == (score, error)


def test_custom_range():
    assert parse_score("Score: 8", 0, 10).score == 8.0


def test_mean_valid_ignores_failures():
    assert mean_valid([4.0, None, 2.0]) == (3.0, 2)
    assert mean_valid([None, None]) == (None, 0)
