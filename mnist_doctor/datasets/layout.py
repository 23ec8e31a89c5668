"""Where each Keras line keeps a dataset's files, and what state an extracted archive folder is in.

Pure rules over the dataset table and the file system (nothing is written). Why they matter:
Keras 2, tf-keras and Keras < 3.6 extract ``cifar-10-python.tar.gz`` into
``cifar-10-batches-py/`` only when that folder is missing, so a folder left half-extracted
(an interrupted first call, a full disk) breaks ``load_data()`` with ``FileNotFoundError``
forever; Keras >= 3.6 keeps the archive as ``cifar-10-batches-py-target_archive`` and
re-extracts it on every call. After an upgrade (TF 2.15 -> 2.16) a complete copy may sit only
under the other line's names, and Keras would download 170 MB again.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mnist_doctor.datasets.table import Archive, Dataset, Layout

# Extraction states of an archive's folder.
ABSENT = "missing"
COMPLETE = "complete"
HALF = "half-extracted"
NOT_A_FOLDER = "not-a-folder"


def line_version(kind: str | None, version: object) -> tuple[int, int] | None:
    """``(major, minor)`` of a Keras flavour's version (``packaging`` Version or None)."""
    release = getattr(version, "release", None)
    if not release:
        return None
    return (int(release[0]), int(release[1]) if len(release) > 1 else 0)


def line_name(layout: Layout) -> str:
    """The Keras lines that use ``layout``, for messages."""
    return "Keras >= 3.6" if layout.extracts_every_call else "Keras 2 / tf-keras / Keras < 3.6"


def current_and_other(
    archive: Archive, kind: str | None, version: tuple[int, int] | None
) -> tuple[Layout, Layout]:
    """The layout the Keras in use reads, and the other line's (no Keras: Keras 3 rules, like the cache)."""
    current = archive.layout(kind or "keras3", version)
    other = archive.keras36 if current is archive.legacy else archive.legacy
    return current, other


def file_paths(dataset: Dataset, datasets_root: Path) -> list[Path]:
    """Where Keras reads each plain (not extracted) file of ``dataset`` under ``<base>``.

    ``datasets_root`` is ``<base>/datasets``; a loader's ``cache_subdir`` starts with ``datasets``.
    """
    folder = datasets_root.parent / dataset.cache_subdir
    return [folder / f.name for f in dataset.files]


@dataclass(frozen=True)
class Extraction:
    """The state of ``folder`` (an archive's members folder) and the members missing or empty."""

    folder: Path
    state: str
    missing: tuple[str, ...] = ()
    empty: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        if self.state == ABSENT:
            return f"{self.folder} does not exist (not extracted)"
        if self.state == NOT_A_FOLDER:
            return f"{self.folder} is not a folder"
        if self.state == COMPLETE:
            return f"{self.folder} holds every member"
        parts = []
        if self.missing:
            parts.append("missing " + ", ".join(self.missing))
        if self.empty:
            parts.append("empty " + ", ".join(self.empty))
        return f"{self.folder} is half-extracted: " + "; ".join(parts)


def extraction_state(folder: Path, members: tuple[str, ...]) -> Extraction:
    """Whether every member exists as a non-empty regular file in ``folder`` (lstat/stat only)."""
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        if os.path.islink(folder):
            return Extraction(folder, NOT_A_FOLDER)
        return Extraction(folder, ABSENT)
    except OSError:
        return Extraction(folder, NOT_A_FOLDER)
    if not stat.S_ISDIR(st.st_mode):
        return Extraction(folder, NOT_A_FOLDER)
    missing: list[str] = []
    empty: list[str] = []
    for name in members:
        try:
            member = os.stat(folder / name)
        except OSError:
            missing.append(name)
            continue
        if not stat.S_ISREG(member.st_mode):
            missing.append(name)
        elif member.st_size == 0:
            empty.append(name)
    if missing or empty:
        return Extraction(folder, HALF, tuple(missing), tuple(empty))
    return Extraction(folder, COMPLETE)
