"""The inputs of ``mnist-doctor fleet``: files, folders of ``*.json`` files, and standard input.

Reports come from many machines, through copies, pipes and shared folders, so any input may be
hostile or broken: empty, binary, huge, a FIFO no one writes to, a device, a link in a loop, a
folder of thousands of files. Every input is read bounded — only regular files (checked on the
open descriptor, opened without blocking, so a FIFO cannot hang the run), at most
:data:`FILE_CAP_BYTES` each, at most :data:`MAX_FILES` files, folders walked without following
links (no loop), standard input read until EOF or the deadline — and an input that cannot be
read becomes a :class:`~mnist_doctor.fleet.model.Skipped` that names it, never an exception.
"""

from __future__ import annotations

import os
import selectors
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mnist_doctor.fleet.model import Skipped

#: Bytes read from one input at most (a verbose report is ~1 MB; a file of concatenated
#: reports from every node of a job may hold a few dozen).
FILE_CAP_BYTES = 32 * 1024 * 1024
#: Files read at most, over all the folders given.
MAX_FILES = 10_000
_CHUNK = 256 * 1024


def _cap() -> str:
    return f"{FILE_CAP_BYTES / (1024 * 1024):g} MB"


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


@dataclass(frozen=True)
class Input:
    """The bytes of one input and the name it is reported under."""

    source: str
    data: bytes


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def read_file(path: str) -> Input | Skipped:
    """A regular file's bytes (at most :data:`FILE_CAP_BYTES`), or why it is skipped."""
    flags = (
        os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    )
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return Skipped(path, f"cannot be opened: {_why(exc)}")
    except ValueError:  # a NUL byte in the name
        return Skipped(path, "is not a valid file name")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return Skipped(path, f"is {_kind(info.st_mode)}, not a report file")
        if info.st_size > FILE_CAP_BYTES:
            return Skipped(path, f"is larger than {_cap()}: not a report")
        chunks, total = [], 0
        while total <= FILE_CAP_BYTES:
            chunk = os.read(fd, min(_CHUNK, FILE_CAP_BYTES + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > FILE_CAP_BYTES:  # grew while being read (/proc files report size 0)
            return Skipped(path, f"is larger than {_cap()}: not a report")
        return Input(path, b"".join(chunks))
    except OSError as exc:
        return Skipped(path, f"cannot be read: {_why(exc)}")
    finally:
        os.close(fd)


def read_stream(stream: BinaryIO, deadline: float, name: str = "-") -> Input | Skipped:
    """Everything on ``stream`` (standard input) until EOF, bounded in size and by ``deadline``."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return Skipped(name, "standard input is closed")
    chunks, total = [], 0
    try:
        with selectors.DefaultSelector() as selector:
            try:
                selector.register(fd, selectors.EVENT_READ)
                selectable = True
            except (OSError, ValueError):  # a regular file on stdin cannot be selected: it never blocks
                selectable = False
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return Skipped(name, "standard input did not end before --timeout")
                if selectable and not selector.select(min(left, 0.5)):
                    continue
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > FILE_CAP_BYTES:
                    return Skipped(name, f"standard input is larger than {_cap()}")
    except OSError as exc:
        return Skipped(name, f"standard input cannot be read: {_why(exc)}")
    return Input(name, b"".join(chunks))


def _walk(folder: str) -> Iterator[str | Skipped]:
    """``*.json`` files under ``folder``, sorted, links to folders not followed (no loop)."""
    errors: list[OSError] = []
    for top, dirs, files in os.walk(folder, onerror=errors.append, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(".json"):
                yield os.path.join(top, name)
    for exc in errors:
        yield Skipped(str(exc.filename or folder), f"folder cannot be read: {_why(exc)}")


def gather(arguments: list[str], stdin: BinaryIO, deadline: float) -> Iterator[Input | Skipped]:
    """Each input's bytes, in the order given (a folder's files sorted), or why it is skipped.

    The same file reached twice (named and inside a folder given too, or through a link) is read once.
    """
    seen: set[tuple[int, int]] = set()
    files = 0
    stdin_read = False
    for argument in arguments:
        if argument == "-":
            if not stdin_read:
                stdin_read = True
                yield read_stream(stdin, deadline)
            continue
        try:
            is_folder = os.path.isdir(argument)
        except ValueError:
            is_folder = False
        paths: Iterator[str | Skipped] = _walk(argument) if is_folder else iter([argument])
        for path in paths:
            if isinstance(path, Skipped):
                yield path
                continue
            if files >= MAX_FILES:
                yield Skipped(path, f"not read: more than {MAX_FILES} files given")
                return
            try:
                info = os.stat(path)
                key = (info.st_dev, info.st_ino)
            except (OSError, ValueError):
                key = None  # read_file names the problem
            if key is not None and key in seen:
                continue
            if key is not None:
                seen.add(key)
            files += 1
            yield read_file(path)
