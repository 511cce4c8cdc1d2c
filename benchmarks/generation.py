"""The generation work of one demo iteration (N=4 candidates per prompt, then K=3 judgements per
answer, demo token limits) through several engines on the same model and prompts:

* ours: the vLLM backend (srlm_nemo/backends/vllm_engine.py: one batched `chat` call per stage, n
  samples per request, prefix caching), as the candidates and judge stages call it;
* raw: the same vLLM engine's `LLM.generate` on the same prompts rendered beforehand, one batch per
  stage (what vLLM alone does: the goal is ours / raw >= 0.85);
* batched transformers (srlm_nemo/backends/hf_engine.py, `generation.batch_size` requests at a time);
* transformers one request and one sample at a time (what a plain loop over `generate` does).

All sample the same requests with the same settings; output lengths differ with sampling, so each
is measured in output tokens per second (engine start-up printed apart). The judge prompts are
built from the first vLLM candidates, so every engine judges the same answers. The one-at-a-time
loop runs only the first `--single` requests of each stage (it is the slow one); its throughput is
per token, so the ratio does not depend on how many it ran. `--prefill` also times a prefill-only
pass (one output token) over the judge prompts: prompt tokens per second.

  python benchmarks/generation.py [--prompts 16] [--single 6] [--engines ours,raw,hf,single]
                                  [--prefill] [--rates-out FILE] [config overrides ...]

Overrides go to the demo experiment (on a GPU: `model.dtype=bfloat16 generation.seed_mode=request`,
or `model=hf_dir model.path=...` for another model). `--rates-out FILE` writes what `srlm plan`
reads as measured rates (`cluster.measured_rates=FILE`): ours' output tokens/s and, with
`--prefill`, prompt tokens/s, with the device, model, date and this command. The last line is the
ratios: `ours/raw = A.BCx, vllm/batched = D.Ex, vllm/one-at-a-time = F.Gx` (those measured).
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


def _raw(engine, cands, judges, args) -> tuple[int, float]:
    """The same work straight through vLLM's `LLM.generate`: the prompts rendered beforehand with
    the engine's tokenizer and chat template, one batch per stage, nothing of ours in between."""
    from vllm import SamplingParams
    tok = engine.llm.get_tokenizer()
    kw = {"chat_template": engine.chat_template} if engine.chat_template else {}

    def render(convs):
        return [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True, **kw) for c in convs]
    work = [(render(cands), args.n, args.cand_tokens), (render(judges), args.k, args.judge_tokens)]
    tokens, t0 = 0, time.perf_counter()
    for prompts, n, limit in work:
        outs = engine.llm.generate(prompts, SamplingParams(n=n, temperature=0.7, top_p=0.9, max_tokens=limit),
                                   use_tqdm=False)
        tokens += sum(len(o.token_ids) for r in outs for o in r.outputs)
    return tokens, time.perf_counter() - t0


def _prefill(engine, judges) -> tuple[int, float]:
    """Prompt tokens per second: the judge prompts with one output token each."""
    from srlm_nemo.schemas import Sampling
    t0 = time.perf_counter()
    engine.chat(judges, Sampling(n=1, temperature=0.0, top_p=1.0, max_tokens=1))
    return sum(engine.prompt_tokens(judges)), time.perf_counter() - t0


def _args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=16, help="the demo iteration's 16 prompts")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--cand-tokens", type=int, default=160, help="demo candidates.max_new_tokens")
    ap.add_argument("--judge-tokens", type=int, default=128, help="demo judge.max_new_tokens")
    ap.add_argument("--single", type=int, default=6, help="requests per stage for the one-at-a-time loop")
    ap.add_argument("--engines", default="ours,hf,single", help="of ours, raw, hf, single")
    ap.add_argument("--prefill", action="store_true", help="also time a prefill-only pass")
    ap.add_argument("--rates-out", help="write the measured rates here (srlm plan: cluster.measured_rates)")
    ap.add_argument("overrides", nargs="*", help="config overrides on top of experiment=demo")
    return ap.parse_args()


