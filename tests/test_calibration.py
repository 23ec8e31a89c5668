"""Calibrated statuses and right causes, against real environments and real import probes.

Each test builds a real venv with tiny importable packages (``tests/fake_tf.py``) and the
real Requires-Dist of TensorFlow; the doctor examines it with ``--python`` in a subprocess and
its import probe really imports them in a grandchild. ``fail`` must mean "this breaks here":
a violation that imports is a ``warn`` naming both witnesses; a probe cut by the doctor's
own ``--timeout`` is never held against the environment.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from testkit.fake_env import fake_environment
from tests.fake_tf import fake_tf_env


def run(
    doctor, python: Path, select: str, *extra: str, env: dict[str, str] | None = None, timeout: str = "60"
):
    done = doctor(
        "--python",
        str(python),
        "--offline",
        "--format",
        "json",
        "--select",
        select,
        "--timeout",
        timeout,
        *extra,
        env_extra=env,
    )
    assert done.code in (0, 1), done.stderr
    return {r["id"]: r for r in done.json["results"]}


# --- a declared-requirement violation: the import probe is the second witness -------------------


def test_violation_that_imports_is_a_warn_naming_both_witnesses(doctor, tmp_path):
    py = fake_tf_env(tmp_path / "v", h5py="3.16.0")  # TF 2.21 declares h5py<3.15.0
    results = run(doctor, py, "compat,runtime")
    assert results["runtime.import"]["status"] == "ok", results["runtime.import"]
    req = results["compat.requirements"]
    assert req["status"] == "warn", req
    assert "outside the declared range, but the import works here (runtime.import)" in req["summary"]
    assert any(d.startswith("metadata (Requires-Dist):") for d in req["details"])
    assert any(d.startswith("import probe (runtime.import): imports") for d in req["details"])
    assert '"h5py<3.15.0,>=3.11.0"' in req["hint"]


def test_violation_that_the_probe_also_fails_on_is_a_fail(doctor, tmp_path):
    py = fake_tf_env(tmp_path / "v", "fails", h5py="3.16.0")
    results = run(doctor, py, "compat,runtime")
    assert results["runtime.import"]["status"] == "fail"
    req = results["compat.requirements"]
    assert req["status"] == "fail" and "the import fails here too (runtime.import)" in req["summary"]


def test_without_the_probe_only_known_breaks_fail(doctor, tmp_path):
    above = fake_tf_env(tmp_path / "above", h5py="3.16.0")
    r = run(doctor, above, "compat")["compat.requirements"]
    assert r["status"] == "warn" and "not known to break" in r["summary"], r
    assert any("runtime.import" in d and "not run" in d for d in r["details"])
    below = fake_tf_env(tmp_path / "below", ml_dtypes="0.3.2")  # TF 2.21 declares ml_dtypes>=0.5.1
    r = run(doctor, below, "compat")["compat.requirements"]
    assert r["status"] == "fail" and "older than TensorFlow's minimum (>=0.5.1)" in " ".join(r["details"])
    missing = fake_tf_env(tmp_path / "missing", h5py=None)
    r = run(doctor, missing, "compat")["compat.requirements"]
    assert r["status"] == "fail" and "h5py is missing" in " ".join(r["details"])


def test_known_break_row_fails_without_the_probe(doctor, tmp_path):
    # TF 2.11 declares protobuf<3.20; protobuf 4 breaks it ("Descriptors cannot be created directly").
    py = fake_environment(tmp_path / "v", {"tensorflow": "2.11.1", "numpy": "1.24.3", "protobuf": "4.25.3"})
    from testkit.fake_env import add_dist, site_packages

    add_dist(site_packages(py), "tensorflow", "2.11.1", ["protobuf<3.20,>=3.9.2", "numpy>=1.20"])
    r = run(doctor, py, "compat.requirements")["compat.requirements"]
    assert r["status"] == "fail" and "Descriptors cannot be created directly" in " ".join(r["details"]), r


# --- two TensorFlow distributions ---------------------------------------------------------------


def test_two_distributions_at_one_version_warn_with_risk_and_clean_fix(doctor, tmp_path):
    py = fake_environment(
        tmp_path / "v",
        {"tensorflow-cpu": "2.21.0", "tensorflow": "2.21.0", "numpy": "2.4.6", "keras": "3.15.1"},
    )
    r = run(doctor, py, "compat.tensorflow")["compat.tensorflow"]
    assert r["status"] == "warn", r
    text = " ".join(r["details"])
    assert "deletes or replaces files the other needs" in text and "tf-keras" in text
    assert "uninstall" in r["hint"] and "tensorflow==2.21.0" in r["hint"]
    assert r["data"]["fix"]["steps"][-1][-1] == "tensorflow==2.21.0"


def test_two_distributions_at_different_versions_fail(doctor, tmp_path):
    py = fake_environment(
        tmp_path / "v",
        {"tensorflow": "2.18.0", "tensorflow-cpu": "2.21.0", "numpy": "2.0.2", "keras": "3.6.0"},
    )
    r = run(doctor, py, "compat.tensorflow")["compat.tensorflow"]
    assert r["status"] == "fail" and "overwrite each other" in r["summary"]


# --- the doctor's own budget ------------------------------------------------------------------------


def test_probe_cut_by_the_doctors_timeout_is_a_warn_with_the_timeout_to_use(doctor, tmp_path):
    py = fake_tf_env(tmp_path / "v", "hang")
    start = time.monotonic()
    results = run(doctor, py, "runtime", timeout="4")
    elapsed = time.monotonic() - start
    r = results["runtime.import"]
    assert r["status"] == "warn", r
    assert "doctor's own budget (--timeout 4)" in r["summary"] and "no verdict" in r["summary"]
    assert r["hint"].startswith("rerun with --timeout ") and int(r["hint"].split()[-1]) >= 180
    assert r["data"]["budget_limited"] is True
    # The promise itself: the run ends within --timeout + 2 s (a few seconds of margin for a busy machine).
    assert elapsed < 4 + 2 + 4, elapsed


@pytest.mark.usefixtures("processes")
def test_probe_killed_at_its_own_cap_is_a_hang_and_fails(tmp_path, monkeypatch):
    from mnist_doctor.checks.runtime import ImportWorks
    from mnist_doctor.facts import Facts, Options
    from mnist_doctor.facts import import_probe as probes

    py = fake_tf_env(tmp_path / "v", "hang")
    monkeypatch.setattr(probes, "IMPORT_TIMEOUT_S", 2.0)  # the probe's own cap, well inside the budget
    facts = Facts(Options(python=str(py), offline=True, timeout=60))
    result = facts.call(ImportWorks().run)
    assert result.status.value == "fail" and "did not finish" in result.summary
    assert not facts.get("import_probe").limited_by_budget


# --- right causes ---------------------------------------------------------------------------------


def test_numpy_abi_raised_in_ml_dtypes_is_blamed_on_ml_dtypes(doctor, tmp_path):
    py = fake_tf_env(tmp_path / "v", "imports-ml-dtypes", ml_dtypes="0.5.4", ml_dtypes_numpy1=True)
    r = run(doctor, py, "runtime")["runtime.import"]
    assert r["status"] == "fail"
    assert r["data"]["diagnosis"] == "numpy-abi" and r["data"]["raised_in"] == "ml_dtypes"
    assert "ml_dtypes was compiled for NumPy 1.x" in r["summary"] and "not TensorFlow" in r["summary"]
    assert r["hint"].split("  (")[0].endswith('"ml_dtypes<1.0.0,>=0.5.1"'), r["hint"]
    assert '"numpy<2"' in r["hint"] and "tensorflow>=2.18" not in r["hint"]


def test_numpy_abi_raised_in_tensorflow_is_blamed_on_tensorflow(doctor, tmp_path):
    py = fake_tf_env(tmp_path / "v", "abi-itself")
    r = run(doctor, py, "runtime")["runtime.import"]
    assert r["data"]["diagnosis"] == "numpy-abi" and r["data"]["raised_in"] == "tensorflow"
    assert "TensorFlow built for NumPy 1.x" in r["summary"] and '"numpy<2"' in r["hint"]


@pytest.mark.parametrize(
    ("legacy", "diagnosis", "hint_part"),
    [
        (None, "keras-missing", '"keras>=3.12.0"'),
        ("yes", "keras-missing", '"keras>=3.12.0"'),  # not a value TensorFlow honours: not to blame
        ("1", "tf-keras-missing", '"tf-keras~=2.21.0"'),
    ],
)
def test_missing_keras_is_blamed_on_what_the_target_really_lacks(
    doctor, tmp_path, legacy, diagnosis, hint_part
):
    py = fake_tf_env(tmp_path / "v", keras=False)
    env = {"TF_USE_LEGACY_KERAS": legacy} if legacy else None
    results = run(doctor, py, "runtime,compat.keras", env=env)
    r = results["runtime.import"]
    assert r["status"] == "fail" and r["data"]["diagnosis"] == diagnosis, r
    assert hint_part in r["hint"]
    if diagnosis == "keras-missing":
        assert "TF_USE_LEGACY_KERAS asks" not in r["summary"]
        assert '"keras>=3.12.0"' in results["compat.keras"]["hint"]
