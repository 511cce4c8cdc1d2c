"""Knobs describe themselves (srlm_nemo/knobs.py): every field has help and a source, and the
checks are driven by that metadata, so every knob with a range or choices is refused outside
them, and every number must be finite, without a line per key in `validate`."""
import dataclasses

import pytest

from srlm_nemo.config import Config, ConfigError, load_config, validate
from srlm_nemo.knobs import SOURCES, walk

KNOBS = list(walk(Config()))


def test_every_knob_has_help_and_a_source():
    bare = [key for key, f, _ in KNOBS if not f.metadata.get("help") or f.metadata.get("source") not in SOURCES]
    assert not bare, f"knobs without help or source: {bare}"


def _set(cfg, key: str, value):
    *path, name = key.split(".")
    node = cfg
    for part in path:
        node = getattr(node, part)
    setattr(node, name, value)


def _refused(key: str, value) -> str:
    cfg = Config()
    _set(cfg, key, value)
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    return str(e.value)


CHOICES = [(key, f.metadata["choices"]) for key, f, _ in KNOBS if f.metadata.get("choices")]
NUMBERS = [(key, f, v) for key, f, v in KNOBS if isinstance(v, (int, float)) and not isinstance(v, bool)]
BOUNDED = [(key, f.metadata) for key, f, _ in NUMBERS
           if any(f.metadata.get(b) is not None for b in ("ge", "gt", "le", "lt"))]


@pytest.mark.parametrize("key", [k for k, _ in CHOICES])
def test_a_value_outside_the_choices_is_refused_naming_the_key(key):
    assert _refused(key, "no-such-choice").startswith(f"{key}: one of ")


@pytest.mark.parametrize("key", [k for k, f, v in NUMBERS if isinstance(v, float)])
def test_infinite_and_nan_numbers_are_refused(key):
    for bad in (float("inf"), float("-inf"), float("nan")):
        assert _refused(key, bad).startswith(f"{key}: ")


@pytest.mark.parametrize("key,meta", BOUNDED, ids=[k for k, _ in BOUNDED])
def test_a_value_past_each_bound_is_refused(key, meta):
    for name, past in (("ge", -1), ("gt", 0), ("le", 1), ("lt", 0)):
        if meta.get(name) is not None:
            bound = meta[name]
            value = bound - 1 if name == "ge" else bound if name in ("gt", "lt") else bound + 1
            assert "must be" in _refused(key, value), (name, value)


def test_defaults_pass_their_own_rules():
    validate(Config())


def test_overrides_reach_the_metadata_checks():
    """What a user types goes through the same rules (Hydra parses `inf` as a float)."""
    for override, key in (("sft.learning_rate=inf", "sft.learning_rate"), ("dpo.beta=inf", "dpo.beta"),
                          ("candidates.temperature=inf", "candidates.temperature"), ("judge.k=0", "judge.k"),
                          ("pairs.strategy=best", "pairs.strategy")):
        with pytest.raises(ConfigError, match=f"^{key}: "):
            load_config([override])


def test_sft_and_dpo_share_one_base():
    sft_fields = {f.name for f in dataclasses.fields(Config().sft)}
    dpo_fields = {f.name for f in dataclasses.fields(Config().dpo)}
    shared = sft_fields & dpo_fields
    assert {"learning_rate", "global_batch_size", "dropout", "parallel", "save_steps"} <= shared
    assert type(Config().sft).__mro__[1] is type(Config().dpo).__mro__[1]


def test_srlm_config_prints_each_knob_with_default_source_and_help():
    from tests.conftest import srlm
    out = srlm("config", "judge", "judge.k=5").stdout
    assert "judge.k = 3  (this config: 5)    [paper]" in out
    assert "judgements per answer, averaged" in out
    assert "pairs.strategy" not in out
    everything = srlm("config").stdout
    assert all(f"{key} = " in everything for key, _, _ in KNOBS)
