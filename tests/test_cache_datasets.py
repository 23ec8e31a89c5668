"""Cache integrity for every ``keras.datasets`` loader, on real synthetic files in a real cache.

A broken fashion_mnist ``.gz`` (which Keras never hashes), a half-extracted cifar folder per Keras
line, a complete copy left under the other line's names (and ``--fix`` placing it, never through a
link leading out), and ``--dataset all --offline`` through the CLI on this machine.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from mnist_doctor.checks import cache as cache_checks
from mnist_doctor.cli.fix import collect_fixes
from mnist_doctor.datasets import file_kinds, verification
from mnist_doctor.datasets import layout as cache_layout
from mnist_doctor.datasets.table import table
from mnist_doctor.facts import Facts, Options
from mnist_doctor.facts.flavour import KerasFlavour
from mnist_doctor.model import FixKind, Status
from mnist_doctor.pipeline.engine import Engine, select
from testkit import datasets as synth

KERAS2 = KerasFlavour("keras2", "tf.keras", "keras", Version("2.15.0"), Version("2.15.0"), None, "test")
KERAS315 = KerasFlavour("keras3", "tf.keras", "keras", Version("3.15.1"), Version("2.21.0"), None, "test")
FASHION = [f.name for f in table()["fashion_mnist"].files]
#: The CLI subprocess runs this checkout (the scrubbed environment drops PYTHONPATH).
HERE = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def integrity(names: tuple[str, ...], flavour: KerasFlavour) -> object:
    facts = Facts(
        Options(python=sys.executable, timeout=60, datasets=names), overrides={"keras_flavour": flavour}
    )
    results = Engine(facts).run(select(list(cache_checks.CHECKS), ["cache.integrity"], None))
    return next(r for r in results if r.id == "cache.integrity")


def spec_of(name: str, path: Path):
    data_file = table()[name].files[0] if name != "fashion_mnist" else table()[name].file(path.name)
    return data_file.spec.with_file(*synth.pin(path))


# ---------------------------------------------------------------- one file, by kind


def test_idx_gz_verdicts(tmp_path: Path) -> None:
    good = synth.write_idx_gz(tmp_path / "train-images-idx3-ubyte.gz", (5, 28, 28))
    spec = spec_of("fashion_mnist", good)
    assert verification.inspect_file(good, spec, "idx-gz").verdict == verification.OK
    other = synth.write_idx_gz(tmp_path / "other.gz", (5, 28, 28), seed=9)
    assert verification.inspect_file(other, spec, "idx-gz").verdict == verification.MISMATCH
    html = tmp_path / "html.gz"
    html.write_bytes(b"<!DOCTYPE html><html><body>quota exceeded</body></html>")
    assert verification.inspect_file(html, spec, "idx-gz").verdict == verification.HTML
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good.read_bytes()[: spec.size // 2])
    report = verification.inspect_file(cut, spec, "idx-gz")
    assert report.verdict == verification.TRUNCATED and "ends early" in report.summary
    lying = tmp_path / "lying.gz"  # the header says 5x28x28, the payload is shorter
    lying.write_bytes(gzip.compress(synth.idx_bytes((5, 28, 28))[:-10]))
    report = verification.inspect_file(lying, spec.with_file("0" * 64, 1), "idx-gz")
    assert report.verdict == verification.CORRUPT and "(5, 28, 28)" in report.summary


def test_a_gzip_bomb_stops_at_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_kinds, "INFLATE_CAP", 1 << 20)
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(b"\x00" * (8 << 20)))
    spec = table()["fashion_mnist"].files[0].spec
    report = verification.inspect_file(bomb, spec, "idx-gz")
    assert report.verdict == verification.ZIP_BOMB and "inflates past 1 MB" in report.summary


def test_tar_gz_json_and_npz_verdicts(tmp_path: Path) -> None:
    tar = synth.write_cifar_tar_gz(tmp_path / "cifar-10-python.tar.gz")
    spec = spec_of("cifar10", tar)
    assert verification.inspect_file(tar, spec, "tar-gz").verdict == verification.OK
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(tar.read_bytes()[: spec.size // 2])
    assert verification.inspect_file(cut, spec, "tar-gz").verdict == verification.TRUNCATED
    index = synth.write_word_index(tmp_path / "imdb_word_index.json")
    md5 = hashlib.md5(index.read_bytes()).hexdigest()
    json_spec = table()["imdb"].file("imdb_word_index.json").spec.with_file("", index.stat().st_size)
    assert verification.inspect_file(index, json_spec, "json", md5).verdict == verification.OK
    index.write_text('{"the": 1}')
    assert verification.inspect_file(index, json_spec, "json", md5).verdict == verification.MISMATCH
    index.write_text("<html>login</html>")
    assert verification.inspect_file(index, json_spec, "json", md5).verdict == verification.HTML
    npz = synth.write_npz(tmp_path / "imdb.npz")
    npz_spec = spec_of("imdb", npz)
    assert verification.inspect_file(npz, npz_spec, "npz").verdict == verification.OK
    assert (
        verification.inspect_file(npz, npz_spec.with_file("0" * 64, 1), "npz").verdict
        == verification.MISMATCH
    )


def test_extraction_states(tmp_path: Path) -> None:
    members = table()["cifar10"].archive.members  # type: ignore[union-attr]
    folder = tmp_path / "cifar-10-batches-py"
    assert cache_layout.extraction_state(folder, members).state == cache_layout.ABSENT
    synth.extract_members(folder, only=["batches.meta", "test_batch"])
    (folder / "data_batch_2").write_bytes(b"")
    state = cache_layout.extraction_state(folder, members)
    assert (
        state.state == cache_layout.HALF
        and "data_batch_1" in state.missing
        and state.empty == ("data_batch_2",)
    )
    synth.extract_members(folder)
    assert cache_layout.extraction_state(folder, members).state == cache_layout.COMPLETE


# ---------------------------------------------------------------- the check, on real caches


@pytest.fixture
def fashion(keras_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = keras_home / ".keras" / "datasets" / "fashion-mnist"
    monkeypatch.setenv(
        synth.PINS_ENV, synth.pins_env(synth.write_fashion_mnist(folder).values())[synth.PINS_ENV]
    )
    return folder


@pytest.mark.parametrize("damage", ["html", "truncated"])
@pytest.mark.usefixtures("processes")
def test_broken_fashion_gz_fails_with_its_fix(fashion: Path, damage: str) -> None:
    target = fashion / "train-images-idx3-ubyte.gz"
    if damage == "html":
        target.write_bytes(b"<!DOCTYPE html><html><body>Sign in to continue</body></html>")
    else:
        target.write_bytes(target.read_bytes()[:200])
    result = integrity(("fashion_mnist",), KERAS315)
    assert result.status is Status.FAIL
    assert "train-images-idx3-ubyte.gz" in result.summary and "never downloads it again" in result.summary
    assert "mnist-doctor --clear-cache --dataset fashion_mnist" in result.hint
    assert "--seed /path/to/train-images-idx3-ubyte.gz --dataset fashion_mnist" in result.hint
    text = "\n".join(result.details)
    assert "Keras cannot detect a corrupt fashion_mnist file" in text
    assert f"{target}: " + ("a HTML page" if damage == "html" else "truncated") in text
    entry = result.data["datasets"][0]
    assert entry["name"] == "fashion_mnist" and entry["fixes"][0]["kind"] == "clear-cache"
    [plan] = collect_fixes([result])
    [step] = plan.steps
    assert (step.kind, step.dataset) == (FixKind.CLEAR_CACHE, "fashion_mnist")
    assert step.argv == ("mnist-doctor", "--clear-cache", "--dataset", "fashion_mnist")
    assert step.command in result.hint  # the hint is rendered from the step


@pytest.mark.usefixtures("processes")
def test_good_fashion_files_and_missing_ones(fashion: Path) -> None:
    result = integrity(("fashion_mnist",), KERAS315)
    assert result.status is Status.OK and result.summary.startswith("fashion_mnist: cached and verified")
    (fashion / "t10k-labels-idx1-ubyte.gz").unlink()
    result = integrity(("fashion_mnist",), KERAS315)
    assert result.status is Status.OK and "3 of 4 files cached and verified" in result.summary


@pytest.fixture
def cifar(keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A synthetic cifar-10-python.tar.gz, pinned; returns the source file (not yet in the cache)."""
    tar = synth.write_cifar_tar_gz(tmp_path / "cifar-10-python.tar.gz")
    monkeypatch.setenv(synth.PINS_ENV, synth.pins_env([tar])[synth.PINS_ENV])
    return tar


