"""``mnist-doctor fleet --ray`` on a real multi-node Ray cluster on this machine (e2e tier).

Ray's own way of testing many nodes on one machine (``ray.cluster_utils.Cluster``): one cluster
per session (this module's, used by one test and shut down after it), three nodes whose environments
differ the way machines do — ``plain`` and ``proxied`` share one ``KERAS_HOME``, ``proxied``
also has a proxy variable (with a password that must never be printed), ``broken`` has its own
``KERAS_HOME`` holding a broken cached copy. The real command runs as a Ray driver against it,
``--offline`` and on the cache and proxy checks only, so it is fast and touches no network; the
merged verdict must name the right nodes. Then one node's doctor hangs (a ``sitecustomize`` that
waits while a flag file exists): the run still ends within its ``--timeout`` and lists that node
as silent. Every Ray process is gone afterwards.

Ray binds to loopback only here (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes it use 127.0.0.1),
sends no usage statistics, and keeps its files in a private temporary folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testkit.doctor import DoctorRun, clean_env, run_doctor
from tests.test_json_contract import valid_document

SECRET = "s3cret-proxy-pw"
#: --timeout of the run with a silent node: it waits that long, so short — yet long enough for the
#: driver to connect and list the nodes on a busy 2-core machine. Whether the other nodes also
#: start a worker and answer within it depends on that machine's load: the first run shows they do.
TIGHT = 12
PROXY = f"http://proxy-user:{SECRET}@127.0.0.1:9"
#: Waits while the flag file exists, only in ``python -m mnist_doctor --format json …`` (the node's
#: doctor; ``sys.argv`` is ``["-m", ARGS…]`` while site runs), never in a Ray worker or a probe.
HANG = """\
import os, sys, time
if sys.argv[:1] == ["-m"] and "--format" in sys.argv:
    for _ in range(600):
        if not os.path.exists({flag!r}):
            break
        time.sleep(0.2)
