"""The compatibility table (``data/compat.toml``), evaluated with ``packaging``.

Kept as data so that the TensorFlow matrix (``nox -s matrix``) can prove every row
against what each release really does, and a wrong edit makes the matrix fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from mnist_doctor.compat.source import read_table


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Release:
    """One row: the TensorFlow versions it covers and what they need."""

    tensorflow: SpecifierSet
    python: SpecifierSet
    numpy: SpecifierSet
    keras: SpecifierSet
    tf_keras: SpecifierSet
    numpy_note: str | None = None

    def covers(self, version: Version) -> bool:
        return self.tensorflow.contains(version, prereleases=True)

    @property
    def label(self) -> str:
        return str(self.tensorflow)


def _release(row: dict[str, Any]) -> Release:
    return Release(
        tensorflow=SpecifierSet(row["tensorflow"]),
        python=SpecifierSet(row["python"]),
        numpy=SpecifierSet(row["numpy"]),
        keras=SpecifierSet(row["keras"]),
        tf_keras=SpecifierSet(row["tf_keras"]),
        numpy_note=row.get("numpy_note"),
    )


def load_table(path: str | Path | None = None) -> list[Release]:
    """Read the table; ``path`` (or ``MNIST_DOCTOR_COMPAT_TABLE``) swaps in another file."""
    return [_release(row) for row in read_table(path)["release"]]


@dataclass(frozen=True)
class KnownBreak:
    """A declared-range violation known to break the import (``[[known_break]]`` in the table)."""

    package: str
    tensorflow: SpecifierSet
    version: SpecifierSet
    why: str


@lru_cache(maxsize=1)
def known_breaks() -> tuple[KnownBreak, ...]:
    return tuple(
        KnownBreak(
            canonical(row["package"]),
            SpecifierSet(row["tensorflow"]),
            SpecifierSet(row["version"]),
            row["why"],
        )
        for row in read_table().get("known_break", [])
    )


def known_break(package: str, version: Version, tf_version: Version) -> KnownBreak | None:
    """The row saying ``package`` at ``version`` breaks this TensorFlow, if there is one."""
    for row in known_breaks():
        if (
            row.package == canonical(package)
            and row.tensorflow.contains(tf_version, prereleases=True)
            and row.version.contains(version, prereleases=True)
        ):
            return row
    return None


@lru_cache(maxsize=1)
def default_table() -> tuple[Release, ...]:
    return tuple(load_table())


def release_for(
    tf_version: Version, table: tuple[Release, ...] | list[Release] | None = None
) -> Release | None:
    """The row covering ``tf_version`` (dev/rc builds match their release line)."""
    rows = table if table is not None else default_table()
    base = Version(tf_version.base_version)
    for row in rows:
        if row.covers(tf_version) or row.covers(base):
            return row
    return None


def table_span(table: tuple[Release, ...] | list[Release] | None = None) -> str:
    rows = table if table is not None else default_table()
    lows = sorted(min(Version(s.version) for s in r.tensorflow) for r in rows)
    return f"{lows[0].major}.{lows[0].minor}–{lows[-1].major}.{lows[-1].minor}"


def releases_supporting_python(
    python: Version, table: tuple[Release, ...] | list[Release] | None = None
) -> list[Release]:
    rows = table if table is not None else default_table()
    return [r for r in rows if r.python.contains(python, prereleases=True)]


def declared(requirements: list[Requirement], name: str, marker_env: dict[str, str]) -> list[Requirement]:
    """Requirements on ``name`` that apply here (markers evaluated for the target, no extras)."""
    out = []
    for req in requirements:
        if canonical(req.name) != canonical(name):
            continue
        if req.marker is not None and not applies(req.marker, marker_env):
            continue
        out.append(req)
    return out


def declared_specs(requirements: list[Requirement], marker_env: dict[str, str]) -> dict[str, str]:
    """``{canonical name: specifier}`` of the requirements that apply here (hints install these)."""
    out: dict[str, str] = {}
    for req in requirements:
        if req.marker is not None and not applies(req.marker, marker_env):
            continue
        if req.specifier:
            key = canonical(req.name)
            out[key] = ",".join(s for s in (out.get(key), str(req.specifier)) if s)
    return out


def applies(marker: Marker, marker_env: dict[str, str]) -> bool:
    env = dict(marker_env)
    env.setdefault("extra", "")
    try:
        return marker.evaluate(env)
    except Exception:
        return True
