"""Skip marks shared by several test modules (plain imports; fixtures come from conftest.py)."""

from __future__ import annotations

import pytest


def tensorflow_installed() -> bool:
    from importlib import metadata

    for name in ("tensorflow", "tensorflow-cpu", "tf-nightly"):
        try:
            metadata.version(name)
            return True
        except metadata.PackageNotFoundError:
            continue
    return False


needs_tf = pytest.mark.skipif(
    not tensorflow_installed(),
    reason="TensorFlow is not installed in the test environment (the nox 'tests' session installs it)",
)
