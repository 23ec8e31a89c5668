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
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from matrix.run import case_env
from testkit.fake_env import add_dist, add_extension, make_venv, site_packages

# The doctor runs from the doctor's own interpreter and examines the rebuilt one.
DOCTOR_PYTHON = sys.executable


def build_metadata_venv(record: dict[str, Any], where: Path) -> str:
    """A venv (no pip) whose site-packages holds the record's distributions as dist-info only,
    plus, for a package whose compiled files the doctor read (``compat.closure``'s ``built_for``),
    stand-in files carrying the same NumPy build marks."""
    python = make_venv(where)
    site = site_packages(python)
    folders = {}
    for key, dist in record["distributions"].items():
        folders[key] = add_dist(site, dist["name"], dist["version"], list(dist["requires"]))
    for name, built_for in _builds_read(record).items():
        folder = folders.get(name)
        if folder is None:
            continue
        module = name.replace("-", "_")
        for target in built_for.get("targets") or []:
            add_extension(site, folder, module, str(target))
        if built_for.get("numpy1_files"):
            add_extension(site, folder, module, None)
    return str(python)


def _builds_read(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{canonical requirer: built_for}`` from the recorded prediction's ``compat.closure``."""
    out: dict[str, dict[str, Any]] = {}
    for result in (record.get("prediction") or {}).get("results") or []:
        if result.get("id") != "compat.closure":
            continue
        for row in (result.get("data") or {}).get("unmet") or []:
            if isinstance(row.get("built_for"), dict):
                out[re.sub(r"[-_.]+", "-", str(row["requirer"])).lower()] = row["built_for"]
    return out


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
