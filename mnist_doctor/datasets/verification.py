"""Is this the file Keras expects — and if not, what is it instead? For every loader and caller.

Keras only compares a hash and then says "incomplete or corrupted". The doctor names the
cause: an HTML or XML page saved by a proxy, a truncated download, an empty file, a folder or
a dangling symlink in the file's place, leftovers of interrupted downloads, or a well-formed
file that is simply not the one Keras pins (which Keras would throw away and download again).
Every caller asks here: ``cache.integrity`` and the load gates about the cached copies,
``--seed`` and ``--fetch`` about what they are about to install. A file whose spec knows its
arrays (``mnist.npz``) gets the deep inspection of its archive (read by
:mod:`mnist_doctor.datasets.npz_reading`: standard library, streamed, an inflate cap against zip
bombs, nothing unpickled); every other kind is judged by size, hash, first bytes and its
structure (:mod:`mnist_doctor.datasets.file_kinds`); files Keras pins only by md5 (the word
indexes) by md5. Only the file system is involved, so this runs in the doctor's own process,
with bounded work: a file far larger than the dataset's is judged by its size, unread.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mnist_doctor.datasets.file_kinds import EXPECTED_HEAD, LABELS, structure_problem
from mnist_doctor.datasets.npz_reading import NpzContent, read_archive
from mnist_doctor.datasets.spec import MNIST, ZIP_MAGIC, DatasetSpec
from mnist_doctor.datasets.table import DataFile
from mnist_doctor.errors import UsageError
from mnist_doctor.files.safe_dir import is_temp_name
from mnist_doctor.text.units import human_bytes

#: Read size for hashing: large enough that per-call overhead vanishes next to SHA-256 itself.
CHUNK = 1 << 20
HEAD_BYTES = 512
SHA256_ENV = "MNIST_DOCTOR_SHA256"
SIZE_ENV = "MNIST_DOCTOR_SIZE"

# Verdicts for one copy.
MISSING = "missing"
OK = "ok"
DIRECTORY = "directory"
DANGLING_LINK = "dangling-link"
NOT_REGULAR = "not-a-file"
UNREADABLE = "unreadable"
EMPTY = "empty"
HTML = "html"
TRUNCATED = "truncated"
CORRUPT = "corrupt"
OTHER_MNIST = "different-valid-mnist"
NOT_MNIST = "not-mnist"
TOO_LARGE = "too-large"
ZIP_BOMB = "zip-bomb"
#: A well-formed file of the right kind whose hash is not the pinned one.
MISMATCH = "not-pinned"
#: Verdicts that say "a complete file, just not the pinned one" (the hint is where to get that one).
NOT_THE_PINNED = (OTHER_MNIST, MISMATCH)

#: What Keras does with a copy of each verdict that makes load_data break or that it must throw away.
BROKEN = {
    DIRECTORY: "Keras crashes on it (IsADirectoryError)",
    DANGLING_LINK: "Keras will download through the link into its target",
    NOT_REGULAR: "Keras cannot read it",
    UNREADABLE: "Keras cannot read it",
    EMPTY: "Keras discards it and must download again",
    HTML: "Keras discards it and must download again",
    TRUNCATED: "Keras discards it and must download again",
    CORRUPT: "Keras discards it and must download again",
    TOO_LARGE: "Keras hashes all of it, discards it and must download again",
    ZIP_BOMB: "Keras discards it (its hash differs) and must download again",
    NOT_MNIST: "Keras discards it and must download again",
}


def spec_from_env(spec: DatasetSpec, env: dict[str, str] | None = None) -> DatasetSpec:
    """Test hook: ``MNIST_DOCTOR_SHA256`` / ``MNIST_DOCTOR_SIZE`` replace the pinned hash and size.

    Lets CLI subprocess tests ``--seed``/``--fetch`` a synthetic file whose hash they computed
    (the real file cannot be downloaded in CI). Both must be set together; bad values are a
    usage error, never a traceback.
    """
    values: Mapping[str, str] = os.environ if env is None else env
    sha, size = values.get(SHA256_ENV), values.get(SIZE_ENV)
    if sha is None and size is None:
        return spec
    if not sha or not size:
        raise UsageError(
            f"{SHA256_ENV} and {SIZE_ENV} must be set together", hint=f"unset {SHA256_ENV} {SIZE_ENV}"
        )
    sha = sha.strip().lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise UsageError(
            f"{SHA256_ENV} is not a sha256 (64 hex digits)",
            hint=f"sha256sum FILE, then export {SHA256_ENV}=...",
        )
    try:
        size_value = int(size)
    except ValueError:
        raise UsageError(
            f"{SIZE_ENV}={size!r} is not a number of bytes", hint=f"export {SIZE_ENV}=$(stat -c %s FILE)"
        ) from None
    if size_value < 0:
        raise UsageError(f"{SIZE_ENV} must not be negative")
    return spec.with_file(sha, size_value)


def sha256_stream(handle: IO[bytes], limit: int | None = None) -> str:
    """Chunked sha256 from the start of ``handle`` with a reused buffer; reads at most ``limit`` bytes."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    handle.seek(0)
    left = limit
    while left is None or left > 0:
        count = handle.readinto(buffer)  # type: ignore[attr-defined]  # callers pass binary files
        if not count:
            break
        if left is not None:
            count = min(count, left)
            left -= count
        digest.update(view[:count])
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Chunked sha256 of a file (hashlib drops the GIL on large updates)."""
    with open(path, "rb", buffering=0) as handle:
        return sha256_stream(handle)


def digests(handle: IO[bytes], limit: int, want_md5: bool) -> tuple[str, str]:
    """sha256 (and md5 when asked) of at most ``limit`` bytes from the start of ``handle``."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    handle.seek(0)
    left = limit
    while left > 0 and (chunk := handle.read(min(CHUNK, left))):
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


