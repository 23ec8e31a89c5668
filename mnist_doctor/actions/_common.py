"""What the cache actions share: sizes, plain-text messages, the facts they act on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rich.console import Console

from mnist_doctor.datasets.spec import DatasetSpec
from mnist_doctor.datasets.table import Archive, DataFile, Dataset, Layout
from mnist_doctor.facts import Facts
from mnist_doctor.facts.cache import CACHE_SUBDIR, KerasCache
from mnist_doctor.facts.flavour import KerasFlavour
from mnist_doctor.text.redact import redact_text

COPY_CHUNK = 1 << 20
NET_CHUNK = 1 << 16
ATTEMPTS = 3
BACKOFF_S = 1.0  # waits 1 s, then 2 s, ... between attempts
SOCKET_TIMEOUT_S = 30.0


def say(console: Console, label: str, message: str = "", style: str | None = None) -> None:
    """Print ``label`` styled and ``message`` plain: no markup parsing, so paths print as they are."""
    from rich.text import Text

    text = Text(redact_text(label) or "", style=style or "")
    if message:
        text.append(" " + (redact_text(message) or ""))
    console.print(text)


def plain(console: Console, message: str) -> None:
    """Print ``message`` as it is: no markup parsing (a path may hold ``[...]``), credentials redacted."""
    from rich.text import Text

    console.print(Text(redact_text(message) or ""))


@dataclass(frozen=True)
class Target:
    """One file of one dataset as the current Keras line keeps it: in ``subdir``, under ``name``."""

    dataset: Dataset
    data_file: DataFile
    #: The name Keras reads: the file's own, or for an archive the current line's archive name.
    name: str
    #: Folders below ``<base>/datasets`` (``("fashion-mnist",)`` or empty).
    subdir: tuple[str, ...]
    #: For an archive: the layout of the current Keras line (where it extracts).
    layout: Layout | None = None

    @property
    def spec(self) -> DatasetSpec:
        return self.data_file.spec

    def folder(self, datasets_dir: Path) -> Path:
        return datasets_dir.joinpath(*self.subdir)

    @property
    def label(self) -> str:
        """How the report names it: ``mnist.npz``, ``fashion_mnist/train-images-idx3-ubyte.gz``."""
        if len(self.dataset.files) == 1:
            return self.data_file.name
        return f"{self.dataset.name}/{self.data_file.name}"


def subdir_of(dataset: Dataset) -> tuple[str, ...]:
    """The dataset's folders below ``<base>/datasets`` (its ``cache_subdir`` minus ``datasets``)."""
    parts = PurePosixPath(dataset.cache_subdir).parts
    return tuple(parts[1:]) if parts and parts[0] == CACHE_SUBDIR else tuple(parts)


@dataclass
class Context:
    """What every action works from, read from the facts once: the cache, the datasets, the Keras line."""

    facts: Facts
    cache: KerasCache
    datasets: tuple[Dataset, ...]

    @property
    def flavour(self) -> KerasFlavour | None:
        """The Keras line (only archives need it: the names ``get_file`` gives them differ by line)."""
        flavour: KerasFlavour | None = self.facts.get("keras_flavour")
        return flavour

    def layout(self, archive: Archive) -> Layout:
        """The current line's layout; with no Keras installed, Keras 3's (as the cache rules assume)."""
        flavour = self.flavour
        kind = flavour.kind if flavour and flavour.kind else "keras3"
        version = flavour.version if flavour and flavour.kind else None
        return archive.layout(kind, (version.major, version.minor) if version else None)

    def targets(self) -> list[Target]:
        """Every file of every selected dataset, named as the current Keras line reads it."""
        found: list[Target] = []
        for loader in self.datasets:
            for data_file in loader.files:
                layout = self.layout(loader.archive) if loader.archive else None
                name = layout.archive if layout else data_file.name
                found.append(Target(loader, data_file, name, subdir_of(loader), layout))
        return found

    @property
    def single_mnist(self) -> bool:
        """Only MNIST selected: every message stays exactly as before ``--dataset`` existed."""
        return [d.is_default for d in self.datasets] == [True]


def open_context(
    facts: Facts, console: Console, *, every_dataset: bool = False, need_flavour: bool = True
) -> Context | None:
    """The cache and the datasets of this run (``every_dataset``: all the table's loaders, for
    ``--seed`` without ``--dataset``), or ``None`` after saying why they cannot be known.

    ``need_flavour``: an archive among them is named after the Keras line, so that line must
    be known too (``--clear-cache`` removes every line's names and does without).
    """
    try:
        cache = facts.get("keras_cache")
        chosen = tuple(facts.get("datasets"))
        if every_dataset:
            chosen = every_loader(facts)
        if need_flavour and any(loader.archive for loader in chosen):
            facts.get("keras_flavour")
    except Exception as exc:  # FactError or the provider's own error: a message, not a traceback
        say(console, "cannot work out where Keras keeps its cache:", f"{redact_text(str(exc))}", "red")
        console.print("hint: run `mnist-doctor --select cache --verbose` to see why")
        return None
    return Context(facts, cache, chosen)


def every_loader(facts: Facts) -> tuple[Dataset, ...]:
    """All the table's loaders, as the ``datasets`` fact gives them (pins, origin applied): the same
    provider asked with every name selected, MNIST's spec shared with this run."""
    from dataclasses import replace

    from mnist_doctor.datasets.table import names

    every = Facts(replace(facts.options, datasets=names()), overrides={"dataset": facts.get("dataset")})
    return tuple(every.get("datasets"))
