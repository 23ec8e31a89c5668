"""Version and compatibility checks, from installed metadata (TensorFlow is never imported here).

Two sources are consulted and both must agree: the compatibility table kept as data
(``data/compat.toml``, proven by the nox matrix) and the installed TensorFlow's own
declared requirements (``Requires-Dist``, markers evaluated for the target interpreter).

Calibration (``fail`` means "this stops the import or ``load_data()`` here"): metadata is a
*prediction*; when the import probe (``runtime.import``) ran in the same run it is a second
witness, and the status reflects both. These checks run after it (``after``) and read its
result:

- a declared-requirement violation the probe shows importing fine is a ``warn`` ("outside the
  declared range, but the import works here (runtime.import)");
- a violation the probe also fails on is a ``fail`` that names both witnesses;
- without the probe (``--select compat``, or it was cut short by the budget), a violation of
  ``compat.requirements`` fails only when it is known to break: the distribution is missing,
  its version is *below* TensorFlow's declared minimum (TensorFlow calls what only newer
  versions have, or was compiled against them: ml_dtypes 0.3.2 under TF 2.21), or a
  ``[[known_break]]`` row of ``data/compat.toml`` names it. Newer than an upper cap, or an
  excluded version, is a ``warn``: such caps are precautions more often than breaks (h5py
  3.16 under TF 2.21, which declares ``<3.15``, imports and works — a matrix row);
- NumPy and Keras verdicts without the probe come from the table, which the matrix proves
  against real imports, and keep failing on a mismatch.

Two TensorFlow distributions at the same version (``pip install tf-keras`` into a
``tensorflow-cpu`` environment pulls ``tensorflow`` in) write identical files and work: a
``warn`` naming the risk. At different versions they overwrite each other: a ``fail``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from mnist_doctor.compat.table import (
    Release,
    applies,
    canonical,
    declared,
    known_break,
    release_for,
    releases_supporting_python,
    table_span,
)
from mnist_doctor.facts.closure import (
    KERAS_ROOTS,
    Closure,
    Move,
    Unmet,
    below_minimum,
    module_names,
    plan_move,
    shown,
)
from mnist_doctor.facts.closure import (
    merged as merged_specs,
)
from mnist_doctor.facts.flavour import LEGACY_ON, KerasFlavour
from mnist_doctor.facts.introspection import (
    TF_PROVIDERS,
    Dist,
    Distributions,
    conflicting_tensorflow,
    env_lookup,
)
from mnist_doctor.facts.numpy_builds import NumpyBuilds
from mnist_doctor.model import Advice, BaseCheck, Hint, Result, Status
from mnist_doctor.text.hints import (
    Command,
    install_command,
    pip_install,
    pip_uninstall,
    said,
    uninstall_command,
)

#: The import probe's check: the second witness these checks reconcile with.
IMPORT_CHECK = "runtime.import"


@dataclass(frozen=True)
class ImportWitness:
    """What ``runtime.import`` saw in this run: ``imports``, ``fails`` or ``absent``."""

    said: str
    text: str

    def line(self) -> str:
        return f"import probe ({IMPORT_CHECK}): {self.text}"


def import_witness(results: dict[str, Any] | None) -> ImportWitness:
    """Read the import probe's result, if it ran to a verdict in this run."""
    result = (results or {}).get(IMPORT_CHECK)
    if result is None:
        return ImportWitness("absent", "not run in this run")
    status = getattr(result.status, "value", result.status)
    data = result.data or {}
    if data.get("budget_limited"):
        return ImportWitness("absent", "cut short by the doctor's --timeout: no verdict")
    if status in ("ok", "warn") and (data.get("runtime") or {}).get("keras_kind"):
        return ImportWitness("imports", result.summary)
    if status == "fail":
        return ImportWitness("fails", result.summary)
    return ImportWitness("absent", f"{status}: {result.summary}")


