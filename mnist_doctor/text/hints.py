"""Exact commands for hints, spelled for the interpreter under examination.

Every install or uninstall hint goes through :func:`install_command` /
:func:`uninstall_command`, which know how the target installs packages (an
:class:`Installer`): ``python -m pip`` when the target has pip; ``uv pip ... --python PATH``
when it has none (uv and pipx make such environments) and ``uv`` is on PATH; else
``PATH -m ensurepip --upgrade`` first. The result is a :class:`Command`: typed steps
(:class:`~mnist_doctor.model.Fix`) whose argv the hint's text is rendered from, so ``--fix``
runs exactly what the hint shows and never parses text. The doctor's own actions as fixes
(``--clear-cache``, ``--fetch --mirror URL``, placing a reused archive) are built here too,
spelled for the patient.

The other commands a hint names — an alternative ``--fix`` does not run, a setting, the offline
route — are typed where the sentence is written: :func:`said`, :func:`quoted` and
:func:`otherwise` return a :class:`~mnist_doctor.model.Hint`, prose that carries each command as
:class:`~mnist_doctor.model.Advice`; the report prints those on lines of their own.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from dataclasses import dataclass

from mnist_doctor.datasets.spec import MNIST, DatasetSpec
from mnist_doctor.datasets.table import Dataset
from mnist_doctor.model import Advice, Fix, FixKind, Hint, shell_line, shell_quote
from mnist_doctor.text.redact import redact_text


def python_command(target_python: str) -> str:
    """How the user should spell the target interpreter in a shell.

    ``python`` when that already is the target (the common case); otherwise its full
    path, so a hint never installs into the wrong environment (pipx, notebooks).
    """
    for name in ("python", "python3"):
        found = shutil.which(name)
        if found and same_file(found, target_python):
            return name
    return target_python


def same_file(a: str, b: str) -> bool:
    """The same interpreter *path*. Not ``os.path.samefile``: every venv's ``python`` is a
    symlink to the same base binary, yet each one is a different environment."""
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


@dataclass(frozen=True)
class Command:
    """Typed steps (:class:`~mnist_doctor.model.Fix`) run in order; ``str()`` is the hint's text.

    The text is rendered from the steps' argv (``model.shell_join``, joined by ``&&``), never the
    reverse: what a hint shows and what ``--fix`` runs cannot disagree.
    """

    steps: tuple[Fix, ...]

    def __str__(self) -> str:
        return shell_line(self.steps)

    def then(self, other: Command) -> Command:
        return Command(self.steps + other.steps)

    @property
    def advice(self) -> Hint:
        """The steps as a command a person may run that ``--fix`` does not (an alternative)."""
        return Hint(str(self), (Advice(str(self)),))


def said(line: str, comment: str | None = None) -> Hint:
    """A command a person may run, as the hint shows it: ``line``, then ``   # comment``.

    The command is typed as :class:`~mnist_doctor.model.Advice` (the report prints it on a line of
    its own); a hint is never parsed for it.
    """
    return Hint(line + (f"   # {comment}" if comment else ""), (Advice(line, comment),))


def quoted(line: str) -> Hint:
    """A command inside prose, in backticks: `` `line` ``."""
    return Hint(f"`{line}`", (Advice(line),))


def otherwise(lead: str, line: str) -> Hint:
    """Another command after one: ``   # lead: line`` (its lead-in words its comment)."""
    return Hint(f"   # {lead}: {line}", (Advice(line, lead),))


