"""What a cluster run would do: layouts, every command in full, and GPU-hour estimates."""
from __future__ import annotations

import shlex
from pathlib import Path

from ..backends.nemo_aligner.commands import render, training_commands
from ..megatron_layout import estimate, validate_layout
from ..run_layout import RunLayout, iteration_stage


def cluster_plan(cfg, run_dir: Path, stages=None, overrides: list[str] = ()) -> str:
    c = cfg.cluster
    lines = [f"cluster {c.name}: {c.gpus_per_node} GPUs per node, partition {c.partition}, account {c.account}, "
             f"time limit {c.time_limit}", f"training image: {c.training_image or '(none: no Pyxis flags)'}",
             f"generation image: {c.generation_image or '(none)'}", "", "layouts:"]
    lines += _layouts(cfg) + _models(cfg) + _estimates(cfg) + _generation(cfg) + _submission(cfg, overrides)
    if stages is not None:
        lines += _job_steps(cfg, stages, overrides)
    return "\n".join(lines + _commands(cfg, run_dir))


def _layouts(cfg) -> list[str]:
    c, lines = cfg.cluster, []
    for sec in ("sft", "dpo"):
        s = getattr(cfg, sec)
        p = s.parallel
        dp = validate_layout(sec, s, cfg.model.arch, c)
        vp = f" (VP {p.virtual_pipeline})" if p.virtual_pipeline else ""
        lines.append(f"  {sec}: {p.nodes} node(s) x {c.gpus_per_node} GPUs = TP {p.tensor_parallel} x "
                     f"PP {p.pipeline_parallel}{vp} x DP {dp}; SP {p.sequence_parallel}; MBS {s.micro_batch_size}, "
                     f"GBS {s.global_batch_size} ({s.global_batch_size // (s.micro_batch_size * dp)} micro-batches "
                     f"per replica); {'FP8' if p.fp8 else 'BF16'}; activation checkpointing "
                     f"{p.activation_checkpointing or 'off'}")
    return lines


def _models(cfg) -> list[str]:
    """The HF folders the run reads from the cluster's file system, and what each one costs: M0 is
    converted to .nemo for SFT; a fixed prompt writer, a frozen judge or a judge model are only
    served by vLLM, from their HF folders (no conversion)."""
    rows = [("model.path", cfg.model.path, "M0: converted to .nemo once (the SFT job's first step)")]
    for key, value, role in (("prompts.generator", cfg.prompts.generator, "writes every iteration's prompts"),
                             ("guard.reference_judge", cfg.guard.reference_judge, "scores every iteration's answers"),
                             ("eval.judge", cfg.eval.judge, "judges head-to-head and the checkpoint selection")):
        if value and value not in ("policy", "last") and not (value[0] == "M" and value[1:].isdigit()):
            rows.append((key, value, f"{role}; vLLM, no conversion"))
    return ["", "models read from the cluster's file system:"] + [f"  {k}={v}: {what}" for k, v, what in rows]


def _estimates(cfg) -> list[str]:
    from ..cost import largest_prompts
    c = cfg.cluster
    lines = ["", f"estimates at {c.assumed_tflops_per_gpu:g} achieved TFLOP/s per GPU "
             f"(NeMo's published Llama 2 70B FP8 H100 figure; BF16 runs are slower), "
             f"{c.assumed_tokens_per_example} tokens per example:"]
    n_sft = cfg.seed.num_ift + cfg.seed.num_eft_train
    for sec, n, ep in (("sft", n_sft, cfg.sft.epochs), ("dpo", largest_prompts(cfg), cfg.dpo.epochs)):
        s = getattr(cfg, sec)
        gpus = s.parallel.nodes * c.gpus_per_node
        e = estimate(sec, n, c.assumed_tokens_per_example * (2 if sec == "dpo" else 1), ep, cfg.model.arch.params_b,
                     gpus, c.assumed_tflops_per_gpu)
        what = "6 x params x tokens" if sec == "sft" else \
            "8 x params x tokens (policy fwd+bwd, reference fwd; chosen+rejected)"
        count = "examples" if sec == "sft" else "pairs (upper bound: one per prompt)"
        lines.append(f"  {sec}: {n} {count} x {ep:g} epoch(s) = {e.tokens:.3g} tokens, {what} = {e.flops:.3g} FLOPs "
                     f"-> {e.gpu_hours:.1f} GPU-hours, {e.wall_hours:.2f} h on {gpus} GPUs")
    return lines


def _generation(cfg) -> list[str]:
    from ..cost import cost_lines
    from .steps import generation_layout, job_nodes
    g = generation_layout(cfg, "iteration")
    lines = ["", "one iteration, stage by stage (generation charged its full max_new_tokens; rates from "
                 "cluster.assumed_*, sources in srlm_nemo/config.py):"]
    lines += cost_lines(cfg, g.workers, job_nodes(cfg, "iteration") * cfg.cluster.gpus_per_node)
    return lines + ["", f"generation (vLLM): {g.nodes} node(s) x {g.replicas_per_node} replica(s) per node, "
                    f"TP {cfg.generation.tensor_parallel_size} each = {g.workers} shard worker(s) for candidates, "
                    f"judge, EFT and RM eval; prefix caching {'on' if cfg.generation.enable_prefix_caching else 'off'}"]


def _submission(cfg, overrides) -> list[str]:
    from .steps import sbatch_args
    ov = shlex.join(overrides)
    lines = ["", "submission (slurm/pipeline.sh runs exactly these; `sbatch slurm/iteration.sh ...` alone resubmits "
                 "itself with its options when it has too few nodes):",
             f"  sft=$(sbatch --parsable {shlex.join(sbatch_args(cfg, 'sft'))} slurm/sft.sh {ov})"]
    prev = "$sft"
    for t in range(2, cfg.run.iterations + 1):
        lines.append(f"  it{t}=$(sbatch --parsable --export=ALL,ITERATION={t} --dependency=afterok:{prev} "
                     f"{shlex.join(sbatch_args(cfg, 'iteration'))} slurm/iteration.sh {ov})")
        prev = f"$it{t}"
    return lines


def _job_steps(cfg, stages, overrides) -> list[str]:
    from .steps import job_stages, step_lines
    lines = []
    for part, it, title in (("sft", "auto", "job steps of the SFT job"),
                            ("iteration", "2", "job steps of iteration 2 (later iterations alike)")):
        _, chosen = job_stages(stages, part, it)
        lines += ["", f"{title}:"] + ["  " + x for x in step_lines(cfg, chosen, list(overrides), "python", part)]
    return lines


def _commands(cfg, run_dir: Path) -> list[str]:
    layout = RunLayout(Path(run_dir))
    m1, m2 = str(layout.model("M1")), str(layout.model("M2"))
    sft_cmds = training_commands(cfg, str(layout.stage_dir("sft")), "sft", cfg.model.path, m1, section=cfg.sft)
    dpo_cmds = training_commands(cfg, str(layout.stage_dir(iteration_stage(2, "dpo"))), "dpo", m1, m2,
                                 section=cfg.dpo)
    return (["", "commands (SFT, M0 -> M1):"] + ["  " + render(x) for x in sft_cmds]
            + ["", "commands (DPO of iteration 2, M1 -> M2; later iterations alike):"]
            + ["  " + render(x) for x in dpo_cmds])
