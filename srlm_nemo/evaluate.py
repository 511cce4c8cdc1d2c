"""Evaluations on any model of a run (label M1, M2, ..., SFT-IFT) or any HF checkpoint:

* head-to-head: both models answer the same prompts; the pairwise judge sees each pair in both
  orders; agreement gives a win or loss, anything else a tie (`srlm_nemo.pairwise`);
* AlpacaEval: answers written in alpaca_eval's `model_outputs.json` format
  (`instruction`, `output`, `generator`, `dataset`). Scoring them needs an annotator, which is
  alpaca_eval's own business (an OpenAI key, or a local OpenAI-compatible endpoint); win rates
  from a non-default annotator are NOT comparable with the public leaderboard.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

from .artifacts import ArtifactError, read_jsonl, write_json, write_jsonl
from .backends.generation import make_generator
from .models import resolve_model
from .pairwise import combine, parse_winner, summarise
from .pipeline import Stage
from .schemas import Sampling
from .stages._shards import chat
from .templates import render

# The paper's AlpacaEval 2.0 win rates vs GPT-4 Turbo, for the report.
PAPER_ALPACA = {"M1": 9.94, "M2": 15.38, "M3": 20.44, "GPT-4 0613": 15.76, "Claude 2": 17.19,
                "Gemini Pro": 18.18, "Llama 2 Chat 70B": 13.87}


def model_path(cfg, label_or_path: str) -> tuple[str, Path]:
    run_dir = Path(cfg.run.run_dir).expanduser().resolve()
    if label_or_path == "last":
        label_or_path = f"M{cfg.run.iterations}"
    if label_or_path == "SFT-IFT":
        return label_or_path, run_dir / "sft_ift" / "model"
    if label_or_path.startswith("M") and label_or_path[1:].isdigit():
        t = int(label_or_path[1:])
        return label_or_path, run_dir / ("sft/model" if t == 1 else f"iter_{t}/dpo/model")
    p = resolve_model(label_or_path, cfg.run.cache_dir, convert=False)
    return p.name, p


def load_instructions(path: str | Path) -> list[dict]:
    """JSON list (AlpacaEval's file) or JSONL; each row needs `instruction` or `prompt`."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: file does not exist")
    rows = json.loads(path.read_text()) if path.suffix == ".json" else read_jsonl(path)
    out = []
    for i, r in enumerate(rows, 1):
        text = r.get("instruction", r.get("prompt")) if isinstance(r, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ArtifactError(f"{path}:{i}: needs a non-empty string field 'instruction' or 'prompt'")
        out.append({"instruction": text, "dataset": r.get("dataset", path.stem)})
    return out


def _answers(ctx, model_dir: Path, instructions: list[dict]) -> list[str]:
    e = ctx.cfg.eval
    s = Sampling(n=1, temperature=e.temperature, top_p=e.top_p, max_tokens=e.max_new_tokens, seed=ctx.cfg.run.seed)
    outs = ctx.generator(model_dir).chat([chat(ctx.cfg.model.system_prompt, r["instruction"]) for r in instructions], s)
    return [o[0].text.strip() for o in outs]


def alpaca_stage(cfg, label: str, model: Path, instructions: Path) -> Stage:
    d = Path(cfg.run.run_dir).expanduser().resolve() / "eval" / "alpaca" / label
    return Stage(f"eval/alpaca/{label}", "alpaca", d, config={"eval": asdict(cfg.eval), "seed": cfg.run.seed},
                 inputs={"instructions": instructions, "model": model},
                 outputs={"model_outputs": d / "model_outputs.json"}, model=label)


def run_alpaca(ctx, stage, fp):
    rows = load_instructions(stage.inputs["instructions"])
    answers = _answers(ctx, stage.inputs["model"], rows)
    outputs = [{"instruction": r["instruction"], "output": a, "generator": f"srlm-nemo-{stage.model}",
                "dataset": r["dataset"]} for r, a in zip(rows, answers)]
    write_json(stage.outputs["model_outputs"], outputs)
    lengths = [len(a) for a in answers]
    return {"instructions": len(rows), "mean_output_chars": sum(lengths) / len(lengths) if lengths else 0.0,
            "note": "scoring needs alpaca_eval with an annotator; non-default annotators are not leaderboard-comparable"}


def h2h_stage(cfg, a: tuple[str, Path], b: tuple[str, Path], prompts: Path) -> Stage:
    d = Path(cfg.run.run_dir).expanduser().resolve() / "eval" / "h2h" / f"{a[0]}_vs_{b[0]}"
    inputs = {"prompts": prompts, "model_a": a[1], "model_b": b[1]}
    if not cfg.eval.judge_base_url:
        inputs["judge"] = model_path(cfg, cfg.eval.judge)[1]
    return Stage(f"eval/h2h/{a[0]}_vs_{b[0]}", "h2h", d, config={"eval": asdict(cfg.eval), "seed": cfg.run.seed},
                 inputs=inputs, outputs={n: d / f"{n}.jsonl" for n in ("answers", "judgements")},
                 model=f"{a[0]} vs {b[0]}", extra={"a": a[0], "b": b[0]})


def run_h2h(ctx, stage, fp):
    rows = load_instructions(stage.inputs["prompts"])
    result, answers, records = head_to_head(ctx, stage.inputs["model_a"], stage.inputs["model_b"], rows,
                                            stage.inputs.get("judge"))
    write_jsonl(stage.outputs["answers"], answers)
    write_jsonl(stage.outputs["judgements"], records)
    return {"a": stage.extra["a"], "b": stage.extra["b"], **result}


def head_to_head(ctx, model_a: Path, model_b: Path, rows: list[dict], judge_model: Path | None):
    """Both models answer `rows`; the judge compares each pair in both orders."""
    e = ctx.cfg.eval
    ans_a = _answers(ctx, model_a, rows)
    ans_b = _answers(ctx, model_b, rows)
    convs = []
    for r, x, y in zip(rows, ans_a, ans_b):  # each pair in both orders
        for first, second in ((x, y), (y, x)):
            convs.append(chat(None, render(e.judge_template, question=r["instruction"], response_a=first or "(empty)",
                                           response_b=second or "(empty)")))
    s = Sampling(n=1, temperature=e.judge_temperature, top_p=1.0, max_tokens=e.judge_max_new_tokens, seed=ctx.cfg.run.seed)
    judge, remote = _judge_generator(ctx, judge_model)
    verdicts = [o[0].text for o in judge.chat(convs, s)]
    if remote:
        judge.close()
    outcomes, records, unparseable = [], [], 0
    for i, r in enumerate(rows):
        v1, v2 = parse_winner(verdicts[2 * i]), parse_winner(verdicts[2 * i + 1])
        unparseable += (v1 is None) + (v2 is None)
        outcomes.append(combine(v1, v2))
        records.append({"instruction": r["instruction"], "a_first": verdicts[2 * i], "b_first": verdicts[2 * i + 1],
                        "verdict_a_first": v1, "verdict_b_first": v2, "outcome_for_a": outcomes[-1]})
    answers = [{"instruction": r["instruction"], "a": x, "b": y} for r, x, y in zip(rows, ans_a, ans_b)]
    return {"judge": e.judge_base_url or str(judge_model), **summarise(outcomes, unparseable)}, answers, records


# --- MT-Bench ----------------------------------------------------------------------------
# Questions in FastChat llm_judge's format ({"question_id", "category", "turns": [t1, t2],
# optional "reference": [r1, r2]}), loaded from a file the user gives; answers written in its
# answer format; single-answer grading by the configured judge with our own template.

RATING_RE = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")


def parse_rating(text: str):
    m = RATING_RE.findall(text or "")
    if not m:
        return None
    v = float(m[-1])
    return v if 1 <= v <= 10 else None


def load_mt_questions(path: Path) -> list[dict]:
    rows = read_jsonl(path)
    for i, r in enumerate(rows, 1):
        if not isinstance(r.get("turns"), list) or not r["turns"] or "question_id" not in r:
            raise ArtifactError(f"{path}:{i}: an MT-Bench question needs `question_id` and a list `turns`")
    return rows


def mtbench_stage(cfg, label: str, model: Path, questions: Path) -> Stage:
    d = Path(cfg.run.run_dir).expanduser().resolve() / "eval" / "mt_bench" / label
    inputs = {"questions": questions, "model": model}
    if not cfg.eval.judge_base_url:
        inputs["judge"] = model_path(cfg, cfg.eval.judge)[1]
    return Stage(f"eval/mt_bench/{label}", "mtbench", d, config={"eval": asdict(cfg.eval), "seed": cfg.run.seed},
                 inputs=inputs, outputs={"answers": d / "model_answer.jsonl", "judgments": d / "judgments.jsonl"},
                 model=label)


def _judge_generator(ctx, judge_model: Path | None):
    e = ctx.cfg.eval
    if e.judge_base_url:
        gen_cfg = type(ctx.cfg.generation)(**{**asdict(ctx.cfg.generation), "name": "openai",
                                              "base_url": e.judge_base_url, "served_model_name": e.judge_model})
        return make_generator(gen_cfg, e.judge_model or "judge", ctx.cfg.model), True
    return ctx.generator(judge_model), False


def run_mtbench(ctx, stage, fp):
    import time as _time
    e = ctx.cfg.eval
    qs = load_mt_questions(stage.inputs["questions"])
    s = Sampling(n=1, temperature=e.temperature, top_p=e.top_p, max_tokens=e.max_new_tokens, seed=ctx.cfg.run.seed)
    gen = ctx.generator(stage.inputs["model"])
    convs = [chat(ctx.cfg.model.system_prompt, q["turns"][0]) for q in qs]
    answers = [[o[0].text.strip()] for o in gen.chat(convs, s)]
    n_turns = max(len(q["turns"]) for q in qs)
    for t in range(1, n_turns):  # later turns see the model's own earlier answers
        idx = [i for i, q in enumerate(qs) if len(q["turns"]) > t]
        for i in idx:
            convs[i] = convs[i] + [{"role": "assistant", "content": answers[i][t - 1]},
                                   {"role": "user", "content": qs[i]["turns"][t]}]
        for i, o in zip(idx, gen.chat([convs[i] for i in idx], s)):
            answers[i].append(o[0].text.strip())
    write_jsonl(stage.outputs["answers"], [
        {"question_id": q["question_id"], "answer_id": f"{stage.model}-{q['question_id']}", "model_id": stage.model,
         "choices": [{"index": 0, "turns": a}], "tstamp": _time.time()} for q, a in zip(qs, answers)])
    jobs = []
    for q, a in zip(qs, answers):
        msgs = []
        for t, (turn, ans) in enumerate(zip(q["turns"], a), 1):
            msgs = msgs + [{"role": "user", "content": turn}, {"role": "assistant", "content": ans}]
            ref = (q.get("reference") or [None] * t)[t - 1] if q.get("reference") else None
            jobs.append((q, t, render("mt_bench_single.j2", messages=msgs, turn=t, reference=ref)))
    judge, remote = _judge_generator(ctx, stage.inputs.get("judge"))
    js = Sampling(n=1, temperature=e.judge_temperature, top_p=1.0, max_tokens=e.judge_max_new_tokens, seed=ctx.cfg.run.seed)
    verdicts = [o[0].text for o in judge.chat([chat(None, p) for _, _, p in jobs], js)]
    if remote:
        judge.close()
    rows = [{"question_id": q["question_id"], "category": q.get("category"), "turn": t, "judge": e.judge_base_url or e.judge,
             "judgment": v, "score": parse_rating(v)} for (q, t, _), v in zip(jobs, verdicts)]
    write_jsonl(stage.outputs["judgments"], rows)
    valid = [r for r in rows if r["score"] is not None]
    by_cat: dict = {}
    for r in valid:
        by_cat.setdefault(r["category"] or "-", []).append(r["score"])
    return {"questions": len(qs), "judgments": len(rows), "valid": len(valid),
            "score": sum(r["score"] for r in valid) / len(valid) if valid else None,
            "score_by_turn": {str(t): (sum(r["score"] for r in valid if r["turn"] == t) /
                                       max(1, sum(1 for r in valid if r["turn"] == t)))
                              for t in sorted({r["turn"] for r in valid})},
            "score_by_category": {k: sum(v) / len(v) for k, v in sorted(by_cat.items())},
            "judge": e.judge_base_url or e.judge}
