"""An API key reaches the server and nothing we write: the whole tiny recipe with the `openai`
backend against a small OpenAI-compatible server on 127.0.0.1 (it answers with the scripted
backend's rules), the key given through the configured environment variable, TensorBoard on;
then every file of the run directory and everything the run printed is searched for the key."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from srlm_nemo.backends.scripted import ScriptedGenerator
from srlm_nemo.schemas import Sampling

from .conftest import srlm

SECRET = "sk-test-4f9c2b7e1d0a8c6e"


class _Handler(BaseHTTPRequestHandler):
    engine = ScriptedGenerator("served", SimpleNamespace(script=None), None)
    keys: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.keys.append(self.headers.get("Authorization"))
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        s = Sampling(n=body.get("n", 1), temperature=body.get("temperature", 1.0), top_p=body.get("top_p", 1.0),
                     max_tokens=body.get("max_tokens", 16), seed=body.get("seed"))
        if self.path.endswith("/chat/completions"):
            outs = self.engine.chat([body["messages"]], s)[0]
            choices = [{"index": i, "message": {"role": "assistant", "content": o.text}, "finish_reason": "stop"}
                       for i, o in enumerate(outs)]
        else:
            outs = self.engine.complete([body["prompt"]], s)[0]
            choices = [{"index": i, "text": o.text, "finish_reason": "stop"} for i, o in enumerate(outs)]
        usage = sum(o.num_tokens for o in outs)
        data = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": choices,
                "usage": {"prompt_tokens": 1, "completion_tokens": usage, "total_tokens": usage + 1},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stub_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_the_key_reaches_the_server_and_no_file_we_write(tiny_model, tmp_path, stub_server):
    run_dir = tmp_path / "run"
    p = srlm("run", "experiment=tiny", "model=hf_dir", f"model.path={tiny_model}", f"run.run_dir={run_dir}",
             f"run.cache_dir={run_dir}/cache", "generation=openai", f"generation.base_url={stub_server}",
             "generation.api_key_env=SRLM_TEST_KEY", "log.tensorboard=true", env={"SRLM_TEST_KEY": SECRET})
    assert (run_dir / "iter_3/dpo/manifest.json").exists() and (run_dir / "tensorboard").is_dir()
    assert _Handler.keys and set(_Handler.keys) == {f"Bearer {SECRET}"}  # it was used
    assert SECRET not in p.stdout + p.stderr
    leaks = [str(f) for f in run_dir.rglob("*") if f.is_file() and SECRET.encode() in f.read_bytes()]
    assert not leaks
    assert "SRLM_TEST_KEY" in (run_dir / "config.yaml").read_text()  # the variable's name, not its value


SITECUSTOMIZE = '''
import torch
_load = torch.load
def _guarded(*args, **kwargs):
    if kwargs.get("weights_only") is not True:
        raise RuntimeError("torch.load without weights_only=True: a pickle would be executed")
    return _load(*args, **kwargs)
torch.load = _guarded
'''


def test_nothing_is_unpickled_and_model_folders_hold_no_pickle(tiny_model, tmp_path):
    """The one-machine path, resume included (a kill inside SFT makes the next run load a
    checkpoint's optimizer, scheduler and RNG state), under a torch.load that refuses to unpickle;
    and every model folder the run writes holds safetensors and JSON, no .bin/.pt/.pth."""
    import os

    from .test_loop_scripted import _args, _kill_when
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {"PYTHONPATH": os.pathsep.join([str(guard), os.environ.get("PYTHONPATH", "")])}
    run_dir = tmp_path / "run"
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]  # for the killed run, started by _kill_when
    try:
        _kill_when(_args(tiny_model, run_dir, "sft.save_steps=1"), run_dir / "sft/work/checkpoint-1/trainer_state.json")
    finally:
        os.environ.pop("PYTHONPATH") if old is None else os.environ.__setitem__("PYTHONPATH", old)
    p = srlm("run", *_args(tiny_model, run_dir, "sft.save_steps=1"), env=env)
    assert "[run ] sft (resuming)" in p.stderr and (run_dir / "iter_3/dpo/manifest.json").exists()
    models = [run_dir / "sft/model", run_dir / "iter_2/dpo/model", run_dir / "iter_3/dpo/model"]
    pickles = [str(f) for m in models for f in m.iterdir() if f.suffix in (".bin", ".pt", ".pth", ".pkl")]
    assert not pickles and all((m / "model.safetensors").exists() for m in models)