def _vllm_part(cfg, model, cands, args, rates: dict) -> list:
    """Ours (and raw, prefill) on one vLLM engine; the judge prompts built from its answers."""
    from srlm_nemo.backends.factory import make_generator
    from srlm_nemo.templates import chat, judge_prompt
    t0 = time.perf_counter()
    engine = make_generator(cfg.generation, model, cfg.model)
    rates["vllm start s"] = time.perf_counter() - t0
    _, _, c_out = _run(engine, cands, [], args)  # the answers every engine will judge
    judges = [chat(None, judge_prompt(cfg.judge.template, conv[-1]["content"], o.text or "(empty)"))
              for conv, outs in zip(cands, c_out) for o in outs]
    tokens, seconds, _ = _run(engine, cands, judges, args)
    rates["ours"] = (tokens, seconds)
    if "raw" in args.engines:
        rates["raw"] = _raw(engine, cands, judges, args)
    if args.prefill:
        rates["prefill"] = _prefill(engine, judges)
    engine.close()
    return judges


def _hf_part(cfg, model, cands, judges, args, rates: dict) -> None:
    from srlm_nemo.backends.factory import make_generator
    hf_cfg = type(cfg.generation)(**{**cfg.generation.__dict__, "name": "hf"})
    t0 = time.perf_counter()
    hf = make_generator(hf_cfg, model, cfg.model)
    rates["hf start s"] = time.perf_counter() - t0
    if "hf" in args.engines:
        rates["hf"] = _run(hf, cands, judges, args)[:2]
    if "single" in args.engines:
        rates["single"] = _one_at_a_time(hf, cands, judges, args)
    hf.close()


def _write_rates(path: str, cfg, model, rates: dict) -> None:
    import datetime
    import platform
    import sys

    import torch
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({platform.processor() or 'x86'})"
    out = {"gen_tokens_per_s": rates["ours"][0] / rates["ours"][1], "device": device,
           "model": f"{model.name} ({cfg.model.dtype})", "date": datetime.date.today().isoformat(),
           "command": " ".join(["python", *sys.argv])}
    if "prefill" in rates:
        out["prefill_tokens_per_s"] = rates["prefill"][0] / rates["prefill"][1]
    Path(path).write_text(json.dumps(out, indent=2) + "\n")


def main() -> None:
    args = _args()
    args.engines = set(args.engines.split(","))
    from srlm_nemo.config import load_config
    from srlm_nemo.models import resolve_model
    cfg = load_config(["experiment=demo", *args.overrides])[0]
    model = resolve_model(cfg.model.path, cfg.run.cache_dir)
    cands, rates = _requests(args), {}
    judges = _vllm_part(cfg, model, cands, args, rates)
    if args.engines & {"hf", "single"}:
        _hf_part(cfg, model, cands, judges, args, rates)
    print(f"work: {len(cands)} prompts x N={args.n} ({args.cand_tokens} tokens max), then {len(judges)} answers x "
          f"K={args.k} ({args.judge_tokens} tokens max); model {model.name}, {cfg.model.dtype}")
    per_s = {name: rates[name][0] / rates[name][1] for name in ("ours", "raw", "hf", "single", "prefill")
             if name in rates}
    for name, (tokens, seconds) in ((n, rates[n]) for n in per_s):
        what = "prompt tokens" if name == "prefill" else "tokens"
        print(f"{name:<8} {tokens:7d} {what} in {seconds:7.1f} s = {per_s[name]:8.1f} tok/s")
    print(f"engine start: vllm {rates['vllm start s']:.1f} s" +
          (f", hf {rates['hf start s']:.1f} s" if "hf start s" in rates else ""))
    if args.rates_out:
        _write_rates(args.rates_out, cfg, model, rates)
        print(f"measured rates written to {args.rates_out}")
    ratios = [f"ours/raw = {per_s['ours'] / per_s['raw']:.2f}x" if "raw" in per_s else None,
              f"vllm/batched = {per_s['ours'] / per_s['hf']:.1f}x" if "hf" in per_s else None,
              f"vllm/one-at-a-time = {per_s['ours'] / per_s['single']:.1f}x" if "single" in per_s else None]
    print(", ".join(r for r in ratios if r))


if __name__ == "__main__":
    main()
