"""Exact commands for hints, spelled for the interpreter under examination."""

from __future__ import annotations

import os
import shlex
import shutil
import sys


def python_command(target_python: str) -> str:
    """How the user should spell the target interpreter in a shell.

    ``python`` when that already is the target (the common case); otherwise its full
    path, so a hint never installs into the wrong environment (pipx, notebooks).
    """
    for name in ("python", "python3"):
        found = shutil.which(name)
        if found and _same_file(found, target_python):
            return name
    return shlex.quote(target_python)


def _same_file(a: str, b: str) -> bool:
    """The same interpreter *path*. Not ``os.path.samefile``: every venv's ``python`` is a
    symlink to the same base binary, yet each one is a different environment."""
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def pip_install(target_python: str, *specs: str) -> str:
    """``python -m pip install "numpy<2"`` for the target interpreter."""
    quoted = " ".join(f'"{s}"' if any(c in s for c in "<>=!~;[ ") else s for s in specs)
    return f"{python_command(target_python)} -m pip install {quoted}"


def pip_uninstall(target_python: str, *names: str) -> str:
    return f"{python_command(target_python)} -m pip uninstall -y {' '.join(names)}"


def doctor_command(target_python: str, *args: str) -> str:
    """``mnist-doctor ARGS`` plus ``--python`` when the patient is not the doctor's own Python."""
    extra = "" if _same_file(target_python, sys.executable) else f" --python {shlex.quote(target_python)}"
    return "mnist-doctor" + extra + ("" if not args else " " + " ".join(args))
