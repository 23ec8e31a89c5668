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
#: (Every ``*_PROXY``/``*_proxy`` variable goes too, whatever its scheme.)
SCRUBBED = (
    "NO_PROXY",
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


#: Where the machine says which CAs to trust. Kept by :func:`clean_env` (TLS to a real host works
#: as on the machine); removed by :func:`network_env`, whose tests choose the trust themselves.
TRUST_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _steers(name: str) -> bool:
    upper = name.upper()
    return upper in SCRUBBED or upper.endswith("_PROXY")


def clean_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    """os.environ minus anything that would steer the doctor, plus ``extra``.

    ``home`` becomes HOME (a temporary folder, so no run reads or writes the real ``~/.keras``);
    None keeps the caller's, for runs that never look at the cache (``--select network,proxy,tls``).
    """
    env = {k: v for k, v in os.environ.items() if not _steers(k)}
    if home is not None:
        env["HOME"] = str(home)
    env["COLUMNS"] = "200"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra)
    return env


def network_env(**extra: str) -> dict[str, str]:
    """:func:`clean_env` without the machine's CA settings either, plus ``extra``.

    For the network, proxy and TLS tests against loopback servers: they say which CA is
    trusted (``SSL_CERT_FILE=...``) or that none is; the caller's HOME is kept.
    """
    env = {k: v for k, v in clean_env().items() if k.upper() not in TRUST_VARIABLES}
    env.update(extra)
    return env


@dataclass
class DoctorRun:
    """What one CLI run left: exit code and both streams (``json``/``result`` parse stdout)."""

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
    """``python -m mnist_doctor *args`` in ``env`` (see :func:`clean_env`), bounded by ``timeout``."""
    proc = subprocess.run(
        [python, "-m", "mnist_doctor", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )
    return DoctorRun(proc.returncode, proc.stdout, proc.stderr)


def doctor_json(
    origin: str | None,
    env: dict[str, str],
    *args: str,
    select: str = "network",
    timeout: float = 15.0,
) -> dict[str, dict[str, Any]]:
    """Results by id from ``--format json --select select`` (with ``--origin`` when given).

    The doctor's own ``--timeout`` is ``timeout``; the subprocess gets 30 s more, so a doctor
    that overran its budget shows up as a wrong result, not as a hung test.
    """
    argv = ["--format", "json", "--select", select, "--timeout", str(timeout)]
    if origin:
        argv += ["--origin", origin]
    run = run_doctor(*argv, *args, env=env, timeout=timeout + 30)
    try:
        return {r["id"]: r for r in run.json["results"]}
    except ValueError as exc:
        raise AssertionError(f"no JSON (rc {run.code}): {run.stdout[-500:]} {run.stderr[-2000:]}") from exc
