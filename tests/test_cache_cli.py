"""The cache actions through the real CLI, in a subprocess, as a user with a fresh HOME."""

from __future__ import annotations

import hashlib
from pathlib import Path

from testkit.loopback import DatasetServer
from tests.cache_fixtures import tree_snapshot


def test_clear_cache_dry_run_on_a_fresh_home(doctor, home: Path) -> None:
    run = doctor("--clear-cache", "--dry-run")
    assert run.code == 0, run.stderr
    assert "nothing to remove" in run.stdout + run.stderr
    assert not (home / ".keras").exists()


def test_clear_cache_dry_run_lists_and_removes_nothing(doctor, home: Path) -> None:
    folder = home / ".keras" / "datasets"
    folder.mkdir(parents=True)
    (folder / "mnist.npz").write_bytes(b"<html>proxy</html>")
    (folder / ".mnist.npz.0123456789abcdef.part").write_bytes(b"12")
    before = tree_snapshot(home)
    run = doctor("--clear-cache", "--dry-run")
    out = run.stdout + run.stderr
    assert run.code == 0, out
    assert str(folder / "mnist.npz") in out and "would remove 2 item(s)" in out
    assert tree_snapshot(home) == before


def test_seed_and_fetch_through_the_cli(doctor, home: Path, good_npz: Path) -> None:
    data = good_npz.read_bytes()
    env = {"MNIST_DOCTOR_SHA256": hashlib.sha256(data).hexdigest(), "MNIST_DOCTOR_SIZE": str(len(data))}
    run = doctor("--seed", str(good_npz), env_extra=env)
    assert run.code == 0, run.stdout + run.stderr
    target = home / ".keras" / "datasets" / "mnist.npz"
    assert target.read_bytes() == data
    target.unlink()
    with DatasetServer("cut", "full", payload=data) as server:
        run = doctor("--fetch", "--mirror", server.url, env_extra=env)
    assert run.code == 0, run.stdout + run.stderr
    assert target.read_bytes() == data
