"""ROUGE-L F-measure with exactly the decisions of `rouge-score` 0.1.2
(`RougeScorer(['rougeL'], use_stemmer=False)`, F-measure, drop when max > threshold), fast.

* Tokenise once. rouge-score lowercases, turns every run of characters outside [a-z0-9] into a
  space and splits, so a prompt in a non-Latin script has no tokens and scores 0 against
  everything. `tokenizer="unicode"` (documented option, not the reference) keeps any Unicode
  word character instead.
* Each token gets an integer id and each text becomes a string with one code point per token,
  so the LCS of two token sequences is the LCS of two strings: rapidfuzz computes it with a
  bit-parallel algorithm in C++, a whole block of candidates x pool at a time, on all cores.
* The F-measure uses rouge-score's own float expression (p = lcs/len_pred, r = lcs/len_ref,
  2*p*r/(p+r)), so a score exactly at the threshold is decided the same way.
"""
from __future__ import annotations

import re

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

_ASCII_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_UNICODE_WORD = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str, tokenizer: str = "rouge_score") -> list[str]:
    if tokenizer == "rouge_score":
        return _ASCII_NON_ALNUM.sub(" ", text.lower()).split()
    if tokenizer == "unicode":
        return [t.casefold() for t in _UNICODE_WORD.findall(text)]
    raise ValueError(f"unknown ROUGE tokenizer {tokenizer!r} (rouge_score | unicode)")


def f_measure(lcs: int, len_pred: int, len_ref: int) -> float:
    if lcs == 0 or len_pred == 0 or len_ref == 0:
        return 0.0
    p, r = lcs / len_pred, lcs / len_ref
    return 2 * p * r / (p + r)


def f_measure_array(lcs: np.ndarray, len_pred: np.ndarray, len_ref: np.ndarray) -> np.ndarray:
    """Elementwise f_measure with the same IEEE operations in the same order."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = lcs / len_pred
        r = lcs / len_ref
        f = 2 * p * r / (p + r)
    return np.where((lcs > 0) & (len_pred > 0) & (len_ref > 0), f, 0.0)


def rouge_l(a: str, b: str, tokenizer: str = "rouge_score") -> float:
    pool = RougePool(tokenizer=tokenizer)
    pool.add(b)
    return pool.max_score(a)[0]


def _char(i: int) -> str:
    return chr(i if i < 0xD800 else i + 0x800)  # skip the surrogate block


class RougePool:
    """Texts seen so far, each tokenised once and kept as a token-id string."""

    def __init__(self, texts=(), tokenizer: str = "rouge_score", workers: int = -1):
        self.tokenizer = tokenizer
        self.workers = workers
        self.vocab: dict[str, int] = {}
        self.texts: list[str] = []
        self.codes: list[str] = []
        self._lens: list[int] = []
        for t in texts:
            self.add(t)

    def encode(self, text: str) -> str:
        return "".join(_char(self.vocab.setdefault(tok, len(self.vocab)))
                       for tok in tokenize(text, self.tokenizer))

    def add(self, text: str, code: str | None = None) -> None:
        code = self.encode(text) if code is None else code
        self.texts.append(text)
        self.codes.append(code)
        self._lens.append(len(code))

    def __len__(self) -> int:
        return len(self.texts)

    def scores(self, codes: list[str], start: int = 0) -> np.ndarray:
        """F-measure matrix of `codes` (as predictions) against pool entries [start:]."""
        pool = self.codes[start:]
        if not codes or not pool:
            return np.zeros((len(codes), len(pool)))
        lcs = process.cdist(codes, pool, scorer=LCSseq.similarity, dtype=np.int32, workers=self.workers)
        lq = np.array([len(c) for c in codes], dtype=np.int64)[:, None]
        ls = np.array(self._lens[start:], dtype=np.int64)[None, :]
        return f_measure_array(lcs, lq, ls)

    def max_score(self, text: str) -> tuple[float, int]:
        """Highest ROUGE-L F of `text` against the pool and the first index reaching it (-1: none)."""
        code = self.encode(text)
        if not code or not self.codes:
            return 0.0, -1
        row = self.scores([code])[0]
        i = int(np.argmax(row))
        return (float(row[i]), i) if row[i] > 0 else (0.0, -1)


def novelty_filter(pool: RougePool, candidates: list[str], threshold: float = 0.7,
                   block: int | None = None) -> list[tuple[bool, float, int]]:
    """Checks candidates in order against the pool plus the candidates kept before them.

    Returns (kept, max F, index in the pool of the closest entry) per candidate; kept ones are
    appended to `pool`. Blocks of candidates are scored against the pool as it stood at the
    start of the block in one parallel call; the few candidates kept inside the block are then
    compared one by one, so the result is the same as checking strictly one at a time.
    """
    out: list[tuple[bool, float, int]] = []
    i = 0
    while i < len(candidates):
        b = block or max(64, min(2048, 20_000_000 // max(1, len(pool))))
        chunk = candidates[i:i + b]
        codes = [pool.encode(t) for t in chunk]
        base = len(pool)
        mat = pool.scores(codes)
        for j, (text, code) in enumerate(zip(chunk, codes)):
            row = mat[j]
            best_i = int(np.argmax(row)) if row.size else -1
            best = float(row[best_i]) if row.size else 0.0
            if len(pool) > base and code:  # kept earlier in this block
                lcs = np.array([LCSseq.similarity(code, c) for c in pool.codes[base:]], dtype=np.int64)
                extra = f_measure_array(lcs, np.int64(len(code)), np.array(pool._lens[base:], dtype=np.int64))
                k = int(np.argmax(extra))
                if extra[k] > best:
                    best, best_i = float(extra[k]), base + k
            if best <= 0:
                best, best_i = 0.0, -1
            keep = not best > threshold
            out.append((keep, best, best_i))
            if keep:
                pool.add(text, code)
        i += len(chunk)
    return out
