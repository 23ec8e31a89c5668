"""``--fetch [--mirror URL]``: download the way Keras would (urllib), with timeouts, retries, hash check."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, BinaryIO

from rich.console import Console

from mnist_doctor import __version__
from mnist_doctor.actions._common import (
    ATTEMPTS,
    BACKOFF_S,
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    NET_CHUNK,
    SOCKET_TIMEOUT_S,
    _context,
    _mb,
    _say,
)
from mnist_doctor.actions.install import (
    InstallError,
    _install,
    _install_failed,
    _verify,
    prepare_target,
    staged_file,
)
from mnist_doctor.dataset import DatasetSpec
from mnist_doctor.facts import Facts
from mnist_doctor.redact import redact_text


class TransientError(Exception):
    """A failure worth retrying (timeouts, resets, short bodies, 5xx)."""


def mirror_url(mirror: str | None, spec: DatasetSpec) -> str:
    """The URL to fetch: ``--mirror`` (a folder URL gets the file name appended) or the origin."""
    if not mirror:
        return spec.origin
    return mirror + spec.file_name if mirror.endswith("/") else mirror


def _explain(exc: BaseException, url: str) -> tuple[str, str]:
    """A message and a hint for a download failure, in the user's terms."""
    host = urllib.parse.urlsplit(url).hostname or url
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code == 407:
            return "HTTP 407 from the proxy: it wants credentials", "check the user:password in HTTPS_PROXY"
        return f"HTTP {exc.code} {exc.reason} from {host}", "check the URL (--mirror URL must name the file)"
    if isinstance(reason, socket.gaierror):
        return (
            f"cannot resolve {host} (DNS)",
            "download mnist.npz on a machine with access, copy it here, "
            "then: mnist-doctor --seed FILE   # or --fetch --mirror URL of an internal mirror",
        )
    if isinstance(reason, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate of {host} not trusted: {reason.verify_message}",
            "export SSL_CERT_FILE=/path/to/your-ca-bundle.pem   # see: mnist-doctor --select tls",
        )
    return f"{type(reason).__name__}: {reason}", "retry later, or use --mirror URL / --seed FILE"


def _download_once(
    url: str, stream: BinaryIO, timeout: float, deadline: float, progress: Any
) -> tuple[int, str]:
    """One GET through urllib's default opener: the proxies and TLS trust Keras' urlretrieve uses."""
    stream.seek(0)
    stream.truncate()
    digest, written = hashlib.sha256(), 0
    request = urllib.request.Request(url, headers={"User-Agent": f"mnist-doctor/{__version__}"})
    try:
        # A fresh default opener: its ProxyHandler reads getproxies() now, as a new Keras process would.
        with urllib.request.build_opener().open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            if progress is not None:
                progress.start(expected)
            while chunk := response.read(NET_CHUNK):
                stream.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                if progress is not None:
                    progress.advance(len(chunk))
                if time.monotonic() > deadline:
                    raise TransientError("gave up: --timeout reached during the download")
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise TransientError(f"HTTP {exc.code} {exc.reason}") from exc
        raise
    except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
        raise TransientError(f"connection broken after {written} bytes ({type(exc).__name__})") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, ConnectionError, socket.timeout)):
            raise TransientError(f"{type(exc.reason).__name__}: {exc.reason}") from exc
        raise
    if expected is not None and written != expected:
        raise TransientError(f"short body: {written} of {expected} bytes")
    return written, digest.hexdigest()


class _Progress:
    """A rich progress bar, shown only on a terminal."""

    def __init__(self, console: Console, label: str) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        self._bar = Progress(
            "{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
        )
        self._label = label
        self._task: Any = None

    def __enter__(self) -> _Progress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)

    def start(self, total: int | None) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(self._label, total=total)

    def advance(self, count: int) -> None:
        self._bar.advance(self._task, count)


def fetch_dataset(facts: Facts, console: Console, mirror: str | None) -> int:
    """Download the dataset (from ``--mirror`` if given), verify it and install it atomically.

    Timeouts on every socket operation, ``ATTEMPTS`` tries with exponential back-off for
    transient failures, all bounded by ``--timeout``. Exit 0 installed (or already there),
    1 failed, 2 bad ``--mirror`` or ``--offline``.
    """
    context = _context(facts, console)
    if context is None:
        return EXIT_FAIL
    cache, spec = context
    options = facts.options
    url = mirror_url(mirror, spec)
    shown = redact_text(url)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        _say(console, f"--mirror {shown}: not an http(s) URL", "", "red")
        console.print("hint: --mirror https://your.mirror/path/mnist.npz   # a local file: use --seed FILE")
        return EXIT_USAGE
    if options.offline:
        _say(console, "--fetch needs the network, but --offline was given", "", "red")
        console.print("hint: mnist-doctor --seed /path/to/mnist.npz")
        return EXIT_USAGE
    stop = prepare_target(cache, spec, console)
    if stop is not None:
        return stop
    console.print(f"downloading {shown}")
    deadline = time.monotonic() + options.remaining()
    tried = 0
    try:
        with staged_file(cache.dataset_path) as (stream, temp):
            show = console.is_terminal
            with _Progress(console, spec.file_name) if show else contextlib.nullcontext() as progress:
                for attempt in range(1, ATTEMPTS + 1):
                    tried = attempt
                    timeout = max(min(SOCKET_TIMEOUT_S, deadline - time.monotonic()), 0.1)
                    try:
                        written, digest = _download_once(url, stream, timeout, deadline, progress)
                        break
                    except TransientError as exc:
                        wait = BACKOFF_S * 2 ** (attempt - 1)
                        if attempt == ATTEMPTS or time.monotonic() + wait >= deadline:
                            raise
                        console.print(f"attempt {attempt} failed ({exc}); retrying in {wait:.0f} s")
                        time.sleep(wait)
            _verify(stream, temp, written, digest, spec)
            _install(temp, stream, cache.dataset_path)
    except TransientError as exc:
        _say(console, "download failed", f"after {tried} attempt(s): {redact_text(str(exc))}", "red")
        console.print(
            "hint: retry later, or use --mirror URL, or download elsewhere and --seed FILE;"
            " the cache was not changed"
        )
        return EXIT_FAIL
    except (urllib.error.URLError, ValueError, http.client.HTTPException) as exc:
        message, hint = _explain(exc, url)
        _say(console, "download failed:", f"{redact_text(message)}; the cache was not changed", "red")
        console.print(f"hint: {hint}")
        return EXIT_FAIL
    except InstallError as exc:
        _say(console, "refused:", f"{shown} served the wrong file: {exc}; the cache was not changed", "red")
        console.print(
            "hint: open the URL in a browser: a proxy or portal page means the network blocks it;"
            " or download elsewhere and --seed FILE"
        )
        return EXIT_FAIL
    except OSError as exc:
        return _install_failed(console, exc, cache)
    _say(console, "installed", f"{cache.dataset_path} ({_mb(spec.size)}, sha256 verified)", "green")
    return EXIT_OK
