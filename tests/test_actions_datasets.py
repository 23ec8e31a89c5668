"""--clear-cache, --seed and --fetch for every keras.datasets loader, on real files and a real
loopback mirror, with synthetic files pinned through MNIST_DOCTOR_PINS.

The Keras line is the one installed here (Keras 3.15: archives as ``<folder>-target_archive``)
unless a test sets tf-keras; HOME is a temp folder, so the real ~/.keras is never touched.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from packaging.version import Version
from rich.console import Console

from mnist_doctor import actions
from mnist_doctor.datasets import verification
from mnist_doctor.datasets.table import table
from mnist_doctor.errors import UsageError
from mnist_doctor.facts import Facts, Options
from mnist_doctor.facts.flavour import KerasFlavour
from testkit.datasets import pins_json, write_cifar_tar_gz, write_fashion_mnist, write_idx_gz
from testkit.loopback import FolderServer, silent_server
from tests.cache_fixtures import REPO, tree_snapshot

CIFAR = table()["cifar10"].archive
assert CIFAR is not None
#: Keras >= 3.6 and Keras 2 / tf-keras names of the cifar10 archive and its extraction folder.
NEW_ARCHIVE, NEW_FOLDER = CIFAR.keras36.archive, CIFAR.keras36.folder
OLD_ARCHIVE, OLD_FOLDER = CIFAR.legacy.archive, CIFAR.legacy.folder


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=300, force_terminal=False), out


def facts_for(*datasets: str, **overrides: object) -> Facts:
    return Facts(Options(python=sys.executable, timeout=60, datasets=datasets), overrides=dict(overrides))


def tf_keras() -> KerasFlavour:
    return KerasFlavour("tf_keras", "tf.keras", "tf-keras", Version("2.21.0"), Version("2.21.0"), "1", "test")


@pytest.fixture
def cifar_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A synthetic cifar-10-python.tar.gz, pinned as the real one."""
    folder = tmp_path / "downloads"
    folder.mkdir(exist_ok=True)
    archive = write_cifar_tar_gz(folder / "cifar-10-python.tar.gz")
    monkeypatch.setenv("MNIST_DOCTOR_PINS", pins_json([archive]))
    return archive


