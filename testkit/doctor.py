"""Run the real doctor CLI in a subprocess with a controlled environment.

The machine running the tests may have proxy, CA-bundle and Keras variables set; every
doctor run starts from a clean, explicit environment with a temporary HOME so that no test
or benchmark reads or writes the real ``~/.keras``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Variables that change what the doctor sees; removed from every test run unless a test sets them.
SCRUBBED = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "FTP_PROXY",
    "REQUEST_METHOD",
    "KERAS_HOME",
    "KERAS_BACKEND",
    "TF_USE_LEGACY_KERAS",
    "PYTHONHTTPSVERIFY",
    "MNIST_DOCTOR_PYTHON",
    "MNIST_DOCTOR_ORIGIN",
    "MNIST_DOCTOR_PINS",
    "NO_COLOR",
    "PYTHONPATH",
)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """os.environ minus anything that would steer the doctor, with HOME pointed at ``home``."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SCRUBBED}
    env["HOME"] = str(home)
    env["COLUMNS"] = "200"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra)
    return env


@dataclass
class DoctorRun:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)

    def result(self, check_id: str) -> dict[str, Any]:
        for r in self.json["results"]:
            if r["id"] == check_id:
                return r
        raise KeyError(f"{check_id} not in {[r['id'] for r in self.json['results']]}")


def run_doctor(
    *args: str,
    env: dict[str, str],
    cwd: str | Path | None = None,
    timeout: float = 240,
    python: str = sys.executable,
) -> DoctorRun:
    proc = subprocess.run(
        [python, "-m", "mnist_doctor", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )
    return DoctorRun(proc.returncode, proc.stdout, proc.stderr)
