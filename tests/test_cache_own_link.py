"""The own-link rule (``own_link.py``) and what opens folders through it: ``SafeDir``, the
safekeeping around the real ``load_data()``, and the cache's diagnosis.

Unit tier, on real links, folders, FIFOs and modes in ``tmp_path``, in this process. Other owners
come from ``chown`` (root only: skipped otherwise, saying why). The CLI run as an ordinary user
through these layouts is in ``test_hostile_links.py`` (e2e).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from mnist_doctor.checks.cache import location
from mnist_doctor.facts.cache import KerasCache, predict_keras_cache, reach_of
from mnist_doctor.files import own_link
from mnist_doctor.files.own_link import LinkRefused, Trust, follow_own_link
from mnist_doctor.files.safe_dir import SafeDir, UnsafeFolder, open_holder
from mnist_doctor.probing.safekeeping import Safekeeping
from tests.cache_fixtures import OTHER_UID

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown to another uid")


def disk_folder(tmp_path: Path) -> Path:
    """A folder of the user's own on "a bigger disk", holding a broken copy and a backup."""
    ds = tmp_path / "disk" / "me" / "keras-datasets"
    ds.mkdir(parents=True)
    (ds / "mnist.npz").write_bytes(b"<html>portal page</html>")
    (ds / "mnist.npz.bak").write_bytes(b"the user's backup")
    return ds


def linked_home(tmp_path: Path, target: str | Path) -> Path:
    """``home/.keras/datasets`` -> ``target`` (the link's text as given); returns the link."""
    keras = tmp_path / "home" / ".keras"
    keras.mkdir(parents=True)
    link = keras / "datasets"
    link.symlink_to(target)
    return link


def refusal(link: Path) -> str:
    with pytest.raises(UnsafeFolder) as caught:
        SafeDir.open(link)
    assert "ls -la" in caught.value.hint  # the way by hand
    return caught.value.reason


# ---------------------------------------------------------------- followed


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_your_own_link_to_your_own_folder_is_followed_and_acted_in(tmp_path: Path, relative: bool) -> None:
    ds = disk_folder(tmp_path)
    link = linked_home(tmp_path, "../../disk/me/keras-datasets" if relative else ds)
    with SafeDir.open(link) as opened:
        assert opened.through_link and opened.real == ds and opened.path == link
        assert "following your own link" in opened.link_line("x") and str(ds) in opened.link_line("x")
        opened.unlink("mnist.npz")
    assert sorted(os.listdir(ds)) == ["mnist.npz.bak"]


def test_a_base_folder_linked_elsewhere_carries_the_real_path_down(tmp_path: Path) -> None:
    """``~/.keras`` itself the link: ``datasets`` and a dataset's sub-folder are under the real base."""
    real_base = tmp_path / "disk" / "keras"
    (real_base / "datasets" / "fashion-mnist").mkdir(parents=True)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".keras").symlink_to(real_base)
    with SafeDir.open(home / ".keras" / "datasets") as opened:
        assert opened.real == real_base / "datasets"
        with opened.child("fashion-mnist") as inner:
            assert inner.path == home / ".keras" / "datasets" / "fashion-mnist"
            assert inner.real == real_base / "datasets" / "fashion-mnist"


def test_a_link_swapped_after_opening_redirects_nothing(tmp_path: Path) -> None:
    """Time of check, time of use: the folder is held open; a later swap of the link changes nothing."""
    ds = disk_folder(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "mnist.npz").write_bytes(b"elsewhere")
    link = linked_home(tmp_path, ds)
    with SafeDir.open(link) as opened:
        link.unlink()
        link.symlink_to(other)
        opened.unlink("mnist.npz")
    assert (other / "mnist.npz").read_bytes() == b"elsewhere"
    assert not (ds / "mnist.npz").exists()


