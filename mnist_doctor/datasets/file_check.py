"""Is this cached dataset file the one Keras expects — for every kind of file a loader downloads?

:mod:`mnist_doctor.datasets.npz_check` answers that deeply for ``mnist.npz``. The other loaders fetch
gzip'd IDX arrays (fashion_mnist, which Keras never hashes), word-index JSON files (pinned by
md5), other ``.npz`` files and the cifar tarballs. This module gives each one a verdict in
npz_check's vocabulary (:data:`~mnist_doctor.datasets.npz_check.MISSING`, ``HTML``, ``TRUNCATED``,
``CORRUPT``, ...) plus :data:`MISMATCH` (a well-formed file of the right kind that is simply
not the pinned one). Bounded like npz_check: a file larger than the pinned size plus a margin
is judged by its size unread; gzip is inflated in chunks with a hard cap (a gzip bomb stops
at the cap), a tarball is listed in stream mode (``r|gz``), never extracted, and the listing
stops after :data:`TAR_MEMBER_CAP` members or :data:`INFLATE_CAP` bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import IO

from mnist_doctor.datasets import npz_check
from mnist_doctor.datasets.npz_check import (
    CORRUPT,
    DANGLING_LINK,
    DIRECTORY,
    EMPTY,
    HTML,
    MISSING,
    NOT_REGULAR,
    OK,
    TOO_LARGE,
    TRUNCATED,
    UNREADABLE,
    ZIP_BOMB,
    CopyReport,
)
from mnist_doctor.datasets.spec import DatasetSpec
from mnist_doctor.text.units import human_bytes

#: A well-formed file of the right kind whose hash is not the pinned one.
MISMATCH = "not-pinned"
#: The most a gzip'd file may inflate to while it is examined (Fashion-MNIST's largest: 47 MB).
INFLATE_CAP = 96 << 20
#: A tarball listing stops after this many members (cifar has 8 or 5).
TAR_MEMBER_CAP = 1000
#: IDX magic numbers: unsigned bytes, 1 dimension (labels) or 3 dimensions (images).
IDX_MAGIC = {0x00000801: 1, 0x00000803: 3}
_CHUNK = 1 << 16
#: Inflated bytes kept for the IDX header (magic and up to 3 dimensions).
HEAD_KEEP = 16

KINDS = ("npz", "idx-gz", "json", "tar-gz")
#: How messages name each kind.
LABELS = {
    "npz": "npz (zip) archive",
    "idx-gz": "gzip'd IDX file",
    "json": "JSON file",
    "tar-gz": "tar.gz archive",
}


def _open(path: Path, report: CopyReport) -> tuple[IO[bytes] | None, int]:
    """Open ``path`` as Keras would (following a link) without blocking; fill ``report`` on failure."""
    try:
        link_stat = path.lstat()
    except FileNotFoundError:
        return None, 0
    except OSError as exc:
        report.verdict, report.summary = UNREADABLE, f"cannot stat it: {exc.strerror}"
        return None, 0
    if stat.S_ISLNK(link_stat.st_mode):
        report.link_target = os.readlink(path)
        if not os.path.exists(path):
            report.verdict = DANGLING_LINK
            report.summary = f"a symlink to {report.link_target}, which does not exist"
            return None, 0
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        report.verdict, report.summary = DIRECTORY, "a directory sits where the file should be"
        return None, 0
    except OSError as exc:
        report.verdict, report.summary = UNREADABLE, f"cannot read it: {exc.strerror}"
        return None, 0
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        os.close(fd)
        report.verdict, report.summary = DIRECTORY, "a directory sits where the file should be"
        return None, 0
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        report.verdict, report.summary = NOT_REGULAR, "not a regular file (a FIFO, socket or device)"
        return None, 0
    return os.fdopen(fd, "rb", buffering=0), st.st_size


def inspect_file(
    path: str | os.PathLike[str], spec: DatasetSpec, kind: str, md5: str = "", with_partials: bool = True
) -> CopyReport:
    """The verdict on ``path`` as the dataset file ``spec`` of ``kind`` (see :data:`KINDS`).

    ``mnist.npz`` (a spec with array shapes) gets npz_check's deep inspection; ``md5`` is the
    hash Keras pins for a word index (its sha256 is not in the table).
    """
    path = Path(path)
    if kind == "npz" and spec.arrays:
        return npz_check.inspect_copy(path, spec, with_partials=with_partials)
    partials = npz_check.partial_files(path.parent, path.name) if with_partials else []
    report = CopyReport(path, MISSING, "not present", partials=partials)
    handle, size = _open(path, report)
    if handle is None:
        return report
    with handle:
        try:
            return _judge(handle, size, spec, kind, md5, report)
        except OSError as exc:
            report.verdict, report.summary = UNREADABLE, f"cannot read it: {exc.strerror or exc}"
            return report


def _judge(
    handle: IO[bytes], size: int, spec: DatasetSpec, kind: str, md5: str, report: CopyReport
) -> CopyReport:
    report.size = size
    if size > spec.max_file_size:
        report.verdict = TOO_LARGE
        expected = human_bytes(spec.size)
        report.summary = f"{human_bytes(size)}, far larger than the file ({expected}): not the file, not read"
        return report
    head = handle.read(npz_check.HEAD_BYTES)
    report.head = npz_check.head_kind(head)
    if md5:
        digest = _md5(handle, spec.max_file_size + 1)
        if digest == md5.lower():
            report.verdict, report.summary = OK, f"{human_bytes(size)}, md5 matches the one Keras pins"
            return report
    elif spec.sha256:
        report.sha256 = npz_check.sha256_stream(handle, spec.max_file_size + 1)
        if report.sha256 == spec.sha256:
            report.verdict, report.summary = OK, f"{human_bytes(size)}, sha256 matches"
            return report
    if report.head == "empty":
        report.verdict, report.summary = EMPTY, "an empty file (0 bytes)"
        return report
    wanted = {"npz": "zip", "idx-gz": "gzip", "tar-gz": "gzip", "json": "json"}.get(kind, "other")
    if report.head in ("html", "xml") or (report.head == "json" and wanted != "json"):
        report.verdict = HTML
        report.summary = (
            f"a {report.head.upper()} page of {size} bytes, not a {LABELS.get(kind, kind)} "
            "(an error or login page saved by a proxy, captive portal or mirror)"
        )
        return report
    if report.head != wanted and kind != "json":
        report.verdict = CORRUPT
        report.summary = f"{size} bytes that are not a {LABELS.get(kind, kind)} (first bytes {head[:8]!r})"
        return report
    handle.seek(0)
    problem, bomb = {
        "npz": _zip_problem,
        "idx-gz": _idx_problem,
        "tar-gz": _tar_problem,
        "json": _json_problem,
    }.get(kind, _unknown_kind)(handle, spec)
    if bomb:
        report.verdict, report.summary = ZIP_BOMB, problem
    elif problem and size < spec.size:
        report.verdict, report.summary = TRUNCATED, f"truncated: {size} of {spec.size} bytes ({problem})"
    elif problem:
        report.verdict, report.summary = CORRUPT, f"corrupt: {problem}"
    else:
        report.verdict = MISMATCH
        label = LABELS.get(kind, kind)
        report.summary = f"a well-formed {label} ({human_bytes(size)}) but not the pinned one (hash differs)"
    return report


def _md5(handle: IO[bytes], limit: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    handle.seek(0)
    left = limit
    while left > 0:
        chunk = handle.read(min(_CHUNK * 16, left))
        if not chunk:
            break
        left -= len(chunk)
        digest.update(chunk)
    return digest.hexdigest()


def _unknown_kind(handle: IO[bytes], spec: DatasetSpec) -> tuple[str, bool]:
    return "a kind of file the doctor does not know", False


def _zip_problem(handle: IO[bytes], spec: DatasetSpec) -> tuple[str, bool]:
    """Structure only (the central directory reads): the hash already said it is not the pinned file."""
    try:
        with zipfile.ZipFile(handle) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        return f"not a readable zip archive ({exc})", False
    return ("" if names else "a zip archive with no members"), False


def _gunzip(handle: IO[bytes], cap: int) -> tuple[bytes, int, str, bool]:
    """Inflate every gzip member of ``handle``, keeping only the first bytes, stopping past ``cap``.

    Returns (first :data:`HEAD_KEEP` bytes, inflated length, problem, over the cap); memory stays
    one chunk whatever the file inflates to.
    """
    head = b""
    total = 0
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    while True:
        chunk = handle.read(_CHUNK)
        if not chunk:
            break
        while chunk:
            try:
                piece = inflater.decompress(chunk, _CHUNK)
            except zlib.error as exc:
                return head, total, f"gzip data is damaged ({exc})", False
            if len(head) < HEAD_KEEP:
                head += piece[: HEAD_KEEP - len(head)]
            total += len(piece)
            if total > cap:
                return head, total, f"inflates past {cap >> 20} MB", True
            chunk = inflater.unconsumed_tail
            if inflater.eof:
                rest = inflater.unused_data + chunk
                if not rest.strip(b"\x00"):  # gzip.open ignores zero padding after a member
                    break
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # a further gzip member
                chunk = rest
    if not inflater.eof:
        return head, total, "the gzip stream ends early (EOFError in gzip.open)", False
    return head, total, "", False


def _idx_problem(handle: IO[bytes], spec: DatasetSpec) -> tuple[str, bool]:
    """A gzip'd IDX array: header magic and dimensions must account for exactly the payload."""
    head, total, problem, bomb = _gunzip(handle, INFLATE_CAP)
    if problem:
        return problem, bomb
    if total < 8:
        return f"only {total} bytes once inflated: no IDX header", False
    magic = int.from_bytes(head[:4], "big")
    dims = IDX_MAGIC.get(magic)
    if dims is None:
        return f"inflates to something that is not an IDX array of bytes (magic {magic:#010x})", False
    header = 4 + 4 * dims
    if total < header:
        return "the IDX header is cut short", False
    shape = [int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    count = 1
    for n in shape:
        count *= n
    if header + count != total:
        return f"the IDX header says {tuple(shape)} ({count} bytes) but {total - header} follow", False
    return "", False


def _tar_problem(handle: IO[bytes], spec: DatasetSpec) -> tuple[str, bool]:
    """List the tarball in stream mode (never extracted, never seeking), within the caps."""
    members = 0
    limit = 2 * spec.max_file_size + INFLATE_CAP  # cifar's batches inflate to ~1.1x the archive
    try:
        with tarfile.open(fileobj=handle, mode="r|gz") as archive:
            for member in archive:
                members += 1
                if members > TAR_MEMBER_CAP:
                    return f"more than {TAR_MEMBER_CAP} members", True
                # checked before the iterator skips over the member's data (inflating it)
                if member.offset_data + member.size > limit:
                    return f"a member says it inflates past {limit >> 20} MB", True
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        return f"not a readable tar.gz ({exc or type(exc).__name__})", False
    return ("" if members else "a tar.gz with no members"), False


def _json_problem(handle: IO[bytes], spec: DatasetSpec) -> tuple[str, bool]:
    # parsed objects take many times the text's size: only a file near the pinned size is parsed
    limit = 2 * spec.size + (1 << 20)
    raw = handle.read(limit + 1)
    if len(raw) > limit:
        return f"far larger than the word index ({human_bytes(spec.size)}): not parsed", False
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return f"not valid JSON ({str(exc)[:80]})", False
    return ("" if isinstance(value, dict) else f"JSON {type(value).__name__}, not a word index"), False
