"""Small importable stand-ins for numpy, Keras 3 and TensorFlow, written into a real venv.

The doctor's import probe really imports them in a subprocess of the venv's interpreter,
so what it sees (a clean import, a hang, an ImportError with its traceback and the NumPy
ABI banner on stderr) is produced by real Python machinery — only the packages are tiny.
Their dist-info carries the real Requires-Dist lines the metadata checks read.

The fake TensorFlow resolves ``tf.keras`` the way TensorFlow >= 2.16 does
(``tensorflow/python/util/lazy_loader.py``): Keras 3 unless ``TF_USE_LEGACY_KERAS`` is
``1``/``true``/``True``; a missing ``keras`` raises ``ImportError("Keras cannot be
imported...")`` inside the handler (implicit ``__context__``), a missing ``tf_keras`` logs
TensorFlow's warning on stderr and raises the same message with no chain.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from testkit.fake_env import add_dist, make_venv, site_packages

TF_VERSION = "2.21.0"
TF_REQUIRES = ["numpy>=1.26.0", "keras>=3.12.0", "ml_dtypes<1.0.0,>=0.5.1", "h5py<3.15.0,>=3.11.0"]

#: The text NumPy 2 prints when a module compiled for NumPy 1.x imports it (as seen in the matrix).
NUMPY_BANNER = (
    "\nA module that was compiled using NumPy 1.x cannot be run in\n"
    "NumPy 2.4.6 as it may crash. To support both 1.x and 2.x\n"
    "versions of NumPy, modules must be compiled with NumPy 2.0.\n"
)

_ABI_RAISER = """
import sys
import traceback

sys.stderr.write({banner!r})
sys.stderr.write("\\nTraceback (most recent call last):\\n" + "".join(traceback.format_stack()))
sys.stderr.write("AttributeError: _ARRAY_API not found\\n")
raise ImportError("numpy.core._multiarray_umath failed to import")
"""

_TF_INIT = """
import os

__version__ = {version!r}
{body}


def __getattr__(name):
    if name != "keras":
        raise AttributeError(name)
    if os.environ.get("TF_USE_LEGACY_KERAS") in ("1", "true", "True"):
        try:
            import tf_keras as module
        except ImportError:
            import sys
            sys.stderr.write(
                "WARNING:tensorflow:Your environment has TF_USE_LEGACY_KERAS set to True, but you do not "
                "have the tf_keras package installed.\\n"
            )
            module = None
        if module is None:
            raise ImportError("Keras cannot be imported. Check that it is installed.")
        return module
    try:
        import keras as module
    except ImportError:
        raise ImportError("Keras cannot be imported. Check that it is installed.")
    return module
"""

#: What ``import tensorflow`` does besides defining tf.keras, by behaviour.
TF_BODIES = {
    "ok": "",
    "hang": "import time\ntime.sleep(120)",
    "fails": 'raise ImportError("fake TensorFlow refuses to import")',
    "imports-ml-dtypes": "from tensorflow.python.framework import dtypes  # imports ml_dtypes",
    "abi-itself": "from tensorflow.python import _pywrap_tensorflow_internal",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def add_numpy(site: Path, version: str = "2.4.6") -> None:
    _write(site, {"numpy/__init__.py": f"__version__ = {version!r}\n"})
    add_dist(site, "numpy", version)


def add_keras3(site: Path, version: str = "3.15.1") -> None:
    _write(
        site,
        {
            "keras/__init__.py": f"__version__ = {version!r}\nfrom keras.src import backend, datasets\n",
            "keras/src/__init__.py": "",
            "keras/src/backend.py": "def backend():\n    return 'tensorflow'\n",
            "keras/src/datasets/__init__.py": "from keras.src.datasets import mnist\n",
            "keras/src/datasets/mnist.py": "def load_data(path='mnist.npz'):\n    raise RuntimeError()\n",
        },
    )
    add_dist(site, "keras", version)


def add_tensorflow(
    site: Path,
    behaviour: str = "ok",
    requires: list[str] | None = None,
    name: str = "tensorflow",
    version: str = TF_VERSION,
) -> None:
    files = {
        "tensorflow/__init__.py": _TF_INIT.format(version=version, body=TF_BODIES[behaviour]),
        "tensorflow/python/__init__.py": "",
        "tensorflow/python/framework/__init__.py": "",
        "tensorflow/python/framework/dtypes.py": "import ml_dtypes\n",
        "tensorflow/python/_pywrap_tensorflow_internal.py": _ABI_RAISER.format(banner=NUMPY_BANNER),
    }
    _write(site, files)
    add_dist(site, name, version, TF_REQUIRES if requires is None else requires)


def add_ml_dtypes(site: Path, version: str, numpy1_build: bool = False) -> None:
    """``ml_dtypes``; ``numpy1_build`` makes it fail like a wheel compiled for NumPy 1.x under NumPy 2."""
    files = {"ml_dtypes/__init__.py": f"__version__ = {version!r}\nfrom ml_dtypes._finfo import finfo\n"}
    if numpy1_build:
        files["ml_dtypes/_finfo.py"] = "from ml_dtypes._ml_dtypes_ext import bfloat16\nfinfo = None\n"
        files["ml_dtypes/_ml_dtypes_ext.py"] = _ABI_RAISER.format(banner=NUMPY_BANNER)
    else:
        files["ml_dtypes/_finfo.py"] = "finfo = None\n"
    _write(site, files)
    add_dist(site, "ml_dtypes", version)


def fake_tf_env(
    root: Path,
    behaviour: str = "ok",
    *,
    keras: bool = True,
    ml_dtypes: str | None = "0.5.4",
    ml_dtypes_numpy1: bool = False,
    h5py: str | None = "3.14.0",
    requires: list[str] | None = None,
) -> Path:
    """A real venv (no pip) with the fake packages; returns its interpreter."""
    python = make_venv(root)
    site = site_packages(python)
    add_numpy(site)
    if keras:
        add_keras3(site)
    add_tensorflow(site, behaviour, requires)
    if ml_dtypes:
        add_ml_dtypes(site, ml_dtypes, ml_dtypes_numpy1)
    if h5py:
        _write(site, {"h5py/__init__.py": f"__version__ = {h5py!r}\n"})
        add_dist(site, "h5py", h5py)
    return python
