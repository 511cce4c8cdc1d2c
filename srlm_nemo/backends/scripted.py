"""A scripted generation backend, for tests only (`generation.name=scripted`): no model is
loaded; every answer follows fixed rules, so a test knows what each stage must produce and the
whole loop (prompts -> pairs -> DPO -> checkpoint selection) runs for real on a tiny model.

* raw completions (self-instruct): three new numbered tasks, distinct for every seed and prompt,
  cut at the first of the request's stop strings as an engine cuts them;
* answers: `Answer <j> (quality <q>) to: <question>`. q is the model's quality from the script
  file when its path matches a key there, else (a hash of the question + sample index j) mod 6,
  so the N candidates of one prompt have N different qualities;
* judgements (the judge template, recognised by its `<response>` block): `Score: q` for an
  answer of ours, else a score from the reply's length;
* pairwise verdicts (`<response_a>` and `<response_b>`): the higher quality wins, equal = tie;
* meta-judge verdicts (`<judgement_a>` and `<judgement_b>`): the judgement whose score is nearer
  the answer's quality wins, equally near = tie.

* reply log-probabilities (`reply_logprobs`): -0.5 per word of the reply (+ 2 words for the
  template's turn markers) plus w * q for an answer of quality q, w from the script's
  "logprob_quality" for the model, else 0.1 * (a hash of the model path mod 11), so DPO rewards
  (the difference of two models' sums) rank answers by quality with a sign and size per pair of
  models.

`generation.script`: a JSON file `{"answer_quality": {"<substring of a model path>": q},
"judge_reversed": ["<substring of a model path>"], "judge_noise": [0, 1, -1],
"logprob_quality": {"<substring of a model path>": w}}`; the first key
found in the model's path wins. A reversed judge scores an answer of quality q as 5 - q (a judge
that disagrees). With judge_noise, judgement sample j is off by judge_noise[j % len] points
(clipped to 0-5), so the K judgements of one answer differ.
"""
from __future__ import annotations

import hashlib
import json
import re

from ..judge_parse import parse_score
from ..schemas import Sampling
from .generation import Completion

TOPICS = ["tide pools", "bread baking", "train timetables", "moss gardens", "chess openings", "solar ovens",
          "paper folding", "river deltas", "bicycle gears", "tea blending", "cloud types", "knot tying"]
_QUALITY = re.compile(r"\(quality (\d)\)")


def _h(*parts) -> int:
    return int(hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def _block(text: str, tag: str) -> str | None:
    m = re.search(rf"<{tag}>\n?(.*?)\n?</{tag}>", text, re.DOTALL)
    return m.group(1) if m else None


def quality(answer: str) -> int | None:
    m = _QUALITY.search(answer or "")
    return int(m.group(1)) if m else None


class ScriptedGenerator:
    def __init__(self, model_path: str, gen_cfg, model_cfg):
        self.model_name = model_path
        script = json.loads(open(gen_cfg.script).read()) if gen_cfg.script else {}
        fixed = script.get("answer_quality", {})
        self.fixed_quality = next((q for key, q in fixed.items() if key in model_path), None)
        self.reversed = any(key in model_path for key in script.get("judge_reversed", []))
        self.judge_noise = script.get("judge_noise", [])
        weights = script.get("logprob_quality", {})
        self.logprob_weight = next((w for key, w in weights.items() if key in model_path), 0.1 * (_h(model_path) % 11))

    def complete(self, prompts: list[str], s: Sampling) -> list[list[Completion]]:
        out = []
        for i, p in enumerate(prompts):
            k = int(re.findall(r"(\d+)\.\s*$", p)[-1]) if re.search(r"(\d+)\.\s*$", p) else 1
            comps = []
            for j in range(s.n):
                h = [_h(s.seed, p, i, j, t) for t in range(3)]  # a real model's tasks depend on the prompt too
                tasks = [f"Explain {TOPICS[h[t] % len(TOPICS)]} to a reader in case {h[t] % 100000} using "
                         f"{3 + t} short sentences." for t in range(3)]
                text = " " + "\n".join(f"{k + t}. {task}" if t else task for t, task in enumerate(tasks)) + "\n"
                cut = min((text.index(x) for x in s.stop if x in text), default=len(text))  # as an engine stops
                comps.append(Completion(text[:cut], "stop", len(text[:cut].split())))
            out.append(comps)
        return out

    def _answer(self, question: str, j: int) -> str:
        q = self.fixed_quality if self.fixed_quality is not None else (_h(question) + j) % 6
        return f"Answer {j} (quality {q}) to: {' '.join(question.split()[:12])}"

    def _reply(self, user: str, j: int) -> str:
        ja, jb = _block(user, "judgement_a"), _block(user, "judgement_b")
        if ja is not None and jb is not None:  # meta-judge: the judgement nearer the answer's quality wins
            q = quality(_block(user, "response") or "") or 0
            da, db = (abs((parse_score(x, 0, 5).score or 0) - q) for x in (ja, jb))
            return "Compared with the answer's quality.\nWinner: " + ("A" if da < db else "B" if db < da else "tie")
        a, b = _block(user, "response_a"), _block(user, "response_b")
        if a is not None and b is not None:
            qa, qb = quality(a) or 0, quality(b) or 0
            return "Compared by quality.\nWinner: " + ("A" if qa > qb else "B" if qb > qa else "tie")
        response = _block(user, "response")
        if response is not None:
            q = quality(response)
            q = q if q is not None else min(5, len(response.split()) // 20)
            q = 5 - q if self.reversed else q
            if self.judge_noise:  # sample j's judgement is off by the script's offset j (mod its length)
                off = self.judge_noise[j % len(self.judge_noise)]
                q = min(5, max(0, q + off))
                return f"The reply earns {q} points (offset {off}).\nScore: {q}"
            return f"The reply earns {q} points.\nScore: {q}"
        return self._answer(_block(user, "question") or user, j)

    def chat(self, conversations: list[list[dict]], s: Sampling) -> list[list[Completion]]:
        out = []
        for conv in conversations:
            user = conv[-1]["content"]
            texts = [self._reply(user, j) for j in range(s.n)]
            out.append([Completion(t, "stop", len(t.split())) for t in texts])
        return out

    def reply_logprobs(self, conversations: list[list[dict]], replies: list[str]) -> list[tuple[float, int] | None]:
        out: list[tuple[float, int] | None] = []
        for reply in replies:
            tokens = len(reply.split()) + 2
            out.append((-0.5 * tokens + self.logprob_weight * (quality(reply) or 0), tokens))
        return out

    def close(self) -> None:
        pass
