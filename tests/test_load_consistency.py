"""``load.consistency`` states only what the results show (issue 10, deliverable 5).

The check is pure logic over real :class:`CheckResult` objects, so these tests build the
results other checks would give and read the verdict: a skipped check is not a passed one,
an import failure is not compared with the network, and a mirror tested with ``--origin``
is not confused with the URL ``load_data()`` really uses.
"""

from __future__ import annotations

from mnist_doctor.checks.load import ConsistencyCheck
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.model import CheckResult, Status
from mnist_doctor.pipeline.engine import discover

MIRROR = "https://mirror.example.test/data/mnist.npz"
#: The checks of a default run, by id (the engine provides them to the check as the ``checks`` fact).
CHECKS = {c.id: c for c in discover()[0]}


def result(check_id: str, status: Status, summary: str = "", **data: object) -> CheckResult:
    return CheckResult(
        status, summary, data=dict(data), id=check_id, family=check_id.split(".")[0], title=check_id
    )


def load_failed(category: str, summary: str = "load_data failed — DNS for x failed") -> CheckResult:
    return result("load.real", Status.FAIL, summary, succeeded=False, category=category)


def consistency(*results: CheckResult, origin: str = MNIST.origin) -> tuple[Status, str]:
    outcome = ConsistencyCheck().run({r.id: r for r in results}, MNIST.with_origin(origin), CHECKS)
    return outcome.status, outcome.summary


def test_network_pass_but_load_network_failure_is_flagged() -> None:
    status, summary = consistency(
        result("network.http", Status.OK),
        result("cache.integrity", Status.OK),
        load_failed("network", "load_data failed — DNS for storage.googleapis.com failed"),
    )
    assert status is Status.WARN
    assert summary == "network checks passed but load_data failed with DNS for storage.googleapis.com failed"


def test_a_transfer_cut_mid_way_agrees_with_stage_checks_that_passed() -> None:
    """The stages read the first bytes of the file: a cut later in the transfer contradicts nothing."""
    truncated = load_failed("network", "load_data failed — transfer truncated: got 4,096 of 11,490,434 bytes")
    truncated.data["cause"] = "truncated"
    status, summary = consistency(result("network.http", Status.OK), truncated)
    assert status is Status.OK
    assert summary.startswith("agree: the host answers (network checks passed")


def test_cache_pass_but_hash_failure_is_flagged() -> None:
    status, summary = consistency(
        result("cache.integrity", Status.OK),
        load_failed("cache", "load_data failed — Keras' sha256 check failed"),
    )
    assert status is Status.WARN
    assert summary.startswith("cache checks passed but load_data failed with Keras'")


def test_agreeing_verdicts_name_the_failing_checks() -> None:
    status, summary = consistency(result("network.dns", Status.FAIL), load_failed("network"))
    assert status is Status.OK
    assert summary == "agree: load_data failed on the network and network checks failed (network.dns)"
    status, summary = consistency(
        result("network.dns", Status.FAIL),
        result("cache.integrity", Status.OK),
        result("load.real", Status.OK, "load_data works", succeeded=True),
    )
    assert status is Status.OK
    assert summary.startswith("load_data works from the cache although the dataset host is unreachable")


def test_skipped_network_checks_are_not_called_passed() -> None:
    """--offline: every network check skipped, proxy settings checked: the network is untested."""
    status, summary = consistency(
        result("proxy.effective", Status.OK),
        result("network.dns", Status.SKIP, "--offline: network checks are not run"),
        result("network.http", Status.SKIP, "--offline: network checks are not run"),
        result("cache.integrity", Status.OK),
        result("load.real", Status.OK, "load_data works", succeeded=True),
    )
    assert status is Status.OK
    assert "passed" not in summary.split(";")[-1]
    assert "not compared with the network" in summary
    assert "cache checks passed (1 ran)" in summary


def test_a_network_failure_with_no_network_check_run_is_not_an_agreement() -> None:
    status, summary = consistency(
        result("network.dns", Status.SKIP, "--offline"),
        result("proxy.effective", Status.OK),
        load_failed("network"),
    )
    assert status is Status.SKIP
    assert "no network check ran" in summary


def test_an_import_failure_is_attributed_to_the_import() -> None:
    status, summary = consistency(
        result("network.dns", Status.FAIL),
        result("cache.integrity", Status.FAIL),
        load_failed("import", "load_data failed — TensorFlow is not installed"),
    )
    assert status is Status.SKIP
    assert "import failed" in summary and "network checks failed too" not in summary


def test_a_mirror_tested_with_origin_is_not_the_url_load_data_uses() -> None:
    status, summary = consistency(result("network.http", Status.OK), load_failed("network"), origin=MIRROR)
    assert status is Status.OK
    assert MIRROR in summary and MNIST.origin in summary
    outcome = ConsistencyCheck().run(
        {"network.http": result("network.http", Status.OK), "load.real": load_failed("network")},
        MNIST.with_origin(MIRROR),
        CHECKS,
    )
    assert outcome.data["network_tested_url"] == MIRROR
    assert outcome.data["load_data_url"] == MNIST.origin
    assert outcome.hint and f"--fetch --mirror {MIRROR}" in outcome.hint


def test_a_budget_cut_is_not_compared() -> None:
    cut = result("load.real", Status.WARN, "load_data did not finish", succeeded=False, cut_by_budget=True)
    status, summary = consistency(result("network.dns", Status.OK), cut)
    assert status is Status.SKIP and "--timeout" in summary


def test_nothing_to_compare_is_a_skip() -> None:
    assert consistency(result("load.real", Status.OK, succeeded=True))[0] is Status.SKIP
    assert ConsistencyCheck().run({}, MNIST, CHECKS).status is Status.SKIP
