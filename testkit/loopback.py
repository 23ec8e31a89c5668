"""Loopback helpers with no test-framework dependency, shared by the tests and the benchmarks."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


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
