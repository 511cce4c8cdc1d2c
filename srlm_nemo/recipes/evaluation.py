"""The evaluation stages of a run, wired from their stage modules (srlm_nemo/stages/):

    eval/rm/<M>          M judges the held-out human-ranked replies: the paper's Table 4 (rm_eval)
    eval/h2h/<A>_vs_<B>  both answer the same prompts; the pairwise judge sees both orders (h2h)
    eval/alpaca/<M>      AlpacaEval answers (alpaca); .../score runs alpaca_eval (alpaca_score)
    eval/mt_bench/<M>    MT-Bench answers and 1-10 grades (mtbench)
"""
from __future__ import annotations

from pathlib import Path

from srlm_nemo.config import Config
from srlm_nemo.pipeline import Stage
from srlm_nemo.run_layout import RunLayout
from srlm_nemo.stages import alpaca, alpaca_score, h2h, mtbench


def h2h_stages(cfg: Config, layout: RunLayout, eval_trees: Path) -> list[Stage]:
    """eval.h2h_each_iteration: the paper's M_t vs M_(t-1), once every model exists;
    eval.h2h_final: the last model vs M1 (cheaper: one comparison)."""
    prompts = Path(cfg.eval.h2h_prompts).expanduser() if cfg.eval.h2h_prompts else eval_trees
    last = cfg.run.iterations
    pairs = [(t, t - 1) for t in range(2, last + 1)] if cfg.eval.h2h_each_iteration else []
    if cfg.eval.h2h_final and last >= 2 and (last, 1) not in pairs:
        pairs.append((last, 1))
    return [h2h_stage(cfg, layout, f"M{a}", f"M{b}", prompts) for a, b in pairs]


def h2h_stage(cfg: Config, layout: RunLayout, a: str, b: str, prompts: Path) -> Stage:
    """Models `a` and `b` (labels of the run or HF paths) head-to-head on `prompts`."""
    return h2h.declare(cfg, layout, layout.model_or_path(cfg, a), layout.model_or_path(cfg, b), prompts)


def alpaca_stages(cfg: Config, layout: RunLayout, model: str, instructions: Path) -> list[Stage]:
    """The model's AlpacaEval answers, and their scoring where eval.alpaca_annotator names an annotator."""
    label, path = layout.model_or_path(cfg, model)
    answers = alpaca.declare(cfg, layout, label, path, instructions)
    scored = [alpaca_score.declare(cfg, label, answers.outputs["model_outputs"])] if cfg.eval.alpaca_annotator else []
    return [answers, *scored]


def mtbench_stage(cfg: Config, layout: RunLayout, model: str, questions: Path) -> Stage:
    label, path = layout.model_or_path(cfg, model)
    return mtbench.declare(cfg, layout, label, path, questions)
