"""The doctor's three speed ratios, measured in one run: paired runs, medians.

    full default run       mnist-doctor                          ÷ bare load_data()       target ≤ 1.10
    static checks          mnist-doctor --offline --ignore SLOW  ÷ python -c "import tensorflow"   ≤ 0.10
    --version              mnist-doctor --version                ÷ python -c pass         ≤ 2.0

Why paired: on a shared machine the load changes from minute to minute. Each round runs ours and
its baseline back to back (alternating which goes first, so a slow-down that lasts a few seconds
hits both sides equally often); the ratio compared with the target is median(ours) ÷
median(baseline) over the rounds, and the median of the per-round ratios is printed beside it.

The full run and its baseline load the *same local file*, on the success path. There is no
internet here, and Keras only accepts a cached ``mnist.npz`` whose sha256 is the real one, so:
a synthetic file with MNIST's layout (``testkit.npz``) is seeded into a temporary KERAS_HOME, and
a ``sitecustomize`` put on PYTHONPATH for *both* sides makes Keras' ``validate_file`` take the
synthetic file's hash for the real one (imported lazily, when Keras imports that module: the
doctor's own process never imports Keras). The doctor reads the same file's hash from its test
hooks ``MNIST_DOCTOR_SHA256``/``MNIST_DOCTOR_SIZE``. So both sides import TensorFlow, find the
cached file valid, and load it; the doctor additionally runs every other check (its network
checks fail at DNS without internet, while its probes import TensorFlow).

Both sides get the same environment (temporary HOME, the checkout first on PYTHONPATH so the
doctor measured is this one), the same working directory and a warm page cache (one unmeasured
round first). Usage: ``python benchmarks/bench_ratios.py [--rounds N] [--python PATH]``.
Nothing is asserted: these are measurements, read by a person (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mnist_doctor.datasets.spec import MNIST  # noqa: E402
from testkit.keras_hook import SYNTHETIC_SHA256_ENV, write_hook  # noqa: E402
from testkit.npz import write_synthetic_mnist  # noqa: E402

WALL_LIMIT_S = 300.0
#: Checks that import TensorFlow in a probe (or need the network): the static run leaves them out.
SLOW_CHECKS = "runtime,load,gpu.tensorflow"


@dataclass
class Pair:
    """One ratio: ours and the baseline, one time per round each."""

    name: str
    ours: list[str]
    baseline: list[str]
    target: float
    ours_s: list[float] = field(default_factory=list)
    baseline_s: list[float] = field(default_factory=list)

    def line(self) -> str:
        o, b = statistics.median(self.ours_s), statistics.median(self.baseline_s)
        per_round = statistics.median(x / y for x, y in zip(self.ours_s, self.baseline_s, strict=True))
        verdict = "meets" if o / b <= self.target else "MISSES"
        return (
            f"{self.name}: ours {o:.3f} s, baseline {b:.3f} s, ratio {o / b:.2f} "
            f"(median of per-round ratios {per_round:.2f}; target <= {self.target}: {verdict})"
        )

    def runs(self) -> str:
        return f"  ours {_seconds(self.ours_s)}\n  base {_seconds(self.baseline_s)}"


def _seconds(times: list[float]) -> str:
    return "[" + ", ".join(f"{t:.2f}" for t in times) + "]"


def timed(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=WALL_LIMIT_S)
    return time.perf_counter() - start, done


def prepare(tmp: Path, python: str) -> dict[str, str]:
    """The temporary home with the synthetic file seeded, the hook, and the shared environment."""
    home, hook = tmp / "home", tmp / "hook"
    datasets = home / ".keras" / "datasets"
    datasets.mkdir(parents=True)
    npz = write_synthetic_mnist(datasets / MNIST.file_name, seed=0)
    digest = hashlib.sha256(npz.read_bytes()).hexdigest()
    write_hook(hook)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().endswith("_PROXY") and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    }
    env.update(
        HOME=str(home),
        KERAS_HOME=str(home / ".keras"),
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join([str(hook), str(REPO)]),
        **{SYNTHETIC_SHA256_ENV: digest},
        MNIST_DOCTOR_SHA256=digest,
        MNIST_DOCTOR_SIZE=str(npz.stat().st_size),
    )
    return env


def check_success_path(python: str, doctor: list[str], env: dict[str, str], cwd: str) -> None:
    """Say what the full run measured: both sides must load the seeded file."""
    _, bare = timed([python, "-c", LOAD_CODE + "; print(x.shape)"], env, cwd)
    said = bare.stdout.strip().splitlines()[-1:] or [bare.stderr.strip()[-300:]]
    print(f"baseline load_data: exit {bare.returncode}, {said[0]}")
    _, run = timed([*doctor, "--format", "json", "--timeout", str(WALL_LIMIT_S - 10)], env, cwd)
    try:
        results = {r["id"]: r for r in json.loads(run.stdout)["results"]}
    except (ValueError, KeyError):
        print(f"doctor: exit {run.returncode}, no JSON: {run.stderr.strip()[-300:]}")
        return
    load = results.get("load.real", {})
    not_ok = sorted(i for i, r in results.items() if r["status"] not in ("ok", "skip"))
    print(f"doctor: exit {run.returncode}, load.real {load.get('status')}: {load.get('summary')}")
    print(f"  checks not ok: {', '.join(not_ok) or 'none'}")


LOAD_CODE = "import tensorflow as tf; (x, y), _ = tf.keras.datasets.mnist.load_data()"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="paired rounds per ratio (default 10)")
    parser.add_argument("--python", default=sys.executable, help="an interpreter with TensorFlow")
    args = parser.parse_args()
    python = args.python
    script = Path(python).with_name("mnist-doctor")
    # The console script when installed (what a user runs), with this checkout first on PYTHONPATH.
    doctor = [str(script)] if script.exists() else [python, "-m", "mnist_doctor"]
    with tempfile.TemporaryDirectory(prefix="bench-ratios-") as folder:
        tmp = Path(folder)
        env = prepare(tmp, python)
        cwd = str(tmp)
        full = Pair("full default run vs bare load_data", doctor, [python, "-c", LOAD_CODE], 1.10)
        static = Pair(
            f"static checks (--offline --ignore {SLOW_CHECKS}) vs import tensorflow",
            [*doctor, "--offline", "--ignore", SLOW_CHECKS],
            [python, "-c", "import tensorflow"],
            0.10,
        )
        version = Pair("--version vs python -c pass", [*doctor, "--version"], [python, "-c", "pass"], 2.0)
        pairs = [full, static, version]
        check_success_path(python, doctor, env, cwd)
        for pair in pairs:  # warm-up round, not measured: page cache, .pyc files
            timed(pair.baseline, env, cwd)
            timed(pair.ours, env, cwd)
        for round_ in range(args.rounds):
            for pair in pairs:
                sides = [(pair.ours, pair.ours_s), (pair.baseline, pair.baseline_s)]
                for argv, times in sides if round_ % 2 == 0 else reversed(sides):
                    elapsed, _ = timed(argv, env, cwd)
                    times.append(elapsed)
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{args.rounds} paired rounds, {os.cpu_count()} CPUs, load average at the end {load:.1f}")
        for pair in pairs:
            print(pair.line())
            print(pair.runs())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
