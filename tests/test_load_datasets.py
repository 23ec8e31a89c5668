"""``load.real`` for every ``keras.datasets`` loader (issue 14), with real parts.

The loaders are the REAL ones: Keras 3.15.1 of this venv (``tf.keras``) and, when the matrix
venv exists, TensorFlow 2.12 with Keras 2. Their files are synthetic, placed in a temporary
HOME/KERAS_HOME: Fashion-MNIST carries no hash in any Keras line, so a synthetic set loads
for real and an HTML or truncated ``.gz`` fails for real. cifar10's archive IS pinned by
Keras, so a synthetic archive never passes Keras' own check: with it, the real loader wants
to download (the ``--offline`` guard then names it, which is the honest outcome), and the
half-extracted-folder failure is proven against the exact text Keras' own batch reader
raises (the full path needs the genuine archive: ``MNIST_DOCTOR_CIFAR10=/path/cifar-10-python.tar.gz``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import socket
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mnist_doctor.causes.load import diagnose
from mnist_doctor.checks.grouping import combine
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.datasets.table import Dataset, table, with_pins
from mnist_doctor.facts.load_probe import LoadProbe, dataset_gate, run_load_probe
from mnist_doctor.model import FixKind, Result, Status
from mnist_doctor.probing.safekeeping import DatasetKeeping, FolderKeeping, restore_all
from mnist_doctor.probing.subproc import ScriptRun
from mnist_doctor.text.hints import clear_cache_fix
from testkit.datasets import pins_json, write_cifar_tar_gz, write_fashion_mnist
from testkit.doctor import clean_env, run_doctor
from tests.load_fixtures import PROBE_TIMEOUT_S, probe_env

ROOT = Path(__file__).resolve().parents[1]
KERAS2_PYTHON = Path("/work/main/.nox/matrix-2-12/bin/python")
needs_keras2 = pytest.mark.skipif(
    not KERAS2_PYTHON.exists(), reason=f"{KERAS2_PYTHON} (TensorFlow 2.12, Keras 2) is not installed"
)
TORONTO = "www.cs.toronto.edu"


def tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: a file's sha256, a folder's and a link's kind."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = "link->" + os.readlink(path)
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def pinned(loader: str, *paths: Path) -> Dataset:
    """The table's loader with the synthetic files' own sha256/size as its pins."""
    pins = json.loads(pins_json(list(paths)))
    return with_pins(table()[loader], {k: (v[0], v[1]) for k, v in pins.items()})


def cifar10_files(folder: Path) -> tuple[Dataset, Path]:
    """A synthetic cifar-10 archive (pinned for the doctor) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = write_cifar_tar_gz(folder / "cifar-10-python.tar.gz", "cifar10")
    return pinned("cifar10", archive), archive


def extract_to(archive: Path, folder: Path) -> Path:
    """Extract ``archive`` into ``folder`` as Keras' own extraction lays it out."""
    import tarfile

    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as handle:
        handle.extractall(folder, filter="data")
    return folder


# -- safekeeping of archives and extraction folders (no TensorFlow) ------------------------------


def test_an_existing_folder_is_put_back_exactly(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "sub").mkdir(parents=True)
    (folder / "data_batch_1").write_bytes(b"one")
    (folder / "batches.meta").write_bytes(b"meta")
    (folder / "sub" / "x").write_bytes(b"x")
    before = tree(folder)
    keeping = FolderKeeping(str(folder), ("data_batch_1",), str(tmp_path / "a.tar.gz"), "0" * 64, 1, 1 << 20)
    keeping.protect()
    (folder / "data_batch_1").write_bytes(b"rewritten by an extraction")
    (folder / "batches.meta").unlink()
    (folder / "data_batch_2").write_bytes(b"new member")
    (folder / "newdir").mkdir()
    (folder / "newdir" / "y").write_bytes(b"y")
    keeping.restore()
    assert tree(folder) == before
    assert keeping.report()["outcome"] == "restored"


def test_a_folder_removed_by_a_failed_extraction_is_rebuilt(tmp_path: Path) -> None:
    """Keras >= 3.6 removes the whole extraction folder when extracting fails."""
    import shutil

    folder = tmp_path / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "data_batch_1").write_bytes(b"half")
    top = folder.parent
    before = tree(top)
    FolderKeeping(str(top), (), str(tmp_path / "a"), "0" * 64, 1, 1 << 20).protect()
    shutil.rmtree(top)
    restore_all()  # what a signal or the deadline runs: the folder is rebuilt before its files return
    assert tree(top) == before


