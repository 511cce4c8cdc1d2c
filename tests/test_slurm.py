"""slurm/*.sh submitted for real to a Slurm started on 127.0.0.1 by the test (Debian slurm-wlm +
munge; .ci/run installs them): two emulated nodes (one slurmd each) with 4 fake GPUs each (device
files are symlinks to /dev/null, so Slurm allocates and binds them but nothing runs on them).
Tiny experiment, hf generation, trl training, no containers. Skips where absent."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from srlm_nemo.artifacts import read_jsonl
from srlm_nemo.schemas import ARTIFACT_TYPES

from .conftest import REPO




@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if not shutil.which("slurmctld") or not shutil.which("munged") or os.geteuid() != 0:
        pytest.skip("needs root and Debian's slurm-wlm + munge")
    d = tmp_path_factory.mktemp("slurm")
    try:
        subprocess.run([str(REPO / "tests/slurm/local_slurm.sh"), "start", str(d)], check=True, timeout=120,
                       env={**os.environ, "NODES": "2", "GPUS": "4"})
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        subprocess.run([str(REPO / "tests/slurm/local_slurm.sh"), "stop", str(d)])
        logs = "\n".join(f"--- {f.name}\n{f.read_text()[-2000:]}" for f in (d / "log").glob("*.log"))
        pytest.fail(f"local Slurm did not start\n{logs}")
    env = {**os.environ, "SLURM_CONF": str(d / "slurm.conf"), "SRLM_PYTHON": sys.executable}
    yield env
    subprocess.run(["scancel", "--user=root"], env=env)
    subprocess.run([str(REPO / "tests/slurm/local_slurm.sh"), "stop", str(d)])


def _wait_idle(env, timeout=900):
    deadline = time.time() + timeout
    while time.time() < deadline:
        q = subprocess.run(["squeue", "-h"], env=env, capture_output=True, text=True)
        if q.returncode == 0 and not q.stdout.strip():  # a busy slurmctld answers with an error, not "empty"
            return
        time.sleep(1)
    pytest.fail("Slurm jobs did not finish in time")


def _wait_job_end(env, job, timeout=900):
    """Until the controller reports the job finished (it keeps finished jobs for MinJobAge, 300 s)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        q = subprocess.run(["scontrol", "show", "job", job], env=env, capture_output=True, text=True)
        state = next((w.split("=", 1)[1] for w in q.stdout.split() if w.startswith("JobState=")), None)
        if q.returncode == 0 and state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"):
            return state
        time.sleep(1)
    pytest.fail(f"job {job} did not finish in time")


def _args(model, run_dir):
    return ["experiment=tiny", "model=hf_dir", f"model.path={model}", f"run.run_dir={run_dir}"]


