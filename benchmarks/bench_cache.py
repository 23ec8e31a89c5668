"""Hashing throughput of the cache integrity check vs ``sha256sum``, on the same 11.5 MB file.

Prints ``name: ours X s, baseline Y s, ratio Z`` where ratio = ours' throughput ÷ the baseline's
(≥ 1 means faster). Both are measured in this run, best of several repeats, warm page cache;
``sha256sum`` is timed as a whole process, as a user would run it. Target: ratio ≥ 0.9.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_doctor.datasets import npz_check
from mnist_doctor.datasets.spec import MNIST

REPEATS = 15


def best_of(func, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    if shutil.which("sha256sum") is None:
        print("sha256sum not found: no baseline on this machine")
        return 1
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mnist.npz"
        path.write_bytes(os.urandom(MNIST.size))  # same size as the real file
        expected = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True).stdout.split()[0]
        assert npz_check.sha256_file(path) == expected
        baseline = best_of(lambda: subprocess.run(["sha256sum", str(path)], capture_output=True, check=True))
        ours = best_of(lambda: npz_check.sha256_file(path))
        print(f"sha256 11.5 MB: ours {ours:.4f} s, baseline {baseline:.4f} s, ratio {baseline / ours:.2f}")
        spec = MNIST.with_file(expected, MNIST.size)
        verdict = best_of(lambda: npz_check.inspect_copy(path, spec), repeats=5)
        print(
            f"inspect_copy (matching file): ours {verdict:.4f} s, baseline {baseline:.4f} s, "
            f"ratio {baseline / verdict:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
