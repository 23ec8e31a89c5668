"""--clear-cache, --seed and --fetch on real files and a real loopback HTTP server.

The dataset spec is built from a synthetic MNIST-shaped npz whose hash the test computes;
HOME points at a temp folder in every test, so the real ~/.keras is never touched.
"""

from __future__ import annotations

import io
import os
import ssl
import stat
from pathlib import Path

import pytest
from packaging.version import Version
from rich.console import Console

from mnist_doctor import actions
from mnist_doctor.datasets import verification
from mnist_doctor.datasets.spec import DEFAULT_ORIGIN
from mnist_doctor.facts.flavour import KerasFlavour
from testkit.loopback import DatasetServer
from tests.cache_fixtures import datasets_dir, make_facts, tree_snapshot


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, force_terminal=False), out


# ---------------------------------------------------------------- --clear-cache


def populate(home: Path, good: Path) -> Path:
    folder = datasets_dir(home)
    (folder / "mnist.npz").write_bytes(b"<html>login</html>")
    (folder / ".mnist.npz.0123456789abcdef.part").write_bytes(b"half")  # the doctor's own temp file
    (folder / "mnist.npz.part").write_bytes(b"user")  # no tool of ours or Keras' writes this name
    (folder / "mnist.npz.bak").write_bytes(b"user's backup")
    (folder / "cifar10.npz").write_bytes(b"other dataset")
    (home / ".keras" / "keras.json").write_text("{}")
    (home / ".keras" / "models").mkdir()
    (home / ".keras" / "models" / "resnet.h5").write_bytes(b"weights")
    return folder


@pytest.mark.usefixtures("processes")
def test_clear_cache_removes_only_mnist_files(keras_home: Path, good_npz: Path, spec) -> None:
    folder = populate(keras_home, good_npz)
    out_console, out = console()
    code = actions.clear_cache(make_facts(spec), out_console, yes=True, dry_run=False, interactive=False)
    assert code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["cifar10.npz", "mnist.npz.bak", "mnist.npz.part"]
    assert (folder / "mnist.npz.bak").read_bytes() == b"user's backup"
    assert (keras_home / ".keras" / "keras.json").read_text() == "{}"
    assert (keras_home / ".keras" / "models" / "resnet.h5").read_bytes() == b"weights"
    assert "removed 2 item(s), freed 22 B" in out.getvalue()


@pytest.mark.usefixtures("processes")
def test_clear_cache_dry_run_and_no_tty_remove_nothing(keras_home: Path, good_npz: Path, spec) -> None:
    populate(keras_home, good_npz)
    before = tree_snapshot(keras_home)
    out_console, out = console()
    assert actions.clear_cache(make_facts(spec), out_console, yes=False, dry_run=True, interactive=False) == 0
    assert "would remove 2 item(s)" in out.getvalue() and ".mnist.npz.0123456789abcdef.part" in out.getvalue()
    assert "mnist.npz.bak" not in out.getvalue()
    assert (
        actions.clear_cache(make_facts(spec), out_console, yes=False, dry_run=False, interactive=False) == 2
    )
    assert "--yes" in out.getvalue()
    assert tree_snapshot(keras_home) == before


@pytest.mark.usefixtures("processes")
def test_clear_cache_asks_on_a_terminal(
    keras_home: Path, good_npz: Path, spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(keras_home, good_npz)
    before = tree_snapshot(keras_home)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    out_console, out = console()
    assert actions.clear_cache(make_facts(spec), out_console, yes=False, dry_run=False, interactive=True) == 1
    assert tree_snapshot(keras_home) == before and "nothing removed" in out.getvalue()
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert actions.clear_cache(make_facts(spec), out_console, yes=False, dry_run=False, interactive=True) == 0
    assert not (keras_home / ".keras" / "datasets" / "mnist.npz").exists()


@pytest.mark.usefixtures("processes")
def test_clear_cache_never_follows_a_symlink_out_of_the_cache(keras_home: Path, tmp_path: Path, spec) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "mnist.npz").write_bytes(b"the user's own copy")
    link = datasets_dir(keras_home) / "mnist.npz"
    link.symlink_to(outside / "mnist.npz")
    out_console, out = console()
    assert actions.clear_cache(make_facts(spec), out_console, yes=True, dry_run=False, interactive=False) == 0
    assert not link.is_symlink() and not link.exists()
    assert (outside / "mnist.npz").read_bytes() == b"the user's own copy"
    assert "its target stays" in out.getvalue()