def test_a_sticky_shared_folder_on_the_way_is_fine_when_the_next_step_is_yours(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp
    ds = shared / "me" / "ds"
    ds.mkdir(parents=True)
    with SafeDir.open(linked_home(tmp_path, ds)) as opened:
        assert opened.real == ds


# ---------------------------------------------------------------- refused


def _chain(tmp_path: Path) -> Path:
    ds = disk_folder(tmp_path)
    (tmp_path / "middle").symlink_to(ds)
    return linked_home(tmp_path, tmp_path / "middle")


def _file(tmp_path: Path) -> Path:
    (tmp_path / "plain").write_bytes(b"x")
    return linked_home(tmp_path, tmp_path / "plain")


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "fifo")  # opening it would block: the walk must never open it
    return linked_home(tmp_path, tmp_path / "fifo")


def _loop(tmp_path: Path) -> Path:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    return linked_home(tmp_path, tmp_path / "a" / "ds")


def _through_world_writable(tmp_path: Path) -> Path:
    mid = tmp_path / "open"
    (mid / "ds").mkdir(parents=True)
    mid.chmod(0o777)  # no sticky bit: anyone may rename ds
    return linked_home(tmp_path, mid / "ds")


def _to_shared_sticky(tmp_path: Path) -> Path:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    return linked_home(tmp_path, shared)


def _to_root(tmp_path: Path) -> Path:
    return linked_home(tmp_path, "/")


@pytest.mark.parametrize(
    ("layout", "reason"),
    [
        (_chain, "a chain of links"),
        (_file, "is not a folder"),
        (_fifo, "is not a folder"),
        (_loop, "links on the way"),
        (_through_world_writable, "others may rename ds"),
        (_to_shared_sticky, "others may write in"),
        (_to_root, "/"),
    ],
    ids=["chain", "file", "fifo", "loop", "through-world-writable", "to-shared-sticky", "to-root"],
)
def test_a_link_the_rule_refuses_is_not_followed(
    tmp_path: Path, layout: Callable[[Path], Path], reason: str
) -> None:
    link = layout(tmp_path)
    text = refusal(link)
    assert "not followed" in text and reason in text, text
    if layout is _to_root and os.geteuid() == 0:
        assert "leads to /, the root" in text  # root owns "/": only the preserve-root rule stops it


def test_a_group_writable_folder_is_yours_only_with_your_private_group(tmp_path: Path) -> None:
    ds = disk_folder(tmp_path)
    ds.chmod(0o775)  # what umask 002 gives on Fedora/RHEL
    link = linked_home(tmp_path, ds)
    holder = os.open(link.parent, os.O_RDONLY)
    try:
        shared_group = Trust(os.geteuid(), frozenset())
        with pytest.raises(LinkRefused, match="others may write in"):
            follow_own_link(holder, str(link.parent), "datasets", trust=shared_group)
        private = Trust(os.geteuid(), frozenset({ds.stat().st_gid}))
        followed = follow_own_link(holder, str(link.parent), "datasets", trust=private)
        os.close(followed.fd)
        assert followed.real == str(ds)
    finally:
        os.close(holder)


@pytest.mark.parametrize(
    ("members", "group_name", "private"),
    [
        ((), "alice", True),
        (("alice",), "alice", True),
        (("alice", "bob"), "alice", False),
        ((), "staff", False),
    ],
)
def test_a_user_private_group_is_named_like_you_and_has_no_other_member(
    monkeypatch: pytest.MonkeyPatch, members: tuple[str, ...], group_name: str, private: bool
) -> None:
    import grp
    import pwd

    monkeypatch.setattr(pwd, "getpwuid", lambda uid: SimpleNamespace(pw_name="alice", pw_gid=4242))
    monkeypatch.setattr(
        grp, "getgrgid", lambda gid: SimpleNamespace(gr_name=group_name, gr_gid=gid, gr_mem=members)
    )
    assert (4242 in own_link.current_trust().private_gids) is private


