"""Top-p on vLLM's CPU sampler: vLLM's full sort (the baseline) vs srlm_nemo.backends.vllm_cpu_top_p,
in the same run.

    .venv/bin/python benchmarks/top_p.py [--run-dir runs/demo] [--repeat 5]

1. The masking call alone, on logits of SmolLM2's vocabulary (49,152) for 192, 64 and 8 sequences,
   at a flat and a peaked scale: milliseconds per call, and whether the kept tokens are the same.
2. With --run-dir (a finished demo run): the judge stage's requests of iteration 2 (M1 judging the
   64 candidates, K samples each, the demo's sampling), sent twice through the engine the stages
   build (srlm_nemo's vLLM backend, reseeded per call as they are), once per top-p path: seconds,
   output tokens, and whether every text is the same. Ratios printed last.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def masking(repeat: int) -> list[tuple[str, float]]:
    from vllm.v1.sample.ops.topk_topp_sampler import apply_top_k_top_p_pytorch

    from srlm_nemo.backends.vllm_cpu_top_p import top_p_from_top_tokens

    def vllms(logits, k, p):
        return apply_top_k_top_p_pytorch(logits.clone(), k, p, allow_cpu_sync=True)

    ratios = []
    g = torch.Generator().manual_seed(0)
    for rows in (192, 64, 8):
        for scale in (1.0, 8.0):  # 1: thousands of tokens kept (ours falls back); 8: a handful
            logits, p = torch.randn(rows, 49152, generator=g) * scale, torch.full((rows,), 0.9)
            seconds = {}
            for name, fn in (("vllm", vllms), ("ours", lambda x, k, q: top_p_from_top_tokens(x, q, vllms))):
                start = time.perf_counter()
                for _ in range(repeat):
                    out = fn(logits, None, p)
                seconds[name] = (time.perf_counter() - start) / repeat
                kept = ~torch.isinf(out)
                if name == "vllm":
                    theirs = kept
            same = torch.equal(kept, theirs)
            print(f"masking {rows:3d} rows, scale {scale:g}: vLLM {seconds['vllm'] * 1e3:7.1f} ms, "
                  f"ours {seconds['ours'] * 1e3:7.1f} ms, {theirs.sum(1).float().mean():7.1f} tokens kept, "
                  f"same tokens: {same}")
            ratios.append((f"masking, {rows} rows, scale {scale:g}", seconds["vllm"] / seconds["ours"]))
    return ratios


def judge_requests(run_dir: Path) -> list[tuple[str, float]]:
    """The judge stage's requests of iteration 2 on the engine the stages build (the demo's config),
    once with vLLM's top-p and once with ours, each call seeded alike."""
    import vllm.v1.sample.ops.topk_topp_sampler as sampler

    from srlm_nemo.backends import vllm_cpu_top_p
    from srlm_nemo.backends.factory import make_generator
    from srlm_nemo.config import load_config
    from srlm_nemo.schemas import Sampling
    from srlm_nemo.templates import chat, judge_prompt

    cfg = load_config(["experiment=demo"])[0]
    j = cfg.judge
    cands = [json.loads(line) for line in open(run_dir / "iter_2/candidates/candidates.jsonl")]
    convs = [chat(cfg.model.system_prompt, judge_prompt(j.template, c["prompt"], c["text"])) for c in cands]
    vllms = sampler.apply_top_k_top_p  # before the engine installs ours
    engine = make_generator(cfg.generation, run_dir / "sft/model", cfg.model)
    sampling = Sampling(n=j.k, temperature=j.temperature, top_p=j.top_p, max_tokens=j.max_new_tokens, seed=1)
    engine.chat(convs[:2], Sampling(temperature=0.0, top_p=1.0, max_tokens=4))  # first-call costs paid here
    results = {}
    for name in ("vllm", "ours"):
        sampler.apply_top_k_top_p = vllms
        if name == "ours":
            vllm_cpu_top_p.install()
        engine.llm.reset_prefix_cache()
        start = time.perf_counter()
        outs = engine.chat(convs, sampling)
        seconds = time.perf_counter() - start
        results[name] = (seconds, [o.text for comps in outs for o in comps])
        tokens = sum(o.num_tokens for comps in outs for o in comps)
        print(f"judge requests ({len(convs)} x {j.k}), {name} top-p: {seconds:.1f} s, {tokens} output tokens")
    engine.close()
    print(f"judge requests: the same texts with both: {results['vllm'][1] == results['ours'][1]}")
    return [("judge requests", results["vllm"][0] / results["ours"][0])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, help="a finished demo run: also time its judge requests end to end")
    ap.add_argument("--repeat", type=int, default=5, help="calls per masking measurement")
    a = ap.parse_args()
    ratios = masking(a.repeat)
    if a.run_dir:
        ratios += judge_requests(a.run_dir)
    print("\nvLLM's sort / ours (above 1: ours faster):")
    for what, ratio in ratios:
        print(f"  {what}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
