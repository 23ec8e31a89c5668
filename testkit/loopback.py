"""Loopback servers and ports for the tests and the benchmarks (127.0.0.1 only, no pytest).

- :class:`DatasetServer`: a real HTTP(S) server (``http.server`` in a thread) standing in for
  the dataset host, scripted per request: the dataset's head as a 206 partial answer (what the
  network checks need, without 11 MB of payload), a full payload, a cut body, an HTML login
  page, a wrong Content-Length, or an HTTP error status.
- :func:`silent_server`: accepts connections and never answers (the "frozen host", or a dead
  proxy's port).
- :func:`slow_proxy`: a CONNECT proxy that answers each CONNECT only after a delay, then tunnels.
- :func:`served_file`: a synthetic file (or a mirror folder of them) of any size at a chosen speed
  (a token bucket), honouring ``Range`` or not, optionally stalling after some bytes; it counts
  every connection and request (``--offline`` must make none). For the throughput stage.
- :func:`pproxy`: the real ``pproxy`` program as an HTTP proxy, optionally with credentials.
- :func:`free_port`, :func:`closed_port`, :func:`wait_for_port`.

One server for every test that needs a dataset host, so a fault is produced the same way
whichever part of the doctor (network checks, ``--fetch``, the TLS trust checks) meets it.
"""

from __future__ import annotations

import contextlib
import http.server
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mnist_doctor.datasets.spec import MNIST

if TYPE_CHECKING:  # trustme is a test dependency; only its type is named here
    import trustme

#: The first bytes of a real ``mnist.npz`` as far as a sniffer cares: a zip local-file header.
NPZ_HEAD = b"PK\x03\x04" + b"\0" * 60
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please log in to the proxy</body></html>"
)
#: The pproxy program of the running environment (None when it is not installed).
PPROXY = shutil.which("pproxy", path=str(Path(sys.executable).parent)) or shutil.which("pproxy")
#: The path of the real origin, so a URL made here looks like Keras' own.
DATASET_PATH = "/tensorflow/tf-keras-datasets/mnist.npz"


