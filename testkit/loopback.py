"""Loopback servers and ports for the tests and the benchmarks (127.0.0.1 only, no pytest).

- :class:`DatasetServer`: a real HTTP(S) server (``http.server`` in a thread) standing in for
  the dataset host, scripted per request: the dataset's head as a 206 partial answer (what the
  network checks need, without 11 MB of payload), a full payload, a cut body, an HTML login
  page, a wrong Content-Length, or an HTTP error status.
- :func:`silent_server`: accepts connections and never answers (the "frozen host").
- :func:`pproxy`: the real ``pproxy`` program as an HTTP proxy, optionally with credentials.
- :func:`free_port`, :func:`closed_port`, :func:`wait_for_port`.

One server for every test that needs a dataset host, so a fault is produced the same way
whichever part of the doctor (network checks, ``--fetch``, the TLS trust checks) meets it.
"""

from __future__ import annotations

import contextlib
import http.server
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_doctor.dataset import MNIST

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


class DatasetServer:
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
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.scheme = "https" if tls else "http"
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

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
    def port(self) -> int:
        port: int = self.httpd.server_address[1]
        return port

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

    def __enter__(self) -> DatasetServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """Accepts connections and holds them open without ever answering."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(1)
        for sock in held:
            sock.close()
        listener.close()


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
