"""Read an ``.npz`` archive's layout with bounded memory and work, without numpy.

Why not ``np.load``: it inflates a whole member into memory, so a zip bomb named
``mnist.npz`` (a few kB that inflate to gigabytes) costs gigabytes of RAM before any
verdict. Here the zip central directory is read first and every member's *declared*
size is compared with what MNIST can possibly need (its arrays' shapes × item sizes);
a member that declares more, or an archive whose members add up to more, is reported
as a zip bomb without inflating a byte. Members are then streamed in fixed chunks, with
the number of inflated bytes capped by the declared size (``zipfile`` stops there) and
by the cap, so the CRC is verified and the labels' range computed in constant memory.
Nothing is ever unpickled: an ``object`` dtype is reported, not loaded.
"""

from __future__ import annotations

import ast
import sys
import zipfile
from dataclasses import dataclass, field
from typing import IO, Any

#: Inflate in chunks of this size: memory stays flat whatever the archive claims.
CHUNK = 1 << 20
#: A ``.npy`` header longer than this is not one numpy writes for a plain array.
MAX_HEADER = 1 << 16
#: An archive with more members than this is not an MNIST npz (four arrays).
MAX_MEMBERS = 64
#: Per-member allowance on top of the array bytes (the ``.npy`` header and padding).
HEADER_ALLOWANCE = 4096

