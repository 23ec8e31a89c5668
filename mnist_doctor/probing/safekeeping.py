"""Keep the user's cached dataset files byte-identical across the real ``load_data()`` probe.

Keras discards a cached file whose sha256 is not the one it pins and downloads over it
(``urlretrieve`` truncates the same inode), and removes the file when that download fails.
A diagnosis must change nothing (promise 1), so before the probe runs every file Keras
might read is copied into a private folder, and afterwards — also after a kill by the
budget, Ctrl-C or SIGTERM (:func:`restore_all`) — any file Keras removed or replaced is put
back atomically; a file that appeared where there was none is kept only if it is the
pinned file (a finished, verified download), and otherwise removed (what a killed
download leaves behind). A file that cannot be kept safe (a link, a FIFO, a device, a file too large
to copy) is *refused*: the probe does not call ``load_data`` when Keras would read it, and
says why. A brand-new verified download where no file was before may stay: that is what
``load_data()`` itself does.

Hard links are no protection here: ``urlretrieve`` opens the existing path with ``"wb"``,
truncating the shared inode, so the copy is a real copy.

Other loaders (``--dataset``, :class:`DatasetKeeping`): every file of the loader is kept like
``mnist.npz`` (under the loader's own cache subfolder, e.g. ``datasets/fashion-mnist/``). An
archive loader (cifar10/cifar100) has two more things Keras may write, under both Keras lines'
names: the archive (kept like any file, pinned by the archive's sha256) and the extraction
folder (:class:`FolderKeeping`). Keras 2, tf-keras and Keras < 3.6 extract into ``<folder>``
only when it is missing; Keras >= 3.6 re-extracts into ``<folder>-target`` on every call, and
removes the whole folder when an extraction fails. So:

* a folder that existed is copied aside file by file before the probe; afterwards every file
  Keras removed or rewrote is put back, and every file or folder that appeared in it is removed
  (a half-extracted folder stays exactly as half-extracted as it was: repairing it is
  ``--clear-cache``'s job, with the user's consent);
* a folder that appears where there was none is kept only when it is a complete extraction
  (every member of the table present) of the pinned archive lying beside it, what
  ``load_data()`` itself leaves; anything else (a kill mid-extraction, a bad archive) is removed;
* a folder holding a link, a FIFO or a device, or larger than the copy limit, is refused: the
  probe does not call that loader and says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import stat
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mnist_doctor.datasets.verification import sha256_stream
from mnist_doctor.files.open_writers import writers_of
from mnist_doctor.files.safe_dir import UnsafeFolder, open_holder

#: Read size for copying and hashing.
CHUNK = 1 << 20
#: Name prefix of the doctor's own files (private backups, the temporary file of a restore).
PREFIX = ".mnist-doctor-"

_PENDING: set[Safekeeping | FolderKeeping] = set()
_PENDING_LOCK = threading.Lock()


def candidate_paths(file_name: str, env: dict[str, str] | None = None, subdir: str = "datasets") -> list[str]:
    """Every path any supported Keras line may read ``file_name`` from, for this user.

    Deliberately wider than the prediction of :mod:`mnist_doctor.facts.cache` (and needing
    no introspection): keeping one file too many safe costs a copy, missing one loses data.
    ``subdir`` is the loader's cache subfolder (``datasets/fashion-mnist`` for Fashion-MNIST).
    """
    values: Mapping[str, str] = os.environ if env is None else env
    home = values.get("HOME") or os.path.expanduser("~")
    bases = []
    if values.get("KERAS_HOME"):
        bases.append(os.path.expanduser(values["KERAS_HOME"]))
    bases += [os.path.join(home, ".keras"), "/tmp/.keras", os.path.join(tempfile.gettempdir(), ".keras")]
    out: list[str] = []
    for base in bases:
        path = os.path.normpath(os.path.join(os.path.abspath(base), subdir, file_name))
        if path not in out:
            out.append(path)
    return out


@dataclass
class KeptFile:
    """One user file copied aside, and what happened to it while the probe ran."""

    path: str
    backup: str
    size: int
    sha256: str
    mode: int
    #: ``untouched``, ``removed`` or ``replaced`` (what Keras did), then ``restored`` if put back.
    outcome: str = "untouched"
    restored: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "outcome": self.outcome,
            "restored": self.restored,
            "error": self.error,
        }


#: :attr:`Refusal.kind` of a file another process is still writing.
DOWNLOAD_IN_PROGRESS = "download-in-progress"


@dataclass
class Refusal:
    """A path the probe must not let Keras read, and why."""

    path: str
    reason: str
    #: What kind of refusal, for the checks to word it without reading ``reason``:
    #: ``download-in-progress`` (another process is writing the file), else "".
    kind: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason, "kind": self.kind}


def _sha256_fd(fd: int) -> str:
    """The sha256 of an open file (opened ``O_NOFOLLOW`` by the caller), read from its start."""
    with open(fd, "rb", buffering=0, closefd=False) as handle:
        return sha256_stream(handle)


@dataclass(eq=False)
class Safekeeping:
    """Copies of the files at ``paths`` taken before the probe, restored after it."""

    pinned_sha256: str
    pinned_size: int
    max_copy_bytes: int
    kept: list[KeptFile] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    #: Paths with nothing at them before the probe -> what the probe left there (``outcome``, ``size``).
    absent: dict[str, dict[str, Any]] = field(default_factory=dict)
    folder: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: bool = False

    # -- before the probe -------------------------------------------------------------------

    def protect(self, paths: list[str]) -> Safekeeping:
        """Copy every regular file at ``paths`` aside; refuse what cannot be kept safe."""
        with _PENDING_LOCK:
            _PENDING.add(self)
        for path in paths:
            try:
                self._protect_one(path)
            except OSError as exc:
                self.refused.append(Refusal(path, f"cannot keep it safe ({exc.strerror or exc})"))
        return self

    def _protect_one(self, path: str) -> None:
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            # A new verified download may stay there; a partial one may not.
            self.absent[path] = {"outcome": "nothing"}
            return
        if stat.S_ISDIR(info.st_mode):
            return  # Keras fails on it (IsADirectoryError) without changing anything
        if stat.S_ISLNK(info.st_mode):
            self._check_link(path)
            return
        if not stat.S_ISREG(info.st_mode):
            self.refused.append(
                Refusal(path, "it is not a regular file (a FIFO or device): Keras would block or fail on it")
            )
            return
        writers = writers_of(path)
        if writers:
            self.refused.append(
                Refusal(
                    path,
                    f"a download is in progress: {writers[0]} is writing it",
                    kind=DOWNLOAD_IN_PROGRESS,
                )
            )
            return
        if info.st_size > self.max_copy_bytes:
            self.refused.append(
                Refusal(
                    path,
                    f"it is {info.st_size:,} bytes, far more than the dataset: Keras would hash all of it "
                    "and download over it, and it is too large for the doctor to keep a copy",
                )
            )
            return
        try:
            os.close(open_holder(os.path.dirname(path)))
        except (UnsafeFolder, OSError) as exc:
            why = exc.reason if isinstance(exc, UnsafeFolder) else (exc.strerror or str(exc))
            self.refused.append(
                Refusal(path, f"the doctor could not put it back if Keras replaced it: its folder {why}")
            )
            return
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except PermissionError:
            return  # Keras cannot read it either: it fails hashing it, before any download
        try:
            self.kept.append(self._copy_aside(fd, path, info))
        finally:
            os.close(fd)

    def _check_link(self, path: str) -> None:
        """A link is read through by Keras and written through when Keras downloads."""
        target = os.path.realpath(path)
        try:
            info = os.stat(path)
        except OSError:
            self.refused.append(
                Refusal(path, f"it is a link to {target}, which does not exist: Keras would download into it")
            )
            return
        if stat.S_ISREG(info.st_mode) and info.st_size == self.pinned_size:
            with contextlib.suppress(OSError), open(path, "rb") as handle:
                if _sha256_fd(handle.fileno()) == self.pinned_sha256:
                    return  # Keras reads the pinned file through the link and writes nothing
        self.refused.append(
            Refusal(
                path,
                f"it is a link to {target}, which is not the pinned file: Keras would download over "
                "the link's target, outside the cache",
            )
        )

    def _copy_aside(self, fd: int, path: str, info: os.stat_result) -> KeptFile:
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix=PREFIX + "keep-")
        backup = os.path.join(self.folder, f"{len(self.kept)}.bin")
        digest = hashlib.sha256()
        size = 0
        out = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            while size <= self.max_copy_bytes:
                block = os.read(fd, CHUNK)
                if not block:
                    break
                digest.update(block)
                os.write(out, block)
                size += len(block)
        finally:
            os.close(out)
        return KeptFile(path, backup, size, digest.hexdigest(), stat.S_IMODE(info.st_mode))

    @property
    def refused_paths(self) -> list[str]:
        return [r.path for r in self.refused]

    # -- after the probe --------------------------------------------------------------------

    def restore(self) -> list[KeptFile]:
        """Put back every kept file Keras removed or replaced; idempotent and thread-safe.

        Call it only once the probe's process group is dead (killed or exited).
        """
        with self._lock:
            if self._done:
                return self.kept
            try:
                for kept in self.kept:
                    self._restore_one(kept)
                for path in self.absent:
                    self.absent[path] = self._clear_new(path)
            finally:
                self._done = True
                if self.folder:
                    shutil.rmtree(self.folder, ignore_errors=True)
                with _PENDING_LOCK:
                    _PENDING.discard(self)
        return self.kept

    def _restore_one(self, kept: KeptFile) -> None:
        try:
            info = os.lstat(kept.path)
        except FileNotFoundError:
            kept.outcome = "removed"
        except OSError as exc:
            kept.outcome, kept.error = "unknown", str(exc)
            return
        else:
            if not stat.S_ISREG(info.st_mode):
                kept.outcome = "replaced"
                kept.error = "something other than a file is there now; the doctor left it alone"
                return
            if info.st_size == kept.size and self._same_bytes(kept):
                return
            kept.outcome = "replaced"
        try:
            self._put_back(kept)
            kept.restored = True
        except OSError as exc:
            kept.error = f"could not put it back: {exc.strerror or exc}"

    def _clear_new(self, path: str) -> dict[str, Any]:
        """Remove a file the probe left where there was none, unless it is the pinned file."""
        try:
            info = os.lstat(path)
        except OSError:
            return {"outcome": "nothing"}
        if not stat.S_ISREG(info.st_mode):
            return {"outcome": "left alone: not a regular file"}
        size = info.st_size
        if size == self.pinned_size:
            with contextlib.suppress(OSError):
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    if _sha256_fd(fd) == self.pinned_sha256:
                        return {"outcome": "verified download, kept", "size": size}
                finally:
                    os.close(fd)
        try:
            dir_fd = open_holder(os.path.dirname(path))
            try:
                os.unlink(os.path.basename(path), dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
        except UnsafeFolder as exc:
            return {"outcome": f"partial download, not removed: its folder {exc.reason}", "size": size}
        except OSError as exc:
            return {"outcome": f"partial download, not removed: {exc.strerror or exc}", "size": size}
        return {"outcome": "partial download, removed", "size": size}

    @staticmethod
    def _same_bytes(kept: KeptFile) -> bool:
        try:
            fd = os.open(kept.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return False
        try:
            return _sha256_fd(fd) == kept.sha256
        finally:
            os.close(fd)

    @staticmethod
    def _put_back(kept: KeptFile) -> None:
        """Write the copy next to the path under a private name, then rename it over the path."""
        try:
            dir_fd = open_holder(os.path.dirname(kept.path))
        except UnsafeFolder as exc:
            raise OSError(f"its folder {exc.reason}") from None
        try:
            temp = f"{PREFIX}restore-{secrets.token_hex(8)}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            out = os.open(temp, flags, kept.mode, dir_fd=dir_fd)
            try:
                with open(kept.backup, "rb") as source:
                    while block := source.read(CHUNK):
                        os.write(out, block)
                os.fsync(out)
            except BaseException:
                os.close(out)
                os.unlink(temp, dir_fd=dir_fd)
                raise
            os.close(out)
            os.replace(temp, os.path.basename(kept.path), src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        finally:
            os.close(dir_fd)

    def report(self) -> dict[str, Any]:
        return {
            "kept": [k.to_dict() for k in self.kept],
            "refused": [r.to_dict() for r in self.refused],
            "new": [{"path": p, **o} for p, o in self.absent.items() if o.get("outcome") != "nothing"],
        }


def restore_all() -> None:
    """Restore every pending safekeeping (the run is ending: a signal, or the deadline)."""
    from mnist_doctor.probing.subproc import kill_all

    kill_all()  # a probe still running could write again after the restore
    with _PENDING_LOCK:
        pending = list(_PENDING)
    for keeping in pending:
        with contextlib.suppress(Exception):
            keeping.restore()


def _file_is(path: str, sha256: str, size: int) -> bool:
    """``path`` is a regular file (not a link) with exactly this size and sha256."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_size != size or not sha256:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        return _sha256_fd(fd) == sha256
    finally:
        os.close(fd)


