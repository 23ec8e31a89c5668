"""Synthetic ``mnist.npz`` files: MNIST's layout and dtypes, not its bytes (no download here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_synthetic_mnist(path: Path, seed: int = 0) -> Path:
    """An npz with MNIST's layout (compressed, like the real one), different for each seed."""
    rng = np.random.default_rng(seed)
    x_train = np.zeros((60000, 28, 28), np.uint8)
    x_test = np.zeros((10000, 28, 28), np.uint8)
    x_train[:, 10:18, 10:18] = rng.integers(0, 256, (60000, 1, 1), dtype=np.uint8)
    x_test[:, 10:18, 10:18] = rng.integers(0, 256, (10000, 1, 1), dtype=np.uint8)
    y_train = (np.arange(60000) % 10).astype(np.uint8)
    y_test = (np.arange(10000) % 10).astype(np.uint8)
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path
