"""Running a recipe's stages: the ones `srlm run`, `srlm stage` and `srlm eval` pick, in order,
under the run directory's lock; each through `pipeline.run_stage` (skipped when done, resumed
when partial); the report and trackers refreshed after every stage that finished, the summary
written at the end. The CLI only parses arguments and prints."""
from __future__ import annotations

from pathlib import Path

from .artifacts import write_text_atomic
from .config import Config, ConfigError
from .context import RunContext
from .endpoints import check_endpoints
from .locks import RunLock
from .models import resolve_model
from .pipeline import Stage, run_stage
from .run_layout import RunLayout
from .stages import SHARDED_KINDS, VALIDATORS, runner


def recipe(cfg: Config) -> tuple[RunContext, list[Stage]]:
    """The run's context and every stage of the recipe, nothing converted or loaded."""
    from .recipes.self_rewarding import build
    return RunContext(cfg), build(cfg, convert=False)


def pick(stages: list[Stage], only: str | None = None, prefix: str | None = None) -> list[Stage]:
    """The stage named `only`, or those whose names start with `prefix`, or all."""
    if only is not None:
        picked = [s for s in stages if s.name == only]
        if not picked:
            raise ConfigError(f"unknown stage {only!r}; stages of this recipe: {', '.join(s.name for s in stages)}")
        return picked
    return [s for s in stages if prefix is None or s.name.startswith(prefix)]


def check_shardable(stages: list[Stage]) -> None:
    bad = [s.name for s in stages if s.kind not in SHARDED_KINDS]
    if bad:
        raise ConfigError(f"--shard-worker: {', '.join(bad)} is not a sharded generation stage "
                          f"(sharded: {', '.join(sorted(SHARDED_KINDS))})")


def run(ctx: RunContext, config_yaml: str, stages: list[Stage], what: str) -> tuple[Path, Path | None] | None:
    """Runs `stages` under the run directory's lock; `config_yaml` is saved as the run's config.
    Returns the summary's and the report's paths (None where the report could not be drawn), or
    None for a shard worker (the merging run writes the run's files)."""
    worker = ctx.shard_worker is not None
    layout = RunLayout(ctx.run_dir)
    with RunLock(ctx.run_dir, shared=worker).held(what + (" --shard-worker" if worker else "")):
        check_endpoints(ctx.cfg)
        if not worker:  # workers run side by side: the run's files are the merging run's
            write_text_atomic(layout.config, config_yaml)
        _convert_embedded(ctx.cfg)
        try:
            for stage in stages:
                finished = _run_one(ctx, stage)
                if finished and not worker:
                    refresh_report(ctx)
        finally:
            ctx.release_generator()
        if worker:
            return None
        from .summary import write_summary
        return write_summary(ctx.run_dir), refresh_report(ctx, final=True)


def run_eval(ctx: RunContext, stages: list[Stage], what: str) -> dict:
    """An evaluation's stages, each with its own engine; returns the last one's manifest."""
    with RunLock(ctx.run_dir).held(what):
        check_endpoints(ctx.cfg)
        try:
            for stage in stages:
                manifest = run_stage(stage, ctx, runner(stage.kind), VALIDATORS.get(stage.kind))
                ctx.release_generator()
        finally:
            ctx.release_generator()
        refresh_report(ctx)
    return manifest


def _run_one(ctx: RunContext, stage: Stage) -> bool:
    """Runs the stage; whether it wrote a new manifest (finished now)."""
    def mtime():
        return stage.manifest_path.stat().st_mtime_ns if stage.manifest_path.exists() else None
    before = mtime()
    run_stage(stage, ctx, runner(stage.kind), VALIDATORS.get(stage.kind))
    return mtime() not in (None, before)


def _convert_embedded(cfg: Config) -> None:
    """The embedded models the run uses, converted once into the cache before the first stage."""
    for path in {cfg.model.path, cfg.prompts.generator} - {"policy"}:
        if path.startswith("embedded:"):
            resolve_model(path, cfg.run.cache_dir, convert=True)


def refresh_report(ctx: RunContext, final: bool = False) -> Path | None:
    """The report (and the configured trackers) are views of the manifests: a failure to draw
    them never stops the run."""
    from .report import write_report
    from .tracking import refresh
    try:
        refresh(ctx.run_dir, ctx.cfg, final=final)
    except Exception as e:  # noqa: BLE001
        ctx.log(f"       trackers not updated: {type(e).__name__}: {e}")
    try:
        return write_report(ctx.run_dir)
    except Exception as e:  # noqa: BLE001
        ctx.log(f"       report not refreshed: {type(e).__name__}: {e}")
        return None
