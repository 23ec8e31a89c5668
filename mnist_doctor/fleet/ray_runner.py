"""``mnist-doctor fleet --ray``: one diagnosis on every alive node of a Ray cluster, collected here.

The Ray side runs in a driver process of its own (:mod:`mnist_doctor.fleet.ray_driver`) under a
slice of the run's one budget — its own process group, output capped, killed at the deadline and
on Ctrl-C like every probe (:func:`mnist_doctor.subproc.run_argv`) — because a Ray client cannot be
bounded from inside. It writes the roster of alive nodes and each node's answer to a private
folder; this module reads them back with the same bounded reader as report files, and turns each
node into a :class:`~mnist_doctor.fleet.model.HostReport`, or an
:class:`~mnist_doctor.fleet.model.Unanswered` that says why: silent until the deadline, the doctor
not installed in that node's Python, a ``--python`` that node does not have.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from typing import Any

from mnist_doctor.errors import UsageError
from mnist_doctor.fleet.model import Collected, HostReport, Unanswered
from mnist_doctor.fleet.ray_driver import ROSTER
from mnist_doctor.fleet.reports import decode, read_input
from mnist_doctor.fleet.sources import Input, read_file
from mnist_doctor.probing.budget import Budget
from mnist_doctor.probing.subproc import run_argv

#: Seconds kept back from the driver for reading its answers and rendering (within --timeout + 2 s).
COLLECT_RESERVE_S = 1.0
INSTALL_HINT = "pip install ray   # into the Python that runs mnist-doctor (pipx inject mnist-doctor ray)"


def ray_installed() -> bool:
    """Whether ``ray`` can be imported by this Python (checked without importing it)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def _json_file(path: str) -> Any:
    found = read_file(path)
    if not isinstance(found, Input):
        return None
    try:
        return json.loads(decode(found.data))
    except (ValueError, RecursionError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def _refusal(stdout: str) -> str | None:
    """The message of a usage-error document the node's doctor printed (a --python it lacks)."""
    try:
        doc = json.loads(stdout)
    except (ValueError, RecursionError):
        return None
    error = doc.get("error") if isinstance(doc, dict) and doc.get("mode") == "usage-error" else None
    return str(error.get("message"))[:500] if isinstance(error, dict) else None


def node_result(node: dict[str, Any], answer: dict[str, Any]) -> HostReport | Unanswered:
    """One node's answer (see :func:`mnist_doctor.fleet.node_task.run_doctor`) as a host or a reason."""
    name = str(node.get("name") or node.get("id") or "?")
    source = f"ray node {name} ({str(node.get('id', ''))[:12]})"
    if answer.get("error"):
        return Unanswered(name, source, f"the Ray task failed: {answer['error']}")
    stdout, stderr = _text(answer.get("stdout")), _text(answer.get("stderr"))
    python = answer.get("python") or "the node's Python"
    if stdout.strip():
        for item in reversed(read_input(source, stdout.encode("utf-8"))):
            if isinstance(item, HostReport):
                return dataclasses.replace(item, node=name, source=source)
        refused = _refusal(stdout)
        if refused:
            return Unanswered(name, source, f"mnist-doctor there refused: {refused}")
    if answer.get("timed_out"):
        return Unanswered(name, source, "its diagnosis did not end within its --timeout (killed)")
    said = _last_line(stderr)
    if "No module named mnist_doctor" in said:
        return Unanswered(name, source, f"mnist-doctor is not installed in {python} there")
    return Unanswered(
        name, source, f"gave no report (exit code {answer.get('returncode')})" + (f": {said}" if said else "")
    )


def _read_answers(folder: str, seconds: float, address: str = "auto", said: str = "") -> Collected:
    """The nodes' answers the driver wrote; ``said``: the last line of its stderr (Ray's own words)."""
    collected = Collected()
    roster = _json_file(os.path.join(folder, ROSTER))
    if not isinstance(roster, list):
        raise UsageError(
            f"no Ray cluster at {address} listed its nodes within --timeout ({seconds:g} s)"
            + (f"; Ray said: {said}" if said else ""),
            hint=f"check the address: ray status --address {address}",
        )
    if not roster:
        raise UsageError("the Ray cluster has no alive node", hint="ray status --address ADDRESS")
    for index, node in enumerate(roster):
        if not isinstance(node, dict):
            continue
        envelope = _json_file(os.path.join(folder, f"node-{index}.json"))
        answer = envelope.get("answer") if isinstance(envelope, dict) else None
        if not isinstance(answer, dict):
            name = str(node.get("name") or node.get("id") or "?")
            source = f"ray node {name} ({str(node.get('id', ''))[:12]})"
            collected.unanswered.append(
                Unanswered(name, source, f"did not answer within --timeout ({seconds:g} s)")
            )
            continue
        found = node_result(node, answer)
        if isinstance(found, HostReport):
            collected.reports.append(found)
        else:
            collected.unanswered.append(found)
    return collected


def _failed_to_connect(folder: str, address: str) -> None:
    error = _json_file(os.path.join(folder, "error.json"))
    if not isinstance(error, dict):
        return
    if error.get("kind") == "no-ray":
        raise UsageError(f"ray cannot be imported: {error.get('message')}", hint=INSTALL_HINT)
    if error.get("kind") == "driver":
        raise UsageError(f"the Ray driver failed: {error.get('message')}", hint=INSTALL_HINT)
    raise UsageError(
        f"cannot connect to the Ray cluster at {address}: {error.get('message')}",
        hint="start one (ray start --head) or name it: mnist-doctor fleet --ray HOST:6379",
    )


def run_on_ray(address: str, doctor_args: list[str], budget: Budget) -> Collected:
    """Every alive node's diagnosis (or why there is none), within ``budget``.

    Raises UsageError when Ray cannot be used: not installed, no cluster at ``address``.
    """
    if not ray_installed():
        raise UsageError("--ray needs the ray package, which this Python does not have", hint=INSTALL_HINT)
    folder = tempfile.mkdtemp(prefix="mnist-doctor-fleet-")
    try:
        window = budget.slice(reserve=COLLECT_RESERVE_S)
        request = {
            "address": address,
            "doctor_args": doctor_args,
            "seconds": max(window.remaining() - 0.5, 0.1),
            "out": folder,
        }
        run = run_argv(
            [sys.executable, "-m", "mnist_doctor.fleet.ray_driver"],
            stdin=json.dumps(request),
            timeout=window,
        )
        _failed_to_connect(folder, address)
        if run.launch_error:
            raise UsageError(f"the Ray driver could not start: {run.launch_error}", hint=INSTALL_HINT)
        return _read_answers(folder, budget.total_s, address, _last_line(run.stderr))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