@pytest.fixture
def fashion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The four synthetic Fashion-MNIST files, pinned."""
    folder = tmp_path / "fashion-src"
    folder.mkdir()
    files = write_fashion_mnist(folder)
    monkeypatch.setenv("MNIST_DOCTOR_PINS", pins_json(files.values()))
    return files


def cache_dir(home: Path) -> Path:
    return home / ".keras" / "datasets"


# ---------------------------------------------------------------- --seed


@pytest.mark.usefixtures("processes")
def test_seed_of_a_cifar_archive_goes_under_this_keras_lines_name_packed(
    keras_home: Path, cifar_archive: Path
) -> None:
    out_console, out = console()
    assert actions.seed_file(facts_for("cifar10"), out_console, str(cifar_archive)) == 0, out.getvalue()
    folder = cache_dir(keras_home)
    assert sorted(p.name for p in folder.iterdir()) == [NEW_ARCHIVE]  # not extracted, no temp file
    assert (folder / NEW_ARCHIVE).read_bytes() == cifar_archive.read_bytes()
    text = out.getvalue()
    assert "extracts it itself" in text and NEW_FOLDER in text and "cifar10.load_data()" in text


@pytest.mark.usefixtures("processes")
def test_seed_without_dataset_finds_the_dataset_by_its_hash(keras_home: Path, cifar_archive: Path) -> None:
    seeded: list[str] = []
    out_console, out = console()
    code = actions.seed_file(
        facts_for("mnist"), out_console, str(cifar_archive), any_dataset=True, seeded=seeded
    )
    assert code == 0, out.getvalue()
    assert seeded == ["cifar10"] and (cache_dir(keras_home) / NEW_ARCHIVE).is_file()


@pytest.mark.usefixtures("processes")
def test_seed_for_tf_keras_uses_the_legacy_archive_name_and_warns_about_a_stale_folder(
    keras_home: Path, cifar_archive: Path
) -> None:
    stale = cache_dir(keras_home) / OLD_FOLDER
    stale.mkdir(parents=True)
    (stale / "data_batch_1").write_bytes(b"half")
    out_console, out = console()
    facts = facts_for("cifar10", keras_flavour=tf_keras())
    assert actions.seed_file(facts, out_console, str(cifar_archive)) == 0, out.getvalue()
    assert (cache_dir(keras_home) / OLD_ARCHIVE).read_bytes() == cifar_archive.read_bytes()
    assert not (cache_dir(keras_home) / NEW_ARCHIVE).exists()
    assert "only extracts when that folder is missing" in out.getvalue()
    assert (stale / "data_batch_1").read_bytes() == b"half"  # the seed never removes it itself


@pytest.mark.usefixtures("processes")
def test_seed_of_a_fashion_file_goes_into_its_own_folder(keras_home: Path, fashion: dict[str, Path]) -> None:
    source = fashion["train-images-idx3-ubyte.gz"]
    out_console, out = console()
    assert actions.seed_file(facts_for("fashion_mnist"), out_console, str(source)) == 0, out.getvalue()
    installed = cache_dir(keras_home) / "fashion-mnist" / source.name
    assert installed.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in installed.parent.iterdir()) == [source.name]


@pytest.mark.usefixtures("processes")
def test_seed_of_an_html_page_named_like_a_fashion_file_is_refused(
    keras_home: Path, fashion: dict[str, Path], tmp_path: Path
) -> None:
    page = tmp_path / "train-images-idx3-ubyte.gz"
    page.write_bytes(b"<!doctype html><html>blocked</html>")
    out_console, out = console()
    assert actions.seed_file(facts_for("mnist"), out_console, str(page), any_dataset=True) == 1
    text = out.getvalue()
    assert "refused" in text and "HTML page" in text and "fashion_mnist/train-images-idx3-ubyte.gz" in text
    assert not (keras_home / ".keras").exists()  # nothing created, not even the folders


@pytest.mark.usefixtures("processes")
def test_seed_of_an_unknown_file_for_several_files_is_a_usage_error(
    keras_home: Path, fashion: dict[str, Path], tmp_path: Path
) -> None:
    stranger = tmp_path / "notes.txt"
    stranger.write_bytes(b"nothing to do with fashion")
    out_console, _ = console()
    with pytest.raises(UsageError) as raised:
        actions.seed_file(facts_for("fashion_mnist"), out_console, str(stranger))
    message = str(raised.value)
    for name in fashion:
        assert name in message
    assert "none of the selected files" in message and "--dataset NAME" in (raised.value.hint or "")
    assert len(message) < 300  # one line of a usage error, not cut


# ---------------------------------------------------------------- --clear-cache


def populate_cifar(home: Path) -> Path:
    """Both layouts of cifar10 with content, MNIST, and the user's unrelated files."""
    folder = cache_dir(home)
    for extracted in (folder / OLD_FOLDER, folder / NEW_FOLDER / CIFAR.inner):
        extracted.mkdir(parents=True)
        (extracted / "data_batch_1").write_bytes(b"batch" * 100)
    (folder / OLD_ARCHIVE).write_bytes(b"old archive")
    (folder / NEW_ARCHIVE).write_bytes(b"new archive")
    (folder / f".{NEW_ARCHIVE}.0123456789abcdef.part").write_bytes(b"half")  # the doctor's partial
    (folder / "mnist.npz").write_bytes(b"mnist")
    (folder / "cifar-notes.txt").write_bytes(b"the user's")
    (folder / f"{OLD_FOLDER}.bak").mkdir()
    (home / ".keras" / "keras.json").write_text("{}")
    return folder


@pytest.mark.usefixtures("processes")
def test_clear_cache_of_cifar_removes_both_layouts_and_nothing_else(keras_home: Path) -> None:
    folder = populate_cifar(keras_home)
    out_console, out = console()
    code = actions.clear_cache(facts_for("cifar10"), out_console, yes=True, dry_run=False, interactive=False)
    assert code == 0, out.getvalue()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["cifar-notes.txt", f"{OLD_FOLDER}.bak", "mnist.npz"]
    )
    assert (folder / "mnist.npz").read_bytes() == b"mnist"
    assert (keras_home / ".keras" / "keras.json").read_text() == "{}"
    assert "removed 5 item(s)" in out.getvalue()


