"""``network.throughput``: a bounded ranged download from the dataset host, against real servers.

Every server is a real loopback server (:func:`testkit.loopback.served_file`: a token bucket
for the speed, ``Range`` honoured or not, an optional stall) and the doctor runs as the real
CLI. A synthetic dataset larger than MNIST is declared through the test hooks
``MNIST_DOCTOR_SHA256`` / ``MNIST_DOCTOR_SIZE``, so that the http stage accepts the announced
size and the projection is made for that size (cifar10 is 170 MB).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trustme

from mnist_doctor.datasets.spec import MNIST, dataset_spec
from mnist_doctor.datasets.table import Dataset, table
from mnist_doctor.facts import Facts, Options
from mnist_doctor.facts.net_probe import (
    THROUGHPUT_CAP_BYTES,
    THROUGHPUT_STALL_S,
    THROUGHPUT_WINDOW_S,
    HostLoad,
    host_loads,
    run_throughput_probe,
)
from mnist_doctor.pipeline.run import run_checks
from testkit.doctor import doctor_json, network_env
from testkit.hostile import misbehaving_server
from testkit.loopback import DatasetServer, closed_port, served_file, server_context, silent_server

CIFAR_SIZE = 170_498_071
REMEDIES = ("mnist-doctor --fetch --mirror URL", "mnist-doctor --seed FILE")
#: Promise 5: the whole run ends within --timeout plus this.
OVERRUN_S = 2.0


def synthetic_env(size: int, **extra: str) -> dict[str, str]:
    """The environment of a run whose dataset is a synthetic file of ``size`` bytes."""
    return network_env(MNIST_DOCTOR_SHA256="0" * 64, MNIST_DOCTOR_SIZE=str(size), **extra)


def throughput(url: str, env: dict[str, str], *args: str, timeout: float = 20.0) -> dict[str, Any]:
    return doctor_json(url, env, *args, timeout=timeout)["network.throughput"]


@pytest.mark.usefixtures("processes")
def test_a_fast_mirror_is_ok_with_its_rate_and_projection():
    with served_file(MNIST.size) as server:
        result = throughput(server.url, network_env())
        ranges = list(server.ranges)
    assert result["status"] == "ok", result
    host = result["data"]["hosts"][0]
    assert host["rate_bps"] > 1e6 and host["projected_s"] < 300
    assert host["total_bytes"] == MNIST.size and host["datasets"] == ["mnist"]
    assert "MB/s" in result["summary"] or "GB/s" in result["summary"]
    # the measurement asked for a bounded range and read no more than it
    assert f"bytes=0-{THROUGHPUT_CAP_BYTES - 1}" in ranges
    assert host["bytes"] <= THROUGHPUT_CAP_BYTES


@pytest.mark.usefixtures("processes")
def test_a_throttled_host_warns_with_the_projected_time_and_both_remedies():
    timeout = 20.0
    with served_file(CIFAR_SIZE, rate=50_000) as server:
        started = time.monotonic()
        result = throughput(server.url, synthetic_env(CIFAR_SIZE), timeout=timeout)
        elapsed = time.monotonic() - started
        sent = server.bytes_sent
    assert result["status"] == "warn", result
    host = result["data"]["hosts"][0]
    assert 30_000 < host["rate_bps"] < 80_000  # the bucket's 50 kB/s, measured through urllib
    assert host["projected_s"] > 300
    assert "127.0.0.1" in result["summary"] and "kB/s" in result["summary"]
    assert "min" in result["summary"] or " h " in result["summary"] + " "
    assert all(remedy in result["hint"] for remedy in REMEDIES)
    assert "sha256" in result["hint"]
    # bounded: the window, not the 170 MB, and within the run's --timeout
    assert sent < 50_000 * (THROUGHPUT_WINDOW_S + 2) + 64_000
    assert elapsed < timeout + OVERRUN_S


@pytest.mark.usefixtures("processes")
def test_a_stalled_transfer_warns_stalled():
    with served_file(CIFAR_SIZE, stall_after=100_000) as server:
        result = throughput(server.url, synthetic_env(CIFAR_SIZE))
    assert result["status"] == "warn", result
    assert "stalled" in result["summary"]
    assert result["data"]["hosts"][0]["ended"] == "stall"
    assert result["data"]["hosts"][0]["bytes"] == 100_000
    assert all(remedy in result["hint"] for remedy in REMEDIES)


@pytest.mark.usefixtures("processes")
def test_offline_opens_no_connection_to_the_host():
    with served_file(CIFAR_SIZE, rate=50_000) as server:
        result = throughput(server.url, synthetic_env(CIFAR_SIZE), "--offline")
        connections, requests = server.connections, list(server.requests)
    assert result["status"] == "skip"
    assert result["summary"] == "--offline: network checks are not run"
    assert connections == 0 and requests == []


@pytest.mark.usefixtures("processes")
def test_a_transfer_cut_by_the_doctors_budget_is_a_skip_never_a_warn():
    """A slow host measured with too little --timeout left: the doctor's limit, not the host's."""
    timeout = 4.0
    with served_file(CIFAR_SIZE, rate=50_000) as server:
        started = time.monotonic()
        result = throughput(server.url, synthetic_env(CIFAR_SIZE), timeout=timeout)
        elapsed = time.monotonic() - started
    assert result["status"] == "skip", result
    assert "budget" in result["summary"] or "--timeout" in result["summary"]
    assert elapsed < timeout + OVERRUN_S


@pytest.mark.usefixtures("processes")
def test_the_measurement_itself_is_marked_cut_when_the_slice_ends_first():
    """The probe with a slice shorter than its window: ``ended`` is the deadline, no rate verdict."""
    from mnist_doctor.checks.network import judge_throughput
    from mnist_doctor.probing.budget import Budget

    with served_file(CIFAR_SIZE, rate=50_000) as server:
        load = HostLoad("127.0.0.1", dataset_spec(server.url), CIFAR_SIZE, ("f",), ("cifar10",))
        started = time.monotonic()
        (sample,) = run_throughput_probe(sys.executable, [load], Budget(3.0).slice(cap=60))
        elapsed = time.monotonic() - started
    assert sample.cut_by_budget and sample.record is not None
    assert sample.record.ended == "deadline" and 0 < sample.record.bytes < 3 * 50_000 + 20_000
    status, line, data = judge_throughput(sample)
    assert status == "skip" and "cut by the doctor's budget" in line and data["cut_by_budget"]
    assert elapsed < 3.0 + 1.0


@pytest.mark.usefixtures("processes")
def test_an_unreachable_host_is_skipped_naming_the_failed_stage():
    with DatasetServer(404) as server:
        result = throughput(server.url, network_env())
    assert result["status"] == "skip"
    assert "network.http" in result["summary"]


@pytest.mark.usefixtures("processes")
def test_a_body_too_short_to_time_gives_no_rate():
    """A server that answers the 2 MiB range with 64 bytes: a round trip, not a speed."""
    with DatasetServer() as server:
        result = throughput(server.url, network_env())
    assert result["status"] == "skip", result
    assert "body ended after 64 B" in result["summary"]
    assert result["data"]["hosts"][0]["ended"] == "eof"


@pytest.mark.usefixtures("processes")
def test_a_tls_mirror_is_measured_through_the_default_context(ca: trustme.CA, ca_file: Path) -> None:
    with served_file(CIFAR_SIZE, rate=50_000, tls=server_context(ca)) as server:
        result = throughput(server.url, synthetic_env(CIFAR_SIZE, SSL_CERT_FILE=str(ca_file)))
    assert server.url.startswith("https://")
    assert result["status"] == "warn", result
    assert 30_000 < result["data"]["hosts"][0]["rate_bps"] < 80_000


@pytest.mark.usefixtures("processes")
def test_a_server_that_ignores_range_and_never_ends_is_read_only_to_the_cap():
    """200 with a 1 TB Content-Length at full speed: the doctor stops at its cap."""
    huge = 10**12
    with served_file(huge, ranges=False) as server:
        started = time.monotonic()
        result = throughput(server.url, synthetic_env(huge))
        elapsed = time.monotonic() - started
    host = result["data"]["hosts"][0]
    assert host["status_code"] == 200
    assert host["ended"] == "cap" and host["bytes"] == THROUGHPUT_CAP_BYTES
    # 1 TB is far beyond 5 minutes even at loopback speed: a verdict, reached in bounded time
    assert result["status"] == "warn" and host["projected_s"] > 300
    assert elapsed < 20 + OVERRUN_S


@pytest.mark.parametrize("mode", ["endless", "trickle-body"])
@pytest.mark.usefixtures("processes")
def test_hostile_bodies_are_bounded_by_the_cap_and_the_window(mode):
    """No Content-Length and no end, or one byte per 0.2 s (each byte resets a socket timeout)."""
    with misbehaving_server(mode, payload=bytes(10_000), interval=0.2) as (url, _stats):
        load = HostLoad("127.0.0.1", dataset_spec(url), CIFAR_SIZE, ("f",), ("cifar10",))
        started = time.monotonic()
        (sample,) = run_throughput_probe(sys.executable, [load], 30)
        elapsed = time.monotonic() - started
    record = sample.record
    assert record is not None and not sample.cut_by_budget
    if mode == "endless":
        assert record.ended == "cap" and record.bytes == THROUGHPUT_CAP_BYTES
    else:
        assert record.ended == "window" and record.bytes < 40
        assert record.rate_bps < 10
    assert elapsed < THROUGHPUT_WINDOW_S + THROUGHPUT_STALL_S + 2


@pytest.mark.usefixtures("processes")
def test_a_host_that_never_answers_the_ranged_get_is_a_stall_within_its_own_limit():
    from mnist_doctor.checks.network import judge_throughput
    from mnist_doctor.facts.net_probe import THROUGHPUT_HEAD_S

    with silent_server() as port:
        load = HostLoad("h", dataset_spec(f"http://127.0.0.1:{port}/m.npz"), CIFAR_SIZE, ("f",), ("x",))
        started = time.monotonic()
        (sample,) = run_throughput_probe(sys.executable, [load], 30)
        elapsed = time.monotonic() - started
    assert sample.record is not None and sample.record.ended == "no-answer"
    status, line, _ = judge_throughput(sample)
    assert status == "warn" and "stalled: no answer to the ranged GET within 5.0 s" in line
    assert elapsed < THROUGHPUT_HEAD_S + 2


def test_hosts_are_grouped_and_their_files_summed():
    """One measurement per distinct host; the projection covers everything that host delivers."""
    storage = dataset_spec("https://storage.googleapis.com/a/big.npz")
    files = [
        ("fashion_mnist", storage.with_file("1" * 64, 26_000_000)),
        (
            "fashion_mnist",
            dataset_spec("https://storage.googleapis.com/a/small.gz").with_file("2" * 64, 30_000),
        ),
        (
            "cifar10",
            dataset_spec("https://www.cs.toronto.edu/~kriz/c.tar.gz").with_file("3" * 64, CIFAR_SIZE),
        ),
        ("mirror", dataset_spec("http://127.0.0.1:8080/m.npz")),
    ]
    loads = host_loads(files)
    assert [load.host for load in loads] == ["storage.googleapis.com", "www.cs.toronto.edu", "127.0.0.1:8080"]
    assert loads[0].total_bytes == 26_030_000 and loads[0].url.endswith("big.npz")  # the largest is sampled
    assert loads[0].datasets == ("fashion_mnist",) and len(loads[0].files) == 2
    assert loads[1].total_bytes == CIFAR_SIZE


# ---------------------------------------------------------------- several datasets, several hosts

SAMPLE_RANGE = f"bytes=0-{THROUGHPUT_CAP_BYTES - 1}"


@pytest.mark.usefixtures("processes")
def test_dataset_cifar10_against_a_throttled_mirror_reports_the_time_and_the_remedy():
    """``--dataset cifar10`` with a mirror folder throttled to 50 kB/s: 170 MB projected, within --timeout."""
    timeout = 20.0
    cifar = table()["cifar10"].files[0]
    with served_file({f"/{cifar.name}": cifar.spec.size}, rate=50_000) as server:
        started = time.monotonic()
        results = doctor_json(server.folder, network_env(), "--dataset", "cifar10", timeout=timeout)
        elapsed = time.monotonic() - started
    # the stage before it checked the archive the way Keras will get it: a gzip stream
    assert results["network.http"]["status"] == "ok", results["network.http"]
    assert "starts like a gzip file" in results["network.http"]["summary"]
    result = results["network.throughput"]
    assert result["status"] == "warn", result
    host = result["data"]["hosts"][0]
    assert host["datasets"] == ["cifar10"] and host["total_bytes"] == 170_498_071
    assert host["projected_s"] > 30 * 60  # most of an hour, as users of the throttled host saw
    assert "cifar10 (170.5 MB)" in result["summary"]
    assert "mnist-doctor --dataset cifar10 --fetch --mirror URL" in result["hint"]
    assert "mnist-doctor --dataset cifar10 --seed FILE" in result["hint"]
    assert elapsed < timeout + OVERRUN_S


def _served_from(name: str, folder: str) -> Dataset:
    return table()[name].with_origin(folder)


def _diagnose(datasets: tuple[Dataset, ...], timeout: float = 30.0) -> dict[str, dict[str, Any]]:
    options = Options(python=sys.executable, timeout=timeout, datasets=tuple(d.name for d in datasets))
    report = run_checks(Facts(options, overrides={"datasets": datasets}), ["network"]).report
    return {r["id"]: r for r in report["results"]}


@pytest.mark.usefixtures("processes")
def test_each_distinct_host_is_measured_once_for_everything_it_serves():
    """mnist and fashion_mnist share a fast host (one sample, their sizes summed); cifar10's is slow."""
    fashion = table()["fashion_mnist"]
    near = {"/mnist.npz": MNIST.size} | {f"/{f.name}": f.spec.size for f in fashion.files}
    cifar = table()["cifar10"].files[0]
    with (
        served_file(near) as fast,
        served_file({f"/{cifar.name}": cifar.spec.size}, rate=50_000, host="127.0.0.2") as slow,
    ):
        chosen = (
            _served_from("mnist", fast.folder),
            _served_from("fashion_mnist", fast.folder),
            _served_from("cifar10", slow.folder),
        )
        results = _diagnose(chosen)
        fast_samples = [r for r in fast.ranges if r == SAMPLE_RANGE]
        slow_samples = [r for r in slow.ranges if r == SAMPLE_RANGE]
    result = results["network.throughput"]
    assert result["status"] == "warn", result
    near_host, far_host = result["data"]["hosts"]
    assert near_host["datasets"] == ["mnist", "fashion_mnist"]
    assert near_host["total_bytes"] == MNIST.size + sum(f.spec.size for f in fashion.files)
    assert near_host["rate_bps"] > 1e6 and far_host["rate_bps"] < 80_000
    assert far_host["host"].startswith("127.0.0.2:") and far_host["datasets"] == ["cifar10"]
    # the warning is about the slow host only, and the remedy names the dataset it serves
    assert "127.0.0.2" in result["summary"] and "cifar10" in result["summary"]
    assert "--dataset cifar10 --fetch --mirror URL" in result["hint"]
    assert len(result["details"]) == 2
    assert len(fast_samples) == 1 and len(slow_samples) == 1


