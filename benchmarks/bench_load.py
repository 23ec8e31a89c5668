"""Benchmark: the doctor's full default run against a bare ``load_data()`` call, in the same run.

Baseline: ``python -c "import tensorflow as tf; tf.keras.datasets.mnist.load_data()"``, wrapped
in a timeout so it ends even where the download would hang. Ours: ``python -m mnist_doctor
--format json`` (every check, the real load_data probe included). The doctor's static and
network checks run while its probes import TensorFlow, so the target is ours ÷ baseline ≤ 1.10.

Both run with the same temporary HOME/KERAS_HOME (the real ``~/.keras`` is never touched),
interleaved, and the medians are compared. Usage: ``python benchmarks/bench_load.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE_CODE = "import tensorflow as tf; tf.keras.datasets.mnist.load_data()"
WALL_LIMIT_S = 300.0
TARGET_RATIO = 1.10


def timed(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, int | None]:
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=WALL_LIMIT_S)
        code: int | None = done.returncode
    except subprocess.TimeoutExpired:
        code = None  # the wrapper ended it: that is the baseline's "ends"
    return time.perf_counter() - start, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python", default=sys.executable, help="interpreter with TensorFlow")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        env = dict(os.environ, HOME=tmp, KERAS_HOME=str(Path(tmp, ".keras")), TF_CPP_MIN_LOG_LEVEL="2")
        ours_argv = [
            args.python,
            "-m",
            "mnist_doctor",
            "--format",
            "json",
            "--timeout",
            str(WALL_LIMIT_S - 10),
        ]
        base_argv = [args.python, "-c", BASELINE_CODE]
        timed(base_argv, env, tmp)  # warm the page cache for both: TF's shared objects are large
        ours: list[float] = []
        base: list[float] = []
        single: list[float] = []
        for _ in range(args.repeat):
            base.append(timed(base_argv, env, tmp)[0])
            elapsed, code = timed(ours_argv, env, tmp)
            ours.append(elapsed)
            if code not in (0, 1):
                print(f"warning: the doctor exited with {code}", file=sys.stderr)
            single.append(timed([*ours_argv, "--ignore", "runtime"], env, tmp)[0])
    o, b = statistics.median(ours), statistics.median(base)
    ratio = o / b
    print(f"full default run vs bare load_data: ours {o:.2f} s, baseline {b:.2f} s, ratio {ratio:.2f}")
    s = statistics.median(single)
    print(f"one TensorFlow import (--ignore runtime): ours {s:.2f} s, baseline {b:.2f} s, ratio {s / b:.2f}")
    runs = f"ours {[round(x, 2) for x in ours]}, baseline {[round(x, 2) for x in base]}"
    print(f"  (medians of {args.repeat}; {runs}; target ratio <= {TARGET_RATIO})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
