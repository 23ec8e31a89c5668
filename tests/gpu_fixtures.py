"""Real parts for the GPU tests: fake ``nvidia-smi`` executables and environments with real
``tensorflow`` / ``nvidia-*`` dist-info, using the Requires-Dist recorded from the real wheels.

The TensorFlow metadata comes from ``docs/compat-matrix.json``: the matrix recorded every
distribution of real environments (``pip install tensorflow==X``), ``and-cuda`` lines included.
"""

from __future__ import annotations

import json
import os
import stat
from functools import lru_cache
from pathlib import Path

from packaging.requirements import Requirement

from testkit.fake_env import add_dist, make_venv, site_packages

ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT / "docs" / "compat-matrix.json"


@lru_cache(maxsize=1)
def recorded_tensorflow() -> dict[str, list[str]]:
    """``{version: Requires-Dist}`` of every ``tensorflow`` the matrix installed for real."""
    out: dict[str, list[str]] = {}
    for case in json.loads(RECORDS.read_text(encoding="utf-8"))["cases"]:
        dist = (case.get("distributions") or {}).get("tensorflow")
        if dist:
            out.setdefault(dist["version"], list(dist["requires"]))
    return out


def and_cuda_lines(requires: list[str]) -> list[Requirement]:
    return [Requirement(r) for r in requires if "and-cuda" in r]


def pinned_version(req: Requirement) -> str:
    """A version the requirement accepts (its ``==`` or ``>=`` bound)."""
    for spec in req.specifier:
        if spec.operator in ("==", ">="):
            return spec.version
    raise ValueError(f"no usable bound in {req}")


def gpu_env(
    root: Path, tf_version: str, *, wheels: dict[str, str] | None = None, dist: str = "tensorflow"
) -> Path:
    """A venv with ``dist`` at ``tf_version`` (its recorded Requires-Dist) and ``nvidia-*`` dist-info.

    ``wheels`` maps wheel name to version; ``"pinned"`` as a version means "what TF pins".
    """
    python = make_venv(root)
    site = site_packages(python)
    requires = recorded_tensorflow()[tf_version]
    add_dist(site, dist, tf_version, requires)
    pins = {r.name: r for r in and_cuda_lines(requires)}
    for name, version in (wheels or {}).items():
        add_dist(site, name, pinned_version(pins[name]) if version == "pinned" else version)
    return python


def all_pinned(tf_version: str) -> dict[str, str]:
    """Every ``nvidia-*`` wheel TF pins for ``[and-cuda]``, at the pinned version."""
    reqs = and_cuda_lines(recorded_tensorflow()[tf_version])
    return {r.name: "pinned" for r in reqs if r.name.startswith("nvidia-")}


def fake_smi(bindir: Path, body: str) -> Path:
    """An executable ``nvidia-smi`` shell script in ``bindir`` running ``body``."""
    bindir.mkdir(parents=True, exist_ok=True)
    path = bindir / "nvidia-smi"
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def smi_printing(bindir: Path, *rows: str) -> Path:
    """nvidia-smi that answers the query with CSV ``rows`` (``driver, name, memory``)."""
    lines = "\n".join(f"echo '{r}'" for r in rows)
    return fake_smi(
        bindir, f'case "$*" in *--query-gpu=driver_version,name,memory.total*) ;; *) exit 2;; esac\n{lines}'
    )


def path_with(bindir: Path | None) -> str:
    """PATH with ``bindir`` first, and without any real nvidia-smi (this machine has none anyway)."""
    parts = [
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not (Path(p) / "nvidia-smi").exists()
    ]
    return os.pathsep.join(([str(bindir)] if bindir else []) + parts)
