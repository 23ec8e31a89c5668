"""Is ``--python`` a Python? Asked first, in the one way that no other program acts on.

``--python`` (or ``MNIST_DOCTOR_PYTHON``) may name any executable: a typo, a tab-completed
``/bin/rm``, a wrapper script, a Python 2. The probes run the interpreter as ``PROGRAM - ARGS``
with a program on stdin; handed to ``/bin/rm`` that call removed ``-`` and files named like its
arguments from the working directory: a diagnosis changed a file. So before anything runs in it
with arguments, the program answers a handshake, and the first call is built so that a program
which is not Python has nothing to act on:

* **No argument at all.** Every argument is something a program may take for a file to remove,
  overwrite or create (``rm``, ``tee``, ``touch``, ``dd of=``), and options are no safer: a
  program that does not parse options treats ``-c`` or ``-I`` as a file name like any other.
* **An empty stdin** (``/dev/null``). Shells, ``perl``, ``ruby``, ``node``, ``ed``, ``sqlite3``
  and ``bc`` read commands from stdin; Python source given there is a program to them (a
  shell runs ``import sys`` as ImageMagick's ``import``, which writes a file named ``sys``).
  Every such reader meets end-of-input at once and exits; ``cat``, ``tee`` and ``dd`` copy
  nothing; ``rm``, ``mv`` and ``cp`` complain that an operand is missing.
* **The question travels in the environment**, which only a Python acts on: ``PYTHONPATH``
  names a fresh private folder holding only ``sitecustomize.py`` (``target/_hello.py``), which
  every Python's ``site`` module imports at start-up, before it would read stdin. It prints one
  marked JSON line — a token from ``MNIST_DOCTOR_HELLO``, reversed, so a program that echoes its
  environment cannot pass, the version and the implementation — and ends the process at once.
* **Bounded like every probe** (:func:`mnist_doctor.probing.subproc.run_argv`): its own session, so no
  controlling terminal for a program that wants one (``vi``, ``less``); killed as a group after
  :data:`HELLO_TIMEOUT_S` (a program that sleeps or waits) or once it printed
  :data:`FLOOD_BYTES` without answering (``yes``); output read with a cap.
* **In the working directory the probes use**: a wrapper such as a pyenv shim picks its Python
  by the folder it starts in, so the program verified is the one the probes will run.

Then the answer is read by shape (:func:`parse_hello`): anything else than the token and three
integers is "not a working Python interpreter" (exit 2), never a traceback. A Python older than
:data:`MINIMUM` (Python 2 still runs the hook) is refused by name: the target scripts need 3.9.
What stays possible: a program that does harm when started with no argument and nothing to
read (``reboot`` as root) cannot be told from a Python without starting it; and a Python made
to ignore the environment (a wrapper passing ``-E``, ``-I`` or ``-S``) answers nothing and is
refused, although it might have worked.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

from mnist_doctor.probing.budget import Slice
from mnist_doctor.probing.subproc import ScriptRun, VerifiedPython, run_argv

#: The environment variable carrying the token (``target/_hello.py`` reads the same name).
TOKEN_VAR = "MNIST_DOCTOR_HELLO"
#: The handshake's own cap: a healthy interpreter answers in a few hundredths of a second, a
#: cold one on a network file system in a few seconds.
HELLO_TIMEOUT_S = 15.0
#: Output allowed before an answer: start-up warnings fit, a flood does not.
FLOOD_BYTES = 1 << 20
#: The oldest Python the target scripts run on.
MINIMUM = (3, 9)
#: The hook, shipped beside the target scripts.
HOOK = "_hello.py"


@dataclass(frozen=True)
class Hello:
    """A Python answered: which one."""

    python: VerifiedPython
    version: tuple[int, int, int]
    implementation: str

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)


@dataclass(frozen=True)
class NotPython:
    """No working Python answered, and why (in words for the user).

    ``cut_by_budget``: the run's ``--timeout`` ended the handshake, so no verdict on the program.
    """

    reason: str
    cut_by_budget: bool = False


def greet(python: str, timeout: float | Slice) -> Hello | NotPython:
    """Run the handshake with ``python`` (see the module docstring) and read its answer."""
    token = secrets.token_hex(16)
    try:
        folder = tempfile.mkdtemp(prefix="mnist-doctor-hello-")
    except (OSError, ValueError) as exc:  # no usable temporary folder at all
        return NotPython(f"not asked: no temporary folder for the handshake ({_strerror(exc)})")
    try:
        hook = resources.files("mnist_doctor.probing.target").joinpath(HOOK).read_text(encoding="utf-8")
        with open(os.path.join(folder, "sitecustomize.py"), "w", encoding="utf-8") as out:
            out.write(hook)
        env = {**os.environ, "PYTHONPATH": folder, TOKEN_VAR: token}
        run = run_argv([python], timeout=timeout, env=env, give_up_after=FLOOD_BYTES, final=_any)
    except OSError as exc:
        return NotPython(f"not asked: the handshake could not be prepared ({_strerror(exc)})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return judge(python, run, token)


class Greeting:
    """A handshake under way in the background: :func:`greet` started at once, its answer read later.

    The run starts one as soon as its options exist (``pipeline.run.new_facts``), before the fact
    providers and the checks are imported: the interpreter's start then overlaps those imports
    instead of following them, and every probe that waits for the verified interpreter starts sooner.
    """

    def __init__(self, python: str, timeout: Slice) -> None:
        self._found: Hello | NotPython | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._greet, args=(python, timeout), name="handshake", daemon=True
        )
        self._thread.start()

    def _greet(self, python: str, timeout: Slice) -> None:
        try:
            self._found = greet(python, timeout)
        except BaseException as exc:  # raised again by answer(), in the thread that asks
            self._error = exc

    def answer(self) -> Hello | NotPython:
        """What :func:`greet` returned (or raised), once it has."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._found is not None
        return self._found


