import random

from srlm_nemo.rouge import RougePool
from srlm_nemo.self_instruct import PromptFilter, attempts_of, clean_task, sample_demos, split_generation
from srlm_nemo.templates import render


def test_sample_demos_six_plus_two():
    ift = [f"ift task {i}" for i in range(20)]
    gen = [f"generated task {i}" for i in range(5)]
    demos = sample_demos(ift, gen, 6, 2, random.Random(0))
    assert len(demos) == 8
    assert sum(d.startswith("generated") for d in demos) == 2
    # at the start nothing is generated yet: all 8 from IFT
    demos = sample_demos(ift, [], 6, 2, random.Random(0))
    assert len(demos) == 8 and all(d.startswith("ift") for d in demos)


def test_template_is_a_numbered_list_ending_open():
    text = render("self_instruct.j2", demos=["Do a", "Do b"])
    assert "1. Do a\n2. Do b\n3." in text and text.rstrip().endswith("3.")


def test_split_generation_numbering_and_answers():
    out = split_generation(' Explain how tides work. Answer: the moon\n10. "Name three rivers in Africa."\n'
                           'Output: Nile, Congo\n11) Write a poem')
    assert out == ["Explain how tides work.", "Name three rivers in Africa.", "Write a poem"]
    assert clean_task("  'Describe a sunset.'  ") == "Describe a sunset."


def _filter(pool=("Write a short poem about the sea",), **kw):
    return PromptFilter(RougePool(list(pool)), keywords=["image", "draw", "go to"], **kw)


def test_filters_each_reason_counted():
    f = _filter()
    assert f.check("write a short  poem about the SEA")[1] == "duplicate"
    assert f.check("Write a short poem about the sea.")[1] == "rouge_l"  # punctuation is not normalised
    assert f.check("Write a short poem about the blue sea")[1] == "rouge_l"
    assert f.check("Describe this image in detail please")[1] == "keyword"
    assert f.check("Please go to the shop for me")[1] == "keyword"
    assert f.check("Draw")[1] == "too_short"
    assert f.check(" ".join(["word"] * 151))[1] == "too_long"
    assert f.check("- list three colours of the rainbow")[1] == "starts_with_punctuation"
    assert f.check("Élaborez une liste de trois fruits")[1] == "starts_non_ascii"
    ok, reason, score, _ = f.check("Explain how a compass works in simple terms")
    assert ok and reason == "" and score <= 0.7
    assert f.check("explain how a  compass works in simple terms")[1] == "duplicate"  # kept ones join the pool
    assert f.counts["kept"] == 1 and f.counts["seen"] == 11
    assert sum(v for k, v in f.counts.items() if k.startswith("dropped_")) == 10


def test_keyword_matches_words_only():
    f = _filter()
    assert f.check("Summarise the imagery in this poem about roses")[0]  # 'imagery' is not 'image'


def test_non_ascii_start_is_configurable():
    f = _filter(drop_non_ascii_start=False)
    assert f.check("Élaborez une liste de trois fruits rouges")[0]


def test_a_completion_cut_by_the_token_limit_is_dropped_whole():
    """Self-Instruct (post_process_gpt3_response) returns nothing for a length-stopped completion:
    every task in it, not only the last, is recorded as truncated."""
    text = " Explain how tides work.\n2. Name three rivers in Africa.\n3. Describe the water cyc"
    assert [a.get("decision") for a in attempts_of(text, "length")] == ["truncated"] * 3
    assert [a.get("decision") for a in attempts_of(text, "stop")] == [None] * 3
    assert [a.get("decision") for a in attempts_of(text, "length", drop_truncated=False)] == [None] * 3


def test_write_a_program_tasks_are_dropped():
    filt = PromptFilter(RougePool(["Summarise the plot of a novel"]))
    assert filt.check("Write a program that sorts a list of numbers")[:2] == (False, "program_task")
    assert filt.check("write a program to print the primes below a hundred")[:2] == (False, "program_task")
    assert filt.check("Explain what a program counter does in a processor")[0]
