"""Record the target scripts' answers for the unit tier: ``python -m testkit.record_answers [NAME…]``.

Each scenario runs the real doctor (in this process, with this interpreter as the patient: run it
with the e2e environment, where TensorFlow is installed) in an isolated HOME and working folder,
and keeps every answer of the target scripts in ``tests/recordings/NAME.json``
(:mod:`testkit.recordings`). Re-record after changing a target script or the TensorFlow the e2e
tier installs; ``tests/test_recordings.py`` tells when a recording no longer has the shape the
scripts emit.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testkit.doctor import clean_env
from testkit.recordings import Places, Recording, recording


@dataclass(frozen=True)
class Scenario:
    """A state of the world to record: the doctor's arguments, extra variables, files to lay first."""

    name: str
    description: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    #: Lays files in the fresh home folder before the run (e.g. a cached copy).
    prepare: Callable[[Path], None] | None = None


SCENARIOS = (
    Scenario(
        "no-route",
        "TensorFlow installed and healthy, an empty cache, and no route to the dataset host (its name"
        " does not resolve): the whole default diagnosis, the real load_data() included",
        ("--format", "json"),
    ),
    Scenario(
        "offline",
        "TensorFlow installed and healthy, an empty cache, --offline: the import probe answers, the"
        " load probe is not started (Keras would download)",
        ("--offline", "--format", "json"),
    ),
)


def scenario(name: str) -> Scenario:
    for known in SCENARIOS:
        if known.name == name:
            return known
    raise KeyError(f"no scenario {name!r}; known: {', '.join(s.name for s in SCENARIOS)}")


@contextlib.contextmanager
def _isolated(env: dict[str, str], cwd: Path) -> Iterator[None]:
    """This process with ``env`` as its whole environment and ``cwd`` as its folder, then restored."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def record(chosen: Scenario) -> Recording:
    """Run the scenario for real and return its recording (not saved).

    The CLI's exit refuses new probes in this process (``subproc.shutdown``); they are allowed
    again afterwards, so a test that records does not leave the next one in its worker unable
    to start a target script.
    """
    from mnist_doctor.cli import main as cli
    from mnist_doctor.probing import subproc

    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mnist-doctor-record-") as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        home.mkdir()
        work.mkdir()
        if chosen.prepare is not None:
            chosen.prepare(home)
        places = Places(home=str(home), python=sys.executable, prefix=sys.prefix, cwd=str(work))
        out, err = io.StringIO(), io.StringIO()
        with (
            _isolated(clean_env(home, **chosen.env), work),
            recording(runs, places),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                code = cli.main(["--python", sys.executable, *chosen.argv])
            finally:
                subproc.resume()
    meta = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "exit_code": code,
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "numpy": _version("numpy"),
        "recorded_by": "python -m testkit.record_answers " + chosen.name,
    }
    return Recording(chosen.name, chosen.description, list(chosen.argv), runs, meta)


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main(argv: list[str]) -> int:
    chosen = [scenario(name) for name in argv] or list(SCENARIOS)
    for one in chosen:
        made = record(one)
        path = made.save()
        print(f"{one.name}: {len(made.runs)} runs ({', '.join(sorted(made.runs))}) -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
