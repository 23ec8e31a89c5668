"""Which NumPy the compiled packages with an unmet NumPy requirement were built for.

A requirement on NumPy says what a package's authors *support*, not what its compiled code
can load: ml_dtypes 0.6.0 declares ``numpy>=2.0.0`` and imports under NumPy 1.26 (its
extension targets NumPy 1.23's C-API), 0.7.0 declares the same and does not (it targets
2.0). So an unmet NumPy requirement alone is a warning; whether it breaks the import is
read from the compiled files themselves (``target/numpy_builds.py``: the message NumPy's
headers compile into every extension names the headers and the oldest NumPy they target).

The scan runs only when the closure has an unmet NumPy requirement of a package that ships
compiled code (rare, and never in a healthy environment), reads only that package's own
``.so``/``.pyd`` files with a cap on bytes and time, and imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from mnist_doctor.facts import Options, fact
from mnist_doctor.facts.closure import NUMPY, Closure, Unmet, shown
from mnist_doctor.probing.subproc import VerifiedPython, run_script

#: The scan's own cap (seconds): a few MB per package, read from the page cache.
SCAN_TIMEOUT_S = 10.0
#: Packages scanned in one run, at most.
SCAN_LIMIT = 20


@dataclass(frozen=True)
class NumpyBuild:
    """What one distribution's compiled files were built for."""

    name: str
    #: Files read (its ``RECORD``'s ``.so``/``.pyd``), and how many were built with NumPy 1 headers.
    files: int = 0
    numpy1_files: int = 0
    #: The oldest NumPy each file built with NumPy 2 headers targets (``2.0``, ``1.23``).
    targets: tuple[Version, ...] = ()
    truncated: bool = False

    def breaks_under(self, running: Version, shown: str | None = None) -> str | None:
        """Why these files cannot load under NumPy ``running``, or None (``shown``: the name to say)."""
        who = shown or self.name
        if self.numpy1_files and running.major >= 2:
            return (
                f"{who} was compiled with NumPy 1.x headers ({self.numpy1_files} of its files): "
                f"NumPy {running} cannot load it"
            )
        newest = max(self.targets, default=None)
        if newest is not None and Version(running.base_version) < newest:
            return f"{who} was compiled for NumPy {newest}'s C-API or newer: NumPy {running} refuses it"
        return None


@dataclass(frozen=True)
class NumpyBuilds:
    """The scan's answer by canonical distribution name; ``why_not`` when there is none."""

    builds: dict[str, NumpyBuild] = field(default_factory=dict)
    why_not: str | None = None

    def abi_break(self, unmet: Unmet) -> str | None:
        """Why the unmet NumPy requirement ``unmet`` breaks the import for certain, or None."""
        if unmet.name != NUMPY or unmet.installed is None or unmet.installed.version is None:
            return None
        build = self.builds.get(unmet.requirer.key)
        if build is None:
            return None
        return build.breaks_under(unmet.installed.version, shown(unmet.requirer.name))


def to_scan(closure: Closure) -> list[str]:
    """Requirers of an unmet NumPy requirement that ship (or may ship) compiled code."""
    names = [
        u.requirer.key
        for u in closure.unmet
        if u.name == NUMPY and u.installed is not None and u.requirer.purelib is not True
    ]
    return list(dict.fromkeys(names))[:SCAN_LIMIT]


def parse(answer: dict[str, Any] | None) -> dict[str, NumpyBuild]:
    """The script's answer as typed records; anything of another shape is left out."""
    rows = (answer or {}).get("builds")
    out: dict[str, NumpyBuild] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            continue
        targets = []
        listed = row.get("targets")
        for text in listed if isinstance(listed, list) else []:
            try:
                targets.append(Version(str(text)))
            except InvalidVersion:
                continue
        out[row["name"]] = NumpyBuild(
            row["name"],
            _count(row.get("files")),
            _count(row.get("numpy1_files")),
            tuple(targets),
            row.get("truncated") is True,
        )
    return out


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


@fact
def numpy_builds(dependency_closure: Closure, target_python: VerifiedPython, options: Options) -> NumpyBuilds:
    """What the compiled packages with an unmet NumPy requirement were built for (module docstring)."""
    names = to_scan(dependency_closure)
    if not names:
        return NumpyBuilds(why_not="no compiled package with an unmet NumPy requirement")
    run = run_script(
        target_python, "numpy_builds.py", names, timeout=options.budget.slice(cap=SCAN_TIMEOUT_S)
    )
    if run.answer is None:
        why = "cut short by the doctor's --timeout" if run.cut_by_budget else "the scan gave no answer"
        return NumpyBuilds(why_not=why)
    return NumpyBuilds(parse(run.answer))
