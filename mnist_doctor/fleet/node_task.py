"""What runs on one Ray node: the doctor, as a program of that node's Python, bounded in time.

Sent to the nodes by value (``register_pickle_by_value``), so it arrives even where the doctor
is not installed — and then says so — instead of failing to unpickle. Standard library only,
and nothing here imports TensorFlow: the doctor runs as ``python -m mnist_doctor`` in its own
session (process group), killed as a group when its time is up, so the Ray worker never holds
TensorFlow and a hung probe never outlives the task.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

#: Bytes of the doctor's stdout returned at most (a report is ~100 KB; a verbose one ~1 MB).
STDOUT_CAP = 32 * 1024 * 1024
#: Characters of its stderr kept, for the reason a node could not be diagnosed.
STDERR_TAIL = 4000
#: Seconds past its ``--timeout`` a doctor may take to end (its promise: ``--timeout`` + 2 s).
DOCTOR_GRACE_S = 2.5


def node_environment() -> dict[str, str]:
    """This node's environment as a program of its users sees it, not as Ray changed it for a task.

    Ray sets ``CUDA_VISIBLE_DEVICES`` to the GPUs a task asked for — none here, so ``""`` — and
    the doctor would find every GPU hidden. The worker keeps the node's own value from before
    (``original_visible_accelerator_ids``, read defensively: where a Ray release lacks it, the
    environment stays as Ray left it).
    """
    env = dict(os.environ)
    worker = getattr(sys.modules.get("ray._private.worker"), "global_worker", None)
    original = getattr(worker, "original_visible_accelerator_ids", None)
    if isinstance(original, dict) and "GPU" in original:
        ids = original["GPU"]
        if ids is None:
            env.pop("CUDA_VISIBLE_DEVICES", None)
        elif isinstance(ids, (list, tuple)):
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in ids)
    return env


def run_doctor(doctor_args: list[str], timeout_s: float) -> dict[str, Any]:
    """``python -m mnist_doctor --format json --timeout T ARGS`` here; its output and how it ended."""
    argv = [sys.executable, "-m", "mnist_doctor", "--format", "json", "--timeout", f"{timeout_s:.1f}"]
    argv += list(doctor_args)
    started = time.monotonic()
    answer: dict[str, Any] = {"python": sys.executable, "hostname": socket.gethostname(), "timed_out": False}
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=node_environment(),
            start_new_session=True,
        )
    except OSError as exc:
        answer.update(returncode=None, stdout="", stderr=f"cannot start {sys.executable}: {exc}")
        return answer
    try:
        out, err = proc.communicate(timeout=timeout_s + DOCTOR_GRACE_S)
    except subprocess.TimeoutExpired:
        answer["timed_out"] = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:  # the task itself is being cancelled: the doctor goes with it
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
    answer.update(
        returncode=proc.returncode,
        stdout=out[:STDOUT_CAP].decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace")[-STDERR_TAIL:],
        elapsed_s=round(time.monotonic() - started, 3),
    )
    return answer