def free_port() -> int:
    """A port free on 127.0.0.1 right now (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def closed_port() -> int:
    """A port nothing listens on: connecting to it is refused."""
    return free_port()


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Return once something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server-side TLS context with a certificate for 127.0.0.1/localhost issued by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


_Server = TypeVar("_Server", bound="ThreadedHTTPServer")


class ThreadedHTTPServer:
    """A ``ThreadingHTTPServer`` on 127.0.0.1, served from a daemon thread inside a ``with`` block.

    The lifecycle every loopback HTTP server here shares; subclasses call :meth:`_serve` with
    their request handler (and a server-side TLS context to speak HTTPS).
    """

    httpd: http.server.ThreadingHTTPServer
    thread: threading.Thread

    def _serve(
        self, handler: type[http.server.BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
    ) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        port: int = self.httpd.server_address[1]
        return port

    def __enter__(self: _Server) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class DatasetServer(ThreadedHTTPServer):
    """A fake dataset host on 127.0.0.1, each request answered by the next mode (the last repeats).

    Modes: ``"partial"`` (206 with :data:`NPZ_HEAD` and the real dataset's total size in
    Content-Range), ``"full"`` (200 with ``payload``), ``"cut"`` (the full Content-Length, half
    the body, then the connection closes), ``"html"`` (a 200 login page), ``"wrong_length"`` (a
    200 whose Content-Length is not the dataset's size) or an ``int`` HTTP status (an error page).
    ``tls`` (see :func:`server_context`) makes it HTTPS. ``requests`` records the request lines
    (absolute URLs when the client came through a proxy).
    """

    def __init__(self, *modes: str | int, payload: bytes = b"", tls: ssl.SSLContext | None = None) -> None:
        self.modes: list[str | int] = list(modes) or ["partial"]
        self.payload = payload
        self.requests: list[str] = []
        self.scheme = "https" if tls else "http"
        self._serve(self._handler(), tls)

    def _next_mode(self) -> str | int:
        return self.modes.pop(0) if len(self.modes) > 1 else self.modes[0]

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server.requests.append(self.requestline)
                mode = server._next_mode()
                if isinstance(mode, int):
                    self._send(mode, b"<html><body>denied</body></html>", "text/html; charset=utf-8")
                elif mode == "html":
                    self._send(200, LOGIN_PAGE, "text/html")
                elif mode == "wrong_length":
                    self._send(200, NPZ_HEAD * 10, "application/octet-stream")
                elif mode == "full":
                    self._send(200, server.payload, "application/octet-stream")
                elif mode == "cut":
                    self._send(200, server.payload, "application/octet-stream", cut=True)
                elif mode == "partial":
                    self._send(
                        206,
                        NPZ_HEAD,
                        "application/octet-stream",
                        extra={"Content-Range": f"bytes 0-{len(NPZ_HEAD) - 1}/{MNIST.size}"},
                    )
                else:
                    raise ValueError(f"unknown DatasetServer mode {mode!r}")

            def _send(
                self,
                status: int,
                body: bytes,
                ctype: str,
                cut: bool = False,
                extra: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if cut else body)
                self.wfile.flush()
                self.close_connection = True

        return Handler

    @property
    def base(self) -> str:
        """``scheme://127.0.0.1:port``, to build other URLs on this server."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + DATASET_PATH

    @property
    def paths(self) -> list[str]:
        """The path (or absolute URL, through a proxy) of each request so far."""
        return [line.split()[1] for line in self.requests]


@contextlib.contextmanager
def _listening(
    handle: Callable[[socket.socket, threading.Event], None], host: str = "127.0.0.1"
) -> Iterator[int]:
    """A listener on ``host`` (loopback) handing each connection to ``handle`` in its own thread.

    Yields the port; on exit stops accepting, tells the handlers to stop and closes every
    connection it accepted.
    """
    listener = socket.socket()
    listener.bind((host, 0))
    listener.listen(16)
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        while not stop.is_set():
            try:
                conn = listener.accept()[0]
            except OSError:
                continue
            accepted.append(conn)
            threading.Thread(target=handle, args=(conn, stop), daemon=True).start()

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(1)
        for sock in accepted:
            with contextlib.suppress(OSError):
                sock.close()
        listener.close()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """Accepts connections and holds them open without ever answering."""
    with _listening(lambda conn, stop: None) as port:
        yield port


def _pipe(source: socket.socket, sink: socket.socket, stop: threading.Event) -> None:
    """Copy bytes one way until either side closes or the server stops."""
    with contextlib.suppress(OSError):
        while not stop.is_set():
            chunk = source.recv(65536)
            if not chunk:
                break
            sink.sendall(chunk)
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def slow_proxy(delay: float) -> Iterator[int]:
    """A CONNECT proxy that says nothing for ``delay`` seconds after each CONNECT, then opens the
    tunnel (to the loopback address asked for) like any proxy: a slow proxy, not a silent one."""

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(10)
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
        words = head.split(b"\r\n", 1)[0].split()
        if len(words) < 2 or words[0] != b"CONNECT" or stop.wait(delay):
            return
        host, _, port = words[1].decode("latin-1").rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except (OSError, ValueError):
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        conn.settimeout(None)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        back = threading.Thread(target=_pipe, args=(upstream, conn, stop), daemon=True)
        back.start()
        _pipe(conn, upstream, stop)
        back.join(1)
        upstream.close()

    with _listening(handle) as port:
        yield port


#: What a served file starts with (a zip, as an ``.npz`` does; gzip for a ``.gz``); zeros follow.
FILE_HEAD = b"PK\x03\x04"
GZIP_HEAD = b"\x1f\x8b\x08\x00"
_RANGE = re.compile(rb"^range:\s*bytes=(\d+)-(\d*)\s*$", re.IGNORECASE | re.MULTILINE)


class TokenBucket:
    """``rate`` bytes per second on average, with bursts of at most ``burst`` bytes."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = float(rate), int(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self, wanted: int, stop: threading.Event) -> int:
        """Wait until at least one byte may go; return how many (at most ``wanted``)."""
        while not stop.is_set():
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    granted = int(min(wanted, self.tokens))
                    self.tokens -= granted
                    return granted
                wait = (1 - self.tokens) / self.rate
            time.sleep(min(wait, 0.05))
        return 0


@dataclass
class Served:
    """A running :func:`served_file`: where it is and what it saw."""

    url: str
    port: int
    #: The server's root, ``scheme://127.0.0.1:port/``: a folder URL for ``--origin``/``--mirror``.
    folder: str = ""
    connections: int = 0
    requests: list[str] = field(default_factory=list)
    ranges: list[str | None] = field(default_factory=list)
    bytes_sent: int = 0


def _synthetic(offset: int, length: int, first: bytes = FILE_HEAD) -> bytes:
    """Bytes ``offset`` to ``offset + length`` of a served file: its ``first`` bytes, then zeros."""
    head = first[offset : offset + length] if offset < len(first) else b""
    return head + bytes(length - len(head))


@contextlib.contextmanager
def served_file(
    total: int | Mapping[str, int],
    rate: float | None = None,
    *,
    burst: int = 16384,
    ranges: bool = True,
    stall_after: int | None = None,
    tls: ssl.SSLContext | None = None,
    path: str = "/mnist.npz",
    host: str = "127.0.0.1",
) -> Iterator[Served]:
    """Serve a synthetic file of ``total`` bytes at ``path`` on 127.0.0.1 (nothing is held in memory).

    ``total`` may instead map paths to sizes (``{"/mnist.npz": …, "/cifar-10-python.tar.gz": …}``):
    a mirror folder; any other path is a 404. ``url`` is then the first path's. A ``.gz`` path
    starts like gzip, any other like a zip (an ``.npz``); zeros follow.

    ``rate``: bytes per second for all connections together (a token bucket; None = as fast
    as the client reads). ``ranges=False``: ignore ``Range`` and send the whole body with a
    200, as some servers do. ``stall_after``: send that many body bytes, then nothing while
    holding the connection open. ``tls``: a server-side context (e.g. from a trustme CA).
    ``host``: another loopback address (``127.0.0.2``) for a second, distinct dataset host.
    """
    sizes = dict(total) if isinstance(total, Mapping) else {path: total}
    bucket = TokenBucket(rate, burst) if rate else None
    stats = Served(url="", port=0)
    lock = threading.Lock()

    def send(conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with lock:
            stats.bytes_sent += len(data)

    def handle(raw: socket.socket, stop: threading.Event) -> None:
        with lock:
            stats.connections += 1
        conn = raw
        try:
            raw.settimeout(10)
            if tls is not None:
                conn = tls.wrap_socket(raw, server_side=True)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            head = request.split(b"\r\n\r\n", 1)[0]
            asked = _RANGE.search(head)
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            with lock:
                stats.requests.append(line)
                stats.ranges.append(
                    asked.group(0).decode("latin-1").split(":", 1)[1].strip() if asked else None
                )
            asked_path = line.split(" ")[1] if line.count(" ") >= 2 else ""
            size = sizes.get(asked_path)
            if size is None:
                send(conn, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            start, end = 0, size - 1
            if asked and ranges:
                start = int(asked.group(1))
                end = min(int(asked.group(2)), size - 1) if asked.group(2) else size - 1
                status = b"206 Partial Content"
                extra = b"Content-Range: bytes %d-%d/%d\r\n" % (start, end, size)
            else:
                status, extra = b"200 OK", b""
            send(
                conn,
                b"HTTP/1.1 %s\r\nContent-Type: application/octet-stream\r\n%sContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % (status, extra, end - start + 1),
            )
            offset = start
            while offset <= end and not stop.is_set():
                if stall_after is not None and offset - start >= stall_after:
                    stop.wait()  # hold the connection open, send nothing more
                    return
                wanted = min(65536, end + 1 - offset)
                if stall_after is not None:
                    wanted = min(wanted, start + stall_after - offset)
                if bucket is not None:
                    wanted = bucket.take(wanted, stop)
                    if not wanted:
                        return
                send(conn, _synthetic(offset, wanted, GZIP_HEAD if asked_path.endswith(".gz") else FILE_HEAD))
                offset += wanted
        except OSError:
            pass  # the client went away: normal for a client that stops at its cap
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    with _listening(handle, host) as port:
        scheme = "https" if tls is not None else "http"
        stats.port, stats.folder = port, f"{scheme}://{host}:{port}/"
        stats.url = stats.folder + next(iter(sizes)).lstrip("/")
        yield stats


class FolderServer(ThreadedHTTPServer):
    """A real HTTP server on 127.0.0.1 serving files by name, like a mirror folder.

    ``files`` maps a file name to its bytes; a name in ``html`` answers 200 with a login page
    instead (what a proxy or captive portal serves); any other path is a 404. ``requests``
    records the paths asked for. Use as a context manager; ``url`` is the folder URL (ends in /).
    """

    def __init__(self, files: dict[str, bytes], html: frozenset[str] = frozenset()) -> None:
        self.files = dict(files)
        self.html = set(html)
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(name)
                if name in server.html:
                    body = b"<!doctype html><html><body>Please log in to the proxy</body></html>"
                elif name in server.files:
                    body = server.files[name]
                else:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

        self._serve(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@contextlib.contextmanager
def pproxy(auth: str | None = None) -> Iterator[int]:
    """The real pproxy program as a plain HTTP proxy on loopback (``auth`` = ``user:pass``): its port."""
    if PPROXY is None:
        raise FileNotFoundError("pproxy is not installed in this environment")
    port = free_port()
    listen = f"http://127.0.0.1:{port}" + (f"#{auth}" if auth else "")
    # --auth 0: check credentials on every request (by default pproxy trusts an IP once it authenticated).
    argv = [PPROXY, "-l", listen, *(["--auth", "0"] if auth else [])]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
