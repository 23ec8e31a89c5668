"""Run a helper script in a subprocess under a slice of the run's budget, and read its JSON answer.

Everything that might import TensorFlow (or run in the *target* interpreter) goes
through here, so a hang, a segfault or a flood of output is a finding and never a
crash, a hang or a memory blow-up of the doctor:

- each child starts in its own session (its own process group), and the whole group is
  killed at the end of its time, after it answered, and on Ctrl-C/SIGTERM
  (:func:`shutdown`), so grandchildren die too and nothing outlives the doctor;
- stdout and stderr are read incrementally with a cap: only the last
  :data:`OUTPUT_CAP_BYTES` of each stream are kept, plus the last marked JSON answer
  line, so a target printing gigabytes costs a few megabytes here;
- reading stops at the deadline even when a grandchild that escaped the group keeps the
  pipe open (a bounded drain after the kill, then the pipes are closed).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, NewType

from mnist_doctor.probing.budget import Slice

#: An interpreter path that answered the handshake (:func:`mnist_doctor.probing.handshake.greet`): the
#: only kind :func:`run_script` accepts, so nothing runs in a ``--python`` with arguments before
#: it proved to be a Python (mypy holds every caller to it; only the handshake makes one).
VerifiedPython = NewType("VerifiedPython", str)

#: The folder of the target scripts and their fragments (``_name.py``).
TARGET = resources.files("mnist_doctor.probing.target")
#: The prelude every target script includes first: the answer's marker, ``emit``, ``stage``,
#: redaction and the description of an exception, written once for all scripts.
PRELUDE = "_prelude.py"


def _prelude_constants(*names: str) -> tuple[str, ...]:
    """String constants of the prelude, read from its text: one definition for both ends.

    Read, not imported: target code only ever runs in the examined interpreter.
    """
    text = TARGET.joinpath(PRELUDE).read_text(encoding="utf-8")
    found = []
    for name in names:
        match = re.search(rf'^{name} = "([^"\\\n]+)"$', text, re.MULTILINE)
        if match is None:  # pragma: no cover - a broken installation
            raise RuntimeError(f"mnist_doctor/probing/target/{PRELUDE} defines no {name}")
        found.append(match.group(1))
    return tuple(found)


#: Line prefixes a target script prints before its JSON answer (so that anything a library
#: prints on stdout, as TensorFlow does, cannot corrupt the answer) and before the network
#: probe's stage records: the prelude's ``MARKER`` and ``STAGE_MARKER``.
JSON_MARKER, STAGE_MARKER = _prelude_constants("MARKER", "STAGE_MARKER")
#: Bytes of each stream kept (the tail): enough for every stage line and traceback.
OUTPUT_CAP_BYTES = 4 * 1024 * 1024
#: The marked answer line is kept apart from the tail, up to this size (the introspection's
#: answer with every distribution's requirements is a few hundred KB).
ANSWER_CAP_BYTES = 32 * 1024 * 1024
#: After the answer line arrived, the child gets this long to exit by itself (TensorFlow's
#: teardown) before its group is killed: the answer is all the doctor needs.
ANSWER_GRACE_S = 1.0
#: After the child exited, leftovers of its group still holding the pipes get this long.
EXIT_GRACE_S = 0.3
#: After a kill, output still buffered in the pipes is read for at most this long.
DRAIN_S = 0.25
#: How often the read loop looks at the child's state when no output arrives.
POLL_S = 0.05
#: Once every pipe is closed the child is exiting: the loop looks again after this long, then
#: twice as long each time up to :data:`POLL_S` (a flat POLL_S added up to 50 ms to every probe).
EXITING_POLL_S = 0.001
_READ_CHUNK = 256 * 1024
#: Scripts that print a growing answer after each stage; only the one with ``"done": true``
#: is their last word. The other scripts answer once, at the end.
STREAMING_SCRIPTS = frozenset({"import_probe.py", "load_probe.py"})

#: Environment variable given to every child: ``<this doctor's token>-<run number>``. A
#: descendant that left its group (``setsid``) still carries it, so it can be found and killed.
TOKEN_VAR = "MNIST_DOCTOR_PROBE"
_TOKEN = f"{os.getpid()}.{secrets.token_hex(6)}"
_RUNS = iter(range(1, 1 << 62))

_LIVE: set[subprocess.Popen[bytes]] = set()
# Re-entrant: the signal handler runs in the main thread, possibly while that thread holds it.
_LIVE_LOCK = threading.RLock()
_STOPPING = threading.Event()


@dataclass
class ScriptRun:
    """What happened when a script ran: exit status, output (tails), timing and its JSON answer."""

    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    elapsed_s: float
    timed_out: bool = False
    answer: dict[str, Any] | None = None
    launch_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The time it was given (seconds), and whether the run's budget (not the stage's own cap)
    #: set it: a kill then says "--timeout too small", never "the patient hangs".
    timeout_s: float = 0.0
    limited_by_budget: bool = False
    #: Bytes of output discarded from the front of each stream to respect the cap.
    stdout_dropped: int = 0
    stderr_dropped: int = 0
    #: The child answered, then did not exit within :data:`ANSWER_GRACE_S`; its group was killed.
    stopped_after_answer: bool = False
    #: The doctor was stopping (Ctrl-C/SIGTERM) when this run was killed or refused.
    interrupted: bool = False
    #: Stopped because it printed more than the ``give_up_after`` bytes it was allowed.
    flooded: bool = False

    @property
    def cut_by_budget(self) -> bool:
        """Killed because the run's ``--timeout`` ran out: a limit of the doctor, not a finding."""
        return (self.timed_out and self.limited_by_budget) or self.interrupted

    @property
    def signal_name(self) -> str | None:
        """Name of the signal that killed the child (POSIX), e.g. ``SIGSEGV``."""
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None


