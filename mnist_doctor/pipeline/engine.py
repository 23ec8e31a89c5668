"""Find the checks, choose the ones asked for, and run them: concurrently, in ``requires``
order, each isolated (a crash is an ``error`` result) and all bounded by ``--timeout``.

The run ends at the budget's deadline whatever the checks are doing: their threads are
daemons and are abandoned, never joined, and every probe process still running is killed
with its whole group (:func:`mnist_doctor.probing.subproc.kill_all`), so nothing outlives the run.
"""

from __future__ import annotations

import graphlib
import inspect
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from mnist_doctor.checks.grouping import combine
from mnist_doctor.datasets.table import default_loader
from mnist_doctor.errors import UsageError
from mnist_doctor.facts import FactError, Facts, FactUnavailable, registry, wanted_facts
from mnist_doctor.model import OFFLINE_SKIP, CheckResult, Result, Status, family_of
from mnist_doctor.probing.subproc import kill_all

ENTRY_POINT_GROUP = "mnist_doctor.checks"

#: Called as ``on_event(kind, check_id)`` with kind ``start`` or ``finish``.
EventHook = Callable[[str, str], None]


@dataclass
class LoadError:
    """An entry point that could not be loaded: reported as an ``error`` result."""

    name: str
    value: str
    error: str
    traceback: str
    #: ``check`` (a ``mnist_doctor.checks`` entry point) or ``fact`` (``mnist_doctor.facts``).
    kind: str = "check"

    def result(self) -> CheckResult:
        return CheckResult(
            id=f"plugin.{self.name}",
            family="plugin",
            title=f"plugin {self.name}",
            status=Status.ERROR,
            summary=f"{self.kind} plugin {self.value!r} failed to load: {self.error}",
            hint=f"reinstall or remove the package providing {self.value.split(':')[0]}",
            traceback=self.traceback or None,
        )


def _as_checks(obj: Any) -> list[Any]:
    if inspect.isclass(obj):
        return [obj()]
    if hasattr(obj, "run") and hasattr(obj, "id"):
        return [obj]
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        return [c for item in obj for c in _as_checks(item)]
    raise TypeError(f"{obj!r} is neither a check nor a list of checks")


def _validate(check: Any, entry_point: str) -> None:
    """Required attributes present, optional ones defaulted, the family stated once (by the id)."""
    for attr in ("id", "title", "run"):
        if not getattr(check, attr, None):
            raise TypeError(f"check {check!r} has no {attr!r}")
    family = family_of(check.id)
    if family != entry_point:
        raise ValueError(f"check {check.id!r} is registered under {entry_point!r}, not its family {family!r}")
    if getattr(check, "family", family) != family:
        raise ValueError(f"check {check.id!r} says family {check.family!r}; its id says {family!r}")
    if not hasattr(check, "family"):
        check.family = family
    for attr, default in (
        ("requires", ()),
        ("after", ()),
        ("network", False),
        ("slow", False),
        ("timeout", None),
    ):
        if not hasattr(check, attr):
            setattr(check, attr, default)


