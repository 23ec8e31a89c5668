"""A cache folder opened once, verified, then acted on only by name inside it.

Why: ``/tmp/.keras`` is shared by every user of the machine. Another user can plant
``/tmp/.keras/datasets`` as a symlink to a victim's folder, and a path-based
``os.unlink("/tmp/.keras/datasets/mnist.npz")`` run by root then deletes the victim's
file (the classic shared-/tmp symlink attack). So the actions never act on a path string:
they open each cache folder with ``O_DIRECTORY | O_NOFOLLOW``, check that the opened folder
belongs to the user, and then ``stat``, ``unlink``, create and rename *names* relative to that
folder's file descriptor. Once verified, a later swap of the path cannot redirect any operation.

A cache folder that is a link (``~/.keras/datasets -> /data/me/keras-datasets``, datasets kept
on a bigger disk) is followed only by :mod:`mnist_doctor.files.own_link`'s rule: the link is yours,
and so is every step of the way to a folder of yours that no one else can write in or swap;
the actions then act in that folder (:attr:`SafeDir.real` says where) and say so.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import stat
from pathlib import Path

from mnist_doctor.files.own_link import DIR_FLAGS as _DIR_FLAGS
from mnist_doctor.files.own_link import NOFOLLOW as _NOFOLLOW
from mnist_doctor.files.own_link import Followed, LinkRefused, follow_own_link
from mnist_doctor.files.own_link import user_name as _owner_name

#: The doctor's own temporary files: ``.mnist.npz.<16 hex>.part`` (see :func:`temp_name`).
TEMP_SUFFIX = ".part"
_TEMP_TOKEN_LEN = 16


def _euid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def temp_name(file_name: str) -> str:
    """A fresh name for the doctor's temporary copy of ``file_name`` (created with O_EXCL)."""
    return f".{file_name}.{secrets.token_hex(_TEMP_TOKEN_LEN // 2)}{TEMP_SUFFIX}"


def is_temp_name(name: str, file_name: str) -> bool:
    """Whether ``name`` is one of the doctor's temporary files for ``file_name``.

    Also the ``mkstemp`` form of earlier releases (``.mnist.npz.<8 chars>.part``). Keras
    itself writes straight to ``mnist.npz`` (``urlretrieve`` to the final path) and removes
    it on failure, so these and ``mnist.npz`` are the only partial downloads there can be; a
    user's ``mnist.npz.bak`` or ``mnist.npz.orig`` is never matched.
    """
    prefix = f".{file_name}."
    if not (name.startswith(prefix) and name.endswith(TEMP_SUFFIX)):
        return False
    token = name[len(prefix) : -len(TEMP_SUFFIX)]
    if len(token) == _TEMP_TOKEN_LEN:
        return all(c in "0123456789abcdef" for c in token)
    return len(token) == 8 and all(c.isalnum() or c == "_" for c in token)


