"""`srlm prompts filter`: the ROUGE-L novelty filter over JSONL files.

Reads the pool and the candidates (JSONL, text in `instruction` or `prompt`), checks candidates
in input order against the pool plus the candidates kept before them, and writes the kept ones
with every input field unchanged plus `rouge_l_max` and `rouge_l_closest` (the pool or earlier
kept text it came closest to; null when it shares no token with any).
"""
from __future__ import annotations

import json
from pathlib import Path

from .artifacts import ArtifactError, read_jsonl, write_jsonl
from .config import ConfigError
from .rouge import RougePool, novelty_filter


def _texts(path: str) -> tuple[list[dict], list[str]]:
    rows = read_jsonl(path)
    texts = []
    for i, r in enumerate(rows, 1):
        t = r.get("instruction", r.get("prompt")) if isinstance(r, dict) else None
        if not isinstance(t, str):
            raise ArtifactError(f"{path}:{i}: needs a string field 'instruction' or 'prompt'")
        texts.append(t)
    return rows, texts


def filter_files(pool_path: str, cands_path: str, out_path: str, threshold: float = 0.7,
                 tokenizer: str = "rouge_score") -> dict:
    _, pool_texts = _texts(pool_path)
    rows, cand_texts = _texts(cands_path)
    pool = RougePool(pool_texts, tokenizer=tokenizer)
    decisions = novelty_filter(pool, cand_texts, threshold)
    kept = [{**row, "rouge_l_max": score, "rouge_l_closest": pool.texts[idx] if idx >= 0 else None}
            for row, (keep, score, idx) in zip(rows, decisions) if keep]
    write_jsonl(Path(out_path), kept)
    return {"pool": len(pool_texts), "candidates": len(cand_texts), "kept": len(kept),
            "dropped_rouge_l": len(cand_texts) - len(kept), "threshold": threshold, "tokenizer": tokenizer}


def check_args(args) -> None:
    """A threshold outside (0, 1] keeps or drops everything; --out onto an input destroys it."""
    import math
    if not (math.isfinite(args.threshold) and 0 < args.threshold <= 1):
        raise ConfigError(f"--threshold: must be in (0, 1], got {args.threshold}")
    out = Path(args.out).resolve()
    for flag, path in (("--pool", args.pool), ("--candidates", args.candidates)):
        if out == Path(path).resolve() or (out.exists() and Path(path).exists() and out.samefile(path)):
            raise ConfigError(f"--out {args.out}: is the {flag} input; writing there would destroy it")
    if out.is_dir():
        raise ConfigError(f"--out {args.out}: is a directory; give a file path")
    folder = out.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"--out {args.out}: {folder} is a file, not a folder")


def main(args) -> int:
    check_args(args)
    print(json.dumps(filter_files(args.pool, args.candidates, args.out, args.threshold, args.tokenizer)))
    return 0
