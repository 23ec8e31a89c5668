"""The CONNECT road through a real proxy program (pproxy) to a real HTTPS server, all on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from testkit.doctor import DoctorRun, doctor_json, network_env, run_doctor
from testkit.loopback import (
    PPROXY,
    DatasetServer,
    closed_port,
    pproxy,
    server_context,
    silent_server,
    slow_proxy,
)

#: Every test here starts real processes (tests/tiers.py puts them in the e2e tier).
pytestmark = pytest.mark.usefixtures("processes")

needs_pproxy = pytest.mark.skipif(PPROXY is None, reason="pproxy is not installed in this environment")

SECRET = "s3cretPW-7x"


def trusted_env(ca_file, **extra: str) -> dict[str, str]:
    return network_env(SSL_CERT_FILE=str(ca_file), REQUESTS_CA_BUNDLE=str(ca_file), **extra)


def proxy_run(
    origin: str, env: dict[str, str], *args: str, fmt: str = "json", timeout: str = "15"
) -> DoctorRun:
    """``--select proxy,network`` against ``origin`` in any format, within a 15 s budget."""
    argv = ("--format", fmt, "--select", "proxy,network", "--timeout", timeout, "--origin", origin)
    return run_doctor(*argv, *args, env=env, timeout=45)


def test_a_proxy_silent_for_its_whole_cap_fails_with_the_fix_that_works_and_a_slow_one_passes(ca, ca_file):
    """Silence is judged against the CONNECT stage's own cap (5 s), which a ``--timeout 10`` run can
    wait out: the proxy that says nothing for all of it fails, named, whatever the run's budget;
    the host answers without it here (loopback), so dropping the variable is the fix, and it works
    as printed, in a shell. The proxy that answers after 2 s is slow, not silent."""
    with (
        silent_server() as silent,
        slow_proxy(2.0) as slow,
        DatasetServer("partial", tls=server_context(ca)) as server,
        ThreadPoolExecutor(2) as pool,
    ):
        behind_silent = trusted_env(ca_file, HTTPS_PROXY=f"http://127.0.0.1:{silent}")
        behind_slow = trusted_env(ca_file, HTTPS_PROXY=f"http://127.0.0.1:{slow}")
        quiet, late = pool.map(
            lambda env: proxy_run(server.url, env, timeout="10"), (behind_silent, behind_slow)
        )
        connect = quiet.result("network.connect")
        assert quiet.code == 1 and connect["status"] == "fail", connect
        assert f"the proxy at 127.0.0.1:{silent} accepts connections and never answers" in connect["summary"]
        assert "within 5 s" in connect["summary"] and not connect["data"].get("cut_by_budget")
        assert "--timeout" not in connect["hint"]  # more time is not the cure for a silent proxy
        problem = quiet.json["diagnosis"]["problems"][0]
        assert problem["title"] == f"the proxy at 127.0.0.1:{silent} accepts connections and never answers"
        fix = next(f for f in quiet.json["diagnosis"]["fixes"] if f["number"] == problem["fix"])
        command = fix["commands"][0]["command"]
        assert command == "unset HTTPS_PROXY", fix
        # The fix as printed, in a shell, then the same stages: the host is reached, not through the proxy.
        done = subprocess.run(
            ["sh", "-c", command + ' && exec "$0" -m mnist_doctor "$@"', sys.executable,
             "--format", "json", "--select", "proxy,network", "--timeout", "15", "--origin", server.url],
            env=behind_silent, capture_output=True, text=True, timeout=45,
        )  # fmt: skip
        after = DoctorRun(done.returncode, done.stdout, done.stderr)
        assert after.code == 0 and after.result("network.http")["status"] == "ok", after.stdout[-3000:]
        assert after.result("proxy.effective")["summary"].startswith("direct connection")
    assert late.code == 0, late.stdout[-3000:]
    assert [late.result(f"network.{s}")["status"] for s in ("connect", "tls", "http")] == ["ok"] * 3
    assert "never answers" not in late.stdout


def test_a_budget_shorter_than_the_stage_cap_never_blames_the_silent_proxy():
    """``--timeout 3`` leaves the CONNECT stage less than its own 5 s: the silence cannot be told
    from a slow answer, so nothing is held against the proxy, and only then is more time the hint."""
    with silent_server() as port:
        run = proxy_run(
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
            network_env(HTTPS_PROXY=f"http://127.0.0.1:{port}"),
            timeout="3",
        )
    connect = run.result("network.connect")
    assert run.code == 0 and connect["status"] == "warn", connect
    assert connect["data"]["cut_by_budget"] and "before its own 5 s limit" in connect["summary"]
    assert connect["data"]["record"]["timeout_s"] > 0.5  # what the stage really had, not 0.0
    assert connect["hint"].startswith("mnist-doctor --timeout ")
    assert "never answers" not in run.stdout and "walked" not in run.stdout


@needs_pproxy
def test_https_through_a_proxy_tunnels_and_downloads(ca, ca_file):
    with pproxy() as port, DatasetServer("partial", tls=server_context(ca)) as server:
        results = doctor_json(
            server.url, trusted_env(ca_file, HTTPS_PROXY=f"http://127.0.0.1:{port}"), select="proxy,network"
        )
    assert results["proxy.effective"]["summary"].startswith(
        f"https:// requests go through http://127.0.0.1:{port}"
    )
    assert "the proxy resolves" in results["network.dns"]["summary"]
    assert (
        results["network.tcp"]["summary"].endswith("(the proxy) " + results["network.tcp"]["summary"][-8:])
        or "(the proxy)" in results["network.tcp"]["summary"]
    )
    assert results["network.connect"]["status"] == "ok"
    assert results["network.tls"]["status"] == "ok"
    assert results["network.http"]["status"] == "ok"
    assert results["network.requests"]["status"] == "ok"


@needs_pproxy
def test_proxy_demanding_credentials_is_a_407_at_connect(ca, ca_file):
    with pproxy(auth=f"user:{SECRET}") as port, DatasetServer("partial", tls=server_context(ca)) as server:
        results = doctor_json(server.url, trusted_env(ca_file, HTTPS_PROXY=f"http://127.0.0.1:{port}"))
    connect = results["network.connect"]
    assert (
        connect["status"] == "fail"
        and "407" in connect["summary"]
        and "demands credentials" in connect["summary"]
    )
    assert connect["hint"].startswith(f"export HTTPS_PROXY=http://<user>:<password>@127.0.0.1:{port}   #")
    assert connect["data"]["failed_stage"] == "connect"


@needs_pproxy
def test_wrong_credentials_are_named_and_never_shown(ca, ca_file):
    with pproxy(auth=f"user:{SECRET}") as port, DatasetServer("partial", tls=server_context(ca)) as server:
        env = trusted_env(ca_file, HTTPS_PROXY=f"http://user:wrong-{SECRET}@127.0.0.1:{port}")
        proc = proxy_run(server.url, env)
    assert SECRET not in proc.stdout + proc.stderr
    results = {r["id"]: r for r in json.loads(proc.stdout)["results"]}
    assert "rejected the credentials" in results["network.connect"]["summary"]
    assert "user:***@127.0.0.1" in results["network.connect"]["summary"]


@needs_pproxy
def test_credentials_are_redacted_in_json_markdown_and_rich(ca, ca_file):
    with pproxy(auth=f"user:{SECRET}") as port, DatasetServer("partial", tls=server_context(ca)) as server:
        env = trusted_env(ca_file, HTTPS_PROXY=f"http://user:{SECRET}@127.0.0.1:{port}")
        outputs = {
            fmt: proxy_run(server.url, env, "--verbose", fmt=fmt) for fmt in ("json", "markdown", "rich")
        }
    results = {r["id"]: r for r in json.loads(outputs["json"].stdout)["results"]}
    assert results["network.connect"]["status"] == "ok"  # the credentials worked...
    assert results["network.http"]["status"] == "ok"
    for fmt, proc in outputs.items():
        text = proc.stdout + proc.stderr
        assert SECRET not in text, f"password leaked in {fmt} output"
        assert "127.0.0.1" in text  # ...and the report still says which proxy was used


@needs_pproxy
def test_no_proxy_bypasses_a_proxy_that_would_refuse(ca, ca_file):
    with pproxy(auth=f"user:{SECRET}") as port, DatasetServer("partial", tls=server_context(ca)) as server:
        results = doctor_json(
            server.url,
            trusted_env(ca_file, HTTPS_PROXY=f"http://127.0.0.1:{port}", NO_PROXY="localhost,127.0.0.1"),
            select="proxy,network",
        )
    assert "NO_PROXY exempts" in results["proxy.effective"]["summary"]
    assert results["network.connect"]["status"] == "skip"
    assert results["network.http"]["status"] == "ok"


@needs_pproxy
def test_https_scheme_for_a_plain_proxy_fails_requests_not_urllib(ca, ca_file):
    # The WRONG_VERSION_NUMBER trap: urllib tunnels in plain text anyway, urllib3 speaks TLS to the proxy.
    with pproxy() as port, DatasetServer("partial", tls=server_context(ca)) as server:
        results = doctor_json(
            server.url, trusted_env(ca_file, HTTPS_PROXY=f"https://127.0.0.1:{port}"), select="proxy,network"
        )
    assert results["network.http"]["status"] == "ok"
    compare = results["network.requests"]
    assert compare["status"] == "warn" and "WRONG_VERSION_NUMBER" in compare["summary"]
    assert compare["hint"] == f"export HTTPS_PROXY=http://127.0.0.1:{port} (not https://)"
    assert results["proxy.scheme"]["status"] == "warn"


def test_proxy_that_is_not_running_fails_at_tcp_naming_the_proxy():
    port = closed_port()
    results = doctor_json(
        "https://127.0.0.1:9/mnist.npz", network_env(HTTPS_PROXY=f"http://127.0.0.1:{port}")
    )
    tcp = results["network.tcp"]
    assert tcp["status"] == "fail" and "is the proxy running" in tcp["summary"]
    assert "HTTPS_PROXY=http://host:port" in tcp["hint"]


@needs_pproxy
def test_plain_http_origin_through_a_proxy_demanding_credentials_is_a_407_at_http():
    with pproxy(auth=f"user:{SECRET}") as port, DatasetServer("partial") as server:
        results = doctor_json(server.url, network_env(HTTP_PROXY=f"http://127.0.0.1:{port}"))
    http = results["network.http"]
    assert results["network.connect"]["status"] == "skip"  # a GET to the proxy, no tunnel
    assert http["status"] == "fail" and "407" in http["summary"]
    assert http["hint"].startswith(f"export HTTP_PROXY=http://<user>:<password>@127.0.0.1:{port}   #")