def _run(argv: tuple[str, ...], why: str) -> Fix:
    return Fix(FixKind.COMMAND, argv, why)


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

    def _ensurepip(self) -> Fix:
        return _run((self.python, "-m", "ensurepip", "--upgrade"), f"install pip into {self.python} first")

    def install(self, *specs: str, flags: tuple[str, ...] = ()) -> Command:
        why = f"install {' '.join(specs)}"
        if self.kind == "uv":
            return Command((_run(("uv", "pip", "install", "--python", self.python, *flags, *specs), why),))
        step = self._pip("install", *flags, *specs)
        if self.kind == "ensurepip":
            return Command((self._ensurepip(), _run((self.python, *step[1:]), why)))
        return Command((_run(step, why),))

    def uninstall(self, *names: str) -> Command:
        why = f"uninstall {' '.join(names)}"
        if self.kind == "uv":
            return Command((_run(("uv", "pip", "uninstall", "--python", self.python, *names), why),))
        if self.kind == "ensurepip":
            return Command(
                (self._ensurepip(), _run((self.python, "-m", "pip", "uninstall", "-y", *names), why))
            )
        return Command((_run(self._pip("uninstall", "-y", *names), why),))


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
    """``mnist-doctor ARGS`` plus ``--python`` when the patient is not the doctor's own Python.

    For hints with placeholders (``--seed FILE``); a step ``--fix`` performs uses :func:`doctor_argv`.
    """
    extra = "" if same_file(target_python, sys.executable) else f" --python {shell_quote(target_python)}"
    return "mnist-doctor" + extra + ("" if not args else " " + " ".join(args))


def doctor_argv(target_python: str, *args: str) -> tuple[str, ...]:
    """The argv of ``mnist-doctor ARGS`` for the patient (``--python`` when not the doctor's own)."""
    extra = () if same_file(target_python, sys.executable) else ("--python", target_python)
    return ("mnist-doctor", *extra, *args)


def offline_route(target_python: str, dataset: DatasetSpec | Dataset | tuple[Dataset, ...] = MNIST) -> Hint:
    """The way around a network that does not deliver the file, said once for every cause.

    ``dataset`` is one file's spec, a loader (each file its ``load_data()`` reads, and the
    ``--dataset`` flag that selects it) or several loaders (one ``--seed`` selects them all).
    ``FILE`` is the one placeholder, because only the user knows where the copy will be; so the
    sentence says where to get it: the exact URL, and the sha256 that proves it is the right file.
    """
    specs: tuple[DatasetSpec, ...] = (dataset,) if isinstance(dataset, DatasetSpec) else ()
    selection: tuple[str, ...] = ()
    if isinstance(dataset, Dataset):
        specs, selection = tuple(f.spec for f in dataset.loaded_files), dataset.selection
    elif isinstance(dataset, tuple):
        specs = tuple(f.spec for loader in dataset for f in loader.loaded_files)
        names = [loader.name for loader in dataset]
        selection = () if [d.is_default for d in dataset] == [True] else ("--dataset", ",".join(names))
    seed = quoted(doctor_command(target_python, "--seed FILE", *selection))
    if len(specs) == 1:
        only = specs[0]
        return (
            f"download {redact_text(only.origin)} on a machine that reaches it "
            f"(sha256 {only.sha256}) and install it here: "
        ) + seed
    where = " and ".join(f"{redact_text(s.origin)} (sha256 {s.sha256})" for s in specs)
    return f"download {where} on a machine that reaches them and install each here: " + seed


def clear_cache_fix(target_python: str, why: str, dataset: str | None = None) -> Fix:
    """Remove the dataset's own files from the Keras cache (``mnist-doctor --clear-cache``).

    ``dataset``: a loader other than the run's selection (``--clear-cache --dataset NAME``).
    """
    args = ("--clear-cache",) if dataset is None else ("--clear-cache", "--dataset", dataset)
    argv = doctor_argv(target_python, *args)
    return Fix(FixKind.CLEAR_CACHE, argv, why, needs_confirmation=False, dataset=dataset)


def reuse_fix(target_python: str, dataset: str, why: str) -> Fix:
    """Place the verified archive the other Keras line cached where this one reads it.

    No flag of its own does this: typed by hand it is ``mnist-doctor --fix --dataset NAME``.
    """
    argv = doctor_argv(target_python, "--fix", "--dataset", dataset)
    return Fix(FixKind.REUSE, argv, why, needs_confirmation=False, dataset=dataset)


def fetch_fix(target_python: str, mirror: str, why: str) -> Fix:
    """Download mnist.npz from ``mirror`` into the Keras cache (``mnist-doctor --fetch --mirror URL``)."""
    argv = doctor_argv(target_python, "--fetch", "--mirror", mirror)
    return Fix(FixKind.FETCH, argv, why, needs_confirmation=False, url=mirror)
