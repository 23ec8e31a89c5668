"""Hostile time, output and signals: the doctor ends within ``--timeout`` + 2 s and leaves no process.

Real parts only: the real CLI in a subprocess, fake ``--python`` "interpreters" that are
small executable scripts misbehaving in one way each (never answering, forking a child
that holds stdout, escaping into their own session, flooding stdout, lingering after the
answer), real SIGINT/SIGTERM sent to the real doctor while a probe runs, a pseudo-terminal
for rich's spinner, and a loopback server that trickles bytes. Survivors are looked for by
PID (each fake records its own processes) and by the doctor's marker in ``/proc/*/environ``.

Timing bounds here are the promise itself (``--timeout`` + 2 s), with a few seconds of
margin for a loaded machine; speed is measured in ``benchmarks/bench_processes.py``.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testkit.doctor import clean_env

#: Every test here starts real processes (tests/tiers.py puts them in the e2e tier).
pytestmark = [
    pytest.mark.usefixtures("processes"),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]

#: Seconds allowed on top of the promise for a loaded 2-core machine (never a speed claim).
NOISE_S = 3.0
#: Peak RSS promised for the doctor's own process (TensorFlow runs in probes, not here).
RSS_LIMIT_KB = 500 * 1024

FAKE = '''#!{real}
"""A misbehaving interpreter for the doctor's tests: {mode} when asked for {where}."""
import os, subprocess, sys, time
REAL, PIDDIR, MODE, WHERE, FLOOD_MB = {real!r}, {piddir!r}, {mode!r}, {where!r}, {flood_mb!r}


def note(role):
    open(os.path.join(PIDDIR, "%s.%d" % (role, os.getpid())), "w").close()


def kind():
    args = sys.argv[2:]
    first = args[0] if args else ""
    if first in ("tf", "keras"):
        return "import"
    if first == "auto":
        return "load"
    if first in ("stages", "proxy"):
        return "net"
    return "introspect"


def delegate():
    os.execv(REAL, [REAL] + sys.argv[1:])


def child(role, new_session=False):
    if os.fork() == 0:
        if new_session:
            os.setsid()
        note(role)
        time.sleep(600)
        os._exit(0)


if WHERE != kind():
    delegate()
note("fake")
if MODE == "hang":
    child("grandchild")
    time.sleep(600)
elif MODE == "fork_hold":
    child("grandchild")
    delegate()
elif MODE == "setsid_hold":
    child("escapee", new_session=True)
    delegate()
elif MODE == "flood_then_answer":
    chunk = b"x" * (1 << 20)
    for _ in range(FLOOD_MB):
        sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.write(b"\\n")
    sys.stdout.flush()
    delegate()
elif MODE == "flood_forever":
    chunk = b"y" * 65535 + b"\\n"
    while True:
        sys.stdout.buffer.write(chunk)
