"""When a cache folder is a link, whether the doctor may follow it: the rule, walked through descriptors.

Why: people keep datasets on a bigger disk with ``ln -s /data/me/keras-datasets ~/.keras/datasets``.
Keras follows that link, so refusing it protects no one and leaves ``--clear-cache`` unable to
clear what Keras reads. A link is also the tool of the classic shared-``/tmp`` attack (another
user plants ``/tmp/.keras/datasets -> /home/victim``), so a link is followed only when no one
but the user running the doctor (and root, who can do anything anyway) made it or could redirect
it while the doctor acts:

* the link belongs to you, and the folder holding it lets no one else swap it (see below);
* its target is walked one component at a time with ``openat(..., O_NOFOLLOW)`` from ``/`` (an
  absolute target) or from the link's own folder (a relative one), never by re-resolving a path
  string: each folder on the way belongs to you or root, and no one else can rename the next
  step inside it. A folder others may write in is accepted only with the sticky bit and a next
  step owned by you or root (``/tmp/you``): the sticky bit stops them renaming it;
* a link met on the way (a system layout such as ``/data -> /mnt/disk1``) must belong to you or
  root and is walked the same way; at most :data:`MAX_LINKS` links in all;
* the link does not lead straight to another link (a chain of links is refused);
* the folder it leads to is a folder (not a file, FIFO or device), yours, writable by no one
  else (not even with the sticky bit: what lies in a shared folder is not yours to clear), and
  not ``/`` (``rm --preserve-root``'s habit: only root owns ``/``, so only root could get there).

"Writable by others" is world-writable, or group-writable by a group someone else may be in. A
group counts as yours alone when it is your *user private group*: your primary group, named like
you, listing no other member. Fedora, RHEL and Debian (``USERGROUPS_ENAB``) give every user one
and a ``umask 002``, so a folder you make there is group-writable by that group; refusing it
would refuse exactly the common case on those systems. The name test is the one those systems
use themselves to choose that umask; a group with any other member lets that member rename
entries, so such a folder is refused.

The walk keeps each folder it passes open and checks what it opened (``fstat``) against what it
looked at (``lstat``): a swap between the two is refused, and once the final folder's
descriptor is returned, every operation acts through it, whatever happens to the path.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

#: Links followed in one walk (the link itself included); more is a loop or a maze.
MAX_LINKS = 8
#: Folders opened for reading, never a FIFO's blocking open (``O_DIRECTORY`` refuses it first).
DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
ROOT_UID = 0


class LinkRefused(Exception):
    """The link is not followed; ``reason`` says why in the user's terms."""

    def __init__(self, reason: str, *, foreign_link: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        #: The link itself belongs to someone else (the hint is then to look at it, not to act there).
        self.foreign_link = foreign_link


@dataclass(frozen=True)
class Trust:
    """Who the doctor acts for: the effective uid, and the groups that are that user's alone."""

    uid: int
    private_gids: frozenset[int]

    def trusted_owner(self, uid: int) -> bool:
        return uid in (self.uid, ROOT_UID)

    def others_may_write(self, st: os.stat_result) -> bool:
        """World-writable, or group-writable by a group that is not the user's private one."""
        if st.st_mode & stat.S_IWOTH:
            return True
        return bool(st.st_mode & stat.S_IWGRP) and st.st_gid not in self.private_gids


def user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def current_trust() -> Trust:
    """The effective user, and their user private group when they have one (see the module text)."""
    uid = os.geteuid()
    private: set[int] = set()
    try:
        import grp
        import pwd

        account = pwd.getpwuid(uid)
        group = grp.getgrgid(account.pw_gid)
        if group.gr_name == account.pw_name and set(group.gr_mem) <= {account.pw_name}:
            private.add(group.gr_gid)
    except (ImportError, KeyError):
        pass  # no account or group entry: no group is known to be the user's alone
    return Trust(uid, frozenset(private))


@dataclass(frozen=True)
class Followed:
    """The folder a link led to: an open descriptor (the caller closes it) and the path walked."""

    fd: int
    real: str


class _Walk:
    """Folders from ``/`` down to where the walk stands, each held open (``..`` pops one)."""

    def __init__(self, trust: Trust) -> None:
        self.trust = trust
        self.stack: list[tuple[int, str]] = []
        self.links = 0

    @property
    def path(self) -> str:
        return "/" + "/".join(name for _, name in self.stack[1:])

    def close(self) -> None:
        while self.stack:
            os.close(self.stack.pop()[0])

    def from_root(self) -> None:
        self.close()
        self.stack.append((os.open("/", DIR_FLAGS), ""))

    def walk(self, target: str, *, final: bool) -> None:
        """Walk ``target`` (a link's text) from where the walk stands (``/`` when absolute)."""
        if target.startswith("/"):
            self.from_root()
        names = [n for n in target.split("/") if n not in ("", ".")]
        for i, name in enumerate(names):
            self.step(name, last=final and i == len(names) - 1)

    def step(self, name: str, *, last: bool) -> None:
        if name == "..":
            if len(self.stack) > 1:
                os.close(self.stack.pop()[0])
            return
        parent_fd = self.stack[-1][0]
        here = self.path
        where = f"{here.rstrip('/')}/{name}"
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        self.check_step(os.fstat(parent_fd), here, st, where)
        if stat.S_ISLNK(st.st_mode):
            if last:
                raise LinkRefused(f"it leads to {where}, itself a link (a chain of links)")
            if not self.trust.trusted_owner(st.st_uid):
                raise LinkRefused(f"the way passes {where}, a link owned by {user_name(st.st_uid)}")
            self.links += 1
            if self.links > MAX_LINKS:
                raise LinkRefused(f"more than {MAX_LINKS} links on the way (a loop?)")
            self.walk(os.readlink(name, dir_fd=parent_fd), final=False)
            return
        if not stat.S_ISDIR(st.st_mode):
            raise LinkRefused(f"{where} is not a folder")
        fd = os.open(name, DIR_FLAGS | NOFOLLOW, dir_fd=parent_fd)
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)
            raise LinkRefused(f"{where} changed while it was checked")
        self.stack.append((fd, name))

    def check_step(self, parent: os.stat_result, here: str, st: os.stat_result, where: str) -> None:
        """No one but the user or root can swap ``where`` inside its folder ``here``."""
        if not self.trust.trusted_owner(parent.st_uid):
            raise LinkRefused(
                f"the way passes {here}, which belongs to {user_name(parent.st_uid)}: they could swap "
                f"{where.rsplit('/', 1)[-1]} in it"
            )
        if self.trust.others_may_write(parent):
            sticky = bool(parent.st_mode & stat.S_ISVTX)
            if not (sticky and self.trust.trusted_owner(st.st_uid)):
                mode = stat.filemode(parent.st_mode)
                raise LinkRefused(
                    f"the way passes {here} ({mode}), where others may rename {where.rsplit('/', 1)[-1]}"
                )


