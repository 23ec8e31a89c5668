"""The matrix's verdict logic, and the committed matrix replayed against the current table.

The replay rebuilds each recorded environment's metadata (real ``*.dist-info`` in a real
virtualenv, no TensorFlow), runs the real doctor on it in a subprocess, and compares its
prediction with the observation recorded from the real import — with ``matrix.verdict``,
the same code the nox matrix uses. A wrong edit to ``mnist_doctor/data/compat.toml`` makes
these tests fail without downloading a single TensorFlow wheel.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the matrix helpers live at the repository root, next to noxfile.py
    sys.path.insert(0, str(ROOT))

from matrix.cases import CASES, by_name  # noqa: E402
from matrix.replay import build_metadata_venv, predict  # noqa: E402
from matrix.verdict import compare, observe  # noqa: E402

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]  # same API, the backport

MATRIX_JSON = ROOT / "docs" / "compat-matrix.json"
TABLE = ROOT / "mnist_doctor" / "data" / "compat.toml"


def _records() -> dict[str, dict[str, Any]]:
    if not MATRIX_JSON.exists():
        return {}
    return {rec["case"]: rec for rec in json.loads(MATRIX_JSON.read_text(encoding="utf-8"))["cases"]}


RECORDS = _records()
needs_records = pytest.mark.skipif(
    not RECORDS, reason="docs/compat-matrix.json missing: run nox -s matrix_report"
)


def _same_python(record: dict[str, Any]) -> bool:
    return record["python"].rsplit(".", 1)[0] == f"{sys.version_info.major}.{sys.version_info.minor}"


def _installed(record: dict[str, Any]) -> dict[str, str]:
    return {k: d["version"] for k, d in record["distributions"].items()}


def _replay(record: dict[str, Any], tmp_path: Path, table: Path | None = None):  # type: ignore[no-untyped-def]
    if not _same_python(record):
        pytest.skip(f"recorded with Python {record['python']}; the compat.python verdict depends on it")
    python = build_metadata_venv(record, tmp_path / "venv")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    prediction = predict(record, python, cwd, table)
    return compare(by_name(record["case"]), prediction, record["observation"], _installed(record))


def _write_table(rows: list[dict[str, Any]], path: Path) -> Path:
    text = "schema = 1\n" + "".join(
        "\n[[release]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in row.items()) for row in rows
    )
    path.write_text(text, encoding="utf-8")
    return path


def _mutated_table(tmp_path: Path, tf_spec: str, key: str, value: str) -> Path:
    rows = tomllib.loads(TABLE.read_text(encoding="utf-8"))["release"]
    hits = [row for row in rows if row["tensorflow"] == tf_spec]
    assert len(hits) == 1, f"the table has no single row {tf_spec!r}: {[r['tensorflow'] for r in rows]}"
    mutated = copy.deepcopy(rows)
    mutated[rows.index(hits[0])][key] = value
    return _write_table(mutated, tmp_path / "compat-mutated.toml")


@needs_records
def test_every_case_is_recorded() -> None:
    assert sorted(RECORDS) == sorted(c.name for c in CASES)
    assert all(rec["verdict"]["agree"] for rec in RECORDS.values()), [
        (name, rec["verdict"]["problems"]) for name, rec in RECORDS.items() if not rec["verdict"]["agree"]
    ]


@needs_records
@pytest.mark.usefixtures("processes")
def test_table_roundtrip_changes_nothing(tmp_path: Path) -> None:
    """The mutation tests below rewrite the table; an unmutated rewrite must predict the same."""
    rows = tomllib.loads(TABLE.read_text(encoding="utf-8"))["release"]
    copy_path = _write_table(rows, tmp_path / "compat-copy.toml")
    assert tomllib.loads(copy_path.read_text(encoding="utf-8"))["release"] == rows
    verdict = _replay(RECORDS["numpy2-tf2.14.0"], tmp_path, copy_path)
    assert verdict.agree, verdict.problems


@needs_records
@pytest.mark.parametrize("case", sorted(RECORDS))
@pytest.mark.usefixtures("processes")
def test_recorded_reality_agrees_with_current_table(case: str, tmp_path: Path) -> None:
    verdict = _replay(RECORDS[case], tmp_path)
    assert verdict.agree, verdict.problems
    assert verdict.prediction.outcome == RECORDS[case]["expect"]


MUTATIONS = [
    # (case, table row, key, wrong value, what the doctor then gets wrong)
    ("numpy2-tf2.14.0", "==2.14.0", "numpy", ">=1.23.5", "predicted ok"),
    ("tf2.16", ">=2.16.0,<2.17.0", "numpy", ">=1.23.5,<1.26", "predicted broken"),
    ("tf2.21", ">=2.21.0,<2.22.0", "keras", ">=2.21,<3", "predicted broken"),
    ("tf2.12", ">=2.12.0,<2.13.0", "python", ">=3.8,<3.11", "predicted broken"),
]


@needs_records
@pytest.mark.parametrize(("case", "row", "key", "value", "wrong"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
@pytest.mark.usefixtures("processes")
def test_one_wrong_table_entry_fails_the_matrix(
    case: str, row: str, key: str, value: str, wrong: str, tmp_path: Path
) -> None:
    table = _mutated_table(tmp_path, row, key, value)
    verdict = _replay(RECORDS[case], tmp_path, table)
    assert not verdict.agree
    named = f"compat.{key}" if wrong == "predicted broken" else ""
    assert any(
        problem.startswith(wrong) and named in problem and "import probe observed" in problem
        for problem in verdict.problems
    ), verdict.problems


# --- the verdict on hand-made reports: each disagreement is caught and named -------------------


def _report(*results: dict[str, Any]) -> dict[str, Any]:
    return {"schema": 1, "results": list(results), "exit_code": 0}


def _result(
    cid: str, status: str, hint: str | None = None, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "id": cid,
        "family": cid.split(".")[0],
        "status": status,
        "summary": f"{cid} {status}",
        "hint": hint,
        "data": data or {},
    }


def _probe(status: str, tf: str = "2.16.2", **data: Any) -> dict[str, Any]:
    stages = {
        "numpy": {"name": "numpy", "ok": True, "value": {"version": "1.26.4"}},
        "tensorflow": {"name": "tensorflow", "ok": status != "fail", "value": {"version": tf}},
        "tf.keras": {
            "name": "tf.keras",
            "ok": status != "fail",
            "value": {"kind": "keras3", "version": "3.3.3"},
        },
    }
    return _report(_result("runtime.import", status, data={"stages": stages, **data}))


HEALTHY = by_name("tf2.16")
NUMPY2 = by_name("numpy2-tf2.16")
INSTALLED_216 = {"tensorflow": "2.16.2", "numpy": "1.26.4", "keras": "3.3.3"}


def test_agreeing_healthy_case() -> None:
    verdict = compare(
        HEALTHY,
        _report(_result("compat.numpy", "ok"), _result("env.shadowing", "ok")),
        _probe("ok"),
        INSTALLED_216,
    )
    assert verdict.agree, verdict.problems
    assert verdict.observation.keras_kind == "keras3"


def test_false_alarm_is_a_disagreement() -> None:
    verdict = compare(
        HEALTHY,
        _report(_result("compat.numpy", "fail", hint="pip install 'numpy<2'")),
        _probe("ok"),
        INSTALLED_216,
    )
    assert not verdict.agree
    assert verdict.problems[0].startswith("predicted broken (compat.numpy)")


def test_missed_failure_is_a_disagreement() -> None:
    verdict = compare(
        NUMPY2,
        _report(_result("compat.numpy", "ok")),
        _probe("fail", failed_stage="tensorflow", diagnosis="numpy_abi"),
        {**INSTALLED_216, "numpy": "2.0.2"},
    )
    assert not verdict.agree
    assert verdict.problems[0].startswith("predicted ok")


def test_broken_case_must_name_the_right_check_and_hint() -> None:
    wrong_check = compare(
        NUMPY2,
        _report(_result("compat.keras", "fail", hint="pip install keras")),
        _probe("fail"),
        {**INSTALLED_216, "numpy": "2.0.2"},
    )
    assert any("did not name the problem: compat.numpy" in p for p in wrong_check.problems)
    vague_hint = compare(
        NUMPY2,
        _report(_result("compat.numpy", "fail", hint="reinstall things")),
        _probe("fail"),
        {**INSTALLED_216, "numpy": "2.0.2"},
    )
    assert any("numpy<2" in p for p in vague_hint.problems)


def test_a_crashed_check_or_missing_probe_never_agrees() -> None:
    crashed = compare(HEALTHY, _report(_result("compat.numpy", "error")), _probe("ok"), INSTALLED_216)
    assert not crashed.agree and "crashed" in crashed.problems[0]
    unobserved = compare(HEALTHY, _report(_result("compat.numpy", "ok")), _report(), INSTALLED_216)
    assert not unobserved.agree and "no usable observation" in unobserved.problems[0]


def test_other_tensorflow_running_than_installed_is_observed_as_broken() -> None:
    installed = {"tensorflow": "2.20.0", "tensorflow-cpu": "2.21.0"}
    obs = observe(_probe("ok", tf="2.21.0"), installed)
    assert obs.outcome == "runs-other-version" and obs.broken
    assert "tensorflow 2.20.0" in obs.summary


def test_case_not_built_as_described_is_caught() -> None:
    verdict = compare(
        HEALTHY, _report(_result("compat.numpy", "ok")), _probe("ok"), {**INSTALLED_216, "numpy": "1.26.3"}
    )
    assert any("the case pins 1.26.4" in p for p in verdict.problems)


def test_blaming_the_wrong_package_is_a_disagreement() -> None:
    case = by_name("ml-dtypes-numpy1-tf2.21")
    installed = {"tensorflow": "2.21.0", "numpy": "2.4.6", "keras": "3.15.1", "ml-dtypes": "0.3.2"}
    prediction = _report(_result("compat.requirements", "fail", hint='pip install "ml_dtypes<1.0.0,>=0.5.1"'))
    right = compare(case, prediction, _probe("fail", diagnosis="numpy-abi", raised_in="ml_dtypes"), installed)
    assert right.agree, right.problems
    wrong = compare(
        case, prediction, _probe("fail", diagnosis="numpy-abi", raised_in="tensorflow"), installed
    )
    assert any("blamed 'tensorflow'" in p for p in wrong.problems)


def test_same_version_pair_must_warn_not_fail() -> None:
    case = by_name("tensorflow-cpu-and-tensorflow-same-version")
    installed = {"tensorflow": "2.21.0", "tensorflow-cpu": "2.21.0", "numpy": "2.4.6", "keras": "3.15.1"}
    warned = compare(
        case, _report(_result("compat.tensorflow", "warn")), _probe("ok", tf="2.21.0"), installed
    )
    assert warned.agree, warned.problems
    failed = compare(
        case, _report(_result("compat.tensorflow", "fail")), _probe("ok", tf="2.21.0"), installed
    )
    assert not failed.agree and failed.problems[0].startswith("predicted broken (compat.tensorflow)")
