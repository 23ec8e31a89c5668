"""``--clear-cache``: remove mnist.npz and its partial downloads, and nothing else."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from mnist_doctor import npz_check
from mnist_doctor.actions._common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    _context,
    _mb,
    _say,
)
from mnist_doctor.cache_paths import KerasCache
from mnist_doctor.facts import Facts


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
