"""Fixtures for ``mnist-doctor fleet``: real reports of differing hosts, and the command run in-process.

``fleet_reports`` are whole reports the real CLI wrote (in-process, on the recorded answers of
tests/recordings/, :mod:`tests.replay_fixtures`) for four situations — no route to the host, two
differently broken cached copies, a healthy machine — each then given its own host name, as four
machines would; a test changes what it needs (versions, proxies, cache file systems) on copies.
``fleet_cli(*args, stdin=PATH)`` runs ``mnist-doctor fleet`` in this process (unit tier).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testkit.doctor import DoctorRun
from tests.replay_fixtures import own_signal_handlers

#: Made once per test process (the replayed runs cost a second): each test gets deep copies.
_MADE: dict[str, dict[str, Any]] = {}


def _with_cached(home: Path, data: bytes | None, run: Callable[[], DoctorRun]) -> DoctorRun:
    """``run()`` with ``data`` as the cached ``mnist.npz`` where the recording's Keras reads it."""
    cached = home / ".keras" / "datasets" / "mnist.npz"
    if data is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(data)
    try:
        return run()
    finally:
        cached.unlink(missing_ok=True)


@pytest.fixture
def fleet_reports(replayed: Callable[..., DoctorRun], home: Path) -> dict[str, dict[str, Any]]:
    """Four real reports by host name: ``gpu-01`` (no route: DNS), ``gpu-02`` and ``gpu-03`` (a
    broken cached copy each, different bytes), ``gpu-04`` (healthy, offline)."""
    if not _MADE:
        offline = ("offline", "--offline", "--format", "json")
        runs = {
            "gpu-01": replayed("no-route", "--format", "json"),
            "gpu-02": _with_cached(home, b"<html>blocked</html>", lambda: replayed(*offline)),
            "gpu-03": _with_cached(home, b"PK\x03\x04" + b"\0" * 4000, lambda: replayed(*offline)),
            "gpu-04": replayed(*offline),
        }
        for host, run in runs.items():
            doc = json.loads(run.stdout)
            doc["environment"]["host"] = host
            _MADE[host] = doc
    return {host: copy.deepcopy(doc) for host, doc in _MADE.items()}


@pytest.fixture
def fleet_cli() -> Callable[..., DoctorRun]:
    """``fleet_cli(*args, stdin=None)``: ``mnist-doctor fleet ARGS`` in this process."""
    from mnist_doctor.cli import main as cli
    from mnist_doctor.probing import subproc

    def call(*args: str, stdin: Path | None = None) -> DoctorRun:
        out, err = io.StringIO(), io.StringIO()
        saved_stdin = sys.stdin
        try:
            with contextlib.ExitStack() as stack:
                if stdin is not None:
                    sys.stdin = stack.enter_context(open(stdin, encoding="utf-8"))
                stack.enter_context(own_signal_handlers())
                stack.enter_context(contextlib.redirect_stdout(out))
                stack.enter_context(contextlib.redirect_stderr(err))
                code = cli.main(["fleet", *args])
        finally:
            sys.stdin = saved_stdin
            subproc.resume()
        return DoctorRun(code, out.getvalue(), err.getvalue())

    return call
