"""Make Keras take a synthetic ``mnist.npz`` for the real one, in the examined interpreter only.

Keras pins the real file's sha256 and the real file is not available here (no internet). The
benchmarks and the stand-in internet serve or seed a synthetic file with MNIST's layout instead,
and this ``sitecustomize`` — put on ``PYTHONPATH`` of the examined interpreter and of the user's
own line alike — makes Keras' ``validate_file`` compare against the synthetic file's hash when it
is asked for the real one. It acts when Keras imports its file utilities (Keras 3, Keras 2,
tf-keras), so the doctor's own process, which never imports Keras, is untouched.
"""

from __future__ import annotations

from pathlib import Path

from mnist_doctor.datasets.spec import MNIST

#: The variable the hook reads the synthetic file's sha256 from; unset, the hook does nothing.
SYNTHETIC_SHA256_ENV = "KERAS_HOOK_SYNTHETIC_SHA256"

_SOURCE = '''"""Test hook (testkit/keras_hook.py): Keras takes the synthetic mnist.npz for the real one."""
import importlib.abc
import importlib.machinery
import os
import sys

_REAL = {real!r}
_SYNTHETIC = os.environ.get({variable!r}, "")
_MODULES = {{"keras.src.utils.file_utils", "keras.utils.data_utils", "tf_keras.src.utils.data_utils"}}


class _HashSwap(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in _MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            check = module.validate_file

            def validate_file(fpath, file_hash, *args, **kwargs):
                return check(fpath, _SYNTHETIC if file_hash == _REAL else file_hash, *args, **kwargs)

            module.validate_file = validate_file

        spec.loader.exec_module = exec_module
        return spec


if _SYNTHETIC:
    sys.meta_path.insert(0, _HashSwap())
'''


def write_hook(folder: Path) -> Path:
    """``folder/sitecustomize.py``: put ``folder`` on PYTHONPATH and set :data:`SYNTHETIC_SHA256_ENV`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sitecustomize.py"
    path.write_text(_SOURCE.format(real=MNIST.sha256, variable=SYNTHETIC_SHA256_ENV), encoding="utf-8")
    return path
