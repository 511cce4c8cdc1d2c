"""Property-based fuzzing of every user-facing reader (issue 26): generated malformed overrides and
files go through the real entry point (`srlm_nemo.cli.main`, in process, so an uncaught exception
fails the test with its traceback). The contract for any input: exit 0, or exit 2 with one line
`srlm: error: ...`; nothing written outside the test's folder. Bounded (a few dozen examples each,
derandomized so CI sees the same cases) to keep `make test` short; `SRLM_FUZZ_EXAMPLES=N` runs more."""
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srlm_nemo.cli import main
from srlm_nemo.config import Config
from srlm_nemo.knobs import walk

EXAMPLES = int(os.environ.get("SRLM_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
KEYS = [key for key, _, _ in walk(Config())] + ["judge.kk", "experiment", "model", "generation", "nope"]
NASTY = ["", "inf", "-inf", "nan", "1e400", "-1", "0", "99999999999999999999999", "null", "~", "[]", "{}", "'",
         "${x}", "${oc.env:SRLM_FUZZ_UNSET}", "true", "2", "/", "..", "sk-live0123456789abcdef", "\u00e9\u0301", "a=b"]
VALUES = st.one_of(st.sampled_from(NASTY), st.text(max_size=12), st.integers(), st.floats(allow_nan=True))


def _one_line_error(code: int, err: str) -> None:
    """Exit 0, or 2 with exactly one error line, the last (a stage's progress lines may precede it)."""
    assert code in (0, 2) and "Traceback" not in err, err
    if code == 2:
        errors = [line for line in err.splitlines() if line.startswith("srlm: error: ")]
        assert len(errors) == 1 and err.rstrip("\n").splitlines()[-1] == errors[0], err


@FUZZ
@given(key=st.sampled_from(KEYS), value=VALUES, prefix=st.sampled_from(["", "+", "~", "++"]))
def test_any_override_is_planned_or_refused_in_one_line(key, value, prefix, tmp_path_factory, capsys):
    run = tmp_path_factory.mktemp("fuzz") / "run"
    code = main(["plan", "experiment=tiny", f"run.run_dir={run}", f"{prefix}{key}={value}"])
    _one_line_error(code, capsys.readouterr().err)
    assert not run.exists()  # planning writes nothing


LINES = st.one_of(
    st.text(max_size=40),
    st.builds(json.dumps, st.dictionaries(st.sampled_from(["prompt_id", "reply_id", "human_rank", "model_score",
                                                           "instruction", "prompt", "x"]),
                                          st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                                                    st.text(max_size=8), st.lists(st.integers(), max_size=2)),
                                          max_size=5)),
    st.builds(json.dumps, st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=5))),
)
FILES = st.one_of(st.lists(LINES, max_size=6).map(lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass")),
                  st.binary(max_size=60))


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@FUZZ
@given(data=FILES)
def test_any_scores_file_is_measured_or_refused_in_one_line(data, tmp_path_factory, capsys):
    folder = tmp_path_factory.mktemp("fuzz")
    code = main(["eval", "rm-metrics", "--scores", str(_write(folder, "scores.jsonl", data))])
    _one_line_error(code, capsys.readouterr().err)


@FUZZ
@given(pool=FILES, candidates=FILES)
def test_any_prompt_files_are_filtered_or_refused_in_one_line(pool, candidates, tmp_path_factory, capsys):
    folder = tmp_path_factory.mktemp("fuzz")
    out = folder / "kept.jsonl"
    code = main(["prompts", "filter", "--pool", str(_write(folder, "pool.jsonl", pool)),
                 "--candidates", str(_write(folder, "cands.jsonl", candidates)), "--out", str(out)])
    _one_line_error(code, capsys.readouterr().err)
    assert {p.name for p in folder.iterdir()} <= {"cands.jsonl", "kept.jsonl", "pool.jsonl"}


TREES = st.one_of(FILES, st.lists(st.builds(json.dumps, st.fixed_dictionaries({"prompt": st.fixed_dictionaries({
    "message_id": st.one_of(st.none(), st.text(max_size=3), st.integers()),
    "text": st.one_of(st.text(max_size=20), st.none()), "role": st.sampled_from(["prompter", "assistant", "x"]),
    "lang": st.sampled_from(["en", "de", None]),
    "replies": st.lists(st.fixed_dictionaries({
        "message_id": st.one_of(st.text(max_size=3), st.none()), "text": st.text(max_size=20),
        "role": st.sampled_from(["assistant", "prompter"]),
        "rank": st.one_of(st.none(), st.integers(-2, 3), st.floats(allow_nan=True), st.text(max_size=2))}),
        max_size=3)})})), max_size=4).map(lambda ls: "\n".join(ls).encode()))


@pytest.mark.parametrize("kind", ["oasst"])
@FUZZ
@given(data=TREES)
def test_any_oasst_export_seeds_or_is_refused_in_one_line(kind, data, tmp_path_factory, capsys):
    folder = tmp_path_factory.mktemp("fuzz")
    export = _write(folder, "trees.jsonl", data)
    code = main(["stage", "seed", "experiment=tiny", "seed.source=oasst_trees", f"seed.path={export}",
                 f"run.run_dir={folder}/run", "seed.num_eval_trees=1", "seed.num_ranked_pool=1"])
    _one_line_error(code, capsys.readouterr().err)
    assert {p.name for p in folder.iterdir()} <= {"run", "trees.jsonl"}


CANDIDATE = {"id": "p/c0", "prompt_id": "p", "prompt": "q", "index": 0, "text": "a", "num_tokens": 1, "model": "M1",
             "sampling": {"n": 1, "temperature": 0.7, "top_p": 0.9, "max_tokens": 8}}
FIELD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=6),
                         st.just({}), st.just([]))
CANDIDATE_LINES = st.lists(st.one_of(
    st.builds(lambda k, v: json.dumps({**CANDIDATE, k: v}), st.sampled_from(sorted(CANDIDATE)), FIELD_VALUES),
    st.just(json.dumps(CANDIDATE)), LINES), max_size=5).map(lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass"))


@FUZZ
@given(data=st.one_of(CANDIDATE_LINES, FILES))
def test_any_run_artifact_is_read_or_refused_naming_file_and_line(data, tmp_path_factory):
    """The reader every stage's inputs go through (`read_jsonl` with the artifact's record type):
    valid records, or one ArtifactError that starts with the file (and its line)."""
    from srlm_nemo.artifacts import ArtifactError, read_jsonl
    from srlm_nemo.schemas import Candidate
    path = _write(tmp_path_factory.mktemp("fuzz"), "candidates.jsonl", data)
    try:
        records = read_jsonl(path, Candidate)
    except ArtifactError as e:
        assert str(e).startswith(f"{path}:") and "\n" not in str(e), e
    else:
        assert len({r.id for r in records}) == len(records)  # a repeated id is never accepted