def _datasets(home: Path) -> Path:
    folder = home / ".keras" / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.usefixtures("processes")
def test_half_extracted_cifar_under_keras2_fails_with_fix(keras_home: Path, cifar: Path) -> None:
    folder = _datasets(keras_home)
    (folder / "cifar-10-batches-py.tar.gz").write_bytes(cifar.read_bytes())
    synth.extract_members(folder / "cifar-10-batches-py", only=["batches.meta", "test_batch"])
    result = integrity(("cifar10",), KERAS2)
    assert result.status is Status.FAIL
    assert "half-extracted" in result.summary and "FileNotFoundError …/data_batch_1" in result.summary
    assert "mnist-doctor --clear-cache --dataset cifar10" in result.hint
    assert f"rm -r -- {folder / 'cifar-10-batches-py'}" in result.hint
    # the same folder under Keras 3.15 is not what it reads: its own layout is judged instead
    result = integrity(("cifar10",), KERAS315)
    assert result.status is Status.WARN and "would download" in result.summary
    assert "cifar-10-batches-py-target_archive" in result.summary


@pytest.mark.usefixtures("processes")
def test_half_extracted_cifar_under_keras315_is_repaired_by_keras(keras_home: Path, cifar: Path) -> None:
    folder = _datasets(keras_home)
    (folder / "cifar-10-batches-py-target_archive").write_bytes(cifar.read_bytes())
    synth.extract_members(folder / "cifar-10-batches-py-target" / "cifar-10-batches-py", only=["test_batch"])
    result = integrity(("cifar10",), KERAS315)
    assert result.status is Status.OK and "extracted again on every call" in result.summary
    (folder / "cifar-10-batches-py-target_archive").unlink()
    result = integrity(("cifar10",), KERAS315)
    assert result.status is Status.WARN and "archive is missing" in result.summary
    assert "--seed /path/to/cifar-10-python.tar.gz --dataset cifar10" in result.hint