@pytest.mark.usefixtures("processes")
def test_clear_cache_keeps_a_folder_with_content(keras_home: Path, spec) -> None:
    blocker = datasets_dir(keras_home) / "mnist.npz"
    blocker.mkdir()
    (blocker / "inside.txt").write_text("keep me")
    out_console, out = console()
    assert actions.clear_cache(make_facts(spec), out_console, yes=True, dry_run=False, interactive=False) == 1
    assert (blocker / "inside.txt").read_text() == "keep me"
    assert "rm -r --" in out.getvalue()


@pytest.mark.usefixtures("processes")
def test_clear_cache_with_nothing_is_success(keras_home: Path, spec) -> None:
    out_console, out = console()
    assert (
        actions.clear_cache(make_facts(spec), out_console, yes=False, dry_run=False, interactive=False) == 0
    )
    assert "nothing to remove" in out.getvalue()


# ---------------------------------------------------------------- --seed


@pytest.mark.usefixtures("processes")
def test_seed_installs_atomically_where_keras_reads(keras_home: Path, good_npz: Path, spec) -> None:
    out_console, out = console()
    assert actions.seed_file(make_facts(spec), out_console, str(good_npz)) == 0
    target = keras_home / ".keras" / "datasets" / "mnist.npz"
    assert verification.inspect_file(target, spec).ok
    assert sorted(p.name for p in target.parent.iterdir()) == ["mnist.npz"]  # no temp file left
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    assert actions.seed_file(make_facts(spec), out_console, str(good_npz)) == 0
    assert "already the pinned file" in out.getvalue()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("wrong", ["html", "other-mnist", "truncated"])
@pytest.mark.usefixtures("processes")
def test_seed_refuses_a_wrong_file_and_leaves_the_cache(
    keras_home: Path, synthetic_dir: Path, good_npz: Path, tmp_path: Path, spec, wrong: str
) -> None:
    folder = datasets_dir(keras_home)
    (folder / "mnist.npz").write_bytes(b"previous content")
    (folder / "fashion-mnist.npz").write_bytes(b"other")
    before = tree_snapshot(keras_home)
    source = tmp_path / "download.npz"
    if wrong == "html":
        source.write_bytes(b"<!doctype html><html>blocked</html>")
    elif wrong == "truncated":
        source.write_bytes(good_npz.read_bytes()[:5000])
    else:
        source = synthetic_dir / "other-mnist.npz"
    out_console, out = console()
    assert actions.seed_file(make_facts(spec), out_console, str(source)) == 1
    assert tree_snapshot(keras_home) == before
    text = out.getvalue()
    assert "refused" in text and spec.sha256 in text
    assert {"html": "HTML page", "truncated": "truncated", "other-mnist": "valid MNIST-shaped"}[wrong] in text
    if wrong == "other-mnist":  # where to get the one file Keras accepts, not "open the URL in a browser"
        assert f"{spec.size} bytes" in text and DEFAULT_ORIGIN in text and "browser" not in text


@pytest.mark.usefixtures("processes")
def test_fetch_of_a_valid_but_different_mnist_names_the_pinned_file(
    keras_home: Path, synthetic_dir: Path, spec
) -> None:
    with DatasetServer("full", payload=(synthetic_dir / "other-mnist.npz").read_bytes()) as server:
        code, text = fetch(spec, server.url)
    assert code == 1 and "valid MNIST-shaped" in text
    assert spec.sha256 in text and f"{spec.size} bytes" in text and DEFAULT_ORIGIN in text
    assert "browser" not in text


@pytest.mark.usefixtures("processes")
def test_seed_missing_file_is_a_usage_error(keras_home: Path, tmp_path: Path, spec) -> None:
    out_console, out = console()
    assert actions.seed_file(make_facts(spec), out_console, str(tmp_path / "nope.npz")) == 2
    assert "does not exist" in out.getvalue()


