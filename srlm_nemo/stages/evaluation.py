"""Evaluation stages: head-to-head, AlpacaEval answers, MT-Bench answers and grades.

h2h     in : prompts (JSON/JSONL), models A and B, the judge model (or eval.judge_base_url),
             the pairwise template    out: answers.jsonl, judgements.jsonl; wins/ties/losses
alpaca  in : AlpacaEval instructions, the model      out: model_outputs.json
mtbench in : FastChat questions, the model, the judge, the grading template
        out: model_answer.jsonl, judgments.jsonl; mean grade by turn and category
"""
from __future__ import annotations

import time

from ..artifacts import write_json, write_jsonl
from ..evaluate import (answers, head_to_head, judge_generator, judge_sampling, load_instructions,
                        load_mt_questions, parse_rating)
from ..schemas import Sampling
from ..templates import chat, render


def run_h2h(ctx, stage, fp):
    rows = load_instructions(stage.inputs["prompts"])
    result, pairs, records = head_to_head(ctx, stage.inputs["model_a"], stage.inputs["model_b"], rows,
                                          stage.inputs.get("judge"))
    write_jsonl(stage.outputs["answers"], pairs)
    write_jsonl(stage.outputs["judgements"], records)
    return {"a": stage.extra["a"], "b": stage.extra["b"], **result}


def run_alpaca(ctx, stage, fp):
    rows = load_instructions(stage.inputs["instructions"])
    outs = answers(ctx, stage.inputs["model"], rows)
    write_json(stage.outputs["model_outputs"], [
        {"instruction": r["instruction"], "output": a, "generator": f"srlm-nemo-{stage.model}", "dataset": r["dataset"]}
        for r, a in zip(rows, outs)])
    lengths = [len(a) for a in outs]
    return {"instructions": len(rows), "mean_output_chars": sum(lengths) / len(lengths) if lengths else 0.0,
            "note": "scoring needs alpaca_eval with an annotator; non-default annotators are not leaderboard-comparable"}


def _mt_answers(ctx, stage, qs: list[dict]) -> list[list[str]]:
    """Every turn of every question; later turns see the model's own earlier answers."""
    e = ctx.cfg.eval
    s = Sampling(n=1, temperature=e.temperature, top_p=e.top_p, max_tokens=e.max_new_tokens, seed=ctx.cfg.run.seed)
    gen = ctx.generator(stage.inputs["model"])
    convs = [chat(ctx.cfg.model.system_prompt, q["turns"][0]) for q in qs]
    outs = [[o[0].text.strip()] for o in gen.chat(convs, s)]
    for t in range(1, max(len(q["turns"]) for q in qs)):
        idx = [i for i, q in enumerate(qs) if len(q["turns"]) > t]
        for i in idx:
            convs[i] = convs[i] + [{"role": "assistant", "content": outs[i][t - 1]},
                                   {"role": "user", "content": qs[i]["turns"][t]}]
        for i, o in zip(idx, gen.chat([convs[i] for i in idx], s)):
            outs[i].append(o[0].text.strip())
    return outs


def _mt_grades(ctx, stage, qs: list[dict], outs: list[list[str]]) -> list[dict]:
    e = ctx.cfg.eval
    jobs = []
    for q, a in zip(qs, outs):
        msgs = []
        for t, (turn, ans) in enumerate(zip(q["turns"], a), 1):
            msgs = msgs + [{"role": "user", "content": turn}, {"role": "assistant", "content": ans}]
            ref = (q.get("reference") or [None] * t)[t - 1] if q.get("reference") else None
            jobs.append((q, t, render(stage.inputs["template"], messages=msgs, turn=t, reference=ref)))
    judge, remote = judge_generator(ctx, stage.inputs.get("judge"))
    verdicts = [o[0].text for o in judge.chat([chat(None, p) for _, _, p in jobs], judge_sampling(ctx))]
    if remote:
        judge.close()
    return [{"question_id": q["question_id"], "category": q.get("category"), "turn": t,
             "judge": e.judge_base_url or e.judge, "judgment": v, "score": parse_rating(v)}
            for (q, t, _), v in zip(jobs, verdicts)]


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def run_mtbench(ctx, stage, fp):
    qs = load_mt_questions(stage.inputs["questions"])
    outs = _mt_answers(ctx, stage, qs)
    write_jsonl(stage.outputs["answers"], [
        {"question_id": q["question_id"], "answer_id": f"{stage.model}-{q['question_id']}", "model_id": stage.model,
         "choices": [{"index": 0, "turns": a}], "tstamp": time.time()} for q, a in zip(qs, outs)])
    rows = _mt_grades(ctx, stage, qs, outs)
    write_jsonl(stage.outputs["judgments"], rows)
    valid = [r for r in rows if r["score"] is not None]
    by_cat: dict = {}
    for r in valid:
        by_cat.setdefault(r["category"] or "-", []).append(r["score"])
    return {"questions": len(qs), "judgments": len(rows), "valid": len(valid), "score": _mean([r["score"] for r in valid]),
            "score_by_turn": {str(t): _mean([r["score"] for r in valid if r["turn"] == t])
                              for t in sorted({r["turn"] for r in valid})},
            "score_by_category": {k: sum(v) / len(v) for k, v in sorted(by_cat.items())},
            "judge": ctx.cfg.eval.judge_base_url or ctx.cfg.eval.judge}
