"""Exact commands for hints, spelled for the interpreter under examination.

Every install or uninstall hint goes through :func:`install_command` /
:func:`uninstall_command`, which know how the target installs packages (an
:class:`Installer`): ``python -m pip`` when the target has pip; ``uv pip ... --python PATH``
when it has none (uv and pipx make such environments) and ``uv`` is on PATH; else
``PATH -m ensurepip --upgrade`` first. The result is a :class:`Command` that carries its
argv, so ``--fix`` runs exactly what the hint shows instead of parsing the text back.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import threading
from dataclasses import dataclass
from typing import Any


def python_command(target_python: str) -> str:
    """How the user should spell the target interpreter in a shell.

    ``python`` when that already is the target (the common case); otherwise its full
    path, so a hint never installs into the wrong environment (pipx, notebooks).
    """
    for name in ("python", "python3"):
        found = shutil.which(name)
        if found and _same_file(found, target_python):
            return name
    return target_python


def _same_file(a: str, b: str) -> bool:
    """The same interpreter *path*. Not ``os.path.samefile``: every venv's ``python`` is a
    symlink to the same base binary, yet each one is a different environment."""
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def _quote(word: str) -> str:
    """Shell quoting that reads well: requirement specifiers in double quotes, like pip's docs."""
    if word and all(c.isalnum() or c in "-_./=:,+@%" for c in word) and "=" not in word[:1]:
        return word
    if not any(c in word for c in '"$`\\!'):
        return f'"{word}"'
    return shlex.quote(word)


@dataclass(frozen=True)
class Command:
    """One or more argv run in order (``&&``); ``str()`` is the text the hint shows."""

    steps: tuple[tuple[str, ...], ...]

    def __str__(self) -> str:
        return " && ".join(" ".join(_quote(w) for w in step) for step in self.steps)

    def then(self, other: Command) -> Command:
        return Command(self.steps + other.steps)

    def fix(self, reason: str) -> dict[str, Any]:
        """The structured ``data["fix"]`` that ``--fix`` runs (the same argv the hint shows)."""
        return {"kind": "pip", "reason": reason, "command": str(self), "steps": [list(s) for s in self.steps]}


@dataclass(frozen=True)
class Installer:
    """How packages get into one interpreter's environment."""

    python: str
    #: ``importlib.util.find_spec("pip")`` in the target; None when unknown (then pip is assumed).
    has_pip: bool | None = True
    #: ``uv`` on the doctor's PATH (the user's shell), used when the target has no pip.
    uv: str | None = None

    @property
    def kind(self) -> str:
        if self.has_pip is not False:
            return "pip"
        return "uv" if self.uv else "ensurepip"

    def _pip(self, *args: str) -> tuple[str, ...]:
        return (python_command(self.python), "-m", "pip", *args)

    def install(self, *specs: str, flags: tuple[str, ...] = ()) -> Command:
        if self.kind == "uv":
            return Command((("uv", "pip", "install", "--python", self.python, *flags, *specs),))
        step = self._pip("install", *flags, *specs)
        if self.kind == "ensurepip":
            return Command(((self.python, "-m", "ensurepip", "--upgrade"), (self.python, *step[1:])))
        return Command((step,))

    def uninstall(self, *names: str) -> Command:
        if self.kind == "uv":
            return Command((("uv", "pip", "uninstall", "--python", self.python, *names),))
        if self.kind == "ensurepip":
            return Command(
                (
                    (self.python, "-m", "ensurepip", "--upgrade"),
                    (self.python, "-m", "pip", "uninstall", "-y", *names),
                )
            )
        return Command((self._pip("uninstall", "-y", *names),))


_KNOWN: dict[str, Installer] = {}
_KNOWN_LOCK = threading.Lock()


def remember(installer: Installer) -> Installer:
    """Record what the introspection found, so plain ``pip_install(path, ...)`` calls use it too."""
    with _KNOWN_LOCK:
        _KNOWN[os.path.abspath(installer.python)] = installer
    return installer


def installer_for(target_python: str, has_pip: bool | None = None) -> Installer:
    """The installer for ``target_python``: what was remembered for it, else from ``has_pip``."""
    if has_pip is None:
        with _KNOWN_LOCK:
            known = _KNOWN.get(os.path.abspath(target_python))
        if known is not None:
            return known
    return Installer(target_python, has_pip, shutil.which("uv") if has_pip is False else None)


def install_command(target_python: str, *specs: str, flags: tuple[str, ...] = ()) -> Command:
    """THE install command for the target (pip, uv or ensurepip + pip)."""
    return installer_for(target_python).install(*specs, flags=flags)


def uninstall_command(target_python: str, *names: str) -> Command:
    return installer_for(target_python).uninstall(*names)


def pip_install(target_python: str, *specs: str, flags: tuple[str, ...] = ()) -> str:
    """``python -m pip install "numpy<2"`` (or the uv/ensurepip form) for the target, as text."""
    return str(install_command(target_python, *specs, flags=flags))


def pip_uninstall(target_python: str, *names: str) -> str:
    return str(uninstall_command(target_python, *names))


def doctor_command(target_python: str, *args: str) -> str:
    """``mnist-doctor ARGS`` plus ``--python`` when the patient is not the doctor's own Python."""
    extra = "" if _same_file(target_python, sys.executable) else f" --python {shlex.quote(target_python)}"
    return "mnist-doctor" + extra + ("" if not args else " " + " ".join(args))