@pytest.mark.usefixtures("processes")
def test_seed_replaces_a_symlink_not_its_target(
    keras_home: Path, good_npz: Path, tmp_path: Path, spec
) -> None:
    outside = tmp_path / "outside.npz"
    outside.write_bytes(b"not mine to overwrite")
    link = datasets_dir(keras_home) / "mnist.npz"
    link.symlink_to(outside)
    out_console, _ = console()
    assert actions.seed_file(make_facts(spec), out_console, str(good_npz)) == 0
    assert not link.is_symlink() and verification.inspect_file(link, spec).ok
    assert outside.read_bytes() == b"not mine to overwrite"


# ---------------------------------------------------------------- --fetch


def fetch(spec, mirror: str | None) -> tuple[int, str]:
    out_console, out = console()
    return actions.fetch_dataset(make_facts(spec), out_console, mirror), out.getvalue()


@pytest.mark.usefixtures("processes")
def test_fetch_happy_path(keras_home: Path, good_npz: Path, spec) -> None:
    with DatasetServer("full", payload=good_npz.read_bytes()) as server:
        code, text = fetch(spec, server.url)
    target = keras_home / ".keras" / "datasets" / "mnist.npz"
    assert code == 0, text
    assert verification.inspect_file(target, spec).ok and len(server.requests) == 1
    assert sorted(p.name for p in target.parent.iterdir()) == ["mnist.npz"]
    assert "\x1b[" not in text  # no progress bar when not on a terminal


@pytest.mark.usefixtures("processes")
def test_fetch_retries_after_a_connection_cut(keras_home: Path, good_npz: Path, spec) -> None:
    with DatasetServer("cut", "full", payload=good_npz.read_bytes()) as server:
        code, text = fetch(spec, server.url)
    assert code == 0, text
    assert len(server.requests) == 2 and "attempt 1 failed" in text
    assert verification.inspect_file(keras_home / ".keras" / "datasets" / "mnist.npz", spec).ok


@pytest.mark.usefixtures("processes")
def test_interrupted_fetch_leaves_no_partial_file(keras_home: Path, good_npz: Path, spec) -> None:
    folder = datasets_dir(keras_home)
    with DatasetServer("cut", payload=good_npz.read_bytes()) as server:
        code, text = fetch(spec, server.url)
    assert code == 1 and "download failed" in text
    assert len(server.requests) == actions.ATTEMPTS
    assert list(folder.iterdir()) == []  # neither mnist.npz nor a .part file


@pytest.mark.usefixtures("processes")
def test_fetch_of_an_html_page_is_refused_and_cache_kept(keras_home: Path, good_npz: Path, spec) -> None:
    folder = datasets_dir(keras_home)
    (folder / "mnist.npz").write_bytes(b"previous")
    before = tree_snapshot(keras_home)
    with DatasetServer("html", payload=good_npz.read_bytes()) as server:
        code, text = fetch(spec, server.url)
    assert code == 1 and "HTML page" in text and len(server.requests) == 1  # content errors are not retried
    assert tree_snapshot(keras_home) == before


@pytest.mark.usefixtures("processes")
def test_fetch_404_and_bad_mirror(keras_home: Path, good_npz: Path, spec) -> None:
    with DatasetServer(404) as server:
        code, text = fetch(spec, server.url)
    assert code == 1 and "HTTP 404" in text
    code, text = fetch(spec, "ftp://mirror/mnist.npz")
    assert code == 2 and "not an http(s) URL" in text


