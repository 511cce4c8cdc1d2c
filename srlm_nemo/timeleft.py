"""The Slurm job's remaining time, so NeMo-Aligner can save a checkpoint and stop before the
limit: the requeued job then resumes from that checkpoint instead of the last 200-step one."""
from __future__ import annotations

import os
import subprocess

# A stage that stopped for the time limit exits with this (EX_TEMPFAIL); the job requeues itself.
EXIT_REQUEUE = 75


class TimeLimitNear(RuntimeError):
    pass


def parse_time_left(text: str) -> float | None:
    """squeue's %L: `[days-]hours:minutes:seconds` or `minutes:seconds`; None for UNLIMITED,
    NOT_SET, INVALID or nothing."""
    t = text.strip()
    if not t[:1].isdigit():
        return None
    days, rest = t.split("-", 1) if "-" in t else ("0", t)
    parts = [int(x) for x in rest.split(":")]
    h, m, s = [0] * (3 - len(parts)) + parts
    return int(days) * 86400 + h * 3600 + m * 60 + s


def job_seconds_left() -> float | None:
    """None outside a Slurm job, for a job without a time limit, or when squeue does not answer."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%L"], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_time_left(out.splitlines()[0]) if out.strip() else None


def as_duration(seconds: float) -> str:
    """NeMo-Aligner's Timer format, DD:HH:MM:SS."""
    s = max(0, int(seconds))
    return f"{s // 86400:02d}:{s % 86400 // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
