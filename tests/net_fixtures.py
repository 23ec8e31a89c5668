"""Real loopback servers for the network, proxy and TLS tests (127.0.0.1 only).

- :class:`DatasetServer`: an HTTP(S) server (``http.server`` in a thread, TLS from a
  trustme CA) that serves a fake ``mnist.npz`` the size the dataset spec expects, or a
  chosen failure: an HTTP status, an HTML page, a wrong length.
- silent servers (accept, never answer) live in :mod:`testkit.loopback`, shared with the benchmarks.
- :func:`pproxy`: the real ``pproxy`` program as an HTTP proxy, optionally with auth.
- :func:`run_doctor`: the CLI as a subprocess with an explicit environment, JSON parsed.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from mnist_doctor.dataset import MNIST

VENV_BIN = Path(sys.executable).parent
PPROXY = VENV_BIN / "pproxy"
FAKE_NPZ_HEAD = b"PK\x03\x04" + b"\0" * 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    return free_port()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        mode = self.server.mode
        if isinstance(mode, int):
            self._send(mode, b"<html><body>denied</body></html>", "text/html; charset=utf-8")
        elif mode == "html":
            self._send(200, b"<!DOCTYPE html><html><head><title>Sign in</title></head></html>", "text/html")
        elif mode == "wrong_length":
            body = FAKE_NPZ_HEAD * 10
            self._send(200, body, "application/octet-stream")
        else:
            total = MNIST.size
            self.send_response(206)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Range", f"bytes 0-{len(FAKE_NPZ_HEAD) - 1}/{total}")
            self.send_header("Content-Length", str(len(FAKE_NPZ_HEAD)))
            self.end_headers()
            self.wfile.write(FAKE_NPZ_HEAD)

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    mode: Any = "ok"


class DatasetServer:
    """A fake dataset host on 127.0.0.1; ``https=True`` wraps it in a trustme certificate."""

    def __init__(self, mode: Any = "ok", ca: trustme.CA | None = None) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.mode = mode
        self.scheme = "http"
        if ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/tensorflow/tf-keras-datasets/mnist.npz"

    def __enter__(self) -> DatasetServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def pproxy(auth: str | None = None) -> Iterator[int]:
    """The real pproxy program as a plain HTTP proxy on loopback (``auth`` = ``user:pass``)."""
    if not PPROXY.exists():
        pytest.skip("pproxy is not installed in this environment")
    port = free_port()
    listen = f"http://127.0.0.1:{port}" + (f"#{auth}" if auth else "")
    # --auth 0: check credentials on every request (by default pproxy trusts an IP once it authenticated).
    argv = [str(PPROXY), "-l", listen, *(["--auth", "0"] if auth else [])]
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


def clean_env(**extra: str) -> dict[str, str]:
    """A child environment with no proxy or CA variables except the ones given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy")
        and k
        not in (
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "PYTHONHTTPSVERIFY",
            "REQUEST_METHOD",
            "MNIST_DOCTOR_ORIGIN",
        )
    }
    env.update(extra)
    return env


def run_doctor(
    origin: str | None,
    env: dict[str, str],
    *args: str,
    fmt: str = "json",
    select: str = "network",
    timeout: float = 15.0,
) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        "-m",
        "mnist_doctor",
        "--format",
        fmt,
        "--select",
        select,
        "--timeout",
        str(timeout),
    ]
    if origin:
        argv += ["--origin", origin]
    return subprocess.run([*argv, *args], env=env, capture_output=True, text=True, timeout=timeout + 30)


def doctor_json(
    origin: str | None, env: dict[str, str], *args: str, select: str = "network", timeout: float = 15.0
) -> dict[str, dict[str, Any]]:
    """Results by id from ``mnist-doctor --format json``."""
    proc = run_doctor(origin, env, *args, select=select, timeout=timeout)
    try:
        report = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(
            f"no JSON (rc {proc.returncode}): {proc.stdout[-500:]} {proc.stderr[-2000:]}"
        ) from exc
    return {r["id"]: r for r in report["results"]}


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path
