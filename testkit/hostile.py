"""Hostile inputs shared by the hostile-input tests and ``benchmarks/bench_memory.py``.

No pytest dependency: zip bombs, sparse giant files, loopback HTTP servers that trickle,
flood or reset, and a runner that measures a real doctor process's wall time and peak
RSS (``wait4``'s rusage: the process and the children it waited for).
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- measured runs


@dataclass
class Measured:
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def sigint_as_in_a_terminal() -> None:
    """In a child before exec: SIGINT as a terminal's foreground job receives it (the default).

    Tests run as a background job (``nox … &``) inherit SIGINT ignored, and the doctor rightly
    leaves an ignored SIGINT ignored; a Ctrl-C test must start the doctor as a person's shell does.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_measured(
    argv: list[str],
    env: dict[str, str],
    cwd: str | Path | None = None,
    timeout: float = 120,
    on_start: object = None,
    limit_as: int | None = None,
) -> Measured:
    """Run ``argv``, reap it with ``wait4`` and report its exit code, wall time and peak RSS.

    ``on_start(proc)`` (optional) runs once the process is started (e.g. to send a signal).
    On ``timeout`` the process group is killed and the code is -9. ``limit_as`` caps the
    address space (bytes) so that a runaway baseline cannot take the machine down.
    """

    def limit() -> None:
        sigint_as_in_a_terminal()
        if limit_as:
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            argv, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True, preexec_fn=limit
        )
        killer = threading.Timer(timeout, lambda: _kill_group(proc.pid))
        killer.start()
        try:
            if callable(on_start):
                on_start(proc)
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            _kill_group(proc.pid)  # anything the doctor left behind in its session
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            usage.ru_maxrss / 1024,
        )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def doctor_argv(*args: str, python: str = sys.executable) -> list[str]:
    return [python, "-m", "mnist_doctor", *args]


def children_peak_rss_mb() -> float:
    """Peak RSS of all reaped children of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


# ---------------------------------------------------------------- hostile files


def npy_header(shape: tuple[int, ...], descr: str = "|u1") -> bytes:
    """A version-1 ``.npy`` header (magic, length, dict padded to 64 bytes)."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    body = (text + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


def make_zip_bomb(path: Path, inflated: int = 1 << 30, honest: bool = True) -> Path:
    """An ``.npz`` whose ``x_train.npy`` inflates to ``inflated`` bytes of zeros (~1000:1).

    ``honest``: the zip header declares the real size (a "declared bomb"). Otherwise the
    local and central headers claim MNIST's size while the deflate stream holds far more.
    """
    count = inflated - len(npy_header((inflated,)))
    header = npy_header((count,))
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    crc = zlib.crc32(header)
    parts = [compressor.compress(header)]
    block = bytes(1 << 20)
    left = count
    while left > 0:
        piece = block[: min(left, len(block))]
        crc = zlib.crc32(piece, crc)
        parts.append(compressor.compress(piece))
        left -= len(piece)
    parts.append(compressor.flush())
    data = b"".join(parts)
    declared = inflated if honest else 47_040_128
    info = zipfile.ZipInfo("x_train.npy", date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as archive:
        for name, shape in (
            ("y_train.npy", (60000,)),
            ("x_test.npy", (10000, 28, 28)),
            ("y_test.npy", (10000,)),
        ):
            size = 1
            for n in shape:
                size *= n
            archive.writestr(name, npy_header(shape) + bytes(size), compress_type=zipfile.ZIP_DEFLATED)
    _append_raw_member(path, info, data, crc, declared)
    return path


def _append_raw_member(path: Path, info: zipfile.ZipInfo, data: bytes, crc: int, declared: int) -> None:
    """Rewrite the archive with one more, pre-compressed member whose headers declare ``declared``."""
    with zipfile.ZipFile(path) as archive:
        members = [(i, archive.read(i.filename)) for i in archive.infolist()]
    entries: list[bytes] = []
    blob = bytearray()
    for member, raw in members:
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = comp.compress(raw) + comp.flush()
        entries.append(_central(member.filename, zlib.crc32(raw), len(packed), len(raw), len(blob)))
        blob += _local(member.filename, zlib.crc32(raw), len(packed), len(raw)) + packed
    entries.append(_central(info.filename, crc, len(data), declared, len(blob)))
    blob += _local(info.filename, crc, len(data), declared) + data
    directory = b"".join(entries)
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), len(blob), 0
    )
    path.write_bytes(bytes(blob) + directory + end)


