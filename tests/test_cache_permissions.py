"""Permissions, owners, space, KERAS_HOME and keras.json — with real files, real modes and real users.

Tests run as root here, and root passes every permission check, so the "another user" cases
chown files to a free uid and run the check *as a different uid* through ``setpriv``: the
write probe then meets the kernel's real EACCES. Without root or setpriv they skip, saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mnist_doctor.checks import cache as cache_checks
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.model import Status
from mnist_doctor.pipeline.engine import Engine, select
from tests.cache_fixtures import OTHER_UID, OWNER_UID, can_switch_user, make_facts, run_as

needs_other_user = pytest.mark.skipif(can_switch_user() is not None, reason=str(can_switch_user()))

CHECK_AS_USER = """
import json
from mnist_doctor.facts.cache import predict_keras_cache
from mnist_doctor.checks import cache as checks
from mnist_doctor.datasets.spec import MNIST
cache = predict_keras_cache(None, {"home": %(home)r, "keras_home": None, "tempdir": "/tmp", "states": []})
check = getattr(checks, %(check)r)
kwargs = {"keras_cache": cache, "dataset": MNIST} if %(check)r == "permissions" else {"keras_cache": cache}
r = check.run(**kwargs)
print(json.dumps({"status": r.status.value, "summary": r.summary, "hint": r.hint, "details": r.details,
                  "base": str(cache.base)}))
"""


def check_as(uid: int, home: Path, check: str) -> dict:
    run = run_as(uid, CHECK_AS_USER % {"home": str(home), "check": check}, {"HOME": str(home)})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def user_home(root: Path, uid: int) -> Path:
    """A home with ~/.keras/datasets, all owned by ``uid`` (as after a normal first run)."""
    home = root / f"home{uid}"
    (home / ".keras" / "datasets").mkdir(parents=True)
    for path in (home, home / ".keras", home / ".keras" / "datasets"):
        os.chown(path, uid, uid)
    return home


@needs_other_user
def test_datasets_dir_left_by_sudo_fails_with_chown_hint(shared_tmp: Path) -> None:
    """~/.keras/datasets owned by another user (0755): the real write probe fails as the home's owner."""
    home = user_home(shared_tmp, OTHER_UID)
    os.chown(home / ".keras" / "datasets", OWNER_UID, OWNER_UID)
    got = check_as(OTHER_UID, home, "permissions")
    assert got["base"] == str(home / ".keras")
    assert got["status"] == "fail"
    # the probe does not write into another user's folder: os.access answers, and says why
    details = "\n".join(got["details"])
    assert "not probed by writing" in details and "not writable" in details
    assert got["hint"].startswith('sudo chown -R "$(id -un)" ') and str(home / ".keras") in got["hint"]
    assert f"owned by uid {OWNER_UID}" in "\n".join(got["details"])

    os.chown(home / ".keras" / "datasets", OTHER_UID, OTHER_UID)  # the fix the hint gives
    assert check_as(OTHER_UID, home, "permissions")["status"] == "ok"
    assert list((home / ".keras" / "datasets").iterdir()) == []  # the probe's temp file is gone


@needs_other_user
def test_file_owned_by_another_user_cannot_be_replaced(shared_tmp: Path, good_npz: Path) -> None:
    home = user_home(shared_tmp, OTHER_UID)
    target = home / ".keras" / "datasets" / "mnist.npz"
    target.write_bytes(good_npz.read_bytes())
    os.chown(target, OWNER_UID, OWNER_UID)
    target.chmod(0o644)
    got = check_as(OTHER_UID, home, "permissions")
    assert got["status"] == "fail" and "cannot be replaced" in got["summary"]
    assert "sudo chown" in got["hint"]


@needs_other_user
def test_unreadable_keras_json_breaks_import(shared_tmp: Path) -> None:
    home = user_home(shared_tmp, OTHER_UID)
    config = home / ".keras" / "keras.json"
    config.write_text('{"floatx": "float32"}')
    os.chown(config, OWNER_UID, OWNER_UID)
    config.chmod(0o600)
    got = check_as(OTHER_UID, home, "keras_config")
    assert got["status"] == "fail" and "cannot be read" in got["summary"]
    assert str(config) in got["hint"]


def run_ids(spec, *ids: str) -> dict:
    results = Engine(make_facts(spec)).run(select(list(cache_checks.CHECKS), list(ids), None))
    return {r.id: r for r in results}


@pytest.mark.usefixtures("processes")
def test_permissions_ok_and_probe_leaves_nothing(keras_home: Path, spec) -> None:
    result = run_ids(spec, "cache.permissions")["cache.permissions"]
    assert result.status is Status.OK, result.summary
    # ~/.keras did not exist: the probe wrote nothing anywhere, it checked the home without writing
    assert sorted(p.name for p in keras_home.iterdir()) == []
    assert "does not exist yet" in "\n".join(result.details)
    assert "free space" in "\n".join(result.details)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("{not json", Status.WARN),
        ('{"floatx": "float8"}', Status.FAIL),
        ('{"epsilon": 1}', Status.FAIL),
        ('{"floatx": "float32", "epsilon": 1e-07}', Status.OK),
    ],
)
@pytest.mark.usefixtures("processes")
def test_keras_json_values(keras_home: Path, spec, text: str, status: Status) -> None:
    config = keras_home / ".keras" / "keras.json"
    config.parent.mkdir()
    config.write_text(text)
    assert run_ids(spec, "cache.config")["cache.config"].status is status


@pytest.mark.usefixtures("processes")
def test_keras_home_pointing_at_a_file(keras_home: Path, spec, monkeypatch: pytest.MonkeyPatch) -> None:
    file = keras_home / "not-a-folder"
    file.write_text("x")
    monkeypatch.setenv("KERAS_HOME", str(file))
    results = run_ids(spec, "cache")
    assert (
        results["cache.keras_home"].status is Status.FAIL
        and "is a file" in results["cache.keras_home"].summary
    )
    assert results["cache.location"].status is Status.FAIL
    assert results["cache.permissions"].status is Status.SKIP  # requires cache.location


@pytest.mark.usefixtures("processes")
def test_keras_home_missing_but_creatable_and_not_creatable(
    keras_home: Path, spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(keras_home / "new"))
    result = run_ids(spec, "cache.keras_home")["cache.keras_home"]
    assert result.status is Status.OK and "Keras creates it on first import" in result.summary
    blocker = keras_home / "file"
    blocker.write_text("x")
    monkeypatch.setenv("KERAS_HOME", str(blocker / "sub"))
    results = run_ids(spec, "cache.keras_home", "cache.location")
    assert results["cache.keras_home"].status is Status.WARN
    assert results["cache.location"].status is Status.WARN  # the silent fallback to /tmp/.keras
    assert "/tmp/.keras" in results["cache.location"].summary


@pytest.mark.usefixtures("processes")
def test_free_space_too_small(keras_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real 2 MB tmpfs as KERAS_HOME: the 11.5 MB download cannot fit."""
    mount = keras_home / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not permitted'})")
    try:
        monkeypatch.setenv("KERAS_HOME", str(mount))
        result = run_ids(MNIST, "cache.permissions")["cache.permissions"]
        assert result.status is Status.FAIL and "MB free" in result.summary
    finally:
        subprocess.run(["umount", str(mount)], check=False)
