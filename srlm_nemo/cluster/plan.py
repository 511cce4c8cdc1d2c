"""What a cluster run would do: layouts, every command in full, and GPU-hour estimates."""
from __future__ import annotations

from pathlib import Path

from ..backends.nemo_aligner.commands import render, training_commands
from ..layout import estimate, validate_layout
from ..run_layout import RunLayout, iteration_stage


def cluster_plan(cfg, run_dir: Path, stages=None, overrides: list[str] = ()) -> str:
    import shlex

    from .steps import generation_layout, job_stages, sbatch_args, step_lines
    c = cfg.cluster
    lines = [f"cluster {c.name}: {c.gpus_per_node} GPUs per node, partition {c.partition}, account {c.account}, "
             f"time limit {c.time_limit}", f"training image: {c.training_image or '(none: no Pyxis flags)'}",
             f"generation image: {c.generation_image or '(none)'}", "", "layouts:"]
    for sec in ("sft", "dpo"):
        s = getattr(cfg, sec)
        p = s.parallel
        dp = validate_layout(sec, s, cfg.model.arch, c)
        lines.append(f"  {sec}: {p.nodes} node(s) x {c.gpus_per_node} GPUs = TP {p.tensor_parallel} x PP {p.pipeline_parallel}"
                     f"{f' (VP {p.virtual_pipeline})' if p.virtual_pipeline else ''} x DP {dp}; SP {p.sequence_parallel}; "
                     f"MBS {s.micro_batch_size}, GBS {s.global_batch_size} ({s.global_batch_size // (s.micro_batch_size * dp)}"
                     f" micro-batches per replica); {'FP8' if p.fp8 else 'BF16'}; activation checkpointing "
                     f"{p.activation_checkpointing or 'off'}")
    lines += ["", f"estimates at {c.assumed_tflops_per_gpu:g} achieved TFLOP/s per GPU "
              f"(NeMo's published Llama 2 70B FP8 H100 figure; BF16 runs are slower), "
              f"{c.assumed_tokens_per_example} tokens per example:"]
    n_sft = cfg.seed.num_ift + cfg.seed.num_eft_train
    for sec, n, ep in (("sft", n_sft, cfg.sft.epochs), ("dpo", cfg.prompts.num_prompts, cfg.dpo.epochs)):
        s = getattr(cfg, sec)
        gpus = s.parallel.nodes * c.gpus_per_node
        e = estimate(sec, n, c.assumed_tokens_per_example * (2 if sec == "dpo" else 1), ep, cfg.model.arch.params_b,
                     gpus, c.assumed_tflops_per_gpu)
        what = "6 x params x tokens" if sec == "sft" else "8 x params x tokens (policy fwd+bwd, reference fwd; chosen+rejected)"
        lines.append(f"  {sec}: {n} {'examples' if sec == 'sft' else 'pairs (upper bound: one per prompt)'} x {ep:g} epoch(s) "
                     f"= {e.tokens:.3g} tokens, {what} = {e.flops:.3g} FLOPs -> {e.gpu_hours:.1f} GPU-hours, "
                     f"{e.wall_hours:.2f} h on {gpus} GPUs")
    g = generation_layout(cfg, "iteration")
    from ..cost import cost_lines
    from .steps import job_nodes
    lines += ["", "one iteration, stage by stage (generation charged its full max_new_tokens; rates from "
                  "cluster.assumed_*, sources in srlm_nemo/config.py):"]
    lines += cost_lines(cfg, g.workers, job_nodes(cfg, "iteration") * c.gpus_per_node)
    lines += ["", f"generation (vLLM): {g.nodes} node(s) x {g.replicas_per_node} replica(s) per node, "
              f"TP {cfg.generation.tensor_parallel_size} each = {g.workers} shard worker(s) for candidates, judge, "
              f"EFT and RM eval; prefix caching {'on' if cfg.generation.enable_prefix_caching else 'off'}"]
    ov = shlex.join(overrides)
    lines += ["", "submission (slurm/pipeline.sh runs exactly these; `sbatch slurm/iteration.sh ...` alone resubmits "
                  "itself with its options when it has too few nodes):",
              f"  sft=$(sbatch --parsable {shlex.join(sbatch_args(cfg, 'sft'))} slurm/sft.sh {ov})"]
    prev = "$sft"
    for t in range(2, cfg.run.iterations + 1):
        lines.append(f"  it{t}=$(sbatch --parsable --export=ALL,ITERATION={t} --dependency=afterok:{prev} "
                     f"{shlex.join(sbatch_args(cfg, 'iteration'))} slurm/iteration.sh {ov})")
        prev = f"$it{t}"
    if stages is not None:
        for part, it, title in (("sft", "auto", "job steps of the SFT job"), ("iteration", "2", "job steps of iteration 2 "
                                                                                 "(later iterations alike)")):
            _, chosen = job_stages(stages, part, it)
            lines += ["", f"{title}:"] + ["  " + x for x in step_lines(cfg, chosen, list(overrides), "python", part)]
    lines += ["", "commands (SFT, M0 -> M1):"]
    layout = RunLayout(Path(run_dir))
    m1, m2 = str(layout.model("M1")), str(layout.model("M2"))
    sft_cmds = training_commands(cfg, str(layout.stage_dir("sft")), "sft", cfg.model.path, m1, section=cfg.sft)
    dpo_cmds = training_commands(cfg, str(layout.stage_dir(iteration_stage(2, "dpo"))), "dpo", m1, m2,
                                 section=cfg.dpo)
    lines += ["  " + render(x) for x in sft_cmds]
    lines += ["", "commands (DPO of iteration 2, M1 -> M2; later iterations alike):"]
    lines += ["  " + render(x) for x in dpo_cmds]
    return "\n".join(lines)
