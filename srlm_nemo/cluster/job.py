"""The body of the sbatch scripts (`slurm/sft.sh`, `slurm/iteration.sh` exec it):

  python -m srlm_nemo.cluster.job --part sft|iteration --script "$0" [hydra overrides...]

1. An allocation with fewer nodes than the layouts need: submit this same script again with the
   job's own sbatch options (`srlm cluster sbatch-args`), appending to the same log, and stop.
2. Run the job steps (`srlm cluster steps`) one after another; stages already done skip themselves.
3. On USR1 (`--signal=B:USR1@...`, sent to this process: the script execs it) requeue the job;
   its next run continues with the first unfinished stage. Likewise when a training stage exits
   with EXIT_REQUEUE: NeMo-Aligner saved a checkpoint and stopped before the time limit.
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys


def _say(msg: str) -> None:
    print(f"srlm: {msg}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["sft", "iteration"], required=True)
    ap.add_argument("--script", required=True, help="the batch script (Slurm's copy of it: $0)")
    a, overrides = ap.parse_known_args(argv)
    from ..config import load_config
    from .steps import AllocationTooSmall, check_allocation, sbatch_args
    python = os.environ.get("SRLM_PYTHON", "python")
    cfg, _ = load_config(overrides)
    job = os.environ.get("SLURM_JOB_ID", "")
    try:
        nodes = os.environ.get("SLURM_JOB_NUM_NODES")
        check_allocation(cfg, a.part, int(nodes) if nodes else None)
    except AllocationTooSmall as e:
        _say(str(e))
        if os.environ.get("SRLM_RESUBMITTED"):
            return 3  # resubmitted once already and still too small: the cluster cannot give more
        info = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
        log = next((w.split("=", 1)[1] for w in info.split() if w.startswith("StdOut=")), None)
        cmd = ["sbatch", "--export=ALL,SRLM_RESUBMITTED=1", *([f"--output={log}"] if log else []),
               *sbatch_args(cfg, a.part), a.script, *overrides]
        _say("resubmitting: " + shlex.join(cmd))
        return subprocess.run(cmd).returncode

    def requeue(signum, frame):
        _say(f"time limit near, requeueing job {job}")
        subprocess.run(["scontrol", "requeue", job])
        sys.exit(0)
    signal.signal(signal.SIGUSR1, requeue)

    from .steps import job_steps
    from ..timeleft import EXIT_REQUEUE
    header, lines = job_steps(cfg, a.part, os.environ.get("ITERATION", "auto"), overrides, python)
    _say(header)
    for line in lines:
        _say(line)
        rc = subprocess.run(["bash", "-c", line]).returncode
        # EXIT_REQUEUE: training saved and stopped before the time limit, or a stage received the
        # time-limit warning itself; a step that died of USR1 (srun does, on a repeated signal:
        # exit 138) was stopped by the same warning
        if rc in (EXIT_REQUEUE, 128 + signal.SIGUSR1, -signal.SIGUSR1):
            requeue(None, None)
        if rc != 0:
            _say(f"step exited {rc}; finished stages are kept, resubmit to continue")
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
