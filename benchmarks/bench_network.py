"""Network benchmarks (issue 3): the doctor's bound against a host that never answers.

A loopback server accepts TCP connections and never says a word (what a silent firewall
or a wedged mirror looks like). Measured in the same run:

- ``mnist-doctor --timeout 3 --select network --origin <silent>``  vs a bare
  ``urllib.request.urlretrieve`` of the same URL (what Keras does, no timeout), run in a
  subprocess killed after :data:`BASELINE_CAP_S` — it never ends by itself.
- the same for an https origin (stuck in the TLS handshake), and the whole doctor run.
- on the real origin (no DNS here): the doctor's DNS verdict vs urlretrieve's failure.

Run: ``python benchmarks/bench_network.py``. Loopback only, except the last line, which
asks the machine's resolver about the real dataset host (skip it with ``--loopback-only``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from _timing import PYTHON, bench_env

from testkit.loopback import silent_server

BASELINE_CAP_S = 10.0
DOCTOR = [PYTHON, "-m", "mnist_doctor"]


def timed(argv: list[str], env: dict[str, str], cap: float) -> tuple[float, bool]:
    """(wall seconds, ended by itself) for ``argv``, killed after ``cap`` seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        proc.wait(cap)
        return time.perf_counter() - start, True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return time.perf_counter() - start, False


def urlretrieve_argv(url: str, target: str) -> list[str]:
    return [PYTHON, "-c", f"import urllib.request as u; u.urlretrieve({url!r}, {target!r})"]


def report(name: str, ours: tuple[float, bool], base: tuple[float, bool]) -> None:
    ours_s, ours_ended = ours
    base_s, base_ended = base
    ours_text = f"{ours_s:.3f} s" + ("" if ours_ended else f" (did not end in {BASELINE_CAP_S:g} s!)")
    base_text = f"{base_s:.3f} s" if base_ended else f"did not end in {BASELINE_CAP_S:g} s"
    ratio = ours_s / base_s
    bound = "" if base_ended else f" (≤ {ratio:.2f}: the baseline was cut off)"
    print(f"{name}: ours {ours_text}, baseline {base_text}, ratio {ratio:.2f}{bound}")


def main() -> None:
    loopback_only = "--loopback-only" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        env = bench_env(Path(tmp))
        for key in [k for k in env if k.lower().endswith("_proxy")]:
            env.pop(key)
        subprocess.run([*DOCTOR, "--version"], env=env, capture_output=True)  # warm the .pyc files
        target = str(Path(tmp) / "mnist.npz")
        with silent_server() as port:
            for scheme in ("http", "https"):
                url = f"{scheme}://127.0.0.1:{port}/tensorflow/tf-keras-datasets/mnist.npz"
                ours = timed(
                    [*DOCTOR, "--timeout", "3", "--select", "network", "--format", "json", "--origin", url],
                    env,
                    BASELINE_CAP_S,
                )
                base = timed(urlretrieve_argv(url, target), env, BASELINE_CAP_S)
                report(f"--timeout 3 --select network, silent {scheme} host vs bare urlretrieve", ours, base)
            url = f"https://127.0.0.1:{port}/mnist.npz"
            ours = timed([*DOCTOR, "--timeout", "3", "--format", "json", "--origin", url], env, 30)
            base = timed(urlretrieve_argv(url, target), env, BASELINE_CAP_S)
            report(
                "--timeout 3 (every check, import probe included), silent https host vs urlretrieve",
                ours,
                base,
            )
        if not loopback_only:
            origin = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
            ours = timed([*DOCTOR, "--timeout", "10", "--select", "network", "--format", "json"], env, 30)
            base = timed(urlretrieve_argv(origin, target), env, BASELINE_CAP_S)
            report("--select network, real origin (DNS verdict) vs urlretrieve's own failure", ours, base)


if __name__ == "__main__":
    main()