def test_a_new_folder_stays_only_as_a_complete_extraction_of_the_pinned_archive(tmp_path: Path) -> None:
    loader, archive = cifar10_files(tmp_path / "src")
    spec = loader.files[0].spec
    members = tuple(loader.archive.members) if loader.archive else ()
    cache = tmp_path / "datasets"
    cache.mkdir()
    placed = cache / "cifar-10-batches-py.tar.gz"
    placed.write_bytes(archive.read_bytes())
    folder = cache / "cifar-10-batches-py"
    complete = FolderKeeping(str(folder), members, str(placed), spec.sha256, spec.size, 1 << 20).protect()
    extract_to(archive, cache)  # what Keras 2 does when the folder is missing
    complete.restore()
    assert complete.outcome == "verified extraction, kept" and (folder / "test_batch").is_file()

    import shutil

    shutil.rmtree(folder)
    partial = FolderKeeping(str(folder), members, str(placed), spec.sha256, spec.size, 1 << 20).protect()
    extract_to(archive, cache)
    (folder / "data_batch_3").unlink()  # a kill in the middle of the extraction
    partial.restore()
    assert partial.outcome == "partial extraction, removed" and not folder.exists()

    placed.write_bytes(b"another archive")  # a complete folder from an archive that is not the pinned one
    other = FolderKeeping(str(folder), members, str(placed), spec.sha256, spec.size, 1 << 20).protect()
    extract_to(archive, cache)
    other.restore()
    assert other.outcome == "partial extraction, removed" and not folder.exists()


def test_a_folder_holding_a_link_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = home / ".keras" / "datasets" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "data_batch_1").symlink_to("/etc/hostname")
    keeping = DatasetKeeping.protect(table()["cifar10"], probe_env(home))
    try:
        reasons = {r.path: r.reason for r in keeping.refused}
        assert str(folder) in reasons and "link" in reasons[str(folder)]
    finally:
        keeping.restore()
    assert (folder / "data_batch_1").is_symlink()


# -- what --offline / --dry-run may run (no TensorFlow) -----------------------------------------


def test_gates_say_when_a_loader_would_download_or_extract(tmp_path: Path) -> None:
    base = tmp_path / ".keras"
    fashion = table()["fashion_mnist"]
    none_yet = dataset_gate(fashion, base, "keras3", (3, 15))
    assert (
        none_yet is not None
        and none_yet.short == "would download 4 files (30.9 MB) from storage.googleapis.com"
    )
    write_fashion_mnist(base / "datasets" / "fashion-mnist")
    assert dataset_gate(fashion, base, "keras3", (3, 15)) is None  # Keras reads them, never downloads
    assert dataset_gate(table()["california_housing"], base, "tf_keras", None) is None  # no such loader

    loader, archive = cifar10_files(tmp_path / "src")
    cache = base / "datasets"
    missing = dataset_gate(loader, base, "keras2", None)
    assert missing is not None and "would download cifar-10-python.tar.gz (" in missing.reason
    (cache / "cifar-10-batches-py.tar.gz").write_bytes(archive.read_bytes())
    extract = dataset_gate(loader, base, "keras2", None)
    assert extract is not None and "would extract" in extract.reason
    extract_to(archive, cache)
    assert dataset_gate(loader, base, "keras2", None) is None  # Keras 2 reads the folder as it is
    (cache / "cifar-10-batches-py-target_archive").write_bytes(archive.read_bytes())
    every = dataset_gate(loader, base, "keras3", (3, 15))
    assert every is not None and "re-extracts" in every.reason
    (cache / "cifar-10-batches-py.tar.gz").write_bytes(b"<html>")
    other = dataset_gate(loader, base, "keras2", None)
    assert other is not None and "would discard" in other.reason


