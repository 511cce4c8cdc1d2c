"""What one Slurm job of the recipe runs, and the allocation it needs.

`srlm cluster steps --part sft|iteration [--iteration T|auto] [overrides]` prints the job steps,
one shell-quoted `srun` line each, in the recipe's order; the sbatch scripts in slurm/ run them.
Stages already done are skipped by srlm itself, so a requeued or resubmitted job continues where
it stopped. The sharded generation stages run as two steps: one worker task per vLLM replica on
every node (each bound to its own GPUs), then one task that merges the shards in order.

`srlm cluster sbatch-args --part ...` prints the sbatch options of that job (nodes, GPUs,
partition, account, time limit, requeue signal); slurm/pipeline.sh passes them, and a job
submitted with fewer nodes than it needs resubmits itself with them."""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from ..config import SELECTING
from ..pipeline import state
from ..backends.nemo_aligner.commands import srun_prefix
from ..stages import SHARDED_KINDS

GENERATION_KINDS = {"prompts", "candidates", "judge", "logprob", "meta_judge", "eft", "rm_eval", "h2h", "alpaca",
                    "mtbench"}


class AllocationTooSmall(RuntimeError):
    pass


def job_stages(stages, part: str, iteration: str) -> tuple[int | None, list]:
    if part == "sft":  # seed, [sft_ift, eft, eval/rm/SFT-IFT], sft: everything before iteration 2
        first = next((i for i, s in enumerate(stages) if s.iteration is not None), len(stages))
        return None, stages[:first]
    iters = sorted({s.iteration for s in stages if s.iteration is not None and s.name.startswith("iter_")})
    if iteration == "auto":
        todo = [t for t in iters if any(state(s) != "done" for s in stages if s.iteration == t)]
        if not todo:
            return None, []
        t = todo[0]
    else:
        t = int(iteration)
    chosen = [s for s in stages if s.iteration == t]
    if t == max(iters):  # the evaluations after the last iteration close its job
        last = max(i for i, s in enumerate(stages) if s.iteration == t)
        chosen += [s for s in stages[last + 1:] if s.iteration is None]
    return t, chosen


@dataclass
class GenerationLayout:
    nodes: int  # nodes the worker step spans
    replicas_per_node: int  # worker tasks per node
    gpus_per_replica: int  # 0: no GPU requests (a CPU cluster, or the local tests)

    @property
    def workers(self) -> int:
        return self.nodes * self.replicas_per_node


def job_nodes(cfg, part: str) -> int:
    train = cfg.sft if part == "sft" else cfg.dpo
    n = train.parallel.nodes if cfg.training.name == "nemo_aligner" else 1
    return max(n, cfg.generation.nodes or 1)


def generation_layout(cfg, part: str) -> GenerationLayout:
    g, gpn = cfg.generation, cfg.cluster.gpus_per_node
    tp = g.tensor_parallel_size if gpn else 0
    per_node = g.replicas_per_node or (max(1, gpn // g.tensor_parallel_size) if gpn else 1)
    return GenerationLayout(g.nodes or job_nodes(cfg, part), per_node, tp)


def sbatch_args(cfg, part: str) -> list[str]:
    c = cfg.cluster
    # Steps use every CPU and GPU of the nodes, and all their memory: --exclusive alone gets the
    # cluster's default memory per CPU where memory is a scheduled resource, and NeMo's HF -> .nemo
    # converter holds the whole HF model in float32 in host memory (Llama 2 70B: 280 GB). NVIDIA's
    # own NeMo launcher asks the same (exclusive, mem 0).
    args = [f"--nodes={job_nodes(cfg, part)}", "--exclusive", "--mem=0"]
    if c.gpus_per_node:
        args.append(f"--gpus-per-node={c.gpus_per_node}")
    if c.partition:
        args.append(f"--partition={c.partition}")
    if c.account:
        args.append(f"--account={c.account}")
    if c.name != "none":
        args.append(f"--time={c.time_limit}")
    args.append(f"--signal=B:USR1@{c.requeue_signal_s}")
    return args


def check_allocation(cfg, part: str, have_nodes: int | None) -> None:
    need = job_nodes(cfg, part)
    if have_nodes is not None and have_nodes < need:
        raise AllocationTooSmall(
            f"this job has {have_nodes} node(s); the {part} job needs {need} (sft/dpo.parallel.nodes, "
            "generation.nodes). "
            f"Submit with: sbatch {shlex.join(sbatch_args(cfg, part))} slurm/{part}.sh ...  (slurm/pipeline.sh does)"
        )


def job_steps(cfg, part: str, iteration: str, overrides: list[str], python: str = "python") -> tuple[str, list[str]]:
    """The header line and the job steps of the sft job or of one iteration's job."""
    from srlm_nemo.recipes.self_rewarding import build
    stages = build(cfg, convert=False)
    t, chosen = job_stages(stages, part, iteration)
    return (f"# iteration {t}" if part == "iteration" else "# seed and SFT"), step_lines(
        cfg, chosen, overrides, python, part
    )


def step_lines(cfg, stages, overrides: list[str], python: str = "python", part: str = "iteration") -> list[str]:
    c = cfg.cluster
    lay = generation_layout(cfg, part)
    lines = []
    for s in stages:
        cmd = [python, "-m", "srlm_nemo.cli", "stage", s.name]
        if s.kind not in GENERATION_KINDS:
            if cfg.training.name == "nemo_aligner" and s.kind in ("sft", "dpo"):
                # On the batch host, not in a step: the trainer launches its own steps (conversion,
                # training on every node, export). An srun inside a step waits forever for the
                # resources the outer step holds (seen on Slurm 22.05), and containers have no srun.
                if s.kind == "dpo" and cfg.dpo.select in SELECTING:
                    # train and export every checkpoint on the host's steps; then pick one by
                    # pairwise judging, which generates with vLLM: a step in the generation image
                    lines.append(shlex.join(cmd + ["--train-only"] + overrides))
                    gpu = [f"--gres=gpu:{lay.gpus_per_replica}"] if lay.gpus_per_replica else []
                    lines.append(shlex.join(srun_prefix(c, 1, c.generation_image, 1, gpu) + cmd + overrides))
                else:
                    lines.append(shlex.join(cmd + overrides))
            else:
                lines.append(shlex.join(srun_prefix(c, 1, c.training_image, 1) + cmd + overrides))
            continue
        image = c.generation_image
        if s.kind in SHARDED_KINDS and lay.workers > 1:
            # one task per replica; --gpus-per-task binds each to its own GPUs (CUDA_VISIBLE_DEVICES);
            # a failed worker ends the step at once instead of leaving the others to finish
            gpu = [f"--gpus-per-task={lay.gpus_per_replica}"] if lay.gpus_per_replica else []
            lines.append(
                shlex.join(
                    srun_prefix(c, lay.nodes, image, lay.replicas_per_node, gpu + ["--kill-on-bad-exit=1"])
                    + cmd
                    + ["--shard-worker"]
                    + overrides
                )
            )
        # one task: the merge of the shards (and any shard still missing), or the whole stage;
        # --gres (not --gpus-per-task) is what restricts a single task to its GPUs
        gpu = [f"--gres=gpu:{lay.gpus_per_replica}"] if lay.gpus_per_replica else []
        lines.append(shlex.join(srun_prefix(c, 1, image, 1, gpu) + cmd + overrides))
    return lines
