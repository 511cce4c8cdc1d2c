"""Jinja templates from `prompts/` (or any path the config names)."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import jinja2

from .config import REPO_ROOT


def prompts_dir() -> Path:
    return Path(os.environ.get("SRLM_PROMPTS_DIR", REPO_ROOT / "prompts"))


@lru_cache(maxsize=None)
def load_template(name_or_path: str) -> jinja2.Template:
    p = Path(name_or_path).expanduser()
    if not p.is_absolute() and not p.exists():
        p = prompts_dir() / name_or_path
    if not p.exists():
        raise FileNotFoundError(f"template {name_or_path!r} not found (looked in {prompts_dir()})")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    return env.from_string(p.read_text(encoding="utf-8"))


def render(name_or_path: str, **kw) -> str:
    return load_template(name_or_path).render(**kw)


def judge_prompt(template: str, question: str, response: str) -> str:
    return render(template, question=question.strip(), response=response.strip())
