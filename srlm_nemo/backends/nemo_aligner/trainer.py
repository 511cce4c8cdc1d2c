"""The `nemo_aligner` training backend: the same `sft()` / `dpo()` calls as TRL's adapter.

Each call writes NeMo-Aligner's data files next to the stage, then runs, as Slurm job steps of
the allocation it is in (slurm/iteration.sh runs the stage on the batch host, so these are plain
steps, not steps inside a step): HF -> .nemo, the conversion check, training on all the stage's
GPUs, .nemo -> HF. A failing step raises with the command and its
exit code; the stage has no manifest then and runs again on resubmission.

Unverified here: this machine has no GPU and no NeMo container. What it can check (data files,
commands, layouts, the conversion check) is tested in tests/test_cluster.py.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from ... import timeleft
from ...config import SELECTING
from ..training import TrainResult
from .checkpoints import checkpoint_label, final_nemo, saved_checkpoints, work_dir
from .commands import export_checkpoint, render, srun_prefix, training_commands
from .data import write_dpo_data, write_sft_data


class StepFailed(RuntimeError):
    pass


# Set by Slurm for one job step; inherited by an srun started from inside a step they override its
# layout (an inner `srun --nodes=2 --ntasks-per-node=2` ran 1 task: SLURM_NTASKS=1 won).
_STEP_VARS = ("SLURM_NTASKS", "SLURM_NPROCS", "SLURM_NNODES", "SLURM_NODELIST", "SLURM_TASKS_PER_NODE",
              "SLURM_NTASKS_PER_NODE", "SLURM_CPUS_PER_TASK", "SLURM_GPUS_PER_TASK", "SLURM_TRES_PER_TASK",
              "SLURM_DISTRIBUTION", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID", "SLURM_GTIDS")


def step_env() -> dict:
    """The environment for the job steps the trainer launches: the job's, without one step's layout."""
    import os
    return {k: v for k, v in os.environ.items()
            if k not in _STEP_VARS and not k.startswith(("SLURM_STEP_", "SLURM_SRUN_COMM_"))}


class NemoAlignerTrainer:
    def __init__(self, cfg):
        self.cfg = cfg

    def _split(self, rows: list, gbs: int) -> tuple[list, list]:
        # Validation needs at least one global batch too; hold out ~2% when there is room.
        n_val = max(gbs, len(rows) // 50)
        return (rows[n_val:], rows[:n_val]) if len(rows) - n_val >= gbs else (rows, rows[:gbs])

    def _time_budget(self, sec: str) -> float | None:
        """Seconds training may run in this job: what Slurm has left, less the warning signal's
        lead and one checkpoint save. None outside Slurm or without a time limit."""
        left = timeleft.job_seconds_left()
        if left is None:
            return None
        c = self.cfg.cluster
        budget = left - c.requeue_signal_s - c.checkpoint_save_s
        if budget < c.checkpoint_save_s:  # less than a save's worth of training: not worth starting
            raise timeleft.TimeLimitNear(f"{sec}: {left:.0f} s left in the job, too little to train; requeueing")
        return budget

    def _run(self, sec: str, s, model_path: str, rows: list, out_dir: Path, writer) -> TrainResult:
        """`s`: the stage's sft or dpo section, as the stage passed it."""
        from transformers import AutoTokenizer
        stage_dir = out_dir.parent
        work = work_dir(stage_dir)
        tok = AutoTokenizer.from_pretrained(model_path)
        train, val = self._split(rows, s.global_batch_size)
        writer(tok, train, work / "train.jsonl", s.global_batch_size)
        writer(tok, val, work / "val.jsonl", s.global_batch_size)
        steps = _Steps(work / "commands.sh")
        convert, verify, train_cmd, *back = training_commands(
            self.cfg, str(stage_dir), sec, model_path, str(out_dir), section=s,
            soft_labels=any("weight" in r for r in rows))
        self._convert_once(steps, sec, work, model_path, [convert, verify])
        self._train(steps, sec, work, train_cmd)
        steps.run(sec, back)
        selecting = sec == "dpo" and s.select in SELECTING
        ckpts = self._export_checkpoints(steps, sec, s, stage_dir, model_path) if selecting else []
        return TrainResult(model_dir=str(out_dir), steps=-1, checkpoints=ckpts, kept="final")

    def _convert_once(self, steps: "_Steps", sec: str, work: Path, model_path: str, cmds: list[list[str]]) -> None:
        """HF -> .nemo and its check; a 70B conversion takes long: not again on every requeue."""
        converted = work / "input.nemo.verified"  # written only after the check passed
        if converted.exists():
            steps.note(f"{work / 'input.nemo'}: converted and checked by an earlier run")
            return
        steps.run(f"{sec}: HF -> .nemo", cmds)
        converted.write_text(f"{model_path}\n")

    def _train(self, steps: "_Steps", sec: str, work: Path, train: list[str]) -> None:
        budget = self._time_budget(sec)
        if budget is not None:
            # NeMo-Aligner's own timer: validate, save a checkpoint and stop this long after start
            train = [*train, f"++exp_manager.max_time_per_run={timeleft.as_duration(budget)}"]
        started = time.monotonic()
        steps.run(sec, [train])
        final = Path(final_nemo(str(work / "results")))
        if not final.exists():
            # the .nemo is written only at the end of training: it stopped early
            if budget is not None and time.monotonic() - started >= budget - 120:
                raise timeleft.TimeLimitNear(f"{sec}: training saved a checkpoint and stopped before the job's time "
                                             "limit; the requeued job resumes from it")
            raise StepFailed(f"{sec}: training exited 0 but wrote no {final}")

    def _export_checkpoints(self, steps: "_Steps", sec: str, s, stage_dir: Path, model_path: str) -> list[str]:
        """Every saved checkpoint, in step order, as an HF model in <stage>/work/<step-N>, where
        the checkpoint selection looks."""
        work = work_dir(stage_dir)
        ckpt_dir = work / "results" / "checkpoints"
        c = self.cfg.cluster
        ranks = s.parallel.tensor_parallel * s.parallel.pipeline_parallel  # one model replica
        many = srun_prefix(c, -(-ranks // c.gpus_per_node), c.training_image, min(c.gpus_per_node, ranks))
        one = srun_prefix(c, 1, c.training_image, 1)
        labels = []
        for name in saved_checkpoints(ckpt_dir):
            label = checkpoint_label(name)
            hf = stage_dir / "work" / label
            if not (hf / "config.json").exists():
                to_nemo, *to_hf = export_checkpoint(c, s, str(ckpt_dir), name, str(work / f"{label}.nemo"),
                                                    model_path, str(hf), self.cfg.model.arch.params_b)
                steps.run(f"{sec}: exporting {name}", [many + to_nemo, *(one + x for x in to_hf)])
            labels.append(label)
        return labels

    def sft(self, model_path: str, examples: list[dict], out_dir: Path, s) -> TrainResult:
        return self._run("sft", s, model_path, examples, out_dir, write_sft_data)

    def dpo(self, model_path: str, pairs: list[dict], out_dir: Path, s) -> TrainResult:
        return self._run("dpo", s, model_path, pairs, out_dir, write_dpo_data)


class _Steps:
    """Job steps run in order, each recorded in commands.sh first; the first failure stops the stage."""

    def __init__(self, log: Path):
        self.log, self.env = log, step_env()
        log.write_text("")

    def note(self, text: str) -> None:
        with open(self.log, "a") as f:
            f.write(f"# {text}\n")

    def run(self, what: str, cmds: list[list[str]]) -> None:
        with open(self.log, "a") as f:
            f.write("".join(render(c) + "\n" for c in cmds))
        for c in cmds:
            done = subprocess.run(c, env=self.env)
            if done.returncode != 0:
                raise StepFailed(f"{what}: step exited {done.returncode}: {render(c)}")
