"""The cache actions: ``--clear-cache``, ``--seed FILE`` and ``--fetch [--mirror URL]``.

All three act on the folders :mod:`mnist_doctor.cache_paths` predicts, so they touch
exactly the file Keras will read. Installs are atomic — a temporary file in the target
folder, verified, then ``os.replace`` — so an interrupted seed or download never leaves
a half file where Keras looks (Keras' own ``urlretrieve`` writes straight to the final
path). Each entry point returns the process exit code.

Why not pooch for ``--fetch``: its design is the model here (temp file beside the target,
hash check, rename, retries), but it downloads with ``requests``, which trusts certifi and
``REQUESTS_CA_BUNDLE`` while Keras' urllib trusts the system store and ``SSL_CERT_FILE``;
the doctor must fetch the way Keras would. Its temp files are named ``tmpXXXX`` (which
``--clear-cache`` could not safely recognise after a kill), its retries only catch
``requests`` errors, and its progress bar is tqdm's. So the ~100 lines below use urllib.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import ssl
import stat
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from rich.console import Console

from mnist_doctor import __version__, npz_check
from mnist_doctor.cache_paths import KerasCache
from mnist_doctor.dataset import DatasetSpec
from mnist_doctor.facts import Facts
from mnist_doctor.redact import redact_text

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
COPY_CHUNK = 1 << 20
NET_CHUNK = 1 << 16
ATTEMPTS = 3
BACKOFF_S = 1.0  # waits 1 s, then 2 s, ... between attempts
SOCKET_TIMEOUT_S = 30.0


def _mb(size: int) -> str:
    if size < 10_000:
        return f"{size} B"
    return f"{size / 1e3:.1f} kB" if size < 1_000_000 else f"{size / 1e6:.1f} MB"


def _say(console: Console, label: str, message: str = "", style: str | None = None) -> None:
    """Print ``label`` styled and ``message`` plain: no markup parsing, so paths print as they are."""
    from rich.text import Text

    text = Text(redact_text(label), style=style or "")
    if message:
        text.append(" " + redact_text(message))
    console.print(text)


def _context(facts: Facts, console: Console) -> tuple[KerasCache, DatasetSpec] | None:
    import mnist_doctor.cache_paths  # noqa: F401  (registers the keras_cache fact)

    try:
        return facts.get("keras_cache"), facts.get("dataset")
    except Exception as exc:  # FactError or the provider's own error: a message, not a traceback
        _say(console, "cannot work out where Keras keeps its cache:", f"{redact_text(str(exc))}", "red")
        console.print("hint: run `mnist-doctor --select cache --verbose` to see why")
        return None


# ---------------------------------------------------------------- --clear-cache


@dataclass
class CacheEntry:
    path: Path
    kind: str  # file, symlink, directory, other
    size: int
    note: str = ""
    keep: bool = False  # listed for information, never removed


def _foreign(st: os.stat_result) -> bool:
    """Owned by another user (root may act, but should not clear other users' caches unasked)."""
    return hasattr(os, "geteuid") and st.st_uid != os.geteuid()


def _entries(cache: KerasCache, file_name: str) -> list[CacheEntry]:
    """The dataset file and its partials in every candidate folder; nothing else is ever listed."""
    out: list[CacheEntry] = []
    seen: set[str] = set()
    for folder in cache.candidates:
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        for path in [folder / file_name, *npz_check.partial_files(folder, file_name)]:
            try:
                st = path.lstat()
            except OSError:
                continue
            if folder != cache.datasets_dir and _foreign(st):
                note = f"belongs to uid {st.st_uid} and Keras does not read it here: kept"
                out.append(CacheEntry(path, "file", st.st_size, note, keep=True))
            elif stat.S_ISLNK(st.st_mode):
                out.append(
                    CacheEntry(
                        path, "symlink", 0, f"link to {os.readlink(path)}; the link goes, its target stays"
                    )
                )
            elif stat.S_ISDIR(st.st_mode):
                empty = not any(os.scandir(path))
                out.append(
                    CacheEntry(path, "directory", 0, "empty folder" if empty else "folder with content: kept")
                )
            else:
                out.append(CacheEntry(path, "file" if stat.S_ISREG(st.st_mode) else "other", st.st_size))
    return out


def _remove(entry: CacheEntry) -> str | None:
    """Remove one entry without following links; returns an error message or None."""
    try:
        if entry.kind == "directory":
            if any(os.scandir(entry.path)):
                return "a folder with content; look inside, then: rm -r -- " + str(entry.path)
            os.rmdir(entry.path)
        else:
            os.unlink(entry.path)  # unlink never follows a symlink: the target is untouched
    except OSError as exc:
        return f"{exc.strerror}"
    return None


def clear_cache(facts: Facts, console: Console, *, yes: bool, dry_run: bool, interactive: bool) -> int:
    """Remove ``mnist.npz`` and its partial files from every folder Keras may use.

    Lists them with sizes first; asks on a terminal unless ``--yes``; ``--dry-run`` only
    lists. Exit 0 when done or nothing to do, 1 when something could not be removed or
    the user declined, 2 when confirmation is needed but there is no terminal.
    """
    context = _context(facts, console)
    if context is None:
        return EXIT_FAIL
    cache, spec = context
    listed = _entries(cache, spec.file_name)
    entries = [e for e in listed if not e.keep]
    if not entries:
        for entry in listed:
            console.print(f"{entry.path}: {entry.note}")
        folders = ", ".join(str(f) for f in cache.candidates)
        console.print(f"nothing to remove: no {spec.file_name} or partial file in {folders}")
        return EXIT_OK
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{spec.file_name} files in the Keras cache", box=None, pad_edge=False)
    for column in ("path", "kind", "size", "note"):
        table.add_column(column)
    for entry in listed:
        note = entry.note + ("   ← Keras reads this one" if entry.path == cache.dataset_path else "")
        table.add_row(Text(str(entry.path)), entry.kind, _mb(entry.size), Text(note))
    console.print(table)
    total = sum(e.size for e in entries)
    if dry_run:
        console.print(f"dry run: would remove {len(entries)} item(s), {_mb(total)}; nothing removed")
        return EXIT_OK
    if not yes:
        if not interactive:
            _say(console, "not removing anything:", "no terminal to confirm on", "yellow")
            console.print("hint: mnist-doctor --clear-cache --yes   # or --dry-run to only list")
            return EXIT_USAGE
        answer = console.input(f"remove these {len(entries)} item(s), {_mb(total)}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            console.print("nothing removed")
            return EXIT_FAIL
    freed, failures = 0, []
    for entry in entries:
        error = _remove(entry)
        if error:
            failures.append(f"{entry.path}: {error}")
        else:
            freed += entry.size
    console.print(f"removed {len(entries) - len(failures)} item(s), freed {_mb(freed)}")
    for failure in failures:
        _say(console, "not removed:", f"{failure}", "red")
    if failures:
        console.print(f'hint: sudo chown -R "$(id -un)" {cache.base}   # then run --clear-cache again')
        return EXIT_FAIL
    return EXIT_OK


# ---------------------------------------------------------------- atomic install


class InstallError(Exception):
    """An install that was refused or failed; the message says why, the cache is unchanged."""


def _default_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give (temp files are created 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def staged_file(target: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A temporary ``.mnist.npz.XXXX.part`` beside ``target``; removed unless it was installed.

    Folders created for it are removed again when nothing was installed, so a refused or
    failed install leaves the file system exactly as it was.
    """
    created = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream, temp
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        if not target.exists():
            for folder in created:  # innermost first; rmdir only removes empty folders
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _verify(stream: BinaryIO, temp: Path, written: int, digest: str, spec: DatasetSpec) -> None:
    if written == spec.size and digest == spec.sha256:
        return
    stream.flush()  # so the report below reads what was received
    report = npz_check.inspect_copy(temp, spec, with_partials=False)
    raise InstallError(
        f"the data is {report.summary} (sha256 {digest[:12]}…, {written} bytes; "
        f"expected {spec.sha256[:12]}…, {spec.size} bytes)"
    )


def _install(temp: Path, stream: BinaryIO, target: Path) -> None:
    stream.flush()
    os.fsync(stream.fileno())
    os.chmod(temp, _default_mode())
    if target.is_dir() and not target.is_symlink():
        raise InstallError(f"a folder sits at {target}; remove it first: rmdir -- {target}")
    os.replace(temp, target)  # atomic; replaces a symlink itself, never its target


def _already_there(cache: KerasCache, spec: DatasetSpec, console: Console) -> bool:
    if npz_check.inspect_copy(cache.dataset_path, spec, with_partials=False).ok:
        console.print(f"{cache.dataset_path} is already the pinned file; nothing to do")
        return True
    return False


def _folder_in_the_way(cache: KerasCache, console: Console) -> bool:
    target = cache.dataset_path
    if target.is_dir() and not target.is_symlink():
        _say(console, "cannot install:", f"a folder sits at {target}", "red")
        console.print(
            f"hint: look inside, then: rm -r -- {target}   # or: mnist-doctor --clear-cache if it is empty"
        )
        return True
    return False


def _announce_target(cache: KerasCache, console: Console) -> None:
    console.print(f"target: {cache.dataset_path} (where {cache.flavour_label} reads it)")
    if cache.fallback:
        console.print(
            f"note: this is Keras' fallback folder {cache.base}, shared and wiped at "
            "reboot; see `mnist-doctor --select cache.location`"
        )


# ---------------------------------------------------------------- --seed


def _install_failed(console: Console, exc: OSError, cache: KerasCache) -> int:
    """The cache folder refused the write: say so, and how to take the folder back."""
    _say(console, "not installed:", f"{exc.strerror} ({exc.filename}); the cache was not changed", "red")
    console.print(
        f'hint: sudo chown -R "$(id -un)" {cache.base}   # see mnist-doctor --select cache.permissions'
    )
    return EXIT_FAIL


def seed_file(facts: Facts, console: Console, path: str) -> int:
    """Verify ``path`` against the dataset spec, then install it atomically where Keras reads.

    The copy itself is hashed while it is written (not only the source), so what lands in
    the cache is what was verified. A wrong file is refused with the reason: exit 1.
    """
    context = _context(facts, console)
    if context is None:
        return EXIT_FAIL
    cache, spec = context
    source = Path(path).expanduser()
    if not source.is_file():
        what = "does not exist" if not source.exists() else "is not a regular file"
        _say(console, f"--seed {path}: {what}", "", "red")
        console.print(
            "hint: pass the path of a downloaded mnist.npz, e.g. mnist-doctor --seed ~/Downloads/mnist.npz"
        )
        return EXIT_USAGE
    report = npz_check.inspect_copy(source, spec, with_partials=False)
    if not report.ok:
        _say(console, "refused:", f"{source} is {report.summary}", "red")
        console.print(f"expected sha256 {spec.sha256}, {spec.size} bytes; the cache was not changed")
        console.print(
            f"hint: download it again from {redact_text(spec.origin)} and compare: sha256sum {source}"
        )
        return EXIT_FAIL
    _announce_target(cache, console)
    if _folder_in_the_way(cache, console):
        return EXIT_FAIL
    if _already_there(cache, spec, console):
        return EXIT_OK
    try:
        with staged_file(cache.dataset_path) as (stream, temp), open(source, "rb") as src:
            digest, written = hashlib.sha256(), 0
            while chunk := src.read(COPY_CHUNK):
                stream.write(chunk)
                digest.update(chunk)
                written += len(chunk)
            _verify(stream, temp, written, digest.hexdigest(), spec)
            _install(temp, stream, cache.dataset_path)
    except InstallError as exc:
        _say(console, "not installed:", f"{exc}; the cache was not changed", "red")
        return EXIT_FAIL
    except OSError as exc:
        return _install_failed(console, exc, cache)
    _say(
        console, "installed", f"{source} → {cache.dataset_path} ({_mb(spec.size)}, sha256 verified)", "green"
    )
    return EXIT_OK


# ---------------------------------------------------------------- --fetch


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
    _announce_target(cache, console)
    if _folder_in_the_way(cache, console):
        return EXIT_FAIL
    if _already_there(cache, spec, console):
        return EXIT_OK
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
