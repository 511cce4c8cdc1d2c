"""Evaluation helpers shared by the evaluation stages (srlm_nemo/stages/h2h.py, alpaca.py, mtbench.py) and the
DPO checkpoint selection:

* head-to-head: both models answer the same prompts; the pairwise judge sees each pair in both
  orders; agreement gives a win or loss, anything else a tie (`srlm_nemo.verdicts`);
* AlpacaEval: answers written in alpaca_eval's `model_outputs.json` format
  (`instruction`, `output`, `generator`, `dataset`). Scoring them needs an annotator, which is
  alpaca_eval's own business (an OpenAI key, or a local OpenAI-compatible endpoint); win rates
  from a non-default annotator are NOT comparable with the public leaderboard;
* MT-Bench: FastChat llm_judge's question format and a 1-10 rating parser.

Each function takes the running stage's context and reads only `eval.*`, `run.seed` and
`model.system_prompt` of the config (srlm_nemo/stages/h2h.py declares them).
"""
from __future__ import annotations

import re
from pathlib import Path

from .artifacts import ArtifactError, read_json, read_jsonl
from .verdicts import combine, parse_winner, summarise
from .schemas import Sampling
from .templates import chat, render

# The paper's AlpacaEval 2.0 win rates vs GPT-4 Turbo, for the report.
PAPER_ALPACA = {"M1": 9.94, "M2": 15.38, "M3": 20.44, "GPT-4 0613": 15.76, "Claude 2": 17.19,
                "Gemini Pro": 18.18, "Llama 2 Chat 70B": 13.87}

def load_instructions(path: str | Path) -> list[dict]:
    """JSON list (AlpacaEval's file) or JSONL; each row needs `instruction` or `prompt`. An empty
    file, or one that is not a list of objects, is an error naming the file (and the row)."""
    path = Path(path)
    rows = read_json(path) if path.suffix == ".json" else read_jsonl(path)
    if not isinstance(rows, list):
        raise ArtifactError(f"{path}: expected a JSON list of instructions, got {type(rows).__name__}")
    if not rows:
        raise ArtifactError(f"{path}: no instructions in it")
    out = []
    for i, r in enumerate(rows, 1):
        text = r.get("instruction", r.get("prompt")) if isinstance(r, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ArtifactError(f"{path}:{i}: needs a non-empty string field 'instruction' or 'prompt'")
        dataset = r.get("dataset", path.stem)
        out.append({"instruction": text, "dataset": dataset if isinstance(dataset, str) else str(dataset)})
    return out


def answers(ctx, model_dir: Path, instructions: list[dict]) -> list[str]:
    e = ctx.cfg.eval
    s = Sampling(n=1, temperature=e.temperature, top_p=e.top_p, max_tokens=e.max_new_tokens, seed=ctx.cfg.run.seed)
    outs = ctx.generator(model_dir).chat([chat(ctx.cfg.model.system_prompt, r["instruction"]) for r in instructions], s)
    return [o[0].text.strip() for o in outs]


def judge_generator(ctx, judge_model: Path | None):
    """The configured pairwise/grading judge: (generator, whether the caller must close it)."""
    e = ctx.cfg.eval
    if e.judge_base_url:
        return ctx.remote_generator(e.judge_base_url, e.judge_model), True
    return ctx.generator(judge_model), False


def judge_sampling(ctx) -> Sampling:
    e = ctx.cfg.eval
    return Sampling(n=1, temperature=e.judge_temperature, top_p=1.0, max_tokens=e.judge_max_new_tokens,
                    seed=ctx.cfg.run.seed)


def head_to_head(ctx, model_a: Path, model_b: Path, rows: list[dict], judge_model: Path | None):
    """Both models answer `rows`; the judge compares each pair in both orders."""
    e = ctx.cfg.eval
    ans_a = answers(ctx, model_a, rows)
    ans_b = answers(ctx, model_b, rows)
    convs = []
    for r, x, y in zip(rows, ans_a, ans_b):  # each pair in both orders
        for first, second in ((x, y), (y, x)):
            convs.append(chat(None, render(e.judge_template, question=r["instruction"], response_a=first or "(empty)",
                                           response_b=second or "(empty)")))
    judge, remote = judge_generator(ctx, judge_model)
    verdicts = [o[0].text for o in judge.chat(convs, judge_sampling(ctx))]
    if remote:
        judge.close()
    outcomes, records, unparseable = [], [], 0
    for i, r in enumerate(rows):
        v1, v2 = parse_winner(verdicts[2 * i]), parse_winner(verdicts[2 * i + 1])
        unparseable += (v1 is None) + (v2 is None)
        outcomes.append(combine(v1, v2))
        records.append({"instruction": r["instruction"], "a_first": verdicts[2 * i], "b_first": verdicts[2 * i + 1],
                        "verdict_a_first": v1, "verdict_b_first": v2, "outcome_for_a": outcomes[-1]})
    pairs = [{"instruction": r["instruction"], "a": x, "b": y} for r, x, y in zip(rows, ans_a, ans_b)]
    return {"judge": e.judge_base_url or str(judge_model), **summarise(outcomes, unparseable)}, pairs, records


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
    """FastChat's question.jsonl: each line a `question_id` (an integer or a non-empty string,
    each once) and a non-empty list of string `turns`; an empty file is an error."""
    rows = read_jsonl(path, numbered=True)
    if not rows:
        raise ArtifactError(f"{path}: no questions in it")
    seen: dict = {}
    for i, r in rows:
        qid = r.get("question_id") if isinstance(r, dict) else None
        turns = r.get("turns") if isinstance(r, dict) else None
        if isinstance(qid, bool) or not (isinstance(qid, int) or (isinstance(qid, str) and qid.strip())) \
                or not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise ArtifactError(f"{path}:{i}: an MT-Bench question needs `question_id` (an integer or a "
                                "non-empty string) and a non-empty list of string `turns`")
        if qid in seen:
            raise ArtifactError(f"{path}:{i}: question_id {qid!r} again (first on line {seen[qid]})")
        seen[qid] = i
    return [r for _, r in rows]
