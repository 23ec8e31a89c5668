"""Compatibility verdicts from metadata alone, against real environments with chosen dist-info.

Each case is a real virtual environment whose ``*.dist-info`` says what is installed; the
doctor examines it with ``--python`` in a subprocess, as it would a user's environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.fake_env import add_dist, fake_environment, site_packages

BASE = {"protobuf": "4.25.3", "ml-dtypes": "0.3.2"}


def verdicts(doctor, python: Path, *extra: str) -> dict:
    run = doctor("--python", str(python), "--offline", "--format", "json", "--select", "compat", *extra)
    assert run.code in (0, 1), run.stderr
    assert run.json["exit_code"] == run.code
    return {r["id"]: r for r in run.json["results"]}


def test_numpy2_with_tf216_fails_with_numpy_hint(doctor, tmp_path):
    py = fake_environment(
        tmp_path / "venv", {"tensorflow": "2.16.1", "numpy": "2.1.0", "keras": "3.3.3", **BASE}
    )
    r = verdicts(doctor, py)["compat.numpy"]
    assert r["status"] == "fail"
    assert "NumPy 2.1.0 with TensorFlow 2.16.1" in r["summary"]
    # The fake venvs have no pip: the hint uses uv (or ensurepip), see tests/test_hints_installers.py.
    assert "pip install --python" in r["hint"] and '"numpy<2"' in r["hint"]
    assert "tensorflow>=2.18" in r["hint"]


def test_numpy2_with_tf2140_fails_although_metadata_has_no_cap(doctor, tmp_path):
    py = fake_environment(
        tmp_path / "venv", {"tensorflow": "2.14.0", "numpy": "2.0.2", "keras": "2.14.0", **BASE}
    )
    r = verdicts(doctor, py)["compat.numpy"]
    assert r["status"] == "fail"
    assert any("declares no NumPy cap" in d for d in r["details"])
    assert any("declared by tensorflow 2.14.0: numpy >=1.23.5" in d for d in r["details"])


def test_good_combination_passes_every_compat_check(doctor, tmp_path):
    # TF 2.21 supports every Python the tests run on (3.10-3.13), so the verdict is "ok" on each.
    py = fake_environment(
        tmp_path / "venv", {"tensorflow": "2.21.0", "numpy": "2.0.2", "keras": "3.12.0", "ml-dtypes": "0.5.1"}
    )
    results = verdicts(doctor, py)
    assert {k: v["status"] for k, v in results.items()} == {
        "compat.tensorflow": "ok",
        "compat.python": "ok",
        "compat.numpy": "ok",
        "compat.keras": "ok",
        "compat.requirements": "ok",
        "compat.closure": "ok",
    }


def test_two_tensorflow_distributions_fail(doctor, tmp_path):
    # Different versions: their files overwrite each other (same versions only warn: test_calibration).
    py = fake_environment(
        tmp_path / "venv",
        {"tensorflow": "2.18.0", "tensorflow-cpu": "2.18.1", "numpy": "1.26.4", "keras": "3.6.0"},
    )
    r = verdicts(doctor, py)["compat.tensorflow"]
    assert r["status"] == "fail"
    assert "overwrite each other" in r["summary"]
    assert "pip uninstall --python" in r["hint"] and "tensorflow tensorflow-cpu" in r["hint"]


def test_windows_style_meta_package_pair_is_not_a_conflict(doctor, tmp_path):
    py = fake_environment(
        tmp_path / "venv", {"numpy": "1.26.4", "keras": "2.15.0", "tensorflow-intel": "2.15.0"}
    )
    add_dist(site_packages(py), "tensorflow", "2.15.0", ["tensorflow-intel==2.15.0"])
    r = verdicts(doctor, py)["compat.tensorflow"]
    assert r["status"] == "ok", r


def test_keras3_over_tf215_warns_over_tf214_fails_and_keras2_on_tf216_fails(doctor, tmp_path):
    # TF 2.15 loads whatever `keras` is installed: Keras 3 imports (seen by the matrix), unsupported
    lazy = fake_environment(tmp_path / "a", {"tensorflow": "2.15.0", "numpy": "1.26.4", "keras": "3.3.3"})
    r = verdicts(doctor, lazy)["compat.keras"]
    assert r["status"] == "warn" and "does not support" in r["summary"]
    assert "keras~=2.15.0" in r["hint"]
    old = fake_environment(tmp_path / "b", {"tensorflow": "2.14.0", "numpy": "1.26.4", "keras": "3.3.3"})
    r = verdicts(doctor, old)["compat.keras"]
    assert r["status"] == "fail" and "needs Keras 2" in r["summary"]
    assert "keras~=2.14.0" in r["hint"]
    new = fake_environment(tmp_path / "c", {"tensorflow": "2.16.1", "numpy": "1.26.4", "keras": "2.15.0"})
    r = verdicts(doctor, new)["compat.keras"]
    assert r["status"] == "fail" and "needs Keras 3" in r["summary"]
    assert "keras>=3.0.0" in r["hint"]


@pytest.mark.parametrize(
    ("value", "installed", "status", "text"),
    [
        ("1", None, "fail", "tf-keras is not installed"),
        ("True", "2.14.0", "fail", "does not match TensorFlow 2.16.1"),
        ("true", "2.15.1", "warn", "one minor behind TensorFlow 2.16.1"),
        ("1", "2.16.0", "ok", "tf.keras is tf-keras 2.16.0"),
        ("yes", None, "warn", "only 1, true or True count"),
    ],
)
def test_tf_use_legacy_keras(doctor, tmp_path, value, installed, status, text):
    packages = {"tensorflow": "2.16.1", "numpy": "1.26.4", "keras": "3.3.3"}
    if installed:
        packages["tf-keras"] = installed
    py = fake_environment(tmp_path / "venv", packages)
    run = doctor(
        "--python",
        str(py),
        "--offline",
        "--format",
        "json",
        "--select",
        "compat.keras",
        env_extra={"TF_USE_LEGACY_KERAS": value},
    )
    r = run.result("compat.keras")
    assert r["status"] == status
    assert text in r["summary"] + " ".join(r["details"])


def test_missing_declared_requirement_is_named_with_pip_command(doctor, tmp_path):
    py = fake_environment(tmp_path / "venv", {"tensorflow": "2.18.0", "numpy": "1.26.4", "keras": "3.6.0"})
    r = verdicts(doctor, py)["compat.requirements"]
    assert r["status"] == "fail"
    assert "ml-dtypes" in r["summary"]
    assert "pip install" in r["hint"] and "ml-dtypes<0.5.0,>=0.4.0" in r["hint"]
    assert r["data"]["fix"]["steps"][-1][-1] == "ml-dtypes<0.5.0,>=0.4.0"


def test_no_tensorflow_fails_with_install_command_and_pipx_advice(doctor, tmp_path):
    py = fake_environment(tmp_path / "venv", {"numpy": "1.26.4"})
    results = verdicts(doctor, py)
    r = results["compat.tensorflow"]
    assert r["status"] == "fail"
    assert r["hint"].endswith(" tensorflow") and "pip install" in r["hint"]
    assert any("--python" in d for d in r["details"])
    assert results["compat.numpy"]["status"] == "skip"
    assert "supported by TensorFlow" in results["compat.python"]["summary"]
