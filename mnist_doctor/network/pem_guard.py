"""Read a CA bundle named by the environment without letting it cost unbounded memory or time.

Why: ``SSL_CERT_FILE=/dev/urandom`` (or a FIFO, or a 1 GB junk file) made the doctor read
until memory ran out (2.4–3.3 GB), and OpenSSL itself reads such a file without limit when
urllib builds its default context. So a CA file is opened once without blocking
(``O_NONBLOCK``: a FIFO with no writer cannot hang the open), must be a regular file no
larger than :data:`MAX_CA_BYTES` (real bundles are well under 1 MB; the largest corporate
ones a few MB), and is read only up to that cap. Standard library only.
"""

from __future__ import annotations

import os
import stat

#: Largest CA bundle the doctor will read or let urllib load (Mozilla's bundle is ~0.2 MB).
MAX_CA_BYTES = 16 << 20


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory, not a file"
    return "not a regular file"


def read_ca_file(path: str, cap: int = MAX_CA_BYTES) -> tuple[bytes | None, str]:
    """(content, problem): the file's bytes when it is a regular file within ``cap``, else the reason."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None, f"{path} does not exist"
    except IsADirectoryError:
        return None, f"{path} is a directory, not a file"
    except PermissionError:
        return None, f"{path} is not readable by this user"
    except OSError as exc:
        return None, f"{path} cannot be opened: {exc.strerror}"
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # judged before fdopen, which refuses a folder's fd itself
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            return None, f"{path} is a directory, not a file"
        return None, f"{path} is {_kind(st.st_mode)}: OpenSSL would block on it or read it without end"
    with os.fdopen(fd, "rb", buffering=0) as handle:
        if st.st_size > cap:
            return None, (
                f"{path} is {st.st_size / 1e6:.0f} MB, far larger than any CA bundle "
                f"(limit {cap / 1e6:.0f} MB): not read"
            )
        try:
            data = handle.read(cap + 1)
        except OSError as exc:
            return None, f"{path} cannot be read: {exc.strerror}"
    if len(data) > cap:
        return None, f"{path} grew past {cap / 1e6:.0f} MB while being read: not a CA bundle"
    return data, ""


def unsafe_ca_file(path: str | None) -> str | None:
    """Why urllib must not be handed ``path`` as its CA file (None: safe to let OpenSSL load it)."""
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # missing or unreadable: OpenSSL skips it, nothing unbounded happens
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is {_kind(st.st_mode)}: OpenSSL would block on it or read it without end"
    if st.st_size > MAX_CA_BYTES:
        return f"{path} is {st.st_size / 1e6:.0f} MB, far larger than any CA bundle"
    return None
