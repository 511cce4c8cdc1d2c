"""The generation work of one demo iteration (N=4 candidates per prompt, then K=3 judgements per
answer, demo token limits) through three engines on the same model and prompts:

* our vLLM backend (srlm_nemo/backends/vllm_engine.py: one batched call per stage, n samples per
  request, prefix caching);
* batched transformers (srlm_nemo/backends/hf_engine.py, `generation.batch_size` requests at a time);
* transformers one request and one sample at a time (what a plain loop over `generate` does).

All three sample the same requests with the same settings; output lengths differ with sampling,
so each is measured in output tokens per second (engine start-up printed apart). The judge
prompts are built from the vLLM candidates, so every engine judges the same answers. The
one-at-a-time loop runs only the first `--single` requests of each stage (it is the slow one);
its throughput is per token, so the ratio does not depend on how many it ran.

  python benchmarks/generation.py [--prompts 16] [--single 6]

The last line is `vllm/one-at-a-time = A.Bx, vllm/batched = C.Dx` (output tokens/s ratios).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _requests(args):
    from srlm_nemo.templates import chat
    rows = [json.loads(line) for line in open(ROOT / "srlm_nemo" / "data" / "demo_ift.jsonl")]
    return [chat(None, r["prompt"]) for r in rows[:args.prompts]]


def _sampling(n, max_tokens, seed):
    from srlm_nemo.schemas import Sampling
    return Sampling(n=n, temperature=0.7, top_p=0.9, max_tokens=max_tokens, seed=seed)


def _run(gen, cands, judges, args) -> tuple[int, float, list]:
    """Both stages through `gen`; returns (output tokens, seconds, candidate texts)."""
    t0 = time.perf_counter()
    c_out = gen.chat(cands, _sampling(args.n, args.cand_tokens, 1))
    j_out = gen.chat(judges, _sampling(args.k, args.judge_tokens, 2)) if judges else []
    seconds = time.perf_counter() - t0
    tokens = sum(o.num_tokens or 0 for outs in (*c_out, *j_out) for o in outs)
    return tokens, seconds, c_out


def _one_at_a_time(gen, cands, judges, args) -> tuple[int, float]:
    tokens, t0 = 0, time.perf_counter()
    for convs, n, limit in ((cands, args.n, args.cand_tokens), (judges, args.k, args.judge_tokens)):
        work = [(c, s) for c in convs for s in range(n)][:args.single]
        for conv, s in work:
            tokens += gen.chat([conv], _sampling(1, limit, 3 + s))[0][0].num_tokens or 0
    return tokens, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=16, help="the demo iteration's 16 prompts")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--cand-tokens", type=int, default=160, help="demo candidates.max_new_tokens")
    ap.add_argument("--judge-tokens", type=int, default=128, help="demo judge.max_new_tokens")
    ap.add_argument("--single", type=int, default=6, help="requests per stage for the one-at-a-time loop")
    args = ap.parse_args()
    from srlm_nemo.backends.factory import make_generator
    from srlm_nemo.config import load_config
    from srlm_nemo.models import resolve_model
    from srlm_nemo.templates import chat, judge_prompt
    cfg = load_config(["experiment=demo"])[0]
    model = resolve_model(cfg.model.path, cfg.run.cache_dir)
    cands = _requests(args)

    t0 = time.perf_counter()
    vllm = make_generator(cfg.generation, model, cfg.model)
    vllm_start = time.perf_counter() - t0
    _, _, c_out = _run(vllm, cands, [], args)  # the answers every engine will judge
    judges = [chat(None, judge_prompt(cfg.judge.template, conv[-1]["content"], o.text or "(empty)"))
              for conv, outs in zip(cands, c_out) for o in outs]
    v_tokens, v_s, _ = _run(vllm, cands, judges, args)
    vllm.close()

    hf_cfg = type(cfg.generation)(**{**cfg.generation.__dict__, "name": "hf"})
    t0 = time.perf_counter()
    hf = make_generator(hf_cfg, model, cfg.model)
    hf_start = time.perf_counter() - t0
    b_tokens, b_s, _ = _run(hf, cands, judges, args)
    s_tokens, s_s = _one_at_a_time(hf, cands, judges, args)
    hf.close()

    rate = {"vllm": v_tokens / v_s, "batched": b_tokens / b_s, "single": s_tokens / s_s}
    print(f"work: {len(cands)} prompts x N={args.n} ({args.cand_tokens} tokens max), then {len(judges)} answers x "
          f"K={args.k} ({args.judge_tokens} tokens max); model {model.name}, {cfg.model.dtype}")
    print(f"vllm        start {vllm_start:6.1f} s   {v_tokens:6d} tokens in {v_s:7.1f} s = {rate['vllm']:7.1f} tok/s")
    print(f"batched hf  start {hf_start:6.1f} s   {b_tokens:6d} tokens in {b_s:7.1f} s = {rate['batched']:7.1f} tok/s "
          f"(batch {hf_cfg.batch_size})")
    print(f"one at a time            {s_tokens:6d} tokens in {s_s:7.1f} s = {rate['single']:7.1f} tok/s "
          f"(first {args.single} requests of each stage)")
    print(
        f"vllm/one-at-a-time = {rate['vllm'] / rate['single']:.1f}x, vllm/batched = "
        f"{rate['vllm'] / rate['batched']:.1f}x"
    )


if __name__ == "__main__":
    main()
