"""Synthetic files for every ``keras.datasets`` loader: the real layouts, tiny, never the real bytes.

Each writer makes a file of the kind the dataset table names (``npz``, ``idx-gz``, ``json``,
``tar-gz``) that the loader's own code can read; :func:`pins_env` turns a set of them into the
``MNIST_DOCTOR_PINS`` test hook so the doctor (and ``--seed``/``--fetch``) take them as the
pinned files. Other helpers may add writers at the END of this module.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import tarfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mnist_doctor.datasets.table import table

PINS_ENV = "MNIST_DOCTOR_PINS"
#: Protocol 3 writes bytes keys as bytes; protocol 2 spells them ``_codecs.encode(...)``, which the
#: restricted unpickler of Keras >= 3.15 refuses (it allows only numpy's array globals).
PICKLE_PROTOCOL = 3


def pin(path: Path) -> tuple[str, int]:
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), len(data)


def pins_json(paths: Iterable[Path]) -> str:
    """The ``MNIST_DOCTOR_PINS`` value pinning each file (by its name) to its own sha256 and size."""
    return json.dumps({p.name: list(pin(p)) for p in paths})


def pins_env(paths: Iterable[Path]) -> dict[str, str]:
    """``{"MNIST_DOCTOR_PINS": ...}`` for these files."""
    return {PINS_ENV: pins_json(paths)}


def idx_bytes(shape: tuple[int, ...], seed: int = 0) -> bytes:
    """An IDX array of unsigned bytes (magic 0x0801 for 1 dimension, 0x0803 for 3)."""
    rng = np.random.default_rng(seed)
    header = (0x800 + len(shape)).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in shape)
    count = int(np.prod(shape))
    return header + rng.integers(0, 10 if len(shape) == 1 else 256, count, dtype=np.uint8).tobytes()


def write_idx_gz(path: Path, shape: tuple[int, ...], seed: int = 0) -> Path:
    path.write_bytes(gzip.compress(idx_bytes(shape, seed), mtime=0))
    return path


def write_fashion_mnist(folder: Path, n_train: int = 12, n_test: int = 6, seed: int = 0) -> dict[str, Path]:
    """The four ``.gz`` files fashion_mnist.load_data() reads, with a few 28x28 images each."""
    folder.mkdir(parents=True, exist_ok=True)
    shapes = {
        "train-labels-idx1-ubyte.gz": (n_train,),
        "train-images-idx3-ubyte.gz": (n_train, 28, 28),
        "t10k-labels-idx1-ubyte.gz": (n_test,),
        "t10k-images-idx3-ubyte.gz": (n_test, 28, 28),
    }
    return {
        name: write_idx_gz(folder / name, shape, seed + i) for i, (name, shape) in enumerate(shapes.items())
    }


def write_npz(path: Path, seed: int = 0) -> Path:
    """A small npz with x_train/y_train/x_test/y_test (what imdb, reuters and the housing sets hold)."""
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        x_train=rng.random((8, 4)).astype(np.float32),
        y_train=rng.random(8).astype(np.float32),
        x_test=rng.random((4, 4)).astype(np.float32),
        y_test=rng.random(4).astype(np.float32),
    )
    return path


def write_word_index(path: Path) -> Path:
    path.write_text(json.dumps({"the": 1, "and": 2, "a": 3}), encoding="utf-8")
    return path


def _batch(n: int, seed: int, labels_key: bytes = b"labels") -> bytes:
    rng = np.random.default_rng(seed)
    content = {
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        labels_key: [i % 10 for i in range(n)],
    }
    return pickle.dumps(content, protocol=PICKLE_PROTOCOL)


def cifar_members(dataset: str, n: int = 4) -> dict[str, bytes]:
    """Member name -> bytes of a tiny cifar10/cifar100 archive (pickled dicts as load_batch reads)."""
    archive = table()[dataset].archive
    assert archive is not None
    out = {}
    for i, name in enumerate(archive.members):
        if name in ("batches.meta", "meta"):
            out[name] = pickle.dumps(
                {b"label_names": [b"a", b"b"], b"fine_label_names": [b"a"]}, protocol=PICKLE_PROTOCOL
            )
        elif dataset == "cifar100":
            content = pickle.loads(_batch(n, i))
            content[b"fine_labels"] = content[b"coarse_labels"] = content.pop(b"labels")
            out[name] = pickle.dumps(content, protocol=PICKLE_PROTOCOL)
        else:
            out[name] = _batch(n, i)
    return out


def write_cifar_tar_gz(path: Path, dataset: str = "cifar10") -> Path:
    """A ``.tar.gz`` with the members of ``Archive.members`` under ``Archive.inner/``."""
    archive = table()[dataset].archive
    assert archive is not None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in cifar_members(dataset).items():
            info = tarfile.TarInfo(f"{archive.inner}/{name}")
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return path


def extract_members(folder: Path, dataset: str = "cifar10", only: Iterable[str] | None = None) -> Path:
    """Write the members into ``folder`` (all, or ``only`` these: a half-extracted folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set(only) if only is not None else None
    for name, data in cifar_members(dataset).items():
        if wanted is None or name in wanted:
            (folder / name).write_bytes(data)
    return folder