@pytest.mark.usefixtures("processes")
def test_not_cached_cifar_is_not_a_failure(keras_home: Path, cifar: Path) -> None:
    result = integrity(("cifar10",), KERAS315)
    assert result.status is Status.OK and "not cached yet: Keras downloads" in result.summary


@pytest.mark.usefixtures("processes")
def test_several_datasets_one_result(keras_home: Path, fashion: Path, cifar: Path, monkeypatch) -> None:
    pins = {**json.loads(os.environ[synth.PINS_ENV])}
    (fashion / "train-labels-idx1-ubyte.gz").write_bytes(b"")
    result = integrity(("mnist", "fashion_mnist", "cifar10"), KERAS315)
    assert pins and result.status is Status.FAIL
    assert result.summary.startswith("fashion_mnist: ") and "mnist: not cached yet" in result.summary
    assert [d["name"] for d in result.data["datasets"]] == ["mnist", "fashion_mnist", "cifar10"]
    assert result.data["read"].endswith("mnist.npz")  # mnist's own data stays where it was
    assert any(line.startswith("[cifar10] ok: not cached yet") for line in result.details)


# ---------------------------------------------------------------- --fix through the CLI


def test_stale_layout_fix_places_a_verified_copy(doctor, home: Path, tmp_path: Path) -> None:
    tar = synth.write_cifar_tar_gz(tmp_path / "cifar-10-python.tar.gz")
    folder = home / ".keras" / "datasets"
    folder.mkdir(parents=True)
    (folder / "cifar-10-batches-py.tar.gz").write_bytes(tar.read_bytes())  # left by TF 2.15
    env = {**synth.pins_env([tar]), **HERE}
    run = doctor("--offline", "--dataset", "cifar10", "--select", "cache.integrity", env_extra=env)
    assert run.code == 0 and "would download" in run.stdout, run.stdout + run.stderr
    run = doctor("--offline", "--dataset", "cifar10", "--select", "cache", "--fix", "--yes", env_extra=env)
    out = run.stdout + run.stderr
    assert "placed a verified copy" in out, out
    placed = folder / "cifar-10-batches-py-target_archive"
    assert placed.read_bytes() == tar.read_bytes()
    assert placed.stat().st_ino != (folder / "cifar-10-batches-py.tar.gz").stat().st_ino  # a copy, not a link
    assert not [p for p in os.listdir(folder) if p.endswith(".part")]
    assert "Traceback" not in out and run.code == 0


