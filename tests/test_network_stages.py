"""Network stages against real loopback servers, through the real CLI (JSON output).

Each test starts a real server on 127.0.0.1 (or none, for the closed port) and runs
``python -m mnist_doctor --format json --select network`` with an explicit environment
(no proxy or CA variables leak in from the machine running the tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from testkit.doctor import doctor_json, network_env
from testkit.loopback import DatasetServer, closed_port, silent_server

OFFLINE_ROUTE = ("--seed FILE", "sha256 ")  # the placeholder, with where to get the file


@pytest.mark.usefixtures("processes")
def test_unresolvable_host_fails_at_dns_with_the_offline_route():
    # glibc rejects this malformed name itself: a real getaddrinfo failure, no packet leaves the machine.
    results = doctor_json("http://-no-such-host-.invalid/mnist.npz", network_env())
    dns = results["network.dns"]
    assert dns["status"] == "fail"
    assert "does not resolve" in dns["summary"]
    assert dns["data"]["stage"] == "dns" and dns["data"]["failed_stage"] == "dns"
    assert all(part in dns["hint"] for part in OFFLINE_ROUTE)
    assert "no route to the host" in dns["hint"]
    for later in ("network.tcp", "network.http"):
        assert results[later]["status"] == "skip"
        assert results[later]["data"]["failed_stage"] == "dns"


@pytest.mark.internet
@pytest.mark.skipif(
    os.environ.get("MNIST_DOCTOR_INTERNET") != "1",
    reason="opt-in: MNIST_DOCTOR_INTERNET=1 (asks the machine's resolver about the real dataset host)",
)
def test_real_dataset_host_dns_verdict_matches_the_resolver():
    import socket

    try:
        socket.getaddrinfo("storage.googleapis.com", 443)
        resolvable = True
    except OSError:
        resolvable = False
    dns = doctor_json(None, network_env(), timeout=20)["network.dns"]
    assert dns["status"] == ("ok" if resolvable else "fail")
    if not resolvable:
        assert all(part in dns["hint"] for part in OFFLINE_ROUTE)


@pytest.mark.usefixtures("processes")
def test_closed_port_is_a_refused_tcp_connect():
    port = closed_port()
    results = doctor_json(f"http://127.0.0.1:{port}/mnist.npz", network_env())
    tcp = results["network.tcp"]
    assert results["network.dns"]["status"] == "ok"
    assert tcp["status"] == "fail" and "refused" in tcp["summary"]
    assert tcp["data"]["failed_stage"] == "tcp"
    assert results["network.http"]["status"] == "skip"


@pytest.mark.usefixtures("processes")
def test_a_working_mirror_passes_every_stage_and_requests_agrees():
    with DatasetServer("partial") as server:
        results = doctor_json(server.url, network_env())
    assert results["network.http"]["status"] == "ok", results["network.http"]
    assert "starts like an npz" in results["network.http"]["summary"]
    assert results["network.tls"]["status"] == "skip"  # plain http: no handshake on this road
    assert results["network.requests"]["status"] == "ok"
    assert results["network.requests"]["data"]["requests_ok"] is True


@pytest.mark.parametrize(
    ("code", "words"), [(403, "refuses this machine"), (404, "the file is not at"), (500, "failing or busy")]
)
@pytest.mark.usefixtures("processes")
def test_http_error_statuses_are_named(code, words):
    with DatasetServer(code) as server:
        http = doctor_json(server.url, network_env())["network.http"]
    assert http["status"] == "fail"
    assert str(code) in http["summary"] and words in http["summary"]
    assert http["data"]["record"]["status"] == code
    assert http["hint"]


@pytest.mark.usefixtures("processes")
def test_html_page_served_as_the_dataset_is_named_a_block_page():
    with DatasetServer("html") as server:
        http = doctor_json(server.url, network_env())["network.http"]
    assert http["status"] == "fail"
    assert "HTML page" in http["summary"]
    assert http["data"]["record"]["content_type"] == "text/html"


@pytest.mark.usefixtures("processes")
def test_wrong_content_length_is_compared_with_the_dataset_size():
    with DatasetServer("wrong_length") as server:
        http = doctor_json(server.url, network_env())["network.http"]
    assert http["status"] == "fail"
    assert "announces 640 bytes" in http["summary"] and "11490434" in http["summary"]


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.usefixtures("processes")
def test_a_host_that_accepts_and_never_answers_is_bounded_by_the_timeout(scheme):
    with silent_server() as port:
        start = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "mnist_doctor",
                "--format",
                "json",
                "--select",
                "network",
                "--timeout",
                "3",
                "--origin",
                f"{scheme}://127.0.0.1:{port}/mnist.npz",
            ],
            env=network_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - start
    import json

    results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    stuck = results["network.tls" if scheme == "https" else "network.http"]
    assert results["network.tcp"]["status"] == "ok"  # the connection itself is accepted
    # --timeout 3 ended the stage before its own limit: the doctor's limit, never a fail (promise 3).
    assert stuck["status"] == "warn", stuck
    assert "cut short by the doctor's --timeout" in stuck["summary"]
    assert stuck["hint"].startswith("mnist-doctor --timeout ")
    # Not a speed assertion: proof the run ended by itself rather than hanging like urlretrieve.
    assert elapsed < 60


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.usefixtures("processes")
def test_a_silent_host_that_outlasts_the_stages_own_limit_is_a_fail(scheme):
    """With time to spare, a stage that hits its own limit is a finding about the network."""
    import json

    with silent_server() as port:
        proc = subprocess.run(
            [sys.executable, "-m", "mnist_doctor", "--format", "json", "--select", "network",
             "--timeout", "25", "--origin", f"{scheme}://127.0.0.1:{port}/mnist.npz"],
            env=network_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    stuck = results["network.tls" if scheme == "https" else "network.http"]
    assert stuck["status"] == "fail", stuck
    assert not stuck["data"].get("cut_by_budget")


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.usefixtures("processes")
def test_a_stage_cut_by_the_run_budget_is_marked_as_ours_not_the_networks(scheme):
    """With a silent host, a slice shorter than the stage's own cap is the doctor's limit; the
    same silence for the stage's whole cap is the host's."""
    from mnist_doctor.datasets.spec import dataset_spec
    from mnist_doctor.facts.net_probe import run_urllib_probe
    from mnist_doctor.probing.budget import Budget

    stage = "tls" if scheme == "https" else "http"
    with silent_server() as port:
        spec = dataset_spec(f"{scheme}://127.0.0.1:{port}/mnist.npz")
        short = run_urllib_probe(sys.executable, spec, Budget(2.0).slice(cap=45))
        whole = run_urllib_probe(sys.executable, spec, Budget(60).slice(cap=45), caps={stage: 1.0})
    stuck = short.failed()
    assert stuck is not None and stuck.name == stage
    assert stuck.deadline_limited and short.limited_by_budget
    assert short.cut_by_budget(stuck) and not short.silent(stuck)
    silent = whole.failed()
    assert silent is not None and silent.name == stage and silent.cap_s == 1.0
    assert not whole.cut_by_budget(silent) and whole.silent_party(silent) == "host"
    assert short.elapsed_s < 2.0 + 3 and whole.elapsed_s < 1.0 + 3