#: A target script's line that :func:`script_source` replaces with a fragment's source,
#: ``from _fragment import name, ...  # mnist-doctor: include``. Written as an import, the
#: script stays lintable (its names are defined) and runs from the source folder as it is.
INCLUDE = re.compile(r"^from (_[a-z_]+) import [^\n]*# mnist-doctor: include$", re.MULTILINE)


def script_source(name: str) -> str:
    """Source of a script shipped in :mod:`mnist_doctor.probing.target`, its fragments inlined.

    The target interpreter receives one self-contained program on stdin (nothing of the
    doctor is importable there), so code the scripts share is written once in a fragment
    and pasted in here: at the first include line the prelude, then each fragment once.
    Fragments include nothing themselves.
    """
    source = TARGET.joinpath(name).read_text(encoding="utf-8")
    inlined: set[str] = set()

    def fragments(match: re.Match[str]) -> str:
        # The prelude goes first whatever the order of the lines, so any fragment may use it.
        wanted = [n for n in dict.fromkeys((PRELUDE, match.group(1) + ".py")) if n not in inlined]
        inlined.update(wanted)
        return "".join(TARGET.joinpath(n).read_text(encoding="utf-8") for n in wanted)

    return INCLUDE.sub(fragments, source)


def parse_answer(stdout: str) -> dict[str, Any] | None:
    """The last marked JSON line of ``stdout``, or ``None`` if there is none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(JSON_MARKER):
            return _decode_answer(line[len(JSON_MARKER) :])
    return None


def _decode_answer(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def run_script(
    python: VerifiedPython,
    script: str,
    args: list[str] | None = None,
    *,
    timeout: float | Slice,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> ScriptRun:
    """Run ``mnist_doctor/probing/target/<script>`` with ``python`` fed on stdin.

    The source goes through stdin (``python - args``) so that ``sys.path[0]`` is the
    working directory, exactly as in the user's own ``python -c`` or notebook, which
    is what shadowing detection and the real ``load_data`` need. ``timeout`` is best a
    :class:`~mnist_doctor.probing.budget.Slice` of the run's budget (it then records whether the
    budget limited the run); a plain number of seconds is accepted too.
    """
    argv = [python, "-", *(args or [])]
    final = _is_done if script in STREAMING_SCRIPTS else _any_answer
    return run_argv(argv, stdin=script_source(script), timeout=timeout, env=env, cwd=cwd, final=final)


def _is_done(answer: dict[str, Any]) -> bool:
    return answer.get("done") is True


def _any_answer(answer: dict[str, Any]) -> bool:
    return True


def run_argv(
    argv: list[str],
    *,
    stdin: str | None = None,
    timeout: float | Slice,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    output_cap: int = OUTPUT_CAP_BYTES,
    final: Callable[[dict[str, Any]], bool] | None = None,
    give_up_after: int | None = None,
) -> ScriptRun:
    """Run ``argv`` in its own process group until it ends, gives its last answer, or its time is up.

    ``final(answer)`` says whether a marked answer is the child's last word: the child then
    gets :data:`ANSWER_GRACE_S` to exit before its group is killed (``None``: wait for the exit).
    ``give_up_after`` bytes of output (both streams) without a final answer stop it too, as
    ``flooded``: a child that should say a few words and floods instead is not waited for.
    """
    start = time.monotonic()
    if isinstance(timeout, Slice):
        deadline, limited = timeout.deadline, timeout.limited_by_budget
    else:
        deadline, limited = start + max(float(timeout), 0.01), False
    given = max(deadline - start, 0.0)

    def refused(reason: str, *, interrupted: bool = False) -> ScriptRun:
        return ScriptRun(
            argv, None, "", "", time.monotonic() - start, launch_error=reason,
            timeout_s=given, limited_by_budget=limited, interrupted=interrupted,
        )  # fmt: skip

    if os.name != "posix":  # pragma: no cover - no process groups or selectable pipes
        return _run_portable(argv, stdin, deadline, limited, env, cwd, output_cap)
    with _LIVE_LOCK:  # launch and registration are one step, so shutdown() never misses a child
        if _STOPPING.is_set():
            return refused("not started: the doctor is stopping", interrupted=True)
        token = f"{_TOKEN}-{next(_RUNS)}"
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**(os.environ if env is None else env), TOKEN_VAR: token},
                cwd=cwd,
                start_new_session=True,
            )
        except (OSError, ValueError) as exc:
            return refused(str(exc))
        _LIVE.add(proc)
    try:
        data = stdin.encode("utf-8") if stdin is not None else None
        outcome = _Reader(proc, data, output_cap, final, give_up_after).run(deadline)
    finally:
        _finish(proc)
        with _LIVE_LOCK:
            _LIVE.discard(proc)
        kill_marked(token)
    out, err = outcome.stdout, outcome.stderr
    stdout_text = out.text()
    answer = _decode_answer(out.answer.decode("utf-8", "replace")) if out.answer is not None else None
    return ScriptRun(
        argv,
        proc.returncode,
        stdout_text,
        err.text(),
        time.monotonic() - start,
        timed_out=outcome.timed_out,
        answer=answer if answer is not None else parse_answer(stdout_text),
        timeout_s=given,
        limited_by_budget=limited,
        stdout_dropped=out.dropped,
        stderr_dropped=err.dropped,
        stopped_after_answer=outcome.stopped_after_answer,
        interrupted=_STOPPING.is_set() and (outcome.timed_out or (proc.returncode or 0) < 0),
        flooded=outcome.flooded,
    )


def _run_portable(
    argv: list[str],
    stdin: str | None,
    deadline: float,
    limited: bool,
    env: dict[str, str] | None,
    cwd: str | None,
    cap: int,
) -> ScriptRun:  # pragma: no cover - Windows
    """Where pipes cannot be selected: ``communicate`` with the deadline, the cap applied after."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
        )
    except (OSError, ValueError) as exc:
        return ScriptRun(argv, None, "", "", 0.0, launch_error=str(exc), limited_by_budget=limited)
    with _LIVE_LOCK:
        _LIVE.add(proc)
    timed_out = False
    data = stdin.encode("utf-8") if stdin is not None else None
    try:
        out, err = proc.communicate(data, timeout=max(deadline - start, 0.01))
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        out, err = proc.communicate()
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    captures = []
    for raw in (out, err):
        capture = _Capture(cap, JSON_MARKER.encode() if raw is out else None)
        capture.feed(raw)
        captures.append(capture)
    text = captures[0].text()
    return ScriptRun(
        argv, proc.returncode, text, captures[1].text(), time.monotonic() - start,
        timed_out=timed_out, answer=parse_answer(text), timeout_s=max(deadline - start, 0.0),
        limited_by_budget=limited, stdout_dropped=captures[0].dropped, stderr_dropped=captures[1].dropped,
    )  # fmt: skip


