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

from mnist_doctor.actions._common import (
    COPY_CHUNK,
    Context,
    Target,
    open_context,
    plain,
    say,
)
from mnist_doctor.datasets import verification
from mnist_doctor.datasets.spec import DEFAULT_ORIGIN, DatasetSpec
from mnist_doctor.datasets.table import DataFile
from mnist_doctor.datasets.verification import CopyReport, digests, judge_stream
from mnist_doctor.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE, UsageError
from mnist_doctor.facts import Facts
from mnist_doctor.facts.cache import KerasCache
from mnist_doctor.files.safe_dir import SafeDir, UnsafeFolder
from mnist_doctor.text.units import human_bytes


class InstallError(Exception):
    """An install that was refused or failed; the message says why, the cache is unchanged."""

    def __init__(self, message: str, verdict: str = "") -> None:
        super().__init__(message)
        #: The verification verdict of the refused data, when it was inspected.
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
def staged_file(datasets_dir: Path, file_name: str, subdir: tuple[str, ...] = ()) -> Iterator[Staged]:
    """A temporary ``.<file>.<hex>.part`` in the verified cache folder; removed unless installed.

    The folder is opened once (:class:`SafeDir`: a link only by the own-link rule, not another user's), a
    dataset's own sub-folder (``fashion-mnist``) by name from it, and everything after acts on
    names in it. Folders created for it are removed again when nothing was installed, so a
    refused or failed install leaves the file system as it was. Clean-up runs on every exit —
    errors, ``KeyboardInterrupt``, ``SystemExit`` from SIGTERM — and is itself retried if such
    an exception lands while it runs.
    """
    folder = SafeDir.open(datasets_dir, create=True)
    try:
        for part in subdir:
            inner = folder.child(part, create=True)
            folder.close()
            folder = inner
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


def link_note(console: Console, staged: Staged) -> None:
    """Where the file really goes when the cache folder is the user's own link to another folder."""
    folder = staged.folder
    if folder.through_link:
        plain(console, folder.link_line("the file is installed there"))


def verify_staged(staged: Staged, written: int, digest: str, data_file: DataFile) -> None:
    """The staged copy is the pinned file, or :class:`InstallError` saying what it is instead."""
    spec = data_file.spec
    md5 = ""
    if written == spec.size and not spec.sha256:  # pinned by md5 only (a word index): hash it now
        staged.stream.flush()
        _, md5 = digests(staged.stream, written, want_md5=True)
    if verification.matches(data_file, written, digest, md5):
        return
    staged.stream.flush()  # so the report below reads what was received
    verdict = judge_stream(staged.stream, written, data_file)
    raise InstallError(
        f"the data is {verdict.summary} (sha256 {digest[:12]}…, {written} bytes; "
        f"expected {_short_pin(data_file)})",
        verdict.verdict,
    )


def _short_pin(data_file: DataFile) -> str:
    spec = data_file.spec
    pin = f"{spec.sha256[:12]}…" if spec.sha256 else f"md5 {data_file.md5[:12]}…"
    return f"{pin}, {spec.size} bytes"


def install_staged(staged: Staged, file_name: str) -> None:
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
    say(console, "refused:", f"{exc.path} {exc.reason}; nothing was changed", "red")
    plain(console, f"hint: {exc.hint}")
    return EXIT_FAIL


def pinned_hint(spec: DatasetSpec) -> str:
    """Where to get the one file Keras accepts (issue: "open the URL in a browser" did not help)."""
    if spec.file_name != "mnist.npz":
        return (
            f"only the pinned file fits: sha256 {spec.sha256}, {spec.size} bytes, from {spec.origin} ; "
            f"fetch that exact URL on a machine with access (e.g. curl -fLO {spec.origin} && sha256sum "
            f"{spec.file_name}), then: mnist-doctor --seed {spec.file_name}"
        )
    return (
        f"Keras only accepts the pinned file: sha256 {spec.sha256}, {spec.size} bytes, from "
        f"{DEFAULT_ORIGIN} ; fetch that exact URL on a machine with access "
        f"(e.g. curl -fLO {DEFAULT_ORIGIN} && sha256sum mnist.npz), then: mnist-doctor --seed mnist.npz"
    )


