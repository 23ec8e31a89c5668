"""THE dataset spec: the single place that says what a correct ``mnist.npz`` is.

Values are those of Keras 3, Keras 2 and tf-keras alike (``keras/.../datasets/mnist.py``).
Tests and ``--seed`` of synthetic files use :meth:`DatasetSpec.with_file` to build a spec
for a file whose hash they computed themselves; nothing else hard-codes these numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from mnist_doctor.network.urlcheck import url_problem

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
    """The MNIST spec pointed at ``origin`` (a folder URL completed), or Keras' own without one.

    Which origin is in force (``--origin``, ``MNIST_DOCTOR_ORIGIN`` or Keras' own) is decided
    once, by :func:`choose_origin`.
    """
    return MNIST.with_origin(file_url(origin)) if origin else MNIST


@dataclass(frozen=True)
class OriginChoice:
    """The dataset origin in force and where it comes from; an unusable variable is set aside.

    ``url`` is ``--origin`` (the command line refuses a bad one), else ``MNIST_DOCTOR_ORIGIN``
    when usable, else None: Keras' own URL. The variable is the doctor's own setting (the mirror
    its network checks test and ``--fetch`` downloads from); Keras never reads it. So an unusable
    value is not used: the checks test Keras' own URL, the one ``load_data()`` downloads from,
    and ``network.origin`` names the variable with its fix. An empty value counts as unset.
    """

    url: str | None
    #: ``--origin``, ``MNIST_DOCTOR_ORIGIN``, or "" for Keras' own URL.
    source: str
    #: The variable's value when it was set aside, and why.
    rejected: str | None = None
    problem: str | None = None


def choose_origin(flag: str | None, env: Mapping[str, str] | None = None) -> OriginChoice:
    """``--origin`` beats a usable ``MNIST_DOCTOR_ORIGIN`` beats Keras' own URL (:class:`OriginChoice`)."""
    if flag:
        return OriginChoice(flag, "--origin")
    value = (os.environ if env is None else env).get(ORIGIN_ENV) or ""
    if not value:
        return OriginChoice(None, "")
    problem = url_problem(value)
    if problem:
        return OriginChoice(None, "", rejected=value, problem=problem)
    return OriginChoice(value, ORIGIN_ENV)
