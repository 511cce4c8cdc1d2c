import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def srlm(*args, env=None, check=True, timeout=900):
    """Runs the real console entry point in a subprocess (as a user would)."""
    e = {**os.environ, **(env or {})}
    p = subprocess.run([sys.executable, "-m", "srlm_nemo.cli", *args], cwd=REPO, env=e,
                       capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"srlm {' '.join(args)} exited {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}")
    return p


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from srlm_nemo.tiny import build_tiny_model
    texts = []
    for line in open(REPO / "srlm_nemo" / "data" / "demo_ift.jsonl"):
        r = json.loads(line)
        texts.append(r["prompt"] + " " + r["response"])
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", texts)