elif MODE == "linger":
    out = subprocess.run([REAL] + sys.argv[1:], stdout=subprocess.PIPE).stdout
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    time.sleep(600)
'''

#: Runs the CLI in-process and reports the doctor's own peak RSS (RUSAGE_SELF) on stderr.
RSS_WRAPPER = (
    "import resource, sys\n"
    "from mnist_doctor.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stderr.write('\\nMAXRSS_KB=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    "sys.exit(code)\n"
)


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def maxrss_kb(self) -> int:
        for line in reversed(self.stderr.splitlines()):
            if line.startswith("MAXRSS_KB="):
                return int(line.split("=", 1)[1])
        raise AssertionError(f"no MAXRSS line in {self.stderr[-400:]!r}")


class Lab:
    """A HOME, a working folder, a folder where fakes record their PIDs, and the doctor runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.work = root / "work"
        self.pids = root / "pids"
        for folder in (self.home, self.work, self.pids):
            folder.mkdir()
        self.doctors: list[int] = []

    def fake(self, mode: str, where: str = "introspect", flood_mb: int = 0) -> Path:
        path = self.root / f"python-{mode}-{where}"
        path.write_text(
            FAKE.format(real=sys.executable, piddir=str(self.pids), mode=mode, where=where, flood_mb=flood_mb)
        )
        path.chmod(0o755)
        return path

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(self.home, **extra)

    def start(
        self, *args: str, env: dict[str, str] | None = None, rss: bool = False
    ) -> subprocess.Popen[str]:
        head = [sys.executable, "-c", RSS_WRAPPER] if rss else [sys.executable, "-m", "mnist_doctor"]
        proc = subprocess.Popen(
            [*head, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or self.env(),
            cwd=self.work,
            # a background job may inherit SIGINT ignored; the doctor must see it like a terminal would
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.doctors.append(proc.pid)
        return proc

    def run(self, *args: str, limit: float, env: dict[str, str] | None = None, rss: bool = False) -> Finished:
        """Run the doctor; past ``limit`` seconds it is stopped (SIGTERM) and the test fails."""
        start = time.monotonic()
        proc = self.start(*args, env=env, rss=rss)
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
            pytest.fail(f"the doctor ran past {limit:.0f}s: {' '.join(args)[:200]}")
        return Finished(proc.returncode, out, err, time.monotonic() - start)

    def recorded(self, role: str | None = None) -> list[int]:
        return [
            int(p.name.rsplit(".", 1)[1])
            for p in self.pids.iterdir()
            if role is None or p.name.startswith(role + ".")
        ]

    def wait_for(self, role: str, limit: float = 60.0) -> int:
        end = time.monotonic() + limit
        while time.monotonic() < end:
            found = self.recorded(role)
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no {role} process appeared within {limit:.0f}s")

    def survivors(self) -> list[str]:
        """Processes of the fakes, or marked with a doctor's token, still running (zombies are dead)."""
        time.sleep(0.2)  # SIGKILL is asynchronous: let the kernel finish
        found = [f"{pid} (recorded by a fake)" for pid in self.recorded() if alive(pid)]
        needles = [f"MNIST_DOCTOR_PROBE={pid}.".encode() for pid in self.doctors]
        for pid in _pids():
            with contextlib.suppress(OSError):
                environ = Path(f"/proc/{pid}/environ").read_bytes()
                if any(n in environ for n in needles) and alive(pid):
                    found.append(f"{pid} (carries the doctor's marker)")
        return found

    def cleanup(self) -> None:
        for pid in self.recorded():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    box = Lab(tmp_path)
    try:
        yield box
    finally:
        box.cleanup()


def assert_clean_stderr(run: Finished) -> None:
    assert "Traceback" not in run.stderr, run.stderr[-2000:]


# ---------------------------------------------------------------- unbounded time: the --python target


def test_a_target_that_never_answers_is_cut_by_the_timeout_and_killed_with_its_child(lab):
    fake = lab.fake("hang")
    run = lab.run("--python", str(fake), "--offline", "--timeout", "3", limit=3 + 2 + NOISE_S)
    assert run.code == 2
    assert "--timeout" in run.stderr and "not a working Python interpreter" not in run.stderr
    assert_clean_stderr(run)
    assert lab.recorded("grandchild"), "the fake never forked: the test proves nothing"
    assert lab.survivors() == []


@pytest.mark.parametrize("mode, role", [("fork_hold", "grandchild"), ("setsid_hold", "escapee")])
def test_a_child_holding_stdout_open_does_not_hang_the_doctor(lab, mode, role):
    fake = lab.fake(mode)
    run = lab.run("--python", str(fake), "--offline", "--select", "compat", "--format", "json", limit=60)
    assert run.code in (0, 1), run.stderr[-2000:]
    assert run.elapsed < 30, "waited for the held pipe instead of the answer"
    assert {r["id"] for r in __import__("json").loads(run.stdout)["results"]} >= {"compat.python"}
    assert lab.recorded(role)
    assert lab.survivors() == []


def test_a_target_lingering_after_its_answer_is_stopped_and_its_answer_used(lab):
    fake = lab.fake("linger")
    run = lab.run(
        "--python", str(fake), "--offline", "--select", "compat", "--format", "json", "--timeout", "60",
        limit=60,
    )  # fmt: skip
    assert run.code in (0, 1), run.stderr[-2000:]
    assert run.elapsed < 30, "waited for the lingering process instead of using its answer"
    report = __import__("json").loads(run.stdout)
    assert report["environment"]["packages"].get("numpy")  # the answer came through
    assert lab.survivors() == []


@pytest.mark.parametrize("timeout", ["0.05", "0.4", "1"])
def test_a_tiny_timeout_never_calls_a_healthy_interpreter_broken(lab, timeout):
    run = lab.run("--offline", "--timeout", timeout, limit=float(timeout) + 2 + NOISE_S + 2)
    assert "not a working Python interpreter" not in run.stderr
    assert_clean_stderr(run)
    if run.code == 2:
        assert "--timeout" in run.stderr and "hint:" in run.stderr
    assert lab.survivors() == []


def test_a_long_keras_home_ends_within_the_timeout(lab):
    keras_home = "/tmp/" + "x/" * 2500 + "keras"
    run = lab.run(
        "--timeout", "8", "--format", "json", env=lab.env(KERAS_HOME=keras_home), limit=8 + 2 + NOISE_S
    )
    assert run.code in (0, 1), run.stderr[-2000:]
    assert_clean_stderr(run)
    assert lab.survivors() == []


def test_a_120_kb_origin_ends_within_the_timeout(lab):
    origin = "https://127.0.0.1:9/" + "a" * 120_000
    run = lab.run("--timeout", "5", "--format", "json", "--origin", origin, limit=5 + 2 + NOISE_S)
    assert run.code == 2, run.stderr[-500:]  # refused as a usage error: longer than any real URL
    assert_clean_stderr(run)
    assert lab.survivors() == []


def test_fix_yes_with_a_slow_target_stays_within_one_timeout(lab):
    """Before: each fix and the re-run got a fresh --timeout (3 × the budget)."""
    datasets = lab.home / ".keras" / "datasets"
    datasets.mkdir(parents=True)
    (datasets / "mnist.npz").write_bytes(os.urandom(5000))  # a broken copy: the fix removes it
    slow = lab.root / "slow-python"
    # 2 s per start: the handshake and the introspection (two starts) fit in the 6 s, the re-run does not
    slow.write_text(f'#!/bin/sh\nsleep 2\nexec {sys.executable} "$@"\n')
    slow.chmod(0o755)
    run = lab.run(
        "--python", str(slow), "--offline", "--select", "cache", "--fix", "--yes", "--timeout", "6",
        limit=6 + 2 + NOISE_S,
    )  # fmt: skip
    assert run.elapsed < 6 + 2 + NOISE_S
    assert "fixes" in run.stdout  # the fix was reached (whether it had time left is the budget's call)
    assert_clean_stderr(run)


@contextlib.contextmanager
def trickle_server(tls_like: bool) -> Iterator[int]:
    """Accepts, then sends one byte per second forever (a socket timeout never fires)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()
    payload = (
        b"\x16\x03\x01\x40\x00" + b"\x00" * 64 if tls_like else b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 64
    )

    def serve(conn: socket.socket) -> None:
        with conn:
            for byte in payload:
                if stop.wait(1.0):
                    return
                with contextlib.suppress(OSError):
                    conn.sendall(bytes([byte]))

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                threading.Thread(target=serve, args=(listener.accept()[0],), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_server_trickling_one_byte_a_second_is_bounded_by_the_timeout(lab, scheme):
    with trickle_server(tls_like=scheme == "https") as port:
        run = lab.run(
            "--select", "network", "--format", "json", "--timeout", "4",
            "--origin", f"{scheme}://127.0.0.1:{port}/mnist.npz",
            limit=4 + 2 + NOISE_S,
        )  # fmt: skip
    assert run.code in (0, 1), run.stderr[-2000:]
    assert_clean_stderr(run)
    assert lab.survivors() == []


# ---------------------------------------------------------------- unbounded memory: flooding targets


def test_a_target_flooding_stdout_before_its_answer_costs_the_doctor_little_memory(lab):
    fake = lab.fake("flood_then_answer", flood_mb=300)
    run = lab.run(
        "--python", str(fake), "--offline", "--select", "compat", "--format", "json", "--timeout", "60",
        limit=60, rss=True,
    )  # fmt: skip
    assert run.code in (0, 1), run.stderr[-2000:]
    report = __import__("json").loads(run.stdout)
    assert report["environment"]["packages"].get("numpy")  # the answer after 300 MB was found
    assert run.maxrss_kb < RSS_LIMIT_KB, f"{run.maxrss_kb / 1024:.0f} MB"


def test_a_target_flooding_forever_is_cut_by_the_timeout(lab):
    fake = lab.fake("flood_forever")
    run = lab.run("--python", str(fake), "--offline", "--timeout", "4", limit=4 + 2 + NOISE_S, rss=True)
    assert run.code == 2
    assert "not a working Python interpreter" not in run.stderr
    assert run.maxrss_kb < RSS_LIMIT_KB, f"{run.maxrss_kb / 1024:.0f} MB"
    assert lab.survivors() == []


# ---------------------------------------------------------------- signals


EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _signal_mid_probe(lab: Lab, sig: int, where: str, *args: str) -> tuple[Finished, float]:
    fake = lab.fake("hang", where=where)
    proc = lab.start("--python", str(fake), "--timeout", "120", *args)
    try:
        lab.wait_for("grandchild")  # the probe and its own child are running now
        time.sleep(0.2)
        sent = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        after = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return Finished(proc.returncode, out, err, after), after


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    "where, args",
    [("introspect", ("--offline",)), ("import", ("--offline", "--select", "runtime"))],
    ids=["during-introspection", "during-checks"],
)
def test_a_signal_mid_run_exits_at_once_with_its_code_and_no_survivor(lab, sig, where, args):
    run, after = _signal_mid_probe(lab, sig, where, *args)
    assert run.code == EXIT_CODES[sig], run.stderr[-2000:]
    assert after < 2 + NOISE_S, f"exit took {after:.2f}s after the signal"
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("mnist-doctor: interrupted"), run.stderr[-2000:]
    assert_clean_stderr(run)
    assert lab.survivors() == []


def test_ctrl_c_under_a_terminal_with_the_spinner_running(lab):
    """rich's live spinner is on screen (a real pseudo-terminal) when Ctrl-C arrives."""
    fake = lab.fake("hang", where="import")
    env = lab.env(TERM="xterm")
    env.pop("COLUMNS", None)
    argv = [sys.executable, "-m", "mnist_doctor", "--python", str(fake), "--offline", "--select", "runtime"]
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes the doctor
        os.chdir(lab.work)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execve(sys.executable, argv, env)
    lab.doctors.append(pid)
    output = bytearray()
    try:
        lab.wait_for("grandchild")
        time.sleep(0.5)  # the spinner is drawn at 12.5 Hz
        sent = time.monotonic()
        os.kill(pid, signal.SIGINT)
        status = None
        while status is None and time.monotonic() - sent < 30:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):
                    output += os.read(fd, 65536)
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
        after = time.monotonic() - sent
    finally:
        with contextlib.suppress(ChildProcessError, OSError):
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        os.close(fd)
    text = output.decode("utf-8", "replace")
    assert status == 130, text[-1500:]
    assert after < 2 + NOISE_S
    assert "interrupted" in text and "Traceback" not in text
    assert lab.survivors() == []
