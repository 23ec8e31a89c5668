"""The stand-in internet: the real dataset host names, answered on loopback, trusted by default.

Online claims are tested where neither the doctor nor Keras can tell the stand-in from the real
thing — the direct path, the real host name, the machine's default trust store, no flags and no
variables:

- a network namespace with only loopback (``unshare --mount --net``, as root): nothing leaves the
  machine, and a name that is not mapped fails to resolve at once, as on an offline machine;
- a copy of ``/etc/hosts`` that maps every ``keras.datasets`` host to 127.0.0.1, bind-mounted over
  the original inside the namespace only;
- a private CA shaped like the real one (root → intermediate → leaf for every dataset host, the
  server sending leaf and intermediate); its root is appended to *copies* of OpenSSL's default
  bundle, certifi's and pip's, bind-mounted over the originals: urllib, requests and pip trust it
  with no ``SSL_CERT_FILE`` or ``REQUESTS_CA_BUNDLE``;
- servers on ``127.0.0.1:443`` (TLS) and ``:80`` inside the namespace, answering each path with the
  :class:`Reply` a test scripted: a status with headers, a body cut after N bytes or reset, a
  trickle, a stall. They run in this process: their listening sockets are made in the namespace
  (``setns`` in a short-lived thread), so a test scripts them with plain Python.

Commands run inside with :meth:`StandinInternet.run` (``nsenter``). Keras pins the real file's
hash, which is not available here: the synthetic file is accepted through
:mod:`testkit.keras_hook` in the examined interpreter, and the doctor reads the same hash from its
test hooks. Everything is bounded in time and torn down with the namespace.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import datetime
import hashlib
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import trustme

from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.datasets.table import table
from testkit.doctor import DoctorRun, network_env
from testkit.keras_hook import SYNTHETIC_SHA256_ENV, write_hook
from testkit.npz import write_synthetic_mnist

CLONE_NEWNET = 0x40000000
#: The user's own line, run after a fix to prove it works.
USER_LINE = "import tensorflow as tf; (x, y), _ = tf.keras.datasets.mnist.load_data(); print(x.shape)"
#: The stand-in network's CONNECT proxy (inside the namespace, like the host).
PROXY_PORT = 3128
#: How long a connection may be kept by a stalled or trickling reply before the server lets go.
HOLD_LIMIT_S = 60.0
_READ_LIMIT = 64 * 1024


def why_unavailable() -> str | None:
    """Why the stand-in internet cannot be built here (None when it can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root for network and mount namespaces (CI runs as root)"
    missing = [tool for tool in ("unshare", "nsenter", "ip", "mount") if shutil.which(tool) is None]
    if missing:
        return f"needs {', '.join(missing)} (util-linux, iproute2)"
    return None


def dataset_hosts() -> tuple[str, ...]:
    """Every host a ``keras.datasets`` loader downloads from."""
    return tuple(sorted({h for dataset in table().values() for h in dataset.hosts}))


@dataclass(frozen=True)
class Reply:
    """What the stand-in host answers to one request for a path.

    ``cut_after``: the full Content-Length is announced, that many body bytes are sent, then the
    connection closes cleanly; ``reset_after``: the same, then a TCP reset; ``rate``: the body
    trickles at that many bytes per second; ``stall``: the request is read and never answered.
    A ``Range`` request to a plain 200 gets a 206 with that range, as the real host answers.
    """

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    cut_after: int | None = None
    reset_after: int | None = None
    rate: float | None = None
    stall: bool = False


@dataclass
class Request:
    """One request the stand-in host received."""

    method: str
    target: str
    headers: dict[str, str]
    tls: bool


@dataclass
class StandinInternet:
    """The namespace, its trust and names, and the servers answering for the dataset hosts."""

    root: Path
    #: The file served as ``mnist.npz`` (synthetic, MNIST's layout) and its sha256.
    dataset: Path
    sha256: str
    pid: int
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    hook: Path = field(default_factory=Path)
    #: What the TLS server on :443 presents (see :meth:`present`).
    tls: ssl.SSLContext | None = None
    intermediate: trustme.CA | None = None
    #: The CA of the ``untrusted`` variant (its root is in no store here), once presented.
    untrusted_ca: trustme.CA | None = None
    #: ``user:password`` the proxy demands (407 without them); None: it asks for none.
    proxy_credentials: str | None = None
    #: The status the proxy answers every CONNECT with instead of opening a tunnel (403: blocked
    #: by policy, 502: cannot reach the host, 503: overloaded); None: it tunnels.
    proxy_status: int | None = None
    #: CONNECT requests the proxy on :data:`PROXY_PORT` accepted.
    proxied: list[Request] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _listeners: dict[int, tuple[socket.socket, threading.Event, threading.Thread]] = field(
        default_factory=dict
    )

    # ------------------------------------------------------------------ scripting the host

    def answer(self, url_or_path: str, *replies: Reply) -> None:
        """Answer requests for this path with ``replies`` in turn (the last one repeats)."""
        path = urlsplit(url_or_path).path if "://" in url_or_path else url_or_path
        self.routes[path] = list(replies)

    def serve_dataset(self) -> None:
        """The healthy host: ``mnist.npz`` at its real path, with Range support."""
        self.answer(
            MNIST.origin,
            Reply(200, self.dataset.read_bytes(), (("Content-Type", "application/octet-stream"),)),
        )

    def _reply_for(self, path: str) -> Reply:
        replies = self.routes.get(path)
        if not replies:
            return Reply(404, b"<html><body>Not Found</body></html>", (("Content-Type", "text/html"),))
        return replies.pop(0) if len(replies) > 1 else replies[0]

    def present(self, certificate: str) -> None:
        """What the host's TLS server presents from now on, for every dataset host name:

        ``good`` (leaf and intermediate of the trusted private CA), ``other-name`` (a trusted
        chain for another name), ``expired`` (a trusted chain, expired yesterday), ``untrusted``
        (a chain from a CA no store here trusts), ``incomplete`` (the leaf without its
        intermediate, as a misconfigured server sends it).
        """
        assert self.intermediate is not None
        hosts = dataset_hosts()
        if certificate == "good":
            leaf = self.intermediate.issue_cert(*hosts)
        elif certificate == "other-name":
            leaf = self.intermediate.issue_cert("other.example")
        elif certificate == "expired":
            now = datetime.datetime.now(datetime.timezone.utc)
            leaf = self.intermediate.issue_cert(
                *hosts,
                not_before=now - datetime.timedelta(days=30),
                not_after=now - datetime.timedelta(days=1),
            )
        elif certificate == "untrusted":
            self.untrusted_ca = trustme.CA()
            leaf = self.untrusted_ca.create_child_ca().issue_cert(*hosts)
        elif certificate == "incomplete":
            leaf = self.intermediate.issue_cert(*hosts)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            with _pem_files(leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes()) as (cert, key):
                context.load_cert_chain(cert, key)
            self.tls = context
            return
        else:
            raise ValueError(f"unknown certificate variant {certificate!r}")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)  # the leaf and its intermediates, as a real host sends them
        self.tls = context

    # ------------------------------------------------------------------ running inside

    def env(self, home: Path, *, without_ssl: bool = False, **extra: str) -> dict[str, str]:
        """A user's environment inside: no proxy, no trust variables, the Keras hook, a fresh HOME.

        ``without_ssl``: the interpreter behaves as one built without OpenSSL (``import ssl`` fails
        with ``No module named '_ssl'``), the doctor's own process and the user's line included.
        """
        hook = self._hook_without_ssl() if without_ssl else self.hook
        env = network_env(
            HOME=str(home),
            PYTHONPATH=str(hook),
            MNIST_DOCTOR_SHA256=self.sha256,
            MNIST_DOCTOR_SIZE=str(self.dataset.stat().st_size),
            **{SYNTHETIC_SHA256_ENV: self.sha256},
        )
        for name in ("KERAS_HOME", "PIP_CERT", "NIX_SSL_CERT_FILE"):  # trust and cache by default
            env.pop(name, None)
        env.update(extra)
        return env

    def _hook_without_ssl(self) -> Path:
        folder = self.root / "hook-without-ssl"
        folder.mkdir(exist_ok=True)
        keras = (self.hook / "sitecustomize.py").read_text(encoding="utf-8")
        (folder / "sitecustomize.py").write_text(keras + NO_SSL_HOOK, encoding="utf-8")
        return folder

    def run(
        self, argv: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` inside the namespace (its names, its trust, its loopback)."""
        inside = ["nsenter", f"--target={self.pid}", "--mount", "--net", "--", *argv]
        return subprocess.run(
            inside, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )

    def doctor(
        self, *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 240
    ) -> DoctorRun:
        done = self.run([sys.executable, "-m", "mnist_doctor", *args], env, cwd, timeout)
        return DoctorRun(done.returncode, done.stdout, done.stderr)

    def user_line(self, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """The user's own ``load_data()`` line, inside."""
        return self.run([sys.executable, "-c", USER_LINE], env, cwd, timeout=240)

    def private_tmp(self, keep: Path) -> None:
        """Give the namespace its own empty ``/tmp``, with ``keep`` (a folder under /tmp, such as
        the test's tmp_path holding this world and the user's home) still at its path.

        Keras' fallback cache is ``/tmp/.keras``, hard-coded: a test whose Keras falls back there
        must not write into, or read from, the machine's real one.
        """
        keep = keep.resolve()
        assert keep.is_relative_to("/tmp") and keep != Path("/tmp"), keep
        if not Path("/mnt").is_dir():
            raise RuntimeError("private_tmp needs /mnt as a temporary mount point")
        steps = [
            f"mount --bind {_sh(keep)} /mnt",
            "mount -t tmpfs -o mode=1777 standin-tmp /tmp",
            f"mkdir -p {_sh(keep)}",
            f"mount --bind /mnt {_sh(keep)}",
            "umount /mnt",
        ]
        done = self.run(["sh", "-c", " && ".join(steps)], dict(os.environ))
        if done.returncode != 0:
            raise RuntimeError(f"private /tmp failed: {done.stderr.strip()[:500]}")

    def read_only(self, folder: Path) -> None:
        """Make ``folder`` read-only inside (a bind mount remounted ``ro``): writes fail with
        EROFS even for root, as on a read-only volume, and no chmod can change that."""
        steps = [f"mount --bind {_sh(folder)} {_sh(folder)}", f"mount -o remount,ro,bind {_sh(folder)}"]
        done = self.run(["sh", "-c", " && ".join(steps)], dict(os.environ))
        if done.returncode != 0:
            raise RuntimeError(f"read-only mount failed: {done.stderr.strip()[:500]}")

    # ------------------------------------------------------------------ serving

    def listen(self, port: int, role: str) -> None:
        """Serve ``role`` on 127.0.0.1:port inside: ``https`` (the host's TLS), ``http`` (plain),
        ``proxy`` (a CONNECT proxy whose tunnels lead to the host's TLS server) or ``silent``
        (accepts connections, reads nothing, never answers: a dead proxy's port, say)."""
        listener = _listener_in(f"/proc/{self.pid}/ns/net", port)
        stop = threading.Event()
        thread = threading.Thread(target=self._serve, args=(listener, role, stop), daemon=True)
        self._listeners[port] = (listener, stop, thread)
        thread.start()

    def refuse(self, port: int) -> None:
        """Stop listening on ``port``: a connection to it is refused, as a firewall's RST does."""
        listener, stop, thread = self._listeners.pop(port)
        stop.set()
        thread.join(2)
        listener.close()

    def _serve(self, listener: socket.socket, role: str, stop: threading.Event) -> None:
        listener.settimeout(0.2)
        while not (stop.is_set() or self._stop.is_set()):
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            if role == "proxy":
                threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()
                continue
            if role == "silent":
                threading.Thread(target=self._hold, args=(conn,), daemon=True).start()
                continue
            tls = self.tls if role == "https" else None
            threading.Thread(target=self._handle, args=(conn, tls), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        """Keep the connection open and say nothing, until the client leaves or the world ends."""
        with conn:
            self._stop.wait(HOLD_LIMIT_S)

    def _tunnel(self, conn: socket.socket) -> None:
        """A CONNECT proxy: ``CONNECT host:443`` to a dataset host is answered 200, and the tunnel
        is handed to the host's TLS server itself (the host lives in this process)."""
        conn.settimeout(10)
        try:
            request = _read_request(conn, False)
        except OSError:
            conn.close()
            return
        host = (request.target.rsplit(":", 1)[0] if request else "").strip("[]")
        if request is None or request.method != "CONNECT" or host not in dataset_hosts():
            with contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            conn.close()
            return
        if self.proxy_credentials and request.headers.get("proxy-authorization") != _basic(
            self.proxy_credentials
        ):
            with contextlib.suppress(OSError):
                conn.sendall(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic "
                    b'realm="office"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
                )
            conn.close()
            return
        if self.proxy_status is not None:
            reason = _REASONS.get(self.proxy_status, "Status")
            page = f"<html><body>{self.proxy_status} {reason} (office proxy)</body></html>".encode()
            head = (
                f"HTTP/1.1 {self.proxy_status} {reason}\r\nContent-Type: text/html\r\n"
                f"Content-Length: {len(page)}\r\nConnection: close\r\n\r\n"
            )
            with contextlib.suppress(OSError):
                conn.sendall(head.encode("latin-1") + page)
            conn.close()
            return
        self.proxied.append(request)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._handle(conn, self.tls)

    def _handle(self, conn: socket.socket, tls: ssl.SSLContext | None) -> None:
        conn.settimeout(10)
        try:
            stream: socket.socket = tls.wrap_socket(conn, server_side=True) if tls else conn
        except (OSError, ssl.SSLError):
            conn.close()
            return
        try:
            request = _read_request(stream, tls is not None)
            if request is None:
                return
            self.requests.append(request)
            self._send(stream, request, self._reply_for(urlsplit(request.target).path))
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                stream.close()

    def _send(self, stream: socket.socket, request: Request, reply: Reply) -> None:
        if reply.stall:
            self._stop.wait(HOLD_LIMIT_S)
            return
        status, body, headers = reply.status, reply.body, dict(reply.headers)
        wanted = request.headers.get("range", "")
        if status == 200 and wanted.startswith("bytes="):
            first, _, last = wanted[6:].partition("-")
            start = int(first or 0)
            end = min(int(last) if last else len(body) - 1, len(body) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
            status, body = 206, body[start : end + 1]
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()] + ["Connection: close", "", ""]
        stream.sendall("\r\n".join(head).encode("latin-1"))
        if request.method == "HEAD":
            return
        limit = len(body)
        for cut in (reply.cut_after, reply.reset_after):
            if cut is not None:
                limit = min(limit, cut)
        self._send_body(stream, body[:limit], reply.rate)
        if reply.reset_after is not None and limit < len(body):  # only a transfer it really cuts
            stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    def _send_body(self, stream: socket.socket, body: bytes, rate: float | None) -> None:
        if rate is None:
            stream.sendall(body)
            return
        chunk = max(1, int(rate / 10))
        ends = time.monotonic() + HOLD_LIMIT_S
        for start in range(0, len(body), chunk):
            if self._stop.is_set() or time.monotonic() > ends:
                return
            stream.sendall(body[start : start + chunk])
            time.sleep(chunk / rate)

    def close(self) -> None:
        self._stop.set()
        for port in list(self._listeners):
            self.refuse(port)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, 9)


#: Appended to the Keras hook: ``_ssl`` cannot be imported, exactly as on a Python built without it.
NO_SSL_HOOK = """

class _WithoutSsl(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "_ssl":
            raise ModuleNotFoundError("No module named '_ssl'", name="_ssl")
        return None


sys.meta_path.insert(0, _WithoutSsl())
"""

_REASONS = {
    200: "OK", 206: "Partial Content", 301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect",
    308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    407: "Proxy Authentication Required", 410: "Gone", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}  # fmt: skip


def _read_request(stream: socket.socket, tls: bool) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = stream.recv(4096)
        if not chunk:
            return None
        data += chunk
        if len(data) > _READ_LIMIT:
            return None
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, target = [*lines[0].split(" "), "", ""][:2]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Request(method, target, headers, tls)


def _sh(path: Path) -> str:
    return shlex.quote(str(path))


def _basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


@contextlib.contextmanager
def _pem_files(cert: bytes, key: bytes) -> Iterator[tuple[str, str]]:
    """A certificate and its key as files (``load_cert_chain`` reads files only), removed after."""
    with tempfile.TemporaryDirectory() as folder:
        paths = (os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem"))
        for path, data in zip(paths, (cert, key), strict=True):
            Path(path).write_bytes(data)
        yield paths


def _listener_in(netns: str, port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port *inside* the namespace (``setns`` in a thread of its own:
    a thread's network namespace is its own, and a socket stays in the namespace it was made in)."""
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def inside() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(netns, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns into the stand-in namespace failed")
            finally:
                os.close(fd)
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(64)
            made.append(listener)
        except BaseException as exc:  # reported to the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=inside, name="standin-setns")
    thread.start()
    thread.join(10)
    if failed or not made:
        raise RuntimeError(f"no listener on :{port} in the stand-in namespace: {failed}")
    return made[0]


def _trusted_copy(original: Path, root_pem: bytes, into: Path) -> Path:
    copy = into / (original.name + f".{abs(hash(str(original)))}")
    copy.write_bytes(original.read_bytes().rstrip(b"\n") + b"\n" + root_pem)
    return copy


def _bundles() -> list[Path]:
    """The CA bundles urllib (OpenSSL's default), requests (certifi) and pip (its certifi) read."""
    paths = ssl.get_default_verify_paths()
    found = {Path(p).resolve() for p in (paths.cafile, paths.openssl_cafile) if p and Path(p).exists()}
    with contextlib.suppress(ImportError):
        import certifi

        found.add(Path(certifi.where()).resolve())
    with contextlib.suppress(ImportError):
        from pip._vendor import certifi as pip_certifi

        found.add(Path(pip_certifi.where()).resolve())
    return sorted(found)


@contextlib.contextmanager
def standin_internet(root: Path) -> Iterator[StandinInternet]:
    """Build the stand-in internet under ``root``, serve the dataset healthy, tear it all down after."""
    reason = why_unavailable()
    if reason:
        raise RuntimeError(reason)
    root.mkdir(parents=True, exist_ok=True)
    hosts = dataset_hosts()
    ca = trustme.CA()
    root_pem = ca.cert_pem.bytes()
    mounts = [(_trusted_copy(b, root_pem, root), b) for b in _bundles()]
    hosts_file = root / "hosts"
    hosts_file.write_text(Path("/etc/hosts").read_text() + "".join(f"127.0.0.1 {h}\n" for h in hosts))
    mounts.append((hosts_file, Path("/etc/hosts")))
    ready = root / "ready"
    script = " && ".join(
        ["ip link set lo up", *(f"mount --bind '{src}' '{dst}'" for src, dst in mounts), f"touch '{ready}'"]
    )
    unshare = ["unshare", "--mount", "--net", "--propagation", "private", "--"]
    holder = subprocess.Popen(
        [*unshare, "sh", "-c", script + " && exec sleep 900"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while not ready.exists():
        if holder.poll() is not None or time.monotonic() > deadline:
            holder.kill()
            error = holder.stderr.read().decode(errors="replace") if holder.stderr else ""
            raise RuntimeError(f"the stand-in namespace did not come up: {error.strip()[:500]}")
        time.sleep(0.02)
    dataset = write_synthetic_mnist(root / "mnist.npz", seed=7)
    world = StandinInternet(
        root=root,
        dataset=dataset,
        sha256=hashlib.sha256(dataset.read_bytes()).hexdigest(),
        pid=holder.pid,
        hook=write_hook(root / "hook").parent,
        intermediate=ca.create_child_ca(),
    )
    world.present("good")
    world.serve_dataset()
    try:
        world.listen(443, "https")
        world.listen(80, "http")
        world.listen(PROXY_PORT, "proxy")
        yield world
    finally:
        world.close()
        holder.wait(10)