def pin_state(path: Path, sha256: str, size: int) -> str:
    """``ok``, ``missing``, ``not-a-file`` or ``differs`` (size first, then the hash); no link followed."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "not-a-file"
    if not stat.S_ISREG(info.st_mode):
        return "not-a-file"
    if info.st_size != size:
        return "differs"
    try:
        with path.open("rb") as handle:
            return "ok" if sha256_stream(handle) == sha256 else "differs"
    except OSError:
        return "not-a-file"


def head_kind(head: bytes) -> str:
    """What the first bytes look like: zip, html, xml, json, gzip, empty or other."""
    if not head:
        return "empty"
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text or b"<body" in text:
        return "html"
    if text.startswith(b"<?xml") or text.startswith(b"<error"):
        return "xml"
    if text.startswith((b"{", b"[")):
        return "json"
    return "other"


def mismatches(content: NpzContent, spec: DatasetSpec) -> list[str]:
    """How the archive differs from MNIST's layout; empty when it is a valid MNIST."""
    if content.error:
        return [content.error]
    out = []
    wanted = {a.name for a in spec.arrays}
    if set(content.arrays) != wanted:
        out.append(f"keys {sorted(content.arrays)} instead of {sorted(wanted)}")
    for want in spec.arrays:
        got = content.arrays.get(want.name)
        if got is None:
            continue
        if got.shape != want.shape:
            out.append(f"{want.name} has shape {got.shape}, MNIST has {want.shape}")
        if got.dtype != want.dtype:
            out.append(f"{want.name} is {got.dtype}, MNIST is {want.dtype}")
        if want.name.startswith("y_") and got.value_range is not None:
            low, high = got.value_range
            lo_want, hi_want = spec.label_range
            if low < lo_want or high > hi_want:
                out.append(f"{want.name} labels span {low}..{high}, MNIST has {lo_want}..{hi_want}")
    return out


def read_content(path: str | os.PathLike[str], spec: DatasetSpec = MNIST) -> NpzContent:
    """The archive's arrays, inflating at most what ``spec``'s arrays need (see npz_stream)."""
    with open(path, "rb") as handle:
        return read_archive(handle, spec.unpacked_limit())


def partial_files(folder: Path, file_name: str) -> list[Path]:
    """Leftovers of interrupted seeds or fetches: the doctor's own ``.mnist.npz.<token>.part`` files.

    Keras writes straight to ``mnist.npz`` and removes it on failure, so it leaves no other
    name; ``mnist.npz.bak`` and friends are the user's and are never listed as partials.
    """
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(folder / name for name in names if is_temp_name(name, file_name))


@dataclass
class CopyReport:
    """The verdict on one ``mnist.npz``; ``verdict`` is one of the module constants."""

    path: Path
    verdict: str
    summary: str
    size: int | None = None
    sha256: str | None = None
    head: str | None = None
    link_target: str | None = None
    content: NpzContent | None = None
    partials: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict == OK

    @property
    def present(self) -> bool:
        return self.verdict != MISSING

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "verdict": self.verdict,
            "summary": self.summary,
            "size": self.size,
            "sha256": self.sha256,
            "head": self.head,
            "link_target": self.link_target,
            "partials": [str(p) for p in self.partials],
        }


