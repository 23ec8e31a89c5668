"""Real parts for the load tests: a TLS-intercepting mitmdump on 127.0.0.1, isolated homes, npz files.

The proxy (``tests/load_mitm_addon.py``) answers for ``storage.googleapis.com`` itself and
never contacts an upstream, so the *real* ``load_data()`` goes through Keras' real
``urlretrieve`` and only ever talks to loopback. Every environment is explicit: this
machine sets ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE`` globally, and the tests must never
see (or touch) the real ``~/.keras``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testkit.loopback import free_port

VENV_BIN = Path(sys.executable).parent
MITMDUMP = shutil.which("mitmdump", path=str(VENV_BIN)) or shutil.which("mitmdump")
ADDON = Path(__file__).with_name("load_mitm_addon.py")
SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"
#: Time a probe may take: TensorFlow's import alone costs several seconds on 2 shared cores.
PROBE_TIMEOUT_S = 90.0
#: For the "upstream never answers" case: long enough for the TF import, short enough for a test.
HANG_TIMEOUT_S = 25.0

needs_mitmdump = pytest.mark.skipif(MITMDUMP is None, reason="mitmdump (mitmproxy) is not installed")


@dataclass
class Mitm:
    port: int
    confdir: Path

    @property
    def ca_file(self) -> Path:
        """The CA mitmproxy signs its forged certificates with (PEM)."""
        return self.confdir / "mitmproxy-ca-cert.pem"

    def url(self, userinfo: str = "") -> str:
        return f"http://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}"


@contextlib.contextmanager
def mitm_proxy(
    tmp: Path,
    fault: str,
    *,
    proxyauth: str | None = None,
    fault_file: Path | None = None,
    fault_dir: Path | None = None,
    hosts: tuple[str, ...] = (),
) -> Iterator[Mitm]:
    """Start ``mitmdump`` answering for the dataset host with ``fault``; stop it afterwards."""
    if MITMDUMP is None:
        pytest.skip("mitmdump is not installed")
    port = free_port()
    confdir = tmp / "mitm-conf"
    confdir.mkdir(exist_ok=True)
    argv = [
        MITMDUMP,
        "-q",
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        str(port),
        "--set",
        f"confdir={confdir}",
        "--set",
        "connection_strategy=lazy",
        "-s",
        str(ADDON),
    ]
    if proxyauth:
        argv += ["--set", f"proxyauth={proxyauth}"]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "MNIST_DOCTOR_FAULT": fault}
    if fault_file:
        env["MNIST_DOCTOR_FAULT_FILE"] = str(fault_file)
    if fault_dir:
        env["MNIST_DOCTOR_FAULT_DIR"] = str(fault_dir)
    if hosts:
        env["MNIST_DOCTOR_FAULT_HOSTS"] = ",".join(hosts)
    log = (tmp / "mitmdump.log").open("w")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_listening(port, proc, confdir)
        yield Mitm(port, confdir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _wait_listening(port: int, proc: subprocess.Popen[bytes], confdir: Path, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mitmdump exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            if (confdir / "mitmproxy-ca-cert.pem").exists():
                return
        time.sleep(0.2)
    raise RuntimeError("mitmdump did not start listening in time")


def probe_env(
    home: Path, *, proxy: str | None = None, ca_file: Path | str | None = SYSTEM_CAS, **extra: str
) -> dict[str, str]:
    """A complete, explicit environment: temporary HOME and KERAS_HOME, chosen proxy and CA file."""
    keras_home = home / ".keras"
    keras_home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "KERAS_HOME": str(keras_home),
        "LANG": "C.UTF-8",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    if ca_file:
        env["SSL_CERT_FILE"] = str(ca_file)
    if proxy:
        env["HTTPS_PROXY"] = proxy
        env["NO_PROXY"] = ""
    env.update(extra)
    return env


def synthetic_npz(path: Path) -> Path:
    """An npz with MNIST's arrays, shapes and dtypes, but not its bytes (so its sha256 differs)."""
    import numpy as np

    buffer = io.BytesIO()
    labels = (np.arange(60000) % 10).astype(np.uint8)
    np.savez_compressed(
        buffer,
        x_train=np.zeros((60000, 28, 28), dtype=np.uint8),
        y_train=labels,
        x_test=np.zeros((10000, 28, 28), dtype=np.uint8),
        y_test=labels[:10000],
    )
    path.write_bytes(buffer.getvalue())
    return path
