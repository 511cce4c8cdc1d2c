"""The package installs like a package: a wheel built from this checkout, `pip install`ed (not
editable) into a fresh virtual environment, runs `srlm plan` from a folder outside the checkout,
with its configs, templates and recipes read from the installed copy."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv holding the wheel; the dependencies (hydra, pydantic, ...) come from this
    test's environment through a path file, which adds the folder but runs none of its path files
    (so the checkout's editable install is not seen there)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy: setuptools' build/ folder in the checkout may hold files of an earlier build
    shutil.copytree(REPO / "srlm_nemo", src / "srlm_nemo", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", src)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp / "dist").glob("srlm_nemo-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    return venv, site


def _run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SRLM_CONF_DIR", "SRLM_PROMPTS_DIR")}
    return subprocess.run([str(venv / "bin" / "srlm"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_installed_wheel_plans_the_70b_experiment_from_elsewhere(installed, tmp_path):
    venv, site = installed
    where = subprocess.run([venv / "bin" / "python", "-c", "import srlm_nemo, json; print(srlm_nemo.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site), f"srlm_nemo came from {where}, not the installed wheel"
    p = _run(venv, tmp_path, "plan", "experiment=llama2_70b_h100", f"run.run_dir={tmp_path / 'run'}")
    assert p.returncode == 0, p.stderr[-3000:]
    for stage in ("seed", "sft_ift", "eft", "sft", "iter_2/judge", "iter_3/dpo"):
        assert f"│ {stage} " in p.stdout
    assert "cluster plan" in p.stdout and "train_gpt_dpo.py" in p.stdout


def test_installed_wheel_carries_its_templates_and_demo_seed(installed, tmp_path):
    venv, site = installed
    code = ("from srlm_nemo.templates import template_path; from srlm_nemo.resources import data_dir; import json;"
            "print(json.dumps([str(template_path('judge.j2')), str(data_dir() / 'demo_ift.jsonl')]))")
    out = subprocess.run([venv / "bin" / "python", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         check=True, env={k: v for k, v in os.environ.items() if k != "SRLM_PROMPTS_DIR"}).stdout
    for path in map(Path, json.loads(out)):
        assert path.is_relative_to(site) and path.is_file()
