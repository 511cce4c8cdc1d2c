"""AlpacaEval answer stage: the model answers AlpacaEval's instructions (`srlm eval alpaca`);
scoring them is the alpaca_score stage's (srlm_nemo/stages/alpaca_score.py).

in : AlpacaEval instructions (JSON list or JSONL), the model
out: <stage>/model_outputs.json (alpaca_eval's format: instruction, output, generator, dataset)
"""
from __future__ import annotations

from pathlib import Path

from ..artifacts import write_json
from ..config import GENERATION_KNOBS
from ..evaluate import answers, load_instructions
from ..pipeline import Stage, reads
from ..run_layout import RunLayout, eval_stage
from .h2h import ANSWER_READS


def declare(cfg, layout: RunLayout, label: str, model: Path, instructions: Path) -> Stage:
    name = eval_stage("alpaca", label)
    return Stage(name, "alpaca", layout.stage_dir(name), config=reads(cfg, *ANSWER_READS, *GENERATION_KNOBS),
                 inputs={"instructions": instructions, "model": model},
                 outputs={"model_outputs": layout.output(name, "model_outputs.json")}, model=label)


def validate(stage) -> None:
    """The instructions file, read before an earlier run of this stage is removed."""
    load_instructions(stage.inputs["instructions"])


def run(ctx, stage, fp):
    rows = load_instructions(stage.inputs["instructions"])
    outs = answers(ctx, stage.inputs["model"], rows)
    write_json(stage.outputs["model_outputs"], [
        {"instruction": r["instruction"], "output": a, "generator": f"srlm-nemo-{stage.model}", "dataset": r["dataset"]}
        for r, a in zip(rows, outs)])
    lengths = [len(a) for a in outs]
    return {
        "instructions": len(rows),
        "mean_output_chars": sum(lengths) / len(lengths) if lengths else 0.0,
        "note": "scoring needs alpaca_eval with an annotator; non-default annotators are not leaderboard-comparable",
    }
