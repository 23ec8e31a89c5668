"""A diagnosis changes nothing, and ``--offline`` opens no connection (issue 10, deliverables 1-2).

Real parts only: the real doctor CLI in a subprocess, the real ``load_data()`` in its probe,
real files in a temporary HOME, and a loopback listener that stands in as the proxy for
every scheme and counts every connection it is offered. The cache states are the ones users
have: nothing, the file the doctor believes pinned (the test hook pins a synthetic file),
an HTML page, a cut download, an empty file, a valid MNIST that is not Keras' file, a folder
where the file should be, and (as another user) a file that cannot be read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testkit.doctor import clean_env, run_doctor
from testkit.hostile import sigint_as_in_a_terminal
from tests.cache_fixtures import tree_snapshot, write_synthetic_mnist
from tests.marks import needs_tf

#: Every test here starts real processes (tests/tiers.py puts them in the e2e tier).
pytestmark = [pytest.mark.usefixtures("processes"), pytest.mark.timeout(600)]

UNRESOLVABLE_ORIGIN = "https://mnist-doctor-offline-test.invalid/tensorflow/mnist.npz"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY")


@contextlib.contextmanager
def counting_listener() -> Iterator[tuple[int, list[float]]]:
    """A loopback port that accepts, records and closes every connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    accepted: list[float] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                accepted.append(time.monotonic())
                conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def proxy_everything(port: int) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    env = {name: url for name in PROXY_VARIABLES}
    env.update({name.lower(): url for name in PROXY_VARIABLES})
    env["NO_PROXY"] = env["no_proxy"] = ""
    env["MNIST_DOCTOR_ORIGIN"] = UNRESOLVABLE_ORIGIN
    return env


# ---------------------------------------------------------------------------- cache states

State = Callable[[Path], dict[str, str]]


def _datasets(home: Path) -> Path:
    folder = home / ".keras" / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def absent(home: Path) -> dict[str, str]:
    return {}


def pinned(home: Path) -> dict[str, str]:
    """The doctor's pin is moved to a synthetic file (test hook); Keras still pins the real one."""
    path = write_synthetic_mnist(_datasets(home) / "mnist.npz", seed=3)
    data = path.read_bytes()
    return {"MNIST_DOCTOR_SHA256": hashlib.sha256(data).hexdigest(), "MNIST_DOCTOR_SIZE": str(len(data))}


def html(home: Path) -> dict[str, str]:
    (_datasets(home) / "mnist.npz").write_bytes(b"<!DOCTYPE html><html><body>Blocked by policy</body></html>")
    return {}


def truncated(home: Path) -> dict[str, str]:
    full = write_synthetic_mnist(home / "full.npz", seed=4).read_bytes()
    (_datasets(home) / "mnist.npz").write_bytes(full[: len(full) // 3])
    (home / "full.npz").unlink()
    return {}


def empty(home: Path) -> dict[str, str]:
    (_datasets(home) / "mnist.npz").write_bytes(b"")
    return {}


def other_mnist(home: Path) -> dict[str, str]:
    write_synthetic_mnist(_datasets(home) / "mnist.npz", seed=5)
    return {}


def folder(home: Path) -> dict[str, str]:
    (_datasets(home) / "mnist.npz").mkdir()
    (_datasets(home) / "mnist.npz" / "inside.txt").write_text("a user's file")
    return {}


STATES: dict[str, State] = {
    "absent": absent,
    "pinned": pinned,
    "html": html,
    "truncated": truncated,
    "empty": empty,
    "valid-but-different": other_mnist,
    "folder": folder,
}
#: The states issue 10 names for the byte-identical guarantee in every mode.
REPLACEABLE = ("html", "truncated", "valid-but-different", "empty")


def snapshot(home: Path) -> dict[str, bytes | str]:
    """Everything under ``~/.keras`` plus /tmp/.keras-free check of the doctor's own leftovers."""
    return tree_snapshot(home / ".keras") if (home / ".keras").exists() else {}


#: What importing Keras itself creates when absent (``keras/src/backend/config.py``), as the
#: user's own first ``import keras`` does: new entries, never a change to an existing one.
KERAS_IMPORT_CREATES = {"keras.json", "datasets"}


def assert_unchanged(before: dict[str, bytes | str], after: dict[str, bytes | str]) -> None:
    """Every existing entry is byte-identical; the only new ones are what ``import keras`` makes."""
    changed = {k for k in before if after.get(k) != before[k]}
    assert not changed, f"changed or removed: {sorted(changed)}"
    assert set(after) - set(before) <= KERAS_IMPORT_CREATES, sorted(set(after) - set(before))


def assert_no_traceback(run: object) -> None:
    text = run.stdout + run.stderr  # type: ignore[attr-defined]
    assert "Traceback (most recent call last)" not in text, text[-3000:]


# --------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("state", list(STATES))
def test_offline_opens_no_connection_and_changes_nothing(state: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    extra = STATES[state](home)
    before = snapshot(home)
    with counting_listener() as (port, accepted):
        run = run_doctor(
            "--offline",
            "--format",
            "json",
            env=clean_env(home, **proxy_everything(port), **extra),
            cwd=tmp_path,
            timeout=300,
        )
        time.sleep(0.3)  # a late connection attempt would still be counted
    assert_no_traceback(run)
    assert accepted == [], f"--offline opened {len(accepted)} connection(s) in state {state}"
    assert_unchanged(before, snapshot(home))
    load = run.result("load.real")
    if state in REPLACEABLE or state == "absent":
        assert load["status"] == "skip" and load["summary"].startswith("--offline: load_data not run"), load
    assert not list(tmp_path.glob("**/.mnist-doctor-*")), "the doctor left a file of its own"


@needs_tf
@pytest.mark.parametrize("mode", ["plain", "fix-dry-run"])
@pytest.mark.parametrize("state", REPLACEABLE)
def test_diagnosis_leaves_a_replaceable_copy_byte_identical(mode: str, state: str, tmp_path: Path) -> None:
    """Keras discards and downloads over these; the doctor's run must leave them as they were."""
    home = tmp_path / "home"
    home.mkdir()
    extra = STATES[state](home)
    before = snapshot(home)
    args = ["--format", "json", "--timeout", "90"] + (["--fix", "--dry-run"] if mode == "fix-dry-run" else [])
    with counting_listener() as (port, _accepted):
        run = run_doctor(*args, env=clean_env(home, **proxy_everything(port), **extra), cwd=tmp_path)
    assert_no_traceback(run)
    assert_unchanged(before, snapshot(home))
    if mode == "plain":
        load = run.result("load.real")
        assert load["status"] == "fail", load  # Keras discarded the copy and the download failed
        assert any("put your copy back" in d for d in load["details"]), load["details"]


def test_offline_with_another_users_unreadable_file_changes_nothing(tmp_path: Path) -> None:
    from tests.cache_fixtures import OTHER_UID, can_switch_user
    from tests.test_cache_new_user import SYSTEM_PYTHON, _system_python_problem

    problem = can_switch_user() or _system_python_problem()
    if problem:
        pytest.skip(problem)
    import sysconfig

    home = tmp_path / "home"
    datasets = _datasets(home)
    (datasets / "mnist.npz").write_bytes(b"PK\x03\x04 not readable by the user")
    os.chmod(datasets / "mnist.npz", 0)
    for path in (tmp_path, home, home / ".keras", datasets):
        os.chown(path, OTHER_UID, OTHER_UID)
    before = snapshot(home)
    with counting_listener() as (port, accepted):
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).parent.parent), sysconfig.get_paths()["purelib"]]
            ),
            "HOME": str(home),
            **proxy_everything(port),
        }
        argv = ["setpriv", f"--reuid={OTHER_UID}", f"--regid={OTHER_UID}", "--clear-groups"]
        argv += [str(SYSTEM_PYTHON), "-m", "mnist_doctor", "--offline", "--format", "json"]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, cwd=str(home))
    assert "Traceback (most recent call last)" not in done.stderr, done.stderr[-3000:]
    assert accepted == []
    assert_unchanged(before, snapshot(home))


