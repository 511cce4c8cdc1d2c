"""Head-to-head stage: models A and B answer the same prompts; the pairwise judge sees each pair
in both orders (srlm_nemo/evaluate.py). The paper's M_t vs M_(t-1), and `srlm eval h2h`.

in : prompts (JSON/JSONL, `instruction` or `prompt`), models A and B, the judge model (or the
     server at eval.judge_base_url), the pairwise template eval.judge_template
out: <stage>/answers.jsonl, <stage>/judgements.jsonl; wins, ties and losses in the manifest
"""
from __future__ import annotations

from pathlib import Path

from ..artifacts import write_jsonl
from ..config import GENERATION_KNOBS
from ..evaluate import head_to_head, load_instructions
from ..pipeline import Stage, reads
from ..run_layout import RunLayout, eval_stage
from ..templates import template_path

# The config an evaluation that answers, and one that judges, reads (alpaca, mtbench and the DPO
# checkpoint selection too).
ANSWER_READS = ("eval.temperature", "eval.top_p", "eval.max_new_tokens", "run.seed", "model.system_prompt")
JUDGE_READS = ("eval.judge_template", "eval.judge_max_new_tokens", "eval.judge_temperature", "eval.judge_base_url",
               "eval.judge_model")


def judge_input(cfg, layout: RunLayout) -> dict[str, Path]:
    """The pairwise/grading judge as an input (its weights are hashed), unless it is a server."""
    return {} if cfg.eval.judge_base_url else {"judge": layout.model_or_path(cfg, cfg.eval.judge, "eval.judge")[1]}


def declare(cfg, layout: RunLayout, a: tuple[str, Path], b: tuple[str, Path], prompts: Path) -> Stage:
    """`a`, `b`: (label, model folder)."""
    name = eval_stage("h2h", f"{a[0]}_vs_{b[0]}")
    d = layout.stage_dir(name)
    return Stage(name, "h2h", d, config=reads(cfg, *ANSWER_READS, *JUDGE_READS, *GENERATION_KNOBS),
                 inputs={"prompts": prompts, "model_a": a[1], "model_b": b[1], **judge_input(cfg, layout),
                         "template": template_path(cfg.eval.judge_template)},
                 outputs={n: d / f"{n}.jsonl" for n in ("answers", "judgements")},
                 model=f"{a[0]} vs {b[0]}", extra={"a": a[0], "b": b[0]})


def validate(stage) -> None:
    """The prompts file, read before an earlier run of this stage is removed."""
    load_instructions(stage.inputs["prompts"])


def run(ctx, stage, fp):
    rows = load_instructions(stage.inputs["prompts"])
    result, pairs, records = head_to_head(ctx, stage.inputs["model_a"], stage.inputs["model_b"], rows,
                                          stage.inputs.get("judge"))
    write_jsonl(stage.outputs["answers"], pairs)
    write_jsonl(stage.outputs["judgements"], records)
    return {"a": stage.extra["a"], "b": stage.extra["b"], **result}
