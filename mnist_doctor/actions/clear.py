"""``--clear-cache``: remove mnist.npz and the doctor's own partial files, and nothing else.

Each candidate folder is opened once through :class:`~mnist_doctor.safe_dir.SafeDir`
(never through a link that leads out of the cache, never another user's folder) and
entries are listed and removed by name relative to that open folder. Only ``mnist.npz``
itself (Keras' own download target, which it writes in place) and the doctor's
``.mnist.npz.<hex>.part`` temp files are touched: a user's ``mnist.npz.bak`` never is.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from mnist_doctor.actions._common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    _context,
    _mb,
    _plain,
    _say,
)
from mnist_doctor.facts import Facts
from mnist_doctor.facts.cache import KerasCache
from mnist_doctor.safe_dir import SafeDir, UnsafeFolder, is_temp_name


@dataclass
class CacheEntry:
    folder: SafeDir
    name: str
    kind: str  # file, symlink, directory, other
    size: int
    note: str = ""
    keep: bool = False  # listed for information, never removed

    @property
    def path(self) -> Path:
        return self.folder.path / self.name


@dataclass
class Survey:
    """What ``--clear-cache`` found: entries, folders it refused, folders to close afterwards."""

    entries: list[CacheEntry] = field(default_factory=list)
    refused: list[tuple[UnsafeFolder, bool]] = field(default_factory=list)  # (why, Keras reads it)
    opened: list[SafeDir] = field(default_factory=list)

    def close(self) -> None:
        for folder in self.opened:
            folder.close()


def _foreign(st: os.stat_result) -> bool:
    """Owned by another user (root may act, but should not clear other users' caches unasked)."""
    return hasattr(os, "geteuid") and st.st_uid != os.geteuid()


def _describe(folder: SafeDir, name: str, read_here: bool) -> CacheEntry | None:
    try:
        st = folder.lstat(name)
    except OSError:
        return None
    if not read_here and _foreign(st):
        note = f"belongs to uid {st.st_uid} and Keras does not read it here: kept"
        return CacheEntry(folder, name, "file", st.st_size, note, keep=True)
    if stat.S_ISLNK(st.st_mode):
        try:
            target = folder.readlink(name)
        except OSError:
            target = "?"
        return CacheEntry(folder, name, "symlink", 0, f"link to {target}; the link goes, its target stays")
    if stat.S_ISDIR(st.st_mode):
        try:
            empty = folder.is_empty_dir(name)
        except OSError:
            empty = False
        note = "empty folder" if empty else "folder with content: kept"
        return CacheEntry(folder, name, "directory", 0, note)
    kind = "file" if stat.S_ISREG(st.st_mode) else "other"
    return CacheEntry(folder, name, kind, st.st_size)


def survey(cache: KerasCache, file_name: str) -> Survey:
    """The dataset file and the doctor's partials in every candidate folder; nothing else is listed."""
    found = Survey()
    seen: set[tuple[int, int]] = set()
    for path in cache.candidates:
        read_here = path == cache.datasets_dir
        try:
            folder = SafeDir.open(path)
        except FileNotFoundError:
            continue
        except UnsafeFolder as exc:
            found.refused.append((exc, read_here))
            continue
        except OSError:
            continue  # not a folder, or not readable: nothing of ours can be in it
        st = os.fstat(folder.fd)
        if (st.st_dev, st.st_ino) in seen:
            folder.close()
            continue
        seen.add((st.st_dev, st.st_ino))
        found.opened.append(folder)
        try:
            names = folder.names()
        except OSError:
            continue
        for name in [file_name, *(n for n in names if is_temp_name(n, file_name))]:
            entry = _describe(folder, name, read_here)
            if entry is not None:
                found.entries.append(entry)
    return found


def _remove(entry: CacheEntry) -> str | None:
    """Remove one entry by name inside its verified folder; returns an error message or None."""
    try:
        if entry.kind == "directory":
            entry.folder.rmdir(entry.name)  # only an empty folder: rmdir fails otherwise
        else:
            entry.folder.unlink(entry.name)  # never follows a symlink: the target is untouched
    except OSError as exc:
        if entry.kind == "directory":
            return "a folder with content; look inside, then: rm -r -- " + str(entry.path)
        return f"{exc.strerror}"
    return None


def _report_refused(console: Console, found: Survey) -> bool:
    """Say which folders were not touched and why; True when Keras reads one of them."""
    blocking = False
    for exc, read_here in found.refused:
        label = "not touched (Keras reads this folder):" if read_here else "not touched:"
        _say(console, label, f"{exc.path} {exc.reason}", "red" if read_here else "yellow")
        _plain(console, f"hint: {exc.hint}")
        blocking = blocking or read_here
    return blocking


def clear_cache(facts: Facts, console: Console, *, yes: bool, dry_run: bool, interactive: bool) -> int:
    """Remove ``mnist.npz`` and the doctor's partial files from every folder Keras may use.

    Lists them with sizes first; asks on a terminal unless ``--yes``; ``--dry-run`` only
    lists. Exit 0 when done or nothing to do, 1 when something could not be removed, the
    folder Keras reads was refused as unsafe, or the user declined; 2 when confirmation is
    needed but there is no terminal.
    """
    context = _context(facts, console)
    if context is None:
        return EXIT_FAIL
    cache, spec = context
    found = survey(cache, spec.file_name)
    try:
        return _clear(
            found, cache, spec.file_name, console, yes=yes, dry_run=dry_run, interactive=interactive
        )
    finally:
        found.close()


def _clear(
    found: Survey,
    cache: KerasCache,
    file_name: str,
    console: Console,
    *,
    yes: bool,
    dry_run: bool,
    interactive: bool,
) -> int:
    blocked = _report_refused(console, found)
    listed = found.entries
    entries = [e for e in listed if not e.keep]
    if not entries:
        for entry in listed:
            _plain(console, f"{entry.path}: {entry.note}")
        folders = ", ".join(str(f) for f in cache.candidates)
        _plain(console, f"nothing to remove: no {file_name} or partial file in {folders}")
        return EXIT_FAIL if blocked else EXIT_OK
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{file_name} files in the Keras cache", box=None, pad_edge=False)
    for column in ("path", "kind", "size", "note"):
        table.add_column(column)
    for entry in listed:
        note = entry.note + ("   ← Keras reads this one" if entry.path == cache.dataset_path else "")
        table.add_row(Text(str(entry.path)), entry.kind, _mb(entry.size), Text(note))
    console.print(table)
    total = sum(e.size for e in entries)
    if dry_run:
        _plain(console, f"dry run: would remove {len(entries)} item(s), {_mb(total)}; nothing removed")
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
    _plain(console, f"removed {len(entries) - len(failures)} item(s), freed {_mb(freed)}")
    for failure in failures:
        _say(console, "not removed:", f"{failure}", "red")
    if failures and not any(e.kind == "directory" for e in entries):
        _plain(console, f'hint: sudo chown -R "$(id -un)" {cache.base}   # then run --clear-cache again')
    return EXIT_FAIL if failures or blocked else EXIT_OK
