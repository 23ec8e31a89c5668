"""A path named by an environment variable, examined before anything trusts it.

``KERAS_HOME``, ``HOME``, ``TMPDIR``, ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE``, ``XDG_CACHE_HOME``
... are whatever the user's shell left there. Such a path can fail in ways a file name typed on a
command line rarely does, and each way once crashed a check (``OSError: [Errno 36] File name too
long``; ``pathlib.Path.exists`` raises it, and ``EACCES``, up to Python 3.13):

* a name in it longer than the file system allows (``ENAMETOOLONG``; ``stat`` only sees it when
  everything before it exists, so the length of each name is checked against the file system's
  limit too, and the whole against ``PATH_MAX``);
* a loop of symbolic links (``ELOOP``);
* a folder on the way that this user may not search (``EACCES``);
* a file where a folder should be (``ENOTDIR``);
* bytes that are not UTF-8 (Python keeps them as surrogates): the path works, but no command
  this report prints can name it exactly.

:func:`examine` walks the path once (``stat``, never ``open``) and returns the first trouble as a
:class:`PathTrouble` that names the variable, the part at fault and what to do, or ``None``. A path
that merely does not exist yet is not a trouble here: its owner decides (Keras creates its folder).
"""

from __future__ import annotations

import errno
import os
import shlex
import stat
from dataclasses import dataclass

#: Kinds of trouble, by what the user meets.
TOO_LONG = "too-long"
LOOP = "loop"
DENIED = "denied"
NOT_A_FOLDER = "not-a-folder"
NOT_UTF8 = "not-utf8"
UNUSABLE = "unusable"

#: Linux's limits, used when the file system does not say (``pathconf``).
NAME_MAX = 255
PATH_MAX = 4096


@dataclass(frozen=True)
class PathTrouble:
    """Why the path in ``variable`` cannot be used (or, ``not-utf8``, cannot be named in a command)."""

    variable: str
    value: str
    kind: str
    #: The part of the path at fault (a prefix of it, or the name that is too long).
    at: str
    #: What is wrong, in words, without the variable (``/x is a file, not a folder``).
    detail: str

    @property
    def shown(self) -> str:
        """The value for a one-line message: long ones shortened in the middle."""
        return _short(self.value)

    @property
    def breaks(self) -> bool:
        """The path cannot be used at all (``not-utf8`` can: only printed commands cannot name it)."""
        return self.kind != NOT_UTF8

    @property
    def sentence(self) -> str:
        """``KERAS_HOME=/x/y cannot be used: /x is a file, not a folder``."""
        if self.kind == NOT_UTF8:
            return f"{self.variable}={self.shown} {self.detail}"
        return f"{self.variable}={self.shown} cannot be used: {self.detail}"

    def fix(self) -> str:
        """The shell command that takes this trouble away, as printed and as it works when applied.

        ``unset`` for all but ``HOME``: each owner falls back to its default (Keras to ``~/.keras``,
        Python's ``tempfile`` to ``/tmp``, OpenSSL and requests to their own bundles). ``HOME`` is
        set again to this user's home from the password database when that one can be used;
        a uid without one (a container's) gets a placeholder to fill in, since ``unset HOME``
        would leave ``~`` unexpanded there.
        """
        if self.variable == "HOME":
            home = _password_home()
            if home and examine("HOME", home) is None and os.path.isdir(home):
                return f"export HOME={shlex.quote(home)}"
            # without a usable home in the password database, unset HOME leaves ~ unexpanded
            return "export HOME=/a/folder/you/own   # this user has no usable home in the password database"
        return f"unset {self.variable}"


def _password_home() -> str | None:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir or None
    except (ImportError, KeyError, OSError):
        return None


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else f"{text[:60]}…{text[-40:]}"


def _name_max(folder: bytes) -> int:
    try:
        return int(os.pathconf(folder or b".", "PC_NAME_MAX"))
    except (OSError, ValueError, TypeError):
        return NAME_MAX


def examine(variable: str, value: str | None) -> PathTrouble | None:
    """The first trouble of the path ``value`` held by ``variable`` (see the module docstring)."""
    if not value:
        return None
    raw = os.fsencode(value)
    if len(raw) >= PATH_MAX:
        return PathTrouble(
            variable,
            value,
            TOO_LONG,
            value,
            f"it is {len(raw)} bytes long, more than the {PATH_MAX - 1} a path may have",
        )
    found = _walk(variable, value, raw)
    if found is not None:
        return found
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return PathTrouble(
            variable,
            value,
            NOT_UTF8,
            value,
            "holds bytes that are not UTF-8: Python can use it, but a command printed here cannot "
            "name it exactly",
        )
    return None


def _walk(variable: str, value: str, raw: bytes) -> PathTrouble | None:
    """``stat`` each prefix of the path in turn; the first that fails says why."""
    parts = raw.split(b"/")
    prefix = b"/" if raw.startswith(b"/") else b""
    existing = prefix or b"."
    for index, name in enumerate(parts):
        if not name:
            continue
        here = prefix + name
        prefix = here + b"/"
        limit = _name_max(existing)
        if len(name) > limit:
            return _too_long(variable, value, here, name, limit)
        try:
            st = os.stat(here)
        except FileNotFoundError:
            # The rest does not exist yet: only the lengths of its names can still fail.
            return _too_long_below(variable, value, existing, parts[index + 1 :], here)
        except OSError as exc:
            return _failed(variable, value, exc, os.fsdecode(here), os.fsdecode(existing))
        if index < len(parts) - 1 and any(parts[index + 1 :]) and not stat.S_ISDIR(st.st_mode):
            return PathTrouble(
                variable,
                value,
                NOT_A_FOLDER,
                os.fsdecode(here),
                f"{os.fsdecode(here)} is a file, not a folder",
            )
        existing = here
    return None


def _too_long_below(
    variable: str, value: str, existing: bytes, rest: list[bytes], first_missing: bytes
) -> PathTrouble | None:
    """A name below the first missing folder that ``makedirs`` would refuse as too long."""
    limit = _name_max(existing)
    prefix = first_missing
    for name in rest:
        if not name:
            continue
        prefix += b"/" + name
        if len(name) > limit:
            return _too_long(variable, value, prefix, name, limit)
    return None


def _too_long(variable: str, value: str, where: bytes, name: bytes, limit: int) -> PathTrouble:
    """``name`` (the last part of ``where``) is longer than the file system's ``limit``."""
    shown = _short(os.fsdecode(name), 40)
    return PathTrouble(
        variable,
        value,
        TOO_LONG,
        os.fsdecode(where),
        f"the name {shown} is {len(name)} bytes long, more than the {limit} this file system allows",
    )


def _failed(variable: str, value: str, exc: OSError, here: str, parent: str) -> PathTrouble:
    if exc.errno == errno.ELOOP:
        return PathTrouble(variable, value, LOOP, here, f"{here} is a loop of symbolic links")
    if exc.errno == errno.EACCES:
        return PathTrouble(
            variable, value, DENIED, parent, f"{parent} may not be searched by this user (permission denied)"
        )
    if exc.errno == errno.ENOTDIR:
        return PathTrouble(variable, value, NOT_A_FOLDER, parent, f"{parent} is a file, not a folder")
    if exc.errno == errno.ENAMETOOLONG:
        return PathTrouble(variable, value, TOO_LONG, here, "it is longer than the file system allows")
    return PathTrouble(variable, value, UNUSABLE, here, f"{here}: {exc.strerror or exc}")
