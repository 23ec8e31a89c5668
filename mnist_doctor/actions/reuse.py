"""``--fix`` for a dataset cached under another Keras line's names: place a verified copy.

After an upgrade (TF 2.15 -> 2.16, Keras 2 -> Keras 3.6+) ``cifar-10-batches-py.tar.gz`` is
still there, but Keras now reads ``cifar-10-batches-py-target_archive`` and would download
170 MB again (from a host often throttled to tens of kB/s). This copies the old archive to
the new name (or back), inside the one cache folder opened by :class:`SafeDir` (a link only
when it is the user's own all the way, not another user's), as a temporary file that is
hashed while written, checked against the pinned sha256 and size, then renamed atomically.
Never a hardlink: Keras opens its download target with ``"wb"``, which would truncate both
names of a shared inode.
Everything is re-derived from fresh facts here; nothing the check reported is trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import Any

from rich.text import Text

from mnist_doctor.datasets import layout as cache_layout
from mnist_doctor.facts import Facts
from mnist_doctor.files.safe_dir import SafeDir, UnsafeFolder
from mnist_doctor.text.redact import redact_text

CHUNK = 1 << 20


def _print(console: Any, message: str, style: str = "") -> None:
    """Plain text (a path may hold ``[...]``), credentials redacted."""
    console.print(Text("  " + (redact_text(message) or ""), style=style))


def _confirm(console: Any, question: str, *, yes: bool, interactive: bool) -> bool:
    if yes:
        return True
    if not interactive:
        _print(console, f"skipped (not a terminal; rerun with --yes to accept): {question}")
        return False
    from rich.prompt import Confirm

    return bool(Confirm.ask(question, console=console, default=False))


def place_copy(facts: Facts, console: Any, name: str, *, yes: bool, dry_run: bool, interactive: bool) -> bool:
    """Copy the other line's verified archive of ``name`` to where this Keras reads it; True if placed."""
    try:
        loader = next(d for d in facts.get("datasets") if d.name == name)
        cache = facts.get("keras_cache")
        flavour = facts.get("keras_flavour")
    except Exception as exc:  # a fact that cannot be computed: a message, not a traceback
        _print(console, f"cannot work out the cache of {name}: {exc}", "red")
        return False
    if loader.archive is None or loader.cache_subdir != "datasets":
        _print(console, f"{name} has no per-line archive names: nothing to place")
        return False
    data_file = loader.files[0]
    current, other = cache_layout.current_and_other(
        loader.archive, flavour.kind, cache_layout.line_version(flavour.kind, flavour.version)
    )
    folder_path = cache.base / loader.cache_subdir
    source, target = folder_path / other.archive, folder_path / current.archive
    try:
        folder = SafeDir.open(folder_path)
    except UnsafeFolder as exc:
        _print(console, f"refused: {exc.path} {exc.reason}", "red")
        _print(console, f"hint: {exc.hint}")
        return False
    except OSError as exc:
        _print(console, f"cannot open {folder_path}: {exc.strerror or exc}", "red")
        return False
    with folder:
        if folder.through_link:
            _print(console, folder.link_line("the copy is placed there"))
        if folder.exists(current.archive):
            _print(
                console,
                f"{target} already exists: remove it first (mnist-doctor --clear-cache --dataset {name})",
            )
            return False
        if dry_run:
            _print(console, f"would copy {source} to {target} (verified against the pinned sha256)")
            return False
        question = f"copy {source} to {target} ({data_file.spec.size / 1e6:.1f} MB)?"
        if not _confirm(console, question, yes=yes, interactive=interactive):
            return False
        try:
            _copy_verified(folder, other.archive, current.archive, data_file.spec.sha256, data_file.spec.size)
        except (OSError, ValueError) as exc:
            _print(console, f"not placed: {exc}", "red")
            return False
    _print(console, f"placed a verified copy at {target}; Keras extracts it on the next load_data()", "green")
    return True


def _copy_verified(folder: SafeDir, src: str, dst: str, sha256: str, size: int) -> None:
    """Copy ``src`` to a temp file in ``folder``, verify hash and size, rename it ``dst``; no trace left."""
    with os.fdopen(folder.open_read(src), "rb", buffering=0) as reader:  # regular file, never via a link
        temp, out_fd = folder.create_temp(dst)
        try:
            with os.fdopen(out_fd, "wb") as writer:  # buffered: write() writes every byte
                digest = hashlib.sha256()
                written = 0
                while written <= size:  # never more than the pinned size (+ one chunk) is read
                    chunk = reader.read(CHUNK)
                    if not chunk:
                        break
                    digest.update(chunk)
                    writer.write(chunk)
                    written += len(chunk)
                writer.flush()
                os.fsync(writer.fileno())
            if written != size or digest.hexdigest() != sha256:
                raise ValueError(
                    f"{folder.path / src} is not the pinned file any more (size or sha256 differs)"
                )
            if folder.exists(dst):
                raise ValueError(f"{folder.path / dst} appeared meanwhile; left as it is")
            folder.replace(temp, dst)
        except BaseException:  # also Ctrl-C / SIGTERM (signals.Interrupted): no partial file is left
            with contextlib.suppress(OSError):
                folder.unlink(temp)
            raise
    folder.fsync()
