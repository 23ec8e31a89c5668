"""Run the doctor on a real terminal: tmux (a terminal emulator) or a bare pseudo-terminal.

``tmux_screen`` starts a detached tmux server of its own (its own socket, no user config)
with a window of the given width, runs the command in it and returns the screen as the
terminal drew it (``capture-pane``): what a person sees and copies. ``joined=True`` asks
tmux to join lines the terminal itself wrapped, as a terminal's copy does.
"""

from __future__ import annotations

import os
import pty
import select
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
DONE = "__doctor_done__"


def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["tmux", "-L", socket, "-f", "/dev/null", *args], capture_output=True, text=True, timeout=30
    )


def tmux_screen(
    args: list[str], env: dict[str, str], cwd: Path, width: int, height: int = 400, timeout: float = 120
) -> tuple[str, str, int]:
    """``mnist-doctor ARGS`` at ``width``: (screen, screen with terminal-wrapped lines joined, exit code)."""
    socket = f"doctor-{uuid.uuid4().hex[:12]}"
    assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    command = (
        f"cd {shlex.quote(str(cwd))} && env -i {assignments} "
        f"{shlex.quote(sys.executable)} -m mnist_doctor {' '.join(shlex.quote(a) for a in args)}; "
        f"echo {DONE}$?; sleep 600"
    )
    started = _tmux(socket, "new-session", "-d", "-x", str(width), "-y", str(height), "sh", "-c", command)
    assert started.returncode == 0, started.stderr
    try:
        deadline = time.monotonic() + timeout
        plain = ""
        while time.monotonic() < deadline:
            plain = _tmux(socket, "capture-pane", "-p", "-S", "-", "-E", "-").stdout
            if DONE in plain:
                break
            time.sleep(0.3)
        assert DONE in plain, f"the doctor did not finish within {timeout}s:\n{plain}"
        joined = _tmux(socket, "capture-pane", "-p", "-J", "-S", "-", "-E", "-").stdout
        code = int(plain.split(DONE, 1)[1].split()[0])
        return plain.split(DONE, 1)[0], joined.split(DONE, 1)[0], code
    finally:
        _tmux(socket, "kill-server")


def pty_output(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> tuple[str, int]:
    """Everything the doctor writes (stdout and stderr) to a bare pseudo-terminal, escapes included."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_doctor", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        cwd=cwd,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
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
    code = proc.wait(timeout=30)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace"), code
