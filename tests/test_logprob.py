"""Reply log-probabilities (CREAM's DPO rewarding, pairs.strategy=cream) on real engines: the HF
forward pass against transformers' own loss, and vLLM's prompt log-probs against HF's, on the
tiny random-weight Llama the tests build."""
import math

import pytest

from srlm_nemo.config import load_config

CONVERSATIONS = [[{"role": "user", "content": "Name a colour of the sky."}],
                 [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Count to three."}]]
REPLIES = ["Blue, on a clear day.", "One, two, three."]


def _cfg(tiny_model, *extra):
    return load_config(["experiment=tiny", "model=hf_dir", f"model.path={tiny_model}", "model.max_model_len=1024",
                        *extra])[0]


def test_hf_reply_logprobs_equal_transformers_loss_over_the_reply(tiny_model):
    import torch

    from srlm_nemo.backends.generation import reply_tokens
    from srlm_nemo.backends.hf_engine import HFGenerator
    cfg = _cfg(tiny_model, "generation.name=hf")
    gen = HFGenerator(str(tiny_model), cfg.generation, cfg.model)
    got = gen.reply_logprobs(CONVERSATIONS, REPLIES)
    for (ids, start), (logprob, tokens) in zip(reply_tokens(gen.tok, CONVERSATIONS, REPLIES, 10**6), got):
        assert tokens == len(ids) - start > 0
        x = torch.tensor([ids])
        labels = x.clone()
        labels[0, :start] = -100  # transformers' mean cross-entropy over the reply's tokens only
        with torch.no_grad():
            loss = gen.model(x, labels=labels).loss.item()
        assert math.isclose(logprob, -loss * tokens, rel_tol=1e-4)
    # a reply that does not fit the context is None, not cut
    gen.max_len = 40  # as model.max_model_len=40 would set it
    assert gen.reply_logprobs(CONVERSATIONS[:1] * 2, ["word " * 60, "ok"])[0] is None


@pytest.mark.slow
def test_vllm_reply_logprobs_match_hf():
    """On the embedded SmolLM2-135M (vLLM's CPU attention has no kernel for the tiny model's
    head size)."""
    pytest.importorskip("vllm")
    from srlm_nemo.backends.hf_engine import HFGenerator
    from srlm_nemo.backends.vllm_engine import VLLMGenerator
    from srlm_nemo.models import resolve_model
    cfg = load_config(["experiment=demo", "model.max_model_len=1024"])[0]
    model = str(resolve_model(cfg.model.path, cfg.run.cache_dir))
    hf = HFGenerator(model, cfg.generation, cfg.model).reply_logprobs(CONVERSATIONS, REPLIES)
    engine = VLLMGenerator(model, cfg.generation, cfg.model)
    try:
        got = engine.reply_logprobs(CONVERSATIONS, REPLIES)
    finally:
        engine.close()
    for (a, n), (b, m) in zip(hf, got):
        assert n == m and math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-3), (a, b)
