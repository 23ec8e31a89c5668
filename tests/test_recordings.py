"""The recorded answers the unit tier replays stay true to the real target scripts.

e2e: each scenario is run again for real (TensorFlow's import, ``load_data()``, the network stages)
and every answer must have the shape of the recorded one, so a changed target script or TensorFlow
shows up here, not as unit tests passing on answers no script gives any more.
unit: replaying a recording through the CLI reaches the verdict the real run reached.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from testkit import recordings
from testkit.record_answers import SCENARIOS, record
from tests.marks import needs_tf

#: Maps whose keys are data (variable names), not fields: only their being a map is compared.
FREE_FORM = frozenset({"env"})


def shape(value: Any, key: str = "") -> Any:
    """The structure of a JSON value: field names and kinds of values; list items merged."""
    if isinstance(value, dict):
        if key in FREE_FORM:
            return "map"
        return {k: shape(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        for item in value:
            merged[json.dumps(shape(item, key), sort_keys=True)] = shape(item, key)
        return ["list", *sorted(merged)]
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, (int, float)):
        return "number"
    return "str"


def differences(recorded: Any, fresh: Any, where: str = "") -> list[str]:
    """Where two shapes differ, as paths (``answer.stages[].value.version: str → missing``)."""
    if isinstance(recorded, dict) and isinstance(fresh, dict):
        out = []
        for name in sorted(set(recorded) | set(fresh)):
            if name not in fresh:
                out.append(f"{where}.{name}: recorded, no longer emitted")
            elif name not in recorded:
                out.append(f"{where}.{name}: emitted now, not in the recording")
            else:
                out += differences(recorded[name], fresh[name], f"{where}.{name}")
        return out
    return [] if recorded == fresh else [f"{where}: {str(recorded)[:80]} → {str(fresh)[:80]}"]


def test_shape_tells_a_renamed_field_and_a_changed_kind() -> None:
    """The comparison is not blind: a renamed key and a number turned string are both reported."""
    before = shape({"stages": [{"name": "dns", "ok": True, "elapsed_s": 0.1}], "env": {"A": "1"}})
    renamed = shape({"stages": [{"name": "dns", "passed": True, "elapsed_s": 0.1}], "env": {"B": "2"}})
    retyped = shape({"stages": [{"name": "dns", "ok": True, "elapsed_s": "0.1"}], "env": {}})
    assert differences(before, renamed) and differences(before, retyped)
    assert differences(before, before) == []


@pytest.mark.parametrize("name", recordings.names())
def test_every_recording_belongs_to_a_scenario_that_can_make_it_again(name: str) -> None:
    made = recordings.Recording.load(name)
    scenario = next((s for s in SCENARIOS if s.name == name), None)
    assert scenario is not None, f"{name}.json has no scenario in testkit/record_answers.py"
    assert made.argv == list(scenario.argv) and made.runs and made.meta["recorded_by"].endswith(name)


@pytest.mark.parametrize("name", recordings.names())
def test_replaying_a_recording_reaches_the_real_runs_verdict(name: str, replayed) -> None:
    made = recordings.Recording.load(name)
    run = replayed(name, *made.argv)
    assert run.code == made.meta["exit_code"], run.stderr
    if "json" in made.argv:
        assert json.loads(run.stdout)["exit_code"] == made.meta["exit_code"]


@needs_tf
@pytest.mark.usefixtures("processes")
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_scripts_still_answer_in_the_recorded_shape(scenario) -> None:
    recorded = recordings.Recording.load(scenario.name)
    fresh = record(scenario)
    assert sorted(fresh.runs) == sorted(recorded.runs), "the doctor now runs other scripts: re-record"
    for key in recorded.runs:
        changed = differences(shape(recorded.runs[key]), shape(fresh.runs[key]), key)
        assert not changed, f"re-record with `python -m testkit.record_answers {scenario.name}`: {changed}"
    assert fresh.meta["exit_code"] == recorded.meta["exit_code"]
