"""Run a helper script in a subprocess with a hard timeout, and read its JSON answer.

Everything that might import TensorFlow (or run in the *target* interpreter) goes
through here, so a hang, a segfault or a flood of output is a finding and never a
crash of the doctor. Children start in their own process group so that a timeout
kills grandchildren too, and every live child is tracked so the engine can stop
them all when the run's ``--timeout`` expires.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

#: Line prefix a target script prints before its JSON answer, so that anything a
#: library prints on stdout (TensorFlow does) cannot corrupt the answer.
JSON_MARKER = "@@MNIST_DOCTOR_JSON@@"

_LIVE: set[subprocess.Popen[str]] = set()
_LIVE_LOCK = threading.Lock()


@dataclass
class ScriptRun:
    """What happened when a script ran: exit status, output, timing and its JSON answer."""

    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    elapsed_s: float
    timed_out: bool = False
    answer: dict[str, Any] | None = None
    launch_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def signal_name(self) -> str | None:
        """Name of the signal that killed the child (POSIX), e.g. ``SIGSEGV``."""
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None


def script_source(name: str) -> str:
    """Source of a script shipped in :mod:`mnist_doctor.target`."""
    return resources.files("mnist_doctor.target").joinpath(name).read_text(encoding="utf-8")


def parse_answer(stdout: str) -> dict[str, Any] | None:
    """The last marked JSON line of ``stdout``, or ``None`` if there is none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(JSON_MARKER):
            try:
                value = json.loads(line[len(JSON_MARKER) :])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def run_script(
    python: str,
    script: str,
    args: list[str] | None = None,
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> ScriptRun:
    """Run ``mnist_doctor/target/<script>`` with ``python`` fed on stdin.

    The source goes through stdin (``python - args``) so that ``sys.path[0]`` is the
    working directory, exactly as in the user's own ``python -c`` or notebook, which
    is what shadowing detection and the real ``load_data`` need.
    """
    argv = [python, "-", *(args or [])]
    return run_argv(argv, stdin=script_source(script), timeout=timeout, env=env, cwd=cwd)


def run_argv(
    argv: list[str],
    *,
    stdin: str | None = None,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> ScriptRun:
    """Run ``argv`` with a hard timeout that also kills the child's own children."""
    start = time.monotonic()
    popen_kw: dict[str, Any] = {}
    if os.name == "posix":
        popen_kw["start_new_session"] = True
    else:  # pragma: no cover - Windows
        popen_kw["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            cwd=cwd,
            **popen_kw,
        )
    except OSError as exc:
        return ScriptRun(argv, None, "", "", time.monotonic() - start, launch_error=str(exc))
    with _LIVE_LOCK:
        _LIVE.add(proc)
    timed_out = False
    try:
        stdout, stderr = proc.communicate(stdin, timeout=max(timeout, 0.01))
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(proc)
        stdout, stderr = proc.communicate()
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    return ScriptRun(
        argv,
        proc.returncode,
        stdout,
        stderr,
        time.monotonic() - start,
        timed_out=timed_out,
        answer=parse_answer(stdout),
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        proc.kill()


def kill_all() -> None:
    """Stop every child still running (the run's deadline has passed)."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        _kill(proc)


def own_python() -> str:
    """The doctor's own interpreter, the default patient."""
    return sys.executable
