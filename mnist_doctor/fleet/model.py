"""What ``mnist-doctor fleet`` knows about each host, once its report has been read.

Past the reading boundary (:mod:`mnist_doctor.fleet.reports`) nothing handles report dicts: a
host is a :class:`HostReport` with exactly the fields the merge compares, typed, so a report that
lacks one says so at the door instead of as a ``KeyError`` in the merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The statuses a root cause can have in a report's diagnosis.
PROBLEM = ("fail", "error")


@dataclass(frozen=True)
class Command:
    """One line to paste, and the comment the report gave it (``or, with a network``)."""

    command: str
    comment: str | None = None


@dataclass(frozen=True)
class Fix:
    """A problem's fix as the host's report printed it: the advice and the lines to paste."""

    advice: str
    commands: tuple[Command, ...]


@dataclass(frozen=True)
class Problem:
    """One root cause on one host (a ``problems`` or ``warnings`` entry of its diagnosis)."""

    #: The same on every host with this problem (``cache.integrity``, ``load.real:dns``).
    cause: str
    status: str
    title: str
    explanation: str | None = None
    fix: Fix | None = None

    @property
    def is_problem(self) -> bool:
        return self.status in PROBLEM


@dataclass(frozen=True)
class CacheSite:
    """The cache folder Keras reads on a host, and the file system under it."""

    path: str
    resolved: str
    fs_type: str | None = None
    network: bool = False
    source: str | None = None
    fs_path: str | None = None
    device: str | None = None


@dataclass(frozen=True)
class HostReport:
    """One machine's diagnosis, as the merge needs it."""

    #: The host name the report gives (``None``: an older report, or the name was not readable).
    host: str | None
    #: Where the report came from: a file (``reports/gpu-01.json``, ``all.json#3``), ``-``, a Ray node.
    source: str
    exit_code: int
    verdict: str
    headline: str
    problems: tuple[Problem, ...] = ()
    python: str | None = None
    #: Distribution name → version (None: not installed), as the report lists them.
    packages: tuple[tuple[str, str | None], ...] = ()
    #: The proxy urllib uses for the dataset ("" when it connects directly); None: not examined.
    proxy: str | None = None
    cache: CacheSite | None = None
    target_python: str | None = None
    #: A Ray node's name (``ray start --node-name``, by default its IP), when Ray ran it.
    node: str | None = None

    @property
    def healthy(self) -> bool:
        """No failure here: ``load_data()`` works, or will once downloaded (warnings allowed)."""
        return self.exit_code == 0


@dataclass(frozen=True)
class Skipped:
    """An input that is not a report this version can read, and why (never fatal)."""

    source: str
    reason: str


@dataclass(frozen=True)
class Unanswered:
    """A machine that was asked (a Ray node) and gave no report: timed out, or could not run it."""

    name: str
    source: str
    reason: str


@dataclass
class Collected:
    """Everything read from the inputs: the reports, and what could not be used."""

    reports: list[HostReport] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unanswered: list[Unanswered] = field(default_factory=list)
