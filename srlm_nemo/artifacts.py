"""JSONL artifacts: validated reads, atomic writes, and sharded writes that survive a kill.

A file is never visible half-written: everything goes to `<name>.tmp` and is renamed
(an atomic operation on POSIX). A sharded stage writes `shards/00007.jsonl` the same way, so
after a kill the finished shards are intact and the unfinished one simply does not exist.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import shutil
from pathlib import Path
from typing import Iterable, Type, TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)


class ArtifactError(ValueError):
    """Bad input, with the file and line it came from."""


class _NotFinite(ValueError):
    pass


def _finite_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise _NotFinite(f"the number {text[:40]} is beyond a float's range")
    return value


def _finite_int(text: str) -> int:
    if len(text.lstrip("-")) > 308:  # past 1e308 no float holds it: a score, rate or count cannot be that
        raise _NotFinite(f"the number {text[:20]}... ({len(text)} digits) is beyond a float's range")
    return int(text)


def _no_constant(name: str):
    raise _NotFinite(f"{name} is not a number JSON allows (every number must be finite)")


def parse_json(text: str):
    """json.loads with one more rule: every number finite (NaN, Infinity, 1e400 and a 400-digit
    integer are errors, not inf or an OverflowError later)."""
    return json.loads(text, parse_float=_finite_float, parse_int=_finite_int, parse_constant=_no_constant)


def read_jsonl(path: str | Path, record_type: Type[T] | None = None, numbered: bool = False) -> list:
    """Records of a JSONL file (blank lines skipped); `numbered`: (line number, record) pairs.
    With `record_type`, each line is validated and a repeat of its `UNIQUE` fields refused."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: file does not exist")
    out, seen = [], {}
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ArtifactError(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
            if not line.strip():
                continue
            try:
                obj = parse_json(line)
            except json.JSONDecodeError as e:
                raise ArtifactError(f"{path}:{lineno}: malformed JSON ({e.msg}, column {e.colno})") from None
            except _NotFinite as e:
                raise ArtifactError(f"{path}:{lineno}: {e}") from None
            if record_type is not None:
                obj = _record(path, lineno, record_type, obj, seen)
            out.append((lineno, obj) if numbered else obj)
    return out


def _record(path: Path, lineno: int, record_type, obj, seen: dict):
    """One line as `record_type`; `seen` maps its UNIQUE values to the line they were first on."""
    try:
        rec = record_type.model_validate(obj)
    except ValidationError as e:
        errs = "; ".join(f"{'.'.join(map(str, x['loc'])) or '<record>'}: {x['msg']}" for x in e.errors())
        raise ArtifactError(f"{path}:{lineno}: invalid {record_type.__name__}: {errs}") from None
    if getattr(record_type, "UNIQUE", ()):
        key = tuple(getattr(rec, k) for k in record_type.UNIQUE)
        if key in seen:
            what = ", ".join(f"{k} {v!r}" for k, v in zip(record_type.UNIQUE, key))
            raise ArtifactError(f"{path}:{lineno}: {what} again (first on line {seen[key]}); each may appear once")
        seen[key] = lineno
    return rec


def read_json(path: str | Path):
    """A whole-file JSON document (AlpacaEval's instruction list, a prompt list), read as strictly
    as `read_jsonl` reads lines: UTF-8, well-formed, and an error naming the line and column."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: file does not exist" if not path.exists() else f"{path}: not a file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ArtifactError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        return parse_json(text)
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{path}:{e.lineno}: malformed JSON ({e.msg}, column {e.colno})") from None
    except _NotFinite as e:
        raise ArtifactError(f"{path}: {e}") from None


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def model_problem(folder: str | Path) -> str | None:
    """What keeps `folder` from being a loadable HF checkpoint (its config.json, and its weights:
    one file, or every shard its index names), or None where nothing does."""
    d = Path(folder)
    if not (d / "config.json").is_file():
        return "no config.json in it"
    for index in WEIGHT_INDEXES:
        if (d / index).is_file():
            try:
                shards = sorted(set(parse_json((d / index).read_text()).get("weight_map", {}).values()))
            except (ValueError, AttributeError, OSError):
                return f"{index} is not a weight index"
            if not shards:
                return f"{index} names no weight file"
            missing = [str(x) for x in shards if not (d / str(x)).is_file()]
            return f"{index} names {', '.join(missing[:3])}, not there" if missing else None
    if not any((d / f).is_file() for f in WEIGHT_FILES):
        return f"no weights ({' or '.join(WEIGHT_FILES)}) in it"
    return None


def _dump(rec) -> str:
    if isinstance(rec, BaseModel):
        return rec.model_dump_json()
    return json.dumps(rec, ensure_ascii=False)


def writable_target(path: str | Path) -> Path:
    """`path`, once it is known to be a place we may write by rename: a new path or a regular file.
    A device, FIFO, socket, folder or symlink already there is never replaced (as root, a rename
    onto /dev/full turns the device into a file)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return path
    if not stat.S_ISREG(mode):
        kind = "a symlink" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise ArtifactError(f"{path}: exists and is {kind}; refusing to replace it (give a new file path)")
    return path


def write_jsonl(path: str | Path, records: Iterable) -> int:
    path = writable_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(_dump(r) + "\n")
            n += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return n


def write_text_atomic(path: str | Path, text: str) -> None:
    path = writable_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: str | Path, obj) -> None:
    path = writable_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


