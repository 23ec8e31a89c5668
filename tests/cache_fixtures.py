"""Fixtures for the cache tests: synthetic MNIST files, isolated homes, a loopback server, other users.

Every test gets its own HOME (and no KERAS_HOME) so the real ``~/.keras`` is never read
or written. The synthetic ``mnist.npz`` has MNIST's keys, shapes and dtypes; its spec is
built with ``DatasetSpec.with_file`` from a hash computed here. (PYTEST_DONT_REWRITE: no asserts here.)
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnist_doctor.dataset import MNIST, DatasetSpec
from mnist_doctor.facts import Facts, Options
from testkit.npz import write_synthetic_mnist

REPO = Path(__file__).resolve().parent.parent
#: A uid/gid no account uses here (checked by the fixture) for "another user" tests.
OTHER_UID = 23456
OWNER_UID = 23457


def spec_for(path: Path, origin: str | None = None) -> DatasetSpec:
    data = path.read_bytes()
    spec = MNIST.with_file(hashlib.sha256(data).hexdigest(), len(data))
    return spec.with_origin(origin) if origin else spec


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic")
    write_synthetic_mnist(folder / "mnist.npz", seed=1)
    write_synthetic_mnist(folder / "other-mnist.npz", seed=2)
    return folder


@pytest.fixture
def good_npz(synthetic_dir: Path) -> Path:
    """The synthetic file the spec of ``spec`` pins."""
    return synthetic_dir / "mnist.npz"


@pytest.fixture
def spec(good_npz: Path) -> DatasetSpec:
    return spec_for(good_npz)


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME for this test (the introspection subprocess inherits it); KERAS_HOME unset."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return home


def make_facts(spec: DatasetSpec, **overrides: object) -> Facts:
    return Facts(Options(python=sys.executable, timeout=60), overrides={"dataset": spec, **overrides})


def datasets_dir(home: Path) -> Path:
    folder = home / ".keras" / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def tree_snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root`` (links as their target text, files as bytes) to compare before/after."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                out[key] = "-> " + os.readlink(path)
            elif path.is_file():
                out[key] = path.read_bytes()
            else:
                out[key] = "dir"
    return out


# ---------------------------------------------------------------- other users


def _uid_free(uid: int) -> bool:
    import pwd

    try:
        pwd.getpwuid(uid)
    except KeyError:
        return True
    return False


def can_switch_user() -> str | None:
    """Why tests as another user cannot run here, or None when they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root to chown files and switch to another uid (run as root, e.g. in CI's container)"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    if not (_uid_free(OTHER_UID) and _uid_free(OWNER_UID)):
        return f"uids {OTHER_UID}/{OWNER_UID} belong to real accounts here"
    return _interpreter_problem_as(OTHER_UID)


@functools.cache
def _interpreter_problem_as(uid: int) -> str | None:
    """Whether uid can run this interpreter (a pyenv build may load libpython from root's 0700 home)."""
    argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c", "pass"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")
    if done.returncode != 0:
        return f"uid {uid} cannot run {sys.executable}: {done.stderr.strip()[:200]}"
    return None


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp folder other users can traverse (pytest's tmp_path is 0700 root)."""
    folder = Path(tempfile.mkdtemp(prefix="mnist-doctor-cache-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_as(uid: int, code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` as ``uid`` (really: setpriv drops root), with the repo importable."""
    argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c", code]
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), **env}
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, cwd="/")


# ---------------------------------------------------------------- loopback HTTP server


class DatasetServer:
    """A real HTTP server on 127.0.0.1 serving one payload, with scripted misbehaviour.

    ``modes`` is consumed one per request (the last one repeats): ``full``, ``cut`` (sends the
    headers with the full Content-Length, half the body, then closes), ``html`` (a 200 login
    page) or ``404``. ``requests`` records the request lines (absolute URLs when proxied).
    """

    def __init__(self, payload: bytes, modes: list[str], tls: ssl.SSLContext | None = None) -> None:
        self.payload = payload
        self.modes = list(modes)
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(self.requestline)
                mode = server.modes.pop(0) if len(server.modes) > 1 else server.modes[0]
                if mode == "404":
                    self.send_error(404, "Not Found")
                    return
                body = (
                    b"<html><body>Please log in to the proxy</body></html>"
                    if mode == "html"
                    else server.payload
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if mode == "cut":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "https" if tls else "http"
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}/mnist.npz"

    def __enter__(self) -> DatasetServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
