"""slurm/*.sh submitted for real to a Slurm started on 127.0.0.1 by the test (Debian slurm-wlm +
munge; .ci/run installs them). Tiny experiment, trl backend, no containers. Skips where absent."""
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
        subprocess.run([str(REPO / "tests/slurm/local_slurm.sh"), "start", str(d)], check=True, timeout=120)
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
        if not subprocess.run(["squeue", "-h"], env=env, capture_output=True, text=True).stdout.strip():
            return
        time.sleep(1)
    pytest.fail("Slurm jobs did not finish in time")


def _args(model, run_dir):
    return ["experiment=tiny", "model=hf_dir", f"model.path={model}", f"run.run_dir={run_dir}"]


@pytest.mark.slow
def test_pipeline_then_kill_and_resubmit(slurm, tiny_model, tmp_path):
    run_dir = tmp_path / "run"
    env = {**slurm, "SBATCH_ARGS": f"--output={tmp_path}/slurm-%x-%j.out"}
    p = subprocess.run([str(REPO / "slurm/pipeline.sh"), *_args(tiny_model, run_dir)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert [line.split(":")[0] for line in p.stdout.splitlines()] == ["sft", "iteration 2", "iteration 3"]
    _wait_idle(env)
    logs = {f.name: f.read_text() for f in tmp_path.glob("slurm-*.out")}
    assert len(logs) == 3, logs
    for name in ["seed", "sft", "iter_2/dpo", "iter_3/dpo", "eval/rm/M3"]:
        assert (run_dir / name / "manifest.json").exists(), (name, logs)
    for f, kind in {"iter_2/pairs/pairs.jsonl": "pairs", "iter_3/judge/judgements.jsonl": "judgements",
                    "iter_3/candidates/candidates.jsonl": "candidates"}.items():
        read_jsonl(run_dir / f, ARTIFACT_TYPES[kind])  # same schema as the local run

    # kill a job mid-way (scancel once iteration 3's prompts are done), resubmit, and it resumes
    for stage in ("iter_3/candidates", "iter_3/judge", "iter_3/pairs", "iter_3/dpo", "eval/rm/M2", "eval/rm/M3"):
        shutil.rmtree(run_dir / stage)
    shutil.rmtree(run_dir / "iter_3/prompts")
    out = tmp_path / "killed-%j.out"
    job = subprocess.run(["sbatch", "--parsable", f"--output={out}", "slurm/iteration.sh", *_args(tiny_model, run_dir)],
                         cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout.strip()
    deadline = time.time() + 300
    while not (run_dir / "iter_3/prompts/manifest.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    subprocess.run(["scancel", job], env=env, check=True)
    _wait_idle(env)
    assert not (run_dir / "iter_3/dpo/manifest.json").exists()
    log = tmp_path / f"again-{job}.out"
    subprocess.run(["sbatch", "--wait", f"--output={log}", "slurm/iteration.sh", *_args(tiny_model, run_dir)],
                   cwd=REPO, env=env, check=True, timeout=600)
    text = log.read_text()
    assert "# iteration 3" in text and "[skip] iter_3/prompts" in text and "[run ] iter_3/candidates" in text
    assert json.loads((run_dir / "iter_3/dpo/manifest.json").read_text())["stage"] == "iter_3/dpo"


def test_scripts_pass_shellcheck():
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck not installed")
    scripts = sorted(str(p) for p in [*REPO.glob("slurm/*.sh"), *REPO.glob("tests/slurm/*.sh"), REPO / ".ci/run"])
    p = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout
