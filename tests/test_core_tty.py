"""On a terminal the doctor shows a live spinner naming the checks still running."""

from __future__ import annotations

import pytest

from testkit.doctor import clean_env
from tests.marks import needs_tf
from tests.terminal import pty_output

#: Every test here starts real processes (tests/tiers.py puts them in the e2e tier).
pytestmark = pytest.mark.usefixtures("processes")


@needs_tf  # the TensorFlow import probe runs long enough for the spinner to show
def test_spinner_names_running_checks_on_a_tty(home, tmp_path):
    env = clean_env(home, TERM="xterm-256color")
    env.pop("COLUMNS", None)
    screen, _ = pty_output(["--offline", "--select", "compat,runtime"], env, tmp_path)
    assert "running: " in screen
    assert "runtime.import" in screen.split("running: ", 1)[1]
    assert "\x1b[" in screen  # colour on a terminal
    assert "passed," in screen
