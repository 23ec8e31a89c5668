"""Many hosts' reports → one answer: which machines cannot load the data, why, and what differs.

* **Causes**: one row per root cause, keyed by its name (``Problem.cause``: the root check's id
  and the cause it named), with every host that has it and its fix once — or once per distinct
  wording, when the hosts' reports print different commands for it (an interpreter path in a
  ``pip`` line).
* **Drift**: Python, TensorFlow, Keras, tf-keras, NumPy, the proxy urllib uses and the cache
  folder, wherever the hosts that reported them differ.
* **Shared caches**: hosts whose cache folder is one place — the same file system path on a
  network file system (its source and the path inside it, whatever the mount point), or the same
  folder on one machine — get the advice to seed it once, because workers downloading into one
  cache at once read each other's half-written file.
* **Exit code**: the worst host's (1 when any failed, or a machine asked gave no report).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mnist_doctor.fleet.model import Collected, Fix, HostReport, Problem, Skipped, Unanswered
from mnist_doctor.model import Status
from mnist_doctor.text.output import plural


def _severity(status: str) -> int:
    """A reported status's rank in the one order (:attr:`Status.severity`); one this doctor does
    not know (a newer report's) ranks as a failure."""
    try:
        return Status(status).severity
    except ValueError:
        return Status.FAIL.severity


#: Distributions of TensorFlow the report may name (the report lists the one installed).
TF_NAMES = ("tensorflow", "tf-nightly", "intel-tensorflow")


@dataclass(frozen=True)
class Host:
    """A host as the merged answer names it: unique, readable, and where its report came from."""

    name: str
    report: HostReport


@dataclass(frozen=True)
class FixVariant:
    fix: Fix
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class CauseRow:
    """One root cause across the fleet: the hosts that have it and how to fix it."""

    cause: str
    status: str
    title: str
    hosts: tuple[str, ...]
    fixes: tuple[FixVariant, ...]


@dataclass(frozen=True)
class DriftValue:
    value: str
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class Drift:
    """One thing that differs across hosts, each value with the hosts that have it."""

    what: str
    label: str
    values: tuple[DriftValue, ...]


@dataclass(frozen=True)
class SharedCache:
    """Several hosts whose ``load_data()`` reads and writes one cache folder."""

    hosts: tuple[str, ...]
    path: str
    fs_type: str | None
    network: bool
    location: str
    advice: str


@dataclass(frozen=True)
class FleetView:
    """The merged answer every renderer reads (through :meth:`to_dict`)."""

    hosts: tuple[Host, ...]
    causes: tuple[CauseRow, ...]
    drift: tuple[Drift, ...]
    shared: tuple[SharedCache, ...]
    unanswered: tuple[Unanswered, ...]
    skipped: tuple[Skipped, ...]
    verdict: str
    headline: str
    exit_code: int

    @property
    def healthy(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts if h.report.healthy)

    def to_dict(self) -> dict[str, Any]:
        """The ``fleet`` document's fields (docs/json.md), before ``schema``/``mode``/``tool``."""
        return {
            "verdict": self.verdict,
            "headline": self.headline,
            "hosts": [_host_dict(h) for h in self.hosts],
            "healthy": list(self.healthy),
            "causes": [
                {
                    "cause": row.cause,
                    "status": row.status,
                    "title": row.title,
                    "hosts": list(row.hosts),
                    "fixes": [
                        {
                            "advice": v.fix.advice,
                            "commands": [
                                {"command": c.command, "comment": c.comment} for c in v.fix.commands
                            ],
                            "hosts": list(v.hosts),
                        }
                        for v in row.fixes
                    ],
                }
                for row in self.causes
            ],
            "drift": [
                {
                    "what": d.what,
                    "label": d.label,
                    "values": [{"value": v.value, "hosts": list(v.hosts)} for v in d.values],
                }
                for d in self.drift
            ],
            "shared_caches": [
                {
                    "hosts": list(s.hosts),
                    "path": s.path,
                    "fs_type": s.fs_type,
                    "network": s.network,
                    "location": s.location,
                    "advice": s.advice,
                }
                for s in self.shared
            ],
            "unanswered": [{"name": u.name, "source": u.source, "reason": u.reason} for u in self.unanswered],
            "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
        }


def _host_dict(host: Host) -> dict[str, Any]:
    r = host.report
    return {
        "name": host.name,
        "host": r.host,
        "node": r.node,
        "source": r.source,
        "exit_code": r.exit_code,
        "verdict": r.verdict,
        "headline": r.headline,
        "causes": [p.cause for p in r.problems],
        "python_version": r.python,
        "target_python": r.target_python,
        "packages": dict(r.packages),
        "proxy": r.proxy,
        "cache": None
        if r.cache is None
        else {
            "path": r.cache.path,
            "resolved": r.cache.resolved,
            "fs_type": r.cache.fs_type,
            "network": r.cache.network,
        },
    }


def name_hosts(reports: list[HostReport]) -> tuple[Host, ...]:
    """Each report's host name, made unique with its Ray node or source where names repeat."""
    base = [r.host or r.node or "unknown host" for r in reports]
    counts = Counter(base)
    hosts = [
        Host(name if counts[name] == 1 else f"{name} [{r.node or r.source}]", r)
        for name, r in zip(base, reports, strict=True)
    ]
    return tuple(sorted(hosts, key=lambda h: h.name))


def _causes(hosts: tuple[Host, ...]) -> tuple[CauseRow, ...]:
    seen: dict[str, list[tuple[str, Problem]]] = {}
    for host in hosts:
        for problem in host.report.problems:
            seen.setdefault(problem.cause, []).append((host.name, problem))
    rows = []
    for cause, found in seen.items():
        status = max((p.status for _, p in found), key=_severity)
        titles = Counter(p.title for _, p in found)
        variants: dict[Fix, list[str]] = {}
        for name, problem in found:
            if problem.fix is not None:
                variants.setdefault(problem.fix, []).append(name)
        rows.append(
            CauseRow(
                cause=cause,
                status=status,
                title=titles.most_common(1)[0][0],
                hosts=tuple(dict.fromkeys(name for name, _ in found)),
                fixes=tuple(FixVariant(fix, tuple(names)) for fix, names in variants.items()),
            )
        )
    return tuple(sorted(rows, key=lambda r: (-_severity(r.status), -len(r.hosts), r.cause)))


def _package(name: str) -> Callable[[HostReport], str | None]:
    def read(report: HostReport) -> str | None:
        packages = dict(report.packages)
        if name not in packages:
            return None
        return packages[name] or "not installed"

    return read


def _tensorflow(report: HostReport) -> str | None:
    found = [(n, v) for n, v in report.packages if n.startswith(TF_NAMES)]
    installed = [(n, v) for n, v in found if v]
    if installed:
        return ", ".join(v if n == "tensorflow" else f"{n} {v}" for n, v in installed if v)
    return "not installed" if found else None


def _proxy(report: HostReport) -> str | None:
    if report.proxy is None:
        return None
    return report.proxy or "direct (no proxy)"


#: What drift compares: (key, label, how a host's value is read; None: the host did not say).
DRIFT: tuple[tuple[str, str, Callable[[HostReport], str | None]], ...] = (
    ("python", "Python", lambda r: r.python),
    ("tensorflow", "TensorFlow", _tensorflow),
    ("keras", "Keras", _package("keras")),
    ("tf-keras", "tf-keras", _package("tf-keras")),
    ("numpy", "NumPy", _package("numpy")),
    ("proxy", "proxy in effect", _proxy),
    ("cache", "cache folder", lambda r: r.cache.path if r.cache else None),
)


def _drift(hosts: tuple[Host, ...]) -> tuple[Drift, ...]:
    out = []
    for what, label, read in DRIFT:
        values: dict[str, list[str]] = {}
        for host in hosts:
            value = read(host.report)
            if value is not None:
                values.setdefault(value, []).append(host.name)
        if len(values) > 1:
            ordered = sorted(values.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            out.append(Drift(what, label, tuple(DriftValue(v, tuple(names)) for v, names in ordered)))
    return tuple(out)


def _cache_key(report: HostReport) -> tuple[str, ...] | None:
    """Two hosts with one key use one cache folder: one network path, or one folder of one machine."""
    cache = report.cache
    if cache is None:
        return None
    if cache.network and cache.source:
        return ("network", cache.source, cache.fs_path or cache.resolved)
    return ("local", report.host or report.source, cache.device or "", cache.resolved)


def _shared(hosts: tuple[Host, ...]) -> tuple[SharedCache, ...]:
    groups: dict[tuple[str, ...], list[Host]] = {}
    for host in hosts:
        key = _cache_key(host.report)
        if key is not None:
            groups.setdefault(key, []).append(host)
    out = []
    for key, members in groups.items():
        if len(members) < 2:
            continue
        cache = members[0].report.cache
        assert cache is not None  # a key is made from a cache
        names = tuple(h.name for h in members)
        if key[0] == "network":
            location = f"{cache.source}:{cache.fs_path}" if cache.fs_path else str(cache.source)
            advice = (
                f"these {len(names)} hosts share one cache ({cache.fs_type} {location}): seed it once "
                "(`mnist-doctor --seed FILE` on one host) before the job starts, or give each worker "
                "its own `KERAS_HOME`"
            )
        else:
            location = cache.resolved
            advice = (
                f"these {len(names)} runs on one machine share one cache folder ({location}): seed it "
                "once (`mnist-doctor --seed FILE`) before they start, or give each its own `KERAS_HOME`"
            )
        out.append(SharedCache(names, cache.path, cache.fs_type, key[0] == "network", location, advice))
    return tuple(sorted(out, key=lambda s: (-len(s.hosts), s.location)))


def _headline(hosts: tuple[Host, ...], causes: tuple[CauseRow, ...], unanswered: int) -> str:
    bad = [h for h in hosts if not h.report.healthy]
    problems = [c for c in causes if c.status in ("fail", "error")]
    if bad:
        line = f"{len(bad)} of {plural(len(hosts), 'host')} fail ({plural(len(problems), 'cause')})"
        line += f"; {len(hosts) - len(bad)} healthy" if len(bad) < len(hosts) else ""
    elif hosts:
        line = (
            "all " + plural(len(hosts), "host") + " healthy" if len(hosts) > 1 else "the one host is healthy"
        )
    else:
        line = "no host was diagnosed"
    if unanswered:
        line += f"; {plural(unanswered, 'machine')} gave no report"
    return line


def merge(collected: Collected) -> FleetView:
    """The fleet's answer from everything read (reports, skipped inputs, silent machines)."""
    hosts = name_hosts(collected.reports)
    causes = _causes(hosts)
    shared = _shared(hosts)
    failing = any(not h.report.healthy for h in hosts) or bool(collected.unanswered)
    warned = any(c.status == "warn" for c in causes) or bool(shared)
    return FleetView(
        hosts=hosts,
        causes=causes,
        drift=_drift(hosts),
        shared=shared,
        unanswered=tuple(collected.unanswered),
        skipped=tuple(collected.skipped),
        verdict="fail" if failing else "warn" if warned else "ok",
        headline=_headline(hosts, causes, len(collected.unanswered)),
        exit_code=1 if failing else 0,
    )
