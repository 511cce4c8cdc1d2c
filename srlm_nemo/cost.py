"""What one self-rewarding iteration costs on the cluster, stage by stage, from the config's sizes.

Generation is counted in tokens: every request is charged its full `max_new_tokens` (an upper
bound: answers stop earlier) and its prompt tokens (estimated from the config, since the prompts
do not exist yet), at the assumed throughput of one vLLM replica (`cluster.assumed_*`, each with
its source in srlm_nemo/config.py; measure yours with benchmarks/generation.py). Training is
counted in FLOPs (6 x params x tokens for SFT, 8 x for DPO) at `cluster.assumed_tflops_per_gpu`.
Conversions between HF and .nemo are counted in bytes at `cluster.assumed_convert_gb_per_s`.

GPU-hours are the GPUs a step holds times its wall time; wall time assumes the stage has the
whole allocation of its job (generation: every replica of `generation.nodes`).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from pathlib import Path

from .config import SELECTING, prompts_at
from .megatron_layout import estimate

JUDGE_TEMPLATE_TOKENS = 450  # prompts/judge.j2 without the question and answer, in Llama 2 tokens
PAIRWISE_TEMPLATE_TOKENS = 250  # prompts/pairwise.j2 likewise
SHOT_TOKENS = 40  # one self-instruct demonstration (a prompt of about 30 words)
REPLIES_PER_TREE = 3  # ranked replies per held-out OASST prompt, about what oasst1 has


@dataclass
class StageCost:
    stage: str
    what: str
    tokens_in: float
    tokens_out: float
    rate: str  # the throughput it assumes, in words
    gpus: int
    wall_h: float

    @property
    def gpu_h(self) -> float:
        return self.gpus * self.wall_h


@dataclass
class Rate:
    value: float
    measured: bool
    source: str


def generation_rates(cfg) -> dict[str, Rate]:
    """Output and prompt tokens/s of one vLLM replica: measured where cluster.measured_rates holds
    the figure (a file benchmarks/generation.py --rates-out wrote), else the assumed knob."""
    c = cfg.cluster
    rates = {"gen_tokens_per_s": Rate(c.assumed_gen_tokens_per_s, False,
                                      "cluster.assumed_gen_tokens_per_s; LambdaLabsML/vllm-benchmark, 2024: Llama 3.1 "
                                      "70B FP8 on 4 x H100, vLLM 0.5.4"),
             "prefill_tokens_per_s": Rate(c.assumed_prefill_tokens_per_s, False,
                                          "cluster.assumed_prefill_tokens_per_s; ours, never measured: ten times "
                                          "decode")}
    if c.measured_rates:
        found = _measured(c.measured_rates)
        where = ", ".join(str(found.get(k, "?")) for k in ("device", "model", "date"))
        for key in rates:
            value = found.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                from .artifacts import ArtifactError
                raise ArtifactError(f"{c.measured_rates}: {key} must be a positive number, got {value!r}")
            rates[key] = Rate(float(value), True, f"{c.measured_rates} ({where})")
    return rates


@functools.lru_cache(maxsize=4)
def _measured(path: str) -> dict:
    """The rates file, read once per process (every generation row of a plan prices with it)."""
    from .artifacts import ArtifactError, read_json
    found = read_json(Path(path).expanduser())
    if not isinstance(found, dict):
        raise ArtifactError(f"{path}: expected a JSON object of rates")
    return found


def _gen(stage: str, what: str, requests: float, samples: int, tokens_in_each: float, tokens_out_each: float, cfg,
         replicas: int, gpus_per_replica: int) -> StageCost:
    """`requests` prompts, each prefilled once and sampled `samples` times (vLLM's n)."""
    rates = generation_rates(cfg)
    out_rate, in_rate = rates["gen_tokens_per_s"].value, rates["prefill_tokens_per_s"].value
    t_in, t_out = requests * tokens_in_each, requests * samples * tokens_out_each
    # decode and prefill run in the same batches; their times add up (a simple, stated model)
    seconds = (t_out / out_rate + t_in / in_rate) / replicas
    return StageCost(stage, what, t_in, t_out, f"{out_rate:g} out + {in_rate:g} in tok/s per replica x {replicas}",
                     replicas * gpus_per_replica, seconds / 3600)


def _convert(stage: str, params_b: float, cfg, what: str) -> StageCost:
    gb = 2 * params_b  # bf16
    hours = gb / cfg.cluster.assumed_convert_gb_per_s / 3600
    return StageCost(stage, what, 0, 0, f"{cfg.cluster.assumed_convert_gb_per_s:g} GB/s", 1, hours)


def largest_prompts(cfg) -> int:
    """The most prompts any iteration keeps (prompts.num_prompts_by_iteration): an iteration's
    costs are priced at its size, so a job's time limit fits every iteration."""
    return max(prompts_at(cfg.prompts, t) for t in range(2, max(cfg.run.iterations, 2) + 1))


def _judged_in(cfg) -> float:
    """Prompt tokens of one judgement: the template, the question (a generated prompt ~ one demo
    long) and the answer."""
    return JUDGE_TEMPLATE_TOKENS + SHOT_TOKENS + cfg.candidates.max_new_tokens


def _generation_rows(cfg, replicas: int) -> list[StageCost]:
    """Prompts, candidates, judgements and (with eval.rm) the reward-model evaluation."""
    p, cand, j = cfg.prompts, cfg.candidates, cfg.judge
    tp, n_prompts = cfg.generation.tensor_parallel_size, largest_prompts(cfg)
    judged_in = _judged_in(cfg)
    rows = [
        # one request per kept prompt at least (fewer kept than asked: more requests; a bound, not a count)
        _gen("prompts", f"{n_prompts} requests x {p.samples_per_request}", n_prompts, p.samples_per_request,
             (p.shots_ift + p.shots_generated) * SHOT_TOKENS, p.max_new_tokens, cfg, replicas, tp),
        _gen("candidates", f"{n_prompts} prompts x N={cand.n}", n_prompts, cand.n, SHOT_TOKENS, cand.max_new_tokens,
             cfg, replicas, tp),
        _gen("judge", f"{n_prompts * cand.n} answers x K={j.k}", n_prompts * cand.n, j.k, judged_in, j.max_new_tokens,
             cfg, replicas, tp),
    ]
    if cfg.eval.rm:
        replies = cfg.seed.num_eft_eval * REPLIES_PER_TREE
        rows.append(_gen("eval/rm", f"{replies} ranked replies x K={j.k}", replies, j.k, judged_in, j.max_new_tokens,
                         cfg, replicas, tp))
    return rows


def _dpo_rows(cfg) -> list[StageCost]:
    """M_{t-1} into NeMo, DPO on at most one pair per prompt, each exported checkpoint back to HF,
    and (dpo.select=external|self) the head-to-head rounds that pick M_t."""
    d, e, arch, c = cfg.dpo, cfg.eval, cfg.model.arch, cfg.cluster
    pairs = largest_prompts(cfg)
    gpus = d.parallel.nodes * c.gpus_per_node
    est = estimate(
        "dpo", pairs, c.assumed_tokens_per_example * 2, d.epochs, arch.params_b, gpus, c.assumed_tflops_per_gpu
    )
    rows = [_convert("dpo: HF -> .nemo", arch.params_b, cfg, "M_{t-1} into NeMo"),
            StageCost("dpo: training", f"{pairs} pairs (upper bound) x {d.epochs:g} epoch(s), 8 x params x tokens",
                      est.tokens, 0, f"{c.assumed_tflops_per_gpu:g} TFLOP/s per GPU", gpus, est.wall_hours)]
    saved = math.ceil(pairs * d.epochs / d.global_batch_size) // d.save_steps if d.select in SELECTING else 0
    for k in range(saved + 1):  # every saved checkpoint, then the final model, back to HF
        rows.append(
            _convert("dpo: .nemo -> HF", arch.params_b, cfg, "final model" if k == saved else f"checkpoint {k + 1}")
        )
    if d.select in SELECTING:
        rounds, prompts = saved + 1, d.select_max_prompts
        rows.append(_gen("dpo: selection", f"{rounds} rounds x {prompts} prompts: 2 answers + 2 verdicts",
                         rounds * prompts * 4, 1, SHOT_TOKENS + PAIRWISE_TEMPLATE_TOKENS / 2,
                         (e.max_new_tokens + e.judge_max_new_tokens) / 2, cfg, 1, cfg.generation.tensor_parallel_size))
    return rows


def _beyond_rows(cfg, replicas: int, answers: StageCost, judge: StageCost) -> list[StageCost]:
    """The later papers' extra stages (judge.meta, pairs.strategy=cream|cream_judge|temporal,
    guard.reference_judge), priced like the stages they repeat (`answers`, `judge`, DPO)."""
    n_prompts, j = largest_prompts(cfg), cfg.judge
    rows = []
    if j.meta:  # one answer per prompt, every two of its K judgements in both orders
        rows.append(_gen("meta_judge", f"{n_prompts} answers x {j.k * (j.k - 1)} ordered judgement pairs",
                         n_prompts * j.k * (j.k - 1), 1, _judged_in(cfg) + 2 * j.max_new_tokens,
                         j.meta_max_new_tokens, cfg, replicas, cfg.generation.tensor_parallel_size))
    second = "a second judge of the same answers"
    if cfg.pairs.strategy == "cream":  # three models score every answer (two at iteration 2): prefill only
        answers_n, tp = n_prompts * cfg.candidates.n, cfg.generation.tensor_parallel_size
        rows += [_gen(f"logprob_{who}", f"{answers_n} answers, prompt + answer prefilled", answers_n, 1,
                      SHOT_TOKENS + cfg.candidates.max_new_tokens, 1, cfg, replicas, tp)
                 for who in ("policy", "previous", "older")]
    if cfg.pairs.strategy == "cream_judge":
        rows.append(replace(judge, stage="judge_previous", what=second))
    if cfg.guard.reference_judge:
        rows.append(replace(judge, stage="judge_reference", what=second))
    if cfg.pairs.strategy == "temporal":  # M1's answers (from iteration 3), a future DPO, its answers; all judged
        rows += [replace(answers, stage="anchor_candidates"), replace(judge, stage="anchor_judge"),
                 replace(answers, stage="future_candidates"), replace(judge, stage="future_judge")]
        rows += [replace(r, stage=f"future_{r.stage}") for r in _dpo_rows(cfg)]
    return rows


def iteration_cost(cfg, replicas: int) -> list[StageCost]:
    """Iteration t >= 2 (M_{t-1} -> M_t) as configured; `replicas`: vLLM replicas of the job."""
    generation = _generation_rows(cfg, replicas)  # prompts, candidates, judge[, eval/rm]
    return generation + _beyond_rows(cfg, replicas, generation[1], generation[2]) + _dpo_rows(cfg)


def rate_lines(cfg) -> list[str]:
    """Which generation rate the plan uses, and whether it was measured or assumed."""
    return [f"  {name}: {r.value:g} ({'measured' if r.measured else 'assumed'}: {r.source})"
            for name, r in generation_rates(cfg).items()]


def cost_lines(cfg, replicas: int, total_gpus: int) -> list[str]:
    rows = iteration_cost(cfg, replicas)
    lines = ["  generation rates per vLLM replica:", *rate_lines(cfg),
             f"  {'stage':<24} {'tokens in':>11} {'tokens out':>11} {'GPUs':>5} {'wall h':>8} {'GPU-h':>9}  "
             "rate; what"]
    for r in rows:
        lines.append(f"  {r.stage:<24} {r.tokens_in:>11.3g} {r.tokens_out:>11.3g} {r.gpus:>5} {r.wall_h:>8.2f} "
                     f"{r.gpu_h:>9.1f}  {r.rate}; {r.what}")
    gen = sum(r.gpu_h for r in rows if r.tokens_out)
    wall = sum(r.wall_h for r in rows)
    total = sum(r.gpu_h for r in rows)
    lines.append(f"  one iteration: {total:.1f} GPU-hours ({gen:.1f} generation, {total - gen:.1f} training and "
                 f"conversion), {wall:.2f} h wall; the job holds {total_gpus} GPUs for that long: "
                 f"{total_gpus * wall:.1f} GPU-hours allocated")
    return lines
