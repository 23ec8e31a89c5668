"""On a terminal the doctor shows a live spinner naming the checks still running."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from tests.conftest import clean_env, needs_tf


@needs_tf  # the TensorFlow import probe runs long enough for the spinner to show
def test_spinner_names_running_checks_on_a_tty(home, tmp_path):
    leader, follower = pty.openpty()
    env = clean_env(home, TERM="xterm-256color")
    env.pop("COLUMNS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_doctor", "--offline", "--select", "compat,runtime"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        cwd=tmp_path,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(leader)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "running: " in screen
    assert "runtime.import" in screen.split("running: ", 1)[1]
    assert "\x1b[" in screen  # colour on a terminal
    assert "passed," in screen
