"""Checks of the working environment around the interpreter (shadowing files, folders it names)."""

from __future__ import annotations

import os

from mnist_doctor.facts.answers.introspection import Introspection, ModuleSpec
from mnist_doctor.facts.introspection import env_lookup
from mnist_doctor.files.env_paths import examine
from mnist_doctor.model import BaseCheck, Result
from mnist_doctor.text.hints import said


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
            spec = modules.get(cand.name) or ModuleSpec()
            loads_it = _inside(spec.origin, cand.path) or any(
                _inside(loc, cand.path) for loc in spec.locations
            )
            (shadowing if loads_it else harmless).append(cand.path)
        if shadowing:
            first = shadowing[0]
            base = os.path.basename(first)
            stem = base[:-3] if base.endswith(".py") else base
            new = f"my_{stem}.py" if base.endswith(".py") else f"my_{stem}"
            folder = os.path.dirname(first)
            return Result.fail(
                f"{first} shadows the real {stem}: `import {stem}` loads this instead",
                details=[f"loaded instead of the package: {p}" for p in shadowing],
                hint=said(f"cd {folder} && mv {base} {new} && rm -rf __pycache__/{stem}.*"),
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


#: Folders the environment names that Python, Keras and pip use without being asked, and what
#: breaks when one cannot be used. ``KERAS_HOME`` (``cache.keras_home``) and the CA variables
#: (``tls.cert_env``, ``tls.requests_bundle``) are judged by the checks that know what they steer.
FOLDER_VARIABLES = {
    "HOME": "~ is unusable: without KERAS_HOME, Keras caches in the shared /tmp/.keras, and pip "
    "cannot read its configuration",
    "TMPDIR": "Python's tempfile ignores it and uses /tmp; programs that do not (mktemp) fail",
    "TEMP": "Python's tempfile ignores it and uses /tmp",
    "TMP": "Python's tempfile ignores it and uses /tmp",
    "XDG_CACHE_HOME": "programs that cache there (pip, the KERAS_HOME the doctor suggests) cannot",
}
#: Variables whose paths the report prints in commands: a name that is not UTF-8 matters there.
PRINTED = ("HOME",)


class EnvironmentPaths(BaseCheck):
    """``HOME``, ``TMPDIR`` (``TEMP``, ``TMP``) and ``XDG_CACHE_HOME`` name folders that can be used.

    A name longer than the file system allows, a loop of symbolic links, a folder on the way this
    user may not search, a file where a folder should be: each is named with its variable and the
    command that takes it away (``export HOME=…`` from the password database, else ``unset``).
    """

    id = "env.paths"
    title = "Folders named by HOME, TMPDIR, XDG_CACHE_HOME"

    def run(self, target_env: dict[str, str]) -> Result:
        found = []
        checked = []
        for variable, consequence in FOLDER_VARIABLES.items():
            value = env_lookup(target_env, variable)
            if not value:
                continue
            checked.append(variable)
            trouble = examine(variable, value)
            if trouble is not None and (trouble.breaks or variable in PRINTED):
                found.append((trouble, consequence if trouble.breaks else ""))
        if not found:
            if not checked:
                return Result.skip("none of HOME, TMPDIR, TEMP, TMP, XDG_CACHE_HOME is set")
            names = ", ".join(checked)
            return Result.ok(
                f"{names} {'names a usable folder' if len(checked) == 1 else 'name usable folders'}"
            )
        first, consequence = found[0]
        others = [t.variable for t, _ in found[1:]]
        also = f" (also {', '.join(others)}: see details)" if others else ""
        return Result.warn(
            first.sentence + (f": {consequence}" if consequence else "") + also,
            details=[t.sentence + (f": {c}" if c else "") for t, c in found],
            hint=said(" && ".join(t.fix() for t, _ in found)),
            data={"troubles": {t.variable: t.kind for t, _ in found}},
        )


#: Where this family stands in the report (lower first; plugins without one come last).
REPORT_ORDER = 10

CHECKS = [Shadowing(), EnvironmentPaths()]
