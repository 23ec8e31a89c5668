"""Hostile file layouts: the cache actions never act outside the cache, through a link, or in
another user's folder; the write probe writes nothing outside the cache folder itself.

Real parts: real symlinks and folders, real ownership (``chown`` to other uids, and the doctor
run as another user through ``setpriv``), the real CLI in subprocesses.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from rich.console import Console

from mnist_doctor import actions
from mnist_doctor.checks import cache as cache_checks
from mnist_doctor.datasets.table import table
from mnist_doctor.facts import Facts, Options
from mnist_doctor.files.safe_dir import SafeDir, UnsafeFolder
from mnist_doctor.model import Status
from mnist_doctor.pipeline.engine import Engine, select
from testkit.datasets import pins_json, write_fashion_mnist
from tests.cache_fixtures import (
    OTHER_UID,
    OWNER_UID,
    REPO,
    can_switch_user,
    datasets_dir,
    make_facts,
    tree_snapshot,
)

needs_other_user = pytest.mark.skipif(can_switch_user() is not None, reason=str(can_switch_user()))


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=240, force_terminal=False), out


def victim_folder(root: Path) -> Path:
    """A folder outside any cache holding a user's own mnist.npz and its backup."""
    victim = root / "victim"
    victim.mkdir()
    (victim / "mnist.npz").write_bytes(b"the victim's own copy")
    (victim / "mnist.npz.bak").write_bytes(b"the victim's backup")
    (victim / ".mnist.npz.0123456789abcdef.part").write_bytes(b"looks like ours, is not in the cache")
    return victim


# ---------------------------------------------------------------- a datasets link to a shared folder


def link_datasets_out(home: Path, tmp_path: Path) -> Path:
    """``~/.keras/datasets`` -> a folder anyone may write in (what lies there is not only yours)."""
    victim = victim_folder(tmp_path)
    victim.chmod(0o777)
    (home / ".keras").mkdir()
    (home / ".keras" / "datasets").symlink_to(victim)
    return victim


@pytest.mark.usefixtures("processes")
def test_clear_cache_refuses_a_datasets_link_to_a_shared_folder(
    keras_home: Path, tmp_path: Path, spec
) -> None:
    victim = link_datasets_out(keras_home, tmp_path)
    before = tree_snapshot(victim)
    out_console, out = console()
    code = actions.clear_cache(make_facts(spec), out_console, yes=True, dry_run=False, interactive=False)
    assert code == 1  # Keras reads that folder, and it was not cleared
    assert tree_snapshot(victim) == before  # mnist.npz, mnist.npz.bak and the look-alike all survive
    text = " ".join(out.getvalue().split())  # as one line, however the console wrapped it
    assert "not followed" in text and "others may write in" in text and "hint:" in text
    assert str(victim) in text


@pytest.mark.parametrize("action", ["seed", "fetch"])
@pytest.mark.usefixtures("processes")
def test_seed_and_fetch_refuse_a_datasets_link_to_a_shared_folder(
    keras_home: Path, tmp_path: Path, good_npz: Path, spec, action: str
) -> None:
    victim = link_datasets_out(keras_home, tmp_path)
    before = tree_snapshot(victim)
    out_console, out = console()
    if action == "seed":
        code = actions.seed_file(make_facts(spec), out_console, str(good_npz))
    else:  # refused before any connection: the port is never contacted
        code = actions.fetch_dataset(make_facts(spec), out_console, "http://127.0.0.1:9/mnist.npz")
    assert code == 1
    assert tree_snapshot(victim) == before  # no temp file, nothing replaced
    assert "not followed" in out.getvalue()


@pytest.mark.usefixtures("processes")
def test_a_link_that_stays_inside_the_cache_is_followed(keras_home: Path, good_npz: Path, spec) -> None:
    """~/.keras/datasets -> ~/.keras/data-v2 (the user's own, inside the cache): acted on normally."""
    inner = keras_home / ".keras" / "data-v2"
    inner.mkdir(parents=True)
    (keras_home / ".keras" / "datasets").symlink_to(inner)
    (inner / "mnist.npz").write_bytes(b"<html>portal</html>")
    (inner / "mnist.npz.bak").write_bytes(b"backup")
    out_console, _ = console()
    assert actions.clear_cache(make_facts(spec), out_console, yes=True, dry_run=False, interactive=False) == 0
    assert sorted(p.name for p in inner.iterdir()) == ["mnist.npz.bak"]
    assert actions.seed_file(make_facts(spec), out_console, str(good_npz)) == 0
    assert (inner / "mnist.npz").read_bytes() == good_npz.read_bytes()
    assert sorted(p.name for p in inner.iterdir()) == ["mnist.npz", "mnist.npz.bak"]


