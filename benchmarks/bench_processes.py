"""Process benchmarks (issue 11): the doctor's peak memory against flooding targets, and how
fast it exits after SIGINT / SIGTERM while a probe is running.

- peak RSS of the doctor's own process (RUSAGE_SELF, read by a wrapper around ``main()``):
  a normal ``--select compat`` run, a ``--python`` target that prints N MB before its answer,
  and one that floods forever until ``--timeout``                        target ≤ 500 MB
- seconds from the signal to the doctor's exit, with a probe (and its own child) running,
  during the introspection and during the checks; median and worst of ``REPEAT`` runs
                                                                          target ≤ 2 s

Run: ``python benchmarks/bench_processes.py [--flood-mb 1000] [--repeat 5]``.
The fake interpreters are small scripts written here (tooling does not import the tests).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable

FAKE = """#!{real}
import os, sys, time
REAL, MODE, WHERE, MB, PIDDIR = {real!r}, {mode!r}, {where!r}, {mb!r}, {piddir!r}
first = sys.argv[2] if len(sys.argv) > 2 else ""
kind = "import" if first in ("tf", "keras") else "introspect" if first.startswith("http") else "other"
if kind != WHERE:
    os.execv(REAL, [REAL] + sys.argv[1:])
if MODE == "flood":
    chunk = b"x" * 65535 + b"\\n"
    for _ in range(MB * 16):
        sys.stdout.buffer.write(chunk)
    sys.stdout.flush()
    os.execv(REAL, [REAL] + sys.argv[1:])
if MODE == "flood_forever":
    chunk = b"y" * 65535 + b"\\n"
    while True:
        sys.stdout.buffer.write(chunk)
if os.fork() == 0:
    open(os.path.join(PIDDIR, "child.%d" % os.getpid()), "w").close()
    time.sleep(600)
    os._exit(0)
time.sleep(600)
"""

RSS_WRAPPER = (
    "import resource, sys\n"
    "from mnist_doctor.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stderr.write('\\nMAXRSS_KB=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def fake(tmp: Path, mode: str, where: str = "introspect", mb: int = 0) -> Path:
    path = tmp / f"python-{mode}-{where}-{mb}"
    piddir = tmp / "pids"
    piddir.mkdir(exist_ok=True)
    path.write_text(FAKE.format(real=PYTHON, mode=mode, where=where, mb=mb, piddir=str(piddir)))
    path.chmod(0o755)
    return path


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(HOME=str(home), TF_CPP_MIN_LOG_LEVEL="2")
    return env


def peak_rss(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """(peak RSS in MB, wall seconds, exit code) of one doctor run."""
    start = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-c", RSS_WRAPPER, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )
    wall = time.perf_counter() - start
    kb = next(
        (
            int(line.split("=")[1])
            for line in reversed(done.stderr.splitlines())
            if line.startswith("MAXRSS_KB=")
        ),
        -1,
    )
    return kb / 1024, wall, done.returncode


def exit_after_signal(sig: int, args: list[str], env: dict[str, str], cwd: Path, piddir: Path) -> float:
    for stale in piddir.glob("child.*"):
        stale.unlink()
    proc = subprocess.Popen(
        [PYTHON, "-m", "mnist_doctor", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    end = time.monotonic() + 120
    while not list(piddir.glob("child.*")) and time.monotonic() < end:
        time.sleep(0.02)
    time.sleep(0.2)
    sent = time.perf_counter()
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return time.perf_counter() - sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flood-mb", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        home.mkdir()
        env = env_for(home)
        compat = ["--offline", "--select", "compat", "--format", "json"]
        rows = [
            ("normal --select compat run", compat),
            (
                f"target prints {opts.flood_mb} MB before answering",
                ["--python", str(fake(tmp, "flood", mb=opts.flood_mb)), *compat],
            ),
            (
                "target floods forever, --timeout 5",
                ["--python", str(fake(tmp, "flood_forever")), "--offline", "--timeout", "5"],
            ),
        ]
        for name, args in rows:
            mb, wall, code = peak_rss(args, env, tmp)
            print(f"peak RSS, {name}: {mb:.0f} MB in {wall:.1f} s (exit {code}) (target ≤ 500 MB)")
        piddir = tmp / "pids"
        for where, extra in (("introspect", ["--offline"]), ("import", ["--offline", "--select", "runtime"])):
            hang = fake(tmp, "hang", where=where)
            for sig in (signal.SIGINT, signal.SIGTERM):
                times = [
                    exit_after_signal(
                        sig, ["--python", str(hang), "--timeout", "120", *extra], env, tmp, piddir
                    )
                    for _ in range(opts.repeat)
                ]
                name = signal.Signals(sig).name
                print(
                    f"exit after {name} during {where}: median {statistics.median(times):.3f} s, "
                    f"worst {max(times):.3f} s over {len(times)} runs (target ≤ 2 s)"
                )


if __name__ == "__main__":
    main()
