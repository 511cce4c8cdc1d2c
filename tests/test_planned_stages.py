"""The stage graph does not change when the code that declares it moves: for every case in
tests/planned_stages.py (the demo, each pair strategy, the meta-judge, the reference judge,
checkpoint selection, the EFT builder, the cluster experiments), the planned stages (names,
kinds, the config each reads, inputs, outputs, labels, planned fingerprints) equal those written
in tests/data/planned_stages.json by the code before the stages owned their declarations."""
import json
from pathlib import Path

import pytest

from tests.planned_stages import CASES, all_cases

GOLDEN = json.loads((Path(__file__).parent / "data" / "planned_stages.json").read_text())


@pytest.fixture(scope="module")
def planned_now():
    return all_cases()


@pytest.mark.parametrize("case", sorted(CASES))
def test_planned_stages_are_unchanged(case, planned_now):
    now, before = planned_now[case], GOLDEN[case]
    assert [s["name"] for s in now] == [s["name"] for s in before]
    for a, b in zip(now, before):
        assert a == b, f"{case}: stage {a['name']} differs"