def reconcile(result: Result, witness: ImportWitness, what: str = "metadata") -> Result:
    """A metadata ``fail`` that the import probe contradicts becomes a ``warn``; both are named."""
    if result.status != Status.FAIL or witness.said == "absent":
        if result.status == Status.FAIL:
            result.details.append(f"{witness.line()}; the verdict rests on {what} alone")
        return result
    result.details[:0] = [f"{what}: {result.summary}", witness.line()]
    if witness.said == "imports":
        result.status = Status.WARN
        result.summary += f"; outside the declared range, but the import works here ({IMPORT_CHECK})"
    else:
        result.summary += f"; the import fails here too ({IMPORT_CHECK})"
    return result


def _with_fix(result: Result, command: Command | None) -> Result:
    """Carry the hint's command as typed steps so ``--fix`` runs exactly what the hint shows."""
    if command is not None:
        result.fixes = command.steps
    return result


def merged(specs: Iterable[str]) -> str:
    """One specifier string from several, without repeats (``>=3.0.0`` declared and tabled)."""
    return str(SpecifierSet(",".join(s for s in specs if s)))


def _previous_minor(older: Version, newer: Version) -> bool:
    """``older`` is exactly one minor release behind ``newer`` (2.16.x vs 2.17.y)."""
    return older.major == newer.major and older.minor == newer.minor - 1


def _minor(version: Version) -> str:
    return f"{version.major}.{version.minor}"


class TensorflowInstalled(BaseCheck):
    """Exactly one TensorFlow distribution is installed."""

    id = "compat.tensorflow"
    title = "TensorFlow installed"

    def run(
        self,
        distributions: Distributions,
        target_python: str,
        keras_flavour: KerasFlavour,
        doctor_isolation: str | None,
    ) -> Result:
        dists = distributions.tensorflow_dists()
        if not dists:
            return self._none(target_python, keras_flavour, doctor_isolation)
        providers = conflicting_tensorflow(dists)
        listed = ", ".join(f"{d.name} {d.version_str}" for d in dists)
        if len(providers) > 1:
            return self._several(providers, listed, target_python, dists)
        duplicates = distributions.by_key.get(providers[0].key if providers else dists[0].key, [])
        if len(duplicates) > 1:
            name = duplicates[0].name
            cmd = uninstall_command(target_python, name).then(install_command(target_python, name))
            return _with_fix(
                Result.warn(
                    f"{name} is installed {len(duplicates)} times: "
                    + ", ".join(f"{d.version_str} in {d.location}" for d in duplicates),
                    hint=said(pip_uninstall(target_python, name))
                    + " (repeat until none is left), then "
                    + said(pip_install(target_python, name)),
                ),
                cmd,
            )
        main = providers[0] if providers else dists[0]
        return Result.ok(
            f"{main.name} {main.version_str}",
            details=[f"location: {main.location}"],
            data={"installed": [d.name for d in dists]},
        )

    @staticmethod
    def _none(target_python: str, keras_flavour: KerasFlavour, isolation: str | None) -> Result:
        details = [f"interpreter examined: {target_python}"]
        if keras_flavour.kind == "keras3":
            details.append(f"{keras_flavour.reason}: keras.datasets.mnist.load_data() can still work")
        if isolation:
            # The doctor examined its own private venv: the project's TensorFlow lives elsewhere.
            return Result.fail(
                f"no TensorFlow here — this is mnist-doctor's own {isolation} environment, "
                "not your project's",
                details=[
                    *details,
                    "installing TensorFlow here would only change the doctor's private venv",
                    "your project's interpreter is the one that runs your code: there, "
                    "python -c 'import sys; print(sys.executable)' prints its path",
                    "if the project itself has no TensorFlow yet, install it there with that interpreter",
                ],
                hint=said("mnist-doctor --python /path/to/your/project/bin/python"),
                data={"installed": [], "isolated": isolation},
            )
        details.append(
            "if mnist-doctor runs in its own environment (pipx), point it at your project's Python: "
            + "mnist-doctor --python /path/to/python"
        )
        cmd = install_command(target_python, "tensorflow")
        return _with_fix(
            Result.fail("no TensorFlow distribution is installed", details=details, hint=str(cmd)), cmd
        )

    @staticmethod
    def _several(providers: list[Dist], listed: str, target_python: str, dists: list[Dist]) -> Result:
        names = [d.name for d in providers]
        keep = "tensorflow" if "tensorflow" in [canonical(n) for n in names] else names[0]
        versions = {d.version_str for d in providers}
        where = [f"{d.name} {d.version_str} in {d.location}" for d in providers]
        data = {"installed": [d.name for d in dists]}
        if len(versions) == 1:
            version = versions.pop()
            cmd = uninstall_command(target_python, *names).then(
                install_command(target_python, f"{keep}=={version}")
            )
            return _with_fix(
                Result.warn(
                    f"{len(providers)} TensorFlow distributions at the same version ({listed}): "
                    "they hold the same files, so TensorFlow works, but they share them",
                    details=[
                        *where,
                        "risk: uninstalling or upgrading either one deletes or replaces files the other "
                        "needs, and `import tensorflow` then breaks",
                        "how it happens: `pip install tf-keras` (which requires `tensorflow`) in a "
                        "tensorflow-cpu environment",
                        f"clean fix: keep one ({keep}, which other packages depend on by name)",
                    ],
                    hint=str(cmd),
                    data=data,
                ),
                cmd,
            )
        cmd = uninstall_command(target_python, *names).then(install_command(target_python, keep))
        return _with_fix(
            Result.fail(
                f"{len(providers)} TensorFlow distributions overwrite each other: {listed}",
                details=[*where, "at different versions, the files on disk come from two builds"],
                hint=str(cmd),
                data=data,
            ),
            cmd,
        )


