"""Does a file of a known kind hold what that kind promises? Structure only, bounded.

:mod:`mnist_doctor.datasets.verification` asks this once the hash said a file is not the
pinned one, to tell a cut or damaged download from a well-formed file that is simply another.
Each reader is bounded: gzip is inflated in chunks with a hard cap (a gzip bomb stops at the
cap), a tarball is listed in stream mode (``r|gz``), never extracted, and the listing stops
after :data:`TAR_MEMBER_CAP` members; a JSON file is parsed only near its pinned size.
"""

from __future__ import annotations

import json
import tarfile
import zipfile
import zlib
from typing import IO

from mnist_doctor.datasets.spec import DatasetSpec
from mnist_doctor.text.units import human_bytes

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
#: What each kind of file starts with, as ``verification.head_kind`` names it.
EXPECTED_HEAD = {"npz": "zip", "idx-gz": "gzip", "tar-gz": "gzip", "json": "json"}


def structure_problem(kind: str, handle: IO[bytes], spec: DatasetSpec) -> tuple[str, bool]:
    """What is wrong with the structure of ``handle`` as a file of ``kind`` ("" when none), and
    whether it is a bomb (it inflates or lists past the caps)."""
    reader = {
        "npz": _zip_problem,
        "idx-gz": _idx_problem,
        "tar-gz": _tar_problem,
        "json": _json_problem,
    }.get(kind, _unknown_kind)
    return reader(handle, spec)


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
