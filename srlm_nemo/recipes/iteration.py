"""One self-rewarding iteration t >= 2, M_{t-1} -> M_t (Yuan et al. 2024, section 2.2-2.3;
the paper's numbering, where iteration 1 is the SFT model M1). With P = M_{t-1}:

    prompts     P (or a fixed model) writes new prompts by 8-shot self-instruct; filtered
    candidates  P answers each prompt N=4 times (T 0.7, top-p 0.9)
    judge       P scores each answer K=3 times with the additive 5-point rubric; mean of valid
    [eval/rm]   P judges held-out human-ranked replies (reward-model metrics, Table 4)
    [meta_judge] judge.meta: P compares pairs of its own judgements (Meta-Rewarding)
    [judge_previous]  pairs.strategy=cream: the model before P judges the same answers
    [judge_reference] guard.reference_judge: a frozen judge scores the same answers
    [anchor_*, pairs_anchored, future_*]  pairs.strategy=temporal: M1's answers (judged by P)
                give the rejected answers; a temporary future model, DPO-trained on them, answers
                too, and its best answer is chosen where P scores it at least as high
    pairs       highest vs lowest mean per prompt, ties dropped (pairs.strategy: the paper's
                rule, Meta-Rewarding's length control, or CREAM's consistency weights); the
                guards measured (run.guard: warn, stop, or rollback: DPO then carries P over)
    dpo         DPO from P on the pairs (+ judgement pairs with judge.meta), reference = P  ->  M_t

Assumptions: the seed stage and the model P exist (the whole recipe in
`recipes/self_rewarding.py` makes sure of that); one generation engine serves M_t for the
three generation stages; the trainer runs after the engine is released.
Backends are configuration (`generation=`, `training=`); nothing here branches on them.
"""
from __future__ import annotations

from pathlib import Path

from srlm_nemo.config import GENERATION_KNOBS, TRAINING_KNOBS, Config
from srlm_nemo.evaluate import ANSWER_READS, JUDGE_READS
from srlm_nemo.models import resolve_model
from srlm_nemo.pipeline import Stage, reads
from srlm_nemo.templates import template_path

from srlm_nemo.recipes.evaluation import JUDGING, judge_input, model_path, rm_eval_stage


def iteration_stages(cfg: Config, run_dir: Path, t: int, policy: Path, policy_label: str,
                     ift: Path, eval_trees: Path | None = None,
                     previous: tuple[Path, str] | None = None) -> list[Stage]:
    """`previous`: the model before the policy (M_{t-2}; M0 at t = 2), the second judge of
    pairs.strategy=cream."""
    d = run_dir / f"iter_{t}"
    next_label = f"M{t}"
    # The paper's prompts came from a fixed model (Llama-2-70B-chat); "policy" uses M_t instead.
    gen_model = policy if cfg.prompts.generator == "policy" else \
        resolve_model(cfg.prompts.generator, cfg.run.cache_dir, convert=False, key="prompts.generator")
    earlier = {f"prompts_iter_{s}": run_dir / f"iter_{s}" / "prompts" / "prompts.jsonl" for s in range(2, t)}

    prompts = Stage(f"iter_{t}/prompts", "prompts", d / "prompts",
                    config=reads(cfg, "prompts", "run.seed", *GENERATION_KNOBS),
                    inputs={"ift": ift, "generator": gen_model, **earlier,
                            "template": template_path(cfg.prompts.template)},
                    outputs={"prompts": d / "prompts" / "prompts.jsonl"}, iteration=t,
                    model=policy_label if cfg.prompts.generator == "policy" else cfg.prompts.generator)
    candidates = Stage(f"iter_{t}/candidates", "candidates", d / "candidates",
                       config=reads(cfg, "candidates", "model.system_prompt", "run.seed", *GENERATION_KNOBS),
                       inputs={"prompts": prompts.outputs["prompts"], "model": policy},
                       outputs={"candidates": d / "candidates" / "candidates.jsonl"}, iteration=t,
                       model=policy_label)
    judge = _judge_stage(cfg, d, t, "judge", candidates.outputs["candidates"], policy, policy_label)
    # Meta-Rewarding: the policy compares its own judgements; the better/worse ones train the judge
    meta = [_meta_judge_stage(cfg, d, t, candidates, judge, policy, policy_label)] if cfg.judge.meta else []
    # CREAM: the model before the policy judges the same answers (consistency weights)
    cream = [] if cfg.pairs.strategy != "cream" else [
        _judge_stage(cfg, d, t, "judge_previous", candidates.outputs["candidates"], *previous)]
    # the guards compare with the previous iteration's answers and scores, from iteration 3 on
    earlier = {} if t == 2 else {"previous_candidates": run_dir / f"iter_{t - 1}" / "candidates" / "candidates.jsonl",
                                 "previous_scores": run_dir / f"iter_{t - 1}" / "judge" / "scores.jsonl"}
    # The reward-model evaluation of M_t runs while M_t's engine is up (no extra engine start).
    rm = [rm_eval_stage(cfg, run_dir, policy, policy_label, eval_trees, t)] if eval_trees else []
    reference = _reference_judge(cfg, d, t, candidates.outputs["candidates"])
    guarded = {"candidates": candidates.outputs["candidates"], "scores": judge.outputs["scores"], **earlier,
               **_guard_references(cfg, run_dir, t, rm, previous, eval_trees),
               **({"reference_scores": reference[0].outputs["scores"]} if reference else {})}
    temporal, temporal_inputs = [], {}
    if cfg.pairs.strategy == "temporal":
        temporal, temporal_inputs = _temporal_stages(cfg, run_dir, d, t, policy, policy_label, prompts, candidates,
                                                     judge, guarded)
    pairs = _pairs_stage(cfg, d, t, "pairs", {**guarded, **temporal_inputs,
                                              **({"cream_scores": cream[0].outputs["scores"]} if cream else {}),
                                              **({"judge_pairs": meta[0].outputs["judge_pairs"]} if meta else {})})
    dpo = _dpo_stage(cfg, run_dir, d, t, "dpo", pairs, policy, next_label)
    return [prompts, candidates, judge, *rm, *meta, *cream, *reference, *temporal, pairs, dpo]


