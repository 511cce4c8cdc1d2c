"""One writer per run directory.

`srlm run`, `srlm stage` and `srlm eval` hold an exclusive lock on `<run_dir>/.srlm.lock` while
they work; the shard workers of one generation stage (Slurm tasks filling its shards side by
side) hold it shared, and each shard they write exclusively. A second writer is refused at once
with the holder's host, pid and start time. The locks are the kernel's (flock): a killed holder
releases its lock with its death, so a lock left behind is taken over without a check of
ours. (On a cluster file system, flock needs the mount to support it, as Lustre's `flock`
option and NFSv4 do.)
"""
from __future__ import annotations

import fcntl
import json
import os
import platform
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path


class RunDirBusy(RuntimeError):
    pass


LOCK_NAME = ".srlm.lock"


class NotARunDir(RuntimeError):
    """A folder that holds something, but no run of ours: never written into."""


def is_run_dir(folder: Path) -> bool:
    """A folder one of our commands has run in: it holds the lock file they all take."""
    return (Path(folder) / LOCK_NAME).is_file()


def check_run_dir(folder: Path) -> None:
    """A run directory is new, empty, or one of ours; anything else is refused before a byte is written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotARunDir(f"{folder}: run.run_dir is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not is_run_dir(folder):
        raise NotARunDir(f"{folder}: run.run_dir exists, is not empty and is not a srlm run directory (no "
                         f"{LOCK_NAME}); give a new or empty folder")


class RunLock:
    def __init__(self, run_dir: Path, shared: bool = False):
        self.path = Path(run_dir) / LOCK_NAME
        self.shared = shared
        self._f = None

    def _holder(self) -> str:
        try:
            h = json.loads(self.path.read_text() or "{}")
            return f"pid {h['pid']} on {h['host']} (`{h['command']}`, since {h['since']})"
        except (OSError, ValueError, KeyError):
            return "another srlm process"

    def acquire(self, command: str) -> "RunLock":
        check_run_dir(self.path.parent)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise RunDirBusy(f"{self.path.parent}: in use by {self._holder()}; one writer per run directory "
                             f"(wait for it, or give this run another run.run_dir)") from None
        if not self.shared:  # the holder's card, for whoever is refused
            f.seek(0)
            f.truncate()
            f.write(json.dumps({"pid": os.getpid(), "host": platform.node(), "command": command,
                                "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
            f.flush()
        self._f = f
        return self

    def release(self) -> None:
        if self._f is not None:
            fcntl.flock(self._f, fcntl.LOCK_UN)
            self._f.close()
            self._f = None

    @contextmanager
    def held(self, command: str):
        self.acquire(command)
        try:
            yield self
        finally:
            self.release()


@contextmanager
def shard_lock(shard_path: Path):
    """Yields True when this process may write the shard (no other worker holds it)."""
    f = open(shard_path.with_suffix(".lock"), "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        yield False
        return
    try:
        yield True
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()