_ITEMSIZE = {"uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "uint32": 4, "int32": 4}
_ITEMSIZE.update({"uint64": 8, "int64": 8, "float16": 2, "float32": 4, "float64": 8, "bool": 1})

_DESCR_DTYPES = {
    "|u1": "uint8",
    "<u1": "uint8",
    "|i1": "int8",
    "<i1": "int8",
    "|b1": "bool",
    "<u2": "uint16",
    "<i2": "int16",
    "<u4": "uint32",
    "<i4": "int32",
    "<u8": "uint64",
    "<i8": "int64",
    "<f2": "float16",
    "<f4": "float32",
    "<f8": "float64",
}
#: ``memoryview.cast`` formats for the integer dtypes whose value range is computed.
_CAST = {"uint8": "B", "int8": "b", "uint16": "H", "int16": "h", "uint32": "I", "int32": "i"}
_CAST.update({"uint64": "Q", "int64": "q"})


class ZipBomb(Exception):
    """The archive claims (or inflates to) more than MNIST can need; nothing more was read."""


@dataclass
class ArrayInfo:
    shape: tuple[int, ...]
    dtype: str
    value_range: tuple[int, int] | None = None


@dataclass
class NpzContent:
    """What the archive holds, read without unpickling anything."""

    reader: str = "stdlib"
    arrays: dict[str, ArrayInfo] = field(default_factory=dict)
    error: str | None = None
    #: True when the error is a zip bomb (declared or inflated sizes beyond the cap).
    bomb: bool = False
    #: Bytes inflated while reading (the work done; never above the cap).
    inflated: int = 0


def _gb(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"


def npy_header(raw: bytes) -> tuple[ArrayInfo | None, int, str]:
    """(array info, offset of the data, error) from the first bytes of a ``.npy`` member."""
    if not raw.startswith(b"\x93NUMPY") or len(raw) < 10:
        return None, 0, "is not a .npy array"
    major = raw[6]
    if major == 1:
        length, start = int.from_bytes(raw[8:10], "little"), 10
    elif major in (2, 3) and len(raw) >= 12:
        length, start = int.from_bytes(raw[8:12], "little"), 12
    else:
        return None, 0, f"has an unknown .npy format version {major}"
    if start + length > min(len(raw), MAX_HEADER + 12):
        return None, 0, "has a .npy header that is cut short or absurdly long"
    try:
        header: Any = ast.literal_eval(raw[start : start + length].decode("latin1"))
        shape = tuple(int(n) for n in header["shape"])
        descr = str(header["descr"])
    except (ValueError, SyntaxError, KeyError, TypeError, RecursionError, MemoryError):
        return None, 0, "has an unreadable .npy header"
    if any(n < 0 for n in shape):
        return None, 0, "has a negative dimension in its .npy header"
    if "O" in descr:
        return (
            None,
            0,
            "holds pickled Python objects (dtype object): Keras 3.15+ loads with allow_pickle=False "
            "and refuses it, and unpickling could run code",
        )
    return ArrayInfo(shape, _DESCR_DTYPES.get(descr, descr)), start + length, ""


def _payload_bytes(info: ArrayInfo) -> int | None:
    size = _ITEMSIZE.get(info.dtype)
    if size is None:
        return None
    count = 1
    for n in info.shape:
        count *= n
    return count * size


class _Range:
    """Running min/max of an integer array streamed in chunks of arbitrary length."""

    def __init__(self, dtype: str) -> None:
        self.fmt = _CAST.get(dtype) if sys.byteorder == "little" else None
        self.itemsize = _ITEMSIZE.get(dtype, 1)
        self.low: int | None = None
        self.high: int | None = None
        self.rest = b""

    def feed(self, data: bytes) -> None:
        if self.fmt is None:
            return
        data = self.rest + data
        usable = len(data) - len(data) % self.itemsize
        self.rest = data[usable:]
        if not usable:
            return
        values = memoryview(data)[:usable].cast(self.fmt)  # type: ignore[call-overload]  # fmt is a struct code
        low, high = min(values), max(values)
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)

    def result(self) -> tuple[int, int] | None:
        return None if self.low is None or self.high is None else (self.low, self.high)


def read_archive(stream: IO[bytes], unpacked_limit: int) -> NpzContent:
    """Describe every array of the npz in ``stream``, inflating at most ``unpacked_limit`` bytes.

    ``unpacked_limit`` is what MNIST's arrays need (see :meth:`DatasetSpec.unpacked_limit`).
    Errors — a broken zip, a CRC mismatch, a bomb — are returned in ``error``, never raised.
    """
    content = NpzContent()
    try:
        with zipfile.ZipFile(stream) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                content.error = f"an archive of {len(members)} members, not MNIST's 4 arrays"
                return content
            declared = sum(m.file_size for m in members)
            worst = max(members, key=lambda m: m.file_size, default=None)
            if worst is not None and declared > unpacked_limit:
                content.bomb = True
                content.error = (
                    f"a zip bomb: its members declare {_gb(declared)} once inflated ({worst.filename}: "
                    f"{_gb(worst.file_size)} from {worst.compress_size} compressed bytes), more than the "
                    f"{_gb(unpacked_limit)} MNIST can need; not inflated"
                )
                return content
            budget = unpacked_limit
            for member in members:
                budget = _read_member(archive, member, content, budget)
                if content.error:
                    return content
    except ZipBomb as exc:
        content.bomb, content.error = True, str(exc)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
    ) as exc:
        content.error = f"not a readable zip archive: {type(exc).__name__}: {exc}"
    except RuntimeError as exc:  # encrypted members
        content.error = f"a zip archive zipfile cannot read: {exc}"
    return content


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, content: NpzContent, budget: int) -> int:
    """Stream one member (CRC checked by zipfile at its end); returns the inflate budget left."""
    name = member.filename[:-4] if member.filename.endswith(".npy") else member.filename
    with archive.open(member) as handle:
        head = handle.read(min(MAX_HEADER + 12, budget + 1))
        budget -= len(head)
        info, offset, problem = npy_header(head)
        if info is None:
            content.error = f"{member.filename} {problem}"
            return budget
        payload = _payload_bytes(info)
        if payload is not None and offset + payload != member.file_size:
            content.error = (
                f"{member.filename} declares {member.file_size} bytes, but its header describes "
                f"{offset + payload} (shape {info.shape}, {info.dtype})"
            )
            return budget
        ranger = _Range(info.dtype) if name.startswith("y_") else None
        if ranger is not None:
            ranger.feed(head[offset:])
        while True:
            chunk = handle.read(min(CHUNK, budget + 1))
            if not chunk:
                break
            budget -= len(chunk)
            content.inflated += len(chunk)
            if budget < 0:
                raise ZipBomb(f"a zip bomb: {member.filename} inflates beyond what MNIST can need; stopped")
            if ranger is not None:
                ranger.feed(chunk)
        content.inflated += len(head)
    if ranger is not None:
        info.value_range = ranger.result()
    content.arrays[name] = info
    return budget