def discover(group: str = ENTRY_POINT_GROUP) -> tuple[list[Any], list[LoadError]]:
    """All checks registered under the entry-point group, built-in ones included."""
    checks: list[Any] = []
    errors: list[LoadError] = []
    seen: set[str] = set()
    order: dict[str, int] = {}
    for ep in sorted(metadata.entry_points(group=group), key=lambda e: e.name):
        try:
            found = _as_checks(ep.load())
            for check in found:
                _validate(check, ep.name)
                if check.id in seen:
                    raise ValueError(f"duplicate check id {check.id!r}")
            for check in found:
                seen.add(check.id)
            checks.extend(found)
            rank = getattr(sys.modules.get(ep.module), "REPORT_ORDER", None)
            if isinstance(rank, int):
                order.setdefault(ep.name, rank)
        except Exception as exc:
            errors.append(
                LoadError(ep.name, ep.value, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            )
    return _family_order(_known_facts_only(checks, errors), order), errors


def _family_order(checks: list[Any], order: dict[str, int]) -> list[Any]:
    """Families by the ``REPORT_ORDER`` their modules declare; the others after, alphabetically."""

    def key(item: tuple[int, Any]) -> tuple[float, str, int]:
        index, check = item
        return (order.get(check.family, float("inf")), check.family, index)

    return [c for _, c in sorted(enumerate(checks), key=key)]


def _known_facts_only(checks: list[Any], errors: list[LoadError]) -> list[Any]:
    """Checks whose ``run`` asks only for registered facts; the others become load errors.

    A misspelt or missing fact is caught here, before anything runs, and named with the
    check that asked for it, instead of surfacing mid-run as a crashed check.
    """
    facts = registry()
    errors.extend(
        LoadError(f"facts.{e.name}", e.value, e.error, e.traceback, kind="fact") for e in facts.errors
    )
    known = facts.known()
    kept = []
    for check in checks:
        unknown = [name for name in wanted_facts(check.run) if name not in known]
        if unknown:
            where = type(check).__module__
            errors.append(
                LoadError(
                    check.id,
                    where,
                    f"unknown fact {', '.join(map(repr, unknown))} requested by check {check.id}",
                    "",
                )
            )
            continue
        kept.append(check)
    return kept


def _split(values: Iterable[str] | None) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def select(checks: list[Any], select_: Iterable[str] | None, ignore: Iterable[str] | None) -> list[Any]:
    """Apply ``--select`` / ``--ignore`` (ids or families). Unknown names are a usage error.

    A selected check's prerequisites are selected too, so that ``--select network.http``
    still runs the DNS and TCP stages it stands on.
    """
    ids = {c.id for c in checks}
    families = {c.family for c in checks}
    wanted, unwanted = _split(select_), _split(ignore)
    unknown = [name for name in wanted + unwanted if name not in ids and name not in families]
    if unknown:
        raise UsageError(
            f"unknown check id or family: {', '.join(unknown)}",
            hint="valid families: " + ", ".join(sorted(families)) + "\nvalid ids: " + ", ".join(sorted(ids)),
        )

    def matches(check: Any, names: list[str]) -> bool:
        return check.id in names or check.family in names

    chosen = [c for c in checks if matches(c, wanted)] if wanted else list(checks)
    by_id = {c.id: c for c in checks}
    closure = {c.id for c in chosen}
    stack = list(chosen)
    while stack:
        for req in stack.pop().requires:
            if req in by_id and req not in closure:
                closure.add(req)
                stack.append(by_id[req])
    return [c for c in checks if c.id in closure and not matches(c, unwanted)]


class Engine:
    """Runs checks against shared :class:`Facts`."""

    def __init__(self, facts: Facts, on_event: EventHook | None = None) -> None:
        self.facts = facts
        self.on_event = on_event or (lambda kind, check_id: None)

    def run_one(self, check: Any) -> CheckResult:
        """Run a single check, turning any exception into an ``error`` result."""
        start = time.monotonic()
        tb = None
        try:
            if getattr(check, "per_loader", False):
                result = self._per_loader(check)
            else:
                result = self._checked(
                    check.run(**{name: self.facts.get(name) for name in wanted_facts(check.run)})
                )
        except FactUnavailable as exc:
            result = Result(Status.SKIP, str(exc))
        except FactError as exc:
            result = Result(Status.ERROR, f"could not gather what this check needs: {exc}")
            tb = traceback.format_exc()
        except Exception as exc:
            result = Result(Status.ERROR, f"the check crashed: {type(exc).__name__}: {exc}")
            tb = traceback.format_exc()
        return self._stamp(check, result, time.monotonic() - start, tb)

    @staticmethod
    def _checked(result: Any) -> Result:
        if not isinstance(result, Result):
            raise TypeError(f"check returned {type(result).__name__}, not Result")
        return result

    def _per_loader(self, check: Any) -> Result:
        """One result per loader: ``run`` once for each selected loader (its ``loader``), then the
        parts grouped (:func:`~mnist_doctor.checks.grouping.combine`, or the check's ``group``).

        The default loader alone keeps its own result, as before ``--dataset`` existed.
        """
        loaders = self.facts.get("datasets") or (default_loader(),)
        parts = []
        for loader in loaders:
            values = {
                name: loader if name == "loader" else self.facts.get(name) for name in wanted_facts(check.run)
            }
            parts.append((loader.name, self._checked(check.run(**values))))
        if len(loaders) == 1 and loaders[0].is_default:
            return parts[0][1]
        group = getattr(check, "group", None)
        if group is None:
            return combine(parts)
        return self._checked(
            group(**{n: parts if n == "parts" else self.facts.get(n) for n in wanted_facts(group)})
        )

    @staticmethod
    def _stamp(check: Any, result: Result, elapsed: float, tb: str | None = None) -> CheckResult:
        static = tuple(getattr(check, "explained_by", ()) or ())
        if static:
            result.explained_by = tuple(dict.fromkeys((*result.explained_by, *static)))
        return CheckResult.stamp(
            result, id=check.id, family=check.family, title=check.title, elapsed_s=elapsed, traceback=tb
        )

    def run(self, checks: list[Any]) -> list[CheckResult]:
        """Run ``checks`` concurrently in dependency order; results come back in ``checks`` order."""
        options = self.facts.options
        by_id = {c.id: c for c in checks}
        by_family: dict[str, list[str]] = {}
        for check in checks:
            by_family.setdefault(check.family, []).append(check.id)
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for check in checks:
            # ``after`` may name a family: every check of it in this run (never the check itself).
            after = [i for name in getattr(check, "after", ()) or () for i in by_family.get(name, [name])]
            order_after = (*check.requires, *(i for i in after if i != check.id))
            sorter.add(check.id, *[r for r in order_after if r in by_id])
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            raise UsageError(f"checks require each other in a cycle: {exc.args[1]}") from exc

        results: dict[str, CheckResult] = {}
        # Checks may ask for the fact ``results``: the results finished so far. With
        # ``after = (ids...)`` a check is ordered after others without requiring them to pass.
        self.facts.provide("results", results)
        # ... and ``checks``: the checks of this run, by id (their family, ``network``, ...).
        self.facts.provide("checks", dict(by_id))
        done: queue.Queue[CheckResult] = queue.Queue()
        running: dict[str, float] = {}

        def worker(check: Any) -> None:
            done.put(self.run_one(check))

        def finish(result: CheckResult) -> None:
            if result.id in results:  # a late answer from a check already expired
                return
            results[result.id] = result
            running.pop(result.id, None)
            sorter.done(result.id)
            self.on_event("finish", result.id)

        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=lambda i: (not by_id[i].slow, list(by_id).index(i)))
            for check_id in ready:
                check = by_id[check_id]
                reason = self._skip_reason(check, results, by_id)
                if reason:
                    finish(self._stamp(check, Result.skip(reason), 0.0))
                    continue
                running[check_id] = time.monotonic()
                self.on_event("start", check_id)
                threading.Thread(target=worker, args=(check,), name=f"check:{check_id}", daemon=True).start()
            if not running:
                continue
            try:
                result = done.get(timeout=self._wait_budget(running, by_id))
            except queue.Empty:
                if options.budget.expired():
                    break
                self._expire_overdue(running, by_id, finish)
                continue
            finish(result)

        if sorter.is_active() or running:
            kill_all()
            for check_id in list(running):
                finish(
                    self._stamp(
                        by_id[check_id],
                        Result(
                            Status.ERROR,
                            f"did not finish within --timeout {options.timeout:g}s",
                            hint="rerun with a larger --timeout, or --ignore this check",
                        ),
                        time.monotonic() - running[check_id],
                    )
                )
            for check in checks:
                if check.id not in results:
                    results[check.id] = self._stamp(check, Result.skip("not started: --timeout reached"), 0.0)
        return [results[c.id] for c in checks]

    def _wait_budget(self, running: dict[str, float], by_id: dict[str, Any]) -> float:
        now = time.monotonic()
        limits = [self.facts.options.budget.deadline]
        for check_id, started in running.items():
            per_check = getattr(by_id[check_id], "timeout", None)
            if per_check:
                limits.append(started + per_check)
        return max(min(limits) - now, 0.01)

    def _expire_overdue(
        self, running: dict[str, float], by_id: dict[str, Any], finish: Callable[[CheckResult], None]
    ) -> None:
        now = time.monotonic()
        for check_id, started in list(running.items()):
            per_check = getattr(by_id[check_id], "timeout", None)
            if per_check and now - started >= per_check:
                finish(
                    self._stamp(
                        by_id[check_id],
                        Result(Status.ERROR, f"did not finish within its own {per_check:g}s limit"),
                        now - started,
                    )
                )

    def _skip_reason(self, check: Any, results: dict[str, CheckResult], by_id: dict[str, Any]) -> str | None:
        # --offline first: a network check that requires another (skipped by --offline too) is
        # skipped for that reason, not for its prerequisite's skip.
        if check.network and self.facts.options.offline:
            return OFFLINE_SKIP
        for req in check.requires:
            if req not in by_id:
                return f"requires {req}, which is not selected or not installed"
            prior = results.get(req)
            if prior is not None and not prior.status.passed:
                return f"requires {req}, which did not pass ({prior.status.value})"
        return None
