"""Recorded answers of the target scripts: captured from real runs, replayed through the facts layer.

The expensive part of a diagnosis is what the target interpreter answers: TensorFlow's import
(2.5–6 s), the real ``load_data()``, the network stages. Every such answer reaches the doctor
through one seam, :func:`mnist_doctor.probing.subproc.run_script`, as a
:class:`~mnist_doctor.probing.subproc.ScriptRun`.
A *recording* is the list of those runs for one scenario (a healthy TensorFlow with no route to the
host, the same ``--offline``, ...), made by ``python -m testkit.record_answers`` from real runs. A
unit test replays it: the facts, checks, causes, advice and renderers all run for real, in-process,
on answers the real scripts gave.

Recordings hold no machine-specific path: the home folder, the interpreter, its prefix and the
working directory are written as placeholders and filled in with the replaying test's own. A
recording cannot rot silently: ``tests/test_recordings.py`` (e2e tier) runs each scenario's scripts
again and compares the shape of every answer with the recorded one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_doctor.probing import handshake, subproc
from mnist_doctor.probing.subproc import ScriptRun, VerifiedPython

FOLDER = Path(__file__).resolve().parent.parent / "tests" / "recordings"
#: ScriptRun fields kept in a recording (``extra`` is the doctor's own bookkeeping, not an answer;
#: ``flooded`` belongs to runs with an output limit, the handshake's, never a target script's).
KEPT_FIELDS = tuple(f.name for f in dataclasses.fields(ScriptRun) if f.name not in ("extra", "flooded"))


@dataclass(frozen=True)
class Places:
    """The machine-specific paths a recording replaces by placeholders, longest first when written."""

    home: str
    python: str
    prefix: str
    cwd: str

    @classmethod
    def here(cls, python: str | None = None, cwd: str | None = None) -> Places:
        """This process's view: HOME, the interpreter (default ``sys.executable``), its prefix, the cwd."""
        interpreter = python or sys.executable
        return cls(
            home=os.environ.get("HOME", str(Path.home())),
            python=interpreter,
            prefix=str(Path(interpreter).parent.parent),
            cwd=cwd or os.getcwd(),
        )

    def pairs(self) -> list[tuple[str, str]]:
        """(real path, placeholder), the longest path first so a path inside another maps to its own."""
        named = [(self.python, "${PYTHON}"), (self.cwd, "${CWD}"), (self.home, "${HOME}")]
        named.append((self.prefix, "${PREFIX}"))
        return sorted((p for p in named if len(p[0]) > 1), key=lambda p: -len(p[0]))


def _encode(value: Any, places: Places) -> Any:
    text = json.dumps(value)
    for real, placeholder in places.pairs():
        text = text.replace(json.dumps(real)[1:-1], placeholder)
    return json.loads(text)


def _decode(value: Any, places: Places) -> Any:
    text = json.dumps(value)
    for real, placeholder in places.pairs():
        text = text.replace(placeholder, json.dumps(real)[1:-1])
    return json.loads(text)


def script_key(script: str, args: list[str] | None) -> str:
    """How a run is found again: the script and its mode (its first argument), e.g. ``net_probe.py stages``.

    The introspection's first argument is the origin, not a mode: it is one run per scenario.
    """
    mode = (args or [""])[0] if script not in ("introspect.py",) else ""
    return f"{script} {mode}".strip()


@dataclass
class Recording:
    """One scenario's runs of the target scripts, by :func:`script_key`."""

    name: str
    description: str
    argv: list[str]
    runs: dict[str, dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return FOLDER / f"{self.name}.json"

    def save(self) -> Path:
        FOLDER.mkdir(parents=True, exist_ok=True)
        document = {
            "name": self.name,
            "description": self.description,
            "argv": self.argv,
            "meta": self.meta,
            "runs": dict(sorted(self.runs.items())),
        }
        self.path.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        return self.path

    @classmethod
    def load(cls, name: str) -> Recording:
        document = json.loads((FOLDER / f"{name}.json").read_text(encoding="utf-8"))
        return cls(
            document["name"], document["description"], document["argv"], document["runs"], document["meta"]
        )

    def answer(self, key: str) -> dict[str, Any] | None:
        """The recorded JSON answer of one run (placeholders left in), for shape comparisons."""
        answer = self.runs[key].get("answer")
        return answer if isinstance(answer, dict) else None

    def run_for(self, key: str, places: Places) -> ScriptRun:
        """The recorded run as the doctor receives it, with this machine's paths filled in."""
        stored = _decode(self.runs[key], places)
        return ScriptRun(**{name: stored[name] for name in KEPT_FIELDS if name in stored})


def names() -> list[str]:
    """Every recording in the repository."""
    return sorted(p.stem for p in FOLDER.glob("*.json"))


def _modules_running_scripts(attribute: str = "run_script", real: Any = None) -> list[Any]:
    """The fact modules that call ``run_script`` (imported by name, so each is patched where it is used)."""
    from mnist_doctor.facts import registry

    registry()  # imports every registered provider module
    real = subproc.run_script if real is None else real
    return [
        m
        for name, m in sorted(sys.modules.items())
        if name.startswith("mnist_doctor.") and m is not None and getattr(m, attribute, None) is real
    ]


@contextlib.contextmanager
def recording(into: dict[str, dict[str, Any]], places: Places) -> Iterator[None]:
    """Run the real scripts, and keep each run in ``into`` by :func:`script_key` (paths as placeholders)."""
    modules = _modules_running_scripts()
    real = subproc.run_script
    lock = threading.Lock()

    def record(python: str, script: str, args: list[str] | None = None, **kwargs: Any) -> ScriptRun:
        run = real(python, script, args, **kwargs)
        kept = {name: getattr(run, name) for name in KEPT_FIELDS}
        with lock:
            into[script_key(script, args)] = _encode(kept, dataclasses.replace(places, python=python))
        return run

    for module in modules:
        module.run_script = record
    try:
        yield
    finally:
        for module in modules:
            module.run_script = real


@dataclass
class Replay:
    """What a replay served and what it was asked for that the recording lacks."""

    recording: Recording
    served: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@contextlib.contextmanager
def replaying(recording: Recording) -> Iterator[Replay]:
    """Answer every ``run_script`` of the doctor from ``recording``; no process is started.

    A run the recording lacks is answered as a launch failure and listed in ``Replay.missing``, so
    a test can fail with the name of the script and mode to record.
    """
    modules = _modules_running_scripts()
    real = subproc.run_script
    replay = Replay(recording)

    def answer(python: str, script: str, args: list[str] | None = None, **kwargs: Any) -> ScriptRun:
        key = script_key(script, args)
        if key not in recording.runs:
            replay.missing.append(key)
            return ScriptRun([python, "-"], None, "", "", 0.0, launch_error=f"not recorded: {key}")
        replay.served.append(key)
        return recording.run_for(key, Places.here(python=python, cwd=kwargs.get("cwd")))

    def greet(python: str, timeout: Any) -> handshake.Hello:
        """The handshake as the recorded interpreter answered it: the Python of its introspection."""
        recorded = (recording.answer("introspect.py") or {}).get("python") or {}
        version = tuple(recorded.get("version") or (3, 11, 0))
        return handshake.Hello(VerifiedPython(python), (version[0], version[1], version[2]), "cpython")

    greeters = _modules_running_scripts("greet", handshake.greet)
    for module in modules:
        module.run_script = answer
    for module in greeters:
        module.greet = greet
    try:
        yield replay
    finally:
        for module in modules:
            module.run_script = real
        for module in greeters:
            module.greet = handshake.greet
