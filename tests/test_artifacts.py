from pathlib import Path

import pytest

from srlm_nemo.artifacts import ArtifactError, ShardedWriter, read_jsonl, write_jsonl
from srlm_nemo.schemas import IFTExample, PreferencePair


def test_roundtrip_and_validation(tmp_path):
    p = tmp_path / "ift.jsonl"
    write_jsonl(p, [IFTExample(id="1", prompt="q", response="a", source="t")])
    assert read_jsonl(p, IFTExample)[0].prompt == "q"
    assert not (tmp_path / "ift.jsonl.tmp").exists()


@pytest.mark.parametrize("content,needle", [
    (b'{"id": "1", "prompt": "q", "response": "a", "source": "t"}\n{"id": 2,\n', ":2: malformed JSON"),
    (b'{"id": "1", "prompt": "q", "source": "t"}\n', ":1: invalid IFTExample: response: Field required"),
    (b'{"id": "1", "prompt": "", "response": "a", "source": "t"}\n', ":1: invalid IFTExample: prompt"),
    (b'{"id": "1", "prompt": "q", "response": "a", "source": "t", "extra": 1}\n', "extra: Extra inputs"),
    (b'{"id": "1", "prompt": "\xff\xfe", "response": "a", "source": "t"}\n', ":1: not valid UTF-8"),
])
def test_bad_input_names_file_and_line(tmp_path, content, needle):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    with pytest.raises(ArtifactError) as e:
        read_jsonl(p, IFTExample)
    assert str(p) in str(e.value) and needle in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ArtifactError, match="does not exist"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_pair_needs_one_assistant_turn():
    with pytest.raises(ValueError, match="exactly one assistant message"):
        PreferencePair(id="x", prompt=[{"role": "user", "content": "q"}],
                       chosen=[{"role": "user", "content": "a"}], rejected=[{"role": "assistant", "content": "b"}],
                       chosen_id="1", rejected_id="2", chosen_score=2, rejected_score=1)


def test_shards_reset_when_fingerprint_changes(tmp_path):
    w = ShardedWriter(tmp_path, "fp1")
    w.write(0, [{"a": 1}])
    (w.dir / "00001.jsonl.tmp").write_text("half a line")  # a write cut by a kill
    w2 = ShardedWriter(tmp_path, "fp1")
    assert w2.finished() == [0] and not (w.dir / "00001.jsonl.tmp").exists()
    w3 = ShardedWriter(tmp_path, "fp2")  # config or inputs changed: old shards must not mix in
    assert w3.finished() == [] and not w.dir.exists()


def test_shard_workers_delete_nothing(tmp_path):
    """Workers of one stage run at once: none may remove another's shard or half-written file."""
    w = ShardedWriter(tmp_path, "fp1")
    w.write(0, [{"a": 1}])
    (w.dir / "00001.jsonl.tmp").write_text("being written by another worker")
    other = ShardedWriter(tmp_path, "fp2", worker=True)  # a worker of a changed config
    ShardedWriter(tmp_path, "fp1", worker=True).write(2, [{"a": 3}])
    assert (w.dir / "00001.jsonl.tmp").exists() and w.finished() == [0, 2] and other.finished() == []
    assert ShardedWriter(tmp_path, "fp1").finished() == [0, 2]  # the merging run cleans up
    assert not (w.dir / "00001.jsonl.tmp").exists() and not other.dir.exists()


def test_model_fingerprint_is_the_weights_content_hashed_once(tmp_path, monkeypatch):
    import os

    from srlm_nemo import artifacts
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "model.safetensors").write_bytes(b"\x00" * 1000)
    first = artifacts.model_fingerprint(d)
    assert (d / artifacts.CONTENT_RECORD).exists()
    calls = []
    monkeypatch.setattr(artifacts, "file_sha256", lambda p: calls.append(p) or "x")
    assert artifacts.model_fingerprint(d) == first and calls == []  # read from the record
    monkeypatch.undo()
    # retrained: same names, same size, other weights (names and sizes alone said "same")
    (d / "model.safetensors").write_bytes(b"\x01" * 1000)
    assert artifacts.model_fingerprint(d) != first
    os.utime(d / "model.safetensors", ns=(1, 1))
    (d / "model.safetensors").write_bytes(b"\x00" * 1000)
    assert artifacts.model_fingerprint(d) == first


def test_model_fingerprint_of_a_read_only_checkpoint_is_recorded_in_the_cache(tmp_path, monkeypatch):
    import os

    from srlm_nemo import artifacts
    d = tmp_path / "shared_base"
    d.mkdir()
    (d / "model.safetensors").write_bytes(b"\x02" * 100)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == d else real_access(p, m))
    fp = artifacts.model_fingerprint(d)
    assert not (d / artifacts.CONTENT_RECORD).exists()
    assert len(list((tmp_path / "cache" / "srlm-nemo" / "content").glob("*.json"))) == 1
    assert artifacts.model_fingerprint(d) == fp