@pytest.mark.usefixtures("processes")
def test_a_host_the_walk_found_dead_is_not_measured():
    """cifar10's host refuses connections: network.hosts names it, and it is skipped, not re-tried."""
    dead = f"http://127.0.0.2:{closed_port()}/"
    with served_file(MNIST.size) as fast:
        results = _diagnose((_served_from("mnist", fast.url), _served_from("cifar10", dead)))
    assert results["network.hosts"]["status"] == "fail"
    result = results["network.throughput"]
    near_host, far_host = result["data"]["hosts"]
    assert near_host["rate_bps"] > 1e6
    assert far_host["bytes"] is None and far_host["ended"] is None  # never connected
    assert result["status"] == "skip", result  # one host measured ok, the other not measurable
    assert "unreachable (the tcp stage failed; see network.hosts)" in result["summary"]


@pytest.mark.usefixtures("processes")
def test_the_stage_runs_in_a_python_39_target():
    """The target script's stage is stdlib and 3.9-valid: measured by the oldest supported Python."""
    from tests.test_core_python_flag import PYENV

    python39 = next(iter(sorted(PYENV.glob("3.9*/bin/python3"))), None)
    if python39 is None:
        pytest.skip("no Python 3.9 on this machine")
    with served_file(CIFAR_SIZE, rate=50_000) as server:
        load = HostLoad("127.0.0.1", dataset_spec(server.url), CIFAR_SIZE, ("f",), ("cifar10",))
        (sample,) = run_throughput_probe(str(python39), [load], 15)
    assert sample.record is not None and sample.record.ended == "window", sample
    assert 30_000 < sample.record.rate_bps < 80_000