class PythonSupported(BaseCheck):
    """The interpreter's version is one the installed TensorFlow ships wheels for."""

    id = "compat.python"
    title = "Python version"

    def run(self, distributions: Distributions, python_version: Version, target_python: str) -> Result:
        tf = distributions.tensorflow()
        py = Version(f"{python_version.major}.{python_version.minor}")
        if tf is None or tf.version is None:
            supporting = releases_supporting_python(py)
            if not supporting:
                return Result.fail(
                    f"no TensorFlow release ({table_span()}) supports Python {py}",
                    hint="create an environment with a supported Python, e.g. " + _new_env_command(),
                )
            return Result.ok(
                f"Python {python_version} is supported by TensorFlow {table_span(supporting)}"
                " (no TensorFlow installed yet)"
            )
        row = release_for(tf.version)
        if row is None:
            return Result.warn(
                f"TensorFlow {tf.version} is outside the table ({table_span()}); cannot judge Python {py}",
            )
        if not row.python.contains(py, prereleases=True):
            newest = releases_supporting_python(py)
            cmd = install_command(target_python, f"tensorflow{newest[-1].tensorflow}") if newest else None
            fix = (
                str(cmd)
                if cmd
                else f"use a Python that TensorFlow {_minor(tf.version)} supports ({row.python})"
            )
            return _with_fix(
                Result.fail(
                    f"TensorFlow {tf.version} supports Python {row.python}, this is {python_version}",
                    hint=fix,
                ),
                cmd,
            )
        return Result.ok(f"Python {python_version} is supported by TensorFlow {tf.version} ({row.python})")


def _new_env_command() -> Hint:
    """A fresh venv with a supported Python, installed the way that venv can (uv venvs have no pip)."""
    if shutil.which("uv"):
        return said("uv venv -p 3.12 .venv && uv pip install --python .venv/bin/python tensorflow")
    return said("python3.12 -m venv .venv && .venv/bin/python -m pip install tensorflow")


