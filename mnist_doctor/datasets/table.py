"""The table of ``keras.datasets`` loaders (``data/datasets.toml``): files, hashes, cache layouts.

One row per loader says where Keras downloads each file from, what a correct file is (sha256
and size), whether Keras itself would notice a bad copy, and where each Keras line keeps the
file on disk. Everything that depends on the dataset (network stages, cache checks, the load
probe, ``--clear-cache``/``--seed``/``--fetch``) reads these rows; nothing else names a file.
``mnist`` keeps its richer :class:`~mnist_doctor.datasets.spec.DatasetSpec` (array shapes for the
deep ``.npz`` inspection) as the spec of its one file.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from mnist_doctor.datasets.spec import MNIST, DatasetSpec, file_url
from mnist_doctor.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_DATASETS = ("mnist",)
ALL = "all"
#: Test hook: ``{"file name": ["sha256", size], ...}`` replaces pins of synthetic files.
PINS_ENV = "MNIST_DOCTOR_PINS"
#: Keras lines as :class:`~mnist_doctor.facts.flavour.KerasFlavour` names them, plus the
#: split inside Keras 3 where ``get_file`` changed its archive names.
LEGACY_LINES = ("keras2", "tf_keras")


@dataclass(frozen=True)
class DataFile:
    """One file ``get_file`` downloads for a loader."""

    spec: DatasetSpec
    #: What Keras checks after a download: "sha256", "md5" or "none" (a bad copy goes unnoticed).
    keras_pin: str
    #: npz | idx-gz | json | tar-gz
    kind: str
    #: For a file Keras pins by md5 (the word indexes): the md5 it checks.
    md5: str = ""

    @property
    def name(self) -> str:
        return self.spec.file_name

    @property
    def keras_detects_corruption(self) -> bool:
        return self.keras_pin != "none"


@dataclass(frozen=True)
class Layout:
    """Where one Keras line keeps an archive and its extracted folder, relative to the cache subdir."""

    archive: str
    folder: str
    #: The folder holding the members once extracted (relative to the cache subdir).
    members_dir: str
    #: Keras re-extracts on every call (>= 3.6) or only when ``folder`` is missing (before).
    extracts_every_call: bool


@dataclass(frozen=True)
class Archive:
    """How ``get_file(..., extract=True)`` lays out a tarball, per Keras line."""

    inner: str
    members: tuple[str, ...]
    legacy: Layout
    keras36: Layout

    def layout(self, kind: str | None, version: tuple[int, int] | None) -> Layout:
        """The layout of the Keras line in use (Keras 3 before 3.6 keeps the legacy names)."""
        if kind == "keras3" and (version is None or version >= (3, 6)):
            return self.keras36
        return self.legacy

    @property
    def layouts(self) -> tuple[Layout, Layout]:
        return (self.legacy, self.keras36)


@dataclass(frozen=True)
class Dataset:
    """One ``keras.datasets`` loader and the files it needs."""

    name: str
    title: str
    call: str
    cache_subdir: str
    files: tuple[DataFile, ...]
    archive: Archive | None = None
    keras3_only: bool = False

    @property
    def is_default(self) -> bool:
        """The loader a run examines without ``--dataset``: its commands need no ``--dataset`` flag,
        it runs first in the load probe, and ``--origin``/``--seed`` name its file by default."""
        return self.name in DEFAULT_DATASETS

    @property
    def selection(self) -> tuple[str, ...]:
        """The arguments that select this loader in a command: none for the default one."""
        return () if self.is_default else ("--dataset", self.name)

    @property
    def loaded_files(self) -> tuple[DataFile, ...]:
        """The files ``load_data()`` itself reads (a word index is read by ``get_word_index()``)."""
        return tuple(f for f in self.files if f.kind != "json")

    @property
    def main_file(self) -> DataFile:
        """The file a message names when it names one: the first that ``load_data()`` reads."""
        return (self.loaded_files or self.files)[0]

    @property
    def hosts(self) -> tuple[str, ...]:
        """Distinct hosts the files come from, in file order."""
        return tuple(dict.fromkeys(f.spec.host for f in self.files))

    @property
    def total_size(self) -> int:
        return sum(f.spec.size for f in self.files)

    def file(self, name: str) -> DataFile:
        for data_file in self.files:
            if data_file.name == name:
                return data_file
        raise KeyError(name)

    def load_statement(self, api: str = "tf.keras") -> str:
        """The exact call a user writes: ``tf.keras.datasets.cifar10.load_data()``."""
        return f"{api}.datasets.{self.call}"

    def with_origin(self, origin: str) -> Dataset:
        """Files fetched from a mirror: a folder URL (ending in ``/``) serves every file by name.

        A URL naming one file only fits a dataset of one file; for several files the folder is
        required (the caller validates that with :func:`origin_problem`).
        """
        if origin.endswith("/") or len(self.files) > 1:
            files = tuple(replace(f, spec=f.spec.with_origin(file_url(origin, f.name))) for f in self.files)
        else:
            files = (replace(self.files[0], spec=self.files[0].spec.with_origin(origin)),)
        return replace(self, files=files)


def _row_file(row: Mapping[str, Any], dataset: str) -> DataFile:
    name = str(row["name"])
    sha256 = str(row.get("sha256", ""))
    spec = (
        MNIST
        if dataset == "mnist"
        else DatasetSpec(origin=str(row["origin"]), file_name=name, sha256=sha256, size=int(row["size"]))
    )
    return DataFile(
        spec=spec, keras_pin=str(row["keras_pin"]), kind=str(row["kind"]), md5=str(row.get("md5", ""))
    )


def _row_archive(row: Mapping[str, Any]) -> Archive:
    inner = str(row["inner"])
    legacy = Layout(
        archive=str(row["legacy_archive"]),
        folder=str(row["legacy_folder"]),
        members_dir=str(row["legacy_folder"]),
        extracts_every_call=False,
    )
    keras36 = Layout(
        archive=str(row["keras36_archive"]),
        folder=str(row["keras36_folder"]),
        members_dir=f"{row['keras36_folder']}/{inner}",
        extracts_every_call=True,
    )
    return Archive(inner=inner, members=tuple(str(m) for m in row["members"]), legacy=legacy, keras36=keras36)


@functools.cache
def table() -> dict[str, Dataset]:
    """Every loader, by name, in the table's order."""
    text = resources.files("mnist_doctor.data").joinpath("datasets.toml").read_text(encoding="utf-8")
    rows = tomllib.loads(text)["datasets"]
    found: dict[str, Dataset] = {}
    for name, row in rows.items():
        found[name] = Dataset(
            name=name,
            title=str(row["title"]),
            call=str(row["call"]),
            cache_subdir=str(row["cache_subdir"]),
            files=tuple(_row_file(f, name) for f in row["files"]),
            archive=_row_archive(row["archive"]) if "archive" in row else None,
            keras3_only=bool(row.get("keras3_only", False)),
        )
    return found


