"""Integrity of cached files: each broken shape of ``mnist.npz`` users meet gets its own verdict,
and the ``cache.integrity`` check says which copy Keras reads."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist_doctor.checks import cache as cache_checks
from mnist_doctor.datasets import verification
from mnist_doctor.errors import UsageError
from mnist_doctor.model import Status
from mnist_doctor.pipeline.engine import Engine, select
from tests.cache_fixtures import REPO, datasets_dir, make_facts


def run_cache_checks(spec, ids=("cache",)) -> dict:
    facts = make_facts(spec)
    results = Engine(facts).run(select(list(cache_checks.CHECKS), list(ids), None))
    return {r.id: r for r in results}


def test_good_copy_is_ok(good_npz: Path, spec) -> None:
    report = verification.inspect_file(good_npz, spec)
    assert report.ok and report.head == "zip" and report.sha256 == spec.sha256


@pytest.mark.parametrize(
    ("content", "verdict"),
    [
        (b"", verification.EMPTY),
        (b"<!DOCTYPE html><html><body>Access denied</body></html>", verification.HTML),
        (b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>', verification.HTML),
        (b"\x00\x01garbage", verification.CORRUPT),
    ],
)
def test_bad_first_bytes(tmp_path: Path, spec, content: bytes, verdict: str) -> None:
    path = tmp_path / "mnist.npz"
    path.write_bytes(content)
    assert verification.inspect_file(path, spec).verdict == verdict


def test_truncated_zip(tmp_path: Path, good_npz: Path, spec) -> None:
    path = tmp_path / "mnist.npz"
    path.write_bytes(good_npz.read_bytes()[: spec.size // 2])
    report = verification.inspect_file(path, spec)
    assert report.verdict == verification.TRUNCATED
    assert f"{spec.size // 2} of {spec.size} bytes" in report.summary


def test_directory_and_dangling_symlink(tmp_path: Path, spec) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "mnist.npz").mkdir()
    assert verification.inspect_file(tmp_path / "a" / "mnist.npz", spec).verdict == verification.DIRECTORY
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mnist.npz").symlink_to(tmp_path / "nowhere" / "mnist.npz")
    report = verification.inspect_file(tmp_path / "b" / "mnist.npz", spec)
    assert report.verdict == verification.DANGLING_LINK and "nowhere" in report.summary


def test_partials_are_listed(tmp_path: Path, good_npz: Path, spec) -> None:
    (tmp_path / "mnist.npz").write_bytes(good_npz.read_bytes())
    names = ("mnist.npz.part", ".mnist.npz.abc123_z.part", ".mnist.npz.0123456789abcdef.part", "cifar10.npz")
    for name in (*names, "mnist.npzz", "mnist.npz.bak", ".mnist.npz.bak.part", ".mnist.npz.abc.part"):
        (tmp_path / name).write_bytes(b"x")
    report = verification.inspect_file(tmp_path / "mnist.npz", spec)
    assert report.ok
    # only the doctor's own temp names (mkstemp form of old releases, hex form now); Keras leaves none
    expected = [".mnist.npz.0123456789abcdef.part", ".mnist.npz.abc123_z.part"]
    assert sorted(p.name for p in report.partials) == expected


def test_different_but_valid_mnist(synthetic_dir: Path, spec) -> None:
    report = verification.inspect_file(synthetic_dir / "other-mnist.npz", spec)
    assert report.verdict == verification.OTHER_MNIST
    assert report.content is not None and report.content.reader == "stdlib"
    assert report.content.arrays["y_test"].value_range == (0, 9)


def test_valid_npz_that_is_not_mnist(tmp_path: Path, spec) -> None:
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((10, 32, 32, 3), np.uint8), y_train=np.full(10, 42, np.int64))
    report = verification.inspect_file(path, spec)
    assert report.verdict == verification.NOT_MNIST
    assert "(10, 32, 32, 3)" in report.summary and "labels span 42..42" in report.summary


def test_pickled_arrays_are_never_unpickled(tmp_path: Path, spec) -> None:
    """allow_pickle=False: an object array (which could run code when loaded) is reported, not loaded."""
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object))
    report = verification.inspect_file(path, spec)
    assert report.verdict == verification.CORRUPT and "allow_pickle" in report.summary


def test_stream_reader_agrees_with_numpy(synthetic_dir: Path, tmp_path: Path, spec) -> None:
    """The bounded stdlib reader sees the same keys, shapes, dtypes and label ranges as np.load."""
    other = synthetic_dir / "other-mnist.npz"
    by_stream = verification.read_content(other, spec)
    assert by_stream.error is None and not by_stream.bomb
    with np.load(other, allow_pickle=False) as archive:
        by_numpy = {
            name: (
                archive[name].shape,
                str(archive[name].dtype),
                (int(archive[name].min()), int(archive[name].max())) if name.startswith("y_") else None,
            )
            for name in archive.files
        }
    assert {k: (v.shape, v.dtype, v.value_range) for k, v in by_stream.arrays.items()} == by_numpy
    cut = tmp_path / "cut.npz"
    cut.write_bytes(other.read_bytes()[:100_000])
    assert verification.read_content(cut, spec).error


@pytest.mark.usefixtures("processes")
def test_broken_numpy_falls_back_to_stdlib(synthetic_dir: Path, spec) -> None:
    """In a process where ``import numpy`` fails, the verdict is the same (a real subprocess)."""
    code = (
        "import sys, json; sys.modules['numpy'] = None\n"
        "from mnist_doctor.datasets import verification; from mnist_doctor.datasets.spec import MNIST\n"
        f"spec = MNIST.with_file({spec.sha256!r}, {spec.size})\n"
        f"r = verification.inspect_file({str(synthetic_dir / 'other-mnist.npz')!r}, spec)\n"
        "print(json.dumps([r.verdict, r.content.reader]))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [verification.OTHER_MNIST, "stdlib"]


@pytest.mark.usefixtures("processes")
def test_sha256_matches_hashlib_and_sha256sum(good_npz: Path) -> None:
    ours = verification.sha256_file(good_npz)
    assert ours == hashlib.sha256(good_npz.read_bytes()).hexdigest()
    out = subprocess.run(["sha256sum", str(good_npz)], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == ours


def test_spec_from_env(spec) -> None:
    assert verification.spec_from_env(spec, {}) is spec
    custom = verification.spec_from_env(spec, {"MNIST_DOCTOR_SHA256": "A" * 64, "MNIST_DOCTOR_SIZE": "12"})
    assert (custom.sha256, custom.size, custom.file_name) == ("a" * 64, 12, "mnist.npz")
    for bad in (
        {"MNIST_DOCTOR_SHA256": "a" * 64},
        {"MNIST_DOCTOR_SHA256": "xyz", "MNIST_DOCTOR_SIZE": "1"},
        {"MNIST_DOCTOR_SHA256": "a" * 64, "MNIST_DOCTOR_SIZE": "big"},
    ):
        with pytest.raises(UsageError):
            verification.spec_from_env(spec, bad)


# ---------------------------------------------------------------- the check, on real caches


@pytest.mark.parametrize("kind", ["html", "truncated", "empty", "directory"])
@pytest.mark.usefixtures("processes")
def test_integrity_check_fails_on_broken_cache(keras_home: Path, good_npz: Path, spec, kind: str) -> None:
    target = datasets_dir(keras_home) / "mnist.npz"
    if kind == "html":
        target.write_bytes(b"<html><body>proxy login</body></html>")
    elif kind == "truncated":
        target.write_bytes(good_npz.read_bytes()[:4096])
    elif kind == "empty":
        target.write_bytes(b"")
    else:
        target.mkdir()
    result = run_cache_checks(spec)["cache.integrity"]
    assert result.status is Status.FAIL
    assert result.data["read"] == str(target)
    assert "--clear-cache" in result.hint
    assert f"{target}: " in "\n".join(result.details) and "← Keras reads this one" in "\n".join(
        result.details
    )


@pytest.mark.usefixtures("processes")
def test_integrity_ok_and_not_cached(keras_home: Path, good_npz: Path, spec) -> None:
    result = run_cache_checks(spec, ["cache.integrity"])["cache.integrity"]
    assert result.status is Status.OK and result.summary.startswith("not cached yet")
    (datasets_dir(keras_home) / "mnist.npz").write_bytes(good_npz.read_bytes())
    result = run_cache_checks(spec, ["cache.integrity"])["cache.integrity"]
    assert result.status is Status.OK and "is the pinned file" in result.summary


@pytest.mark.usefixtures("processes")
def test_good_copy_where_keras_does_not_look(
    keras_home: Path, good_npz: Path, spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy in ~/.keras while KERAS_HOME moves Keras 3 elsewhere: warn, and seed from it."""
    (datasets_dir(keras_home) / "mnist.npz").write_bytes(good_npz.read_bytes())
    monkeypatch.setenv("KERAS_HOME", str(keras_home / "kh"))
    result = run_cache_checks(spec, ["cache.integrity"])["cache.integrity"]
    assert result.status is Status.WARN
    assert result.hint == f"mnist-doctor --seed {keras_home / '.keras' / 'datasets' / 'mnist.npz'}"
    assert result.data["read"] == str(keras_home / "kh" / "datasets" / "mnist.npz")


