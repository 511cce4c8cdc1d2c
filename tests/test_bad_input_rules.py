"""Hostile input, second round (issue 26): the rules that the first round's cases were missing,
each written once where every caller goes through it. Config: deleting keys, null groups, broken
interpolations, bools that are not true/false, numbers that are not finite or do not fit, token
budgets beyond the context, templates that do not compile, secrets echoed back. Paths: outputs
that are not regular files, run directories that are not ours, `status`/`report` on folders no
run used, iterations that do not exist. Each ends in exit 2, one line naming the key or path, and
nothing touched."""
import gzip
import os
from pathlib import Path

import pytest

from srlm_nemo.cli import main

TINY = ["experiment=tiny"]

# (id, override on top of experiment=tiny, what the one-line message must say)
OVERRIDES = [
    ("deleted section", "~judge", "~judge: deleting a key resets it"),
    ("missing interpolation", "judge.k=${missing.key}", "judge.k: Interpolation key 'missing.key' not found"),
    ("unset variable", "run.run_dir=${oc.env:SRLM_SURELY_UNSET_VARIABLE}", "run.run_dir: "),
    ("null experiment", "experiment=null", "experiment: name one of the files in conf/experiment/"),
    ("unknown model file", "model=nope", "Could not find 'model/nope' (Available options in 'model': hf_dir"),
    ("bool 2", "training.bf16=2", "training.bf16: true or false, got '2'"),
    ("bool yes", "eval.rm=yes", "eval.rm: true or false"),
    ("int not a number", "judge.k=abc", "judge.k: Error merging override"),
    ("inf learning rate", "sft.learning_rate=inf", "sft.learning_rate: must be a finite number"),
    ("inf beta", "dpo.beta=inf", "dpo.beta: must be a finite number"),
    ("inf temperature", "candidates.temperature=inf", "candidates.temperature: must be a finite number"),
    ("nan top_p", "judge.top_p=nan", "judge.top_p: must be a finite number"),
    ("k beyond int64", "judge.k=99999999999999999999999", "judge.k: must be at most 2,147,483,647"),
    ("answers longer than the context", "candidates.max_new_tokens=100000",
     "candidates.max_new_tokens: 100000 tokens leave no room for a prompt"),
    ("judgements as long as the context", "judge.max_new_tokens=2048", "judge.max_new_tokens: 2048 tokens"),
    ("empty run dir", "run.run_dir=", "run.run_dir: must name a folder of its own"),
    ("root run dir", "run.run_dir=/", "run.run_dir: must name a folder of its own"),
]


@pytest.mark.parametrize("override,message", [(o, m) for _, o, m in OVERRIDES], ids=[i for i, _, _ in OVERRIDES])
def test_a_bad_setting_is_one_line_naming_its_key(override, message, capsys):
    assert main(["plan", *TINY, override]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlm: error: ") and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("override", ["generation.api_key=sk-live0123456789abcdef",
                                      "+generation.hf_token=hf_abcdefghijklmnop0123",
                                      "eval.judge_api_key_env=sk-live0123456789abcdef"])
def test_a_secret_typed_in_an_override_is_not_printed_back(override, capsys):
    assert main(["plan", *TINY, override]) == 2
    err = capsys.readouterr().err
    secret = override.split("=", 1)[1]
    assert err.startswith("srlm: error: ") and secret not in err and err.count("\n") == 1, err