@needs_root
@pytest.mark.parametrize("case", ["link", "destination", "ancestor", "link-on-the-way"])
def test_another_users_part_anywhere_on_the_way_is_refused(tmp_path: Path, case: str) -> None:
    """Run as root: the other uid is a real owner on disk; root trusts only itself and root."""
    ds = disk_folder(tmp_path)
    if case == "link":
        link = linked_home(tmp_path, ds)
        os.chown(link, OTHER_UID, OTHER_UID, follow_symlinks=False)
        expected = f"the link belongs to uid {OTHER_UID}"
    elif case == "destination":
        os.chown(ds, OTHER_UID, OTHER_UID)
        link, expected = linked_home(tmp_path, ds), f"which belongs to uid {OTHER_UID}"
    elif case == "ancestor":
        os.chown(ds.parent, OTHER_UID, OTHER_UID)  # drwxr-xr-x theirs: they could swap keras-datasets
        link, expected = linked_home(tmp_path, ds), "they could swap keras-datasets"
    else:
        (tmp_path / "via").symlink_to(ds.parent)
        os.chown(tmp_path / "via", OTHER_UID, OTHER_UID, follow_symlinks=False)
        link, expected = linked_home(tmp_path, tmp_path / "via" / ds.name), f"a link owned by uid {OTHER_UID}"
    assert expected in refusal(link)
    assert sorted(os.listdir(ds)) == ["mnist.npz", "mnist.npz.bak"]


# ---------------------------------------------------------------- the safekeeping and the diagnosis


def test_the_safekeeping_puts_a_file_back_through_your_own_link(tmp_path: Path) -> None:
    """What the real load_data() does to a broken copy (Keras removes it) is undone through the link."""
    ds = disk_folder(tmp_path)
    link = linked_home(tmp_path, ds)
    before = (ds / "mnist.npz").read_bytes()
    keeping = Safekeeping("0" * 64, 11_490_434, 1 << 20).protect([str(link / "mnist.npz")])
    assert not keeping.refused
    os.unlink(link / "mnist.npz")  # Keras, through the path, as urlretrieve's clean-up does
    [kept] = keeping.restore()
    assert kept.outcome == "removed" and kept.restored and kept.error is None
    assert (ds / "mnist.npz").read_bytes() == before


def test_the_safekeeping_refuses_a_file_it_could_not_put_back(tmp_path: Path) -> None:
    """A link the rule refuses: Keras must not be let near the file, it could not be restored."""
    ds = disk_folder(tmp_path)
    ds.chmod(0o777)
    link = linked_home(tmp_path, ds)
    keeping = Safekeeping("0" * 64, 11_490_434, 1 << 20).protect([str(link / "mnist.npz")])
    [refused] = keeping.refused
    assert refused.path == str(link / "mnist.npz") and "could not put it back" in refused.reason
    keeping.restore()
    with pytest.raises(UnsafeFolder):
        os.close(open_holder(str(link)))


def _cache_for(home: Path) -> KerasCache:
    return predict_keras_cache(None, {"home": str(home), "keras_home": None, "tempdir": "/tmp", "states": []})


def test_the_diagnosis_names_where_keras_really_writes_and_that_the_actions_follow(tmp_path: Path) -> None:
    ds = disk_folder(tmp_path)
    linked_home(tmp_path, ds)
    cache = _cache_for(tmp_path / "home")
    result = location.run(cache, cache_reach=reach_of(cache.datasets_dir))
    assert result.status.value == "ok" and result.summary.endswith(f"through a link: {ds / 'mnist.npz'}")
    text = "\n".join(result.details)
    assert f"Keras reads and writes {ds / 'mnist.npz'}" in text and "act there too" in text


def test_the_diagnosis_says_when_the_actions_will_not_follow_a_link(tmp_path: Path) -> None:
    ds = disk_folder(tmp_path)
    ds.chmod(0o777)
    linked_home(tmp_path, ds)
    cache = _cache_for(tmp_path / "home")
    result = location.run(cache, cache_reach=reach_of(cache.datasets_dir))
    text = "\n".join(result.details)
    assert f"Keras reads and writes {ds / 'mnist.npz'}" in text
    assert "will not act there" in text and "others may write in" in text and "by hand: ls -la" in text