# ------------------------------------------------- a download that truncated the user's file


@contextlib.contextmanager
def trickling_tunnel(tmp_path: Path, first_bytes: int = 65536) -> Iterator[tuple[int, Path]]:
    """An HTTPS proxy on loopback: CONNECT, TLS as the dataset host, headers and a first chunk, then silence.

    Keras opens the cached path with ``"wb"`` when the body starts, truncating the user's
    file, and then waits forever for the rest: the run ends by the doctor's budget or a signal.
    """
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("storage.googleapis.com")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(30)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            tls = context.wrap_socket(conn, server_side=True)
            held.append(tls)
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = tls.recv(4096)
                if not chunk:
                    return
                got += chunk
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            tls.sendall(head + b"Content-Length: 11490434\r\n\r\n")
            tls.sendall(b"PK\x03\x04" + b"\0" * (first_bytes - 4))
            stop.wait(120)

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], ca_file
    finally:
        stop.set()
        thread.join(2)
        for sock in held:
            with contextlib.suppress(OSError):
                sock.close()
        listener.close()


def _tunnel_env(home: Path, port: int, ca_file: Path) -> dict[str, str]:
    proxy = f"http://127.0.0.1:{port}"
    return clean_env(home, HTTPS_PROXY=proxy, https_proxy=proxy, NO_PROXY="", SSL_CERT_FILE=str(ca_file))


def _wait_truncated(path: Path, original: int, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if path.stat().st_size != original:
                return True
        time.sleep(0.1)
    return False


@needs_tf
def test_budget_kill_mid_download_restores_the_users_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    other_mnist(home)
    before = snapshot(home)
    with trickling_tunnel(tmp_path) as (port, ca_file):
        run = run_doctor(
            "--select", "load.real", "--format", "json", "--timeout", "40",
            env=_tunnel_env(home, port, ca_file), cwd=tmp_path, timeout=120,
        )  # fmt: skip
    assert_no_traceback(run)
    load = run.result("load.real")
    # Cut by the doctor's own --timeout: a warning naming the budget, never a fail.
    assert load["status"] == "warn" and "--timeout" in load["summary"], load
    assert load["hint"].startswith("mnist-doctor --timeout ")
    assert any("put your copy back" in d for d in load["details"]), load["details"]
    assert_unchanged(before, snapshot(home))


@needs_tf
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_download_restores_the_users_file(signum: int, code: int, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    other_mnist(home)
    before = snapshot(home)
    target = home / ".keras" / "datasets" / "mnist.npz"
    original = target.stat().st_size
    with trickling_tunnel(tmp_path) as (port, ca_file):
        proc = subprocess.Popen(
            [sys.executable, "-m", "mnist_doctor", "--select", "load.real", "--timeout", "120"],
            env=_tunnel_env(home, port, ca_file),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=sigint_as_in_a_terminal,
        )
        try:
            assert _wait_truncated(target, original, 90), "Keras never started writing over the file"
            proc.send_signal(signum)
            _out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err, err
    assert_unchanged(before, snapshot(home))