def _local(name: str, crc: int, csize: int, usize: int) -> bytes:
    raw = name.encode()
    return struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, csize, usize, len(raw), 0) + raw


def _central(name: str, crc: int, csize: int, usize: int, offset: int) -> bytes:
    raw = name.encode()
    return (
        struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            0,
            8,
            0,
            0x21,
            crc,
            csize,
            usize,
            len(raw),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        + raw
    )


def make_sparse(path: Path, size: int = 20 << 30) -> Path:
    """A file of ``size`` bytes that takes no disk space (a hole), starting like a zip."""
    with open(path, "wb") as handle:
        handle.write(b"PK\x03\x04")
        handle.truncate(size)
    return path


# ---------------------------------------------------------------- misbehaving loopback servers


@dataclass
class ServerStats:
    connections: int = 0
    bytes_sent: int = 0
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def misbehaving_server(
    mode: str, payload: bytes = b"", interval: float = 0.2
) -> Iterator[tuple[str, ServerStats]]:
    """A raw HTTP server on 127.0.0.1 that misbehaves after reading the request.

    Modes: ``trickle-headers`` (a status line, then one header byte every ``interval``),
    ``trickle-body`` (full headers with the payload's Content-Length, then one body byte every
    ``interval``), ``endless`` (no Content-Length, zeros as fast as the client reads),
    ``endless-declared`` (a Content-Length of 1 TB), ``reset`` (half the body, then a TCP RST).
    Yields the URL of ``/mnist.npz`` and live statistics.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stats = ServerStats()
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            _misbehave(conn, mode, payload, interval, stats, stop)
        except OSError as exc:
            stats.errors.append(type(exc).__name__)
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            stats.connections += 1
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/mnist.npz", stats
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _send(conn: socket.socket, data: bytes, stats: ServerStats) -> None:
    conn.sendall(data)
    stats.bytes_sent += len(data)


def _misbehave(
    conn: socket.socket, mode: str, payload: bytes, interval: float, stats: ServerStats, stop: threading.Event
) -> None:
    if mode == "trickle-headers":
        _send(conn, b"HTTP/1.1 200 OK\r\n", stats)
        while not stop.is_set():
            _send(conn, b"X", stats)
            time.sleep(interval)
    elif mode == "trickle-body":
        _send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload), stats)
        for byte in payload:
            if stop.is_set():
                break
            _send(conn, bytes([byte]), stats)
            time.sleep(interval)
    elif mode in ("endless", "endless-declared"):
        length = b"Content-Length: 1000000000000\r\n" if mode == "endless-declared" else b""
        _send(conn, b"HTTP/1.1 200 OK\r\nConnection: close\r\n" + length + b"\r\n", stats)
        block = bytes(1 << 16)
        while not stop.is_set():
            _send(conn, block, stats)
    elif mode == "reset":
        _send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload), stats)
        _send(conn, payload[: len(payload) // 2], stats)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
    else:
        raise ValueError(mode)


# ---------------------------------------------------------------- paths an environment variable may hold

#: Kinds of path that cannot be used (``mnist_doctor.files.env_paths`` names them alike).
PATH_KINDS = ("too-long", "loop", "not-a-folder", "not-utf8", "denied")


def hostile_path(root: Path, kind: str, name: str) -> str:
    """A real path of ``kind`` under ``root``, distinct per ``name`` (say, the variable that holds it).

    ``too-long``: a name of 300 bytes below a folder that does not exist yet; ``loop``: below a
    symbolic link to itself; ``not-a-folder``: below a regular file; ``not-utf8``: an existing folder
    whose name holds the byte 0xE9; ``denied``: below a ``*-closed`` folder (made 0700 by a test
    that runs as another user, or whose ``stat`` a unit test refuses).
    """
    root.mkdir(parents=True, exist_ok=True)
    if kind == "too-long":
        return str(root / name / ("k" * 300))
    if kind == "loop":
        loop = root / f"{name}-loop"
        loop.symlink_to(loop.name)
        return str(loop / "inside")
    if kind == "not-a-folder":
        file = root / f"{name}-file"
        file.write_text("a file, not a folder")
        return str(file / "inside")
    if kind == "not-utf8":
        folder = Path(os.fsdecode(os.fsencode(str(root)) + b"/" + name.encode() + b"-caf\xe9"))
        folder.mkdir()
        return str(folder)
    if kind == "denied":
        closed = root / f"{name}-closed"
        (closed / "inside").mkdir(parents=True)
        return str(closed / "inside" / "x")
    raise ValueError(f"unknown kind of path: {kind}")
