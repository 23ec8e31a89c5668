"""Which Python is the patient: ``--python PATH`` / ``MNIST_DOCTOR_PYTHON``, or our own.

People install the doctor with pipx (its own venv, no TensorFlow) and run their code
in a notebook kernel or a conda env. Every fact about the target environment is
therefore gathered by running a stdlib-only script *with the target interpreter*;
this module only finds and validates that interpreter.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

from mnist_doctor.errors import UsageError

ENV_VAR = "MNIST_DOCTOR_PYTHON"

_VENV_CANDIDATES = (
    Path("bin") / "python",
    Path("bin") / "python3",
    Path("Scripts") / "python.exe",
)


def resolve_python(value: str | None) -> str:
    """The absolute path of the interpreter to examine.

    Accepts an interpreter path, a command on ``PATH`` is *not* guessed (be explicit
    about the patient), or a virtual environment's folder. Every unusable path — missing,
    too long, behind a folder we may not search, a folder without an interpreter, a FIFO,
    a file we may not execute — is a :class:`UsageError` naming the reason (exit 2).
    """
    if not value:
        value = os.environ.get(ENV_VAR) or ""
    if not value:
        return sys.executable
    shown = value if len(value) <= 120 else f"{value[:60]}…{value[-40:]}"
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # "~nosuchuser/..." cannot be expanded
        path = Path(value)
    st = _stat(path, shown)
    if stat.S_ISDIR(st.st_mode):
        for candidate in _VENV_CANDIDATES:
            inner = path / candidate
            if _exists(inner):
                path, st = inner, _stat(inner, shown)
                break
        else:
            raise UsageError(
                f"--python {shown}: folder has no bin/python or Scripts\\python.exe",
                hint="pass a Python interpreter or a virtual environment's folder",
            )
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(
            f"--python {shown}: not a regular file (a {_kind(st.st_mode)})",
            hint=_WHICH_PYTHON,
        )
    if not os.access(path, os.X_OK):
        raise UsageError(
            f"--python {shown}: not executable", hint=f"chmod +x {path}, or pass another interpreter"
        )
    return str(path.absolute())


_WHICH_PYTHON = 'in the environment you want examined, run: python -c "import sys; print(sys.executable)"'

_REASONS = {
    errno.ENOENT: "no such file",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EACCES: "permission denied (a folder on the way cannot be searched)",
    errno.ENAMETOOLONG: "the path or one of its names is too long",
    errno.ELOOP: "too many symbolic links (a loop?)",
}


def _stat(path: Path, shown: str) -> os.stat_result:
    """``os.stat`` whose every failure is a usage error with the reason."""
    try:
        return os.stat(path)
    except OSError as exc:
        reason = _REASONS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
        raise UsageError(f"--python {shown}: {reason}", hint=_WHICH_PYTHON) from None
    except ValueError:  # an embedded NUL byte
        raise UsageError(f"--python {shown}: not a valid path", hint=_WHICH_PYTHON) from None


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return True


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "folder"),
        (stat.S_ISFIFO, "named pipe"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"