@pytest.mark.usefixtures("processes")
def test_clear_cache_dry_run_lists_every_dataset_and_changes_nothing(
    keras_home: Path, fashion: dict[str, Path]
) -> None:
    folder = populate_cifar(keras_home)
    (folder / "fashion-mnist").mkdir()
    (folder / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"<html>")
    before = tree_snapshot(keras_home)
    out_console, out = console()
    facts = facts_for("fashion_mnist", "cifar10")
    assert actions.clear_cache(facts, out_console, yes=False, dry_run=True, interactive=False) == 0
    text = out.getvalue()
    assert "would remove 6 item(s)" in text and "fashion_mnist, cifar10" in text
    assert str(folder / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz") in text and NEW_FOLDER in text
    assert "mnist.npz" not in text and "cifar-notes.txt" not in text
    assert tree_snapshot(keras_home) == before


@pytest.mark.usefixtures("processes")
def test_a_symlinked_extraction_folder_is_unlinked_not_followed(keras_home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    (outside / CIFAR.inner).mkdir(parents=True)
    (outside / CIFAR.inner / "data_batch_1").write_bytes(b"not the cache's")
    folder = cache_dir(keras_home)
    folder.mkdir(parents=True)
    (folder / NEW_FOLDER).symlink_to(outside)
    inside = folder / OLD_FOLDER
    inside.mkdir()
    (inside / "data_batch_1").symlink_to(outside / CIFAR.inner / "data_batch_1")  # a link inside the tree
    before = tree_snapshot(outside)
    out_console, out = console()
    code = actions.clear_cache(facts_for("cifar10"), out_console, yes=True, dry_run=False, interactive=False)
    assert code == 0, out.getvalue()
    assert list(folder.iterdir()) == []
    assert tree_snapshot(outside) == before
    assert "its target stays" in out.getvalue()


@pytest.mark.usefixtures("processes")
def test_default_clear_cache_leaves_other_datasets(keras_home: Path) -> None:
    folder = populate_cifar(keras_home)
    out_console, _ = console()
    assert (
        actions.clear_cache(facts_for("mnist"), out_console, yes=True, dry_run=False, interactive=False) == 0
    )
    assert not (folder / "mnist.npz").exists()
    assert (folder / NEW_ARCHIVE).exists() and (folder / OLD_FOLDER / "data_batch_1").exists()


# ---------------------------------------------------------------- --fetch


@pytest.mark.usefixtures("processes")
def test_fetch_of_fashion_mnist_from_a_mirror_folder_installs_four_files(
    keras_home: Path, fashion: dict[str, Path]
) -> None:
    with FolderServer({name: path.read_bytes() for name, path in fashion.items()}) as server:
        out_console, out = console()
        code = actions.fetch_dataset(facts_for("fashion_mnist"), out_console, server.url)
    assert code == 0, out.getvalue()
    folder = cache_dir(keras_home) / "fashion-mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(fashion)
    for name, path in fashion.items():
        assert (folder / name).read_bytes() == path.read_bytes()
    assert sorted(server.requests) == sorted(fashion)
    assert out.getvalue().count(": installed") == 4


@pytest.mark.usefixtures("processes")
def test_fetch_refuses_one_html_file_and_installs_the_others(
    keras_home: Path, fashion: dict[str, Path]
) -> None:
    bad = "train-images-idx3-ubyte.gz"
    files = {name: path.read_bytes() for name, path in fashion.items()}
    with FolderServer(files, html=frozenset({bad})) as server:
        out_console, out = console()
        code = actions.fetch_dataset(facts_for("fashion_mnist"), out_console, server.url)
    text = out.getvalue()
    assert code == 1, text
    folder = cache_dir(keras_home) / "fashion-mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(set(fashion) - {bad})  # no partial left
    assert f"fashion_mnist/{bad}: failed (an HTML page came instead of the file)" in text
    assert text.count(": installed") == 3
    with FolderServer(files) as server:  # a second run: three already there, the fourth fetched
        out_console, out = console()
        assert actions.fetch_dataset(facts_for("fashion_mnist"), out_console, server.url) == 0
    assert out.getvalue().count(": already present") == 3 and server.requests == [bad]


@pytest.mark.usefixtures("processes")
def test_fetch_of_cifar_installs_the_archive_under_this_lines_name(
    keras_home: Path, cifar_archive: Path
) -> None:
    with FolderServer({cifar_archive.name: cifar_archive.read_bytes()}) as server:
        out_console, out = console()
        code = actions.fetch_dataset(facts_for("cifar10"), out_console, server.url)
    assert code == 0, out.getvalue()
    assert sorted(p.name for p in cache_dir(keras_home).iterdir()) == [NEW_ARCHIVE]
    assert server.requests == [cifar_archive.name]


# ---------------------------------------------------------------- through the CLI


def test_cli_seed_without_dataset_then_clear_cache_of_that_dataset(
    doctor, home: Path, tmp_path: Path
) -> None:
    archive = write_cifar_tar_gz(tmp_path / "cifar-10-python.tar.gz")
    env = {"MNIST_DOCTOR_PINS": pins_json([archive])}
    run = doctor("--seed", str(archive), "--format", "json", env_extra=env, cwd=REPO)
    step = run.json["actions"][0]
    assert step["exit_code"] == 0, run.stdout + run.stderr
    assert (cache_dir(home) / NEW_ARCHIVE).read_bytes() == archive.read_bytes()
    assert any("extracts it itself" in m for m in step["messages"])
    assert run.json["after"]["mode"] == "diagnose"
    dry = doctor("--clear-cache", "--dataset", "cifar10", "--dry-run", env_extra=env, cwd=REPO)
    assert dry.code == 0 and "would remove 1 item(s)" in dry.stdout, dry.stdout + dry.stderr
    cleared = doctor("--clear-cache", "--dataset", "cifar10", "--yes", env_extra=env, cwd=REPO)
    assert "removed 1 item(s)" in cleared.stdout, cleared.stdout + cleared.stderr
    assert list(cache_dir(home).iterdir()) == []


def test_cli_fetch_with_a_file_mirror_for_several_files_is_a_usage_error(doctor) -> None:
    run = doctor("--fetch", "--dataset", "fashion_mnist", "--mirror", "http://127.0.0.1:9/x.gz", cwd=REPO)
    assert run.code == 2 and "folder URL" in run.stderr, run.stderr


@pytest.mark.usefixtures("processes")
def test_fifo_in_place_of_a_file_is_removed_or_replaced_never_opened(
    keras_home: Path, fashion: dict[str, Path]
) -> None:
    folder = cache_dir(keras_home) / "fashion-mnist"
    folder.mkdir(parents=True)
    name = "t10k-labels-idx1-ubyte.gz"
    os.mkfifo(folder / name)
    out_console, out = console()
    assert actions.seed_file(facts_for("fashion_mnist"), out_console, str(fashion[name])) == 0, out.getvalue()
    assert (folder / name).read_bytes() == fashion[name].read_bytes()
    (folder / name).unlink()
    os.mkfifo(folder / name)
    code = actions.clear_cache(
        facts_for("fashion_mnist"), out_console, yes=True, dry_run=False, interactive=False
    )
    assert code == 0 and list(folder.iterdir()) == []


# ---------------------------------------------------------------- judging a file of any kind


def judged(data: bytes, data_file) -> str:
    return verification.judge_stream(io.BytesIO(data), len(data), data_file).verdict


def test_judge_names_what_a_wrong_file_is(tmp_path: Path) -> None:
    good = write_idx_gz(tmp_path / "t10k-labels-idx1-ubyte.gz", (5,)).read_bytes()
    real = table()["fashion_mnist"].file("t10k-labels-idx1-ubyte.gz")
    pinned = replace(real, spec=real.spec.with_file(hashlib.sha256(good).hexdigest(), len(good)))
    assert judged(good, pinned) == verification.OK
    assert judged(good[:-7], pinned) == verification.TRUNCATED
    assert judged(b"<html><body>login</body></html>", pinned) == verification.HTML
    assert judged(b"", pinned) == verification.EMPTY
    assert judged(b"PK\x03\x04" + bytes(40), pinned) == verification.CORRUPT
    other = write_idx_gz(tmp_path / "other.gz", (5,), seed=9).read_bytes()
    assert judged(other + bytes(max(len(good) - len(other), 0)), pinned) == verification.MISMATCH
    huge = pinned.spec.max_file_size + 1
    assert (
        verification.judge_stream(io.BytesIO(b"x"), huge, pinned).verdict == verification.TOO_LARGE
    )  # never read


def test_a_word_index_pinned_only_by_md5_is_checked_by_md5() -> None:
    text = b'{"the": 1, "and": 2}'
    real = table()["imdb"].file("imdb_word_index.json")
    assert not real.spec.sha256 and real.md5  # Keras pins it by md5 only; so does the table
    pinned = replace(real, spec=real.spec.with_file("", len(text)), md5=hashlib.md5(text).hexdigest())
    assert judged(text, pinned) == verification.OK
    assert judged(text.replace(b"1", b"3"), pinned) == verification.MISMATCH
    assert judged(b"<!doctype html><p>no</p>", pinned) == verification.HTML


def test_cli_fetch_of_fashion_mnist_and_a_stranger_seeded(doctor, home: Path, tmp_path: Path) -> None:
    files = write_fashion_mnist(tmp_path)
    env = {"MNIST_DOCTOR_PINS": pins_json(files.values())}
    with FolderServer({name: path.read_bytes() for name, path in files.items()}) as server:
        run = doctor(
            "--fetch", "--dataset", "fashion_mnist", "--mirror", server.url, "--format", "json",
            env_extra=env, cwd=REPO,
        )  # fmt: skip
    step = run.json["actions"][0]
    assert step["exit_code"] == 0 and step["url"] == server.url, run.stdout + run.stderr
    assert sorted(p.name for p in (cache_dir(home) / "fashion-mnist").iterdir()) == sorted(files)
    stranger = tmp_path / "notes.txt"
    stranger.write_bytes(b"not a dataset file")
    seed = doctor("--seed", str(stranger), "--dataset", "fashion_mnist", env_extra=env, cwd=REPO)
    assert seed.code == 2 and seed.stdout == "", seed.stdout + seed.stderr
    lines = seed.stderr.splitlines()
    assert len(lines) == 1 and "train-images-idx3-ubyte.gz" in lines[0] and "hint:" in lines[0]


@pytest.mark.usefixtures("processes")
def test_fetch_of_several_files_stays_within_one_timeout(keras_home: Path, fashion: dict[str, Path]) -> None:
    """A mirror that accepts and never answers: the four files share one --timeout, nothing is left."""
    facts = Facts(Options(python=sys.executable, timeout=4, datasets=("fashion_mnist",)))
    facts.get("keras_cache")  # the introspection is not what is measured here
    with silent_server() as port:
        started = time.monotonic()
        out_console, out = console()
        code = actions.fetch_dataset(facts, out_console, f"http://127.0.0.1:{port}/")
        elapsed = time.monotonic() - started
    text = out.getvalue()
    assert code == 1 and elapsed < 4 + 2, (elapsed, text)
    assert "--timeout reached" in text and text.count(": failed") == 4
    assert not (keras_home / ".keras" / "datasets" / "fashion-mnist").exists()  # no partial, no folder


#: What ``keras.datasets.cifar10.load_data()`` does first (Keras 3.15), with the synthetic archive's
#: hash and an origin that cannot answer: it succeeds only if the seeded file is where Keras looks.
KERAS_GET_FILE = """
import os, sys
import keras
from keras.src.datasets.cifar import load_batch
path = keras.utils.get_file(
    fname=sys.argv[1], origin="http://127.0.0.1:9/cifar-10-python.tar.gz", extract=True, file_hash=sys.argv[2]
)
x, y = load_batch(os.path.join(path, sys.argv[3], "data_batch_1"))
print(keras.__version__, x.shape, len(y))
"""


@pytest.mark.usefixtures("processes")
def test_real_keras_extracts_the_seeded_archive_without_downloading(
    keras_home: Path, cifar_archive: Path
) -> None:
    """Keras' own get_file (the installed Keras 3) finds the seeded archive, checks it, extracts it."""
    pytest.importorskip("keras")
    out_console, out = console()
    assert actions.seed_file(facts_for("cifar10"), out_console, str(cifar_archive)) == 0, out.getvalue()
    sha = hashlib.sha256(cifar_archive.read_bytes()).hexdigest()
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_HOME", "PYTHONPATH")}
    env.update(HOME=str(keras_home), KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2", no_proxy="*")
    done = subprocess.run(
        [sys.executable, "-c", KERAS_GET_FILE, NEW_FOLDER, sha, CIFAR.inner],
        capture_output=True, text=True, env=env, timeout=300, cwd=keras_home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(4, 32, 32, 3) 4" in done.stdout or "(4, 3, 32, 32) 4" in done.stdout, done.stdout
    extracted = cache_dir(keras_home) / NEW_FOLDER / CIFAR.inner
    assert sorted(p.name for p in extracted.iterdir()) == sorted(CIFAR.members)


@pytest.mark.usefixtures("processes")
def test_real_keras_loads_the_fetched_fashion_mnist(keras_home: Path, fashion: dict[str, Path]) -> None:
    """keras.datasets.fashion_mnist.load_data() itself reads the four files --fetch installed (no download:
    Keras pins no hash for them, so a file present is used as it is)."""
    pytest.importorskip("keras")
    with FolderServer({name: path.read_bytes() for name, path in fashion.items()}) as server:
        out_console, out = console()
        assert actions.fetch_dataset(facts_for("fashion_mnist"), out_console, server.url) == 0, out.getvalue()
    code = "import keras; (a, b), (c, d) = keras.datasets.fashion_mnist.load_data(); print(a.shape, c.shape)"
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_HOME", "PYTHONPATH")}
    env.update(HOME=str(keras_home), TF_CPP_MIN_LOG_LEVEL="2", https_proxy="http://127.0.0.1:9", no_proxy="")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, cwd=keras_home
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(12, 28, 28) (6, 28, 28)" in done.stdout, done.stdout
