"""MT-Bench stage: the model answers FastChat's llm_judge questions, every turn seeing its own
earlier answers, and the judge grades each turn 1-10 (`srlm eval mtbench`).

in : questions (FastChat question.jsonl), the model, the judge model (or eval.judge_base_url),
     the grading template mt_bench_single.j2
out: <stage>/model_answer.jsonl, <stage>/judgments.jsonl; mean grade by turn and category
"""
from __future__ import annotations

import time
from pathlib import Path

from ..artifacts import write_jsonl
from ..config import GENERATION_KNOBS
from ..evaluate import judge_generator, judge_sampling, load_mt_questions, parse_rating
from ..pipeline import Stage, reads
from ..run_layout import RunLayout, eval_stage
from ..schemas import Sampling
from ..templates import chat, render, template_path
from .h2h import ANSWER_READS, JUDGE_READS, judge_input


def declare(cfg, layout: RunLayout, label: str, model: Path, questions: Path) -> Stage:
    name = eval_stage("mt_bench", label)
    return Stage(name, "mtbench", layout.stage_dir(name),
                 config=reads(cfg, *ANSWER_READS, *JUDGE_READS, "eval.judge", *GENERATION_KNOBS),
                 inputs={"questions": questions, "model": model, **judge_input(cfg, layout),
                         "template": template_path("mt_bench_single.j2")},
                 outputs={"answers": layout.output(name, "model_answer.jsonl"),
                          "judgments": layout.output(name, "judgments.jsonl")}, model=label)


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


def validate(stage) -> None:
    """The questions file, read before an earlier run of this stage is removed."""
    load_mt_questions(stage.inputs["questions"])


def run(ctx, stage, fp):
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
    return {
        "questions": len(qs),
        "judgments": len(rows),
        "valid": len(valid),
        "score": _mean([r["score"] for r in valid]),
        "score_by_turn": {
            str(t): _mean([r["score"] for r in valid if r["turn"] == t]) for t in sorted({r["turn"] for r in valid})
        },
        "score_by_category": {k: sum(v) / len(v) for k, v in sorted(by_cat.items())},
        "judge": ctx.cfg.eval.judge_base_url or ctx.cfg.eval.judge,
    }