class NumpyCompatible(BaseCheck):
    """NumPy fits the installed TensorFlow, by the table *and* by TF's declared requirements."""

    id = "compat.numpy"
    title = "NumPy ⇄ TensorFlow"
    after = (IMPORT_CHECK,)

    def run(
        self,
        distributions: Distributions,
        marker_env: dict[str, str],
        target_python: str,
        results: dict[str, Any],
    ) -> Result:
        numpy = distributions.get("numpy")
        tf = distributions.tensorflow()
        if tf is None or tf.version is None:
            return Result.skip("no TensorFlow installed: nothing to pair NumPy with")
        if numpy is None or numpy.version is None:
            cmd = install_command(target_python, f"tensorflow=={tf.version}", flags=("--force-reinstall",))
            return _with_fix(Result.fail("NumPy is not installed (TensorFlow needs it)", hint=str(cmd)), cmd)
        row = release_for(tf.version)
        problems: list[str] = []
        details: list[str] = []
        if row is None:
            details.append(f"TensorFlow {tf.version} is outside the table ({table_span()}): metadata only")
        else:
            details.append(f"table: TensorFlow {tf.version} works with numpy{row.numpy}")
            if not row.numpy.contains(numpy.version, prereleases=True):
                problems.append(row.numpy_note or f"TensorFlow {_minor(tf.version)} needs numpy{row.numpy}")
        reqs = declared(tf.requirements(), "numpy", marker_env)
        if reqs:
            spec = " and ".join(str(r.specifier) or "any" for r in reqs)
            details.append(f"declared by {tf.name} {tf.version}: numpy {spec}")
            for req in reqs:
                if req.specifier and not req.specifier.contains(numpy.version, prereleases=True):
                    problems.append(f"{tf.name} {tf.version} declares numpy{req.specifier}")
        else:
            details.append(f"{tf.name} {tf.version} declares no NumPy requirement here")
        if not problems:
            return Result.ok(f"NumPy {numpy.version} fits TensorFlow {tf.version}", details=details)
        want = self._wanted(row, reqs)
        if numpy.version.major >= 2 and tf.version < Version("2.18"):
            summary = f"NumPy {numpy.version} with TensorFlow {tf.version}: TF < 2.18 was built for NumPy 1.x"
            upgrade = pip_install(target_python, "tensorflow>=2.18")
            cmd = install_command(target_python, "numpy<2")
            hint: str = f"{cmd}  (or upgrade: " + said(upgrade) + ")"
        else:
            summary = f"NumPy {numpy.version} does not fit TensorFlow {tf.version}"
            cmd = install_command(target_python, f"numpy{want}")
            hint = str(cmd)
        result = Result.fail(
            summary,
            details=details + problems,
            hint=hint,
            data={"numpy": str(numpy.version), "tensorflow": str(tf.version)},
        )
        return _with_fix(reconcile(result, import_witness(results), "table and metadata"), cmd)

    @staticmethod
    def _wanted(row: Release | None, reqs: list[Requirement]) -> str:
        specs = [str(r.specifier) for r in reqs if r.specifier]
        if row is not None:
            specs.append(str(row.numpy))
        return merged(specs)