@pytest.mark.usefixtures("processes")
def test_leftover_partials_warn_with_exact_rm(keras_home: Path, good_npz: Path, spec) -> None:
    folder = datasets_dir(keras_home)
    (folder / "mnist.npz").write_bytes(good_npz.read_bytes())
    (folder / ".mnist.npz.0123456789abcdef.part").write_bytes(b"half")
    (folder / "mnist.npz.bak").write_bytes(b"the user's, not a partial")
    result = run_cache_checks(spec, ["cache.integrity"])["cache.integrity"]
    assert result.status is Status.WARN and "leftover partial" in result.summary
    assert result.hint == f"rm -f -- {folder / '.mnist.npz.0123456789abcdef.part'}"


@pytest.mark.usefixtures("processes")
def test_location_check_reports_the_path(keras_home: Path, spec) -> None:
    result = run_cache_checks(spec, ["cache.location"])["cache.location"]
    assert result.status is Status.OK
    assert result.summary == f"Keras reads {keras_home / '.keras' / 'datasets' / 'mnist.npz'}"
    assert os.fspath(keras_home) in result.data["dataset_path"]


def test_integrity_runs_after_the_write_probe() -> None:
    """cache.permissions creates and removes a doctor-named temporary file in the cache folder;
    run concurrently, cache.integrity once reported it as a leftover partial download."""
    from mnist_doctor.checks.cache import integrity

    assert "cache.permissions" in integrity.after
