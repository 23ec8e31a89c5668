"""Fixtures for the cache tests: synthetic MNIST files, isolated homes, other users.

Every test gets its own HOME (and no KERAS_HOME) so the real ``~/.keras`` is never read
or written. The synthetic ``mnist.npz`` has MNIST's keys, shapes and dtypes; its spec is
built with ``DatasetSpec.with_file`` from a hash computed here. (PYTEST_DONT_REWRITE: no asserts here.)
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnist_doctor.datasets.spec import MNIST, DatasetSpec
from mnist_doctor.facts import Facts, Options
from testkit.npz import write_synthetic_mnist

REPO = Path(__file__).resolve().parent.parent
#: A uid/gid no account uses here (checked by the fixture) for "another user" tests.
OTHER_UID = 23456
OWNER_UID = 23457


def spec_for(path: Path, origin: str | None = None) -> DatasetSpec:
    data = path.read_bytes()
    spec = MNIST.with_file(hashlib.sha256(data).hexdigest(), len(data))
    return spec.with_origin(origin) if origin else spec


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic")
    write_synthetic_mnist(folder / "mnist.npz", seed=1)
    write_synthetic_mnist(folder / "other-mnist.npz", seed=2)
    return folder


@pytest.fixture
def good_npz(synthetic_dir: Path) -> Path:
    """The synthetic file the spec of ``spec`` pins."""
    return synthetic_dir / "mnist.npz"


@pytest.fixture
def spec(good_npz: Path) -> DatasetSpec:
    return spec_for(good_npz)


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME for this test (the introspection subprocess inherits it); KERAS_HOME unset."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return home


def make_facts(spec: DatasetSpec, **overrides: object) -> Facts:
    return Facts(Options(python=sys.executable, timeout=60), overrides={"dataset": spec, **overrides})


def datasets_dir(home: Path) -> Path:
    folder = home / ".keras" / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def tree_snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root`` (links as their target text, files as bytes) to compare before/after."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                out[key] = "-> " + os.readlink(path)
            elif path.is_file():
                out[key] = path.read_bytes()
            else:
                out[key] = "dir"
    return out


# ---------------------------------------------------------------- other users


def _uid_free(uid: int) -> bool:
    import pwd

    try:
        pwd.getpwuid(uid)
    except KeyError:
        return True
    return False


def can_switch_user() -> str | None:
    """Why tests as another user cannot run here, or None when they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root to chown files and switch to another uid (run as root, e.g. in CI's container)"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    if not (_uid_free(OTHER_UID) and _uid_free(OWNER_UID)):
        return f"uids {OTHER_UID}/{OWNER_UID} belong to real accounts here"
    return _interpreter_problem_as(OTHER_UID)


@functools.cache
def _interpreter_problem_as(uid: int) -> str | None:
    """Whether uid can run this interpreter (a pyenv build may load libpython from root's 0700 home)."""
    argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c", "pass"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")
    if done.returncode != 0:
        return f"uid {uid} cannot run {sys.executable}: {done.stderr.strip()[:200]}"
    return None


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp folder other users can traverse (pytest's tmp_path is 0700 root)."""
    folder = Path(tempfile.mkdtemp(prefix="mnist-doctor-cache-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_as(uid: int, code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` as ``uid`` (really: setpriv drops root), with the repo importable."""
    argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c", code]
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), **env}
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, cwd="/")
