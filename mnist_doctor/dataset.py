"""THE dataset spec: the single place that says what a correct ``mnist.npz`` is.

Values are those of Keras 3, Keras 2 and tf-keras alike (``keras/.../datasets/mnist.py``).
Tests and ``--seed`` of synthetic files use :meth:`DatasetSpec.with_file` to build a spec
for a file whose hash they computed themselves; nothing else hard-codes these numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

ORIGIN_ENV = "MNIST_DOCTOR_ORIGIN"
#: A file larger than the dataset by more than this is refused by its size alone, unread
#: (an uncompressed ``np.savez`` of MNIST, 55 MB, still gets a real verdict).
FILE_SIZE_MARGIN = 64 << 20
#: A download may run this far past the expected size before it is cut off (a proxy's trailer).
DOWNLOAD_MARGIN = 64 << 10
#: Item sizes of the dtypes a spec may name (for :meth:`DatasetSpec.unpacked_limit`).
_ITEMSIZE = {"uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "int32": 4, "int64": 8, "float32": 4}
DEFAULT_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


@dataclass(frozen=True)
class ArraySpec:
    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class DatasetSpec:
    origin: str
    file_name: str
    sha256: str
    size: int
    arrays: tuple[ArraySpec, ...] = field(default=())
    label_range: tuple[int, int] = (0, 9)

    @property
    def host(self) -> str:
        return urlsplit(self.origin).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.origin)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def scheme(self) -> str:
        return urlsplit(self.origin).scheme

    @property
    def max_file_size(self) -> int:
        """Beyond this a file is refused by size without reading a byte (no 40 s hash of 20 GB)."""
        return self.size + FILE_SIZE_MARGIN

    @property
    def max_download(self) -> int:
        """A download stops here: an endless body must not fill the disk."""
        return self.size + DOWNLOAD_MARGIN

    def unpacked_limit(self) -> int:
        """The most bytes the arrays can inflate to (shape × item size, plus header room).

        An archive that declares or inflates to more is a zip bomb, not MNIST (55 MB).
        """
        total = 1 << 20
        for array in self.arrays:
            count = 1
            for n in array.shape:
                count *= n
            total += count * _ITEMSIZE.get(array.dtype, 8) + 4096
        return total

    def with_origin(self, origin: str) -> DatasetSpec:
        """Same file, fetched from a mirror (``--origin`` / ``--mirror``)."""
        return replace(self, origin=origin)

    def with_file(self, sha256: str, size: int) -> DatasetSpec:
        """A spec for another file (synthetic test data); shapes stay those of MNIST."""
        return replace(self, sha256=sha256, size=size)


MNIST = DatasetSpec(
    origin=DEFAULT_ORIGIN,
    file_name="mnist.npz",
    sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    size=11_490_434,
    arrays=(
        ArraySpec("x_train", (60000, 28, 28), "uint8"),
        ArraySpec("y_train", (60000,), "uint8"),
        ArraySpec("x_test", (10000, 28, 28), "uint8"),
        ArraySpec("y_test", (10000,), "uint8"),
    ),
)

#: First bytes of a zip archive (an ``.npz`` is one).
ZIP_MAGIC = b"PK\x03\x04"


def file_url(url: str, file_name: str = MNIST.file_name) -> str:
    """The URL of the dataset file: a folder URL (ending in ``/``) gets the file name appended.

    THE completion rule for every URL a user gives (``--origin``, ``--mirror``,
    ``MNIST_DOCTOR_ORIGIN``): a mirror's folder listing is not the dataset. Only a URL with a
    host and a path ending in ``/`` is a folder; anything malformed is left for the URL checks.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    is_folder = bool(parts.netloc) and parts.path.endswith("/") and not parts.query and not parts.fragment
    return url + file_name if is_folder else url


def dataset_spec(origin: str | None = None) -> DatasetSpec:
    """The spec in force: ``--origin`` beats ``MNIST_DOCTOR_ORIGIN`` beats the Keras default."""
    chosen = origin or os.environ.get(ORIGIN_ENV)
    return MNIST.with_origin(file_url(chosen)) if chosen else MNIST
