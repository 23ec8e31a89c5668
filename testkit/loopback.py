"""Loopback helpers with no test-framework dependency, shared by the tests and the benchmarks.

- :func:`silent_server`: accepts connections and never answers.
- :func:`served_file`: a synthetic dataset file over HTTP(S) at a chosen speed (a token
  bucket), honouring ``Range`` or not, optionally stalling after some bytes; it counts every
  connection and request, so a test can assert that none was made (``--offline``).
- :class:`FolderServer`: real files (or an HTML login page) by name, like a mirror folder.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

#: What a served file starts with (the bytes of a zip, as an ``.npz`` does); zeros follow.
FILE_HEAD = b"PK\x03\x04"
_RANGE = re.compile(rb"^range:\s*bytes=(\d+)-(\d*)\s*$", re.IGNORECASE | re.MULTILINE)


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


def _synthetic(offset: int, length: int) -> bytes:
    """Bytes ``offset`` to ``offset + length`` of the served file: ``FILE_HEAD``, then zeros."""
    head = FILE_HEAD[offset : offset + length] if offset < len(FILE_HEAD) else b""
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
    a mirror folder; any other path is a 404. ``url`` is then the first path's.

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
            size = sizes.get(line.split(" ")[1] if line.count(" ") >= 2 else "")
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
                send(conn, _synthetic(offset, wanted))
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


class FolderServer:
    """A real HTTP server on 127.0.0.1 serving files by name, like a mirror folder.

    ``files`` maps a file name to its bytes; a name in ``html`` answers 200 with a login page
    instead (what a proxy or captive portal serves); any other path is a 404. ``requests``
    records the paths asked for. Use as a context manager; ``url`` is the folder URL (ends in /).
    """

    def __init__(self, files: dict[str, bytes], html: frozenset[str] = frozenset()) -> None:
        import http.server

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

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self) -> FolderServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
