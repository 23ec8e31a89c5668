"""Which file system holds the folder Keras reads: a local disk, or one several machines share.

Several workers that download ``mnist.npz`` into one cache at once read each other's
half-written file ("Bad magic number", "Incomplete or corrupted file": Keras writes straight to
the final name). Machines end up sharing a cache through a network file system — a home on NFS,
a lab share over SMB, a bucket through FUSE — so the report names the type of the file system
under the cache folder, and ``mnist-doctor fleet`` compares it across hosts.

Read from ``/proc/self/mountinfo`` (Linux): the mount whose mount point is the longest prefix of
the folder's resolved path (the one mounted last when several share a mount point, as autofs
does). Standard library only; where the table is absent or unreadable (macOS, no ``/proc``) the
type is unknown and :attr:`CacheFilesystem.unknown` says why — nothing raises.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from mnist_doctor.facts import fact
from mnist_doctor.facts.cache import KerasCache

MOUNTINFO = "/proc/self/mountinfo"
#: A mount table larger than this is not read (a host with tens of thousands of mounts).
MOUNTINFO_CAP_BYTES = 8 * 1024 * 1024
#: File systems that other machines can mount too (a type ``fuse.<x>`` counts unless listed below).
NETWORK_TYPES = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "virtiofs", "ceph", "glusterfs",
        "lustre", "gpfs", "beegfs", "orangefs", "pvfs2", "davfs", "fuse", "ocfs2", "gfs2", "panfs",
    }
)  # fmt: skip
#: FUSE file systems that stay on this machine (a desktop's portals, rootless containers' roots).
LOCAL_FUSE = frozenset(
    {
        "fuse.lxcfs", "fuse.portal", "fuse.gvfsd-fuse", "fuse.snapfuse", "fuse.squashfuse",
        "fuse.fuse-overlayfs", "fuse.xdg-document-portal", "fuse.appimagelauncherfs", "fuse.bindfs",
    }
)  # fmt: skip
_OCTAL = re.compile(r"\\([0-7]{3})")


def is_network(fs_type: str) -> bool:
    """Whether another machine may mount the same file system (NFS, SMB, a FUSE mount...)."""
    return fs_type in NETWORK_TYPES or (fs_type.startswith("fuse.") and fs_type not in LOCAL_FUSE)


@dataclass(frozen=True)
class Mount:
    """One line of the mount table: where it is mounted, what it is, and which part of it."""

    mount_point: str
    #: The folder of the file system that appears at the mount point (``/`` unless a bind mount).
    root: str
    fs_type: str
    source: str
    device: str


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as ``\\040`` etc."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts in ``/proc/self/mountinfo`` text, in table order; malformed lines are left out.

    A line: ``id parent major:minor root mount-point options [optional...] - type source super``.
    """
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            dash = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < dash + 3 or len(fields) < 6:
            continue
        mounts.append(
            Mount(
                mount_point=_unescape(fields[4]),
                root=_unescape(fields[3]),
                fs_type=_unescape(fields[dash + 1]),
                source=_unescape(fields[dash + 2]),
                device=fields[2],
            )
        )
    return mounts


def _inside(path: str, mount_point: str) -> bool:
    return mount_point == "/" or path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def mount_of(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount holding ``path`` (absolute, resolved): the longest mount point, the last mounted."""
    best: Mount | None = None
    for mount in mounts:
        if _inside(path, mount.mount_point) and (
            best is None or len(mount.mount_point) >= len(best.mount_point)
        ):
            best = mount
    return best


def read_mounts(path: str = MOUNTINFO) -> tuple[list[Mount], str | None]:
    """The mount table, or no mounts and why (absent, unreadable, too large)."""
    try:
        with open(path, "rb") as table:
            data = table.read(MOUNTINFO_CAP_BYTES + 1)
    except OSError as exc:
        return [], f"{path} cannot be read ({exc.strerror or type(exc).__name__})"
    if len(data) > MOUNTINFO_CAP_BYTES:
        return [], f"{path} is larger than {MOUNTINFO_CAP_BYTES} bytes"
    mounts = parse_mountinfo(data.decode("utf-8", "surrogateescape"))
    return mounts, None if mounts else f"{path} lists no mount"


@dataclass(frozen=True)
class CacheFilesystem:
    """The cache folder Keras reads, where its links lead, and the file system it lies on."""

    path: str
    #: ``path`` with every link followed (Keras reads and writes there); a missing tail stays as is.
    resolved: str
    fs_type: str | None = None
    #: Other machines may mount it too (see :func:`is_network`).
    network: bool = False
    mount_point: str | None = None
    #: What is mounted: ``server:/export`` (NFS), ``//server/share`` (SMB), a device, a FUSE name.
    source: str | None = None
    #: Where the folder is inside that file system (the same on every machine that mounts it).
    fs_path: str | None = None
    device: str | None = None
    #: Why the file system is not known (no mount table here), else None.
    unknown: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "resolved": self.resolved,
            "fs_type": self.fs_type,
            "network": self.network,
            "mount_point": self.mount_point,
            "source": self.source,
            "fs_path": self.fs_path,
            "device": self.device,
            "unknown": self.unknown,
        }


def filesystem_of(folder: str, mounts: list[Mount], why_none: str | None = None) -> CacheFilesystem:
    """Which mount of ``mounts`` holds ``folder`` (its links followed, as Keras follows them)."""
    try:
        resolved = os.path.realpath(folder)
    except (OSError, ValueError) as exc:  # a NUL in a path, a loop on an old Python
        return CacheFilesystem(folder, folder, unknown=f"{folder} cannot be resolved ({exc})")
    mount = mount_of(resolved, mounts)
    if mount is None:
        return CacheFilesystem(folder, resolved, unknown=why_none or f"no mount holds {resolved}")
    rest = os.path.relpath(resolved, mount.mount_point) if resolved != mount.mount_point else ""
    inside = os.path.normpath(os.path.join(mount.root, rest)) if rest and rest != "." else mount.root
    return CacheFilesystem(
        path=folder,
        resolved=resolved,
        fs_type=mount.fs_type,
        network=is_network(mount.fs_type),
        mount_point=mount.mount_point,
        source=mount.source,
        fs_path=inside,
        device=mount.device,
    )


@fact
def cache_filesystem(keras_cache: KerasCache) -> CacheFilesystem:
    """The file system under the folder ``load_data`` reads (shared by other machines or not)."""
    mounts, why = read_mounts()
    return filesystem_of(str(keras_cache.datasets_dir), mounts, why)
