"""One self-rewarding iteration t >= 2, M_{t-1} -> M_t (Yuan et al. 2024, section 2.2-2.3;
the paper's numbering, where iteration 1 is the SFT model M1). With P = M_{t-1}:

    prompts     P (or a fixed model) writes new prompts by 8-shot self-instruct; filtered
    candidates  P answers each prompt N=4 times (T 0.7, top-p 0.9)
    judge       P scores each answer K=3 times with the additive 5-point rubric; mean of valid
    [eval/rm]   P judges held-out human-ranked replies (reward-model metrics, Table 4)
    [meta_judge] judge.meta: P compares pairs of its own judgements (Meta-Rewarding), through
                 judge.meta_last_iteration
    [logprob_*] pairs.strategy=cream: the log-probability of every answer under P, the model
                before it and, from iteration 3, the one before that (P's DPO reference is the
                model before it; M1's is M0): CREAM's DPO rewards of two models
    [judge_previous]  pairs.strategy=cream_judge: the model before P judges the same answers
    [judge_reference] guard.reference_judge: a frozen judge scores the same answers
    [anchor_*, pairs_anchored, future_*]  pairs.strategy=temporal: M1's answers (judged by P)
                give the rejected answers; a temporary future model, DPO-trained on them, answers
                too, and its best answer is chosen where P scores it at least as high
    pairs       highest vs lowest mean per prompt, ties dropped (pairs.strategy: the paper's
                rule, Meta-Rewarding's length control, or CREAM's consistency weights); the
                guards measured (run.guard: warn, stop, or rollback: DPO then carries P over)
    dpo         DPO from P on the pairs (+ judgement pairs with judge.meta), reference = P  ->  M_t

Every optional part is an `Addition`: the stages it adds and the inputs it gives the pairs stage.
Assumptions: the seed stage and the model P exist (the whole recipe in `self_rewarding.py`
makes sure of that); one generation engine serves P for the generation stages; the trainer
runs after the engine is released. Backends are configuration (`generation=`, `training=`);
nothing here branches on them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from srlm_nemo.config import Config
from srlm_nemo.pipeline import Stage
from srlm_nemo.run_layout import RunLayout, iteration_stage
from srlm_nemo.stages import candidates, dpo, judge, logprob, meta_judge, pairs, prompts, rm_eval

Model = tuple[Path, str]  # (folder, label)


@dataclass
class Addition:
    """What an optional part of the method adds to an iteration."""
    stages: list[Stage] = field(default_factory=list)
    pair_inputs: dict[str, Path] = field(default_factory=dict)


def iteration_stages(cfg: Config, layout: RunLayout, t: int, lineage: list[Model], ift: Path,
                     eval_trees: Path | None = None) -> list[Stage]:
    """`lineage`: the models so far, M0 .. M_{t-1}; the last is the policy P, the one before it
    the second ranker of pairs.strategy=cream (and judge of cream_judge); `eval_trees`: with
    eval.rm, the human-ranked replies P judges."""
    policy, previous = lineage[-1], lineage[-2]
    new_prompts = prompts.declare(cfg, layout, t, ift, *_prompt_writer(cfg, layout, policy))
    answers = candidates.declare(cfg, layout, iteration_stage(t, "candidates"), new_prompts.outputs["prompts"],
                                 *policy, t)
    scores = judge.declare(cfg, layout, iteration_stage(t, "judge"), answers.outputs["candidates"], *policy, t)
    rm = _rm_eval(cfg, layout, t, policy, previous, eval_trees)
    reference = _reference_judge(cfg, layout, t, answers)
    # what the guards compare with: the previous iteration, the judges' human-ranked rows, a frozen judge
    guarded = {"candidates": answers.outputs["candidates"], "scores": scores.outputs["scores"],
               **_previous_iteration(layout, t), **rm.pair_inputs, **reference.pair_inputs}
    meta = _meta_judge(cfg, layout, t, answers, scores, policy)
    cream = _cream(cfg, layout, t, answers, lineage)
    temporal = _temporal(cfg, layout, t, policy, new_prompts, answers, scores, guarded)
    final = pairs.declare(cfg, layout, iteration_stage(t, "pairs"), t,
                          {**guarded, **temporal.pair_inputs, **cream.pair_inputs, **meta.pair_inputs})
    trained = dpo.declare(cfg, layout, iteration_stage(t, "dpo"), t, final, policy[0], f"M{t}")
    return [new_prompts, answers, scores, *rm.stages, *meta.stages, *cream.stages, *reference.stages,
            *temporal.stages, final, trained]


def _prompt_writer(cfg: Config, layout: RunLayout, policy: Model) -> Model:
    """The paper's prompts came from a fixed model (Llama 2-Chat 70B); "policy" uses P instead."""
    if cfg.prompts.generator == "policy":
        return policy
    label, folder = layout.model_or_path(cfg, cfg.prompts.generator, "prompts.generator")
    return folder, cfg.prompts.generator


def _previous_iteration(layout: RunLayout, t: int) -> dict[str, Path]:
    """The guards compare with the previous iteration's answers and scores, from iteration 3 on."""
    if t == 2:
        return {}
    return {"previous_candidates": layout.iteration_output(t - 1, "candidates", "candidates.jsonl"),
            "previous_scores": layout.iteration_output(t - 1, "judge", "scores.jsonl")}