def test_one_check_reports_the_worst_and_names_each_loader() -> None:
    clear = clear_cache_fix(sys.executable, "remove X", "fashion_mnist")
    failed = Result.fail("load_data failed — X", hint="fix X", data={"cause": "x"}, fixes=(clear,))
    both = combine(
        [("mnist", Result.ok("works")), ("cifar10", Result.skip("cut")), ("fashion_mnist", failed)]
    )
    assert both.status == Status.FAIL
    assert both.summary.startswith("fashion_mnist: fail — load_data failed — X; cifar10: skip — cut")
    assert both.summary.endswith("load_data works for mnist")
    assert both.data["cause"] == "x" and set(both.data["datasets"]) == {"mnist", "cifar10", "fashion_mnist"}
    assert both.fixes == (clear,) and clear.dataset == "fashion_mnist"  # --fix: that loader alone
    assert combine([("mnist", Result.ok("works")), ("cifar10", Result.skip("cut"))]).status == Status.OK
    assert combine([("cifar10", Result.skip("a")), ("imdb", Result.skip("b"))]).status == Status.SKIP


# -- named causes on the real texts ------------------------------------------------------------


def fake_free_probe(error_type: str, message: str, loader: str) -> LoadProbe:
    """A finished probe whose loader stage raised ``message`` (taken from a real call)."""
    stage = {
        "name": f"load_data:{loader}",
        "ok": False,
        "started": True,
        "exception": {"type": error_type, "message": message, "chain": []},
    }
    answer = {
        "stages": [{"name": "numpy", "ok": True}, stage],
        "done": True,
        "loaders": {loader: {"status": "failed"}},
    }
    run = ScriptRun(["python"], 0, "", "", 1.0, answer=answer)
    return LoadProbe(run, "tf", others=(loader,))


def test_allow_pickle_false_on_an_old_npz_is_named(tmp_path: Path) -> None:
    old = tmp_path / "boston_housing.npz"
    np.savez(old, x=np.array([[1, 2], [3]], dtype=object), y=np.zeros(2))
    # What Keras 3.15's np.load(path, allow_pickle=False) meets on an old copy:
    with pytest.raises(ValueError) as caught, np.load(old, allow_pickle=False) as data:
        data["x"]
    probe = fake_free_probe("builtins.ValueError", str(caught.value), "boston_housing")
    diag = diagnose(
        probe, host="storage.googleapis.com", target_python=sys.executable, dataset=table()["boston_housing"]
    )
    assert diag.name == "pickled-npz", diag
    assert "boston_housing.npz of boston_housing" in diag.summary
    assert "--clear-cache --dataset boston_housing" in diag.hint
    [step] = diag.fixes
    assert (step.kind, step.why, step.dataset) == (
        FixKind.CLEAR_CACHE,
        "boston_housing.npz holds pickled object arrays",
        "boston_housing",
    )
    assert step.command in diag.hint


