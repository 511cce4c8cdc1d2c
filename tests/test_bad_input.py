"""Bad input, as a hostile but realistic user gives it: every case ends in exit code 2 and one
line `srlm: error: <file>:<line>: ...` or `srlm: error: <key>: ...` naming what is wrong, never
a traceback, and touches no finished work (tests/test_loop_scripted.py checks that part on a
finished run). Run in-process through `srlm_nemo.cli.main`, so an uncaught exception fails the
case with its traceback."""
import json
from pathlib import Path

import pytest

from srlm_nemo.cli import main

TINY = ["experiment=tiny"]
ROW = {"prompt_id": "a", "reply_id": "x", "human_rank": 0, "model_score": 4}

# (id, overrides on top of experiment=tiny, the key the message must name)
OVERRIDES = [
    ("negative lr", "dpo.learning_rate=-1e-3", "dpo.learning_rate: must be > 0"),
    ("zero lr", "sft.learning_rate=0", "sft.learning_rate: must be > 0"),
    ("min lr above lr", "sft.min_learning_rate=1.0", "sft.min_learning_rate: must be in [0, sft.learning_rate]"),
    ("zero candidate shards", "candidates.shard_size=0", "candidates.shard_size: must be >= 1"),
    ("zero judge shards", "judge.shard_size=0", "judge.shard_size: must be >= 1"),
    ("no IFT", "seed.num_ift=0", "seed.num_ift: must be >= 1"),
    ("dropout 1.5", "sft.dropout=1.5", "sft.dropout: must be in [0, 1)"),
    ("beta 0", "dpo.beta=0", "dpo.beta: must be > 0"),
    ("zero global batch", "sft.global_batch_size=0", "sft.global_batch_size: must be >= 1"),
    ("zero micro batch", "dpo.micro_batch_size=0", "dpo.micro_batch_size: must be >= 1"),
    ("batch not divisible", "sft.global_batch_size=6", "sft.global_batch_size: must be divisible"),
    ("no prompts", "prompts.num_prompts=0", "prompts.num_prompts: must be >= 1"),
    ("no requests", "prompts.requests_per_round=0", "prompts.requests_per_round: must be >= 1"),
    ("k 0", "judge.k=0", "judge.k: must be >= 1"),
    ("one candidate", "candidates.n=1", "candidates.n: must be >= 2"),
    ("rouge above 1", "prompts.rouge_threshold=1.5", "prompts.rouge_threshold: must be in (0, 1]"),
    ("top_p 0", "candidates.top_p=0", "candidates.top_p: must be in (0, 1]"),
    ("negative temperature", "judge.temperature=-1", "judge.temperature: must be >= 0"),
    ("no iterations", "run.iterations=0", "run.iterations: must be >= 1"),
    ("unknown backend", "generation.name=nope", "generation.name: one of vllm, hf, openai"),
    ("unknown trainer", "training.name=nope", "training.name: one of trl, nemo_aligner"),
    ("misspelt with +", "+candidates.temprature=0.0", "unknown configuration key(s): candidates.temprature"),
    ("misspelt", "judge.kk=3", "judge.kk"),
    ("trees without a path", "seed.source=oasst_trees", "seed.path: required"),
    ("a key as variable name", "generation.api_key_env=sk-abc-123", "generation.api_key_env: must name"),
    (
        "max words below min",
        "prompts.min_words=10 prompts.max_words=5",
        "prompts.max_words: must be >= prompts.min_words",
    ),
    ("empty score range", "judge.max_score=0", "judge.min_score: must be < judge.max_score"),
    ("unknown selection", "dpo.select=best", "dpo.select: one of auto, last, external, self"),
    ("zero context", "model.max_model_len=0", "model.max_model_len: must be >= 1"),
    ("zero eval tokens", "eval.max_new_tokens=0", "eval.max_new_tokens: must be >= 1"),
    ("no epochs", "sft.max_steps=-1 sft.epochs=0", "sft.epochs: must be > 0"),
    ("zero warmup allowed, negative not", "dpo.warmup_steps=-1", "dpo.warmup_steps: must be >= 0"),
    ("one reply is no ranking", "seed.min_replies=1", "seed.min_replies: must be >= 2"),
    (
        "too many replicas",
        "cluster=dgx_h100_example generation.replicas_per_node=9",
        "generation.replicas_per_node: 9 replicas",
    ),
    ("bad layout", "experiment=llama2_70b_h100 sft.parallel.tensor_parallel=3", "sft.parallel.tensor_parallel"),
]


