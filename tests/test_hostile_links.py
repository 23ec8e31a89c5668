"""Cache folders that are links, through the real CLI run as an ordinary user (``setpriv``).

``~/.keras/datasets`` as the user's own link to a folder of their own on a bigger disk is what
Keras follows, so the diagnosis names where Keras really writes and every action acts there:
the real ``load_data()`` probe keeps the file byte-identical through it, ``--fix``,
``--clear-cache``, ``--seed`` and ``--fetch`` all go there. Every other link is refused with the
way by hand, leaving the target untouched: a link planted by another user in a shared sticky
folder, a link to another user's folder, a way through a folder another user could swap, a
chain of links, a link to ``/``, a link to a FIFO. Real uids, real modes, real links.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testkit.loopback import DatasetServer
from testkit.npz import write_synthetic_mnist
from tests.cache_fixtures import OTHER_UID, OWNER_UID, REPO, tree_snapshot
from tests.test_cache_new_user import SYSTEM_PYTHON, needs_other_user, needs_system_python

pytestmark = [needs_other_user, needs_system_python]


def as_owner(
    home: Path, *args: str, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The doctor run by OWNER_UID with the system Python (this venv's packages on PYTHONPATH)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]]),
        "HOME": str(home),
        "COLUMNS": "250",
        **(env_extra or {}),
    }
    argv = ["setpriv", f"--reuid={OWNER_UID}", f"--regid={OWNER_UID}", "--clear-groups"]
    argv += [str(SYSTEM_PYTHON), "-m", "mnist_doctor", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=240, cwd=str(home))


def owned(path: Path, uid: int = OWNER_UID, mode: int | None = None) -> Path:
    """``path`` (a link itself, not its target) given to ``uid``, with ``mode`` when given."""
    os.chown(path, uid, uid, follow_symlinks=False)
    if mode is not None:
        path.chmod(mode)
    return path


def folder(path: Path, uid: int = OWNER_UID, mode: int = 0o755) -> Path:
    path.mkdir(parents=True)
    return owned(path, uid, mode)


def link(path: Path, target: Path | str, uid: int = OWNER_UID) -> Path:
    path.symlink_to(target)
    return owned(path, uid)


def file(path: Path, data: bytes, uid: int = OWNER_UID, mode: int = 0o644) -> Path:
    path.write_bytes(data)
    return owned(path, uid, mode)


def make_home(root: Path) -> Path:
    """The owner's home, with ``.keras`` and nothing in it."""
    home = folder(root / "home")
    folder(home / ".keras")
    return home


def result(run: subprocess.CompletedProcess[str], check_id: str) -> dict[str, Any]:
    return next(r for r in json.loads(run.stdout)["results"] if r["id"] == check_id)


def test_your_own_link_to_a_bigger_disk_is_followed_by_the_diagnosis_and_every_action(
    shared_tmp: Path,
) -> None:
    (shared_tmp / "disk").mkdir()  # root's, as a mount point
    folder(shared_tmp / "disk" / "owner")
    ds = folder(shared_tmp / "disk" / "owner" / "keras-datasets")
    broken = file(ds / "mnist.npz", b"<html>the portal page a proxy saved</html>")
    file(ds / "mnist.npz.bak", b"the user's own backup")
    home = make_home(shared_tmp)
    datasets = link(home / ".keras" / "datasets", ds)
    before = broken.read_bytes()

    # The diagnosis with the real load_data(): Keras removes the broken copy through the link
    # (no route to the host here), the doctor puts it back through the same link.
    run = as_owner(home, "--select", "cache,load", "--format", "json", "--timeout", "150")
    out = run.stdout + run.stderr
    assert "Traceback" not in run.stderr, out[-3000:]
    assert broken.read_bytes() == before, out[-3000:]
    location = result(run, "cache.location")
    assert location["summary"].endswith(f"through a link: {ds / 'mnist.npz'}"), location
    real = result(run, "load.real")
    assert any("put your copy back" in line for line in real["details"]), real["details"]

    # --fix removes the broken copy where the link leads (the fix the diagnosis offers).
    fix = as_owner(home, "--offline", "--select", "cache", "--fix", "--yes")
    assert not broken.exists() and "following your own link" in fix.stdout, fix.stdout + fix.stderr

    good = shared_tmp / "good" / "mnist.npz"
    good.parent.mkdir()
    write_synthetic_mnist(good, seed=3)
    good.chmod(0o644)
    data = good.read_bytes()
    pin = {"MNIST_DOCTOR_SHA256": hashlib.sha256(data).hexdigest(), "MNIST_DOCTOR_SIZE": str(len(data))}

    seed = as_owner(home, "--seed", str(good), env_extra=pin)
    assert seed.returncode == 0, seed.stdout + seed.stderr
    assert (ds / "mnist.npz").read_bytes() == data and (ds / "mnist.npz").stat().st_uid == OWNER_UID
    assert f"{datasets} → {ds}" in seed.stdout

    clear = as_owner(home, "--clear-cache", "--yes")
    assert clear.returncode == 0, clear.stdout + clear.stderr
    assert f"following your own link: {datasets} → {ds}" in clear.stdout
    assert sorted(os.listdir(ds)) == ["mnist.npz.bak"] and datasets.is_symlink()

    with DatasetServer("full", payload=data) as server:
        fetch = as_owner(home, "--fetch", "--mirror", server.base + "/", "--timeout", "60", env_extra=pin)
    assert fetch.returncode == 0, fetch.stdout + fetch.stderr
    assert (ds / "mnist.npz").read_bytes() == data and f"{datasets} → {ds}" in fetch.stdout


