"""``--fetch [--mirror URL]``: download the way Keras would (urllib), with timeouts, retries, hash check,
every file of every selected dataset."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import inspect
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from mnist_doctor import __version__
from mnist_doctor.actions._common import (
    ATTEMPTS,
    BACKOFF_S,
    NET_CHUNK,
    SOCKET_TIMEOUT_S,
    Context,
    Target,
    open_context,
    plain,
    say,
)
from mnist_doctor.actions.install import (
    InstallError,
    Staged,
    extraction_note,
    install_failed,
    install_staged,
    link_note,
    pinned_hint,
    prepare_target,
    refused_folder,
    staged_file,
    target_path,
    verify_staged,
)
from mnist_doctor.causes.network import classify, describe_exception
from mnist_doctor.datasets import verification
from mnist_doctor.datasets.spec import DatasetSpec
from mnist_doctor.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from mnist_doctor.facts import Facts
from mnist_doctor.files.safe_dir import UnsafeFolder
from mnist_doctor.network.pem_guard import unsafe_ca_file
from mnist_doctor.probing.budget import Slice
from mnist_doctor.text.redact import redact_text
from mnist_doctor.text.units import human_bytes

#: Seconds of the run's budget kept back for reporting and clean-up after a download.
FETCH_RESERVE_S = 0.3


class TransientError(Exception):
    """A failure worth retrying (timeouts, resets, short bodies, 5xx)."""


def mirror_url(mirror: str | None, spec: DatasetSpec) -> str:
    """The URL to fetch: ``--mirror`` (a folder URL gets the file name appended) or the origin."""
    from mnist_doctor.datasets.spec import file_url

    return file_url(mirror, spec.file_name) if mirror else spec.origin


def _explain(exc: BaseException, url: str) -> tuple[str, str]:
    """A message and a hint for a download failure, in the user's terms.

    The cause is named by the one network classifier (:mod:`mnist_doctor.causes.network`),
    from the exception chain written as text; the wording here is ``--fetch``'s own.
    """
    host = urllib.parse.urlsplit(url).hostname or url
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    cause = classify(describe_exception(exc))
    if cause is None:
        return f"{type(reason).__name__}: {reason}", "retry later, or use --mirror URL / --seed FILE"
    if cause.name in ("http-status", "http-error"):
        code, text = cause.parts
        if code == "407":
            return "HTTP 407 from the proxy: it wants credentials", "check the user:password in HTTPS_PROXY"
        return f"HTTP {code} {text} from {host}", "check the URL (--mirror URL must name the file)"
    if cause.name == "dns":
        return (
            f"cannot resolve {host} (DNS)",
            "download mnist.npz on a machine with access, copy it here, "
            "then: mnist-doctor --seed FILE   # or --fetch --mirror URL of an internal mirror",
        )
    if cause.name in ("tls-verify", "tls-hostname"):
        why = getattr(reason, "verify_message", None) or cause.verify_reason
        return (
            f"TLS certificate of {host} not trusted: {why}",
            "export SSL_CERT_FILE=/path/to/your-ca-bundle.pem   # see: mnist-doctor --select tls",
        )
    return f"{type(reason).__name__}: {reason}", "retry later, or use --mirror URL / --seed FILE"


class DeadlineReached(Exception):
    """The run's budget ended the download (headers or body were too slow); never retried."""


class TooLarge(Exception):
    """The server announced or sent more than the dataset can be; never retried."""


