"""The job steps a training stage runs on the cluster: srun prefixes and the NeMo commands."""
from __future__ import annotations

from . import nemo_aligner as na


def srun_prefix(cluster, nodes: int, image: str | None, tasks_per_node: int, extra: list[str] = ()) -> list[str]:
    """Pyxis flags appear only with a container: without Pyxis, srun rejects them. --ntasks is
    explicit: srun otherwise takes SLURM_NTASKS from the batch script's environment (the job's
    tasks), which caps the step below --nodes x --ntasks-per-node (seen on Slurm 22.05)."""
    cmd = ["srun", f"--nodes={nodes}", f"--ntasks={nodes * tasks_per_node}", f"--ntasks-per-node={tasks_per_node}",
           *extra]
    if image:
        cmd += [f"--container-image={image}", f"--container-workdir={cluster.workdir}", "--no-container-mount-home"]
        if cluster.mounts:
            cmd += [f"--container-mounts={','.join(cluster.mounts)}"]
    return cmd


def training_commands(cfg, stage_dir: str, sec: str, hf_in: str, out_hf: str, s=None,
                      soft_labels: bool = False) -> list[list[str]]:
    """HF -> .nemo, its check, training on all the stage's GPUs, .nemo -> HF (+ tokenizer).
    `s`: the stage's own sft/dpo section (default: the config's); `soft_labels`: DPO pairs
    carry weights (pairs.strategy=cream)."""
    c, s = cfg.cluster, s if s is not None else getattr(cfg, sec)
    work = na.work_dir(stage_dir)
    one = srun_prefix(c, 1, c.training_image, 1)
    many = srun_prefix(c, s.parallel.nodes, c.training_image, c.gpus_per_node)
    files = (c, s, f"{work}/input.nemo", f"{work}/train.jsonl", f"{work}/val.jsonl", f"{work}/results")
    train = na.train_sft_command(*files) if sec == "sft" else na.train_dpo_command(*files, soft_labels=soft_labels)
    # NeMo's converter runs on CPU but writes BF16 only when it sees a CUDA device (FP16 otherwise)
    convert_on = srun_prefix(c, 1, c.training_image, 1, ["--gres=gpu:1"] if c.gpus_per_node else [])
    return [convert_on + na.convert_hf_to_nemo(c, hf_in, f"{work}/input.nemo"),
            one + ["python", "-m", "srlm_nemo.cluster.verify", f"{work}/input.nemo", hf_in,
                   "--precision", na.CONVERT_PRECISION],
            many + train,
            *[one + x for x in na.convert_nemo_to_hf(c, na.final_nemo(f"{work}/results"), hf_in, out_hf,
                                                           cfg.model.arch.params_b)]]
