"""The engine: requires ordering, skips with reasons, crash isolation, timeouts, select/ignore."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mnist_doctor.errors import UsageError
from mnist_doctor.facts import Facts, Options, fact
from mnist_doctor.model import BaseCheck, Result, Status, function_check
from mnist_doctor.pipeline.engine import Engine, select

CALLS: list[str] = []
LOCK = threading.Lock()


@fact
def counted_fact(options: Options) -> int:
    """A fact that records each computation, to prove facts are computed once."""
    with LOCK:
        CALLS.append("counted_fact")
    time.sleep(0.05)
    return 42


def make(
    check_id: str,
    status: Status = Status.OK,
    requires=(),
    after=(),
    network=False,
    slow=False,
    sleep: float = 0.0,
    raises: bool = False,
    log: list[str] | None = None,
) -> BaseCheck:
    @function_check(
        check_id, f"title of {check_id}", requires=requires, after=after, network=network, slow=slow
    )
    def run(counted_fact: int) -> Result:
        if log is not None:
            log.append(check_id)
        if sleep:
            time.sleep(sleep)
        if raises:
            raise RuntimeError("boom")
        return Result(status, f"{check_id} says {counted_fact}")

    return run


def facts(timeout: float = 30, offline: bool = False) -> Facts:
    return Facts(Options(python=sys.executable, timeout=timeout, offline=offline), providers=[counted_fact])


def test_requires_failure_skips_dependent_with_reason():
    checks = [make("a.one", Status.FAIL), make("a.two", requires=("a.one",))]
    results = Engine(facts()).run(checks)
    assert [r.status for r in results] == [Status.FAIL, Status.SKIP]
    assert "requires a.one, which did not pass (fail)" in results[1].summary


def test_warning_prerequisite_still_counts_as_passed():
    results = Engine(facts()).run([make("a.one", Status.WARN), make("a.two", requires=("a.one",))])
    assert results[1].status is Status.OK


def test_dependents_run_after_their_prerequisites_and_after_orders_without_requiring():
    log: list[str] = []
    checks = [
        make("b.late", after=("b.first",), log=log),
        make("b.first", Status.FAIL, sleep=0.2, log=log),
        make("b.needs", requires=("b.late",), log=log),
    ]
    results = Engine(facts()).run(checks)
    assert log.index("b.first") < log.index("b.late") < log.index("b.needs")
    assert results[0].status is Status.OK  # `after` does not require b.first to pass


def test_crashing_check_becomes_error_and_run_goes_on():
    results = Engine(facts()).run([make("c.boom", raises=True), make("c.fine")])
    assert results[0].status is Status.ERROR
    assert "RuntimeError: boom" in results[0].summary
    assert "Traceback" in (results[0].traceback or "")
    assert results[1].status is Status.OK


def test_facts_are_computed_once_across_concurrent_checks():
    CALLS.clear()
    checks = [make(f"d.c{i}") for i in range(6)]
    results = Engine(facts()).run(checks)
    assert all(r.status is Status.OK and "42" in r.summary for r in results)
    assert CALLS == ["counted_fact"]


def test_independent_checks_run_concurrently():
    checks = [make(f"e.c{i}", sleep=0.5) for i in range(4)]
    start = time.monotonic()
    Engine(facts()).run(checks)
    # four half-second checks in sequence would take 2 s
    assert time.monotonic() - start < 1.6


def test_run_timeout_bounds_the_whole_run_and_reports_unfinished_checks():
    checks = [make("f.hang", sleep=5), make("f.after", requires=("f.hang",))]
    start = time.monotonic()
    results = Engine(facts(timeout=0.5)).run(checks)
    assert time.monotonic() - start < 3
    assert results[0].status is Status.ERROR and "--timeout" in results[0].summary
    assert results[1].status is Status.SKIP


def test_per_check_timeout():
    slow = make("g.slow", sleep=3)
    slow.timeout = 0.3
    results = Engine(facts()).run([slow, make("g.fast")])
    assert results[0].status is Status.ERROR and "0.3s" in results[0].summary
    assert results[1].status is Status.OK


def test_offline_skips_network_checks_with_reason():
    results = Engine(facts(offline=True)).run([make("h.net", network=True), make("h.local")])
    assert results[0].status is Status.SKIP and "--offline" in results[0].summary
    assert results[1].status is Status.OK


def test_slow_checks_start_first():
    order: list[str] = []
    engine = Engine(facts(), on_event=lambda kind, cid: order.append(cid) if kind == "start" else None)
    engine.run([make("i.quick"), make("i.slow", slow=True)])
    assert order[0] == "i.slow"


def test_select_by_family_and_id_pulls_prerequisites_and_ignore_drops():
    checks = [make("net.dns"), make("net.http", requires=("net.dns",)), make("cache.x")]
    assert [c.id for c in select(checks, ["net.http"], None)] == ["net.dns", "net.http"]
    assert [c.id for c in select(checks, ["cache"], None)] == ["cache.x"]
    assert [c.id for c in select(checks, None, ["net"])] == ["cache.x"]
    assert [c.id for c in select(checks, ["net,cache"], ["net.dns"])] == ["net.http", "cache.x"]


def test_select_unknown_id_is_usage_error_listing_valid_ids():
    with pytest.raises(UsageError) as err:
        select([make("net.dns")], ["net.dsn"], None)
    assert "net.dsn" in str(err.value)
    assert "net.dns" in (err.value.hint or "")


@pytest.mark.usefixtures("processes")
def test_the_run_deadline_kills_a_running_probe_with_its_group(tmp_path):
    """A check stuck on a probe (a real process with a child of its own) ends at the deadline."""
    from mnist_doctor.probing.subproc import run_argv

    pidfile = tmp_path / "child"
    code = (
        "import os, time\n"
        f"if os.fork() == 0:\n    open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(60)\n    os._exit(0)\n"
        "time.sleep(60)\n"
    )

    @function_check("p.stuck", "a check waiting on a probe")
    def stuck(options: Options) -> Result:
        run_argv([sys.executable, "-c", code], timeout=60)
        return Result(Status.OK, "never")

    start = time.monotonic()
    (result,) = Engine(facts(timeout=1.5)).run([stuck])
    assert time.monotonic() - start < 5
    assert result.status is Status.ERROR and "--timeout" in result.summary
    time.sleep(0.3)
    pid = int(pidfile.read_text())
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        state = ""  # gone and reaped
    assert state in ("", "Z", "X"), "the probe's child survived the deadline"


def test_a_checks_own_links_follow_the_links_its_result_set() -> None:
    @function_check("j.cause", "the cause", explained_by=("k.static", "j.dynamic"))
    def cause(counted_fact: int) -> Result:
        return Result.fail("broken", explained_by=("j.dynamic", "k.first"))

    (result,) = Engine(facts()).run([cause])
    # the result's own links first (known from why it failed), then the check's, each once
    assert result.explained_by == ("j.dynamic", "k.first", "k.static")
    assert result.to_dict()["explained_by"] == ["j.dynamic", "k.first", "k.static"]


class PerLoader(BaseCheck):
    """A check run once per selected loader: the engine groups its parts into one result."""

    id = "f.loaders"
    title = "per loader"
    per_loader = True

    def run(self, loader: Any) -> Result:
        if loader.name == "cifar10":
            return Result.fail(f"{loader.name} broke", hint="fix cifar10")
        return Result.ok(f"{loader.name} works", data={"rows": 1})


def _per_loader_run(names: tuple[str, ...]) -> Any:
    from mnist_doctor.datasets.table import table

    run_facts = facts()
    run_facts.provide("datasets", tuple(table()[n] for n in names))
    (result,) = Engine(run_facts).run([PerLoader()])
    return result


def test_a_per_loader_check_runs_once_per_loader_and_the_engine_groups_the_parts() -> None:
    result = _per_loader_run(("mnist", "cifar10"))
    assert result.status is Status.FAIL and result.id == "f.loaders"
    assert result.summary == "cifar10: fail — cifar10 broke; load_data works for mnist"
    assert set(result.data["datasets"]) == {"mnist", "cifar10"} and result.hint == "cifar10: fix cifar10"


def test_the_default_loader_alone_keeps_its_own_result() -> None:
    result = _per_loader_run(("mnist",))
    assert (result.status, result.summary, result.data) == (Status.OK, "mnist works", {"rows": 1})
    assert _per_loader_run(("fashion_mnist",)).data["datasets"]["fashion_mnist"]["status"] == "ok"


def test_after_may_name_a_family_meaning_each_of_its_checks() -> None:
    log: list[str] = []
    checks = [
        make("late.one", after=("early",), log=log),
        make("early.a", sleep=0.2, log=log),
        make("early.b", sleep=0.1, log=log),
    ]
    Engine(facts()).run(checks)
    assert log[-1] == "late.one", log
