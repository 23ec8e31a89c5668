"""Terminal conventions: NO_COLOR, TERM=dumb, FORCE_COLOR, CLICOLOR_FORCE, CLICOLOR; the spinner's place.

Runs on a real pseudo-terminal (``pty``) and through real pipes; the spinner needs a run long
enough to draw it, so those cases import TensorFlow (``runtime``), like test_core_tty.
"""

from __future__ import annotations

import os
import pty
import re
from pathlib import Path

import pytest

from mnist_doctor.render.console import colour_wanted, spinner_wanted
from mnist_doctor.text.output import Sink
from testkit.doctor import clean_env
from tests.marks import needs_tf
from tests.terminal import pty_output

FAST = ["--offline", "--select", "compat,env"]
ESC = "\x1b["
SGR = re.compile("\x1b\\[[0-9;]*m")  # a colour or style code (not a cursor movement)
COLOUR_VARS = ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "CLICOLOR", "TERM")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = clean_env(home)
    for name in (*COLOUR_VARS, "COLUMNS"):
        env.pop(name, None)
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


@pytest.fixture
def tty_sink():
    leader, follower = pty.openpty()
    with open(follower, "w") as stream:
        yield Sink(stream, "stdout", strict=True)
    os.close(leader)


@pytest.mark.parametrize(
    ("env", "on_tty", "piped"),
    [
        ({}, True, False),
        ({"NO_COLOR": "1"}, False, False),
        ({"NO_COLOR": "0"}, False, False),  # any non-empty value
        ({"NO_COLOR": ""}, True, False),  # empty: as if unset
        ({"TERM": "dumb"}, False, False),
        ({"FORCE_COLOR": "1"}, True, True),
        ({"CLICOLOR_FORCE": "1"}, True, True),
        ({"CLICOLOR_FORCE": "0"}, True, False),
        ({"CLICOLOR": "0"}, False, False),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False, False),  # NO_COLOR wins
    ],
)
def test_colour_decision(monkeypatch, tty_sink, tmp_path: Path, env, on_tty: bool, piped: bool) -> None:
    for name in COLOUR_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert colour_wanted(tty_sink) is on_tty
    with open(tmp_path / "out", "w") as stream:
        assert colour_wanted(Sink(stream, "stdout", strict=True)) is piped


def test_spinner_only_on_an_interactive_stderr(monkeypatch, tty_sink, tmp_path: Path) -> None:
    for name in COLOUR_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert spinner_wanted(tty_sink)
    with open(tmp_path / "err", "w") as stream:
        assert not spinner_wanted(Sink(stream, "stderr", strict=False))
    monkeypatch.setenv("FORCE_COLOR", "1")  # colour may be forced into a pipe; a spinner never is
    with open(tmp_path / "err", "w") as stream:
        assert not spinner_wanted(Sink(stream, "stderr", strict=False))
    for name, value in (("NO_COLOR", "1"), ("TERM", "dumb")):
        monkeypatch.setenv(name, value)
        assert not spinner_wanted(tty_sink)
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("extra", "colour"),
    [({}, True), ({"NO_COLOR": "1"}, False), ({"TERM": "dumb"}, False), ({"CLICOLOR": "0"}, False)],
)
@pytest.mark.usefixtures("processes")
def test_on_a_terminal(home: Path, tmp_path: Path, extra: dict[str, str], colour: bool) -> None:
    screen, code = pty_output(FAST, _env(home, **extra), tmp_path)
    assert code == 0 and "passed" in screen
    assert bool(SGR.search(screen)) is colour, screen[:400]
    if "NO_COLOR" in extra or extra.get("TERM") == "dumb":
        assert ESC not in screen  # not even the spinner's cursor movements


@pytest.mark.parametrize(
    ("extra", "colour"), [({}, False), ({"FORCE_COLOR": "1"}, True), ({"CLICOLOR_FORCE": "1"}, True)]
)
def test_piped(doctor, extra: dict[str, str], colour: bool) -> None:
    run = doctor(*FAST, env_extra=extra)
    assert run.code == 0 and "passed" in run.stdout
    assert (ESC in run.stdout) is colour
    assert ESC not in run.stderr  # never a spinner in a pipe, forced colour or not


@needs_tf
@pytest.mark.parametrize("extra", [{"NO_COLOR": "1"}, {"TERM": "dumb"}])
@pytest.mark.usefixtures("processes")
def test_no_spinner_under_no_color_or_dumb(home: Path, tmp_path: Path, extra: dict[str, str]) -> None:
    """The same run that shows a spinner on a colour terminal (test_core_tty) shows none here."""
    screen, code = pty_output(["--offline", "--select", "compat,runtime"], _env(home, **extra), tmp_path)
    assert code == 0 and "passed" in screen
    assert "running: " not in screen and ESC not in screen
