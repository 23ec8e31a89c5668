"""``network.hosts``: every host the selected datasets need is walked the way Keras downloads.

Two real loopback hosts (127.0.0.1 and 127.0.0.2 are both loopback on Linux): one serves the
file, one refuses the connection; the check names the dead host and the datasets that need it.
"""

from __future__ import annotations

import sys

import pytest

from mnist_doctor.datasets.table import Dataset, table
from mnist_doctor.facts import Facts, Options
from mnist_doctor.pipeline.run import run_checks
from testkit.loopback import DatasetServer, closed_port

#: Every test here starts real processes (tests/tiers.py puts them in the e2e tier).
pytestmark = pytest.mark.usefixtures("processes")


def _served_from(name: str, origin: str) -> Dataset:
    return table()[name].with_origin(origin)


def _run(datasets: tuple[Dataset, ...], timeout: float = 30.0) -> dict[str, dict]:
    names = tuple(d.name for d in datasets)
    facts = Facts(
        Options(python=sys.executable, timeout=timeout, datasets=names), overrides={"datasets": datasets}
    )
    report = run_checks(facts, ["network"]).report
    return {r["id"]: r for r in report["results"]}


def test_one_host_is_left_to_the_stage_checks() -> None:
    with DatasetServer() as server:
        results = _run((_served_from("mnist", server.url),))
    assert results["network.hosts"]["status"] == "skip"
    assert "127.0.0.1" in results["network.hosts"]["summary"]


def test_the_second_host_is_walked_and_its_datasets_named() -> None:
    dead = f"http://127.0.0.2:{closed_port()}/"
    with DatasetServer() as server:
        mnist = _served_from("mnist", server.url)
        cifar = _served_from("cifar10", dead)
        results = _run((mnist, cifar))
    hosts = results["network.hosts"]
    assert hosts["status"] == "fail", hosts
    assert "127.0.0.2:" in hosts["summary"] and "(cifar10)" in hosts["summary"]
    assert [h["verdict"] for h in hosts["data"]["hosts"]] == ["ok", "fail"]
    assert any("refused" in line for line in hosts["details"]), hosts["details"]
    # The fix is the offline route of the datasets that host serves, not MNIST's.
    assert "--dataset cifar10 --seed FILE" in hosts["hint"] and "--dataset cifar10 --fetch" in hosts["hint"]
    # The stage checks still walk the first host in detail, and it is fine.
    assert results["network.http"]["status"] == "ok"


def test_the_stage_checks_follow_the_first_selected_dataset() -> None:
    """``--dataset cifar10`` alone: the stage checks test cifar's host, not MNIST's."""
    dead = f"http://127.0.0.2:{closed_port()}/"
    results = _run((_served_from("cifar10", dead),))
    assert results["network.tcp"]["status"] == "fail"
    assert "127.0.0.2" in results["network.tcp"]["data"]["origin"]
    assert results["network.tcp"]["data"]["origin"].endswith("cifar-10-python.tar.gz")


def test_a_walk_cut_by_the_budget_is_not_a_dead_host() -> None:
    """A host that accepts and never answers, with little --timeout: the cut is ours, not the host's."""
    from testkit.loopback import silent_server

    with DatasetServer() as server, silent_server() as port:
        mnist = _served_from("mnist", server.url)
        cifar = _served_from("cifar10", f"http://127.0.0.1:{port}/")
        results = _run((mnist, cifar), timeout=4.0)
    hosts = results["network.hosts"]
    assert hosts["status"] == "skip", hosts
    assert hosts["data"]["cut_by_budget"] is True
    assert [h["verdict"] for h in hosts["data"]["hosts"]] == ["ok", "cut"]
