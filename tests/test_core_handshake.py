"""The handshake: how a ``--python`` proves to be a Python before anything runs in it with arguments.

Unit tier: the verdict on a run (:func:`handshake.judge`) and the reading of an answer by shape.
Target tier: real interpreters answer it (3.9, ours) or are refused by version (2.7, 3.8), and
the bounds hold for a program that floods or never answers.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from mnist_doctor.probing import handshake, subproc
from mnist_doctor.probing.handshake import Hello, NotPython, greet, judge, parse_hello
from mnist_doctor.probing.subproc import ScriptRun
from tests.test_core_python_flag import PYENV

HOOK = Path(handshake.__file__).parent / "target" / handshake.HOOK
TOKEN = "0123456789abcdef"


def _constant(name: str) -> str:
    match = re.search(rf'^{name} = "([^"]+)"$', HOOK.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"{HOOK.name} defines no {name}"
    return match.group(1)


def test_the_hook_speaks_the_doctors_marker_and_reads_its_variable() -> None:
    assert _constant("MARKER") == subproc.JSON_MARKER
    assert _constant("TOKEN_VAR") == handshake.TOKEN_VAR


def _run(answer: object = None, **fields: object) -> ScriptRun:
    run = ScriptRun(["x"], 0, "", "", 0.1, timeout_s=15.0)
    run.answer = answer  # type: ignore[assignment]  # hostile answers are the point
    for name, value in fields.items():
        setattr(run, name, value)
    return run


GOOD = {"hello": TOKEN[::-1], "version": [3, 11, 7], "implementation": "cpython"}


def test_a_python_that_returns_the_token_is_verified() -> None:
    found = judge("/opt/py/bin/python", _run(GOOD), TOKEN)
    assert found == Hello("/opt/py/bin/python", (3, 11, 7), "cpython")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "answer, reason",
    [
        ([1, 2, 3], "a list, not an object"),
        ({**GOOD, "hello": TOKEN}, "token"),  # echoed, not reversed: an `env` that prints it
        ({"version": [3, 11, 7], "implementation": "cpython"}, "token"),
        ({**GOOD, "version": "3.11.7"}, "three small integers"),
        ({**GOOD, "version": [3, 11]}, "three small integers"),
        ({**GOOD, "version": [True, 11, 7]}, "three small integers"),
        ({**GOOD, "version": [3, 11, -1]}, "three small integers"),
        ({**GOOD, "version": [3, 10**12, 0]}, "three small integers"),
        ({**GOOD, "version": [3.0, 11, 7]}, "three small integers"),
        ({**GOOD, "implementation": 1}, "'implementation' is not a string"),
    ],
)
def test_an_answer_of_another_shape_is_refused_with_the_reason(answer: object, reason: str) -> None:
    assert reason in str(parse_hello(answer, TOKEN))
    found = judge("/bin/x", _run(answer), TOKEN)
    assert isinstance(found, NotPython) and not found.cut_by_budget and reason in found.reason


@pytest.mark.parametrize("version, shown", [([2, 7, 18], "Python 2.7.18"), ([3, 8, 18], "Python 3.8.18")])
def test_a_python_older_than_the_scripts_support_is_refused_by_name(version: list[int], shown: str) -> None:
    found = judge("/bin/x", _run({**GOOD, "version": version}), TOKEN)
    assert isinstance(found, NotPython) and shown in found.reason and "3.9 or newer" in found.reason


@pytest.mark.parametrize(
    "fields, reason, cut",
    [
        ({"timed_out": True, "limited_by_budget": True, "returncode": None}, "--timeout ran out", True),
        ({"interrupted": True, "returncode": None}, "--timeout ran out", True),
        ({"timed_out": True, "returncode": None}, "no answer within 15s", False),
        ({"launch_error": "[Errno 8] Exec format error", "returncode": None}, "Exec format error", False),
        ({"flooded": True, "returncode": None}, "more than 1024 KB", False),
        (
            {"returncode": 1, "stderr": "\n/bin/rm: missing operand\nTry 'rm --help'"},
            "rm: missing operand",
            False,
        ),
        ({"returncode": 0, "stdout": "SECRET_TOKEN=abc\n"}, "-E, -I or -S", False),
    ],
)
def test_a_program_that_does_not_answer_is_named_with_what_it_did(
    fields: dict[str, object], reason: str, cut: bool
) -> None:
    found = judge("/bin/x", _run(None, **fields), TOKEN)
    assert isinstance(found, NotPython) and reason in found.reason and found.cut_by_budget is cut
    assert "SECRET_TOKEN" not in found.reason  # what a program prints on stdout is not repeated


# ---------------------------------------------------------------- real interpreters (target tier)


def _pyenv(version: str) -> Path:
    found = sorted(PYENV.glob(f"{version}*/bin/python"))
    if not found:
        pytest.skip(f"no Python {version} under {PYENV}")
    return found[-1]


@pytest.mark.usefixtures("target_interpreter")
def test_real_pythons_answer_and_old_ones_are_refused() -> None:
    ours = greet(sys.executable, 30)
    assert isinstance(ours, Hello) and ours.version == tuple(sys.version_info[:3]), ours
    oldest = greet(str(_pyenv("3.9")), 30)
    assert isinstance(oldest, Hello) and oldest.version[:2] == (3, 9), oldest
    for version in ("2.7", "3.8"):
        path = _pyenv(version)
        found = greet(str(path), 30)
        assert isinstance(found, NotPython) and f"Python {version}." in found.reason, found


@pytest.mark.usefixtures("target_interpreter")
def test_a_program_that_floods_or_never_answers_is_stopped_at_its_bounds(tmp_path: Path) -> None:
    floods = tmp_path / "floods"
    floods.write_text("#!/bin/sh\nyes mnist-doctor-flood\n")
    sleeps = tmp_path / "sleeps"
    sleeps.write_text("#!/bin/sh\nsleep 60\n")
    for program in (floods, sleeps):
        program.chmod(0o755)
    started = time.monotonic()
    flooded = greet(str(floods), 30)
    assert isinstance(flooded, NotPython) and "without answering" in flooded.reason
    assert time.monotonic() - started < 10, "a flood is stopped by its size, not waited out"
    silent = greet(str(sleeps), 1.0)
    assert isinstance(silent, NotPython) and "no answer within 1s" in silent.reason