def target_path(context: Context, target: Target) -> Path:
    """The exact file Keras reads for ``target`` (in the folder the cache rules predict)."""
    return target.folder(context.cache.datasets_dir) / target.name


def prepare_target(context: Context, target: Target, console: Console) -> int | None:
    """Say where the file goes; the exit code to stop with (a folder in the way, or the
    pinned file already there), or ``None`` to go on and install. Shared by seed and fetch."""
    cache = context.cache
    path = target_path(context, target)
    plain(console, f"target: {path} (where {cache.flavour_label} reads it)")
    if cache.fallback:
        plain(
            console,
            f"note: this is Keras' fallback folder {cache.base}, shared and wiped at "
            "reboot; see `mnist-doctor --select cache.location`",
        )
    if cache.fallback_cause is not None:  # the variable that sent Keras there, and its fix
        plain(console, f"because {cache.fallback_cause.sentence}; fix: {cache.fallback_cause.fix()}")
    if os.path.isdir(path) and not os.path.islink(path):
        say(console, "cannot install:", f"a folder sits at {path}", "red")
        plain(
            console,
            f"hint: look inside, then: rm -r -- {path}   # or: mnist-doctor --clear-cache if it is empty",
        )
        return EXIT_FAIL
    if verification.is_pinned(path, target.data_file):
        plain(console, f"{path} is already the pinned file; nothing to do")
        return EXIT_OK
    return None


def extraction_note(context: Context, target: Target, console: Console) -> None:
    """An archive is installed packed: Keras extracts it itself on the next ``load_data``."""
    layout = target.layout
    if layout is None:
        return
    folder = target.folder(context.cache.datasets_dir)
    statement = target.dataset.load_statement(context.flavour.api if context.flavour else "tf.keras")
    plain(
        console,
        f"note: installed packed, not extracted: {statement} extracts it itself into "
        f"{folder / layout.folder} on its next call",
    )
    if not layout.extracts_every_call and os.path.exists(folder / layout.folder):
        say(
            console,
            "but:",
            f"{folder / layout.folder} already exists, and this Keras line only extracts when that "
            "folder is missing: a stale or half-extracted copy there stays in use",
            "yellow",
        )
        plain(
            console,
            f"hint: mnist-doctor --clear-cache --dataset {target.dataset.name}   "
            "# then --seed the archive again",
        )


def install_failed(console: Console, exc: OSError, cache: KerasCache) -> int:
    """The cache folder refused the write: say so, and how to take the folder back."""
    say(console, "not installed:", f"{exc.strerror} ({exc.filename}); the cache was not changed", "red")
    console.print(
        f'hint: sudo chown -R "$(id -un)" {cache.base}   # see mnist-doctor --select cache.permissions'
    )
    return EXIT_FAIL


def open_source(path: str) -> tuple[BinaryIO | None, str]:
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


