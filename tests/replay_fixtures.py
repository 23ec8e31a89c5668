"""The unit tier's doctor: the real CLI, in this process, on recorded answers of the target scripts.

``replayed("no-route", "--format", "json")`` runs ``mnist_doctor.cli.main.main`` exactly as the command
line would (parsing, facts, checks, causes, advice, renderers, exit code) while every target script
is answered from ``tests/recordings/no-route.json`` (:mod:`testkit.recordings`): no process starts,
no TensorFlow is imported. The environment is the same clean one the e2e ``doctor`` fixture gives
(a temporary HOME, no steering variables), set in this process for the run and restored after.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testkit.doctor import DoctorRun, clean_env
from testkit.recordings import Recording, replaying

Replayed = Callable[..., DoctorRun]


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def own_signal_handlers() -> Iterator[None]:
    """The CLI installs its Ctrl-C/SIGTERM handlers; pytest gets its own back afterwards."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@pytest.fixture
def replayed(home: Path, tmp_path: Path) -> Iterator[Replayed]:
    """``replayed(recording, *args, env_extra={...}, cwd=...)``: the CLI in-process on a recording."""
    from mnist_doctor.cli import main as cli
    from mnist_doctor.probing import subproc

    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    missing: list[str] = []

    def call(
        name: str, *args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None
    ) -> DoctorRun:
        out, err = io.StringIO(), io.StringIO()
        saved_cwd = os.getcwd()
        os.chdir(cwd or workdir)
        try:
            with (
                _environment(clean_env(home, **(env_extra or {}))),
                own_signal_handlers(),
                replaying(Recording.load(name)) as replay,
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
            ):
                code = cli.main(list(args))
        finally:
            os.chdir(saved_cwd)
            subproc.resume()  # the CLI's exit refuses new probes; the next test starts afresh
        missing.extend(replay.missing)
        return DoctorRun(code, out.getvalue(), err.getvalue())

    yield call
    assert not missing, (
        f"the recording lacks {sorted(set(missing))}: add a scenario (testkit/record_answers.py)"
    )
