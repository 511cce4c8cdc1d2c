"""The evaluation stages of a run, declared like every other stage (what each reads is what its
fingerprint covers):

    eval/rm/<M>          M judges the held-out human-ranked replies: the paper's Table 4
    eval/h2h/<A>_vs_<B>  both answer the same prompts; the pairwise judge sees both orders
    eval/alpaca/<M>      AlpacaEval answers (model_outputs.json); .../score runs alpaca_eval
    eval/mt_bench/<M>    MT-Bench answers and 1-10 grades
"""
from __future__ import annotations

from pathlib import Path

from srlm_nemo.config import GENERATION_KNOBS, JUDGE_KNOBS, Config
from srlm_nemo.evaluate import ANSWER_READS, JUDGE_READS
from srlm_nemo.models import resolve_model
from srlm_nemo.pipeline import Stage, reads
from srlm_nemo.templates import template_path

JUDGING = (*JUDGE_KNOBS, "model.system_prompt", "run.seed", *GENERATION_KNOBS)


def run_dir(cfg: Config) -> Path:
    return Path(cfg.run.run_dir).expanduser().resolve()


def model_path(cfg: Config, label_or_path: str, key: str = "model.path") -> tuple[str, Path]:
    """A model of the run by label (M1, M2, ..., SFT-IFT, `last`) or any HF checkpoint path."""
    if label_or_path == "last":
        label_or_path = f"M{cfg.run.iterations}"
    if label_or_path == "SFT-IFT":
        return label_or_path, run_dir(cfg) / "sft_ift" / "model"
    if label_or_path.startswith("M") and label_or_path[1:].isdigit():
        t = int(label_or_path[1:])
        return label_or_path, run_dir(cfg) / ("sft/model" if t == 1 else f"iter_{t}/dpo/model")
    p = resolve_model(label_or_path, cfg.run.cache_dir, convert=False, key=key)
    return p.name, p


def judge_input(cfg: Config) -> dict[str, Path]:
    """The pairwise/grading judge as an input (its weights are hashed), unless it is a server."""
    return {} if cfg.eval.judge_base_url else {"judge": model_path(cfg, cfg.eval.judge, "eval.judge")[1]}


def rm_eval_stage(cfg: Config, rd: Path, model: Path, label: str, eval_trees: Path,
                  iteration: int | None = None) -> Stage:
    d = rd / "eval" / "rm" / label
    return Stage(f"eval/rm/{label}", "rm_eval", d, config=reads(cfg, *JUDGING),
                 inputs={"eval_trees": eval_trees, "model": model, "template": template_path(cfg.judge.template)},
                 outputs={"rm_scores": d / "rm_scores.jsonl", "judgements": d / "judgements.jsonl"},
                 iteration=iteration, model=label)


def h2h_stage(cfg: Config, a: tuple[str, Path], b: tuple[str, Path], prompts: Path) -> Stage:
    d = run_dir(cfg) / "eval" / "h2h" / f"{a[0]}_vs_{b[0]}"
    return Stage(f"eval/h2h/{a[0]}_vs_{b[0]}", "h2h", d,
                 config=reads(cfg, *ANSWER_READS, *JUDGE_READS, *GENERATION_KNOBS),
                 inputs={"prompts": prompts, "model_a": a[1], "model_b": b[1], **judge_input(cfg),
                         "template": template_path(cfg.eval.judge_template)},
                 outputs={n: d / f"{n}.jsonl" for n in ("answers", "judgements")},
                 model=f"{a[0]} vs {b[0]}", extra={"a": a[0], "b": b[0]})


def alpaca_stage(cfg: Config, label: str, model: Path, instructions: Path) -> Stage:
    d = run_dir(cfg) / "eval" / "alpaca" / label
    return Stage(f"eval/alpaca/{label}", "alpaca", d, config=reads(cfg, *ANSWER_READS, *GENERATION_KNOBS),
                 inputs={"instructions": instructions, "model": model},
                 outputs={"model_outputs": d / "model_outputs.json"}, model=label)


def alpaca_score_stage(cfg: Config, label: str, model_outputs: Path) -> Stage:
    d = model_outputs.parent / "alpaca_eval"
    inputs = {"model_outputs": model_outputs}
    if cfg.eval.alpaca_reference:
        inputs["reference_outputs"] = Path(cfg.eval.alpaca_reference).expanduser().resolve()
    keys = ("alpaca_annotator", "alpaca_reference", "alpaca_max_instances", "judge_base_url", "judge_model",
            "judge_api_key_env")
    return Stage(f"eval/alpaca/{label}/score", "alpaca_score", d, config=reads(cfg, *(f"eval.{k}" for k in keys)),
                 inputs=inputs, outputs={"result": d / "result.json"}, model=label)


def mtbench_stage(cfg: Config, label: str, model: Path, questions: Path) -> Stage:
    d = run_dir(cfg) / "eval" / "mt_bench" / label
    return Stage(f"eval/mt_bench/{label}", "mtbench", d,
                 config=reads(cfg, *ANSWER_READS, *JUDGE_READS, "eval.judge", *GENERATION_KNOBS),
                 inputs={"questions": questions, "model": model, **judge_input(cfg),
                         "template": template_path("mt_bench_single.j2")},
                 outputs={"answers": d / "model_answer.jsonl", "judgments": d / "judgments.jsonl"}, model=label)