CONTENT_RECORD = ".srlm-content.json"


def _content_record(d: Path) -> Path:
    """Where a model directory's file hashes are kept: beside the weights, or in the user's cache
    for a directory we may not write (a shared base checkpoint)."""
    if os.access(d, os.W_OK):
        return d / CONTENT_RECORD
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "srlm-nemo" / "content"
    return cache / (hashlib.sha256(str(d.resolve()).encode()).hexdigest() + ".json")


def model_fingerprint(model_dir: str | Path) -> str:
    """A checkpoint's identity: the sha256 of every file's content. Each file's hash is computed
    once and recorded with its size and modification time (`CONTENT_RECORD`), so later checks
    (every resume, every `srlm plan`) read the record instead of 140 GB of 70B weights; a file
    rewritten since is hashed again. Names and sizes alone missed a retrained model of the same
    shape, and every stage built on the old one was kept."""
    d = Path(model_dir)
    record_path = _content_record(d)
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        record = {}
    files, h = {}, hashlib.sha256()
    for p in sorted(d.iterdir()):
        if not p.is_file() or p.name == CONTENT_RECORD:
            continue
        st = p.stat()
        known = record.get(p.name)
        digest = known[2] if isinstance(known, list) and known[:2] == [st.st_size, st.st_mtime_ns] else file_sha256(p)
        files[p.name] = [st.st_size, st.st_mtime_ns, digest]
        h.update(f"{p.name}\0{digest}\0".encode())
    if files != record:
        try:
            record_path.parent.mkdir(parents=True, exist_ok=True)
            write_json(record_path, files)
        except OSError:
            pass  # read-only everywhere: hashed again next time, still correct
    return h.hexdigest()


_shards_written = 0


def _maybe_inject_kill(path: Path) -> None:
    """Fault injection for the kill-and-resume test: SRLM_FAULT_KILL_AFTER_SHARDS="N:part"
    makes the process SIGKILL itself right after its N-th shard write whose path contains
    `part` (exactly like a user's kill -9 at that moment)."""
    global _shards_written
    spec = os.environ.get("SRLM_FAULT_KILL_AFTER_SHARDS")
    if not spec:
        return
    n, _, part = spec.partition(":")
    if part not in str(path):
        return
    _shards_written += 1
    if _shards_written >= int(n):
        import signal
        os.kill(os.getpid(), signal.SIGKILL)


class ShardedWriter:
    """Shard i of a stage holds the records for work items [i*size, (i+1)*size).

    Shards live in `shards/<fingerprint>/`: when the stage's config or inputs change, old shards
    are never mixed with new ones. Several processes may fill one stage's shards at once
    (`worker=True`, each writing only its own shards): workers delete nothing, and a plain
    (merging) run removes what other fingerprints and killed writes left behind.
    """

    def __init__(self, stage_dir: Path, fingerprint: str, worker: bool = False):
        root = Path(stage_dir) / "shards"
        self.dir = root / fingerprint[:16]
        self.dir.mkdir(parents=True, exist_ok=True)
        if not worker:
            for old in root.iterdir():
                if old.is_dir() and old != self.dir:
                    shutil.rmtree(old, ignore_errors=True)
                elif old.is_file():  # the flat layout of earlier versions
                    old.unlink()
            for p in self.dir.glob("*.tmp"):  # a write interrupted by a kill
                p.unlink()

    def path(self, i: int) -> Path:
        return self.dir / f"{i:05d}.jsonl"

    def done(self, i: int) -> bool:
        return self.path(i).exists()

    def finished(self) -> list[int]:
        return sorted(int(p.stem) for p in self.dir.glob("*.jsonl"))

    def write(self, i: int, records: Iterable) -> int:
        n = write_jsonl(self.path(i), records)
        _maybe_inject_kill(self.path(i))
        return n

    def read(self, i: int, record_type=None) -> list:
        return read_jsonl(self.path(i), record_type)
