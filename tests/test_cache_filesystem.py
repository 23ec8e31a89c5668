"""The report names the file system under the cache folder Keras reads, and the host (unit tier).

That is what lets ``mnist-doctor fleet`` see several machines share one cache over NFS, SMB or
FUSE. The mount table is parsed as Linux writes it (octal escapes, optional fields, a mount
point mounted over), the longest mount point holding the resolved folder wins, and where there
is no table the type is unknown with a reason — nothing raises.
"""

from __future__ import annotations

import socket
from pathlib import Path

from mnist_doctor.facts import filesystem
from mnist_doctor.facts.filesystem import (
    Mount,
    filesystem_of,
    is_network,
    mount_of,
    parse_mountinfo,
    read_mounts,
)
from tests.test_json_contract import valid_document

MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:26 / /proc rw,nosuid shared:5 - proc proc rw
41 22 0:41 / /home rw,relatime shared:20 - autofs systemd-1 rw,fd=48
52 41 0:53 /users /home rw,relatime shared:30 master:2 - nfs4 fs1:/export rw,vers=4.2,addr=10.0.0.2
60 22 0:60 / /mnt/lab\\040share rw - cifs //nas/lab rw,username=alice
61 22 0:61 / /mnt/bucket rw - fuse.gcsfuse datasets-bucket rw
62 22 0:62 / /var/lib/lxcfs rw - fuse.lxcfs lxcfs rw
malformed line without a separator
"""


def test_the_mount_table_is_parsed_as_linux_writes_it() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert len(mounts) == 7
    assert mounts[3] == Mount("/home", "/users", "nfs4", "fs1:/export", "0:53")
    assert mounts[4].mount_point == "/mnt/lab share"  # \040 is a space


def test_the_longest_mount_point_wins_and_the_last_mounted_over_the_same_point() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    found = mount_of("/home/alice/.keras/datasets", mounts)
    assert found is not None and found.fs_type == "nfs4"  # not autofs, mounted first at /home
    assert mount_of("/homework", mounts).fs_type == "ext4"  # type: ignore[union-attr]  # a prefix is not a folder
    assert mount_of("/mnt/lab share/k", mounts).fs_type == "cifs"  # type: ignore[union-attr]


def test_which_file_systems_other_machines_can_mount() -> None:
    assert all(
        map(is_network, ("nfs", "nfs4", "cifs", "smb3", "fuse.sshfs", "fuse.gcsfuse", "ceph", "lustre"))
    )
    assert not any(map(is_network, ("ext4", "xfs", "btrfs", "tmpfs", "overlay", "fuse.lxcfs", "fuseblk")))


def test_the_cache_folder_on_nfs_says_where_it_is_in_the_export(tmp_path: Path) -> None:
    cache = filesystem_of("/home/alice/.keras/datasets", parse_mountinfo(MOUNTINFO))
    assert cache.fs_type == "nfs4" and cache.network
    assert (cache.source, cache.fs_path) == ("fs1:/export", "/users/alice/.keras/datasets")
    assert cache.unknown is None


def test_links_are_followed_as_keras_follows_them(tmp_path: Path) -> None:
    real = tmp_path / "big-disk" / "keras"
    real.mkdir(parents=True)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".keras").symlink_to(real)
    mounts = [
        Mount("/", "/", "ext4", "/dev/vda", "254:0"),
        Mount(str(tmp_path / "big-disk"), "/", "nfs", "nas:/d", "0:9"),
    ]
    cache = filesystem_of(str(tmp_path / "home" / ".keras" / "datasets"), mounts)
    assert cache.resolved == str(real / "datasets")  # not there yet: the tail stays as written
    assert cache.fs_type == "nfs" and cache.fs_path == "/keras/datasets"


def test_no_mount_table_is_an_unknown_type_with_its_reason(tmp_path: Path, monkeypatch) -> None:
    mounts, why = read_mounts(str(tmp_path / "no-proc" / "mountinfo"))
    assert (
        mounts == []
        and why == f"{tmp_path / 'no-proc' / 'mountinfo'} cannot be read (No such file or directory)"
    )
    cache = filesystem_of("/x/datasets", mounts, why)
    assert cache.fs_type is None and not cache.network and cache.unknown == why
    huge = tmp_path / "mountinfo"
    huge.write_text(MOUNTINFO)
    monkeypatch.setattr(filesystem, "MOUNTINFO_CAP_BYTES", 100)
    assert read_mounts(str(huge)) == ([], f"{huge} is larger than 100 bytes")
    assert "cannot be resolved" in (filesystem_of("bad\0path", []).unknown or "")


def test_the_report_names_the_host_and_the_cache_file_system(replayed, validator, home: Path) -> None:
    run = replayed("offline", "--offline", "--format", "json")
    env = valid_document(validator, run, "diagnose")["environment"]
    assert env["host"] == socket.gethostname()
    cache = env["cache"]
    assert cache["path"] == str(home / ".keras" / "datasets")
    if Path("/proc/self/mountinfo").exists():
        assert cache["fs_type"] and cache["mount_point"] and cache["unknown"] is None
        assert cache["network"] is is_network(cache["fs_type"])
