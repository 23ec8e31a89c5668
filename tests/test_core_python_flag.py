"""``--python``: the doctor examines another interpreter's environment, not its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.doctor import clean_env, run_doctor
from testkit.fake_env import fake_environment
from tests.marks import needs_tf

PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"


def other_minor_python() -> str | None:
    """An installed CPython of another minor version than ours, if this machine has one."""
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    for cand in sorted(PYENV.glob("3.*/bin/python3"), reverse=True) + [
        Path(f"/usr/bin/python3.{m}") for m in (13, 12, 10, 9)
    ]:
        if cand.exists() and ours not in str(cand.parent.parent.name)[: len(ours) + 1]:
            version = subprocess.run(
                [str(cand), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            if version and version != ours and version >= "3.9":
                return str(cand)
    return None


def test_reports_the_target_environment_not_its_own(doctor, tmp_path):
    py = fake_environment(tmp_path / "other", {"tensorflow": "2.16.1", "numpy": "2.1.0", "keras": "3.3.3"})
    run = doctor("--python", str(py), "--offline", "--format", "json", "--select", "compat")
    env = run.json["environment"]
    assert env["target_python"] == str(py.absolute())
    assert env["packages"]["numpy"] == "2.1.0" and env["packages"]["tensorflow"] == "2.16.1"
    assert run.result("compat.numpy")["status"] == "fail"
    # the hint installs into the examined environment, spelled with its interpreter
    assert str(py.absolute()) in run.result("compat.numpy")["hint"]


def test_virtualenv_folder_and_environment_variable_are_accepted(doctor, tmp_path):
    py = fake_environment(tmp_path / "other", {"numpy": "1.26.4"})
    by_folder = doctor(
        "--python", str(tmp_path / "other"), "--offline", "--format", "json", "--select", "compat"
    )
    assert by_folder.json["environment"]["target_python"] == str(py.absolute())
    by_env = doctor(
        "--offline", "--format", "json", "--select", "compat", env_extra={"MNIST_DOCTOR_PYTHON": str(py)}
    )
    assert by_env.json["environment"]["target_python"] == str(py.absolute())


def test_usage_errors_for_bad_interpreters(doctor, tmp_path):
    missing = doctor("--python", str(tmp_path / "nope"), "--offline")
    assert missing.code == 2 and "no such file" in missing.stderr
    plain = tmp_path / "notes.txt"
    plain.write_text("hello")
    not_exec = doctor("--python", str(plain), "--offline")
    assert not_exec.code == 2 and "not executable" in not_exec.stderr
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    folder = doctor("--python", str(empty_dir), "--offline")
    assert folder.code == 2 and "no bin/python" in folder.stderr
    fake = tmp_path / "fakepython"
    fake.write_text("#!/bin/sh\necho not python\n")
    fake.chmod(0o755)
    not_python = doctor("--python", str(fake), "--offline")
    assert not_python.code == 2 and "not a working Python interpreter" in not_python.stderr
    for run in (missing, not_exec, folder, not_python):
        assert "Traceback" not in run.stderr and "hint:" in run.stderr


def test_target_of_another_minor_python_version(doctor, tmp_path):
    other = other_minor_python()
    if other is None:
        pytest.skip("no CPython of another minor version is installed on this machine")
    py = fake_environment(
        tmp_path / "venv", {"tensorflow": "2.15.0", "numpy": "1.26.4", "keras": "2.15.0"}, python=other
    )
    run = doctor("--python", str(py), "--offline", "--format", "json", "--select", "compat")
    version = run.json["environment"]["python_version"]
    assert version.split(".")[:2] != [str(sys.version_info.major), str(sys.version_info.minor)]
    verdict = run.result("compat.python")
    expected = "ok" if tuple(int(p) for p in version.split(".")[:2]) < (3, 12) else "fail"
    assert verdict["status"] == expected, verdict


@needs_tf
@pytest.mark.usefixtures("processes")
def test_pipx_style_doctor_without_tensorflow_examines_a_tensorflow_env(tmp_path, home):
    """The doctor lives in its own venv (no TF); the patient is this test environment, which has TF."""
    doctor_venv = tmp_path / "doctor-venv"
    subprocess.run([sys.executable, "-m", "venv", str(doctor_venv)], check=True, capture_output=True)
    doctor_py = doctor_venv / "bin" / "python"
    root = Path(__file__).resolve().parents[1]
    install = subprocess.run(
        [str(doctor_py), "-m", "pip", "install", "-q", str(root)], capture_output=True, text=True, timeout=600
    )
    assert install.returncode == 0, install.stderr[-2000:]
    has_tf = subprocess.run(
        [
            str(doctor_py),
            "-c",
            "import importlib.util,sys; sys.exit(importlib.util.find_spec('tensorflow') is not None)",
        ]
    )
    assert has_tf.returncode == 0, "the doctor's own venv must not have TensorFlow"
    run = run_doctor(
        "--python",
        sys.executable,
        "--offline",
        "--format",
        "json",
        "--select",
        "compat,runtime",
        env=clean_env(home),
        python=str(doctor_py),
        cwd=tmp_path,
    )
    assert run.json["environment"]["target_python"] == sys.executable
    probe = run.result("runtime.import")
    assert probe["status"] == "ok", probe
    assert "TensorFlow" in probe["summary"]
