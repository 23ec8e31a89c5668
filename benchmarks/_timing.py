"""Shared timing helpers for the benchmark scripts: best-of-N wall time of a command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def best_of(
    argv: list[str],
    repeat: int = 5,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = 600,
) -> float:
    """The fastest of ``repeat`` runs (the least disturbed by a noisy machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd, timeout=timeout
        )
        times.append(time.perf_counter() - start)
    return min(times)


def line(name: str, ours: float, baseline: float, target: str) -> str:
    return (
        f"{name}: ours {ours:.3f} s, baseline {baseline:.3f} s, ratio {ours / baseline:.2f} (target {target})"
    )


def bench_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(home)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


PYTHON = sys.executable