class _Capture:
    """One output stream: its last ``cap`` bytes, and the last line starting with the marker."""

    def __init__(self, cap: int, marker: bytes | None = None) -> None:
        self.cap = max(cap, 1024)
        self.tail = bytearray()
        self.dropped = 0
        #: Every byte fed so far, kept or not.
        self.total = 0
        self.answer: bytes | None = None
        #: How many complete marked lines were seen (the reader parses only new ones).
        self.answers = 0
        self._marker = b"\n" + marker if marker else None
        self._carry = b"\n"  # the stream's start counts as a line start
        self._line: bytearray | None = None

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        self.tail += data
        if len(self.tail) > 2 * self.cap:  # trimmed in amortised steps, not on every chunk
            cut = len(self.tail) - self.cap
            del self.tail[:cut]
            self.dropped += cut
        if self._marker is not None:
            self._scan(data)

    def _scan(self, data: bytes) -> None:
        """Find marked lines with ``bytes.find`` (C speed), across chunk boundaries."""
        marker = self._marker
        assert marker is not None
        if self._line is not None:
            end = data.find(b"\n")
            if end < 0:
                self._grow(data)
                return
            self._grow(data[:end])
            self._close_line()
            buf, start = data, end
        else:
            buf, start = self._carry + data, 0
        while True:
            found = buf.find(marker, start)
            if found < 0:
                break
            begin = found + len(marker)
            end = buf.find(b"\n", begin)
            if end < 0:
                self._line = bytearray()
                self._grow(buf[begin:])
                return
            if end - begin <= ANSWER_CAP_BYTES:
                self.answer = bytes(buf[begin:end])
                self.answers += 1
            start = end
        self._carry = bytes(buf[-(len(marker) - 1) :])

    def _grow(self, data: bytes) -> None:
        if self._line is None:
            return
        if len(self._line) + len(data) > ANSWER_CAP_BYTES:
            self._line = None  # an answer this large is not one of ours: drop it
            self._carry = b""
            return
        self._line += data

    def _close_line(self) -> None:
        if self._line is not None:
            self.answer = bytes(self._line)
            self.answers += 1
        self._line = None
        self._carry = b""

    def text(self) -> str:
        return bytes(self.tail).decode("utf-8", "replace")