def _remove_tree(path: str) -> str | None:
    """Remove a file or folder the probe created (never following a link); the error, if any."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)  # symlink-attack resistant on Linux (fd-based)
        else:
            os.unlink(path)
    except OSError as exc:
        return str(exc.strerror or exc)
    return None


@dataclass(eq=False)
class FolderKeeping:
    """An archive's extraction folder, kept as it was across the probe (see the module's text)."""

    path: str
    #: Files (relative to ``path``) a complete extraction has.
    members: tuple[str, ...]
    #: The archive the folder is extracted from, and its pin: a new folder stays only beside it.
    archive: str
    archive_sha256: str
    archive_size: int
    max_copy_bytes: int
    existed: bool = False
    files: Safekeeping | None = None
    entries: set[str] = field(default_factory=set)
    refusal: str | None = None
    outcome: str = "nothing"
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: bool = False

    def protect(self) -> FolderKeeping:
        with _PENDING_LOCK:
            _PENDING.add(self)
        try:
            info = os.lstat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return self
        except OSError as exc:
            self.refusal = f"cannot keep it safe ({exc.strerror or exc})"
            return self
        if not stat.S_ISDIR(info.st_mode):
            what = "a link" if stat.S_ISLNK(info.st_mode) else "not a folder"
            self.refusal = f"it is {what}: Keras would extract through it or fail on it"
            return self
        self.existed = True
        found: list[str] = []
        total = 0
        for root, dirs, names in os.walk(self.path):
            for name in [*dirs, *names]:
                full = os.path.join(root, name)
                rel = os.path.relpath(full, self.path)
                self.entries.add(rel)
                mode = os.lstat(full).st_mode
                if stat.S_ISLNK(mode) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                    self.refusal = f"it holds {rel}, a link or special file: Keras would extract through it"
                    return self
                if stat.S_ISREG(mode):
                    found.append(full)
                    total += os.lstat(full).st_size
        if total > self.max_copy_bytes:
            self.refusal = f"it holds {total:,} bytes, too much for the doctor to keep a copy"
            return self
        # Members are no "pinned file": whatever Keras rewrites in them is put back.
        self.files = Safekeeping("", -1, self.max_copy_bytes).protect(found)
        with _PENDING_LOCK:  # restored by this folder (which first rebuilds removed subfolders), not alone
            _PENDING.discard(self.files)
        if self.files.refused:
            self.refusal = self.files.refused[0].reason
        return self

    def restore(self) -> None:
        """Put the folder back as it was; keep a new one only as a verified, complete extraction."""
        with self._lock:
            if self._done:
                return
            try:
                self.outcome = self._restore_existing() if self.existed else self._clear_new()
            finally:
                self._done = True
                with _PENDING_LOCK:
                    _PENDING.discard(self)

    def _restore_existing(self) -> str:
        if self.files is None:
            return "left alone"
        for kept in self.files.kept:  # Keras >= 3.6 removes the whole folder when extraction fails
            with contextlib.suppress(OSError):
                os.makedirs(os.path.dirname(kept.path), exist_ok=True)
        self.files.restore()
        removed = []
        for root, dirs, names in os.walk(self.path):
            for name in [*dirs, *names]:
                full = os.path.join(root, name)
                if os.path.relpath(full, self.path) not in self.entries:
                    _remove_tree(full)
                    removed.append(name)
                    if name in dirs:
                        dirs.remove(name)
        changed = [k for k in self.files.kept if k.outcome != "untouched"]
        return "restored" if (changed or removed) else "untouched"

    def _clear_new(self) -> str:
        if not os.path.lexists(self.path):
            return "nothing"
        complete = all(os.path.isfile(os.path.join(self.path, m)) for m in self.members)
        if complete and _file_is(self.archive, self.archive_sha256, self.archive_size):
            return "verified extraction, kept"
        error = _remove_tree(self.path)
        return f"partial extraction, not removed: {error}" if error else "partial extraction, removed"

    def report(self) -> dict[str, Any]:
        return {"path": self.path, "existed": self.existed, "outcome": self.outcome}


@dataclass(eq=False)
class DatasetKeeping:
    """Every file and folder one loader may read or replace, for every Keras line's layout."""

    name: str
    files: list[Safekeeping] = field(default_factory=list)
    folders: list[FolderKeeping] = field(default_factory=list)

    @classmethod
    def protect(
        cls, dataset: Any, env: dict[str, str] | None = None, margin: int = 64 << 20
    ) -> DatasetKeeping:
        """Keep ``dataset``'s files (a :class:`~mnist_doctor.datasets.table.Dataset`) safe."""
        keeping = cls(dataset.name)
        subdir = dataset.cache_subdir
        for data_file in dataset.files:
            spec = data_file.spec
            limit = spec.size + margin
            if dataset.archive is None:
                keeper = Safekeeping(spec.sha256, spec.size, limit)
                keeping.files.append(keeper.protect(candidate_paths(data_file.name, env, subdir)))
                continue
            for layout in dataset.archive.layouts:
                archives = candidate_paths(layout.archive, env, subdir)
                keeping.files.append(Safekeeping(spec.sha256, spec.size, limit).protect(archives))
                inner = os.path.relpath(layout.members_dir, layout.folder)
                members = tuple(os.path.normpath(os.path.join(inner, m)) for m in dataset.archive.members)
                folders = candidate_paths(layout.folder, env, subdir)
                for archive, folder in zip(archives, folders, strict=True):  # both from the same bases
                    room = 3 * spec.size + margin  # the extracted members are about as large as the archive
                    kept = FolderKeeping(folder, members, archive, spec.sha256, spec.size, room)
                    keeping.folders.append(kept.protect())
        return keeping

    @property
    def refused(self) -> list[Refusal]:
        found = [r for k in self.files for r in k.refused]
        return found + [Refusal(f.path, f.refusal) for f in self.folders if f.refusal]

    def restore(self) -> None:
        for keeper in self.files:
            keeper.restore()
        for folder in self.folders:
            folder.restore()

    def report(self) -> dict[str, Any]:
        reports = [k.report() for k in self.files]
        return {
            "kept": [e for r in reports for e in r["kept"]],
            "refused": [r.to_dict() for r in self.refused],
            "new": [e for r in reports for e in r["new"]],
            "folders": [f.report() for f in self.folders if f.existed or f.outcome != "nothing"],
        }