@pytest.fixture(scope="module")
def pipeline_run(slurm, tiny_model, tmp_path_factory):
    """slurm/pipeline.sh: the SFT job and iterations 2 and 3, chained with afterok."""
    tmp = tmp_path_factory.mktemp("pipeline")
    run_dir = tmp / "run"
    env = {**slurm, "SBATCH_ARGS": f"--output={tmp}/slurm-%x-%j.out"}
    p = subprocess.run([str(REPO / "slurm/pipeline.sh"), *_args(tiny_model, run_dir)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert [line.split(":")[0] for line in p.stdout.splitlines()] == ["sft", "iteration 2", "iteration 3"]
    _wait_idle(env)
    return run_dir, p, {f.name: f.read_text() for f in tmp.glob("slurm-*.out")}


def _job_state(env, job):
    return subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%T"], env=env, capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.slow
def test_pipeline_then_kill_requeue_and_resubmit(slurm, pipeline_run, tiny_model, tmp_path):
    run_dir, _, logs = pipeline_run
    env = slurm
    assert len(logs) == 3, logs
    for name in ["seed", "sft", "iter_2/dpo", "iter_3/dpo", "eval/rm/M3"]:
        assert (run_dir / name / "manifest.json").exists(), (name, logs)
    for f, kind in {"iter_2/pairs/pairs.jsonl": "pairs", "iter_3/judge/judgements.jsonl": "judgements",
                    "iter_3/candidates/candidates.jsonl": "candidates"}.items():
        read_jsonl(run_dir / f, ARTIFACT_TYPES[kind])  # same schema as the local run

    def redo_iteration_3():
        for stage in ("iter_3/prompts", "iter_3/candidates", "iter_3/judge", "iter_3/pairs", "iter_3/dpo",
                      "eval/rm/M2", "eval/rm/M3"):
            shutil.rmtree(run_dir / stage)

    def submit(out):
        return subprocess.run(
            ["sbatch", "--parsable", f"--output={out}", "slurm/iteration.sh", *_args(tiny_model, run_dir)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def wait_for(path):
        deadline = time.time() + 300
        while not path.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert path.exists(), path

    # One pass over iteration 3 (each pass costs a process per stage) takes the job through all
    # three ways a run stops early. First, killed (scancel once its prompts are done) and
    # resubmitted: the new job resumes from the first unfinished stage.
    redo_iteration_3()
    job = submit(tmp_path / "killed-%j.out")
    wait_for(run_dir / "iter_3/prompts/manifest.json")
    subprocess.run(["scancel", job], env=env, check=True)
    _wait_idle(env)
    assert not (run_dir / "iter_3/dpo/manifest.json").exists()
    out = tmp_path / "resumed.out"
    job = submit(out)

    def requeued_then_started():
        deadline = time.time() + 60
        while _job_state(env, job) != "PENDING" and time.time() < deadline:
            time.sleep(0.2)
        assert _job_state(env, job) == "PENDING", out.read_text()
        # Slurm holds a requeued job back for a while (begin time); let it start now, but in a later
        # second than the requeue: a node refuses a job whose credential is dated the second its
        # last run's was revoked ("Job credential revoked", seen here on a second requeue)
        time.sleep(2)
        subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], env=env, check=True)
        while _job_state(env, job) == "PENDING" and time.time() < deadline + 60:
            time.sleep(0.2)

    # Second, the time-limit warning to the batch shell (USR1, as --signal=B:USR1@300 sends it)
    # once the resumed job finished a stage: the job requeues itself
    wait_for(run_dir / "iter_3/candidates/manifest.json")
    subprocess.run(["scancel", "--signal=USR1", "--batch", job], env=env, check=True)
    requeued_then_started()
    # Third, the same warning to the job steps only (`scancel --signal=USR1` without --batch) in
    # its second run: the running stage exits EXIT_REQUEUE instead of dying on the signal, and the
    # job requeues itself again
    wait_for(run_dir / "iter_3/judge/manifest.json")
    deadline = time.time() + 120
    while _job_state(env, job) != "PENDING" and time.time() < deadline:
        # only a running step receives it: between two steps it is lost, so send it again
        subprocess.run(["scancel", "--signal=USR1", job], env=env)
        time.sleep(0.5)
    requeued_then_started()
    assert _wait_job_end(env, job) == "COMPLETED", out.read_text()
    runs = out.read_text().split(f"requeueing job {job}")  # the log of each run, appended
    assert len(runs) == 3, out.read_text()[-3000:]
    assert "# iteration 3" in runs[0] and "[skip] iter_3/prompts" in runs[0] and "[run ] iter_3/candidates" in runs[0]
    assert "[skip] iter_3/candidates" in runs[1]
    assert "[skip] iter_3/judge" in runs[2] and "[done] iter_3/dpo" in runs[2]
    assert json.loads((run_dir / "iter_3/dpo/manifest.json").read_text())["stage"] == "iter_3/dpo"


@pytest.mark.slow
def test_sharded_generation_on_two_nodes_with_bound_gpus(slurm, pipeline_run, tiny_model, tmp_path):
    """Iteration 2 again as one job on 2 nodes x 4 (fake) GPUs, vLLM-style layout TP 2: 2 replicas
    per node, 4 shard workers, each bound by Slurm to its own pair of GPUs; the merged candidates
    and judgements are byte-identical to the 1-process run of the pipeline."""
    ref_dir, _, _ = pipeline_run
    run_dir = tmp_path / "run"
    shutil.copytree(ref_dir, run_dir, ignore=shutil.ignore_patterns("iter_3", "eval"))
    for stage in ("candidates", "judge", "pairs", "dpo"):
        shutil.rmtree(run_dir / "iter_2" / stage)
    args = [*_args(tiny_model, run_dir), "cluster.gpus_per_node=4", "generation.tensor_parallel_size=2",
            "generation.nodes=2", "run.iterations=2"]
    # submitted with the header's single node: the job resubmits itself with 2 nodes and the GPUs
    log = tmp_path / "iteration.out"
    subprocess.run(["sbatch", "--parsable", f"--output={log}", "slurm/iteration.sh", *args],
                   cwd=REPO, env=slurm, capture_output=True, text=True, check=True)
    _wait_idle(slurm)
    text = log.read_text()  # the resubmitted job appends to the first one's log
    assert "the iteration job needs 2" in text and "Submitted batch job" in text
    workers = [line for line in text.splitlines() if "as shard worker" in line]
    for stage in ("iter_2/candidates", "iter_2/judge"):
        mine = [line for line in workers if f"] {stage} " in line]
        assert len(mine) == 4, text[-3000:]
        bound = {
            (line.split(" on ")[1].split()[0], line.split("CUDA_VISIBLE_DEVICES=")[1].rstrip(")")) for line in mine
        }
        assert bound == {("n1", "0,1"), ("n1", "2,3"), ("n2", "0,1"), ("n2", "2,3")}, mine
    for f in ("iter_2/candidates/candidates.jsonl", "iter_2/judge/judgements.jsonl"):
        assert (run_dir / f).read_bytes() == (ref_dir / f).read_bytes(), f
    assert (run_dir / "iter_2/dpo/manifest.json").exists()


def test_scripts_pass_shellcheck():
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck not installed")
    scripts = sorted(
        str(p)
        for p in [
            *REPO.glob("slurm/*.sh"),
            *REPO.glob("tests/slurm/*.sh"),
            *REPO.glob("tests/gpu/*.sh"),
            REPO / ".ci/run",
        ]
    )
    p = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout


def test_time_left_read_inside_a_real_job(slurm, tmp_path):
    """What the training step's time budget starts from: squeue's time left, read from inside a
    job submitted with a 10-minute limit."""
    out = tmp_path / "left.out"
    code = "from srlm_nemo.timeleft import job_seconds_left; print(job_seconds_left())"
    subprocess.run(["sbatch", "--wait", "--time=10", f"--output={out}", f"--wrap={sys.executable} -c '{code}'"],
                   env=slurm, check=True, timeout=300, capture_output=True)
    left = float(out.read_text().split()[-1])
    assert 480 < left <= 600


def test_smoke_job_on_a_node_with_gpus_but_no_nemo(slurm, tmp_path):
    """slurm/smoke.sh submitted with 4 (fake) GPUs: without NeMo in the job's Python and with no
    CUDA behind the GPUs, the NeMo steps SKIP and say why, the rest PASS, and the job completes;
    a FAIL makes the job fail (the probe with a broken training Python)."""
    out = tmp_path / "smoke.out"
    p = subprocess.run(["sbatch", "--wait", "--gres=gpu:4", f"--output={out}", str(REPO / "slurm/smoke.sh"),
                        "--python", sys.executable, "--nemo-dir", str(tmp_path / "none")],
                       cwd=tmp_path, env=slurm, timeout=600, capture_output=True, text=True)
    text = out.read_text()
    assert p.returncode == 0, text[-3000:]
    assert [ln.split()[:2] for ln in text.splitlines() if ln.startswith(("PASS", "SKIP", "FAIL"))] == [
        ["PASS", "probe"], ["PASS", "tiny_model"], ["SKIP", "convert"], ["SKIP", "verify"], ["SKIP", "round_trip"],
        ["SKIP", "sft"], ["SKIP", "dpo"], ["SKIP", "export"], ["PASS", "generate"]]
    assert (tmp_path / "runs").is_dir() and any((tmp_path / "runs").glob("smoke-*/logs/probe.log"))
    bad = tmp_path / "bad-python"
    bad.write_text("#!/bin/sh\nexit 1\n")
    bad.chmod(0o755)
    failed = subprocess.run(["sbatch", "--wait", f"--output={tmp_path}/bad.out", str(REPO / "slurm/smoke.sh"),
                             "--python", str(bad)], cwd=tmp_path, env=slurm, timeout=600, capture_output=True)
    assert failed.returncode != 0 and "FAIL  probe" in (tmp_path / "bad.out").read_text()