class KerasPairing(BaseCheck):
    """The Keras that tf.keras resolves to is installed and fits TensorFlow."""

    id = "compat.keras"
    title = "Keras ⇄ TensorFlow"
    after = (IMPORT_CHECK,)

    def run(
        self,
        distributions: Distributions,
        keras_flavour: KerasFlavour,
        target_env: dict[str, str],
        marker_env: dict[str, str],
        target_python: str,
        results: dict[str, Any],
    ) -> Result:
        flavour = keras_flavour
        details = [flavour.reason]
        legacy_raw = env_lookup(target_env, "TF_USE_LEGACY_KERAS")
        odd_legacy = legacy_raw is not None and legacy_raw not in LEGACY_ON
        if odd_legacy:
            details.append(f"TF_USE_LEGACY_KERAS={legacy_raw!r} is ignored: only 1, true or True count")
        tf = distributions.tensorflow()
        if tf is None or tf.version is None:
            if flavour.kind == "keras3":
                return Result.ok(f"Keras {flavour.version} without TensorFlow", details=details)
            return Result.skip("no TensorFlow installed")
        row = release_for(tf.version)
        result = self._judge(flavour, tf, distributions, row, marker_env, target_python)
        result.details[:0] = details
        if odd_legacy and result.status.value == "ok":
            result.status = Status.WARN
            result.hint = "export TF_USE_LEGACY_KERAS=1   (or unset it)"
            result.advice = (
                Advice("export TF_USE_LEGACY_KERAS=1"),
                Advice("unset TF_USE_LEGACY_KERAS", "or"),
            )
        return reconcile(result, import_witness(results), "table and metadata")

    def _judge(
        self,
        flavour: KerasFlavour,
        tf: Dist,
        dists: Distributions,
        row: Release | None,
        marker_env: dict[str, str],
        target_python: str,
    ) -> Result:
        keras = dists.get("keras")
        tf_keras = dists.get("tf-keras")
        minor = _minor(tf.version) if tf.version else "?"
        if flavour.kind == "tf_keras":
            pin = install_command(target_python, f"tf-keras~={minor}.0")
            if tf_keras is None or tf_keras.version is None:
                return _with_fix(
                    Result.fail(
                        f"TF_USE_LEGACY_KERAS={flavour.legacy_env} but tf-keras is not installed: "
                        "tf.keras raises ImportError",
                        hint=f"{pin}   (or " + said("unset TF_USE_LEGACY_KERAS") + ")",
                    ),
                    pin,
                )
            if tf_keras.version and tf.version and _previous_minor(tf_keras.version, tf.version):
                return _with_fix(
                    Result.warn(
                        f"tf-keras {tf_keras.version} is one minor behind TensorFlow {tf.version}: "
                        "it imports, but tf-keras declares the TensorFlow of its own minor",
                        hint=str(pin),
                    ),
                    pin,
                )
            if _minor(tf_keras.version) != minor:
                return _with_fix(
                    Result.fail(
                        f"tf-keras {tf_keras.version} does not match TensorFlow {tf.version} "
                        f"(needs {minor}.x)",
                        hint=str(pin),
                    ),
                    pin,
                )
            return Result.ok(
                f"tf.keras is tf-keras {tf_keras.version} (TF_USE_LEGACY_KERAS={flavour.legacy_env})"
            )
        declared_keras = declared(tf.requirements(), "keras", marker_env)
        specs = [r.specifier for r in declared_keras if r.specifier]
        if row is not None:
            specs.append(row.keras)
        want = merged(str(s) for s in specs)
        # Install what TensorFlow itself declares (its Requires-Dist), the table only when it declares none.
        own = merged(str(r.specifier) for r in declared_keras if r.specifier) or want
        install = install_command(target_python, f"keras{want}")
        if keras is None or keras.version is None:
            cmd = install_command(target_python, f"keras{own}")
            legacy = (
                ""
                if flavour.legacy_env is None
                else f" (TF_USE_LEGACY_KERAS={flavour.legacy_env!r} is not a value TensorFlow honours)"
            )
            return _with_fix(
                Result.fail(
                    f"Keras is not installed; TensorFlow {tf.version} needs keras{own} for tf.keras{legacy}",
                    details=[f"declared by {tf.name} {tf.version}: keras{own}"],
                    hint=str(cmd),
                ),
                cmd,
            )
        bad = [s for s in specs if not s.contains(keras.version, prereleases=True)]
        same_minor = install_command(target_python, f"keras~={minor}.0")
        if flavour.kind == "keras3" and keras.version.major < 3:
            return _with_fix(
                Result.fail(
                    f"Keras {keras.version} is Keras 2, but tf.keras in TensorFlow {tf.version} "
                    "needs Keras 3",
                    details=[f"needs keras{want}"],
                    hint=f"{install}   (or keep Keras 2: "
                    + said(pip_install(target_python, f"tf-keras~={minor}.0"))
                    + " and "
                    + said("export TF_USE_LEGACY_KERAS=1")
                    + ")",
                ),
                install,
            )
        if flavour.kind == "keras3" and tf.version and tf.version < Version("2.16"):
            return _with_fix(
                Result.warn(
                    f"tf.keras is Keras {keras.version}, which TensorFlow {tf.version} does not support: "
                    "it imports and load_data works, but Keras 2 code and saved models may break",
                    details=[f"TensorFlow {tf.version} needs keras{want}"],
                    hint=str(same_minor),
                ),
                same_minor,
            )
        if flavour.kind == "keras2" and keras.version.major >= 3:
            return _with_fix(
                Result.fail(
                    f"Keras {keras.version} is Keras 3, but TensorFlow {tf.version} "
                    f"needs Keras 2 ({minor}.x)",
                    hint=str(same_minor),
                ),
                same_minor,
            )
        if bad:
            return _with_fix(
                Result.fail(
                    f"Keras {keras.version} does not fit TensorFlow {tf.version} (needs keras{want})",
                    hint=str(install),
                ),
                install,
            )
        return Result.ok(
            f"tf.keras is {flavour.label}", details=[f"TensorFlow {tf.version} needs keras{want}"]
        )