def seed_file(
    facts: Facts,
    console: Console,
    path: str,
    *,
    any_dataset: bool = False,
    seeded: list[str] | None = None,
) -> int:
    """Verify ``path`` against the file it should be, then install it atomically where Keras reads.

    Which file: the one of the selected datasets (all of them with ``any_dataset``, i.e.
    ``--seed`` without ``--dataset``) with the same size and hash — found by size first, so
    only a plausible file is hashed; else the one with the same name; else, when one file is
    selected (or none was asked for: MNIST, as before), that one. The source is opened once
    and judged (a huge file is refused unread); the copy is hashed while it is written, so
    what lands in the cache is what was verified. An archive goes in packed, under the name
    the current Keras line gives it. A wrong file is refused with the reason: exit 1. The
    dataset installed is appended to ``seeded``.
    """
    context = open_context(facts, console, every_dataset=any_dataset)
    if context is None:
        return EXIT_FAIL
    source = Path(path).expanduser()
    src, why = open_source(path)
    if src is None:
        say(console, f"--seed {path}: {why}", "", "red")
        console.print(
            "hint: pass the path of a downloaded mnist.npz, e.g. mnist-doctor --seed ~/Downloads/mnist.npz"
        )
        return EXIT_USAGE
    with src:
        size = os.fstat(src.fileno()).st_size
        target, matched = identify(context, src, size, source.name, any_dataset=any_dataset)
        if not matched:
            verdict = judge_stream(src, size, target.data_file)
            if not verdict.ok:
                return _refuse_seed(console, source, verdict, target, any_dataset=any_dataset)
        if seeded is not None:
            seeded.append(target.dataset.name)
        stop = prepare_target(context, target, console)
        if stop is not None:
            return stop
        spec = target.spec
        try:
            with staged_file(context.cache.datasets_dir, target.name, target.subdir) as staged:
                link_note(console, staged)
                digest, written = hashlib.sha256(), 0
                src.seek(0)
                while written <= spec.size and (chunk := src.read(COPY_CHUNK)):
                    staged.stream.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                verify_staged(staged, written, digest.hexdigest(), target.data_file)
                install_staged(staged, target.name)
        except UnsafeFolder as exc:
            return refused_folder(console, exc)
        except InstallError as exc:
            say(console, "not installed:", f"{exc}; the cache was not changed", "red")
            return EXIT_FAIL
        except OSError as exc:
            return install_failed(console, exc, context.cache)
    pin = "sha256" if spec.sha256 else "md5"
    say(
        console,
        "installed",
        f"{source} → {target_path(context, target)} ({human_bytes(spec.size)}, {pin} verified)",
        "green",
    )
    extraction_note(context, target, console)
    return EXIT_OK


def _refuse_seed(
    console: Console, source: Path, verdict: CopyReport, target: Target, *, any_dataset: bool
) -> int:
    """Not the file it should be: what it is instead, what was expected, where to get the right one."""
    spec = target.spec
    say(console, "refused:", f"{source} is {verdict.summary}", "red")
    what = f" ({target.label})" if target.dataset.selection else ""
    plain(console, f"expected {verification.pin_text(target.data_file)}{what}; the cache was not changed")
    if any_dataset and target.dataset.is_default and source.name != spec.file_name:
        plain(
            console,
            "it is none of the other keras.datasets files either; to check it against another "
            "dataset: mnist-doctor --seed FILE --dataset NAME",
        )
    if verdict.verdict in verification.NOT_THE_PINNED:
        plain(console, f"hint: {pinned_hint(spec)}")
    else:
        plain(console, f"hint: download it again from {spec.origin} and compare: sha256sum {source}")
    return EXIT_FAIL


def identify(
    context: Context, src: BinaryIO, size: int, source_name: str, *, any_dataset: bool
) -> tuple[Target, bool]:
    """The file ``src`` should be, and whether it already matched it by size and hash.

    A :class:`UsageError` (listing what was expected) when several files are selected and
    the source matches none of them, by content or by name.
    """
    targets = context.targets()
    same_size = [t for t in targets if t.spec.size == size]
    if same_size:
        sha, md5 = digests(src, size + 1, want_md5=any(not t.spec.sha256 for t in same_size))
        for target in same_size:
            if verification.matches(target.data_file, size, sha, md5):
                return target, True
    named = [t for t in targets if source_name in _names_of(t)]
    if len(named) == 1:
        return named[0], False
    if len(targets) == 1:
        return targets[0], False
    default = [t for t in targets if t.dataset.is_default]
    if any_dataset and default:
        return default[0], False  # no --dataset: judged as the default loader's file, as before --dataset
    expected = ", ".join(f"{t.label} ({human_bytes(t.spec.size)})" for t in targets)
    raise UsageError(
        f"--seed {source_name} ({human_bytes(size)}): none of the selected files by size, hash or name; "
        f"expected one of: {expected}",
        hint="mnist-doctor --seed FILE --dataset NAME   # FILE as downloaded, its sha256 the pinned one",
    )


def _names_of(target: Target) -> set[str]:
    """Names a downloaded copy of the file may carry: its own, and each Keras line's archive name."""
    names = {target.data_file.name, target.name}
    if target.dataset.archive is not None:
        names.update(layout.archive for layout in target.dataset.archive.layouts)
    return names
