"""Ctrl-C and SIGTERM: kill every probe at once, then unwind through the ``finally`` blocks.

Both signals get one handler, installed by the CLI's ``main()``. It first kills the process
group of every running probe (and any descendant that left its group), so nothing outlives
the doctor, then raises :class:`Interrupted` in the main thread: partial files are removed
by the ``finally`` blocks that own them, rich's spinner restores the terminal, and ``main()``
prints one line and exits 130 (SIGINT) or 143 (SIGTERM). Worker threads are daemons and are
never waited for; a watchdog ends the process :data:`WATCHDOG_S` after the signal even if
something still blocks, so the exit is bounded whatever the doctor was doing.

This module is imported before argument parsing: it imports nothing heavy, and it finds the
subprocess registry through ``sys.modules`` (no subprocess module loaded: no child to kill).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

TYPE_CHECKING = False  # typing's import costs more than this whole module: --help stays fast
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any

#: Seconds after the first signal by which the process has exited, whatever blocks it.
WATCHDOG_S = 1.5
HANDLED = (signal.SIGINT, signal.SIGTERM)

_state: dict[str, Any] = {"signal": None, "reported": False, "closing": False}
_lock = threading.RLock()  # re-entrant: the handler may run while the main thread holds it


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by SIGINT or SIGTERM (a KeyboardInterrupt, so Ctrl-C paths apply)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def install() -> None:
    """Handle SIGINT and SIGTERM for this run (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return
    _state.update(signal=None, reported=False, closing=False)
    subproc = sys.modules.get("mnist_doctor.probing.subproc")
    if subproc is not None and hasattr(subproc, "resume"):
        subproc.resume()
    for signum in HANDLED:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # ignored on purpose (nohup, a background job): not ours to re-enable
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signum, _handler)


def closing() -> None:
    """``main()`` is returning: a signal from now on stops children but raises nothing.

    Raising after the last ``except`` would print the very traceback this module prevents;
    the handlers stay installed until the process exits a moment later.
    """
    _state["closing"] = True


def stop_children() -> None:
    """Kill every probe's group and every marked descendant; start no new probe.

    Also called when ``main()`` ends normally: a check thread abandoned at the deadline
    must not leave a probe running after the doctor has gone.
    """
    subproc = sys.modules.get("mnist_doctor.probing.subproc")
    shutdown = getattr(subproc, "shutdown", None)
    if shutdown is not None:
        shutdown()


def _handler(signum: int, frame: FrameType | None) -> None:
    with _lock:
        first = _state["signal"] is None
        if first:
            _state["signal"] = signum
    stop_children()
    if not first or _state["closing"]:
        return  # already unwinding (a second Ctrl-C must not cut the cleanup short), or done
    _kill_other_children()
    threading.Thread(target=_watchdog, args=(signum,), name="exit-watchdog", daemon=True).start()
    raise Interrupted(signum)


def _kill_other_children() -> None:
    """SIGTERM direct children that are not probes (``pip`` run by ``--fix``), Linux only."""
    me = os.getpid()
    try:
        names = [n for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return
    for name in names:
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1] == str(me).encode():
            with contextlib.suppress(OSError):
                os.kill(int(name), signal.SIGTERM)


def _watchdog(signum: int) -> None:
    time.sleep(WATCHDOG_S)
    report(signum)
    with contextlib.suppress(Exception):
        stop_children()
    keeping = sys.modules.get("mnist_doctor.probing.safekeeping")
    if keeping is not None:  # files Keras changed during the killed probe go back first
        with contextlib.suppress(Exception):
            keeping.restore_all()
    os._exit(128 + signum)


def report(signum: int) -> int:
    """Write the one line that says why the doctor stopped (once); return the exit code."""
    with _lock:
        already, _state["reported"] = _state["reported"], True
    if not already:
        name = "" if signum == signal.SIGINT else f" ({signal.Signals(signum).name})"
        with contextlib.suppress(OSError):
            os.write(2, f"mnist-doctor: interrupted{name}\n".encode())
    return 128 + signum


def exit_code(exc: BaseException) -> int:
    """Report an interruption caught by ``main()`` (a plain KeyboardInterrupt counts as SIGINT)."""
    stop_children()
    return report(exc.signum if isinstance(exc, Interrupted) else signal.SIGINT)
