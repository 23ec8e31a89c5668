"""``--clear-cache``: remove the selected datasets' own files and the doctor's partials, nothing else.

Each candidate folder is opened once through :class:`~mnist_doctor.files.safe_dir.SafeDir`
(never through a link that leads out of the cache, never another user's folder) and
entries are listed and removed by name relative to that open folder. Only the dataset's
own names are touched: each file under its name (``mnist.npz``, Keras' own download target,
which it writes in place), for an archive both Keras lines' archive names and extraction
folders (a folder is removed with its content through ``SafeDir.remove_tree``: a link inside
goes, its target stays; another user's entry stays), and the doctor's ``.<name>.<hex>.part``
temp files. A user's ``mnist.npz.bak`` never is.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from mnist_doctor.actions._common import (
    Context,
    Target,
    open_context,
    plain,
    say,
    subdir_of,
)
from mnist_doctor.datasets.table import Dataset
from mnist_doctor.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from mnist_doctor.facts import Facts
from mnist_doctor.facts.cache import KerasCache
from mnist_doctor.files.safe_dir import SafeDir, UnsafeFolder, is_temp_name
from mnist_doctor.text.units import human_bytes


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


def own_names(loader: Dataset) -> tuple[list[str], list[str]]:
    """The dataset's own names in its cache folder: (files, extraction folders).

    Its files under their own names, and for an archive every Keras line's archive name and
    extraction folder (a stale layout from another line is the dataset's too). Nothing else.
    """
    files = [f.name for f in loader.files]
    folders: list[str] = []
    if loader.archive is not None:
        for layout in loader.archive.layouts:
            files.append(layout.archive)
            folders.append(layout.folder)
    return list(dict.fromkeys(files)), list(dict.fromkeys(folders))


def survey(cache: KerasCache, loaders: Sequence[Dataset]) -> Survey:
    """The datasets' own files, extraction folders and the doctor's partials in every candidate
    folder; nothing else is listed."""
    found = Survey()
    seen: set[tuple[int, int]] = set()
    for path in cache.candidates:
        read_here = path == cache.datasets_dir
        folder = _open_once(functools.partial(SafeDir.open, path), found, seen, read_here)
        if folder is None:
            continue
        for loader in loaders:
            inner: SafeDir | None = folder
            for part in subdir_of(loader):
                if inner is not None:
                    inner = _open_once(functools.partial(inner.child, part), found, seen, read_here)
            if inner is not None:
                _survey_folder(inner, loader, read_here, found)
    return found


def _open_once(
    opener: Callable[[], SafeDir], found: Survey, seen: set[tuple[int, int]], read_here: bool
) -> SafeDir | None:
    """Open a folder safely, once per run (two candidates may be one folder); refusals are recorded."""
    try:
        folder = opener()
    except FileNotFoundError:
        return None
    except UnsafeFolder as exc:
        found.refused.append((exc, read_here))
        return None
    except OSError:
        return None  # not a folder, or not readable: nothing of ours can be in it
    st = os.fstat(folder.fd)
    if (st.st_dev, st.st_ino) in seen:
        folder.close()
        return None
    seen.add((st.st_dev, st.st_ino))
    found.opened.append(folder)
    return folder


def _survey_folder(folder: SafeDir, loader: Dataset, read_here: bool, found: Survey) -> None:
    try:
        names = folder.names()
    except OSError:
        return
    files, trees = own_names(loader)
    partials = [n for n in names if any(is_temp_name(n, f) for f in files)]
    for name in [*files, *partials]:
        entry = _describe(folder, name, read_here)
        if entry is not None:
            found.entries.append(entry)
    for name in trees:
        entry = _describe(folder, name, read_here)
        if entry is not None and entry.kind == "directory" and not entry.keep:
            entry = _describe_tree(folder, name)
        if entry is not None:
            found.entries.append(entry)


def _describe_tree(folder: SafeDir, name: str) -> CacheEntry:
    """An extraction folder: removed with its content (through safe_dir, never through a link)."""
    tree = folder.walk_tree(name)
    note = f"extracted by Keras, {tree.items} item(s) inside: removed with the folder"
    if tree.links:
        note += f" ({tree.links} link(s) inside go, their targets stay)"
    if tree.kept:
        note += f"; kept: {tree.kept[0]}" + (f" and {len(tree.kept) - 1} more" if len(tree.kept) > 1 else "")
    return CacheEntry(folder, name, "folder tree", tree.size, note)


def _remove(entry: CacheEntry) -> str | None:
    """Remove one entry by name inside its verified folder; returns an error message or None."""
    if entry.kind == "folder tree":
        tree = entry.folder.remove_tree(entry.name)
        entry.size = tree.size
        if tree.kept:
            more = f" (and {len(tree.kept) - 1} more)" if len(tree.kept) > 1 else ""
            return f"partly kept: {tree.kept[0]}{more}"
        return None
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


def _report_links(console: Console, found: Survey) -> None:
    """Say where a folder reached through the user's own link really is: the files go there."""
    said: list[SafeDir] = []
    for folder in found.opened:
        if folder.through_link and not any(folder.path.is_relative_to(s.path) for s in said):
            plain(console, folder.link_line("files are removed there"))
            said.append(folder)


def _report_refused(console: Console, found: Survey) -> bool:
    """Say which folders were not touched and why; True when Keras reads one of them."""
    blocking = False
    for exc, read_here in found.refused:
        label = "not touched (Keras reads this folder):" if read_here else "not touched:"
        say(console, label, f"{exc.path} {exc.reason}", "red" if read_here else "yellow")
        plain(console, f"hint: {exc.hint}")
        blocking = blocking or read_here
    return blocking


def clear_cache(facts: Facts, console: Console, *, yes: bool, dry_run: bool, interactive: bool) -> int:
    """Remove the selected datasets' own files and the doctor's partial files from every folder
    Keras may use (``mnist.npz`` alone unless ``--dataset`` says otherwise).

    Lists them with sizes first; asks on a terminal unless ``--yes``; ``--dry-run`` only
    lists. Exit 0 when done or nothing to do, 1 when something could not be removed, the
    folder Keras reads was refused as unsafe, or the user declined; 2 when confirmation is
    needed but there is no terminal.
    """
    context = open_context(facts, console, need_flavour=False)
    if context is None:
        return EXIT_FAIL
    found = survey(context.cache, context.datasets)
    try:
        return _clear(found, context, console, yes=yes, dry_run=dry_run, interactive=interactive)
    finally:
        found.close()


def _read_by_keras(context: Context) -> set[Path]:
    """The paths the current Keras line reads (the ``← Keras reads this one`` marks)."""
    datasets_dir = context.cache.datasets_dir
    try:
        targets = context.targets()
    except Exception:  # the Keras line is unknown: no archive is marked, MNIST-like files still are
        targets = _plain_targets(context)
    paths = {t.folder(datasets_dir) / t.name for t in targets}
    paths.update(t.folder(datasets_dir) / t.layout.folder for t in targets if t.layout)
    return paths


def _plain_targets(context: Context) -> list[Target]:
    return [
        Target(d, f, f.name, subdir_of(d)) for d in context.datasets if d.archive is None for f in d.files
    ]


def _what(context: Context) -> tuple[str, str]:
    """How the messages name what is cleared: (table title, the "nothing to remove" words)."""
    if context.single_mnist:
        name = context.datasets[0].files[0].name
        return f"{name} files in the Keras cache", f"no {name} or partial file"
    names = ", ".join(d.name for d in context.datasets)
    return f"files of {names} in the Keras cache", f"no file of {names} or partial file"


def _clear(
    found: Survey,
    context: Context,
    console: Console,
    *,
    yes: bool,
    dry_run: bool,
    interactive: bool,
) -> int:
    cache = context.cache
    title, none_words = _what(context)
    blocked = _report_refused(console, found)
    _report_links(console, found)
    for trouble in (t for t in cache.troubles if t.breaks):  # folders no one can reach: said, not searched
        plain(console, f"not searched: {trouble.sentence}; fix: {trouble.fix()}")
    listed = found.entries
    entries = [e for e in listed if not e.keep]
    if not entries:
        for entry in listed:
            plain(console, f"{entry.path}: {entry.note}")
        folders = ", ".join(str(f) for f in cache.candidates)
        plain(console, f"nothing to remove: {none_words} in {folders}")
        return EXIT_FAIL if blocked else EXIT_OK
    from rich.table import Table
    from rich.text import Text

    read = _read_by_keras(context)
    table = Table(title=title, box=None, pad_edge=False)
    for column in ("path", "kind", "size", "note"):
        table.add_column(column)
    for entry in listed:
        note = entry.note + ("   ← Keras reads this one" if entry.path in read else "")
        table.add_row(Text(str(entry.path)), entry.kind, human_bytes(entry.size), Text(note))
    console.print(table)
    total = sum(e.size for e in entries)
    if dry_run:
        plain(console, f"dry run: would remove {len(entries)} item(s), {human_bytes(total)}; nothing removed")
        return EXIT_OK
    if not yes:
        if not interactive:
            say(console, "not removing anything:", "no terminal to confirm on", "yellow")
            console.print("hint: mnist-doctor --clear-cache --yes   # or --dry-run to only list")
            return EXIT_USAGE
        answer = console.input(f"remove these {len(entries)} item(s), {human_bytes(total)}? [y/N] ")
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
    plain(console, f"removed {len(entries) - len(failures)} item(s), freed {human_bytes(freed)}")
    for failure in failures:
        say(console, "not removed:", f"{failure}", "red")
    if failures and not any(e.kind in ("directory", "folder tree") for e in entries):
        plain(console, f'hint: sudo chown -R "$(id -un)" {cache.base}   # then run --clear-cache again')
    return EXIT_FAIL if failures or blocked else EXIT_OK