"""


@dataclass(frozen=True)
class RayCluster:
    address: str
    env: dict[str, str]
    shared: Path
    broken: Path
    hang_flag: Path


def _ray_processes(marker: str) -> list[int]:
    """Processes whose environment carries this cluster's RAY_TMPDIR: its daemons, workers, doctors."""
    found = []
    needle = f"RAY_TMPDIR={marker}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    """The one cluster of the session: ONE test uses it, since xdist spreads the tests of a module
    over its workers (``xdist_group`` no longer groups them under pytest 9), and each worker would
    start a cluster of its own."""
    base = tmp_path_factory.mktemp("fleet-ray")
    home, shared, broken, hooks = base / "home", base / "keras-shared", base / "keras-broken", base / "hooks"
    for folder in (home, shared, broken / "datasets", hooks):
        folder.mkdir(parents=True)
    (broken / "datasets" / "mnist.npz").write_bytes(b"<html>captive portal</html>")
    flag = base / "hang"
    (hooks / "sitecustomize.py").write_text(HANG.format(flag=str(flag)))
    ray_tmp = tempfile.mkdtemp(prefix="rayt-", dir="/tmp")  # Ray's socket paths must stay short
    env = clean_env(
        home,
        RAY_TMPDIR=ray_tmp,
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",  # 127.0.0.1 everywhere, not the machine's address
        RAY_USAGE_STATS_ENABLED="0",
    )
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # before Ray is imported (it reads these once); the nodes inherit them
    cluster = None
    try:
        pytest.importorskip("ray", reason="ray is not installed (nox -s e2e installs mnist-doctor[ray])")
        from ray.cluster_utils import Cluster

        common = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}
        cluster = Cluster(
            initialize_head=True,
            head_node_args={
                **common, "include_dashboard": False, "node_name": "plain",
                "env_vars": {"KERAS_HOME": str(shared)},
            },
        )  # fmt: skip
        cluster.add_node(
            **common, node_name="proxied",
            env_vars={"KERAS_HOME": str(shared), "HTTPS_PROXY": PROXY, "PYTHONPATH": str(hooks)},
        )  # fmt: skip
        cluster.add_node(**common, node_name="broken", env_vars={"KERAS_HOME": str(broken)})
        cluster.wait_for_nodes()
        yield RayCluster(cluster.address, env, shared, broken, flag)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        flag.unlink(missing_ok=True)
        if cluster is not None:
            cluster.shutdown()
        left = _ray_processes(ray_tmp)
        deadline = time.monotonic() + 10
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = _ray_processes(ray_tmp)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(ray_tmp, ignore_errors=True)
        assert not left, f"Ray processes left behind after the cluster's shutdown: {left}"


def _fleet(ray_cluster: RayCluster, *args: str, timeout: float) -> tuple[DoctorRun, float]:
    started = time.monotonic()
    run = run_doctor(
        "fleet", "--ray", ray_cluster.address, "--offline", "--select", "cache,proxy",
        "--timeout", str(timeout), *args,
        env=ray_cluster.env, timeout=timeout + 60,
    )  # fmt: skip
    return run, time.monotonic() - started


def test_fleet_on_a_ray_cluster_names_the_right_nodes(ray_cluster: RayCluster, validator) -> None:
    """Each node diagnosed in its own environment; then a silent node is listed, within --timeout."""
    run, _ = _fleet(ray_cluster, "--format", "json", timeout=60)
    doc = valid_document(validator, run, "fleet")
    assert SECRET not in run.stdout + run.stderr
    by_node = {h["node"]: h for h in doc["hosts"]}
    assert set(by_node) == {"plain", "proxied", "broken"} and doc["unanswered"] == [], run.stderr
    name = {node: h["name"] for node, h in by_node.items()}
    assert all(h["source"].startswith(f"ray node {h['node']} (") for h in doc["hosts"])
    # the one node with a broken cached copy, and only it, fails: exit code 1
    assert run.code == 1 and doc["verdict"] == "fail"
    [cause] = doc["causes"]
    assert cause["cause"] == "cache.integrity" and cause["hosts"] == [name["broken"]]
    assert any(c["command"].startswith("mnist-doctor --clear-cache") for c in cause["fixes"][0]["commands"])
    assert sorted(doc["healthy"]) == sorted([name["plain"], name["proxied"]])
    # what differs between the nodes: the proxy one node has, the cache folder of another
    drift = {d["what"]: {v["value"]: sorted(v["hosts"]) for v in d["values"]} for d in doc["drift"]}
    assert drift["proxy"] == {
        "direct (no proxy)": sorted([name["plain"], name["broken"]]),
        "http://proxy-user:***@127.0.0.1:9": [name["proxied"]],
    }
    assert drift["cache"] == {
        str(ray_cluster.shared / "datasets"): sorted([name["plain"], name["proxied"]]),
        str(ray_cluster.broken / "datasets"): [name["broken"]],
    }
    # two nodes of one machine with one KERAS_HOME: one cache, seed it once
    [shared] = doc["shared_caches"]
    assert sorted(shared["hosts"]) == sorted([name["plain"], name["proxied"]]) and not shared["network"]
    assert "seed it" in shared["advice"] and "KERAS_HOME" in shared["advice"]

    # one node's doctor hangs: the run still ends in time, and lists that node as giving no report
    ray_cluster.hang_flag.write_text("hang")
    try:
        run, took = _fleet(ray_cluster, "--format", "markdown", timeout=TIGHT)
    finally:
        ray_cluster.hang_flag.unlink()
    assert took <= TIGHT + 3, f"the run took {took:.1f} s for --timeout {TIGHT}"
    assert run.code == 1, run.stderr
    text = run.stdout
    assert "#### No report from" in text, text + run.stderr
    silent = text.split("#### No report from", 1)[1]
    [proxied] = [line for line in silent.splitlines() if "**proxied**" in line]
    assert (
        f"did not answer within --timeout ({TIGHT} s)" in proxied
        or "its diagnosis did not end within its --timeout (killed)" in proxied
    ), proxied
    for node in ("plain", "broken"):  # on every node's list: as a host that answered, or without a report
        assert f"[{node}]" in text or f"**{node}**" in silent, text
    assert SECRET not in text + run.stderr


@pytest.mark.usefixtures("processes")
def test_no_cluster_at_the_address_is_a_usage_error_within_the_timeout(tmp_path: Path) -> None:
    """``ray.init`` towards an address where nothing answers retries for minutes: the run does not."""
    if importlib.util.find_spec("ray") is None:  # not imported here: only the command's driver needs it
        pytest.skip("ray is not installed (nox -s e2e installs mnist-doctor[ray])")
    from testkit.loopback import free_port

    env = clean_env(tmp_path, RAY_TMPDIR=str(tmp_path), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    started = time.monotonic()
    run = run_doctor(
        "fleet", "--ray", f"127.0.0.1:{free_port()}", "--timeout", "3", "--format", "json",
        env=env, timeout=60,
    )  # fmt: skip
    took = time.monotonic() - started
    assert run.code == 2 and took <= 3 + 3, (run.code, took, run.stderr)
    assert json.loads(run.stdout)["mode"] == "usage-error"
    assert "mnist-doctor fleet: error: " in run.stderr and "Traceback" not in run.stderr
