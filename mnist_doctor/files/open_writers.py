"""Which processes are writing a file right now: a download in progress must not be disturbed.

Keras downloads straight to the final name (``mnist.npz``), not to a temporary file. While another
process — the user's notebook, a training job — is still writing it, the file looks truncated;
"fixing" it (clearing the cache) or keeping it safe around the probe (a copy put back under the
same name) would send the writer's remaining bytes into an unlinked file. So before the doctor
touches or judges a cached file it asks the kernel who has it open for writing (Linux ``/proc``:
the descriptor's inode and its access mode). Elsewhere, or when ``/proc`` is not readable, the
answer is "nobody seen", never an error. Bounded in time: a machine with many processes is
scanned for at most :data:`SCAN_LIMIT_S`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

#: The longest a scan of ``/proc`` may take (it stops with what it found by then).
SCAN_LIMIT_S = 0.5
_ACCESS_MODE = 0o3  # O_ACCMODE
_WRITING = (os.O_WRONLY, os.O_RDWR)


@dataclass(frozen=True)
class Writer:
    """A process that has the file open for writing."""

    pid: int
    command: str

    def __str__(self) -> str:
        return f"process {self.pid} ({self.command})"


def writers_of(path: str, limit_s: float = SCAN_LIMIT_S) -> list[Writer]:
    """Processes other than this one that have ``path`` open for writing ([] where none is seen)."""
    try:
        wanted = os.stat(path)
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    identity = (wanted.st_dev, wanted.st_ino)
    ends = time.monotonic() + limit_s
    found: list[Writer] = []
    for pid in pids:
        if time.monotonic() > ends:
            break
        if int(pid) == os.getpid():
            continue
        if any(_writes(pid, fd, identity) for fd in _descriptors(pid)):
            found.append(Writer(int(pid), _command(pid)))
    return found


def _descriptors(pid: str) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/fd")
    except OSError:  # gone, or another user's
        return []


def _writes(pid: str, fd: str, identity: tuple[int, int]) -> bool:
    try:
        info = os.stat(f"/proc/{pid}/fd/{fd}")
        if (info.st_dev, info.st_ino) != identity:
            return False
        with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii", errors="replace") as handle:
            flags = next((line.split()[1] for line in handle if line.startswith("flags:")), "0")
        return int(flags, 8) & _ACCESS_MODE in _WRITING
    except (OSError, ValueError, IndexError):
        return False


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()[:64] or "?"
    except OSError:
        return "?"
