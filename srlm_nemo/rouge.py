"""ROUGE-L F-measure with the decisions of `rouge-score` 0.1.2 (`RougeScorer(['rougeL'])`,
no stemmer) and a pool that tokenises every text once.

rouge-score's tokeniser lowercases, turns every run of characters outside [a-z0-9] into a
space and splits; so a prompt in a non-Latin script has no tokens and scores 0 against
everything. `tokenizer="unicode"` keeps any Unicode word character instead (documented
option; not the reference). LCS length comes from rapidfuzz's bit-parallel LCSseq over
token-id sequences.
"""
from __future__ import annotations

import re

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


def rouge_l(a: str, b: str, tokenizer: str = "rouge_score") -> float:
    pool = RougePool(tokenizer=tokenizer)
    pool.add(b)
    return pool.max_score(a)[0]


class RougePool:
    """Texts seen so far, tokenised once, as sequences of integer ids."""

    def __init__(self, texts=(), tokenizer: str = "rouge_score"):
        self.tokenizer = tokenizer
        self.vocab: dict[str, int] = {}
        self.texts: list[str] = []
        self.seqs: list[list[int]] = []
        for t in texts:
            self.add(t)

    def _ids(self, text: str) -> list[int]:
        return [self.vocab.setdefault(tok, len(self.vocab)) for tok in tokenize(text, self.tokenizer)]

    def add(self, text: str) -> None:
        self.texts.append(text)
        self.seqs.append(self._ids(text))

    def max_score(self, text: str, stop_above: float | None = None) -> tuple[float, int]:
        """Highest ROUGE-L F of `text` (as prediction) against the pool, and the index it came from."""
        q = self._ids(text)
        best, best_i = 0.0, -1
        if not q:
            return best, best_i
        lq = len(q)
        for i, s in enumerate(self.seqs):
            ls = len(s)
            if not ls:
                continue
            # Upper bound: LCS <= min(lq, ls), so F <= 2*min/(lq+ls); skip pairs that cannot win.
            if 2 * min(lq, ls) / (lq + ls) <= best:
                continue
            f = f_measure(LCSseq.similarity(q, s), lq, ls)
            if f > best:
                best, best_i = f, i
                if stop_above is not None and best > stop_above:
                    break
        return best, best_i