def follow_own_link(
    holder_fd: int,
    holder_path: str,
    name: str,
    *,
    trust: Trust | None = None,
    resolve: Callable[[str], str] = os.path.realpath,
) -> Followed:
    """Follow the link ``name`` in the open folder ``holder_fd`` (at ``holder_path``) by the rule.

    Returns the folder it leads to, opened; raises :class:`LinkRefused` when the rule says no
    (and ``OSError`` when something on the way cannot be read). A relative link is walked from
    its folder: the way to that folder (``resolve(holder_path)``) is walked and checked first,
    and must arrive at the very folder ``holder_fd`` holds.
    """
    if not hasattr(os, "geteuid"):
        raise LinkRefused("links are not followed on this system (no owner to check)")
    trust = trust or current_trust()
    st = os.stat(name, dir_fd=holder_fd, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        raise LinkRefused(f"{name} is not a link")
    if st.st_uid != trust.uid:
        raise LinkRefused(f"the link belongs to {user_name(st.st_uid)}, not you", foreign_link=True)
    walk = _Walk(trust)
    walk.check_step(os.fstat(holder_fd), holder_path, st, f"{holder_path.rstrip('/')}/{name}")
    target = os.readlink(name, dir_fd=holder_fd)
    try:
        if not target.startswith("/"):
            walk.walk(resolve(holder_path), final=False)
            held, arrived = os.fstat(holder_fd), os.fstat(walk.stack[-1][0])
            if (held.st_dev, held.st_ino) != (arrived.st_dev, arrived.st_ino):
                raise LinkRefused(f"{holder_path} changed while it was checked")
        walk.links = 1
        walk.walk(target, final=True)
        fd, _ = walk.stack[-1]
        _check_destination(trust, os.fstat(fd), walk.path, len(walk.stack) == 1)
        real = walk.path
        walk.stack.pop()
    except BaseException:
        walk.close()
        raise
    walk.close()
    return Followed(fd, real)


def _check_destination(trust: Trust, st: os.stat_result, path: str, is_root: bool) -> None:
    """The folder a link leads to is the user's own and no one else's to write in."""
    if is_root:
        raise LinkRefused("it leads to /, the root of the file system")
    if st.st_uid != trust.uid:
        raise LinkRefused(f"it leads to {path}, which belongs to {user_name(st.st_uid)}, not you")
    if trust.others_may_write(st):
        raise LinkRefused(
            f"it leads to {path} ({stat.filemode(st.st_mode)}), a folder others may write in: "
            "what lies there is not only yours"
        )
