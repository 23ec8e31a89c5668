"""Which Python is the patient: ``--python PATH`` / ``MNIST_DOCTOR_PYTHON``, or our own.

People install the doctor with pipx (its own venv, no TensorFlow) and run their code
in a notebook kernel or a conda env. Every fact about the target environment is
therefore gathered by running a stdlib-only script *with the target interpreter*;
this module only finds and validates that interpreter.
"""

from __future__ import annotations

import os
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
    about the patient), or a virtual environment's folder.
    """
    if not value:
        value = os.environ.get(ENV_VAR) or ""
    if not value:
        return sys.executable
    path = Path(value).expanduser()
    if path.is_dir():
        for candidate in _VENV_CANDIDATES:
            if (path / candidate).exists():
                path = path / candidate
                break
        else:
            raise UsageError(
                f"--python {value}: folder has no bin/python or Scripts\\python.exe",
                hint="pass a Python interpreter or a virtual environment's folder",
            )
    if not path.exists():
        raise UsageError(
            f"--python {value}: no such file",
            hint='in the environment you want examined, run: python -c "import sys; print(sys.executable)"',
        )
    if not os.access(path, os.X_OK):
        raise UsageError(
            f"--python {value}: not executable", hint=f"chmod +x {path}, or pass another interpreter"
        )
    return str(path.absolute())