@pytest.mark.usefixtures("processes")
def test_fetch_honours_the_proxy_and_hides_its_password(
    keras_home: Path, good_npz: Path, spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mirror host does not resolve; the download only works through HTTP_PROXY (our server)."""
    with DatasetServer("full", payload=good_npz.read_bytes()) as server:
        port = server.httpd.server_address[1]
        monkeypatch.setenv("http_proxy", f"http://user:s3cret@127.0.0.1:{port}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        code, text = fetch(spec, "http://mirror.invalid/data/mnist.npz")
    assert code == 0, text
    assert server.requests == ["GET http://mirror.invalid/data/mnist.npz HTTP/1.1"]
    assert "s3cret" not in text


def test_fetch_mirror_folder_gets_the_file_name(spec) -> None:
    assert actions.mirror_url("https://m.example/keras/", spec) == "https://m.example/keras/mnist.npz"
    assert actions.mirror_url(None, spec) == spec.origin


@pytest.mark.usefixtures("processes")
def test_fetch_trusts_what_urllib_trusts(
    keras_home: Path, good_npz: Path, spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like Keras' urlretrieve: an unknown CA fails with the SSL_CERT_FILE hint; SSL_CERT_FILE fixes it."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with DatasetServer("full", payload=good_npz.read_bytes(), tls=server_ctx) as server:
        code, text = fetch(spec, server.url)
        assert code == 1 and "certificate" in text and "SSL_CERT_FILE" in text
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        code, text = fetch(spec, server.url)
    assert code == 0, text
    assert verification.inspect_file(keras_home / ".keras" / "datasets" / "mnist.npz", spec).ok


@pytest.mark.usefixtures("processes")
def test_failed_fetch_on_a_fresh_home_creates_nothing(keras_home: Path, good_npz: Path, spec) -> None:
    """Folders made for the temp file are removed again: a refused download leaves no trace."""
    with DatasetServer("html", payload=good_npz.read_bytes()) as server:
        code, _ = fetch(spec, server.url)
    assert code == 1
    assert list(keras_home.iterdir()) == []


def tf_keras_flavour() -> KerasFlavour:
    return KerasFlavour("tf_keras", "tf.keras", "tf-keras", Version("2.21.0"), Version("2.21.0"), "1", "test")


@pytest.mark.usefixtures("processes")
def test_keras2_rules_ignore_keras_home_end_to_end(
    keras_home: Path, good_npz: Path, spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tf-keras: a copy under KERAS_HOME is not read; --seed installs into ~/.keras where it reads."""
    from mnist_doctor.checks import cache as cache_checks
    from mnist_doctor.model import Status
    from mnist_doctor.pipeline.engine import Engine, select

    kh = keras_home / "kh"
    (kh / "datasets").mkdir(parents=True)
    (kh / "datasets" / "mnist.npz").write_bytes(good_npz.read_bytes())
    (keras_home / ".keras").mkdir()
    monkeypatch.setenv("KERAS_HOME", str(kh))
    facts = make_facts(spec, keras_flavour=tf_keras_flavour())
    results = {r.id: r for r in Engine(facts).run(select(list(cache_checks.CHECKS), ["cache"], None))}
    assert results["cache.location"].status is Status.WARN and "ignored" in results["cache.location"].summary
    assert results["cache.integrity"].status is Status.WARN
    assert results["cache.integrity"].hint == f"mnist-doctor --seed {kh / 'datasets' / 'mnist.npz'}"
    out_console, _ = console()
    seeded = make_facts(spec, keras_flavour=tf_keras_flavour())
    assert actions.seed_file(seeded, out_console, str(kh / "datasets" / "mnist.npz")) == 0
    assert verification.inspect_file(keras_home / ".keras" / "datasets" / "mnist.npz", spec).ok


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown to another uid"
)
@pytest.mark.usefixtures("processes")
def test_clear_cache_keeps_other_users_copies_keras_does_not_read(
    keras_home: Path, spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    kh = keras_home / "kh"
    (kh / "datasets").mkdir(parents=True)
    theirs = kh / "datasets" / "mnist.npz"
    theirs.write_bytes(b"someone else's")
    os.chown(theirs, 23456, 23456)
    mine = datasets_dir(keras_home) / "mnist.npz"
    mine.write_bytes(b"mine")
    monkeypatch.setenv("KERAS_HOME", str(kh))
    out_console, out = console()
    facts = make_facts(spec, keras_flavour=tf_keras_flavour())
    assert actions.clear_cache(facts, out_console, yes=True, dry_run=False, interactive=False) == 0
    assert theirs.read_bytes() == b"someone else's" and not mine.exists()
    assert "belongs to uid 23456" in out.getvalue()


@pytest.mark.usefixtures("processes")
def test_seed_and_fetch_refuse_when_a_folder_blocks_the_path(keras_home: Path, good_npz: Path, spec) -> None:
    blocker = datasets_dir(keras_home) / "mnist.npz"
    blocker.mkdir()
    (blocker / "x").write_text("keep")
    out_console, out = console()
    assert actions.seed_file(make_facts(spec), out_console, str(good_npz)) == 1
    code, text = fetch(spec, "http://127.0.0.1:9/mnist.npz")  # refused before any connection
    assert code == 1 and "a folder sits at" in text and "a folder sits at" in out.getvalue()
    assert (blocker / "x").read_text() == "keep"
    assert sorted(p.name for p in blocker.parent.iterdir()) == ["mnist.npz"]
