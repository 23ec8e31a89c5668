"""Which NumPy the compiled files of some distributions were built for, read from their bytes.

Run by the doctor only when an installed package that ships compiled code requires a NumPy
the installed one is not (``python - NAME...``, canonical distribution names). Nothing is
imported: NumPy's headers compile a fixed message into every extension module that uses its
C-API, and the message says which headers built it:

- NumPy 2 headers: ``module was compiled against NumPy C-API version 0x%x (NumPy X.Y) but the
  running NumPy has ...``, where X.Y is the oldest NumPy the build targets: it loads under
  NumPy X.Y and newer, 1.x included (ml_dtypes 0.6.0 targets 1.23, 0.7.0 targets 2.0);
- NumPy 1 headers: ``module compiled against API version 0x%x but this version of numpy is
  0x%x``: it loads under NumPy 1.x only.

The files are those the distribution's ``RECORD`` lists with a ``.so`` or ``.pyd`` name,
regular files inside its own folder, read in chunks with a cap on the bytes read overall.
Standard library only, Python 3.9 syntax.
"""

import csv
import os
import re
import stat
import sys

from _prelude import emit  # mnist-doctor: include

NUMPY2_HEADERS = re.compile(rb"compiled against NumPy C-API version 0x%x \(NumPy ([0-9]{1,3}\.[0-9]{1,3})\)")
NUMPY1_HEADERS = re.compile(rb"module compiled against API version 0x%x but this version of numpy is")
#: Bytes read from all files together; a scan that reaches it says so (``truncated``).
TOTAL_CAP = 256 << 20
#: Files read per distribution.
FILES_CAP = 200
CHUNK = 1 << 20
OVERLAP = 256
EXTENSIONS = (".so", ".pyd")


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_info(name):
    """The first ``*.dist-info`` folder of ``name`` on ``sys.path`` and its site folder, as
    importlib.metadata finds it; (None, None) when there is none."""
    for entry in sys.path:
        try:
            children = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for child in children:
            if child.endswith(".dist-info") and _norm(child[: -len(".dist-info")].split("-")[0]) == name:
                return os.path.join(entry or ".", child), entry or "."
    return None, None


def extension_files(info, site):
    """The compiled files ``RECORD`` lists, as paths inside ``site`` (nothing that leads out)."""
    root = os.path.realpath(site)
    out = []
    try:
        with open(os.path.join(info, "RECORD"), encoding="utf-8", errors="replace", newline="") as handle:
            for row in csv.reader(handle):
                if not row or not row[0].endswith(EXTENSIONS) or "\0" in row[0]:
                    continue
                path = os.path.realpath(os.path.join(site, row[0]))
                if path.startswith(root + os.sep):
                    out.append(path)
                if len(out) >= FILES_CAP:
                    break
    except (OSError, ValueError, csv.Error):  # a broken line ends the list, what came before stays
        pass
    return out


def scan(path, budget):
    """``(("2", target NumPy) or ("1", None) or None, bytes read)`` for one file: which NumPy's
    headers built it, and the oldest NumPy the NumPy 2 headers target."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read
            return None, 0
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below, the open may fail alone
    except OSError:
        return None, 0
    read = 0
    tail = b""
    with handle:
        while read < budget:
            chunk = handle.read(min(CHUNK, budget - read))
            if not chunk:
                break
            read += len(chunk)
            window = tail + chunk
            found = NUMPY2_HEADERS.search(window)
            if found:
                return ("2", found.group(1).decode("ascii")), read
            if NUMPY1_HEADERS.search(window):
                return ("1", None), read
            tail = window[-OVERLAP:]
    return None, read


def build_of(name, left):
    """What the compiled files of distribution ``name`` were built for, and the bytes read."""
    info, site = dist_info(name)
    out = {"name": name, "found": info is not None, "files": 0, "numpy1_files": 0, "targets": []}
    out["truncated"] = False
    used = 0
    for path in extension_files(info, site) if info else []:
        if used >= left:
            out["truncated"] = True
            break
        headers, read = scan(path, left - used)
        used += read
        out["files"] += 1
        if headers is None:
            continue
        if headers[0] == "1":
            out["numpy1_files"] += 1
        elif headers[1] not in out["targets"]:
            out["targets"].append(headers[1])
    out["bytes"] = used
    return out, used


def main():
    left = TOTAL_CAP
    builds = []
    for name in dict.fromkeys(_norm(a) for a in sys.argv[1:]):
        build, used = build_of(name, left)
        left -= used
        builds.append(build)
    emit({"schema": 1, "builds": builds})


main()
