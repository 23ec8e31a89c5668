"""Synthetic files of the ``keras.datasets`` loaders: their formats, not their bytes (no download here).

Each builder writes one small file of one kind (an IDX array in gzip, a cifar-like tar.gz
with the members Keras reads), and :func:`pins_json` pins them for the doctor through the
``MNIST_DOCTOR_PINS`` test hook, so ``--seed`` and ``--fetch`` accept them as the real files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import struct
import tarfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

#: IDX type code of unsigned bytes (the only type the MNIST-like IDX files use).
_IDX_UBYTE = 0x08


def make_idx_gz(path: Path, shape: tuple[int, ...], seed: int = 0) -> Path:
    """A gzip of an IDX file: magic (0, 0, type, dims), one big-endian uint32 per dimension, bytes."""
    rng = np.random.default_rng(seed)
    payload = rng.integers(0, 10 if len(shape) == 1 else 256, shape, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, _IDX_UBYTE, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    path.write_bytes(gzip.compress(header + payload.tobytes(), mtime=0))
    return path


def make_fashion_files(folder: Path, seed: int = 0) -> dict[str, Path]:
    """The four Fashion-MNIST files by their Keras names, a few images each."""
    shapes = {
        "train-labels-idx1-ubyte.gz": (6,),
        "train-images-idx3-ubyte.gz": (6, 28, 28),
        "t10k-labels-idx1-ubyte.gz": (2,),
        "t10k-images-idx3-ubyte.gz": (2, 28, 28),
    }
    return {
        name: make_idx_gz(folder / name, shape, seed + i) for i, (name, shape) in enumerate(shapes.items())
    }


def _cifar_batch(rows: int, seed: int) -> bytes:
    """One pickled batch as keras' ``load_batch`` reads it: ``{b"data": uint8 (rows, 3072), labels}``."""
    rng = np.random.default_rng(seed)
    batch = {
        b"data": rng.integers(0, 256, (rows, 3072), dtype=np.uint8),
        b"labels": [int(x) for x in rng.integers(0, 10, rows)],
        b"fine_labels": [int(x) for x in rng.integers(0, 100, rows)],
        b"coarse_labels": [int(x) for x in rng.integers(0, 20, rows)],
    }
    # Protocol 3: bytes keys as bytes. Protocol 2 spells them ``_codecs.encode(...)``, which the
    # restricted unpickler of Keras >= 3.15 refuses (only numpy's array globals are allowed).
    return pickle.dumps(batch, protocol=3)


def make_cifar_tar_gz(path: Path, inner: str, members: Iterable[str], seed: int = 0) -> Path:
    """A cifar-like archive: ``inner/<member>`` for each member, two rows per batch."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for i, member in enumerate(members):
            data = _cifar_batch(2, seed + i)
            info = tarfile.TarInfo(f"{inner}/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return path


def pins_json(paths: Iterable[Path]) -> str:
    """``MNIST_DOCTOR_PINS`` for these files: ``{"name": ["<sha256>", size]}``."""
    pins = {}
    for path in paths:
        data = path.read_bytes()
        pins[path.name] = [hashlib.sha256(data).hexdigest(), len(data)]
    return json.dumps(pins)
