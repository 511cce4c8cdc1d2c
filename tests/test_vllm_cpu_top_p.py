"""Top-p on vLLM's CPU sampler without the full sort (srlm_nemo/backends/vllm_cpu_top_p.py): the
same kept tokens as vLLM's own function, on peaked rows (settled by the top tokens) and flat
ones (left to vLLM), with several p in one batch."""
import pytest

torch = pytest.importorskip("torch")
sampler = pytest.importorskip("vllm.v1.sample.ops.topk_topp_sampler")

from srlm_nemo.backends import vllm_cpu_top_p  # noqa: E402


def vllms(logits, k, p):
    return sampler.apply_top_k_top_p_pytorch(logits.clone(), k, p, allow_cpu_sync=True)


def batch(rows: int, vocab: int, scales: list[float], seed: int):
    """Logits like a language model's at several temperatures: a scale of 8 keeps a handful of
    tokens at p 0.9, a scale of 1 thousands (more than the top tokens hold)."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.tensor(scales).repeat(rows // len(scales) + 1)[:rows].unsqueeze(1)
    return torch.randn(rows, vocab, generator=g) * scale


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_kept_tokens_are_vllms(seed):
    logits = batch(48, 49152, [1.0, 3.0, 5.0, 8.0, 20.0], seed)
    p = torch.tensor([0.9, 0.5, 0.95, 0.99]).repeat(12)
    ours = vllm_cpu_top_p.top_p_from_top_tokens(logits, p, vllms)
    theirs = vllms(logits, None, p)
    kept = ~torch.isinf(theirs)
    assert torch.equal(~torch.isinf(ours), kept)
    assert torch.equal(ours[kept], logits[kept])
    sizes = kept.sum(dim=1)
    # both paths ran: rows settled by the top tokens and rows that needed vLLM's sort
    assert sizes.min() <= 8 and sizes.max() > vllm_cpu_top_p.TOP


def test_one_dominant_token_keeps_only_it():
    logits = torch.zeros(2, 1000)
    logits[:, 7] = 50.0
    out = vllm_cpu_top_p.top_p_from_top_tokens(logits, torch.tensor([0.9, 0.1]), vllms)
    assert (~torch.isinf(out)).sum(dim=1).tolist() == [1, 1] and out[:, 7].tolist() == [50.0, 50.0]


def test_install_routes_top_p_only(monkeypatch):
    calls = []

    def original(logits, k, p):
        calls.append((k is not None, p is not None))
        return "vllm's"

    monkeypatch.setattr(sampler, "apply_top_k_top_p", original)  # vLLM's own is back after the test
    assert vllm_cpu_top_p.install()
    routed = sampler.apply_top_k_top_p
    assert vllm_cpu_top_p.install() and sampler.apply_top_k_top_p is routed  # installed once
    logits, top_k, p = batch(4, 4096, [8.0], 3), torch.tensor([5, 5, 5, 5]), torch.full((4,), 0.9)
    assert routed(logits, top_k, None) == routed(logits, top_k, p) == routed(logits, None, None) == "vllm's"
    assert calls == [(True, False), (True, True), (False, False)]
    masked = routed(logits, None, p)  # peaked rows: settled without vLLM's sort
    assert calls == [(True, False), (True, True), (False, False)]
    assert torch.equal(~torch.isinf(masked), ~torch.isinf(vllms(logits, None, p)))


def test_a_token_with_exactly_p_above_it_is_dropped_as_vllm_drops_it():
    """Probabilities 1/2, 1/4, 1/8, 1/8 (exact in float32) and p 0.75: the third token has
    exactly p above it, so vLLM keeps two tokens; at p 0.76 it keeps three."""
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.125, 0.125]] * 2))
    p = torch.tensor([0.75, 0.76])
    ours = vllm_cpu_top_p.top_p_from_top_tokens(logits, p, vllms)
    assert (~torch.isinf(ours)).sum(dim=1).tolist() == (~torch.isinf(vllms(logits, None, p))).sum(dim=1).tolist()
    assert (~torch.isinf(ours)).sum(dim=1).tolist() == [2, 3]
