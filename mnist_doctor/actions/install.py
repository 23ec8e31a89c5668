"""``--seed FILE`` and the atomic install ``--fetch`` shares.

A temporary file beside the target, verified, then ``os.replace``: an interrupted install never
leaves a half file where Keras looks (Keras' own ``urlretrieve`` writes to the final path).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
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
    _say,
)
from mnist_doctor.cache_paths import KerasCache
from mnist_doctor.dataset import DatasetSpec
from mnist_doctor.facts import Facts
from mnist_doctor.redact import redact_text


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


def prepare_target(cache: KerasCache, spec: DatasetSpec, console: Console) -> int | None:
    """Say where the file goes; the exit code to stop with (a folder in the way, or the
    pinned file already there), or ``None`` to go on and install. Shared by seed and fetch."""
    target = cache.dataset_path
    console.print(f"target: {target} (where {cache.flavour_label} reads it)")
    if cache.fallback:
        console.print(
            f"note: this is Keras' fallback folder {cache.base}, shared and wiped at "
            "reboot; see `mnist-doctor --select cache.location`"
        )
    if target.is_dir() and not target.is_symlink():
        _say(console, "cannot install:", f"a folder sits at {target}", "red")
        console.print(
            f"hint: look inside, then: rm -r -- {target}   # or: mnist-doctor --clear-cache if it is empty"
        )
        return EXIT_FAIL
    if npz_check.inspect_copy(target, spec, with_partials=False).ok:
        console.print(f"{target} is already the pinned file; nothing to do")
        return EXIT_OK
    return None


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
    stop = prepare_target(cache, spec, console)
    if stop is not None:
        return stop
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
