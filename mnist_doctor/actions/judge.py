"""Is this file the one a dataset needs — and if not, what is it instead?

``--seed`` and ``--fetch`` judge what they are about to install against the file's spec.
MNIST keeps the deep ``.npz`` inspection of :mod:`mnist_doctor.datasets.npz_check` (its array shapes are
known); every other file is judged by size, hash and its first bytes: an HTML page saved by a
proxy, an empty or truncated download, or a well-formed file that is simply not the pinned one.
Files Keras pins only by md5 (the word indexes) are checked by md5 when the table has no sha256.
Bounded like npz_check: a file far larger than the dataset's is judged by its size, unread.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mnist_doctor.datasets import npz_check
from mnist_doctor.datasets.table import DataFile
from mnist_doctor.text.units import human_bytes

#: A file of the right kind and size whose hash differs: not the pinned file.
DIFFERENT = "different"
#: What each kind of file starts with, as :func:`npz_check.head_kind` names it.
_EXPECTED_HEAD = {"npz": "zip", "idx-gz": "gzip", "tar-gz": "gzip", "json": "json"}
_KIND_WORDS = {"npz": "an npz archive", "idx-gz": "a gzip file", "tar-gz": "a tar.gz archive", "json": "JSON"}


@dataclass(frozen=True)
class Verdict:
    """The judgement on one file: ``verdict`` is an npz_check constant or :data:`DIFFERENT`."""

    verdict: str
    summary: str

    @property
    def ok(self) -> bool:
        return self.verdict == npz_check.OK


def uses_npz_check(data_file: DataFile) -> bool:
    """MNIST's file: the spec knows its arrays, so the deep inspection can name a wrong MNIST."""
    return bool(data_file.spec.arrays)


def digests(handle: IO[bytes], limit: int, want_md5: bool) -> tuple[str, str]:
    """sha256 (and md5 when asked) of at most ``limit`` bytes from the start of ``handle``."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    handle.seek(0)
    left = limit
    while left > 0 and (chunk := handle.read(min(npz_check.CHUNK, left))):
        sha.update(chunk)
        if want_md5:
            md5.update(chunk)
        left -= len(chunk)
    return sha.hexdigest(), md5.hexdigest() if want_md5 else ""


def matches(data_file: DataFile, size: int, sha256: str, md5: str) -> bool:
    """The pinned file: its size, and its sha256 (or, where the table has none, Keras' md5)."""
    spec = data_file.spec
    if size != spec.size:
        return False
    if spec.sha256:
        return sha256 == spec.sha256
    return bool(data_file.md5) and md5 == data_file.md5


def pin_text(data_file: DataFile) -> str:
    """``sha256 <hex>, <size> bytes`` (or md5 for a file pinned only by md5)."""
    spec = data_file.spec
    pin = f"sha256 {spec.sha256}" if spec.sha256 else f"md5 {data_file.md5}"
    return f"{pin}, {spec.size} bytes"


def judge_stream(handle: IO[bytes], size: int, data_file: DataFile) -> Verdict:
    """The verdict on the open regular file ``handle`` of ``size`` bytes."""
    spec = data_file.spec
    if uses_npz_check(data_file):
        report = npz_check.inspect_stream(
            handle, size, spec, npz_check.CopyReport(Path(spec.file_name), npz_check.MISSING, "")
        )
        return Verdict(report.verdict, report.summary)
    if size > spec.max_file_size:
        return Verdict(
            npz_check.TOO_LARGE,
            f"{human_bytes(size)}, far larger than the dataset file ({human_bytes(spec.size)}): "
            "not the file, not read",
        )
    try:
        handle.seek(0)
        head = handle.read(npz_check.HEAD_BYTES)
        sha256, md5 = digests(handle, spec.max_file_size + 1, want_md5=not spec.sha256)
    except OSError as exc:
        return Verdict(npz_check.UNREADABLE, f"cannot read it: {exc.strerror}")
    if matches(data_file, size, sha256, md5):
        return Verdict(npz_check.OK, f"{human_bytes(size)}, {'sha256' if spec.sha256 else 'md5'} matches")
    return _what_instead(npz_check.head_kind(head), head, size, data_file)


def _what_instead(kind: str, head: bytes, size: int, data_file: DataFile) -> Verdict:
    expected = _EXPECTED_HEAD.get(data_file.kind, "other")
    spec = data_file.spec
    if kind == "empty":
        return Verdict(npz_check.EMPTY, "an empty file (0 bytes)")
    if kind in ("html", "xml") or (kind == "json" and expected != "json"):
        return Verdict(
            npz_check.HTML,
            f"a {kind.upper()} page of {size} bytes, not {_KIND_WORDS.get(data_file.kind, 'the file')} "
            "(an error or login page saved by a proxy, captive portal or mirror)",
        )
    if kind != expected:
        return Verdict(
            npz_check.CORRUPT,
            f"{size} bytes that are not {_KIND_WORDS.get(data_file.kind, 'the file')} "
            f"(first bytes {head[:8]!r})",
        )
    if size < spec.size:
        return Verdict(npz_check.TRUNCATED, f"truncated: {size} of {spec.size} bytes")
    return Verdict(
        DIFFERENT,
        f"{_KIND_WORDS.get(data_file.kind, 'a file')} of {size} bytes, but not the pinned file "
        f"({'sha256' if spec.sha256 else 'md5'} differs)",
    )