def _meta_judge_stage(cfg: Config, d: Path, t: int, candidates: Stage, judge: Stage, policy: Path,
                      label: str) -> Stage:
    m = d / "meta_judge"
    return Stage(f"iter_{t}/meta_judge", "meta_judge", m,
                 config=reads(cfg, *JUDGING, "judge.meta_template", "judge.meta_max_new_tokens"),
                 inputs={"candidates": candidates.outputs["candidates"], "judgements": judge.outputs["judgements"],
                         "model": policy, "template": template_path(cfg.judge.template),
                         "meta_template": template_path(cfg.judge.meta_template)},
                 outputs={"verdicts": m / "verdicts.jsonl", "judge_pairs": m / "judge_pairs.jsonl"},
                 iteration=t, model=label)


def _pairs_stage(cfg: Config, d: Path, t: int, name: str, inputs: dict[str, Path]) -> Stage:
    return Stage(f"iter_{t}/{name}", "pairs", d / name,
                 config=reads(cfg, "pairs", "model.system_prompt", "guard", "run.guard", "judge.max_score",
                              *(["judge.meta_ratio"] if "judge_pairs" in inputs else [])),
                 inputs=inputs, outputs={"pairs": d / name / "pairs.jsonl", "guard": d / name / "guard.json"},
                 iteration=t)


def _dpo_stage(cfg: Config, run_dir: Path, d: Path, t: int, name: str, pairs: Stage, policy: Path, label: str) -> Stage:
    return Stage(f"iter_{t}/{name}", "dpo", d / name, config=reads(cfg, "dpo", *TRAINING_KNOBS, *_selection_reads(cfg)),
                 inputs={"pairs": pairs.outputs["pairs"], "guard": pairs.outputs["guard"], "model": policy,
                         **_selection_inputs(cfg, run_dir, policy)},
                 outputs={"model": d / name / "model"}, iteration=t, model=label)