def _rm_eval(cfg: Config, layout: RunLayout, t: int, policy: Model, previous: Model | None,
             eval_trees: Path | None) -> Addition:
    """With eval.rm, P's reward-model evaluation, while P's engine is up (no extra engine start);
    the guards read its rows and, from iteration 3 on, the previous judge's (that iteration's)."""
    if not eval_trees:
        return Addition()
    rm = rm_eval.declare(cfg, layout, *policy, eval_trees, t)
    rows = {"reference_rm": rm.outputs["rm_scores"]}
    if t >= 3:
        rows["previous_reference_rm"] = rm_eval.declare(cfg, layout, *previous, eval_trees, t - 1).outputs["rm_scores"]
    return Addition([rm], rows)


def _reference_judge(cfg: Config, layout: RunLayout, t: int, answers: Stage) -> Addition:
    """guard.reference_judge: a frozen judge scores this iteration's answers too."""
    if not cfg.guard.reference_judge:
        return Addition()
    label, model = layout.model_or_path(cfg, cfg.guard.reference_judge, "guard.reference_judge")
    frozen = judge.declare(cfg, layout, iteration_stage(t, "judge_reference"), answers.outputs["candidates"],
                           model, label, t)
    return Addition([frozen], {"reference_scores": frozen.outputs["scores"]})


def _meta_judge(cfg: Config, layout: RunLayout, t: int, answers: Stage, scores: Stage, policy: Model) -> Addition:
    """Meta-Rewarding (judge.meta): P compares its own judgements; the better and worse ones
    become judgement pairs for DPO, through iteration judge.meta_last_iteration."""
    last = cfg.judge.meta_last_iteration
    if not cfg.judge.meta or (last is not None and t > last):
        return Addition()
    meta = meta_judge.declare(cfg, layout, t, answers.outputs["candidates"], scores.outputs["judgements"], *policy)
    return Addition([meta], {"judge_pairs": meta.outputs["judge_pairs"]})


def _cream(cfg: Config, layout: RunLayout, t: int, answers: Stage, lineage: list[Model]) -> Addition:
    """pairs.strategy=cream: every answer's log-probability under P, the model before it (P's DPO
    reference) and, from iteration 3, the one before that (its reference); cream_judge (ours):
    the model before P judges the same answers with the rubric."""
    if cfg.pairs.strategy == "cream_judge":
        second = judge.declare(cfg, layout, iteration_stage(t, "judge_previous"), answers.outputs["candidates"],
                               *lineage[-2], t)
        return Addition([second], {"cream_scores": second.outputs["scores"]})
    if cfg.pairs.strategy != "cream":
        return Addition()
    scored = {who: logprob.declare(cfg, layout, iteration_stage(t, f"logprob_{who}"), answers.outputs["candidates"],
                                   *model, t)
              for who, model in zip(("policy", "previous", "older"), lineage[:-4:-1])}
    return Addition(list(scored.values()), {f"cream_{who}": s.outputs["logprobs"] for who, s in scored.items()})


def _temporal(cfg: Config, layout: RunLayout, t: int, policy: Model, new_prompts: Stage, answers: Stage,
              scores: Stage, guarded: dict[str, Path]) -> Addition:
    """Temporal Self-Rewarding (pairs.strategy=temporal; srlm_nemo/pairs.py): M1 answers the same
    prompts (at t = 2 it is the policy: its own answers), P judges them; the anchored pairs train
    a temporary future model from P, which answers the prompts too, judged by P."""
    if cfg.pairs.strategy != "temporal":
        return Addition()
    stages: list[Stage] = []
    anchor = {"anchor_candidates": answers.outputs["candidates"], "anchor_scores": scores.outputs["scores"]}
    if t >= 3:
        stages += _answer_and_judge(cfg, layout, t, "anchor", new_prompts, (layout.model("M1"), "M1"), policy)
        anchor = {"anchor_candidates": stages[0].outputs["candidates"], "anchor_scores": stages[1].outputs["scores"]}
    anchored = pairs.declare(cfg, layout, iteration_stage(t, "pairs_anchored"), t, {**guarded, **anchor})
    future = dpo.declare(cfg, layout, iteration_stage(t, "future_dpo"), t, anchored, policy[0], f"M{t}-future")
    answered = _answer_and_judge(cfg, layout, t, "future", new_prompts, (future.outputs["model"], future.model), policy)
    return Addition([*stages, anchored, future, *answered],
                    {**anchor, "future_candidates": answered[0].outputs["candidates"],
                     "future_scores": answered[1].outputs["scores"]})


def _answer_and_judge(cfg: Config, layout: RunLayout, t: int, who: str, new_prompts: Stage, model: Model,
                      judge_model: Model) -> list[Stage]:
    """`model` answers the iteration's prompts N times; `judge_model` (P) judges those answers."""
    answers = candidates.declare(cfg, layout, iteration_stage(t, f"{who}_candidates"), new_prompts.outputs["prompts"],
                                 *model, t)
    return [answers, judge.declare(cfg, layout, iteration_stage(t, f"{who}_judge"), answers.outputs["candidates"],
                                   *judge_model, t)]
