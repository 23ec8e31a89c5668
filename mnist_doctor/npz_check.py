"""Is this ``mnist.npz`` the file Keras expects — and if not, what is it instead?

Keras only compares a sha256 and then says "incomplete or corrupted". The doctor names
the cause: an HTML or XML page saved by a proxy, a truncated download, an empty file, a
folder or a dangling symlink in the file's place, leftovers of interrupted downloads, or
a perfectly valid MNIST that is simply not the file whose hash Keras pins (which Keras
would throw away and download again). Only the file system is involved, so this runs in
the doctor's own process. numpy is imported lazily and only to read arrays with
``allow_pickle=False``; if numpy itself is broken, a standard-library parse of the zip and
the ``.npy`` headers gives the same verdict.
"""

from __future__ import annotations

import ast
import hashlib
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_doctor.dataset import ZIP_MAGIC, DatasetSpec
from mnist_doctor.errors import UsageError

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


def spec_from_env(spec: DatasetSpec, env: dict[str, str] | None = None) -> DatasetSpec:
    """Test hook: ``MNIST_DOCTOR_SHA256`` / ``MNIST_DOCTOR_SIZE`` replace the pinned hash and size.

    Lets CLI subprocess tests ``--seed``/``--fetch`` a synthetic file whose hash they computed
    (the real file cannot be downloaded in CI). Both must be set together; bad values are a
    usage error, never a traceback.
    """
    env = os.environ if env is None else env
    sha, size = env.get(SHA256_ENV), env.get(SIZE_ENV)
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


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Chunked sha256 with a reused buffer (no per-chunk allocation; hashlib drops the GIL)."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()


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


@dataclass
class ArrayInfo:
    shape: tuple[int, ...]
    dtype: str
    value_range: tuple[int, int] | None = None


@dataclass
class NpzContent:
    """What the archive holds, read without unpickling anything."""

    reader: str  # "numpy" or "stdlib"
    arrays: dict[str, ArrayInfo] = field(default_factory=dict)
    error: str | None = None

    def mismatches(self, spec: DatasetSpec) -> list[str]:
        """How it differs from MNIST's layout; empty when it is a valid MNIST."""
        if self.error:
            return [self.error]
        out = []
        wanted = {a.name for a in spec.arrays}
        if set(self.arrays) != wanted:
            out.append(f"keys {sorted(self.arrays)} instead of {sorted(wanted)}")
        for want in spec.arrays:
            got = self.arrays.get(want.name)
            if got is None:
                continue
            if got.shape != want.shape:
                out.append(f"{want.name} has shape {got.shape}, MNIST has {want.shape}")
            if got.dtype != want.dtype:
                out.append(f"{want.name} is {got.dtype}, MNIST is {want.dtype}")
            if want.name.startswith("y_") and got.value_range is not None:
                low, high = got.value_range
                lo_want, hi_want = spec.label_range
                if low < spec.label_range[0] or high > spec.label_range[1]:
                    out.append(f"{want.name} labels span {low}..{high}, MNIST has {lo_want}..{hi_want}")
        return out


def read_with_numpy(path: Path) -> NpzContent:
    """Open like Keras 3.15 does (``allow_pickle=False``) and describe every array."""
    import numpy as np  # lazy: a broken numpy must not break the doctor

    content = NpzContent("numpy")
    try:
        with np.load(path, allow_pickle=False) as archive:
            for name in archive.files:
                array = archive[name]
                value_range = None
                if name.startswith("y_") and array.size and array.dtype.kind in "iu":
                    value_range = (int(array.min()), int(array.max()))
                content.arrays[name] = ArrayInfo(
                    tuple(int(n) for n in array.shape), str(array.dtype), value_range
                )
    except Exception as exc:  # BadZipFile, EOFError, ValueError (pickled object), OSError...
        content.error = f"numpy cannot read it: {type(exc).__name__}: {exc}"
    return content


_DESCR_DTYPES = {
    "|u1": "uint8",
    "<u1": "uint8",
    "|i1": "int8",
    "<i8": "int64",
    "<i4": "int32",
    "<u2": "uint16",
    "<f4": "float32",
    "<f8": "float64",
}