def test_safe_dir_refuses_a_file_and_a_link_to_a_file(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "datasets").write_bytes(b"not a folder")
    with pytest.raises(UnsafeFolder, match="not a folder"):
        SafeDir.open(base / "datasets")
    (base / "datasets").unlink()
    (base / "target").write_bytes(b"x")
    (base / "datasets").symlink_to(base / "target")
    with pytest.raises((UnsafeFolder, NotADirectoryError)):
        SafeDir.open(base / "datasets")


def test_safe_dir_names_cannot_escape(tmp_path: Path) -> None:
    folder = tmp_path / "base" / "datasets"
    folder.mkdir(parents=True)
    (tmp_path / "base" / "precious").write_bytes(b"keep")
    with SafeDir.open(folder) as opened:
        for name in ("../precious", "..", "/etc/passwd", ""):
            with pytest.raises(ValueError):
                opened.unlink(name)
    assert (tmp_path / "base" / "precious").read_bytes() == b"keep"


# ---------------------------------------------------------------- the write probe


@pytest.mark.usefixtures("processes")
def test_write_probe_with_a_missing_cache_folder_creates_nothing(
    keras_home: Path, tmp_path: Path, spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KERAS_HOME three levels below an existing folder: reported, checked, nothing created."""
    parent = tmp_path / "existing"
    parent.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(parent / "a" / "b" / "c"))
    mtime = parent.stat().st_mtime_ns  # changes if anything is created in it, even briefly
    home_mtime = keras_home.stat().st_mtime_ns
    facts = make_facts(spec)
    result = {r.id: r for r in Engine(facts).run(select(list(cache_checks.CHECKS), ["cache"], None))}
    permissions = result["cache.permissions"]
    assert "does not exist yet" in "\n".join(permissions.details)
    assert permissions.status is Status.OK
    assert list(parent.iterdir()) == [] and parent.stat().st_mtime_ns == mtime
    assert keras_home.stat().st_mtime_ns == home_mtime and list(keras_home.iterdir()) == []


def test_write_probe_in_an_unwritable_parent_says_so_without_writing(
    keras_home: Path, tmp_path: Path, spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere: os.access is always true")
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    monkeypatch.setenv("KERAS_HOME", str(parent / "kh"))
    written, note = cache_checks.write_probe(parent / "kh" / "datasets")
    parent.chmod(0o755)
    assert not written and "does not exist yet" in note and list(parent.iterdir()) == []


def test_write_probe_inside_the_folder_leaves_nothing(keras_home: Path, spec) -> None:
    folder = datasets_dir(keras_home)
    written, note = cache_checks.write_probe(folder)
    assert written and "created and removed" in note
    assert list(folder.iterdir()) == []


# ---------------------------------------------------------------- other users (root needed)

#: The real clear_cache action, run in a process of another uid (that uid cannot start this
#: venv's interpreter as a target, so the cache facts are predicted in-process, as the CLI would).
CLEAR_AS_USER = """
import sys
from rich.console import Console
from mnist_doctor import actions
from mnist_doctor.facts.cache import predict_keras_cache
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.facts import Facts, Options
paths = {"home": %(home)r, "keras_home": %(keras)r, "tempdir": "/tmp", "states": []}
cache = predict_keras_cache(None, paths)
facts = Facts(Options(python=sys.executable, timeout=30), overrides={"dataset": MNIST, "keras_cache": cache})
sys.exit(actions.clear_cache(facts, Console(width=200), yes=True, dry_run=False, interactive=False))
"""


def planted(shared: Path, victim_owner: int) -> tuple[Path, Path]:
    """``shared/.keras`` planted by OTHER_UID (a /tmp-like shared folder), ``datasets`` a symlink
    (owned by OTHER_UID) to a victim folder owned by ``victim_owner`` with mnist.npz and a backup."""
    victim = victim_folder(shared)
    for path in (victim, *victim.iterdir()):
        os.chown(path, victim_owner, victim_owner, follow_symlinks=False)
    keras = shared / ".keras"
    keras.mkdir()
    (keras / "datasets").symlink_to(victim)
    for path in (keras, keras / "datasets"):
        os.chown(path, OTHER_UID, OTHER_UID, follow_symlinks=False)
    keras.chmod(0o777)
    return keras, victim


@needs_other_user
def test_root_clear_cache_refuses_a_planted_tmp_keras(shared_tmp: Path, tmp_path: Path) -> None:
    """The classic shared-/tmp attack: root's --clear-cache must not follow another user's link."""
    from testkit.doctor import clean_env, run_doctor

    keras, victim = planted(shared_tmp, 0)
    before = tree_snapshot(victim)
    home = tmp_path / "roothome"
    home.mkdir()
    env = clean_env(home, KERAS_HOME=str(keras))
    run = run_doctor("--clear-cache", "--yes", env=env, cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.code == 1, out
    assert tree_snapshot(victim) == before
    assert "not touched" in out and f"uid {OTHER_UID}" in out and "hint:" in out
    assert "Traceback" not in out
    seed = run_doctor("--seed", str(victim / "mnist.npz"), env=env, cwd=tmp_path)
    assert seed.code == 1 and tree_snapshot(victim) == before


@needs_other_user
def test_root_clear_cache_refuses_another_users_real_folder(shared_tmp: Path, tmp_path: Path) -> None:
    """``/tmp/.keras/datasets`` that is a real folder of another user: root leaves it alone."""
    from testkit.doctor import clean_env, run_doctor

    keras = shared_tmp / ".keras"
    (keras / "datasets").mkdir(parents=True)
    (keras / "datasets" / "mnist.npz").write_bytes(b"theirs")
    (keras / "datasets" / "mnist.npz.bak").write_bytes(b"theirs too")
    for path in (keras, keras / "datasets", *(keras / "datasets").iterdir()):
        os.chown(path, OTHER_UID, OTHER_UID)
    before = tree_snapshot(keras)
    home = tmp_path / "roothome"
    home.mkdir()
    run = run_doctor("--clear-cache", "--yes", env=clean_env(home, KERAS_HOME=str(keras)), cwd=tmp_path)
    assert run.code == 1 and tree_snapshot(keras) == before, run.stdout + run.stderr
    assert "belongs to" in run.stdout + run.stderr


@needs_other_user
def test_user_clear_cache_refuses_a_link_planted_by_another_user(shared_tmp: Path) -> None:
    """As an ordinary user (setpriv): a link planted by someone else into *your* folder is refused,
    although you could delete those files yourself."""
    from tests.cache_fixtures import run_as

    keras, victim = planted(shared_tmp, OWNER_UID)
    home = shared_tmp / "home"
    home.mkdir()
    os.chown(home, OWNER_UID, OWNER_UID)
    before = tree_snapshot(victim)
    run = run_as(OWNER_UID, CLEAR_AS_USER % {"home": str(home), "keras": str(keras)}, {"HOME": str(home)})
    assert run.returncode == 1, run.stdout + run.stderr
    assert tree_snapshot(victim) == before
    assert f"uid {OTHER_UID}" in run.stdout + run.stderr


@needs_other_user
def test_fetch_as_root_into_a_planted_folder_creates_nothing(shared_tmp: Path, tmp_path: Path) -> None:
    from testkit.doctor import clean_env, run_doctor

    keras, victim = planted(shared_tmp, 0)
    before = tree_snapshot(victim)
    home = tmp_path / "roothome"
    home.mkdir()
    env = clean_env(home, KERAS_HOME=str(keras))
    run = run_doctor("--fetch", "--mirror", "http://127.0.0.1:9/mnist.npz", env=env, cwd=REPO)
    assert run.code == 1 and tree_snapshot(victim) == before, run.stdout + run.stderr
    assert "refused" in run.stdout + run.stderr


# ---------------------------------------------------------------- other datasets' files and folders

CIFAR = table()["cifar10"].archive
assert CIFAR is not None


def dataset_facts(*datasets: str, **overrides: object) -> Facts:
    return Facts(Options(python=sys.executable, timeout=60, datasets=datasets), overrides=dict(overrides))


@pytest.fixture
def fashion_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    folder = tmp_path / "fashion-src"
    folder.mkdir()
    files = write_fashion_mnist(folder)
    monkeypatch.setenv("MNIST_DOCTOR_PINS", pins_json(files.values()))
    return files


@pytest.mark.usefixtures("processes")
def test_a_folder_in_place_of_a_fashion_file_is_kept_and_blocks_the_seed(
    keras_home: Path, fashion_pinned: dict[str, Path]
) -> None:
    name = "train-images-idx3-ubyte.gz"
    blocker = datasets_dir(keras_home) / "fashion-mnist" / name
    blocker.mkdir(parents=True)
    (blocker / "inside.txt").write_text("keep me")
    out_console, out = console()
    assert actions.seed_file(dataset_facts("fashion_mnist"), out_console, str(fashion_pinned[name])) == 1
    assert "a folder sits at" in out.getvalue()
    facts = dataset_facts("fashion_mnist")
    assert actions.clear_cache(facts, out_console, yes=True, dry_run=False, interactive=False) == 1
    assert (blocker / "inside.txt").read_text() == "keep me" and "rm -r --" in out.getvalue()
    assert sorted(p.name for p in blocker.parent.iterdir()) == [name]  # no temp file left


@pytest.mark.usefixtures("processes")
def test_a_fashion_folder_linked_to_a_shared_folder_is_refused(
    keras_home: Path, tmp_path: Path, fashion_pinned: dict[str, Path]
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    victim.chmod(0o1777)  # sticky, as /tmp: still a folder others write in
    for name in fashion_pinned:
        (victim / name).write_bytes(b"the victim's own " + name.encode())
    (datasets_dir(keras_home) / "fashion-mnist").symlink_to(victim)
    before = tree_snapshot(victim)
    out_console, out = console()
    facts = dataset_facts("fashion_mnist")
    assert actions.clear_cache(facts, out_console, yes=True, dry_run=False, interactive=False) == 1
    source = next(iter(fashion_pinned.values()))
    assert actions.seed_file(dataset_facts("fashion_mnist"), out_console, str(source)) == 1
    assert tree_snapshot(victim) == before
    assert " ".join(out.getvalue().split()).count("others may write in") == 2


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
@pytest.mark.usefixtures("processes")
def test_clear_cache_keeps_another_users_files_inside_an_extraction_folder(keras_home: Path) -> None:
    """Root clears cifar10: the extracted folder's own files go, another user's file and folder stay."""
    folder = datasets_dir(keras_home)
    extracted = folder / CIFAR.keras36.folder / CIFAR.inner
    extracted.mkdir(parents=True)
    (extracted / "data_batch_1").write_bytes(b"extracted")
    (extracted / "planted").write_bytes(b"someone else's")
    (extracted / "theirs").mkdir()
    (extracted / "theirs" / "file").write_bytes(b"theirs too")
    for path in (extracted / "planted", extracted / "theirs", extracted / "theirs" / "file"):
        os.chown(path, OTHER_UID, OTHER_UID)
    (folder / CIFAR.keras36.archive).write_bytes(b"archive")
    out_console, out = console()
    facts = dataset_facts("cifar10")
    assert actions.clear_cache(facts, out_console, yes=True, dry_run=False, interactive=False) == 1
    assert sorted(p.name for p in extracted.iterdir()) == ["planted", "theirs"]
    assert (extracted / "theirs" / "file").read_bytes() == b"theirs too"
    assert not (folder / CIFAR.keras36.archive).exists()
    assert f"belongs to uid {OTHER_UID}, not you: kept" in out.getvalue()


#: clear_cache for cifar10 in a process of another uid (the cache predicted in-process).
CLEAR_CIFAR_AS_USER = """
import sys
from rich.console import Console
from mnist_doctor import actions
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.datasets.table import table
from mnist_doctor.facts import Facts, Options
from mnist_doctor.facts.cache import predict_keras_cache
paths = {"home": %(home)r, "keras_home": None, "tempdir": "/tmp", "states": []}
cache = predict_keras_cache(None, paths)
facts = Facts(
    Options(python=sys.executable, timeout=30, datasets=("cifar10",)),
    overrides={
        "dataset": MNIST, "keras_cache": cache, "keras_flavour": None, "datasets": (table()["cifar10"],)
    },
)
sys.exit(actions.clear_cache(facts, Console(width=300), yes=True, dry_run=False, interactive=False))
"""


@needs_other_user
def test_user_clear_cache_never_removes_another_users_file_in_an_extraction_folder(shared_tmp: Path) -> None:
    """As an ordinary user (setpriv): the kernel lets you unlink it from your folder; the doctor does not."""
    from tests.cache_fixtures import run_as

    home = shared_tmp / "home"
    extracted = home / ".keras" / "datasets" / CIFAR.legacy.folder
    extracted.mkdir(parents=True)
    (extracted / "data_batch_1").write_bytes(b"yours")
    (extracted / "planted").write_bytes(b"another user's")
    (home / ".keras" / "datasets" / CIFAR.legacy.archive).write_bytes(b"archive")
    for path in (home, home / ".keras", home / ".keras" / "datasets", extracted, *extracted.parent.iterdir()):
        os.chown(path, OWNER_UID, OWNER_UID)
    os.chown(extracted / "data_batch_1", OWNER_UID, OWNER_UID)
    os.chown(extracted / "planted", OTHER_UID, OTHER_UID)
    run = run_as(OWNER_UID, CLEAR_CIFAR_AS_USER % {"home": str(home)}, {"HOME": str(home)})
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert (extracted / "planted").read_bytes() == b"another user's"
    assert not (extracted / "data_batch_1").exists()
    assert not (home / ".keras" / "datasets" / CIFAR.legacy.archive).exists()
    assert f"uid {OTHER_UID}" in out and "Traceback" not in out
