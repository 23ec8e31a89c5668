"""``--seed FILE`` and the atomic install ``--fetch`` shares.

A temporary file beside the target, verified, then ``os.replace``: an interrupted install never
leaves a half file where Keras looks (Keras' own ``urlretrieve`` writes to the final path).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rich.console import Console

from mnist_doctor import npz_check
from mnist_doctor.actions._common import (
    COPY_CHUNK,
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    _context,
    _mb,
    _plain,
    _say,
)
from mnist_doctor.dataset import DEFAULT_ORIGIN, DatasetSpec
from mnist_doctor.facts import Facts
from mnist_doctor.facts.cache import KerasCache
from mnist_doctor.safe_dir import SafeDir, UnsafeFolder


class InstallError(Exception):
    """An install that was refused or failed; the message says why, the cache is unchanged."""

    def __init__(self, message: str, verdict: str = "") -> None:
        super().__init__(message)
        #: The npz_check verdict of the refused data, when it was inspected.
        self.verdict = verdict


def _default_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give (temp files are created 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@dataclass
class Staged:
    """The temporary copy being written: its verified folder, its name there, its stream."""

    folder: SafeDir
    name: str
    stream: BinaryIO

    @property
    def path(self) -> Path:
        return self.folder.path / self.name


def _discard(staged: Staged, file_name: str) -> None:
    """Remove the temp file (and folders made for it when nothing was installed); never raises OSError."""
    with contextlib.suppress(OSError):
        staged.stream.close()
    with contextlib.suppress(OSError):
        staged.folder.unlink(staged.name)
    with contextlib.suppress(OSError):
        if not staged.folder.exists(file_name):
            staged.folder.undo_created()
    with contextlib.suppress(OSError):
        staged.folder.close()


@contextlib.contextmanager
def staged_file(folder_path: Path, file_name: str) -> Iterator[Staged]:
    """A temporary ``.mnist.npz.<hex>.part`` in the verified cache folder; removed unless installed.

    The folder is opened once (:class:`SafeDir`: no link leading out, not another user's) and
    everything after acts on names in it. Folders created for it are removed again when
    nothing was installed, so a refused or failed install leaves the file system as it was.
    Clean-up runs on every exit — errors, ``KeyboardInterrupt``, ``SystemExit`` from SIGTERM —
    and is itself retried if such an exception lands while it runs.
    """
    folder = SafeDir.open(folder_path, create=True)
    try:
        name, handle = folder.create_temp(file_name)
    except BaseException:
        folder.undo_created()
        folder.close()
        raise
    staged = Staged(folder, name, os.fdopen(handle, "w+b"))
    try:
        yield staged
    finally:
        pending: BaseException | None = None
        for _ in range(3):
            try:
                _discard(staged, file_name)
                break
            except BaseException as exc:  # a second signal (any exception it raises): finish cleaning first
                pending = exc
        if pending is not None:
            raise pending


def _verify(staged: Staged, written: int, digest: str, spec: DatasetSpec) -> None:
    if written == spec.size and digest == spec.sha256:
        return
    staged.stream.flush()  # so the report below reads what was received
    report = npz_check.inspect_stream(
        staged.stream, written, spec, npz_check.CopyReport(staged.path, npz_check.MISSING, "")
    )
    raise InstallError(
        f"the data is {report.summary} (sha256 {digest[:12]}…, {written} bytes; "
        f"expected {spec.sha256[:12]}…, {spec.size} bytes)",
        report.verdict,
    )


def _install(staged: Staged, file_name: str) -> None:
    staged.stream.flush()
    os.fsync(staged.stream.fileno())
    os.fchmod(staged.stream.fileno(), _default_mode())
    try:
        st = staged.folder.lstat(file_name)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InstallError(f"a folder sits at {staged.folder.path / file_name}; remove it first")
    staged.folder.replace(staged.name, file_name)  # atomic; replaces a symlink itself, never its target
    staged.folder.fsync()


def refused_folder(console: Console, exc: UnsafeFolder) -> int:
    """The cache folder is not safe to act in: the reason, the manual way, nothing changed."""
    _say(console, "refused:", f"{exc.path} {exc.reason}; nothing was changed", "red")
    _plain(console, f"hint: {exc.hint}")
    return EXIT_FAIL


def pinned_hint(spec: DatasetSpec) -> str:
    """Where to get the one file Keras accepts (issue: "open the URL in a browser" did not help)."""
    return (
        f"Keras only accepts the pinned file: sha256 {spec.sha256}, {spec.size} bytes, from "
        f"{DEFAULT_ORIGIN} ; fetch that exact URL on a machine with access "
        f"(e.g. curl -fLO {DEFAULT_ORIGIN} && sha256sum mnist.npz), then: mnist-doctor --seed mnist.npz"
    )


def prepare_target(cache: KerasCache, spec: DatasetSpec, console: Console) -> int | None:
    """Say where the file goes; the exit code to stop with (a folder in the way, or the
    pinned file already there), or ``None`` to go on and install. Shared by seed and fetch."""
    target = cache.dataset_path
    _plain(console, f"target: {target} (where {cache.flavour_label} reads it)")
    if cache.fallback:
        _plain(
            console,
            f"note: this is Keras' fallback folder {cache.base}, shared and wiped at "
            "reboot; see `mnist-doctor --select cache.location`",
        )
    if target.is_dir() and not target.is_symlink():
        _say(console, "cannot install:", f"a folder sits at {target}", "red")
        _plain(
            console,
            f"hint: look inside, then: rm -r -- {target}   # or: mnist-doctor --clear-cache if it is empty",
        )
        return EXIT_FAIL
    if npz_check.inspect_copy(target, spec, with_partials=False).ok:
        _plain(console, f"{target} is already the pinned file; nothing to do")
        return EXIT_OK
    return None


def _install_failed(console: Console, exc: OSError, cache: KerasCache) -> int:
    """The cache folder refused the write: say so, and how to take the folder back."""
    _say(console, "not installed:", f"{exc.strerror} ({exc.filename}); the cache was not changed", "red")
    console.print(
        f'hint: sudo chown -R "$(id -un)" {cache.base}   # see mnist-doctor --select cache.permissions'
    )
    return EXIT_FAIL


def _open_source(path: str) -> tuple[BinaryIO | None, str]:
    """The ``--seed`` file opened once (no blocking on a FIFO): (stream, why not)."""
    source = Path(path).expanduser()
    try:
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None, "does not exist"
    except OSError as exc:
        return None, f"cannot be opened: {exc.strerror}"
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None, "is not a regular file"
    return os.fdopen(fd, "rb"), ""


def seed_file(facts: Facts, console: Console, path: str) -> int:
    """Verify ``path`` against the dataset spec, then install it atomically where Keras reads.

    The source is opened once and judged (by size first: a huge file is refused unread); the
    copy itself is hashed while it is written, so what lands in the cache is what was
    verified. A wrong file is refused with the reason: exit 1.
    """
    context = _context(facts, console)
    if context is None:
        return EXIT_FAIL
    cache, spec = context
    source = Path(path).expanduser()
    src, why = _open_source(path)
    if src is None:
        _say(console, f"--seed {path}: {why}", "", "red")
        console.print(
            "hint: pass the path of a downloaded mnist.npz, e.g. mnist-doctor --seed ~/Downloads/mnist.npz"
        )
        return EXIT_USAGE
    with src:
        size = os.fstat(src.fileno()).st_size
        report = npz_check.inspect_stream(
            src, size, spec, npz_check.CopyReport(source, npz_check.MISSING, "")
        )
        if not report.ok:
            _say(console, "refused:", f"{source} is {report.summary}", "red")
            _plain(console, f"expected sha256 {spec.sha256}, {spec.size} bytes; the cache was not changed")
            if report.verdict == npz_check.OTHER_MNIST:
                _plain(console, f"hint: {pinned_hint(spec)}")
            else:
                _plain(
                    console,
                    f"hint: download it again from {spec.origin} and compare: sha256sum {source}",
                )
            return EXIT_FAIL
        stop = prepare_target(cache, spec, console)
        if stop is not None:
            return stop
        try:
            with staged_file(cache.datasets_dir, spec.file_name) as staged:
                digest, written = hashlib.sha256(), 0
                src.seek(0)
                while written <= spec.size and (chunk := src.read(COPY_CHUNK)):
                    staged.stream.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                _verify(staged, written, digest.hexdigest(), spec)
                _install(staged, spec.file_name)
        except UnsafeFolder as exc:
            return refused_folder(console, exc)
        except InstallError as exc:
            _say(console, "not installed:", f"{exc}; the cache was not changed", "red")
            return EXIT_FAIL
        except OSError as exc:
            return _install_failed(console, exc, cache)
    _say(
        console, "installed", f"{source} → {cache.dataset_path} ({_mb(spec.size)}, sha256 verified)", "green"
    )
    return EXIT_OK
