"""Open Assistant in both forms users have, normalised to message trees.

* flat rows, as in the HF dataset `OpenAssistant/oasst1` (message_id, parent_id, role,
  lang, rank, message_tree_id, text, ...): `trees_from_rows`;
* the `*.trees.jsonl` export (one tree per line, nested `prompt -> replies[]`): `read_trees`.

From the trees: IFT = first-turn prompts in `lang` with their rank-0 assistant reply;
ranked prompts = first-turn prompts with >= `min_replies` human-ranked assistant replies.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from .artifacts import ArtifactError
from .schemas import HeldOutPrompt, IFTExample, RankedPrompt, RankedReply


@dataclass
class Node:
    id: str
    text: str
    role: str  # "prompter" | "assistant"
    lang: Optional[str] = None
    rank: Optional[int] = None
    deleted: bool = False
    replies: list["Node"] = field(default_factory=list)


def _message_id(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ArtifactError(f"{where}: message_id must be a non-empty string, got {value!r}")
    return value


def _rank(value, message_id, where: str) -> int | None:
    """A human rank: an integer >= 0 (0 = best), an integral float as pandas writes it, or none
    (null, or the NaN a flat table holds for an unranked message)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or value < 0:
        raise ArtifactError(f"{where}: message {message_id!r}: rank must be an integer >= 0 (0 = best), got {value!r}")
    return int(value)


