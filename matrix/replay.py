"""Replay a recorded matrix case without TensorFlow: rebuild its installed metadata and re-predict.

A record (``docs/compat-matrix.json``) keeps every distribution of the real environment
with its version and ``Requires-Dist``. Writing those as real ``*.dist-info/METADATA``
into a fresh virtualenv gives an interpreter whose metadata is the real one — all the
doctor's prediction reads — in a fraction of a second and a few kilobytes. The doctor's
prediction on it, compared (``matrix.verdict.compare``) with the *recorded* observation,
tells whether the current compatibility table still agrees with reality.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from matrix.run import case_env
from testkit.fake_env import add_dist, make_venv, site_packages

# The doctor runs from the doctor's own interpreter and examines the rebuilt one.
DOCTOR_PYTHON = sys.executable


def build_metadata_venv(record: dict[str, Any], where: Path) -> str:
    """A venv (no pip) whose site-packages holds the record's distributions as dist-info only."""
    python = make_venv(where)
    site = site_packages(python)
    for dist in record["distributions"].values():
        add_dist(site, dist["name"], dist["version"], list(dist["requires"]))
    return str(python)


def predict(record: dict[str, Any], python: str, cwd: Path, table: Path | None = None) -> dict[str, Any]:
    """The doctor's metadata-only report on ``python``, in the record's setting (env vars, cwd files)."""
    from matrix.cases import by_name

    case = by_name(record["case"])
    env = case_env(case)
    env.pop("MNIST_DOCTOR_COMPAT_TABLE", None)
    if table is not None:
        env["MNIST_DOCTOR_COMPAT_TABLE"] = str(table)
    for name, text in case.cwd_files.items():
        (cwd / name).write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [
            DOCTOR_PYTHON,
            "-m",
            "mnist_doctor",
            "--python",
            python,
            "--format",
            "json",
            "--offline",
            "--select",
            "compat,env",
            "--timeout",
            "60",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"doctor exited {proc.returncode}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def python_minor() -> str:
    return sysconfig.get_python_version()