def _open(path: Path, report: CopyReport) -> IO[bytes] | None:
    """Open ``path`` as Keras would (following a link) without blocking on a FIFO.

    ``None`` with ``report`` filled when there is no regular file to read (missing, a dangling
    link, a folder, a FIFO, unreadable).
    """
    try:
        link_stat = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        report.verdict, report.summary = UNREADABLE, f"cannot stat it: {exc.strerror}"
        return None
    if stat.S_ISLNK(link_stat.st_mode):
        report.link_target = os.readlink(path)
        if not os.path.exists(path):
            report.verdict = DANGLING_LINK
            report.summary = f"a symlink to {report.link_target}, which does not exist"
            return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        report.verdict, report.summary = DIRECTORY, "a directory sits where the file should be"
        return None
    except OSError as exc:
        report.verdict, report.summary = UNREADABLE, f"cannot read it: {exc.strerror}"
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            report.verdict, report.summary = DIRECTORY, "a directory sits where the file should be"
        else:
            report.verdict, report.summary = NOT_REGULAR, "not a regular file (a FIFO, socket or device)"
        return None
    report.size = st.st_size
    return os.fdopen(fd, "rb", buffering=0)


def inspect_file(
    path: str | os.PathLike[str],
    spec: DatasetSpec,
    kind: str = "npz",
    md5: str = "",
    *,
    with_partials: bool = True,
) -> CopyReport:
    """The verdict on ``path`` as the dataset file ``spec`` of ``kind`` (see ``file_kinds.KINDS``).

    ``md5`` is the hash Keras pins for a word index (its sha256 is not in the table).
    """
    path = Path(path)
    partials = partial_files(path.parent, path.name) if with_partials else []
    report = CopyReport(path, MISSING, "not present", partials=partials)
    handle = _open(path, report)
    if handle is None:
        return report
    with handle:
        try:
            return inspect_stream(handle, report.size or 0, spec, report, kind, md5)
        except OSError as exc:
            report.verdict, report.summary = UNREADABLE, f"cannot read it: {exc.strerror or exc}"
            return report


def inspect_data_file(
    path: str | os.PathLike[str], data_file: DataFile, *, with_partials: bool = True
) -> CopyReport:
    """:func:`inspect_file` for one file of the dataset table (its spec, kind and md5 pin)."""
    md5 = data_file.md5 if not data_file.spec.sha256 else ""
    return inspect_file(path, data_file.spec, data_file.kind, md5, with_partials=with_partials)


def judge_stream(handle: IO[bytes], size: int, data_file: DataFile) -> CopyReport:
    """What ``--seed``/``--fetch`` received (the open regular file ``handle`` of ``size`` bytes)."""
    spec = data_file.spec
    report = CopyReport(Path(spec.file_name), MISSING, "")
    md5 = data_file.md5 if not spec.sha256 else ""
    try:
        return inspect_stream(handle, size, spec, report, data_file.kind, md5)
    except OSError as exc:
        report.verdict, report.summary = UNREADABLE, f"cannot read it: {exc.strerror or exc}"
        return report


def is_pinned(path: Path, data_file: DataFile) -> bool:
    """The pinned file is at ``path`` (followed through a link, as Keras does)."""
    if data_file.kind == "npz" and data_file.spec.arrays:
        return inspect_file(path, data_file.spec, with_partials=False).ok
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size != data_file.spec.size:
            return False
        sha, md5 = digests(handle, st.st_size, want_md5=not data_file.spec.sha256)
        return matches(data_file, st.st_size, sha, md5)