def _deleted(value, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ArtifactError(f"{where}: deleted must be true or false, got {value!r}")
    return value


def _node(d: dict, where: str) -> Node:
    if not isinstance(d, dict):
        raise ArtifactError(f"{where}: a message must be an object, got {type(d).__name__}")
    for key in ("text", "role"):
        if key in d and not isinstance(d[key], str):
            raise ArtifactError(f"{where}: message {d.get('message_id')!r} has a {key} that is not a string "
                                f"({type(d[key]).__name__})")
    if not isinstance(d.get("replies") or [], list):
        raise ArtifactError(f"{where}: message {d.get('message_id')!r}: replies must be a list")
    try:
        n = Node(id=_message_id(d["message_id"], where), text=d["text"], role=d["role"], lang=d.get("lang"),
                 rank=_rank(d.get("rank"), d["message_id"], where), deleted=_deleted(d.get("deleted"), where))
    except KeyError as e:
        raise ArtifactError(f"{where}: message is missing field {e.args[0]!r}") from None
    n.replies = [_node(r, where) for r in d.get("replies") or []]
    return n


def read_trees(path: str | Path) -> list[Node]:
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: file does not exist")
    roots = []
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"  # exports are often shipped as .jsonl.gz
    import gzip
    import zlib
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            for lineno, raw in enumerate(f, 1):
                if raw.strip():
                    roots.append(_tree_line(raw, f"{path}:{lineno}"))
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:  # a cut or corrupt download
        raise ArtifactError(f"{path}: not a complete gzip file ({type(e).__name__}: {e})") from None
    if not roots:
        raise ArtifactError(f"{path}: no trees in it (an OASST trees export has one tree per line)")
    return roots


def _tree_line(raw: bytes, where: str) -> Node:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ArtifactError(f"{where}: not valid UTF-8") from None
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{where}: malformed JSON ({e.msg})") from None
    if not isinstance(obj, dict) or "prompt" not in obj:
        raise ArtifactError(f"{where}: expected an object with a 'prompt' tree")
    return _node(obj["prompt"], where)


def trees_from_rows(rows: Iterable[dict]) -> list[Node]:
    """Rebuild trees from flat rows (order of roots = order of first appearance)."""
    nodes: dict[str, Node] = {}
    parents: list[tuple[str, Optional[str]]] = []
    for i, r in enumerate(rows):
        n = _node({**r, "replies": None}, f"row {i}")
        nodes[n.id] = n
        parents.append((n.id, r.get("parent_id")))
    roots = []
    for mid, pid in parents:
        if pid is None:
            roots.append(nodes[mid])
        elif pid in nodes:
            nodes[pid].replies.append(nodes[mid])
    for n in nodes.values():  # stable order: by rank, unranked last
        n.replies.sort(key=lambda x: (x.rank is None, x.rank if x.rank is not None else 0))
    return roots


def load_hf_rows(name: str, split: str) -> list[dict]:
    from .artifacts import ArtifactError
    try:
        import datasets  # only when the user asks for the hub dataset
        return list(datasets.load_dataset(name, split=split))
    except Exception as e:  # noqa: BLE001 - offline, no such dataset, no `datasets`: say what to do
        raise ArtifactError(f"seed.source=oasst_hf: could not load {name} ({split}) from the hub "
                            f"({type(e).__name__}: {str(e)[:300]}); without hub access give an Open Assistant "
                            "trees export: seed.source=oasst_trees seed.path=<file>") from None


def dedupe(roots: list[Node]) -> tuple[list[Node], dict]:
    """Trees and messages once each, by id (exports have been seen to hold a tree twice): the
    first copy is kept, and the counts go to the seed manifest."""
    seen_trees, seen_msgs, counts = set(), set(), {"duplicate_trees": 0, "duplicate_messages": 0}

    def prune(n: Node) -> None:
        kept = []
        for r in n.replies:
            if r.id in seen_msgs:
                counts["duplicate_messages"] += 1
                continue
            seen_msgs.add(r.id)
            prune(r)
            kept.append(r)
        n.replies = kept
    out = []
    for root in roots:
        if root.id in seen_trees:
            counts["duplicate_trees"] += 1
            continue
        seen_trees.add(root.id)
        seen_msgs.add(root.id)
        prune(root)
        out.append(root)
    return out, counts


def split(roots: list[Node], s, rng) -> tuple[list[IFTExample], list[RankedPrompt], list[RankedPrompt],
                                              list[HeldOutPrompt], list[str]]:
    """IFT, held-out eval trees, the ranked pool and the checkpoint-selection prompts, none
    overlapping. The ranked prompts are held out first (eval trees, then the EFT builder's pool);
    IFT takes from what is left (the whole export going to IFT left no eval set before), and the
    selection prompts from what IFT did not take. Returns the four and a warning per size not met."""
    ranked = ranked_prompts(roots, lang=s.lang, min_replies=s.min_replies)
    rng.shuffle(ranked)
    evals = ranked[:s.num_eval_trees]
    pool = ranked[s.num_eval_trees:s.num_eval_trees + s.num_ranked_pool]
    held = {r.prompt_id for r in evals + pool}
    ift = ift_examples([r for r in roots if f"oasst-{r.id}" not in held], lang=s.lang, limit=s.num_ift)
    held |= {e.id for e in ift}
    free = [r for r in roots if f"oasst-{r.id}" not in held and _first_turn_ok(r, s.lang) and r.text.strip()]
    rng.shuffle(free)
    select = [HeldOutPrompt(id=f"oasst-{r.id}", instruction=r.text.strip(), dataset="oasst")
              for r in free[:s.num_select]]
    warnings = [f"seed.{key}={want}: only {len(got)} available" for key, want, got in
                (("num_eval_trees", s.num_eval_trees, evals), ("num_ranked_pool", s.num_ranked_pool, pool),
                 ("num_select", s.num_select, select), ("num_ift", s.num_ift, ift)) if len(got) < want]
    return ift, evals, pool, select, warnings


def _first_turn_ok(root: Node, lang: str) -> bool:
    return root.role == "prompter" and not root.deleted and (lang is None or root.lang == lang)


def ift_examples(roots: list[Node], lang: str = "en", limit: int | None = None) -> list[IFTExample]:
    out = []
    for root in roots:
        if not _first_turn_ok(root, lang):
            continue
        best = [r for r in root.replies if r.role == "assistant" and r.rank == 0 and not r.deleted]
        if best and root.text.strip() and best[0].text.strip():
            out.append(IFTExample(id=f"oasst-{root.id}", prompt=root.text.strip(),
                                  response=best[0].text.strip(), source="oasst"))
        if limit is not None and len(out) >= limit:
            break
    return out


def ranked_prompts(roots: list[Node], lang: str = "en", min_replies: int = 2,
                   exclude_ids: set[str] = frozenset()) -> list[RankedPrompt]:
    out = []
    for root in roots:
        if not _first_turn_ok(root, lang) or f"oasst-{root.id}" in exclude_ids:
            continue
        replies = [r for r in root.replies if r.role == "assistant" and r.rank is not None
                   and not r.deleted and r.text.strip()]
        if len(replies) >= min_replies and len({r.rank for r in replies}) >= 2:
            out.append(RankedPrompt(
                prompt_id=f"oasst-{root.id}", prompt=root.text.strip(), source="oasst",
                replies=[RankedReply(reply_id=r.id, text=r.text.strip(), rank=r.rank) for r in replies]))
    return out
