"""The Ray driver of ``mnist-doctor fleet --ray``, run as ``python -m mnist_doctor.fleet.ray_driver``.

A process of its own, started and bounded by :mod:`mnist_doctor.fleet.ray_runner`, because Ray's
client cannot be bounded from inside: ``ray.init`` towards an address where no cluster answers
retries for minutes, Ray's native threads log straight to file descriptor 2, and its workers
outlive a driver that is not shut down. Here a hang is killed with the process group.

It reads one JSON request on stdin (address, the doctor's arguments, the seconds it has, the
folder to write to), connects, writes the roster of alive nodes (``nodes.json``), then runs
:func:`mnist_doctor.fleet.node_task.run_doctor` once on every node — pinned with
``NodeAffinitySchedulingStrategy(node_id, soft=False)``, asking for no CPU so a busy node still
answers — and writes each node's answer (``node-N.json``) as it arrives, atomically. Nodes still
silent at its deadline are cancelled and left without a file: the runner lists them as such.
Ray is imported here only (the optional extra ``mnist-doctor[ray]``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import time
from typing import Any

import mnist_doctor.fleet.node_task as node_task

#: Seconds each node's doctor leaves of the driver's time: starting a worker, the doctor's own
#: 2 s past its --timeout, and writing the answer back.
NODE_RESERVE_S = 4.0
#: The shortest --timeout worth giving a node's doctor.
MIN_NODE_TIMEOUT_S = 1.0
ROSTER = "nodes.json"


def write_json(folder: str, name: str, value: Any) -> None:
    """``value`` as ``folder/name``, whole or not at all (written aside, then renamed)."""
    partial = os.path.join(folder, f".{name}.partial")
    with open(partial, "w", encoding="utf-8") as out:
        json.dump(value, out, ensure_ascii=True)
    os.replace(partial, os.path.join(folder, name))


def _error(exc: BaseException) -> str:
    """An exception from Ray in one line: its last line is the part that says what happened."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:1000]


def _alive_nodes(ray: Any) -> list[dict[str, str]]:
    nodes = []
    for node in ray.nodes():
        if node.get("Alive") and node.get("NodeID"):
            nodes.append(
                {
                    "id": str(node["NodeID"]),
                    "name": str(node.get("NodeName") or node.get("NodeManagerAddress") or ""),
                    "address": str(node.get("NodeManagerAddress") or ""),
                }
            )
    return sorted(nodes, key=lambda n: (n["name"], n["id"]))


def drive(request: dict[str, Any]) -> int:
    """Connect, dispatch one doctor per alive node, write what comes back before the deadline."""
    deadline = time.monotonic() + float(request["seconds"])
    folder = str(request["out"])
    try:
        ray = importlib.import_module("ray")
        strategies = importlib.import_module("ray.util.scheduling_strategies")
        cloudpickle = importlib.import_module("ray.cloudpickle")
    except ImportError as exc:
        write_json(folder, "error.json", {"kind": "no-ray", "message": _error(exc)})
        return 3
    try:
        ray.init(address=request["address"], logging_level="ERROR", log_to_driver=False)
    except Exception as exc:  # ConnectionError, ValueError (a malformed address), RuntimeError
        write_json(folder, "error.json", {"kind": "connect", "message": _error(exc)})
        return 3
    try:
        nodes = _alive_nodes(ray)
        write_json(folder, ROSTER, nodes)
        cloudpickle.register_pickle_by_value(node_task)
        task = ray.remote(num_cpus=0, max_retries=0)(node_task.run_doctor)
        node_timeout = max(deadline - time.monotonic() - NODE_RESERVE_S, MIN_NODE_TIMEOUT_S)
        pending: dict[Any, int] = {}
        for index, node in enumerate(nodes):
            strategy = strategies.NodeAffinitySchedulingStrategy(node_id=node["id"], soft=False)
            ref = task.options(
                scheduling_strategy=strategy,
                name=f"mnist-doctor on {node['name'] or node['id'][:12]}",
            ).remote(list(request["doctor_args"]), node_timeout)
            pending[ref] = index
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            done, _ = ray.wait(list(pending), num_returns=1, timeout=min(left, 1.0))
            for ref in done:
                index = pending.pop(ref)
                try:
                    answer = ray.get(ref, timeout=max(deadline - time.monotonic(), 0.1))
                except Exception as exc:  # the task failed, or its node died
                    answer = {"error": _error(exc)}
                write_json(folder, f"node-{index}.json", {"node": nodes[index], "answer": answer})
        for ref in pending:
            with contextlib.suppress(Exception):  # best effort: the doctor there ends by its --timeout
                ray.cancel(ref, recursive=True)
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
    return 0


def main() -> int:
    try:
        request = json.loads(sys.stdin.read())
        folder = str(request["out"])
    except (ValueError, KeyError, TypeError):
        return 2
    try:
        return drive(request)
    except Exception as exc:  # said in one line where the runner reads it, never a traceback
        write_json(folder, "error.json", {"kind": "driver", "message": _error(exc)})
        return 3


if __name__ == "__main__":
    sys.exit(main())