def inspect_stream(
    handle: IO[bytes], size: int, spec: DatasetSpec, report: CopyReport, kind: str = "npz", md5: str = ""
) -> CopyReport:
    """The verdict on the open regular file ``handle`` of ``size`` bytes, filled into ``report``."""
    if kind == "npz" and spec.arrays:
        return _inspect_npz(handle, size, spec, report)
    report.size = size
    if size > spec.max_file_size:
        report.verdict = TOO_LARGE
        expected = human_bytes(spec.size)
        report.summary = f"{human_bytes(size)}, far larger than the file ({expected}): not the file, not read"
        return report
    handle.seek(0)
    head = handle.read(HEAD_BYTES)
    report.head = head_kind(head)
    if md5:
        _, digest = digests(handle, spec.max_file_size + 1, want_md5=True)
        if digest == md5.lower():
            report.verdict, report.summary = OK, f"{human_bytes(size)}, md5 matches the one Keras pins"
            return report
    elif spec.sha256:
        report.sha256 = sha256_stream(handle, spec.max_file_size + 1)
        if report.sha256 == spec.sha256:
            report.verdict, report.summary = OK, f"{human_bytes(size)}, sha256 matches"
            return report
    if report.head == "empty":
        report.verdict, report.summary = EMPTY, "an empty file (0 bytes)"
        return report
    wanted = EXPECTED_HEAD.get(kind, "other")
    label = LABELS.get(kind, kind)
    if report.head in ("html", "xml") or (report.head == "json" and wanted != "json"):
        report.verdict = HTML
        report.summary = (
            f"a {report.head.upper()} page of {size} bytes, not a {label} "
            "(an error or login page saved by a proxy, captive portal or mirror)"
        )
        return report
    if report.head != wanted and kind != "json":
        report.verdict = CORRUPT
        report.summary = f"{size} bytes that are not a {label} (first bytes {head[:8]!r})"
        return report
    handle.seek(0)
    problem, bomb = structure_problem(kind, handle, spec)
    if bomb:
        report.verdict, report.summary = ZIP_BOMB, problem
    elif problem and size < spec.size:
        report.verdict, report.summary = TRUNCATED, f"truncated: {size} of {spec.size} bytes ({problem})"
    elif problem:
        report.verdict, report.summary = CORRUPT, f"corrupt: {problem}"
    else:
        report.verdict = MISMATCH
        report.summary = f"a well-formed {label} ({human_bytes(size)}) but not the pinned one (hash differs)"
    return report


def _inspect_npz(handle: IO[bytes], size: int, spec: DatasetSpec, report: CopyReport) -> CopyReport:
    """The deep verdict on an archive whose arrays the spec knows (MNIST): a wrong MNIST is named.

    Bounded: a file much larger than the dataset is judged by its size alone (never hashed),
    and the archive is read by :mod:`mnist_doctor.datasets.npz_reading` with an inflate cap.
    """
    report.size = size
    if size > spec.max_file_size:
        report.verdict = TOO_LARGE
        expected = human_bytes(spec.size)
        report.summary = (
            f"{human_bytes(size)}, far larger than the dataset ({expected}): not the file, not read"
        )
        return report
    try:
        handle.seek(0)
        head = handle.read(HEAD_BYTES)
        report.sha256 = sha256_stream(handle, spec.max_file_size + 1)
    except OSError as exc:
        report.verdict, report.summary = UNREADABLE, f"cannot read it: {exc.strerror}"
        return report
    report.head = head_kind(head)
    if report.sha256 == spec.sha256:
        report.verdict, report.summary = OK, f"{human_bytes(report.size)}, sha256 matches"
        return report
    if report.head == "empty":
        report.verdict, report.summary = EMPTY, "an empty file (0 bytes)"
        return report
    if report.head in ("html", "xml", "json"):
        report.verdict = HTML
        report.summary = (
            f"a {report.head.upper()} page of {report.size} bytes, not a zip archive "
            "(an error or login page saved by a proxy, captive portal or mirror)"
        )
        return report
    if report.head != "zip":
        report.verdict = CORRUPT
        report.summary = f"{report.size} bytes that are not a zip archive (first bytes {head[:8]!r})"
        return report
    handle.seek(0)
    report.content = read_archive(handle, spec.unpacked_limit())
    problems = mismatches(report.content, spec)
    handle.seek(0)
    if report.content.bomb:
        report.verdict, report.summary = ZIP_BOMB, f"{report.content.error} (not MNIST)"
    elif report.content.error and report.size < spec.size and not zipfile.is_zipfile(handle):
        report.verdict = TRUNCATED
        report.summary = f"truncated: {report.size} of {spec.size} bytes ({report.content.error})"
    elif report.content.error:
        report.verdict, report.summary = CORRUPT, f"corrupt: {report.content.error}"
    elif problems:
        report.verdict, report.summary = NOT_MNIST, "a valid npz, but not MNIST: " + "; ".join(problems)
    else:
        report.verdict = OTHER_MNIST
        report.summary = (
            f"a valid MNIST-shaped archive ({human_bytes(report.size)}) but not the pinned file "
            "(sha256 differs): Keras discards it and downloads again"
        )
    return report