def _planted_in_sticky(case: Path, victim: Path) -> Path:
    """A shared sticky folder (as /tmp) where another user planted ``.keras`` -> the owner's folder."""
    sticky = case / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    folder(victim / "datasets")
    file(victim / "datasets" / "mnist.npz", b"the owner's own copy")
    return link(sticky / ".keras", victim, OTHER_UID)


def _keras_home(case: Path, target: Path | str) -> Path:
    """The owner's KERAS_HOME whose ``datasets`` is the owner's link to ``target``."""
    keras = folder(case / "keras")
    link(keras / "datasets", target)
    return keras


def _to_their_folder(case: Path, victim: Path) -> Path:
    owned(victim, OTHER_UID, 0o777)  # the owner could even write there: still not theirs to clear
    file(victim / "mnist.npz", b"theirs", OTHER_UID, 0o666)
    return _keras_home(case, victim)


def _through_a_folder_they_could_swap(case: Path, victim: Path) -> Path:
    owned(victim.parent, OTHER_UID)  # drwxr-xr-x theirs: they may rename what is in it
    file(victim / "mnist.npz", b"the owner's own copy")
    return _keras_home(case.parent, victim)


def _chain(case: Path, victim: Path) -> Path:
    file(victim / "mnist.npz", b"the owner's own copy")
    return _keras_home(case, link(case / "middle", victim))


def _to_root(case: Path, victim: Path) -> Path:
    return _keras_home(case, "/")


def _to_fifo(case: Path, victim: Path) -> Path:
    os.mkfifo(victim / "fifo")
    owned(victim / "fifo")
    return _keras_home(case, victim / "fifo")


@pytest.mark.parametrize(
    ("layout", "reason"),
    [
        (_planted_in_sticky, f"the link belongs to uid {OTHER_UID}"),
        (_to_their_folder, f"which belongs to uid {OTHER_UID}"),
        (_through_a_folder_they_could_swap, "they could swap mine"),
        (_chain, "a chain of links"),
        (_to_root, "it leads to /"),
        (_to_fifo, "is not a folder"),
    ],
    ids=["planted-in-sticky-tmp", "to-their-folder", "through-their-folder", "chain", "to-root", "to-fifo"],
)
def test_every_other_link_is_refused_with_the_way_by_hand(
    shared_tmp: Path, layout: Callable[[Path, Path], Path], reason: str
) -> None:
    case = folder(shared_tmp / "case")
    victim = folder(case / "mine")
    keras = layout(case, victim)
    home = make_home(shared_tmp)
    before = tree_snapshot(victim)
    run = as_owner(home, "--clear-cache", "--yes", env_extra={"KERAS_HOME": str(keras)})
    out = run.stdout + run.stderr
    assert run.returncode == 1, out  # Keras reads that folder, and the doctor did not act in it
    assert "not touched (Keras reads this folder)" in out and reason in out and "hint: ls -la" in out, out
    assert "Traceback" not in out
    assert tree_snapshot(victim) == before
