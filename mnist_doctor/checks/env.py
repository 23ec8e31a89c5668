"""Checks of the working environment around the interpreter (shadowing files)."""

from __future__ import annotations

import os

from mnist_doctor.introspected import Introspection
from mnist_doctor.model import BaseCheck, Result


def _inside(path: str | None, place: str) -> bool:
    if not path:
        return False
    try:
        return os.path.commonpath([os.path.abspath(path), os.path.abspath(place)]) == os.path.abspath(place)
    except ValueError:
        return False


class Shadowing(BaseCheck):
    """No ``tensorflow.py`` / ``keras.py`` / ``numpy.py`` (or folder) hides the real package.

    Python puts the script's folder (or the working directory) first on ``sys.path``, so
    a file named like a package is imported instead of it — a classic cause of
    ``module 'tensorflow' has no attribute 'keras'``.
    """

    id = "env.shadowing"
    title = "Shadowing files"

    def run(self, introspection: Introspection) -> Result:
        modules = introspection.modules
        candidates = introspection.shadows
        shadowing: list[str] = []
        harmless: list[str] = []
        for cand in candidates:
            spec = modules.get(cand["name"]) or {}
            origin = spec.get("origin")
            locations = spec.get("locations") or []
            loads_it = _inside(origin, cand["path"]) or any(_inside(loc, cand["path"]) for loc in locations)
            (shadowing if loads_it else harmless).append(cand["path"])
        if shadowing:
            first = shadowing[0]
            base = os.path.basename(first)
            stem = base[:-3] if base.endswith(".py") else base
            new = f"my_{stem}.py" if base.endswith(".py") else f"my_{stem}"
            folder = os.path.dirname(first)
            return Result.fail(
                f"{first} shadows the real {stem}: `import {stem}` loads this instead",
                details=[f"loaded instead of the package: {p}" for p in shadowing],
                hint=f"cd {folder} && mv {base} {new} && rm -rf __pycache__/{stem}.*",
                data={"shadowing": shadowing},
            )
        if harmless:
            return Result.warn(
                "named like a package but not imported (a folder without __init__.py): "
                + ", ".join(harmless),
                hint="rename it to avoid confusion if it ever gains an __init__.py",
            )
        return Result.ok(
            "no file in the working directory or the script folder hides tensorflow, keras or numpy"
        )


#: Where this family stands in the report (lower first; plugins without one come last).
REPORT_ORDER = 10

CHECKS = [Shadowing()]