def is_keras_origin(origin: str) -> bool:
    """Whether ``origin`` is a URL Keras itself downloads from (not a mirror the user gave)."""
    return any(f.spec.origin == origin for dataset in table().values() for f in dataset.files)


def default_loader() -> Dataset:
    """The row of the loader a run examines without ``--dataset``."""
    return table()[DEFAULT_DATASETS[0]]


def names() -> tuple[str, ...]:
    return tuple(table())


def parse_selection(value: str | None) -> tuple[str, ...]:
    """``--dataset NAME[,NAME…]`` or ``all`` → loader names, in table order, each once.

    Unknown or empty names are a usage error naming the known ones; a dash spelling
    (``fashion-mnist``) is accepted for the underscore name.
    """
    if value is None:
        return DEFAULT_DATASETS
    known = names()
    wanted: list[str] = []
    for raw in value.split(","):
        item = raw.strip().lower().replace("-", "_")
        if item == ALL:
            wanted.extend(known)
        elif item in known:
            wanted.append(item)
        else:
            shown = raw.strip()[:40] or "(empty)"
            raise UsageError(
                f"--dataset: unknown dataset {shown!r}",
                hint="choose from " + ", ".join((*known, ALL)) + ", e.g. --dataset mnist,cifar10",
            )
    return tuple(n for n in known if n in set(wanted))


def origin_problem(origin: str | None, selected: Iterable[str]) -> str | None:
    """Why ``--origin``/``--mirror`` cannot serve the selection (a file URL for several files)."""
    if not origin or origin.endswith("/"):
        return None
    files = [f.name for n in selected for f in table()[n].files]
    if len(files) > 1:
        return f"names one file, but the selected datasets need {len(files)}: give a folder URL ending in '/'"
    return None


def pins_from_env(env: Mapping[str, str] | None = None) -> dict[str, tuple[str, int]]:
    """Test hook (:data:`PINS_ENV`): pinned hash and size of synthetic files, by file name."""
    values = os.environ if env is None else env
    raw = values.get(PINS_ENV)
    if not raw:
        return {}
    hint = f'export {PINS_ENV}=\'{{"cifar-10-python.tar.gz": ["<sha256>", <size>]}}\''
    try:
        decoded = json.loads(raw)
    except ValueError:
        raise UsageError(f"{PINS_ENV} is not JSON", hint=hint) from None
    if not isinstance(decoded, dict):
        raise UsageError(f"{PINS_ENV} must map file names to [sha256, size]", hint=hint)
    pins: dict[str, tuple[str, int]] = {}
    for name, pin in decoded.items():
        ok = (
            isinstance(pin, list)
            and len(pin) == 2
            and isinstance(pin[0], str)
            and len(pin[0]) == 64
            and all(c in "0123456789abcdef" for c in pin[0].lower())
            and isinstance(pin[1], int)
            and not isinstance(pin[1], bool)
            and 0 <= pin[1] < 1 << 40
        )
        if not ok:
            raise UsageError(f"{PINS_ENV}: {str(name)[:60]!r} needs [sha256 (64 hex), size]", hint=hint)
        pins[str(name)] = (pin[0].lower(), pin[1])
    return pins


def with_pins(dataset: Dataset, pins: Mapping[str, tuple[str, int]]) -> Dataset:
    """``dataset`` with the test hook's pins applied to the files it names."""
    if not pins:
        return dataset
    files = tuple(
        replace(f, spec=f.spec.with_file(*pins[f.name])) if f.name in pins else f for f in dataset.files
    )
    return replace(dataset, files=files)