#: Covered by their own checks above; listing them again would double the findings.
_OWN_CHECKS = {"numpy", "keras", "tf-keras"}


class TensorflowRequirements(BaseCheck):
    """Everything the installed TensorFlow declares is installed at a fitting version.

    Like ``pip check``, scoped to TensorFlow: protobuf, ml_dtypes, h5py and the rest. How a
    violation is graded (with and without the import probe) is in the module docstring.
    """

    id = "compat.requirements"
    title = "TensorFlow's requirements"
    after = (IMPORT_CHECK,)

    def run(
        self,
        distributions: Distributions,
        marker_env: dict[str, str],
        target_python: str,
        results: dict[str, Any],
    ) -> Result:
        tf = distributions.tensorflow()
        if tf is None or tf.version is None:
            return Result.skip("no TensorFlow installed")
        breaking: list[str] = []
        lenient: list[str] = []
        fixes: list[str] = []
        checked = 0
        for dist in distributions.tensorflow_dists():
            for req in dist.requirements():
                key = canonical(req.name)
                if key in _OWN_CHECKS or (req.marker is not None and not applies(req.marker, marker_env)):
                    continue
                checked += 1
                installed = distributions.get(key)
                if installed is None or installed.version is None:
                    breaking.append(f"{req.name} is missing ({dist.name} {dist.version_str} declares {req})")
                    fixes.append(str(req).split(";")[0].strip())
                    continue
                if not req.specifier or req.specifier.contains(installed.version, prereleases=True):
                    continue
                line = (
                    f"{req.name} {installed.version_str}, but {dist.name} {dist.version_str} "
                    f"declares {req.name}{req.specifier}"
                )
                fixes.append(f"{req.name}{req.specifier}")
                why = _known_to_break(req.specifier, installed.version, key, tf.version)
                if why:
                    breaking.append(f"{line} — {why}")
                else:
                    lenient.append(f"{line} — newer than declared, not known to break")
        if not (breaking or lenient):
            return Result.ok(
                f"all {checked} requirements of {tf.name} {tf.version} are satisfied",
                details=["numpy and keras are judged by compat.numpy and compat.keras"],
            )
        cmd = install_command(target_python, *dict.fromkeys(fixes))
        listed = breaking + lenient
        witness = import_witness(results)
        summary = f"{len(listed)} outside TensorFlow's declared requirements: " + "; ".join(
            line.split(" — ")[0] for line in listed[:3]
        )
        if witness.said != "absent" or breaking:
            # With the probe, it decides; without it, a known break fails on metadata alone.
            result = reconcile(
                Result.fail(summary, details=list(listed), hint=str(cmd)), witness, "metadata (Requires-Dist)"
            )
            return _with_fix(result, cmd)
        return _with_fix(
            Result.warn(
                summary + f"; not known to break (the import probe, {IMPORT_CHECK}, did not run to confirm)",
                details=[*listed, witness.line()],
                hint=str(cmd),
            ),
            cmd,
        )


def _known_to_break(spec: SpecifierSet, version: Version, key: str, tf_version: Version) -> str | None:
    """Why this violation is known to break the import without trying it, or None."""
    bound = below_minimum(spec, version)
    if bound is not None:
        return f"older than TensorFlow's minimum ({bound}): it lacks what TensorFlow calls"
    row = known_break(key, version, tf_version)
    return row.why if row is not None else None


#: Pairings judged by their own checks (compat.tensorflow, compat.keras): a requirement *on*
#: one of them is theirs, so the closure check does not report it twice.
_PAIRED = frozenset(TF_PROVIDERS) | frozenset(KERAS_ROOTS)
#: Unmet requirements listed in the details; the fix covers them all.
_SHOWN = 20