class Watchdog:
    """Shuts every socket of one download down when the budget's deadline passes.

    A socket timeout is not a deadline: a server that sends one byte every few seconds resets
    it forever, while headers are read inside ``http.client`` where no loop of ours can look
    at the clock. So each new connection's descriptor is duplicated and a timer calls
    ``shutdown`` on it at the deadline, which wakes any blocked ``recv`` (of the plain or TLS
    socket alike) with end-of-file. The body loop also checks the deadline after every read.
    """

    def __init__(self, window: Slice) -> None:
        self.window = window
        self.fired = False
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._timer = threading.Timer(window.remaining(), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            twin = socket.socket(fileno=os.dup(sock.fileno()))
            self._socks.append(twin)
            if self.fired:
                with contextlib.suppress(OSError):
                    twin.shutdown(socket.SHUT_RDWR)
        return sock

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for twin in self._socks:
                with contextlib.suppress(OSError):
                    twin.shutdown(socket.SHUT_RDWR)

    def timed_out(self) -> bool:
        return self.fired or self.window.expired()

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for twin in self._socks:
                with contextlib.suppress(OSError):
                    twin.close()
            self._socks.clear()


#: ``socket.create_connection``'s own default ("use the global default timeout"), read from its
#: signature instead of the private ``socket._GLOBAL_DEFAULT_TIMEOUT``.
_DEFAULT_TIMEOUT = inspect.signature(socket.create_connection).parameters["timeout"].default


def _watched(base: type[http.client.HTTPConnection], watchdog: Watchdog) -> Any:
    """A connection class of ``base`` whose sockets the watchdog can shut at the deadline."""

    def create(address: Any, timeout: Any = _DEFAULT_TIMEOUT, source: Any = None) -> Any:
        return watchdog.watch(socket.create_connection(address, timeout, source))

    def factory(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
        conn = base(*args, **kwargs)
        conn._create_connection = create  # type: ignore[attr-defined]  # http.client's own hook, untyped
        return conn

    return factory


def _opener(watchdog: Watchdog) -> urllib.request.OpenerDirector:
    """urllib's default opener (its ProxyHandler reads getproxies() now, as a new Keras process
    would; https uses ``ssl._create_default_https_context``), with watched connections."""

    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> Any:
            return self.do_open(_watched(http.client.HTTPConnection, watchdog), req)

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> Any:
            return self.do_open(
                _watched(http.client.HTTPSConnection, watchdog),
                req,
                context=self._context,  # type: ignore[attr-defined]  # set by HTTPSHandler.__init__
            )

    return urllib.request.build_opener(HTTP(), HTTPS())


def _download_once(
    url: str, staged: Staged, window: Slice, spec: DatasetSpec, progress: Any
) -> tuple[int, str]:
    """One GET; reads of at most ``NET_CHUNK`` bytes, the deadline checked after each, the body
    cut off past ``spec.max_download`` (an endless body must not fill the disk)."""
    stream = staged.stream
    stream.seek(0)
    stream.truncate()
    digest, written = hashlib.sha256(), 0
    request = urllib.request.Request(url, headers={"User-Agent": f"mnist-doctor/{__version__}"})
    watchdog = Watchdog(window)
    try:
        timeout = max(min(SOCKET_TIMEOUT_S, window.remaining()), 0.05)
        with _opener(watchdog).open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() and len(length) < 20 else None
            if expected is not None and expected > spec.max_download:
                raise TooLarge(f"the server announces {expected} bytes; the dataset is {spec.size}")
            if progress is not None:
                progress.start(expected)
            while chunk := response.read1(NET_CHUNK):  # returns what arrived: a check per piece
                if watchdog.timed_out():
                    raise DeadlineReached(f"--timeout reached after {written} bytes")
                written += len(chunk)
                if written > spec.max_download:
                    raise TooLarge(f"the server sent more than {spec.max_download} bytes; cut off there")
                stream.write(chunk)
                digest.update(chunk)
                if progress is not None:
                    progress.advance(len(chunk))
            if watchdog.timed_out():
                raise DeadlineReached(f"--timeout reached after {written} bytes")
    except (DeadlineReached, TooLarge):
        raise
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise TransientError(f"HTTP {exc.code} {exc.reason}") from exc
        raise
    except (http.client.HTTPException, ConnectionError, TimeoutError, OSError) as exc:
        if watchdog.timed_out():
            raise DeadlineReached(f"--timeout reached after {written} bytes") from exc
        if isinstance(exc, urllib.error.URLError):
            if isinstance(exc.reason, (TimeoutError, ConnectionError, socket.timeout)):
                raise TransientError(f"{type(exc.reason).__name__}: {exc.reason}") from exc
            raise
        if isinstance(
            exc, (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError, TimeoutError)
        ):
            raise TransientError(f"connection broken after {written} bytes ({type(exc).__name__})") from exc
        raise
    finally:
        watchdog.close()
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

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)

    def start(self, total: int | None) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(self._label, total=total)

    def advance(self, count: int) -> None:
        self._bar.advance(self._task, count)


#: The per-file summary's words for a wrong file, by verdict.
WRONG_FILE = {
    verification.HTML: "an HTML page came instead of the file",
    verification.EMPTY: "an empty body came",
    verification.TRUNCATED: "the body was truncated",
    verification.CORRUPT: "the body is corrupt",
    verification.TOO_LARGE: "the body is far too large",
}


@dataclass(frozen=True)
class FileOutcome:
    """How one file's fetch ended: its exit code, one word for the summary, and why."""

    code: int
    word: str
    reason: str = ""


def fetch_dataset(facts: Facts, console: Console, mirror: str | None) -> int:
    """Download every file of the selected datasets (from ``--mirror`` if given), verify each and
    install it atomically where the current Keras line reads it (an archive under its name).

    One slice of the run's budget bounds everything: a watchdog shuts the sockets at its
    deadline (headers trickled one byte at a time included), every read is at most
    ``NET_CHUNK`` bytes and followed by a deadline check, each body stops past its file's
    expected size, and ``ATTEMPTS`` tries with back-off only while time is left. The temp file
    is removed on every way out, ``KeyboardInterrupt`` and ``SystemExit`` included. A file
    that fails does not stop the others; each is reported: installed, already present, failed.
    Exit 0 all installed (or already there), 1 one failed, 2 bad ``--mirror`` or ``--offline``.
    """
    context = open_context(facts, console)
    if context is None:
        return EXIT_FAIL
    options = facts.options
    plan = [(target, mirror_url(mirror, target.spec)) for target in context.targets()]
    for _, url in plan:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            say(console, f"--mirror {redact_text(url)}: not an http(s) URL", "", "red")
            console.print("hint: --mirror https://your.mirror/path/   # a local file: use --seed FILE")
            return EXIT_USAGE
    if options.offline:
        say(console, "--fetch needs the network, but --offline was given", "", "red")
        console.print("hint: mnist-doctor --seed /path/to/mnist.npz")
        return EXIT_USAGE
    window = options.budget.slice(reserve=FETCH_RESERVE_S)
    outcomes: list[tuple[Target, FileOutcome]] = []
    for target, url in plan:
        if window.expired():  # the files left get no connection at all once --timeout is spent
            outcomes.append((target, FileOutcome(EXIT_FAIL, "failed", "not tried: --timeout reached")))
            continue
        outcomes.append((target, _fetch_one(context, target, url, window, console)))
    if len(outcomes) > 1:
        plain(console, "")
        for target, outcome in outcomes:
            line = f"{target.label}: {outcome.word}" + (f" ({outcome.reason})" if outcome.reason else "")
            style = {"installed": "green", "already present": ""}.get(outcome.word, "red")
            say(console, line, "", style or None)
    failed = [o for _, o in outcomes if o.code]
    return max(o.code for o in failed) if failed else EXIT_OK


def _fetch_one(context: Context, target: Target, url: str, window: Slice, console: Console) -> FileOutcome:
    """Download, verify and install one file; every failure is said here, with its hint."""
    cache, spec, options = context.cache, target.spec, context.facts.options
    shown = redact_text(url)
    stop = prepare_target(context, target, console)
    if stop is not None:
        if stop == EXIT_OK:
            return FileOutcome(EXIT_OK, "already present")
        return FileOutcome(stop, "failed", "a folder is in the way")
    blocked = unsafe_ca_file(os.environ.get("SSL_CERT_FILE"))
    if blocked and urllib.parse.urlsplit(url).scheme == "https":
        say(console, "not downloading:", f"SSL_CERT_FILE: {blocked}", "red")
        console.print("hint: export SSL_CERT_FILE=/path/to/ca-bundle.pem   # or: unset SSL_CERT_FILE")
        return FileOutcome(EXIT_FAIL, "failed", "SSL_CERT_FILE is unusable")
    plain(console, f"downloading {shown}")
    tried = 0
    try:
        with staged_file(cache.datasets_dir, target.name, target.subdir) as staged:
            link_note(console, staged)
            show = console.is_terminal
            with _Progress(console, target.label) if show else contextlib.nullcontext() as progress:
                for attempt in range(1, ATTEMPTS + 1):
                    tried = attempt
                    try:
                        written, digest = _download_once(url, staged, window, spec, progress)
                        break
                    except TransientError as exc:
                        wait = BACKOFF_S * 2 ** (attempt - 1)
                        if attempt == ATTEMPTS or window.remaining() <= wait:
                            raise
                        plain(console, f"attempt {attempt} failed ({exc}); retrying in {wait:.0f} s")
                        time.sleep(wait)
            verify_staged(staged, written, digest, target.data_file)
            install_staged(staged, target.name)
    except UnsafeFolder as exc:
        refused_folder(console, exc)
        return FileOutcome(EXIT_FAIL, "failed", "the cache folder is unsafe")
    except DeadlineReached as exc:
        say(
            console,
            "download stopped:",
            f"{exc} (the budget of --timeout {options.timeout:g} s ended it); "
            "no partial file was kept, the cache was not changed",
            "red",
        )
        console.print(
            "hint: retry with a larger --timeout, or use --mirror URL, or download elsewhere and --seed FILE"
        )
        return FileOutcome(EXIT_FAIL, "failed", "--timeout reached")
    except TooLarge as exc:
        say(
            console, "refused:", f"{redact_text(str(exc))}: not the dataset; the cache was not changed", "red"
        )
        plain(console, f"hint: {pinned_hint(spec)}")
        return FileOutcome(EXIT_FAIL, "failed", "larger than the file")
    except TransientError as exc:
        say(console, "download failed", f"after {tried} attempt(s): {redact_text(str(exc))}", "red")
        console.print(
            "hint: retry later, or use --mirror URL, or download elsewhere and --seed FILE;"
            " the cache was not changed"
        )
        return FileOutcome(EXIT_FAIL, "failed", redact_text(str(exc)) or "")
    except (urllib.error.URLError, ValueError, http.client.HTTPException) as exc:
        message, hint = _explain(exc, url)
        say(console, "download failed:", f"{redact_text(message)}; the cache was not changed", "red")
        plain(console, f"hint: {hint}")
        return FileOutcome(EXIT_FAIL, "failed", redact_text(message) or "")
    except InstallError as exc:
        say(console, "refused:", f"{shown} served the wrong file: {exc}; the cache was not changed", "red")
        if exc.verdict in (verification.HTML, verification.EMPTY):
            plain(
                console,
                f"hint: a proxy or portal page means the network blocks the download; {pinned_hint(spec)}",
            )
        else:
            plain(console, f"hint: {pinned_hint(spec)}")
        return FileOutcome(EXIT_FAIL, "failed", WRONG_FILE.get(exc.verdict, "not the pinned file"))
    except OSError as exc:
        install_failed(console, exc, cache)
        return FileOutcome(EXIT_FAIL, "failed", exc.strerror or "cannot write")
    pin = "sha256" if spec.sha256 else "md5"
    say(
        console,
        "installed",
        f"{target_path(context, target)} ({human_bytes(spec.size)}, {pin} verified)",
        "green",
    )
    extraction_note(context, target, console)
    return FileOutcome(EXIT_OK, "installed")