@needs_keras2
def test_half_extracted_cifar_is_named_from_keras_own_batch_reader(tmp_path: Path) -> None:
    folder = tmp_path / "datasets" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": []}))
    script = textwrap.dedent(
        f"""
        from keras.datasets.cifar import load_batch  # what cifar10.load_data() calls per batch
        try:
            load_batch({str(folder / "data_batch_1")!r})
        except Exception as exc:
            print(type(exc).__module__ + "." + type(exc).__qualname__)
            print(exc)
        """
    )
    done = subprocess.run(
        [str(KERAS2_PYTHON), "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    error_type, message = done.stdout.strip().splitlines()[-2:]
    assert error_type == "builtins.FileNotFoundError", done.stdout + done.stderr
    probe = fake_free_probe(error_type, message, "cifar10")
    diag = diagnose(probe, host=TORONTO, target_python=sys.executable, dataset=table()["cifar10"])
    assert diag.name == "half-extracted", diag
    assert (
        f"{folder} lacks data_batch_1" in diag.summary
        and "half-extracted cifar-10-python.tar.gz" in diag.summary
    )
    assert "`mnist-doctor --clear-cache --dataset cifar10`" in diag.hint
    assert [(f.kind, f.dataset) for f in diag.fixes] == [(FixKind.CLEAR_CACHE, "cifar10")]


# -- the real loaders of Keras 3.15 -------------------------------------------------------------


@pytest.mark.usefixtures("processes")
def test_real_fashion_loads_and_other_loaders_get_their_own_outcome(tmp_path: Path) -> None:
    """One target process: Fashion-MNIST loads, cifar10 is refused (a link), california wants the network."""
    home = tmp_path / "home"
    datasets = home / ".keras" / "datasets"
    files = write_fashion_mnist(datasets / "fashion-mnist")
    (datasets / "cifar-10-batches-py-target").mkdir()
    (datasets / "cifar-10-batches-py-target" / "cifar-10-batches-py").symlink_to(tmp_path)
    before = tree(datasets)
    selected = (pinned("fashion_mnist", *files.values()), table()["cifar10"], table()["california_housing"])
    run = run_load_probe(
        sys.executable,
        "tf",
        PROBE_TIMEOUT_S,
        env=probe_env(home),
        cwd=str(tmp_path),
        datasets=selected,
        offline=True,
    )
    fashion = run.outcome("fashion_mnist")
    assert fashion.status == "ok", run.run.stderr[-2000:]
    assert run.run.answer["loaders"]["fashion_mnist"]["call"] == "tf.keras.datasets.fashion_mnist.load_data()"
    arrays = fashion.arrays
    assert (arrays["x_train"].shape, arrays["x_train"].dtype) == ((12, 28, 28), "uint8")
    assert arrays["y_test"].shape == (6,)
    assert run.outcome("cifar10").status == "refused" and "link" in run.outcome("cifar10").reason
    diag = diagnose(run, host="storage.googleapis.com", target_python=sys.executable, dataset=selected[2])
    assert diag.name == "offline-download" and "california_housing.npz for california_housing" in diag.summary
    assert "--seed FILE --dataset california_housing" in diag.hint
    assert tree(datasets) == before  # promise 1: nothing changed, nothing left behind


@pytest.mark.parametrize("damage", ["html", "truncated"])
@pytest.mark.usefixtures("processes")
def test_bad_fashion_gz_is_named_and_left_as_it_was(tmp_path: Path, damage: str) -> None:
    home = tmp_path / "home"
    folder = home / ".keras" / "datasets" / "fashion-mnist"
    files = write_fashion_mnist(folder)
    bad = files["train-images-idx3-ubyte.gz"]
    if damage == "html":
        bad.write_bytes(b"<!DOCTYPE html><html><body>Blocked by policy</body></html>")
    else:
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    before = tree(folder)
    loader = table()["fashion_mnist"]
    run = run_load_probe(
        sys.executable, "tf", PROBE_TIMEOUT_S, env=probe_env(home), cwd=str(tmp_path), datasets=(loader,)
    )
    stage = run.outcome("fashion_mnist").stage
    raised = stage.exception.message if stage and stage.exception else ""
    assert ("Not a gzipped file (b'<!')" if damage == "html" else "end-of-stream marker") in raised, raised
    diag = diagnose(run, host="storage.googleapis.com", target_python=sys.executable, dataset=loader)
    assert diag.name == "bad-gzip", diag
    said = "an HTML page" if damage == "html" else f"truncated ({bad.stat().st_size:,} of 26,421,880 bytes)"
    assert diag.summary == (
        f"Keras does not check fashion_mnist's files; the cached train-images-idx3-ubyte.gz is {said}"
        + (f" ({bad.stat().st_size:,} bytes), not the gzip file" if damage == "html" else "")
    )
    assert "`mnist-doctor --clear-cache --dataset fashion_mnist`" in diag.hint
    assert "--fetch --dataset fashion_mnist" in diag.hint
    assert tree(folder) == before


@pytest.mark.usefixtures("processes")
def test_cli_offline_names_each_loader(tmp_path: Path) -> None:
    """Acceptance: an HTML fashion .gz named with its fix; cifar10 (Keras 3.15) not extracted offline."""
    keras_home = tmp_path / ".keras"
    datasets = keras_home / "datasets"
    write_fashion_mnist(datasets / "fashion-mnist")
    (datasets / "fashion-mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"<!doctype html><html></html>")
    _, archive = cifar10_files(tmp_path / "src")
    (datasets / "cifar-10-batches-py-target_archive").write_bytes(archive.read_bytes())
    extract_to(archive, datasets / "cifar-10-batches-py-target")
    before = tree(datasets)
    env = clean_env(
        tmp_path, KERAS_HOME=str(keras_home), PYTHONPATH=str(ROOT), MNIST_DOCTOR_PINS=pins_json([archive])
    )
    done = run_doctor(
        "--select",
        "load",
        "--format",
        "json",
        "--offline",
        "--timeout",
        "120",
        "--dataset",
        "fashion_mnist,cifar10",
        env=env,
        cwd=tmp_path,
    )
    real = done.result("load.real")
    assert real["status"] == "fail" and done.code == 1, real
    assert real["summary"].startswith(
        "fashion_mnist: fail — load_data failed — Keras does not check fashion_mnist's files; "
        "the cached train-images-idx3-ubyte.gz is an HTML page"
    )
    assert (
        "cifar10: skip — not run under --offline: re-extracts cifar-10-batches-py-target_archive "
        "on every call" in real["summary"]
    )
    assert "this Keras re-extracts" in real["data"]["datasets"]["cifar10"]["summary"]
    assert "mnist-doctor --clear-cache --dataset fashion_mnist" in real["hint"]
    per = real["data"]["datasets"]
    assert per["fashion_mnist"]["cause"] == "bad-gzip" and per["cifar10"]["status"] == "skip"
    assert real["data"]["fix"]["dataset"] == "fashion_mnist"
    assert tree(datasets) == before


@pytest.mark.usefixtures("processes")
def test_keras3_cifar_with_its_folder_still_checks_the_archive(tmp_path: Path) -> None:
    """Keras >= 3.6 validates the archive on every call: a synthetic one makes it download (guard)."""
    home = tmp_path / "home"
    datasets = home / ".keras" / "datasets"
    loader, archive = cifar10_files(tmp_path / "src")
    (datasets / "cifar-10-batches-py-target_archive").parent.mkdir(parents=True)
    (datasets / "cifar-10-batches-py-target_archive").write_bytes(archive.read_bytes())
    extract_to(archive, datasets / "cifar-10-batches-py-target")
    before = tree(datasets)
    run = run_load_probe(
        sys.executable,
        "tf",
        PROBE_TIMEOUT_S,
        env=probe_env(home),
        cwd=str(tmp_path),
        datasets=(loader,),
        offline=True,
    )
    diag = diagnose(run, host=TORONTO, target_python=sys.executable, dataset=loader)
    assert diag.name == "offline-download", (diag, run.outcome("cifar10"))
    assert "cifar-10-python.tar.gz for cifar10" in diag.summary
    kept = {k["path"]: k for k in run.others_safekeeping["cifar10"]["kept"]}
    archive_path = str(datasets / "cifar-10-batches-py-target_archive")
    assert kept[archive_path]["outcome"] == "removed" and kept[archive_path]["restored"]  # Keras removed it
    assert tree(datasets) == before


# -- Keras 2 (TensorFlow 2.12) -------------------------------------------------------------------


@needs_keras2
def test_keras2_missing_loader_is_skip_and_unreachable_cifar_host_names_the_archive(tmp_path: Path) -> None:
    from mnist_doctor.checks.load import loader_result
    from mnist_doctor.facts import Facts, Options

    try:
        socket.getaddrinfo(TORONTO, 443)
    except OSError:
        resolvable = False
    else:
        resolvable = True
    home = tmp_path / "home"
    datasets = home / ".keras" / "datasets"
    half = datasets / "cifar-10-batches-py"
    half.mkdir(parents=True)
    (half / "batches.meta").write_bytes(b"meta")
    before = tree(datasets)
    selected = (table()["cifar10"], table()["california_housing"])
    run = run_load_probe(
        str(KERAS2_PYTHON), "tf", PROBE_TIMEOUT_S, env=probe_env(home), cwd=str(tmp_path), datasets=selected
    )
    assert run.outcome("california_housing").status == "missing", run.run.stderr[-2000:]
    facts = Facts(Options(python=str(KERAS2_PYTHON), timeout=60))
    facts.provide("load_probe", run)
    missing = loader_result(facts, facts.options, selected[1], MNIST, str(KERAS2_PYTHON))
    assert missing.status == Status.SKIP and "this Keras has no california_housing loader" in missing.summary
    assert run.run.answer["loaders"]["cifar10"]["call"] == "tf.keras.datasets.cifar10.load_data()"
    diag = diagnose(run, host=TORONTO, target_python=sys.executable, dataset=selected[0])
    if not resolvable:
        assert diag.name == "dns" and diag.summary.startswith(f"DNS for {TORONTO} failed"), diag
        assert "cifar-10-python.tar.gz on a machine that reaches it" in diag.hint
        assert "--seed FILE --dataset cifar10" in diag.hint
        assert (
            "--seed FILE --dataset cifar10" in diag.hint
            and "--fetch --mirror URL --dataset cifar10" in diag.hint
        )
        assert diag.fixes == ()  # no mirror was named for cifar's files: nothing --fix could fetch
    else:
        assert diag.name != "unknown", diag
    assert tree(datasets) == before  # the half-extracted folder is left exactly as it was


@needs_keras2
def test_keras2_half_extracted_folder_with_the_genuine_archive(tmp_path: Path) -> None:
    real_archive = os.environ.get("MNIST_DOCTOR_CIFAR10")
    if not real_archive:
        pytest.skip("needs the genuine archive: MNIST_DOCTOR_CIFAR10=/path/cifar-10-python.tar.gz")
    home = tmp_path / "home"
    datasets = home / ".keras" / "datasets"
    datasets.mkdir(parents=True)
    os.symlink(real_archive, datasets / "cifar-10-batches-py.tar.gz")
    (datasets / "cifar-10-batches-py").mkdir()
    (datasets / "cifar-10-batches-py" / "batches.meta").write_bytes(b"meta")
    loader = table()["cifar10"]
    run = run_load_probe(
        str(KERAS2_PYTHON), "tf", PROBE_TIMEOUT_S, env=probe_env(home), cwd=str(tmp_path), datasets=(loader,)
    )
    diag = diagnose(run, host=TORONTO, target_python=sys.executable, dataset=loader)
    assert diag.name == "half-extracted" and "lacks data_batch_1" in diag.summary, diag


def test_view_of_a_loader_killed_midway_is_its_own_timeout() -> None:
    """A kill during cifar10 is cifar10's; MNIST, which had finished, is not 'stalled'."""
    stages = [
        {"name": "numpy", "ok": True},
        {"name": "load_data", "ok": True, "value": {}},
        {"name": "load_data:cifar10", "ok": False, "started": True},
    ]
    answer = {"stages": stages, "loaders": {"cifar10": {"status": "started", "get_file": [{"origin": "x"}]}}}
    run = ScriptRun(["python"], -9, "", "", 30.0, timed_out=True, answer=answer, limited_by_budget=True)
    probe = LoadProbe(run, "tf", others=("cifar10",))
    assert not probe.killed_during("mnist") and probe.outcome("mnist").succeeded
    assert probe.killed_during("cifar10") and probe.cut_by_budget and probe.outcome("cifar10").unfinished
    without_mnist = dict(answer, stages=[stages[0], stages[2]])
    alone = LoadProbe(replace(run, answer=without_mnist), "tf", others=("cifar10",))
    assert not alone.import_view().timed_out  # the imports had finished: runtime.import must not blame them
    assert alone.killed_during("cifar10") and alone.cut_by_budget


@pytest.mark.usefixtures("processes")
def test_offline_run_of_every_dataset_names_each_host_and_its_offline_route(tmp_path: Path) -> None:
    """``--dataset all --offline`` on an empty cache: one line per host, the route for each, no socket."""
    from testkit.doctor import clean_env, run_doctor

    run = run_doctor("--dataset", "all", "--offline", "--format", "json", env=clean_env(tmp_path), cwd=ROOT)
    assert run.code == 0, run.stderr
    real = run.result("load.real")
    assert real["status"] == "skip"
    assert "from storage.googleapis.com" in real["summary"] and "from www.cs.toronto.edu" in real["summary"]
    assert "--seed FILE --dataset cifar10,cifar100`" in real["hint"]  # one seed for the host's loaders
    typed = [a["command"] for a in real["advice"]]  # each host's --seed, typed for the report
    assert any(c.endswith("--seed FILE --dataset cifar10,cifar100") for c in typed), typed
    assert all(f"`{c}`" in real["hint"] for c in typed) and len(typed) == len(real["hint"].split("; for ")), (
        typed
    )
    for name in ("cifar10", "cifar100", "fashion_mnist"):  # each file: where to get it, and its hash
        for data_file in table()[name].loaded_files:
            assert f"{data_file.spec.origin} (sha256 {data_file.spec.sha256})" in real["hint"], data_file.name
    load_line = run.json["diagnosis"]["load_data"]
    assert load_line["state"] == "needs-download" and "www.cs.toronto.edu" in load_line["text"]
    assert set(real["data"]["datasets"]) == set(run.json["environment"]["datasets"])


def test_mnists_view_never_takes_a_later_loaders_error() -> None:
    """MNIST failed on DNS, cifar10 later on a refused proxy: MNIST's cause is its own failure."""
    dns = {
        "type": "builtins.Exception",
        "message": "URL fetch failure on https://storage.googleapis.com/"
        "tensorflow/tf-keras-datasets/mnist.npz: None -- [Errno -2] Name or service not known",
        "chain": [],
    }
    refused = {
        "type": "builtins.Exception",
        "message": "URL fetch failure on https://www.cs.toronto.edu/"
        "~kriz/cifar-10-python.tar.gz: None -- [Errno 111] Connection refused",
        "chain": [],
    }
    answer = {
        "stages": [
            {"name": "numpy", "ok": True},
            {"name": "load_data", "ok": False, "exception": dns},
            {"name": "load_data:cifar10", "ok": False, "started": True, "exception": refused},
        ],
        "done": True,
        "loaders": {"cifar10": {"status": "failed"}},
    }
    probe = LoadProbe(ScriptRun(["python"], 0, "", "", 1.0, answer=answer), "tf", others=("cifar10",))
    mnist, cifar = probe.outcome("mnist"), probe.outcome("cifar10")
    assert mnist.stage and mnist.stage.exception and mnist.stage.exception.message == dns["message"]
    assert cifar.stage and cifar.stage.exception and cifar.stage.exception.message == refused["message"]
    assert diagnose(probe, host="storage.googleapis.com", target_python=sys.executable).name == "dns"


# -- each loader's route is typed advice (the report prints the commands the hint names) ---------


def test_a_loaders_cause_carries_its_own_route_as_advice() -> None:
    """cifar10's refused connection: the hint names cifar10's --seed, and that command is typed."""
    refused = {
        "type": "builtins.Exception",
        "message": "URL fetch failure on https://www.cs.toronto.edu/"
        "~kriz/cifar-10-python.tar.gz: None -- [Errno 111] Connection refused",
        "chain": [],
    }
    answer = {
        "stages": [
            {"name": "numpy", "ok": True},
            {"name": "load_data:cifar10", "ok": False, "started": True, "exception": refused},
        ],
        "done": True,
        "loaders": {"cifar10": {"status": "failed"}},
    }
    probe = LoadProbe(ScriptRun(["python"], 0, "", "", 1.0, answer=answer), "tf", others=("cifar10",))
    cifar = table()["cifar10"]
    found = diagnose(probe, host="www.cs.toronto.edu", target_python=sys.executable, dataset=cifar)
    lines = [a.line for a in found.advice]
    seed = [line for line in lines if line.endswith("--seed FILE --dataset cifar10")]
    assert found.name == "connection-refused" and seed, lines
    assert all(f"`{line}`" in found.hint for line in lines)  # each typed command is the one shown
    assert not any("--dataset" not in line for line in lines if "mnist-doctor" in line), lines


def test_a_single_gated_loader_hints_typed_seed_and_fetch() -> None:
    """A loader --offline does not call: its --seed and --fetch commands are advice, not prose."""
    from mnist_doctor.checks.load import gate_result
    from mnist_doctor.facts import Options
    from mnist_doctor.facts.load_probe import LoadGate

    gate = LoadGate("would download cifar-10-python.tar.gz", data={"verdict": "missing"})
    result = gate_result(
        gate, Options(python=sys.executable, offline=True), sys.executable, table()["cifar10"]
    )
    assert result.status == Status.SKIP
    assert [(a.line.split("mnist-doctor", 1)[-1], a.comment) for a in result.advice] == [
        (" --seed FILE --dataset cifar10", None),
        (" --fetch --dataset cifar10", "or, with a network"),
    ]
    assert result.hint is not None and all(a.line in result.hint for a in result.advice)