def test_fix_offers_each_datasets_steps_on_their_own(doctor, home: Path, tmp_path: Path) -> None:
    """One cache.integrity result, two datasets: each dataset's steps run on their own — the broken
    fashion_mnist files are cleared (that dataset's files only) and cifar10's copy is placed."""
    folder = home / ".keras" / "datasets"
    fashion = synth.write_fashion_mnist(folder / "fashion-mnist")
    tar = synth.write_cifar_tar_gz(tmp_path / "cifar-10-python.tar.gz")
    env = {**synth.pins_env([*fashion.values(), tar]), **HERE}  # pinned as published, then damaged
    (folder / "fashion-mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"<!DOCTYPE html><html></html>")
    (folder / "cifar-10-batches-py.tar.gz").write_bytes(tar.read_bytes())  # left by TF 2.15
    args = ("--offline", "--dataset", "fashion_mnist,cifar10", "--select", "cache.integrity")
    report = doctor(*args, "--format", "json", env_extra=env).result("cache.integrity")
    assert [(f["kind"], f["dataset"]) for f in report["fixes"]] == [
        ("clear-cache", "fashion_mnist"),
        ("reuse", "cifar10"),
    ]
    run = doctor(*args, "--fix", "--yes", env_extra=env)
    out = run.stdout + run.stderr
    assert "fashion_mnist: remove the broken train-images-idx3-ubyte.gz" in out, out
    assert out.index("--clear-cache --dataset fashion_mnist") < out.index("placed a verified copy"), out
    assert (folder / "cifar-10-batches-py-target_archive").read_bytes() == tar.read_bytes()
    assert not (folder / "fashion-mnist" / "train-images-idx3-ubyte.gz").exists(), out
    assert (folder / "cifar-10-batches-py.tar.gz").read_bytes() == tar.read_bytes()  # not fashion's
    assert "Traceback" not in out


def test_a_fix_for_mnist_leaves_the_other_selected_datasets_alone(doctor, home: Path, tmp_path: Path) -> None:
    """A step naming no dataset acts on mnist, as typed by hand, never on the run's whole --dataset."""
    folder = home / ".keras" / "datasets"
    folder.mkdir(parents=True)
    (folder / "mnist.npz").write_bytes(b"<html>blocked by proxy</html>")
    tar = synth.write_cifar_tar_gz(tmp_path / "cifar-10-python.tar.gz")
    cifar = folder / "cifar-10-batches-py-target_archive"  # where Keras 3.15 reads it: a good copy
    cifar.write_bytes(tar.read_bytes())
    env = {**synth.pins_env([tar]), **HERE}
    run = doctor(
        "--offline", "--dataset", "mnist,cifar10", "--select", "cache", "--fix", "--yes", env_extra=env
    )
    out = run.stdout + run.stderr
    assert "remove the broken" in out and not (folder / "mnist.npz").exists(), out
    assert cifar.read_bytes() == tar.read_bytes(), out
    assert "Traceback" not in out


def test_stale_layout_fix_refuses_a_folder_link_to_a_shared_folder(
    doctor, home: Path, tmp_path: Path
) -> None:
    tar = synth.write_cifar_tar_gz(tmp_path / "cifar-10-python.tar.gz")
    outside = tmp_path / "outside"
    outside.mkdir()
    outside.chmod(0o1777)  # as /tmp: the link is followed only to a folder no one else writes in
    (outside / "cifar-10-batches-py.tar.gz").write_bytes(tar.read_bytes())
    (home / ".keras").mkdir()
    (home / ".keras" / "datasets").symlink_to(outside)
    before = sorted(os.listdir(outside))
    run = doctor(
        "--offline",
        "--dataset",
        "cifar10",
        "--select",
        "cache",
        "--fix",
        "--yes",
        env_extra={**synth.pins_env([tar]), **HERE},
    )
    out = run.stdout + run.stderr
    assert "refused" in out and "others may write in" in out, out
    assert sorted(os.listdir(outside)) == before
    assert "Traceback" not in out


def test_dataset_all_offline_names_each_state(doctor) -> None:
    run = doctor("--offline", "--dataset", "all", "--select", "cache", "--format", "json", env_extra=HERE)
    assert "Traceback" not in run.stderr and run.code in (0, 1), run.stderr
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(run.json)
    result = run.result("cache.integrity")
    names = [d["name"] for d in result["data"]["datasets"]]
    assert names == list(table())
    for entry in result["data"]["datasets"]:
        assert entry["status"] in ("ok", "warn", "skip") and entry["summary"]
    text = doctor("--offline", "--dataset", "all", "--select", "cache.integrity", "--verbose", env_extra=HERE)
    assert "Traceback" not in text.stdout + text.stderr
    for name in table():
        assert f"[{name}]" in text.stdout, text.stdout


# ---------------------------------------------------------------- the reuse action, in process


def _reuse(flavour: KerasFlavour, **kw: bool) -> tuple[bool, str]:
    import io

    from rich.console import Console

    from mnist_doctor.actions.reuse import place_copy

    out = io.StringIO()
    facts = Facts(
        Options(python=sys.executable, timeout=60, datasets=("cifar10",)),
        overrides={"keras_flavour": flavour},
    )
    options = {"yes": True, "dry_run": False, "interactive": False, **kw}
    placed = place_copy(facts, Console(file=out, width=200), "cifar10", **options)
    return placed, out.getvalue()


@pytest.mark.usefixtures("processes")
def test_reuse_back_to_the_legacy_name_under_keras2(keras_home: Path, cifar: Path) -> None:
    """TF 2.16 -> back to tf-keras/Keras 2: the Keras 3.6+ archive is copied to the legacy name."""
    folder = _datasets(keras_home)
    (folder / "cifar-10-batches-py-target_archive").write_bytes(cifar.read_bytes())
    result = integrity(("cifar10",), KERAS2)
    [reuse] = result.fixes
    assert result.status is Status.WARN and (reuse.kind, reuse.dataset) == (FixKind.REUSE, "cifar10")
    assert result.to_dict()["data"]["fix"]["kind"] == "reuse"  # schema-2 readers' form, derived
    assert _reuse(KERAS2, dry_run=True)[0] is False and not (folder / "cifar-10-batches-py.tar.gz").exists()
    assert _reuse(KERAS2, yes=False)[0] is False  # no terminal, no --yes: nothing changes
    placed, text = _reuse(KERAS2)
    assert placed and "placed a verified copy" in text
    assert (folder / "cifar-10-batches-py.tar.gz").read_bytes() == cifar.read_bytes()
    assert integrity(("cifar10",), KERAS2).status is Status.OK
    placed, text = _reuse(KERAS2)  # the target is there now: never overwritten
    assert not placed and "already exists" in text


@pytest.mark.usefixtures("processes")
def test_reuse_refuses_a_copy_that_no_longer_verifies(keras_home: Path, cifar: Path) -> None:
    folder = _datasets(keras_home)
    (folder / "cifar-10-batches-py.tar.gz").write_bytes(cifar.read_bytes()[:-1] + b"X")
    placed, text = _reuse(KERAS315)
    assert not placed and "not the pinned file" in text
    assert sorted(os.listdir(folder)) == ["cifar-10-batches-py.tar.gz"]  # no temp file left


@pytest.mark.usefixtures("processes")
def test_hostile_entries_in_the_fashion_folder_never_block(fashion: Path) -> None:
    """A FIFO (opened without blocking) and a folder in a file's place: named, never hung on."""
    (fashion / "t10k-labels-idx1-ubyte.gz").unlink()
    os.mkfifo(fashion / "t10k-labels-idx1-ubyte.gz")
    (fashion / "t10k-images-idx3-ubyte.gz").unlink()
    (fashion / "t10k-images-idx3-ubyte.gz").mkdir()
    result = integrity(("fashion_mnist",), KERAS315)
    assert result.status is Status.FAIL
    text = "\n".join(result.details)
    assert "not a regular file" in text and "a directory sits where the file should be" in text


@pytest.mark.usefixtures("processes")
def test_permissions_probe_the_fashion_folder(fashion: Path) -> None:
    facts = Facts(
        Options(python=sys.executable, timeout=60, datasets=("mnist", "fashion_mnist")),
        overrides={"keras_flavour": KERAS315},
    )
    results = Engine(facts).run(select(list(cache_checks.CHECKS), ["cache.permissions"], None))
    result = next(r for r in results if r.id == "cache.permissions")
    assert result.status is Status.OK
    assert any(f"created and removed a temporary file in {fashion}" in line for line in result.details)
    assert sorted(os.listdir(fashion)) == sorted(FASHION)  # the probe left nothing


@pytest.mark.usefixtures("processes")
def test_complete_legacy_folder_is_named_under_keras315(keras_home: Path, cifar: Path) -> None:
    folder = _datasets(keras_home)
    synth.extract_members(folder / "cifar-10-batches-py")
    result = integrity(("cifar10",), KERAS315)
    assert result.status is Status.OK and "not cached yet" in result.summary
    assert any("cifar-10-batches-py holds every member" in line for line in result.details)