@pytest.mark.parametrize("override,message", [(o, m) for _, o, m in OVERRIDES], ids=[i for i, _, _ in OVERRIDES])
def test_a_bad_setting_names_its_key(override, message, capsys):
    assert main(["plan", *TINY, *override.split()]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlm: error: ") and message in err, err


def _scores(tmp: Path, *lines: str) -> Path:
    f = tmp / "scores.jsonl"
    f.write_text("\n".join(lines) + "\n")
    return f


def _cands(tmp: Path) -> tuple[Path, Path]:
    pool, cands = tmp / "pool.jsonl", tmp / "cands.jsonl"
    pool.write_text(json.dumps({"instruction": "Write a poem"}) + "\n")
    cands.write_text(json.dumps({"prompt": "Explain tides"}) + "\n")
    return pool, cands


def _filter(tmp, *extra):
    pool, cands = _cands(tmp)
    return ["prompts", "filter", "--pool", str(pool), "--candidates", str(cands), *extra]


def _trees(tmp: Path, text: str) -> list[str]:
    f = tmp / "trees.jsonl"
    f.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return ["run", *TINY, "seed.source=oasst_trees", f"seed.path={f}", f"run.run_dir={tmp}/run", "model=hf_dir",
            f"model.path={tmp}/model"]


def _tree(reply_text) -> str:
    return json.dumps({"prompt": {"message_id": "p", "text": "Q?", "role": "prompter", "lang": "en", "replies": [
        {"message_id": "r", "text": reply_text, "role": "assistant", "rank": 0}]}})


# (id, argv built in a temporary folder, the message; `{tmp}` is that folder)
COMMANDS = [
    (
        "threshold 1.5",
        lambda t: _filter(t, "--out", f"{t}/k.jsonl", "--threshold", "1.5"),
        "--threshold: must be in (0, 1]",
    ),
    (
        "threshold nan",
        lambda t: _filter(t, "--out", f"{t}/k.jsonl", "--threshold", "nan"),
        "--threshold: must be in (0, 1]",
    ),
    ("out onto the input", lambda t: _filter(t, "--out", f"{t}/cands.jsonl"), "is the --candidates input"),
    ("out onto a directory", lambda t: _filter(t, "--out", str(t)), "is a directory"),
    ("out under a file", lambda t: _filter(t, "--out", f"{t}/pool.jsonl/k.jsonl"), "pool.jsonl/k.jsonl"),
    (
        "scores NaN",
        lambda t: ["eval", "rm-metrics", "--scores", str(_scores(t, json.dumps(ROW).replace("4}", "NaN}")))],
        "scores.jsonl:1: NaN is not a number JSON allows",
    ),
    (
        "scores twice",
        lambda t: ["eval", "rm-metrics", "--scores", str(_scores(t, json.dumps(ROW), json.dumps(ROW)))],
        "scores.jsonl:2: prompt_id 'a', reply_id 'x' again",
    ),
    (
        "rank best",
        lambda t: ["eval", "rm-metrics", "--scores", str(_scores(t, json.dumps({**ROW, "human_rank": "best"})))],
        "scores.jsonl:1: human_rank",
    ),
    (
        "score four",
        lambda t: ["eval", "rm-metrics", "--scores", str(_scores(t, json.dumps({**ROW, "model_score": "four"})))],
        "scores.jsonl:1: model_score",
    ),
    (
        "scores a list",
        lambda t: ["eval", "rm-metrics", "--scores", str(_scores(t, "[1, 2]"))],
        "scores.jsonl:1: each line must be a JSON object",
    ),
    (
        "scores malformed",
        lambda t: ["eval", "rm-metrics", "--scores", str(_scores(t, "{"))],
        "scores.jsonl:1: malformed JSON",
    ),
    (
        "scores missing",
        lambda t: ["eval", "rm-metrics", "--scores", f"{t}/none.jsonl"],
        "none.jsonl: file does not exist",
    ),
    (
        "unknown stage",
        lambda t: ["stage", "nope", *TINY, f"run.run_dir={t}/run", "model=hf_dir", f"model.path={t}/model"],
        "unknown stage 'iter_2/nope'",
    ),
    (
        "worker outside Slurm",
        lambda t: ["stage", "judge", "--shard-worker", *TINY, f"run.run_dir={t}/run"],
        "--shard-worker outside a Slurm step needs --rank and --world",
    ),
    ("report of nothing", lambda t: ["report", f"{t}/nope"], "run directory does not exist"),
    ("status of nothing", lambda t: ["status", f"{t}/nope"], "run directory does not exist"),
    (
        "report onto a file",
        lambda t: (Path(t, "run").mkdir(), Path(t, "run", ".srlm.lock").write_text(""),
                   Path(t, "run", "report").write_text(""), ["report", f"{t}/run"])[-1],
        "run/report",
    ),
    (
        "run dir under a file",
        lambda t: (
            Path(t, "f").write_text(""),
            ["run", *TINY, f"run.run_dir={t}/f/run", "model=hf_dir", f"model.path={t}/model"],
        )[-1],
        "f/run",
    ),
    ("model path missing", lambda t: ["plan", *TINY, "model=hf_dir", f"model.path={t}/nope"], "model.path"),
    (
        "mtbench questions",
        lambda t: (
            Path(t, "q.jsonl").write_text('{"question_id": 1, "turns": "x"}\n'),
            [
                "eval",
                "mtbench",
                "--model",
                f"{t}/model",
                "--questions",
                f"{t}/q.jsonl",
                *TINY,
                f"run.run_dir={t}/run",
                f"eval.judge={t}/model",
            ],
        )[-1],
        "q.jsonl:1: an MT-Bench question needs",
    ),
    (
        "h2h prompts missing",
        lambda t: [
            "eval",
            "h2h",
            "--a",
            f"{t}/model",
            "--b",
            f"{t}/model",
            "--prompts",
            f"{t}/none.json",
            *TINY,
            f"run.run_dir={t}/run",
            f"eval.judge={t}/model",
        ],
        "none.json: file does not exist",
    ),
    ("tree reply null", lambda t: _trees(t, _tree(None)), "trees.jsonl:1: message 'r' has a text that is not a string"),
    ("tree reply a number", lambda t: _trees(t, _tree(5)), "trees.jsonl:1: message 'r' has a text"),
    ("tree not JSON", lambda t: _trees(t, "{\n"), "trees.jsonl:1: malformed JSON"),
    ("tree not UTF-8", lambda t: _trees(t, b'{"prompt": "\xff"}\n'), "trees.jsonl:1: not valid UTF-8"),
    ("tree without prompt", lambda t: _trees(t, '{"x": 1}'), "trees.jsonl:1: expected an object with a 'prompt' tree"),
    ("tree message a list", lambda t: _trees(t, '{"prompt": [1]}'), "trees.jsonl:1: a message must be an object"),
]


@pytest.mark.parametrize("build,message", [(b, m) for _, b, m in COMMANDS], ids=[i for i, _, _ in COMMANDS])
def test_a_bad_file_or_argument_names_it(tmp_path, build, message, capsys):
    from srlm_nemo.tiny import build_tiny_model
    build_tiny_model(tmp_path / "model", ["a few words of text"] * 4)  # so a run gets as far as its input
    argv = build(tmp_path)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # after the log of what ran before the bad input was met
    assert last.startswith("srlm: error: ") and message in last, err


def test_there_are_at_least_forty_cases():
    assert len(OVERRIDES) + len(COMMANDS) >= 40