@dataclass
class _Outcome:
    stdout: _Capture
    stderr: _Capture
    timed_out: bool = False
    stopped_after_answer: bool = False
    flooded: bool = False


class _Reader:
    """The read loop: stdin written, both streams read, all within one deadline."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        stdin: bytes | None,
        cap: int,
        final: Callable[[dict[str, Any]], bool] | None,
        give_up_after: int | None = None,
    ) -> None:
        self.proc = proc
        self.final = final
        self.give_up_after = give_up_after
        self.seen = 0
        self.pending = memoryview(stdin) if stdin else None
        self.out = _Capture(cap, JSON_MARKER.encode())
        self.err = _Capture(cap)
        self.sel = selectors.DefaultSelector()

    def run(self, deadline: float) -> _Outcome:
        outcome = _Outcome(self.out, self.err)
        proc = self.proc
        assert proc.stdout is not None and proc.stderr is not None
        for stream, capture in ((proc.stdout, self.out), (proc.stderr, self.err)):
            os.set_blocking(stream.fileno(), False)
            self.sel.register(stream.fileno(), selectors.EVENT_READ, capture)
        if proc.stdin is not None:
            if self.pending is None:
                self._close_stdin()
            else:
                os.set_blocking(proc.stdin.fileno(), False)
                self.sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, None)
        answered_at = exited_at = None
        exiting_poll = EXITING_POLL_S
        try:
            while True:
                now = time.monotonic()
                if now >= deadline or _STOPPING.is_set():
                    outcome.timed_out = True
                    break
                if exited_at is None and _has_exited(proc):
                    exited_at = now
                if exited_at is not None and (not self._reading() or now - exited_at >= EXIT_GRACE_S):
                    break  # done, or only leftovers of its group hold the pipes
                if answered_at is None and self._final_answer():
                    answered_at = now
                if answered_at is not None and exited_at is None and now - answered_at >= ANSWER_GRACE_S:
                    outcome.stopped_after_answer = True
                    break
                if answered_at is None and self._flooded():
                    outcome.flooded = True
                    break
                if not self.sel.get_map():  # every pipe closed: the child is on its way out
                    time.sleep(min(exiting_poll, max(deadline - now, 0)))
                    exiting_poll = min(exiting_poll * 2, POLL_S)
                    continue
                for key, _ in self.sel.select(min(POLL_S, max(deadline - now, 0))):
                    if key.data is None:
                        self._write(key.fd)
                    else:
                        self._read(key.fd, key.data)
            _kill_group(proc)
            self._drain(time.monotonic() + DRAIN_S)
        finally:
            self.sel.close()
        return outcome

    def _final_answer(self) -> bool:
        """A new marked answer arrived and it is the child's last word."""
        if self.final is None or self.out.answers == self.seen or self.out.answer is None:
            return False
        self.seen = self.out.answers
        answer = _decode_answer(self.out.answer.decode("utf-8", "replace"))
        return answer is not None and self.final(answer)

    def _flooded(self) -> bool:
        limit = self.give_up_after
        return limit is not None and self.out.total + self.err.total > limit

    def _reading(self) -> bool:
        return any(key.data is not None for key in self.sel.get_map().values())

    def _read(self, fd: int, capture: _Capture) -> None:
        try:
            data = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            capture.feed(data)
        else:
            self.sel.unregister(fd)

    def _write(self, fd: int) -> None:
        assert self.pending is not None
        try:
            written = os.write(fd, self.pending[:65536])
        except BlockingIOError:
            return
        except OSError:  # the child closed its stdin (exited, or does not read it)
            written = len(self.pending)
        self.pending = self.pending[written:]
        if not self.pending:
            self.sel.unregister(fd)
            self._close_stdin()

    def _close_stdin(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def _drain(self, until: float) -> None:
        """Read what the killed group left in the pipes, for a bounded time only."""
        while self._reading() and time.monotonic() < until:
            for key, _ in self.sel.select(max(until - time.monotonic(), 0)):
                if key.data is not None:
                    self._read(key.fd, key.data)


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """True once the child is a zombie, *without reaping it*: its pid (= its group's id)
    stays reserved, so killing the group afterwards can never hit a recycled pid."""
    if not hasattr(os, "waitid"):  # macOS before Python 3.13: reap (the group kill is then skipped)
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole process group (the child leads it) unless already reaped."""
    if proc.returncode is not None:
        return
    if not hasattr(os, "killpg"):  # pragma: no cover - Windows
        with contextlib.suppress(OSError):
            proc.kill()
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except OSError:
        with contextlib.suppress(OSError):
            proc.kill()


def _finish(proc: subprocess.Popen[bytes]) -> None:
    """Kill what is left of the group, reap the child, close the pipes."""
    _kill_group(proc)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    # A child stuck in the kernel (D state) is reaped at exit, not waited for.
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2.0)


def kill_all() -> None:
    """Kill the process group of every child still running (the run's deadline has passed)."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        _kill_group(proc)


def kill_marked(token: str | None = None) -> int:
    """SIGKILL every process whose environment carries ``token`` (default: any of this doctor's).

    The group kill misses a descendant that started its own session; it still carries the
    variable it inherited, which ``/proc/PID/environ`` shows (Linux; elsewhere a no-op).
    Only processes of this user are readable, and only descendants of our own children
    carry the token. Returns how many were killed.
    """
    needle = f"\0{TOKEN_VAR}={token or _TOKEN + '-'}".encode()
    exact = token is not None
    killed = 0
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return 0
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                environ = b"\0" + fh.read(1 << 20) + b"\0"
        except OSError:
            continue
        at = environ.find(needle)
        if at < 0 or (exact and environ[at + len(needle) : at + len(needle) + 1] != b"\0"):
            continue
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


def shutdown() -> None:
    """The doctor is stopping (Ctrl-C, SIGTERM): kill every child's group and start no new one.

    Safe to call from a signal handler: it only takes a re-entrant lock and sends signals.
    """
    _STOPPING.set()
    kill_all()
    kill_marked()


def stopping() -> bool:
    return _STOPPING.is_set()


def resume() -> None:
    """A new run in the same process (in-process callers of ``main()``): children allowed again."""
    _STOPPING.clear()