def test_a_template_that_does_not_compile_is_refused_when_the_config_loads(tmp_path, capsys):
    broken = tmp_path / "judge.j2"
    broken.write_text("Rate this.\n{{ question }\n{% if %}\n")
    assert main(["plan", *TINY, f"judge.template={broken}", f"run.run_dir={tmp_path}/run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"srlm: error: judge.template: {broken}:2: ") and not (tmp_path / "run").exists(), err


def _filter(tmp: Path, out: Path) -> list[str]:
    pool = tmp / "pool.jsonl"
    pool.write_text('{"instruction": "Write a poem about the sea"}\n')
    return ["prompts", "filter", "--pool", str(pool), "--candidates", str(pool), "--out", str(out)]


def test_an_output_onto_a_fifo_or_symlink_is_refused_and_left_alone(tmp_path, capsys):
    fifo, target, link = tmp_path / "fifo", tmp_path / "target.txt", tmp_path / "link"
    os.mkfifo(fifo)
    target.write_text("precious\n")
    link.symlink_to(target)
    for out, kind in ((fifo, "is not a regular file"), (link, "is a symlink")):
        assert main(_filter(tmp_path, out)) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"srlm: error: {out}: exists and {kind}"), err
    assert fifo.is_fifo() and link.is_symlink() and target.read_text() == "precious\n"


def test_an_output_onto_a_device_node_is_refused_and_left_alone(tmp_path, capsys):
    """As root, `--out /dev/full` once turned the device node into a regular file. A node of our
    own (the same major/minor as /dev/full, made in the test's folder) stands in for it."""
    import stat
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root (CI runs as root)")
    dev = tmp_path / "full"
    os.mknod(dev, stat.S_IFCHR | 0o600, os.makedev(1, 7))
    assert main(_filter(tmp_path, dev)) == 2
    assert capsys.readouterr().err.startswith(f"srlm: error: {dev}: exists and is not a regular file")
    assert stat.S_ISCHR(dev.lstat().st_mode)


def test_a_folder_that_is_no_run_directory_is_never_written_into(tmp_path, capsys):
    mine = tmp_path / "my_project"
    mine.mkdir()
    (mine / "config.yaml").write_text("my own settings\n")
    assert main(["stage", "seed", f"run.run_dir={mine}"]) == 2
    assert "is not a srlm run directory" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["config.yaml"]
    assert (mine / "config.yaml").read_text() == "my own settings\n"


def test_status_and_report_only_on_run_directories(tmp_path, capsys):
    plain = tmp_path / "plain"
    plain.mkdir()
    (tmp_path / "file.txt").write_text("x")
    for argv in (["status", str(tmp_path / "file.txt")], ["status", str(plain)], ["report", str(plain)]):
        assert main(argv) == 2
        assert "not a srlm run directory" in capsys.readouterr().err
    assert not any(plain.iterdir())  # no report/ written into it


@pytest.mark.parametrize("argv,message", [
    (["stage", "judge", "-i", "0"], "-i 0: iterations of the loop start at 2"),
    (["stage", "judge", "-i", "1"], "-i 1: iterations of the loop start at 2"),
    (["cluster", "steps", "--part", "iteration", "--iteration", "0"], "--iteration 0: auto, or an iteration"),
    (["cluster", "steps", "--part", "iteration", "--iteration", "-1"], "--iteration -1: auto, or an iteration"),
    (["cluster", "steps", "--part", "iteration", "--iteration", "99"], "--iteration 99: auto, or an iteration"),
    (["cluster", "steps", "--part", "iteration", "--iteration", "abc"], "--iteration abc: auto, or an iteration"),
])
def test_an_iteration_that_does_not_exist_is_refused(argv, message, capsys, tmp_path):
    assert main([*argv, *TINY, f"run.run_dir={tmp_path}/run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlm: error: ") and message in err, err
    assert not (tmp_path / "run").exists()


def test_training_that_diverges_fails_and_leaves_no_model(tiny_model, tmp_path, capsys):
    """A learning rate that is finite but absurd: the loss or the weights stop being numbers; the
    SFT stage fails, no model is saved and no manifest says it is done."""
    run = tmp_path / "run"
    argv = [*TINY, "model=hf_dir", f"model.path={tiny_model}", f"run.run_dir={run}", "generation=hf",
            "sft.learning_rate=1e30", "sft.min_learning_rate=0"]
    assert main(["stage", "seed", *argv]) == 0
    capsys.readouterr()
    assert main(["stage", "sft", *argv]) == 2
    err = capsys.readouterr().err
    assert "srlm: error: " in err and ("training diverged" in err or "non-finite weights" in err), err[-2000:]
    assert not (run / "sft" / "model").exists() and not (run / "sft" / "manifest.json").exists()


@pytest.mark.parametrize("content,message", [
    (lambda: gzip.compress(b'{"prompt": {"message_id": "p", "text": "Q?", "role": "prompter"}}\n' * 50)[:40],
     "not a complete gzip file"),
    (lambda: b"", "no trees in it"),
    (lambda: b"\n\n", "no trees in it"),
])
def test_a_cut_or_empty_oasst_export_is_refused_before_the_seed_stage_runs(content, message, tmp_path, capsys):
    export = tmp_path / "trees.jsonl.gz"
    export.write_bytes(content())
    argv = ["stage", "seed", *TINY, "seed.source=oasst_trees", f"seed.path={export}", f"run.run_dir={tmp_path}/run"]
    assert main(argv) == 2
    err = capsys.readouterr().err.rstrip("\n").splitlines()[-1]
    assert err.startswith(f"srlm: error: {export}: {message}"), err
    assert not (tmp_path / "run" / "seed" / "manifest.json").exists()


@pytest.mark.parametrize("name,data,message", [
    ("p.json", b'[{"instruction": "x"}', "p.json:1: malformed JSON"),
    ("p.json", b"\xff\xfe[]", "p.json: not valid UTF-8"),
    ("p.json", b"[]", "p.json: no instructions in it"),
    ("p.json", b'{"instruction": "x"}', "p.json: expected a JSON list of instructions"),
    ("p.jsonl", b"", "p.jsonl: no instructions in it"),
    ("p.jsonl", b'{"instruction": null}\n', "p.jsonl:1: needs a non-empty string field"),
])
def test_instruction_files_are_read_by_one_strict_reader(name, data, message, tmp_path):
    from srlm_nemo.artifacts import ArtifactError
    from srlm_nemo.evaluate import load_instructions
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ArtifactError, match="^" + str(tmp_path / message.split(":")[0]).replace(".", r"\.")) as e:
        load_instructions(tmp_path / name)
    assert message.split(":", 1)[1].strip() in str(e.value)


@pytest.mark.parametrize("lines,message", [
    ([], "no questions in it"),
    (['{"question_id": 1, "turns": ["a"]}', '{"question_id": 1, "turns": ["b"]}'], ":2: question_id 1 again"),
    (['{"question_id": null, "turns": ["a"]}'], ":1: an MT-Bench question needs"),
    (['{"question_id": {"x": 1}, "turns": ["a"]}'], ":1: an MT-Bench question needs"),
    (['{"question_id": 3, "turns": []}'], ":1: an MT-Bench question needs"),
])
def test_mt_bench_questions_have_ids_once_and_turns(lines, message, tmp_path):
    from srlm_nemo.artifacts import ArtifactError
    from srlm_nemo.evaluate import load_mt_questions
    f = tmp_path / "question.jsonl"
    f.write_text("".join(line + "\n" for line in lines))
    with pytest.raises(ArtifactError) as e:
        load_mt_questions(f)
    assert str(e.value).startswith(str(f)) and message in str(e.value)


def test_a_bad_prompts_file_is_refused_before_the_finished_stage_is_touched(tmp_path):
    """Validate before wipe: a head-to-head whose prompts file went bad since it finished keeps
    its manifest and outputs (the runner removes a stale stage's manifest only after the stage's
    own readers accepted its files)."""
    from types import SimpleNamespace

    from srlm_nemo.artifacts import ArtifactError
    from srlm_nemo.pipeline import Stage, run_stage
    from srlm_nemo.stages import VALIDATORS
    run = tmp_path / "run"
    d = run / "eval" / "h2h" / "M2_vs_M1"
    d.mkdir(parents=True)
    prompts = tmp_path / "prompts.json"
    prompts.write_text('[{"instruction": "Explain tides"}')  # cut short
    (d / "manifest.json").write_text('{"fingerprint": "from the finished run", "stats": {}}')
    (d / "answers.jsonl").write_text("{}\n")
    stage = Stage("eval/h2h/M2_vs_M1", "h2h", d, config={}, inputs={"prompts": prompts},
                  outputs={"answers": d / "answers.jsonl"})
    ctx = SimpleNamespace(run_dir=run, shard_worker=None, log=lambda msg: None)
    with pytest.raises(ArtifactError, match="malformed JSON"):
        run_stage(stage, ctx, lambda *a: pytest.fail("the stage must not run"), VALIDATORS["h2h"])
    assert (d / "manifest.json").read_text().startswith('{"fingerprint": "from the finished run"')
    assert (d / "answers.jsonl").exists()


def test_an_unreachable_server_is_refused_before_the_first_stage(tmp_path, capsys):
    """generation=openai at a loopback port where nothing listens: the probe fails before seed runs."""
    run = tmp_path / "run"
    code = main(["stage", "seed", *TINY, "generation=openai", "generation.base_url=http://127.0.0.1:9/v1",
                 f"run.run_dir={run}"])
    err = capsys.readouterr().err
    assert code == 2 and "generation.base_url=http://127.0.0.1:9/v1: no server answers there" in err, err
    assert not (run / "seed" / "manifest.json").exists()


def test_an_unset_key_is_an_error_except_for_a_server_on_this_machine(monkeypatch):
    from srlm_nemo.artifacts import ArtifactError
    from srlm_nemo.endpoints import api_key
    monkeypatch.delenv("SRLM_TEST_KEY", raising=False)
    assert api_key("SRLM_TEST_KEY", "http://127.0.0.1:8000/v1") == "EMPTY"
    assert api_key("SRLM_TEST_KEY", "http://localhost:8000/v1") == "EMPTY"
    with pytest.raises(ArtifactError, match="SRLM_TEST_KEY is not set"):
        api_key("SRLM_TEST_KEY", "https://api.example.com/v1")  # no request is made
    monkeypatch.setenv("SRLM_TEST_KEY", "k")
    assert api_key("SRLM_TEST_KEY", "https://api.example.com/v1") == "k"


def test_a_key_shaped_variable_name_is_refused_and_not_echoed(capsys):
    assert main(["plan", *TINY, "generation.api_key_env=hf_abcdefghijklmnop0123"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlm: error: generation.api_key_env: must name an environment variable") and \
        "hf_abcdefghijklmnop0123" not in err


def test_an_unreadable_manifest_is_reported_by_status_and_the_summary(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["stage", "seed", *TINY, f"run.run_dir={run}"]) == 0
    (run / "seed" / "manifest.json").write_text("{not json")
    capsys.readouterr()
    assert main(["status", str(run)]) == 0
    assert "unreadable seed/manifest.json" in capsys.readouterr().out
    from srlm_nemo.summary import write_summary
    assert "Unreadable manifests** (these stages count as not done): seed" in write_summary(run).read_text()
    assert main(["report", str(run)]) == 0
    assert "Unreadable manifests** (these stages count as not done): seed" in (run / "report" / "index.md").read_text()


def _export_line(**reply) -> str:
    import json
    return json.dumps({"prompt": {"message_id": "p", "text": "Why is the sky blue?", "role": "prompter", "lang": "en",
                                  "replies": [{"message_id": "r", "text": "Rayleigh scattering.", "role": "assistant",
                                               "rank": 0, **reply}]}}) + "\n"


@pytest.mark.parametrize("reply,message", [
    ({"rank": 0.9}, "rank must be an integer >= 0"),
    ({"rank": -3}, "rank must be an integer >= 0"),
    ({"rank": float("inf")}, "rank must be an integer >= 0"),
    ({"rank": True}, "rank must be an integer >= 0"),
    ({"deleted": "false"}, "deleted must be true or false, got 'false'"),
    ({"message_id": None}, "message_id must be a non-empty string, got None"),
    ({"message_id": {"id": 1}}, "message_id must be a non-empty string"),
])
def test_oasst_fields_are_read_by_their_rules(reply, message, tmp_path):
    from srlm_nemo.artifacts import ArtifactError
    from srlm_nemo.oasst import read_trees
    export = tmp_path / "trees.jsonl"
    export.write_text(_export_line(**reply))
    with pytest.raises(ArtifactError) as e:
        read_trees(export)
    assert str(e.value).startswith(f"{export}:1: ") and message in str(e.value)


def test_an_integral_float_rank_is_a_rank(tmp_path):
    from srlm_nemo.oasst import read_trees
    export = tmp_path / "trees.jsonl"
    export.write_text(_export_line(rank=1.0))
    assert read_trees(export)[0].replies[0].rank == 1


# (id, a JSONL line of a run's scores file, what the message must say)
SCORE_LINES = [
    ("400-digit integer", '{"prompt_id": "p", "reply_id": "a", "human_rank": 0, "model_score": 1' + "0" * 400 + "}",
     "digits) is beyond a float's range"),
    ("1e400", '{"prompt_id": "p", "reply_id": "a", "human_rank": 0, "model_score": 1e400}',
     "the number 1e400 is beyond a float's range"),
    ("NaN", '{"prompt_id": "p", "reply_id": "a", "human_rank": 0, "model_score": NaN}',
     "NaN is not a number JSON allows"),
    ("null id", '{"prompt_id": null, "reply_id": "a", "human_rank": 0, "model_score": 1}',
     "prompt_id must be a non-empty string, got None"),
    ("object id", '{"prompt_id": "p", "reply_id": {"x": 1}, "human_rank": 0, "model_score": 1}',
     "reply_id must be a non-empty string, got {'x': 1}"),
]


def test_an_empty_scores_file_is_an_error_not_null_metrics(tmp_path, capsys):
    scores = tmp_path / "scores.jsonl"
    scores.write_text("\n")
    assert main(["eval", "rm-metrics", "--scores", str(scores)]) == 2
    assert capsys.readouterr().err == f"srlm: error: {scores}: no scores in it\n"


@pytest.mark.parametrize("line,message", [(x, m) for _, x, m in SCORE_LINES], ids=[i for i, _, _ in SCORE_LINES])
def test_numbers_are_finite_and_ids_are_strings_in_every_jsonl_file(line, message, tmp_path, capsys):
    """The JSON reader every command uses: NaN, Infinity, 1e400 and integers no float holds are
    errors naming file and line (not inf, not an OverflowError); ids are non-empty strings."""
    scores = tmp_path / "scores.jsonl"
    scores.write_text('{"prompt_id": "p", "reply_id": "b", "human_rank": 1, "model_score": 2}\n' + line + "\n")
    assert main(["eval", "rm-metrics", "--scores", str(scores)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"srlm: error: {scores}:2: ") and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("field,value,message", [
    ("id", None, "id: Input should be a valid string"),
    ("id", "", "id: String should have at least 1 character"),
    ("prompt_id", 7, "prompt_id: Input should be a valid string"),
    ("num_tokens", 1e400, "the number 1e400 is beyond a float's range"),
])
def test_artifact_records_refuse_null_empty_and_numeric_ids(field, value, message, tmp_path):
    import json

    from srlm_nemo.artifacts import ArtifactError, read_jsonl
    from srlm_nemo.schemas import Candidate
    row = {"id": "p1/c0", "prompt_id": "p1", "prompt": "q", "index": 0, "text": "a", "num_tokens": 2, "model": "M1",
           "sampling": {"n": 1, "temperature": 0.7, "top_p": 0.9, "max_tokens": 8}}
    path = tmp_path / "candidates.jsonl"
    path.write_text(json.dumps({**row, field: value}).replace("Infinity", "1e400") + "\n")
    with pytest.raises(ArtifactError, match=f"^{path}:1: .*{message}"):
        read_jsonl(path, Candidate)


def test_a_repeated_candidate_line_is_refused_naming_both_lines(tmp_path):
    """A duplicated line would be judged twice and weigh twice in its prompt's pair: every record
    type names the fields no two of its lines share (Candidate: id)."""
    import json

    from srlm_nemo.artifacts import ArtifactError, read_jsonl
    from srlm_nemo.schemas import Candidate
    row = {"id": "p1/c0", "prompt_id": "p1", "prompt": "q", "index": 0, "text": "a", "num_tokens": 2, "model": "M1",
           "sampling": {"n": 1, "temperature": 0.7, "top_p": 0.9, "max_tokens": 8}}
    path = tmp_path / "candidates.jsonl"
    path.write_text("".join(json.dumps({**row, "index": i, "id": f"p1/c{i % 2}"}) + "\n" for i in range(3)))
    with pytest.raises(ArtifactError, match=rf"^{path}:3: id 'p1/c0' again \(first on line 1\)"):
        read_jsonl(path, Candidate)


def test_a_model_folder_that_lost_its_weights_is_not_done_and_nothing_is_removed(tiny_model, tmp_path, capsys):
    """sft/model/model.safetensors deleted after the run went on: `srlm plan` no longer calls sft
    done, and the next stage fails in one line naming the folder before its finished manifest is
    removed (it was removed first, and the error read ': Error no file named ...')."""
    import shutil
    run = tmp_path / "run"
    args = ["experiment=tiny", "model=hf_dir", f"model.path={tiny_model}", f"run.run_dir={run}",
            f"run.cache_dir={tmp_path}/cache", "generation.name=scripted"]
    for stage in (["seed"], ["sft"], ["prompts", "-i", "2"]):
        assert main(["stage", *stage, *args]) == 0
    capsys.readouterr()
    (run / "sft/model/model.safetensors").unlink()
    assert main(["plan", *args]) == 0
    plan = capsys.readouterr().out
    assert not any(line.split("│")[1:3] == [" sft               ", " done    "] for line in plan.splitlines())
    manifest = (run / "iter_2/prompts/manifest.json").read_bytes()
    # the prompts stage's input changed (its model lost a file): it would re-run, but cannot
    assert main(["stage", "prompts", "-i", "2", *args]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (f"srlm: error: stage iter_2/prompts: generator={run}/sft/model: no weights "
                       "(model.safetensors or pytorch_model.bin) in it; re-run the stage that made it, or restore it")
    assert not any("Traceback" in line for line in err)
    assert (run / "iter_2/prompts/manifest.json").read_bytes() == manifest
    # a model given from outside the run says so without the hint
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").unlink()
    assert main(["stage", "seed", *args[:2], f"model.path={broken}", *args[3:]]) == 0  # seed reads no model
    capsys.readouterr()
    assert main(["stage", "sft", *args[:2], f"model.path={broken}", *args[3:]]) == 2
    assert capsys.readouterr().err.endswith(f"model={broken}: no weights (model.safetensors or pytorch_model.bin) "
                                            "in it\n")