def _any(answer: dict[str, Any]) -> bool:
    return True


def _strerror(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def judge(python: str, run: ScriptRun, token: str) -> Hello | NotPython:
    """What the handshake's run says about ``python`` (pure: the run is given)."""
    if run.answer is not None:
        parsed = parse_hello(run.answer, token)
        if isinstance(parsed, str):
            return NotPython(f"its answer to the handshake is not a Python's: {parsed}")
        version, implementation = parsed
        shown = ".".join(str(part) for part in version)
        if version[:2] < MINIMUM:
            return NotPython(
                f"it is Python {shown}; the doctor examines Python {MINIMUM[0]}.{MINIMUM[1]} or newer"
            )
        return Hello(VerifiedPython(python), version, implementation)
    if run.cut_by_budget:
        return NotPython(f"--timeout ran out after {run.elapsed_s:.1f}s, before it answered", True)
    if run.launch_error:
        return NotPython(f"it cannot be started: {run.launch_error}")
    if run.flooded:
        return NotPython(f"it printed more than {FLOOD_BYTES // 1024} KB without answering")
    if run.timed_out:
        return NotPython(f"no answer within {run.timeout_s:.0f}s (a program waiting for input?)")
    # stderr only: a program's complaint ("missing operand") helps; what it prints on stdout
    # (``env`` prints the environment) is none of the report's business.
    said = _first_line(run.stderr)
    return NotPython(
        f"it exited (status {run.returncode}) without answering the handshake"
        + (f": {said}" if said else "; a Python answers unless -E, -I or -S keeps it from its start-up hooks")
    )


def _first_line(text: str, limit: int = 160) -> str:
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[:limit] + "…"
    return ""


def parse_hello(answer: object, token: str) -> tuple[tuple[int, int, int], str] | str:
    """The version and implementation in a handshake answer, or why it is not one."""
    if not isinstance(answer, dict):
        return f"a {type(answer).__name__}, not an object"
    if answer.get("hello") != token[::-1]:
        return "it does not return the doctor's token"
    version = answer.get("version")
    if not (
        isinstance(version, list)
        and len(version) == 3
        and all(type(part) is int and 0 <= part < 1000 for part in version)
    ):
        return "'version' is not three small integers"
    implementation = answer.get("implementation")
    if not isinstance(implementation, str):
        return "'implementation' is not a string"
    return (version[0], version[1], version[2]), implementation
