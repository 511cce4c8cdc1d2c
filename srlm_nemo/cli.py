"""`srlm`: run the recipe, one stage, show the plan, or the status of a run directory."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf

from .artifacts import ArtifactError
from .config import ConfigError, load_config
from .megatron_layout import LayoutError
from .locks import NotARunDir, RunDirBusy, is_run_dir
from .timeleft import EXIT_REQUEUE, TimeLimitNear
from .models import ModelNotFound

STATE_STYLE = {"done": "green", "stale": "yellow", "partial": "yellow", "pending": "cyan", "waiting": "dim"}


def _worker_rank(rank: int | None, world: int | None) -> tuple[int, int]:
    import os
    try:  # Slurm sets these in every task of `srun --ntasks=N`
        r = rank if rank is not None else int(os.environ["SLURM_PROCID"])
        w = world if world is not None else int(os.environ["SLURM_NTASKS"])
    except KeyError as e:
        raise ConfigError(f"--shard-worker outside a Slurm step needs --rank and --world ({e.args[0]} is not set)")
    if not 0 <= r < w:
        raise ConfigError(f"--shard-worker: rank {r} is not in 0..{w - 1}")
    return r, w


def cmd_run(overrides, only: str | None = None, only_prefix: str | None = None,
            shard_worker: tuple[int, int] | None = None, train_only: bool = False) -> int:
    from . import runner
    cfg, dcfg = load_config(overrides)
    t0 = time.time()
    ctx, stages = runner.recipe(cfg)
    stages = runner.pick(stages, only, only_prefix)
    if shard_worker is not None:
        runner.check_shardable(stages)
        ctx.shard_worker = shard_worker
    ctx.train_only = train_only
    what = f"srlm stage {only}" if only else "srlm eval rm" if only_prefix else "srlm run"
    written = runner.run(ctx, OmegaConf.to_yaml(dcfg), stages, what)
    if written is not None:
        summary, report = written
        print(summary.read_text())
        print(
            f"artifacts: {ctx.run_dir}\nsummary:   {summary}\nreport:    {report}\nwall time: {time.time() - t0:.1f}s"
        )
    return 0


def cmd_plan(overrides) -> int:
    from rich.console import Console
    from rich.table import Table

    from .pipeline import state
    from .runner import recipe
    cfg, dcfg = load_config(overrides)
    ctx, stages = recipe(cfg)
    con = Console()
    con.print("[bold]resolved config[/bold]")
    con.print(OmegaConf.to_yaml(dcfg), markup=False, highlight=False)
    table = Table(title=f"stages in {ctx.run_dir}")
    for col in ("stage", "state", "inputs", "outputs"):
        table.add_column(col)
    will_run = []
    for s in stages:
        st = state(s)
        if st != "done":
            will_run.append(s.name)
        table.add_row(s.name, f"[{STATE_STYLE[st]}]{st}[/]", ", ".join(s.inputs), ", ".join(s.outputs))
    con.print(table)
    con.print(f"would run: {', '.join(will_run) if will_run else 'nothing (all done)'}")
    if cfg.training.name == "nemo_aligner":
        from .cluster.plan import cluster_plan
        con.print("\n[bold]cluster plan[/bold]")
        con.print(cluster_plan(cfg, ctx.run_dir, stages, overrides), markup=False, highlight=False, soft_wrap=True)
    return 0


def cmd_status(run_dir: str) -> int:
    from .run_layout import RunLayout
    from .summary import collect
    rd = _existing_run_dir(run_dir)
    s = collect(rd)
    for name, st in s["stages"].items():
        print(f"done  {name:24s} {st['seconds']:8.1f}s  {json.dumps(st['outputs'])}")
    partial = sorted({str(p.parent.parent.parent.relative_to(rd)) for p in rd.glob("**/shards/*/*.jsonl")
                      if not (p.parent.parent.parent / "manifest.json").exists()})
    for p in partial:
        print(f"partial {p}")
    for p in s["unreadable"]:
        print(f"unreadable {p}/manifest.json (the stage counts as not done; the next run redoes it)")
    summary = RunLayout(rd).summary
    print(f"summary: {summary if summary.exists() else '(not written yet)'}")
    return 0


def cmd_eval(a, ap) -> int:
    from . import runner
    from .context import RunContext
    from .recipes import evaluation as ev
    from .run_layout import RunLayout
    cfg, _ = load_config(a.overrides)
    layout = RunLayout.of(cfg)
    if a.what == "h2h":
        if not (a.a and a.b and a.prompts):
            ap.error("h2h needs --a, --b and --prompts")
        stages = [ev.h2h_stage(cfg, layout, a.a, a.b, Path(a.prompts).resolve())]
    elif a.what == "mtbench":
        if not (a.model and a.questions):
            ap.error("mtbench needs --model and --questions")
        stages = [ev.mtbench_stage(cfg, layout, a.model, Path(a.questions).resolve())]
    else:
        if not (a.model and a.instructions):
            ap.error("alpaca needs --model and --instructions (a file, or `hub` for tatsu-lab/alpaca_eval)")
        from .alpaca_eval_run import hub_instructions
        instructions = (
            hub_instructions(cfg.run.cache_dir) if a.instructions == "hub" else Path(a.instructions).resolve()
        )
        stages = ev.alpaca_stages(cfg, layout, a.model, instructions)
    manifest = runner.run_eval(RunContext(cfg), stages, f"srlm eval {a.what}")
    print(json.dumps(manifest["stats"], indent=2))
    for stage in stages:
        for name, out in stage.outputs.items():
            print(f"{name}: {out}")
    return 0


def cmd_rm_metrics(path: str) -> int:
    from .artifacts import read_jsonl
    from .rm_metrics import check_rows, rm_metrics
    numbered = read_jsonl(path, numbered=True)
    check_rows(path, numbered)
    print(json.dumps(rm_metrics([r for _, r in numbered]), indent=2))
    return 0


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="srlm", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for add in (_recipe_commands, _evaluation_commands, _cluster_and_run_dir_commands):
        add(sub)
    return ap


def _recipe_commands(sub) -> None:
    """run, stage, config, plan: the recipe and its knobs."""
    p = sub.add_parser("run", help="run the whole recipe (resumes; finished stages are skipped)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=demo judge.k=3")
    p = sub.add_parser(
        "stage", help="run one stage, e.g. `srlm stage iter_2/judge` or `srlm stage judge -i 2` (iteration 2: M1 -> M2)"
    )
    p.add_argument("name")
    p.add_argument("-i", "--iteration", type=int, default=None)
    p.add_argument("--shard-worker", action="store_true",
                   help="fill only this task's shards of a generation stage (rank/world from SLURM_PROCID/"
                        "SLURM_NTASKS); a plain `srlm stage` afterwards merges them")
    p.add_argument("--train-only", action="store_true",
                   help="DPO with a checkpoint selection (dpo.select=external|self): train, then stop before "
                        "the selection")
    p.add_argument("--rank", type=int, default=None, help="with --shard-worker, outside Slurm")
    p.add_argument("--world", type=int, default=None, help="with --shard-worker, outside Slurm")
    p.add_argument("overrides", nargs="*")
    p = sub.add_parser("config", help="every knob: its default, whose default it is (paper / ours / site), its "
                                      "choices or range, and what it does; `srlm config judge` one section, "
                                      "overrides after it show their values beside the defaults")
    p.add_argument("section", nargs="?", help="one section (run, model, judge, dpo, ...)")
    p.add_argument("overrides", nargs="*")
    p = sub.add_parser("plan", help="print the resolved config and each stage's state; runs nothing")
    p.add_argument("overrides", nargs="*")


def _evaluation_commands(sub) -> None:
    """eval, prompts: evaluations and the prompt filter."""
    p = sub.add_parser("eval", help="evaluations: rm | rm-metrics --scores F | h2h --a M3 --b M1 --prompts F | "
                                    "alpaca --model M3 --instructions F")
    p.add_argument("what", choices=["rm", "rm-metrics", "h2h", "alpaca", "mtbench"])
    p.add_argument("--questions", help="mtbench: FastChat llm_judge question.jsonl")
    p.add_argument("--scores", help="JSONL of {prompt_id, reply_id, human_rank, model_score} (rm-metrics)")
    p.add_argument("--a", help="h2h: model A (M1, M2, ..., SFT-IFT, or an HF path)")
    p.add_argument("--b", help="h2h: model B")
    p.add_argument("--prompts", help="h2h: JSON/JSONL of prompts (`instruction` or `prompt`)")
    p.add_argument("--model", help="alpaca, mtbench: the model (label or HF path)")
    p.add_argument("--instructions", help="alpaca: AlpacaEval's instructions (JSON list or JSONL)")
    p.add_argument("overrides", nargs="*")
    p = sub.add_parser("prompts", help="`srlm prompts filter --pool P --candidates C --out K [--threshold 0.7]`")
    p.add_argument("what", choices=["filter"])
    p.add_argument("--pool", required=True, help="JSONL with `instruction` or `prompt`")
    p.add_argument("--candidates", required=True, help="JSONL with `instruction` or `prompt`")
    p.add_argument("--out", required=True, help="kept candidates, input order, fields unchanged")
    p.add_argument("--threshold", type=float, default=0.7, help="drop when max ROUGE-L F > threshold")
    p.add_argument("--tokenizer", choices=["rouge_score", "unicode"], default="rouge_score",
                   help="rouge_score (the reference; drops non-Latin scripts) or unicode")


def _cluster_and_run_dir_commands(sub) -> None:
    """cluster, report, status: Slurm jobs, and views of a run directory."""
    p = sub.add_parser("cluster", help="`srlm cluster steps|sbatch-args --part sft|iteration [--iteration T|auto]`: "
                                       "the job steps of one Slurm job, or its sbatch options (what slurm/*.sh run); "
                                       "`srlm cluster smoke [--nemo-dir D] [--aligner-dir D] [--python P]`: NeMo's and "
                                       "NeMo-Aligner's real steps at tiny size on this node, PASS/FAIL/SKIP per step")
    p.add_argument("what", choices=["steps", "sbatch-args", "smoke"])
    p.add_argument("--part", choices=["sft", "iteration"])
    p.add_argument("--iteration", default="auto")
    p.add_argument("--python", default="python", help="interpreter inside the job steps (smoke: the training "
                                                      "Python, with NeMo and NeMo-Aligner)")
    p.add_argument("--nemo-dir", type=Path, help="smoke: a NeMo v2.1.0 checkout (default: cluster.nemo_dir)")
    p.add_argument("--aligner-dir", type=Path, help="smoke: a NeMo-Aligner v0.7.0 checkout (default: "
                                                     "cluster.nemo_aligner_dir)")
    p.add_argument("--work", type=Path, default=Path("runs/smoke"), help="smoke: where its files and logs go")
    p.add_argument("--force", action="store_true", help="smoke: run every step even where the probe found its "
                                                        "requirements missing (to see the step's own error)")
    p.add_argument("overrides", nargs="*")
    p = sub.add_parser("report", help="rebuild RUN_DIR/report/ (Markdown + PNG panels) from the manifests")
    p.add_argument("run_dir")
    p = sub.add_parser("status", help="what is done in a run directory")
    p.add_argument("run_dir")


def _parse(ap, argv):
    # parse_known_args: overrides may come after `-i T` (`srlm stage judge -i 2 judge.k=5`).
    a, rest = ap.parse_known_args(argv)
    if rest and a.cmd in ("run", "stage", "plan", "eval", "cluster", "config"):
        bad = [r for r in rest if r.startswith("-")]
        if bad:
            ap.error(f"unrecognized arguments: {' '.join(bad)}")
        a.overrides = list(a.overrides) + rest
    elif rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    return a


# --- one function per subcommand: (parsed arguments, parser) -> exit code ---------------------

def _run(a, ap) -> int:
    return cmd_run(a.overrides)


def _stage(a, ap) -> int:
    from .run_layout import iteration_stage
    if a.iteration is not None and a.iteration < 2:
        raise ConfigError(f"-i {a.iteration}: iterations of the loop start at 2 (iteration 1 is the SFT model M1: "
                          "`srlm stage sft`)")
    whole = "/" in a.name or a.name in ("seed", "sft", "sft_ift", "eft")
    name = a.name if whole else iteration_stage(2 if a.iteration is None else a.iteration, a.name)
    worker = _worker_rank(a.rank, a.world) if a.shard_worker else None
    return cmd_run(a.overrides, only=name, shard_worker=worker, train_only=a.train_only)


def _eval(a, ap) -> int:
    if a.what == "rm-metrics":
        if not a.scores:
            ap.error("rm-metrics needs --scores FILE")
        return cmd_rm_metrics(a.scores)
    if a.what == "rm":
        from .run_layout import eval_stage
        return cmd_run(a.overrides, only_prefix=eval_stage("rm", ""))
    return cmd_eval(a, ap)


def _prompts(a, ap) -> int:
    from .prompt_filter_cli import main as prompts_main
    return prompts_main(a)


def _config(a, ap) -> int:
    from .config import Config
    from .knobs import describe
    section, overrides = a.section, list(a.overrides)
    if section and "=" in section:  # `srlm config judge.k=5`: an override, no section
        section, overrides = None, [section, *overrides]
    sections = [f.name for f in dataclasses.fields(Config)]
    if section and section not in sections:
        raise ConfigError(f"no config section {section!r}; sections: {', '.join(sections)}")
    current = load_config(overrides)[0] if overrides else None
    print("\n".join(describe(Config(), current, section)))
    return 0


def _plan(a, ap) -> int:
    return cmd_plan(a.overrides)


def _cluster(a, ap) -> int:
    from .cluster.steps import job_steps, sbatch_args
    if a.what == "smoke":  # the tiny experiment's sizes; the user's overrides (backends, images) on top
        from .cluster.smoke import Smoke
        cfg, _ = load_config(["experiment=tiny", *a.overrides])
        return Smoke(cfg, a.work, a.python, a.nemo_dir or Path(cfg.cluster.nemo_dir),
                     a.aligner_dir or Path(cfg.cluster.nemo_aligner_dir), force=a.force).all()
    if a.part is None:
        ap.error(f"srlm cluster {a.what}: --part sft|iteration is required")
    cfg, _ = load_config(a.overrides)
    _check_iteration_arg(a.iteration, cfg.run.iterations)
    if a.what == "sbatch-args":  # one per line, for `mapfile`
        print("\n".join(sbatch_args(cfg, a.part)))
        return 0
    header, lines = job_steps(cfg, a.part, a.iteration, a.overrides, a.python)
    print("\n".join([header, *lines]))
    return 0


def _check_iteration_arg(iteration: str, iterations: int) -> None:
    if iteration != "auto" and not (iteration.isdigit() and 2 <= int(iteration) <= iterations):
        raise ConfigError(f"--iteration {iteration}: auto, or an iteration of this run (2..{iterations}; "
                          "run.iterations sets the last)")


def _existing_run_dir(run_dir: str) -> Path:
    """`srlm status` and `srlm report` read (and report writes) only a folder a run has used."""
    rd = Path(run_dir)
    if not rd.exists():
        raise ArtifactError(f"{rd}: run directory does not exist")
    if not rd.is_dir() or not is_run_dir(rd):
        raise NotARunDir(f"{rd}: not a srlm run directory (no .srlm.lock: no run has used it)")
    return rd


def _report(a, ap) -> int:
    from .report import write_report
    print(write_report(_existing_run_dir(a.run_dir)))
    return 0


def _status(a, ap) -> int:
    return cmd_status(a.run_dir)


COMMANDS = {
    "config": _config,
    "run": _run,
    "stage": _stage,
    "eval": _eval,
    "prompts": _prompts,
    "plan": _plan,
    "cluster": _cluster,
    "report": _report,
    "status": _status,
}


class _Usr1(BaseException):
    """Raised by the USR1 handler; a BaseException, so no `except Exception` on the way (the
    report refresh has one) can swallow it."""


def _usr1_means_requeue() -> None:
    """Slurm's time-limit warning may reach a job step too (`scancel --signal=USR1` without
    --batch signals the steps): a stage then stops with EXIT_REQUEUE, which the job runner
    answers by requeueing, instead of dying on the signal (exit 138). Finished shards and
    checkpoints are kept, as after any kill."""
    import signal

    def stop(signum, frame):
        raise _Usr1()
    signal.signal(signal.SIGUSR1, stop)


def _one_line(text: str) -> str:
    """An error message as one line: a newline or other control character that a user's value
    carried into it is shown escaped, so the message stays one line in logs."""
    import re
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", lambda m: repr(m.group())[1:-1], text.strip())


def main(argv=None) -> int:
    ap = _parser()
    a = _parse(ap, argv)
    if a.cmd in ("run", "stage", "eval"):
        _usr1_means_requeue()
    try:
        return COMMANDS[a.cmd](a, ap)
    except (ConfigError, ArtifactError, ModelNotFound, FileNotFoundError, LayoutError, RunDirBusy, NotARunDir) as e:
        if os.environ.get("SRLM_DEBUG"):
            raise
        print(f"srlm: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # an output that cannot be written: a directory, a read-only place, ...
        if os.environ.get("SRLM_DEBUG"):
            raise
        print(f"srlm: error: {_one_line(str(e.filename or ''))}: {_one_line(str(e.strerror or e))} "
              "(SRLM_DEBUG=1 shows where)", file=sys.stderr)
        return 2
    except TimeLimitNear as e:  # the Slurm job runner requeues on this exit code
        print(f"srlm: {e}", file=sys.stderr)
        return EXIT_REQUEUE
    except _Usr1:
        print("srlm: SIGUSR1: the job is near its time limit; this stage stops here and the requeued job "
              "resumes it", file=sys.stderr)
        return EXIT_REQUEUE


if __name__ == "__main__":
    sys.exit(main())
