"""Jinja templates from `prompts/` (or any path the config names), and chat messages.

Every template a stage renders is recorded while the stage runs (`recording_reads`), so the
runner can check that the stage's fingerprint covers the template's contents."""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

import jinja2

from .resources import prompts_dir

_reads: ContextVar[set | None] = ContextVar("template_reads", default=None)


def template_path(name_or_path: str) -> Path:
    """The file a template name means: a path as given, else a file of prompts/."""
    p = Path(name_or_path).expanduser()
    if not p.is_absolute() and not p.exists():
        p = prompts_dir() / name_or_path
    if not p.exists():
        raise FileNotFoundError(f"template {name_or_path!r} not found (looked in {prompts_dir()})")
    return p.resolve()


@lru_cache(maxsize=None)
def _compile(path: Path, mtime_ns: int) -> jinja2.Template:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    return env.from_string(path.read_text(encoding="utf-8"))


def load_template(name_or_path: str) -> jinja2.Template:
    p = template_path(name_or_path)
    seen = _reads.get()
    if seen is not None:
        seen.add(p)
    return _compile(p, p.stat().st_mtime_ns)  # an edited file is read again, not served from cache


def render(name_or_path: str, **kw) -> str:
    return load_template(name_or_path).render(**kw)


def judge_prompt(template: str, question: str, response: str) -> str:
    return render(template, question=question.strip(), response=response.strip())


def chat(system_prompt, user: str) -> list[dict]:
    """One user turn, after the system message when there is one."""
    msgs = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return msgs + [{"role": "user", "content": user}]


@contextmanager
def recording_reads():
    """Collects the template files rendered inside the block (resolved paths)."""
    token = _reads.set(set())
    try:
        yield _reads.get()
    finally:
        _reads.reset(token)
