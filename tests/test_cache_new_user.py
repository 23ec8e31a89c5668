"""``--clear-cache --dry-run`` tried as a brand-new user: says what it would remove, removes nothing."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

import pytest

from tests.cache_fixtures import OTHER_UID, REPO, can_switch_user, tree_snapshot

needs_other_user = pytest.mark.skipif(can_switch_user() is not None, reason=str(can_switch_user()))


#: A system interpreter every user may run (a venv's python may live under root's 0700 home).
SYSTEM_PYTHON = Path("/usr/bin/python3")


def _system_python_problem() -> str | None:
    if not SYSTEM_PYTHON.exists():
        return f"{SYSTEM_PYTHON} does not exist"
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info[:2] >= (3, 10))"],
        capture_output=True,
        text=True,
    )
    if done.stdout.strip() != "True":
        return f"{SYSTEM_PYTHON} is older than Python 3.10"
    return None


def as_new_user(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The doctor run by uid OTHER_UID with the system Python; our dependencies come from this venv."""
    site = sysconfig.get_paths()["purelib"]
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join([str(REPO), site]),
        "HOME": str(home),
    }
    argv = [
        "setpriv",
        f"--reuid={OTHER_UID}",
        f"--regid={OTHER_UID}",
        "--clear-groups",
        str(SYSTEM_PYTHON),
        "-m",
        "mnist_doctor",
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, cwd=str(home))


needs_system_python = pytest.mark.skipif(
    _system_python_problem() is not None, reason=str(_system_python_problem())
)


@needs_other_user
@needs_system_python
def test_dry_run_as_a_new_user_with_an_empty_home(shared_tmp: Path) -> None:
    home = shared_tmp / "newcomer"
    home.mkdir()
    os.chown(home, OTHER_UID, OTHER_UID)
    shared = Path("/tmp/.keras")
    before_home, before_shared = tree_snapshot(home), tree_snapshot(shared) if shared.exists() else None
    run = as_new_user(home, "--clear-cache", "--dry-run")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "nothing to remove" in out and str(home / ".keras" / "datasets") in out
    assert "Traceback" not in out
    assert tree_snapshot(home) == before_home
    assert (tree_snapshot(shared) if shared.exists() else None) == before_shared


@needs_other_user
@needs_system_python
def test_dry_run_as_a_new_user_lists_what_it_would_remove(shared_tmp: Path) -> None:
    home = shared_tmp / "newcomer"
    datasets = home / ".keras" / "datasets"
    datasets.mkdir(parents=True)
    (datasets / "mnist.npz").write_bytes(b"<html>blocked</html>")
    (datasets / "cifar10.npz").write_bytes(b"keep me")
    for path in (home, home / ".keras", datasets, datasets / "mnist.npz", datasets / "cifar10.npz"):
        os.chown(path, OTHER_UID, OTHER_UID)
    before = tree_snapshot(home)
    run = as_new_user(home, "--clear-cache", "--dry-run")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert str(datasets / "mnist.npz") in out and "would remove 1 item(s)" in out
    assert "cifar10" not in out
    assert tree_snapshot(home) == before