def _temporal_stages(cfg: Config, run_dir: Path, d: Path, t: int, policy: Path, policy_label: str, prompts: Stage,
                     candidates: Stage, judge: Stage, guarded: dict) -> tuple[list[Stage], dict[str, Path]]:
    """pairs.strategy=temporal (Temporal Self-Rewarding; srlm_nemo/pairs.py): the initial model M1
    answers the same prompts (at t = 2 it is the policy: its own answers), the policy judges
    them; the anchored pairs train a temporary future model from the policy, which answers the
    prompts too, judged by the policy. Returns the stages and the final pairs stage's inputs."""
    stages: list[Stage] = []
    anchor_c, anchor_s = candidates.outputs["candidates"], judge.outputs["scores"]
    if t >= 3:
        m1 = run_dir / "sft" / "model"
        stages += _answer_and_judge(cfg, d, t, "anchor", prompts, m1, "M1", policy, policy_label)
        anchor_c, anchor_s = stages[0].outputs["candidates"], stages[1].outputs["scores"]
    anchored = _pairs_stage(cfg, d, t, "pairs_anchored", {**guarded, "anchor_candidates": anchor_c,
                                                          "anchor_scores": anchor_s})
    future = _dpo_stage(cfg, run_dir, d, t, "future_dpo", anchored, policy, f"M{t}-future")
    answered = _answer_and_judge(cfg, d, t, "future", prompts, future.outputs["model"], future.model, policy,
                                 policy_label)
    stages += [anchored, future, *answered]
    return stages, {"anchor_candidates": anchor_c, "anchor_scores": anchor_s,
                    "future_candidates": answered[0].outputs["candidates"], "future_scores": answered[1].outputs["scores"]}


def _answer_and_judge(cfg: Config, d: Path, t: int, who: str, prompts: Stage, model: Path, label: str,
                      judge_model: Path, judge_label: str) -> list[Stage]:
    """`model` answers the iteration's prompts N times; the policy judges those answers."""
    cd = d / f"{who}_candidates"
    answers = Stage(f"iter_{t}/{who}_candidates", "candidates", cd,
                    config=reads(cfg, "candidates", "model.system_prompt", "run.seed", *GENERATION_KNOBS),
                    inputs={"prompts": prompts.outputs["prompts"], "model": model},
                    outputs={"candidates": cd / "candidates.jsonl"}, iteration=t, model=label)
    return [answers, _judge_stage(cfg, d, t, f"{who}_judge", answers.outputs["candidates"], judge_model, judge_label)]


def _reference_judge(cfg: Config, d: Path, t: int, candidates: Path) -> list[Stage]:
    """guard.reference_judge: a frozen judge scores this iteration's answers too."""
    if not cfg.guard.reference_judge:
        return []
    label, model = model_path(cfg, cfg.guard.reference_judge, "guard.reference_judge")
    return [_judge_stage(cfg, d, t, "judge_reference", candidates, model, label)]


def _judge_stage(cfg: Config, d: Path, t: int, name: str, candidates: Path, model: Path, label: str) -> Stage:
    """`model` scores `candidates` with the rubric, K samples each: the judge stage, and every
    second judge of the same (or other) answers: previous, reference, anchor, future."""
    return Stage(f"iter_{t}/{name}", "judge", d / name, config=reads(cfg, *JUDGING),
                 inputs={"candidates": candidates, "model": model, "template": template_path(cfg.judge.template)},
                 outputs={"judgements": d / name / "judgements.jsonl", "scores": d / name / "scores.jsonl"},
                 iteration=t, model=label)


def _guard_references(cfg: Config, run_dir: Path, t: int, rm: list[Stage], previous, eval_trees) -> dict[str, Path]:
    """The judges' rows on the human-ranked eval trees: this iteration's judge (its RM-eval stage)
    and, from iteration 3 on, the previous iteration's (the same stage of iteration t - 1)."""
    if not rm:
        return {}
    out = {"reference_rm": rm[0].outputs["rm_scores"]}
    if t >= 3:
        out["previous_reference_rm"] = rm_eval_stage(cfg, run_dir, previous[0], previous[1], eval_trees,
                                                     t - 1).outputs["rm_scores"]
    return out


def _selection_reads(cfg: Config) -> tuple[str, ...]:
    """dpo.select=judge: checkpoints meet head-to-head, answered and judged as `eval` says."""
    return (*ANSWER_READS, *JUDGE_READS, *GENERATION_KNOBS) if cfg.dpo.select == "judge" else ()


def _selection_inputs(cfg: Config, run_dir: Path, policy: Path) -> dict[str, Path]:
    if cfg.dpo.select != "judge":
        return {}
    prompts = Path(cfg.dpo.select_prompts).expanduser() if cfg.dpo.select_prompts else run_dir / "seed" / "eval_trees.jsonl"
    # the judge: M_{t-1} itself (eval.judge=last|policy: the paper's self-judging), a model, or a server
    judge = {"judge": policy} if cfg.eval.judge in ("last", "policy") and not cfg.eval.judge_base_url \
        else judge_input(cfg)
    return {"select_prompts": prompts, **judge, "template": template_path(cfg.eval.judge_template)}