class ClosureRequirements(BaseCheck):
    """Every distribution TensorFlow and Keras pull in has what it requires (``pip check`` on
    their dependency closure, markers evaluated for the examined interpreter).

    TensorFlow's own requirements are ``compat.requirements``'; a requirement *on* TensorFlow,
    Keras or tf-keras is ``compat.tensorflow``'s and ``compat.keras``'. What is left: ml_dtypes
    requiring a NumPy, Keras requiring optree, protobuf's and h5py's requirements, and so on.

    Graded like the other metadata checks, with the import probe as the second witness:

    - the probe imports: a ``warn`` (inconsistent, and the next install may break it);
    - the probe fails in a module of a package named here (its ``raised_in``): a ``fail``, and
      the report shows one root cause (``runtime.import`` names this check in its ``explained_by``);
    - otherwise (no probe, or it failed for another reason) metadata decides: ``fail`` when the
      requirement is known to break the import (a compiled package whose files were built for a
      NumPy the installed one cannot load, read from the files by ``facts/numpy_builds.py``;
      or a root missing what it imports, or older than its minimum), else ``warn`` — a
      requirement deep in the closure (tensorboard's werkzeug) is often never imported by
      ``load_data()``.

    The fix is one install for the examined interpreter, each requirement moved in the
    direction :func:`mnist_doctor.facts.closure.plan_move` explains (never ``--force`` nor
    ``--no-deps``: the resolver itself must agree).
    """

    id = "compat.closure"
    title = "Requirements of what TensorFlow pulls in"
    after = (IMPORT_CHECK,)

    def run(
        self,
        dependency_closure: Closure,
        numpy_builds: NumpyBuilds,
        target_python: str,
        results: dict[str, Any],
    ) -> Result:
        closure = dependency_closure
        if not closure.roots:
            return Result.skip("no TensorFlow or Keras installed")
        scoped = [u for u in closure.unmet if u.requirer.key not in TF_PROVIDERS and u.name not in _PAIRED]
        details = [f"unreadable, not judged: {line}" for line in closure.unreadable[:_SHOWN]]
        members = len(closure.members)
        checked = sum(
            1
            for name, pairs in closure.required_by.items()
            if name not in _PAIRED
            for dist, _ in pairs
            if dist.key not in TF_PROVIDERS
        )
        if not scoped:
            return Result.ok(
                f"all {checked} requirements of what TensorFlow and Keras pull in "
                f"({members} packages) are met",
                details=[*details, "TensorFlow's own requirements are judged by compat.requirements"],
                data={"checked": checked, "members": members},
            )
        # What breaks the import for certain comes first: the summary names it.
        why = {id(u): _known_break(u, numpy_builds) for u in scoped}
        scoped.sort(key=lambda u: why[id(u)] is None)
        breaks = [reason for u in scoped if (reason := why[id(u)])]
        moves = [plan_move(u, closure) for u in scoped]
        cmd = install_command(target_python, *_specs(m.wants for m in moves))
        modules = sorted({m for u in scoped for m in _modules(u)})
        lines = [f"{u.line()} (via {' → '.join(u.via)})" for u in scoped[:_SHOWN]]
        lines += _builds_read(scoped, numpy_builds)
        if len(scoped) > _SHOWN:
            lines.append(f"... and {len(scoped) - _SHOWN} more (the fix covers them all)")
        data = {
            "checked": checked,
            "members": members,
            "unmet": [_row(u, m, numpy_builds) for u, m in zip(scoped, moves, strict=True)],
            "modules": modules,
        }
        witness = import_witness(results)
        raised_in = _raised_in(results)
        summary = scoped[0].line() + (f" (and {len(scoped) - 1} more)" if len(scoped) > 1 else "")
        because = f" — {breaks[0]}" if breaks else ""
        if witness.said == "imports":
            status = Status.WARN
            summary += f"; the import works here ({IMPORT_CHECK}), but the environment is inconsistent"
        elif witness.said == "fails" and raised_in in modules:
            status = Status.FAIL
            summary += f"{because}; the import fails in {raised_in} ({IMPORT_CHECK})"
        elif breaks:
            status = Status.FAIL
            summary += because
        else:
            status = Status.WARN
            summary += "; not known to break the import"
        details[:0] = [*lines, *(f"known to break: {b}" for b in breaks[:_SHOWN]), witness.line()]
        hint = str(cmd) + _aside(moves, target_python)
        return _with_fix(Result(status, summary, details=details, hint=hint, data=data), cmd)


