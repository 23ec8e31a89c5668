"""Core benchmarks (issue 2), each a ratio measured in the same run on the same machine.

- ``mnist-doctor --version`` ÷ ``python -c pass``                      target ≤ 3
- static checks only (no network, no import probe) ÷ ``import tensorflow``  target ≤ 0.15

Run: ``python benchmarks/bench_core.py`` (needs TensorFlow installed for the second ratio).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import PYTHON, bench_env, best_of, line


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = bench_env(Path(tmp))
        # An installed package has its .pyc compiled by pip; write them here too (a dev checkout
        # run with PYTHONDONTWRITEBYTECODE would otherwise recompile on every start).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        script = Path(PYTHON).with_name("mnist-doctor")
        doctor = [str(script)] if script.exists() else [PYTHON, "-m", "mnist_doctor"]
        best_of([*doctor, "--version"], repeat=1, env=env)
        bare = best_of([PYTHON, "-c", "pass"], repeat=20, env=env)
        version = best_of([*doctor, "--version"], repeat=20, env=env)
        print(line("--version vs python -c pass", version, bare, "≤ 3"))
        static = best_of(
            [*doctor, "--offline", "--format", "json", "--ignore", "runtime,load,network"],
            repeat=5,
            env=env,
            cwd=tmp,
        )
        tf_import = best_of([PYTHON, "-c", "import tensorflow"], repeat=3, env=env, cwd=tmp)
        print(line("static checks vs import tensorflow", static, tf_import, "≤ 0.15"))


if __name__ == "__main__":
    main()