class UnsafeFolder(Exception):
    """A cache folder the doctor will not act in; ``reason`` says why, ``hint`` the manual way."""

    def __init__(self, path: Path, reason: str, hint: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.hint = hint


def _follow(parent_fd: int, holder: str, path: Path) -> Followed:
    """Follow the link ``path`` (named in ``parent_fd``, the folder ``holder``) by the own-link rule,
    or refuse it with the reason and the way to act by hand."""
    quoted = shlex.quote(str(path))
    target = os.path.realpath(path)  # for the message only: the walk never reads this string
    try:
        return follow_own_link(parent_fd, holder, path.name)
    except LinkRefused as exc:
        if exc.foreign_link:
            raise UnsafeFolder(
                path,
                f"is a symlink to {target}, and {exc.reason}: following it could act on someone else's files",
                f"ls -la -- {quoted}; then, if it is safe: rm -- {quoted}",
            ) from None
        raise UnsafeFolder(
            path,
            f"is a symlink to {target}, not followed: {exc.reason}",
            f"ls -la -- {quoted} {shlex.quote(target)}   # see where it leads; act there by hand, or "
            f"replace the link: rm -- {quoted} && mkdir -- {quoted}",
        ) from None


def open_holder(folder: str) -> int:
    """The folder holding a cached file, opened to write back into it (the safekeeping's restore).

    All but the last component are resolved by the system, as Keras' own ``open`` resolves them;
    the last is opened ``O_NOFOLLOW``, and when it is a link, followed only by the own-link rule
    (``~/.keras/datasets`` as the user's link to a bigger disk). Raises :class:`UnsafeFolder`
    for a link the rule refuses, ``OSError`` otherwise.
    """
    path = Path(os.path.abspath(folder))
    parent_fd = os.open(path.parent, _DIR_FLAGS)
    try:
        try:
            return os.open(path.name, _DIR_FLAGS | _NOFOLLOW, dir_fd=parent_fd)
        except OSError:
            if not stat.S_ISLNK(os.stat(path.name, dir_fd=parent_fd, follow_symlinks=False).st_mode):
                raise
        return _follow(parent_fd, str(path.parent), path).fd
    finally:
        os.close(parent_fd)


class SafeDir:
    """An open, verified folder; every operation takes a plain name inside it (no ``/``)."""

    def __init__(self, path: Path, fd: int, created: list[Path], real: Path | None = None) -> None:
        #: The folder as Keras names it (``~/.keras/datasets``).
        self.path = path
        self.fd = fd
        #: Folders this object created (innermost first), removed again by :meth:`undo_created`.
        self.created = created
        #: Where the folder really is when it was reached through the user's own link, else ``path``.
        self.real = real or path

    @property
    def through_link(self) -> bool:
        """Reached through the user's own link: the files are in :attr:`real`, not under ``path``."""
        return self.real != self.path

    def link_line(self, what: str) -> str:
        """The line an action prints when it acts through the user's own link: where, and what."""
        return f"following your own link: {self.path} → {self.real} ({what})"

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> SafeDir:
        """Open the cache folder ``path`` (``<base>/datasets``) and verify it and its base.

        The base's parent (the home, ``/tmp``, ``KERAS_HOME``'s parent) is opened as the
        system gives it; ``<base>`` and ``datasets`` must each be a folder owned by the
        effective user, reached without a symlink unless :mod:`~mnist_doctor.files.own_link`'s rule
        lets the doctor follow it (:attr:`real` then says where the folder really is). Missing
        folders are created when ``create``.
        Raises :class:`UnsafeFolder` (refused), ``FileNotFoundError`` (missing, not
        created) or another ``OSError``.
        """
        path = Path(os.path.abspath(path))
        base = path.parent
        root_fd = os.open(base.parent, _DIR_FLAGS)
        created: list[Path] = []
        try:
            base_fd, base_real = cls._open_component(root_fd, base, create, created)
        finally:
            os.close(root_fd)
        try:
            fd, real = cls._open_component(base_fd, path, create, created, base_real)
        except BaseException:
            os.close(base_fd)
            for folder in created:
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
            raise
        os.close(base_fd)
        created.reverse()
        return cls(path, fd, created, real)

    @staticmethod
    def _open_component(
        parent_fd: int, path: Path, create: bool, created: list[Path], parent_real: Path | None = None
    ) -> tuple[int, Path | None]:
        """Open ``path`` by name in ``parent_fd``: (descriptor, where it really is if a link led there).

        ``parent_real``: where the parent really is, when it was itself reached through a link.
        """
        name = path.name
        if not name or name in (".", ".."):
            raise UnsafeFolder(path, "not a plain folder name", f"ls -ld -- {shlex.quote(str(path))}")
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(name, 0o777, dir_fd=parent_fd)  # the umask applies, as for Keras' makedirs
            created.append(path)
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        me = _euid()
        quoted = shlex.quote(str(path))
        real = parent_real / name if parent_real is not None else None
        if stat.S_ISLNK(st.st_mode):
            holder = str(parent_real if parent_real is not None else path.parent)
            followed = _follow(parent_fd, holder, path)
            fd, real = followed.fd, Path(followed.real)
        else:
            try:
                fd = os.open(name, _DIR_FLAGS | _NOFOLLOW, dir_fd=parent_fd)
            except NotADirectoryError:
                raise UnsafeFolder(path, "is not a folder", f"ls -la -- {quoted}") from None
        try:
            opened = os.fstat(fd)
            if not stat.S_ISDIR(opened.st_mode):
                raise UnsafeFolder(path, "is not a folder", f"ls -la -- {quoted}")
            if me is not None and opened.st_uid != me:
                raise UnsafeFolder(
                    path,
                    f"belongs to {_owner_name(opened.st_uid)}, not {_owner_name(me)}: the doctor does not "
                    "act in another user's folder (in a shared /tmp it may have been planted)",
                    f"ls -la -- {quoted}   # check what is there; it is yours to remove only if you "
                    "created it: sudo rm -r -- " + quoted,
                )
        except BaseException:
            os.close(fd)
            raise
        return fd, real

    # ------------------------------------------------------------------ operations on names

    @staticmethod
    def _plain(name: str) -> str:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"not a plain file name: {name!r}")
        return name

    def names(self) -> list[str]:
        """The entries of the folder (read through the verified descriptor)."""
        return sorted(os.listdir(self.fd))

    def lstat(self, name: str) -> os.stat_result:
        return os.stat(self._plain(name), dir_fd=self.fd, follow_symlinks=False)

    def exists(self, name: str) -> bool:
        try:
            self.lstat(name)
        except FileNotFoundError:
            return False
        return True

    def readlink(self, name: str) -> str:
        return os.readlink(self._plain(name), dir_fd=self.fd)

    def unlink(self, name: str) -> None:
        """Remove a file or a link (never what a link points to)."""
        os.unlink(self._plain(name), dir_fd=self.fd)

    def rmdir(self, name: str) -> None:
        """Remove an empty folder inside (fails when it has content)."""
        os.rmdir(self._plain(name), dir_fd=self.fd)

    def is_empty_dir(self, name: str) -> bool:
        fd = os.open(self._plain(name), _DIR_FLAGS | _NOFOLLOW, dir_fd=self.fd)
        try:
            return not os.listdir(fd)
        finally:
            os.close(fd)

    def create_temp(self, file_name: str) -> tuple[str, int]:
        """A new ``.file_name.<hex>.part`` (``O_EXCL | O_NOFOLLOW``, mode 0600): (name, read-write fd)."""
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        for _ in range(10):
            name = temp_name(file_name)
            try:
                return name, os.open(name, flags, 0o600, dir_fd=self.fd)
            except FileExistsError:
                continue
        raise FileExistsError(f"no free temporary name in {self.path}")

    def open_read(self, name: str) -> int:
        """A read fd for a regular file here (a link or a FIFO is refused, never blocks)."""
        fd = os.open(
            self._plain(name), os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0), dir_fd=self.fd
        )
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(f"{self.path / name} is not a regular file")
        return fd

    def replace(self, src: str, dst: str) -> None:
        """Atomic rename inside the folder; replaces a link at ``dst`` itself, never its target."""
        os.replace(self._plain(src), self._plain(dst), src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def fsync(self) -> None:
        with contextlib.suppress(OSError):  # some file systems refuse fsync on folders
            os.fsync(self.fd)

    def undo_created(self) -> None:
        """Remove the folders :meth:`open` created, if still empty (a refused install leaves no trace)."""
        for folder in self.created:
            try:
                os.rmdir(folder)
            except OSError:
                break

    # ------------------------------------------------------------------ folders inside

    def child(self, name: str, *, create: bool = False) -> SafeDir:
        """The folder ``name`` inside this one (``datasets/fashion-mnist``), verified the same way.

        Reached by name from this folder's descriptor: not another user's, and a symlink only
        by the own-link rule, as in :meth:`open`. Folders created on the way
        (this one's, when it made them too) are undone by the child's :meth:`undo_created`.
        """
        created: list[Path] = []
        parent_real = self.real if self.through_link else None
        fd, real = self._open_component(self.fd, self.path / self._plain(name), create, created, parent_real)
        return SafeDir(self.path / name, fd, created + self.created, real)

    def walk_tree(self, name: str) -> TreeSurvey:
        """What removing the folder ``name`` (with its content) would remove: see :class:`TreeSurvey`."""
        return self._survey_tree(name, remove=False)

    def remove_tree(self, name: str) -> TreeSurvey:
        """Remove the folder ``name`` and its content, never leaving it through a link.

        Each sub-folder is opened by name with ``O_NOFOLLOW`` from its parent's descriptor and
        must be the user's own; a symlink inside is removed as a link (its target untouched);
        another user's file or folder is kept (and so are the folders holding it). Returns what
        was removed and what was kept, with the reason.
        """
        survey = self._survey_tree(name, remove=True)
        if not survey.kept:
            try:
                self.rmdir(name)
                survey.items += 1
            except OSError as exc:
                survey.kept.append(f"{self.path / name}: {exc.strerror}")
        return survey

    def _survey_tree(self, name: str, *, remove: bool) -> TreeSurvey:
        """Walk the folder ``name`` (opened as the user's own, never through a link), removing
        its content when ``remove``; a folder that cannot be opened is reported as kept."""
        survey = TreeSurvey()
        try:
            fd = self._open_owned_dir(self.fd, name)
        except OSError as exc:
            survey.kept.append(f"{self.path / name}: {exc.strerror or exc}")
            return survey
        try:
            _walk(fd, self.path / name, survey, depth=0, remove=remove)
        finally:
            os.close(fd)
        return survey

    @staticmethod
    def _open_owned_dir(parent_fd: int, name: str) -> int:
        """A sub-folder by name: never through a link, refused when another user owns it."""
        fd = os.open(SafeDir._plain(name), _DIR_FLAGS | _NOFOLLOW, dir_fd=parent_fd)
        me = _euid()
        st = os.fstat(fd)
        if me is not None and st.st_uid != me:
            os.close(fd)
            raise PermissionError(0, f"belongs to {_owner_name(st.st_uid)}: kept")
        return fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> SafeDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: A folder tree deeper than this is not Keras' extraction (a few levels): left alone below.
MAX_TREE_DEPTH = 16
#: At most this many entries are looked at in one tree (an extraction holds a handful).
MAX_TREE_ENTRIES = 100_000


class TreeSurvey:
    """What one folder tree holds (or held): entries removed or to remove, bytes, what is kept."""

    def __init__(self) -> None:
        self.items = 0
        self.size = 0
        self.links = 0
        #: "path: why" for every entry that is (or would be) kept.
        self.kept: list[str] = []


def _walk(fd: int, path: Path, survey: TreeSurvey, *, depth: int, remove: bool) -> None:
    """Look at (and with ``remove``, delete) the content of the open folder ``fd``, depth first."""
    me = _euid()
    try:
        names = sorted(os.listdir(fd))
    except OSError as exc:
        survey.kept.append(f"{path}: {exc.strerror}")
        return
    for name in names:
        if survey.items >= MAX_TREE_ENTRIES:
            survey.kept.append(f"{path}: more than {MAX_TREE_ENTRIES} entries; the rest was not looked at")
            return
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            continue
        if me is not None and st.st_uid != me:
            survey.kept.append(f"{path / name}: belongs to {_owner_name(st.st_uid)}, not you: kept")
            continue
        if stat.S_ISDIR(st.st_mode):
            if depth >= MAX_TREE_DEPTH:
                survey.kept.append(f"{path / name}: deeper than {MAX_TREE_DEPTH} levels: kept")
                continue
            try:
                sub = SafeDir._open_owned_dir(fd, name)
            except OSError as exc:
                survey.kept.append(f"{path / name}: {exc.strerror or exc}")
                continue
            before = len(survey.kept)
            try:
                _walk(sub, path / name, survey, depth=depth + 1, remove=remove)
            finally:
                os.close(sub)
            if len(survey.kept) > before:
                continue  # something inside is kept, so is this folder
            if remove:
                try:
                    os.rmdir(name, dir_fd=fd)
                except OSError as exc:
                    survey.kept.append(f"{path / name}: {exc.strerror}")
                    continue
            survey.items += 1
            continue
        if remove:
            try:
                os.unlink(name, dir_fd=fd)  # a link goes, its target stays
            except OSError as exc:
                survey.kept.append(f"{path / name}: {exc.strerror}")
                continue
        survey.items += 1
        if stat.S_ISLNK(st.st_mode):
            survey.links += 1
        else:
            survey.size += st.st_size