def _specs(wants: Iterable[tuple[tuple[str, str], ...]]) -> list[str]:
    """One requirement per distribution for one install: the specifiers of every move merged."""
    by_name: dict[str, tuple[str, list[str]]] = {}
    for pairs in wants:
        for name, spec in pairs:
            by_name.setdefault(canonical(name.split("[")[0]), (name, []))[1].append(spec)
    return [shown + merged_specs(SpecifierSet(s) for s in specs) for shown, specs in by_name.values()]


def _aside(moves: list[Move], target_python: str) -> Hint:
    """What the hint says after the command: what it keeps, and the other direction."""
    kept = list(dict.fromkeys(m.keeps for m in moves if m.keeps))
    if not kept:
        return Hint("")
    other = [m.alternative for m in moves if m.alternative]
    text = Hint(f"  (keeps {', '.join(kept)}, which TensorFlow accepts")
    if other:
        text += "; or instead: " + said(pip_install(target_python, *_specs(other)))
    return text + ")"


def _modules(unmet: Unmet) -> list[str]:
    """Import names of the requirer and the required package (``ml_dtypes``, ``numpy``): the
    ``raised_in`` of an import failure that this requirement explains."""
    return [*module_names(unmet.requirer.key), *module_names(unmet.name)]


def _raised_in(results: dict[str, Any] | None) -> str | None:
    """The module the import probe's failure was raised in, as ``runtime.import`` recorded it."""
    result = (results or {}).get(IMPORT_CHECK)
    raised = ((result.data or {}).get("raised_in") if result is not None else None) or None
    return raised if isinstance(raised, str) else None


def _known_break(unmet: Unmet, builds: NumpyBuilds) -> str | None:
    """Why metadata (and the compiled files' own bytes) say the import breaks, or None."""
    return builds.abi_break(unmet) or unmet.root_break()


def _builds_read(scoped: list[Unmet], builds: NumpyBuilds) -> list[str]:
    """What the scan of compiled files found, for the unmet NumPy requirements it answered."""
    out = []
    for unmet in scoped:
        build = builds.builds.get(unmet.requirer.key)
        if build is None or unmet.installed is None or unmet.installed.version is None:
            continue
        if build.breaks_under(unmet.installed.version) is None:
            built = ", ".join(str(t) for t in build.targets) or "no NumPy C-API"
            who = shown(unmet.requirer.name)
            out.append(
                f"{who}'s {build.files} compiled files target NumPy {built}: they load "
                f"under NumPy {unmet.installed.version} (the requirement states support, not the ABI)"
            )
    if builds.why_not and any(u.name == "numpy" for u in scoped):
        out.append(f"compiled files not read: {builds.why_not}")
    return out


def _row(unmet: Unmet, move: Move, builds: NumpyBuilds) -> dict[str, Any]:
    row: dict[str, Any] = {
        "requirer": unmet.requirer.name,
        "requirer_version": unmet.requirer.version_str,
        "requirement": unmet.wanted,
        "package": unmet.installed.name if unmet.installed else unmet.requirement.name,
        "installed": unmet.installed.version_str if unmet.installed else None,
        "via": list(unmet.via),
        "known_break": _known_break(unmet, builds),
        "keeps": move.keeps,
    }
    build = builds.builds.get(unmet.requirer.key)
    if build is not None:  # what its compiled files say (a matrix replay rebuilds them from this)
        row["built_for"] = {
            "files": build.files,
            "numpy1_files": build.numpy1_files,
            "targets": [str(t) for t in build.targets],
        }
    return row


#: Where this family stands in the report (lower first; plugins without one come last).
REPORT_ORDER = 20

CHECKS = [
    TensorflowInstalled(),
    PythonSupported(),
    NumpyCompatible(),
    KerasPairing(),
    TensorflowRequirements(),
    ClosureRequirements(),
]
