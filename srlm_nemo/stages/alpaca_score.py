"""AlpacaEval scoring stage: the `alpaca_eval` package scores an alpaca stage's answers with the
annotator `eval.alpaca_annotator` (srlm_nemo/alpaca_eval_run.py says which annotators and when a
result is comparable with the leaderboard).

in : model_outputs.json of the alpaca stage, the reference outputs (eval.alpaca_reference) if set
out: <alpaca stage>/alpaca_eval/result.json (win rates, whether comparable), alpaca_eval.log
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from ..alpaca_eval_run import DEFAULT_ANNOTATOR, ENDPOINT, endpoint_annotator, package_dir
from ..artifacts import ArtifactError, write_json
from ..pipeline import Stage, reads
from ..run_layout import eval_stage

READS = tuple(f"eval.{k}" for k in ("alpaca_annotator", "alpaca_reference", "alpaca_max_instances", "judge_base_url",
                                     "judge_model", "judge_api_key_env"))


def declare(cfg, label: str, model_outputs: Path) -> Stage:
    d = model_outputs.parent / "alpaca_eval"
    inputs = {"model_outputs": model_outputs}
    if cfg.eval.alpaca_reference:
        inputs["reference_outputs"] = Path(cfg.eval.alpaca_reference).expanduser().resolve()
    return Stage(eval_stage("alpaca", label) + "/score", "alpaca_score", d, config=reads(cfg, *READS),
                 inputs=inputs, outputs={"result": d / "result.json"}, model=label)


def _command(e, stage, out: Path) -> tuple[list[str], dict, str, bool]:
    """alpaca_eval's command line, its environment, the annotator's name, and whether the result
    is comparable with the leaderboard."""
    env = dict(os.environ)
    if e.alpaca_annotator == "endpoint":
        annotator, extra = endpoint_annotator(e, stage.dir)
        env.update(extra)
        name = ENDPOINT
    else:
        package_dir()
        annotator, name = e.alpaca_annotator, e.alpaca_annotator
    cmd = [sys.executable, "-m", "alpaca_eval.main", "evaluate", "--model_outputs", str(stage.inputs["model_outputs"]),
           "--annotators_config", str(annotator), "--output_path", str(out), "--is_overwrite_leaderboard", "True",
           "--precomputed_leaderboard", "None"]
    if "reference_outputs" in stage.inputs:
        cmd += ["--reference_outputs", str(stage.inputs["reference_outputs"])]
    comparable = name == DEFAULT_ANNOTATOR and not e.alpaca_reference
    if not comparable:
        # the length-controlled rate fits its GLM against data fetched for the leaderboard's
        # annotator and reference; elsewhere it is meaningless (and needs the hub): plain win rate
        cmd += ["--fn_metric", "get_winrate", "--sort_by", "win_rate"]
    if e.alpaca_max_instances:
        cmd += ["--max_instances", str(e.alpaca_max_instances)]
    return cmd, env, name, comparable


def _leaderboard_row(stage, out: Path) -> tuple[Path, dict]:
    board = next(out.rglob("leaderboard.csv"), None)
    if board is None:
        raise ArtifactError(f"alpaca_eval wrote no leaderboard.csv under {out}; see {stage.dir / 'alpaca_eval.log'}")
    rows = list(csv.DictReader(board.open()))
    generator = json.loads(Path(stage.inputs["model_outputs"]).read_text())[0]["generator"]
    return board, next((r for r in rows if r.get("") == generator or r.get("name") == generator), rows[0])


def _number(row: dict, key: str) -> float | None:
    try:
        return float(row[key])
    except (KeyError, TypeError, ValueError):
        return None


def _note(e, name: str, comparable: bool) -> str:
    if comparable:
        return "comparable with the AlpacaEval 2.0 leaderboard"
    why = [x for x, bad in (("non-default annotator", name != DEFAULT_ANNOTATOR),
                            ("non-default reference outputs", bool(e.alpaca_reference))) if bad]
    return "NOT comparable with the AlpacaEval 2.0 leaderboard or the paper: " + " and ".join(why)


def run(ctx, stage, fp):
    e = ctx.cfg.eval
    stage.dir.mkdir(parents=True, exist_ok=True)
    out = stage.dir / "output"
    cmd, env, name, comparable = _command(e, stage, out)
    ctx.log(f"       alpaca_eval with annotator {name}")
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    (stage.dir / "alpaca_eval.log").write_text(p.stdout + p.stderr)
    if p.returncode != 0:
        raise ArtifactError(f"alpaca_eval exited {p.returncode}; see {stage.dir / 'alpaca_eval.log'}:\n"
                            f"{p.stderr[-2000:]}")
    board, row = _leaderboard_row(stage, out)
    result = {"annotator": name, "reference": e.alpaca_reference or "AlpacaEval 2.0 (GPT-4 Turbo)",
              "win_rate": _number(row, "win_rate"),
              "length_controlled_win_rate": _number(row, "length_controlled_winrate"),
              "standard_error": _number(row, "standard_error"), "n_total": _number(row, "n_total"),
              "comparable": comparable, "note": _note(e, name, comparable),
              "annotations": str(next(out.rglob("annotations.json"), "")), "leaderboard": str(board)}
    write_json(stage.outputs["result"], result)
    ctx.log(
        f"       AlpacaEval win rate {result['win_rate']} (LC {result['length_controlled_win_rate']}); {result['note']}"
    )
    return result