def read_with_stdlib(path: Path) -> NpzContent:
    """Fallback when numpy cannot be imported: zip directory + CRCs + ``.npy`` headers."""
    content = NpzContent("stdlib")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            if bad:
                content.error = f"zip member {bad} fails its CRC check"
                return content
            for member in archive.namelist():
                name = member[:-4] if member.endswith(".npy") else member
                with archive.open(member) as handle:
                    info, data_offset = _npy_header(handle.read(4096))
                if info is None:
                    content.error = f"{member} is not a .npy array"
                    return content
                if name.startswith("y_") and info.dtype == "uint8":
                    payload = archive.read(member)[data_offset:]
                    if payload:
                        info.value_range = (min(payload), max(payload))
                content.arrays[name] = info
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        content.error = f"not a readable zip archive: {type(exc).__name__}: {exc}"
    return content


def _npy_header(raw: bytes) -> tuple[ArrayInfo | None, int]:
    if not raw.startswith(b"\x93NUMPY") or len(raw) < 10:
        return None, 0
    major = raw[6]
    if major == 1:
        length, start = int.from_bytes(raw[8:10], "little"), 10
    else:
        length, start = int.from_bytes(raw[8:12], "little"), 12
    try:
        header: dict[str, Any] = ast.literal_eval(raw[start : start + length].decode("latin1"))
    except (ValueError, SyntaxError):
        return None, 0
    descr = str(header.get("descr"))
    dtype = _DESCR_DTYPES.get(descr, descr)
    return ArrayInfo(tuple(header.get("shape", ())), dtype), start + length


def read_content(path: Path) -> NpzContent:
    try:
        import numpy  # noqa: F401
    except Exception:  # a broken numpy (ABI mismatch...) raises more than ImportError
        return read_with_stdlib(path)
    return read_with_numpy(path)


def partial_files(folder: Path, file_name: str) -> list[Path]:
    """Leftovers of interrupted downloads or seeds: ``mnist.npz.*`` and ``.mnist.npz.*``."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    prefixes = (file_name + ".", "." + file_name + ".")
    return sorted(Path(e.path) for e in entries if e.name.startswith(prefixes))


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


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def inspect_copy(path: str | os.PathLike[str], spec: DatasetSpec, with_partials: bool = True) -> CopyReport:
    """Examine ``path`` as the dataset file and say exactly what is wrong with it, if anything."""
    path = Path(path)
    partials = partial_files(path.parent, path.name) if with_partials else []
    report = CopyReport(path, MISSING, "not present", partials=partials)
    try:
        link_stat = path.lstat()
    except FileNotFoundError:
        return report
    except OSError as exc:
        report.verdict, report.summary = UNREADABLE, f"cannot stat it: {exc.strerror}"
        return report
    if stat.S_ISLNK(link_stat.st_mode):
        report.link_target = os.readlink(path)
        if not path.exists():
            report.verdict = DANGLING_LINK
            report.summary = f"a symlink to {report.link_target}, which does not exist"
            return report
    target_stat = path.stat()
    if stat.S_ISDIR(target_stat.st_mode):
        report.verdict, report.summary = DIRECTORY, "a directory sits where the file should be"
        return report
    if not stat.S_ISREG(target_stat.st_mode):
        report.verdict, report.summary = NOT_REGULAR, "not a regular file"
        return report
    report.size = target_stat.st_size
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
        report.sha256 = sha256_file(path)
    except OSError as exc:
        report.verdict, report.summary = UNREADABLE, f"cannot read it: {exc.strerror}"
        return report
    report.head = head_kind(head)
    if report.sha256 == spec.sha256:
        report.verdict, report.summary = OK, f"{_mb(report.size)}, sha256 matches"
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
    report.content = read_content(path)
    problems = report.content.mismatches(spec)
    if report.content.error and report.size < spec.size and not zipfile.is_zipfile(path):
        report.verdict = TRUNCATED
        report.summary = f"truncated: {report.size} of {spec.size} bytes ({report.content.error})"
    elif report.content.error:
        report.verdict, report.summary = CORRUPT, f"corrupt: {report.content.error}"
    elif problems:
        report.verdict, report.summary = NOT_MNIST, "a valid npz, but not MNIST: " + "; ".join(problems)
    else:
        report.verdict = OTHER_MNIST
        report.summary = (
            f"a valid MNIST-shaped archive ({_mb(report.size)}) but not the pinned file "
            "(sha256 differs): Keras discards it and downloads again"
        )
    return report
