"""Peak RSS and wall time of the doctor over hostile inputs (issue 11, "Unbounded memory/time").

Each scenario runs the real CLI in a subprocess; the peak RSS is ``wait4``'s ``ru_maxrss``
(the doctor and the children it waited for, e.g. the target introspection). Target: every
scenario ≤ 500 MB and ≤ --timeout + 2 s.

``--baseline DIR`` also runs each scenario with ``PYTHONPATH=DIR`` (a checkout of the code
before this change, e.g. ``git worktree add --detach /work/wt/base-files main``). Baseline
runs are capped (address space 3 GB, wall time :data:`BASELINE_CAP_S`) because some of them
never end or grow without bound; a capped run is marked ``(capped)``.

Run: ``python benchmarks/bench_memory.py [--baseline DIR]``. Loopback only.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testkit.doctor import clean_env
from testkit.hostile import (
    Measured,
    doctor_argv,
    make_sparse,
    make_zip_bomb,
    misbehaving_server,
    run_measured,
)

BASELINE_CAP_S = 30.0
BASELINE_AS = 3 << 30
FETCH_TIMEOUT = "5"


def write_synthetic(path: Path) -> bytes:
    from testkit.npz import write_synthetic_mnist

    write_synthetic_mnist(path)
    return path.read_bytes()


def scenarios(root: Path) -> list[tuple[str, Callable[[dict[str, str], float, int | None], Measured]]]:
    bomb = make_zip_bomb(root / "bomb.npz", 1 << 30)
    sparse = make_sparse(root / "sparse.npz")
    junk = root / "junk.pem"
    with open(junk, "wb") as handle:
        handle.write(b"-----BEGIN CERTIFICATE-----\n")
        handle.truncate(1 << 30)
    good = write_synthetic(root / "good.npz")
    synthetic = {"MNIST_DOCTOR_SHA256": hashlib.sha256(good).hexdigest(), "MNIST_DOCTOR_SIZE": str(len(good))}

    def home_env(env: dict[str, str], **extra: str) -> dict[str, str]:
        home = Path(tempfile.mkdtemp(dir=root))
        return {**env, "HOME": str(home), **extra}

    def cli(*args: str, **extra: str) -> Callable[[dict[str, str], float, int | None], Measured]:
        def run(env: dict[str, str], cap: float, limit: int | None) -> Measured:
            return run_measured(
                doctor_argv(*args), home_env(env, **extra), cwd=root, timeout=cap, limit_as=limit
            )

        return run

    def cached_bomb(env: dict[str, str], cap: float, limit: int | None) -> Measured:
        full = home_env(env)
        folder = Path(full["HOME"]) / ".keras" / "datasets"
        folder.mkdir(parents=True)
        (folder / "mnist.npz").write_bytes(bomb.read_bytes())
        argv = doctor_argv("--select", "cache.integrity", "--offline")
        return run_measured(argv, full, cwd=root, timeout=cap, limit_as=limit)

    def fetch(mode: str) -> Callable[[dict[str, str], float, int | None], Measured]:
        def run(env: dict[str, str], cap: float, limit: int | None) -> Measured:
            with misbehaving_server(mode, good) as (url, _stats):
                argv = doctor_argv("--fetch", "--mirror", url, "--timeout", FETCH_TIMEOUT)
                return run_measured(argv, home_env(env, **synthetic), cwd=root, timeout=cap, limit_as=limit)

        return run

    return [
        ("--seed zip bomb (1 GB inflated)", cli("--seed", str(bomb))),
        ("cache.integrity on a cached zip bomb", cached_bomb),
        ("--seed sparse 20 GB file", cli("--seed", str(sparse))),
        (
            "SSL_CERT_FILE=/dev/urandom, --select tls",
            cli("--select", "tls", "--offline", SSL_CERT_FILE="/dev/urandom"),
        ),
        (
            "SSL_CERT_FILE=1 GB junk, --select tls",
            cli("--select", "tls", "--offline", SSL_CERT_FILE=str(junk)),
        ),
        (f"--fetch endless body, --timeout {FETCH_TIMEOUT}", fetch("endless")),
        (f"--fetch trickled headers, --timeout {FETCH_TIMEOUT}", fetch("trickle-headers")),
        (f"--fetch trickled body, --timeout {FETCH_TIMEOUT}", fetch("trickle-body")),
        (f"--fetch reset mid-body, --timeout {FETCH_TIMEOUT}", fetch("reset")),
    ]


def show(run: Measured, cap: float) -> str:
    capped = " (capped)" if run.code in (-9, 137) or run.seconds >= cap else ""
    return f"exit {run.code:>3}, {run.seconds:5.1f} s, {run.max_rss_mb:7.1f} MB{capped}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="a checkout of the code before the change (PYTHONPATH)")
    args = parser.parse_args()
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        root = Path(folder)
        env = clean_env(root)
        for name, run in scenarios(root):
            ours = run(env, 60.0, None)
            worst = max(worst, ours.max_rss_mb)
            text = f"{name:48} ours: {show(ours, 60.0)}"
            if args.baseline:
                base = run({**env, "PYTHONPATH": args.baseline}, BASELINE_CAP_S, BASELINE_AS)
                text += f" | baseline: {show(base, BASELINE_CAP_S)}"
            print(text, flush=True)
    print(f"worst peak RSS (ours): {worst:.1f} MB (target ≤ 500 MB)")
    return 0 if worst <= 500 else 1


if __name__ == "__main__":
    raise SystemExit(main())
