"""Version and compatibility checks, from installed metadata alone (TensorFlow is never imported).

Two sources are consulted and both must agree: the compatibility table kept as data
(``data/compat.toml``, proven by the nox matrix) and the installed TensorFlow's own
declared requirements (``Requires-Dist``, markers evaluated for the target interpreter).
"""

from __future__ import annotations

from collections.abc import Iterable

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from mnist_doctor.compat import applies, declared, release_for, releases_supporting_python, table_span
from mnist_doctor.environment import Dist, Distributions, canonical, conflicting_tensorflow, env_lookup
from mnist_doctor.flavour import LEGACY_ON, KerasFlavour
from mnist_doctor.hints import pip_install, pip_uninstall
from mnist_doctor.model import BaseCheck, Result, Status


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
    family = "compat"
    title = "TensorFlow installed"

    def run(self, distributions: Distributions, target_python: str, keras_flavour: KerasFlavour) -> Result:
        dists = distributions.tensorflow_dists()
        if not dists:
            details = [f"interpreter examined: {target_python}"]
            if keras_flavour.kind == "keras3":
                details.append(f"{keras_flavour.reason}: keras.datasets.mnist.load_data() can still work")
            details.append(
                "if mnist-doctor runs in its own environment (pipx), point it at your project's Python: "
                + "mnist-doctor --python /path/to/python"
            )
            return Result.fail(
                "no TensorFlow distribution is installed",
                details=details,
                hint=pip_install(target_python, "tensorflow"),
            )
        providers = conflicting_tensorflow(dists)
        listed = ", ".join(f"{d.name} {d.version_str}" for d in dists)
        if len(providers) > 1:
            names = [d.name for d in providers]
            keep = "tensorflow" if "tensorflow" in [canonical(n) for n in names] else names[0]
            return Result.fail(
                f"{len(providers)} TensorFlow distributions overwrite each other: {listed}",
                details=[f"{d.name} {d.version_str} in {d.location}" for d in providers],
                hint=f"{pip_uninstall(target_python, *names)} && {pip_install(target_python, keep)}",
                data={"installed": [d.name for d in dists]},
            )
        duplicates = distributions.by_key.get(providers[0].key if providers else dists[0].key, [])
        if len(duplicates) > 1:
            return Result.warn(
                f"{duplicates[0].name} is installed {len(duplicates)} times: "
                + ", ".join(f"{d.version_str} in {d.location}" for d in duplicates),
                hint=f"{pip_uninstall(target_python, duplicates[0].name)} (repeat until none is left), then "
                + pip_install(target_python, duplicates[0].name),
            )
        main = providers[0] if providers else dists[0]
        return Result.ok(
            f"{main.name} {main.version_str}",
            details=[f"location: {main.location}"],
            data={"installed": [d.name for d in dists]},
        )


class PythonSupported(BaseCheck):
    """The interpreter's version is one the installed TensorFlow ships wheels for."""

    id = "compat.python"
    family = "compat"
    title = "Python version"

    def run(self, distributions: Distributions, python_version: Version, target_python: str) -> Result:
        tf = distributions.tensorflow()
        py = Version(f"{python_version.major}.{python_version.minor}")
        if tf is None or tf.version is None:
            supporting = releases_supporting_python(py)
            if not supporting:
                return Result.fail(
                    f"no TensorFlow release ({table_span()}) supports Python {py}",
                    hint="create an environment with a supported Python, e.g. "
                    + "uv venv -p 3.12 .venv && .venv/bin/python -m pip install tensorflow",
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
            fix = (
                pip_install(target_python, f"tensorflow{newest[-1].tensorflow}")
                if newest
                else f"use a Python that TensorFlow {_minor(tf.version)} supports ({row.python})"
            )
            return Result.fail(
                f"TensorFlow {tf.version} supports Python {row.python}, this is {python_version}",
                hint=fix,
            )
        return Result.ok(f"Python {python_version} is supported by TensorFlow {tf.version} ({row.python})")


class NumpyCompatible(BaseCheck):
    """NumPy fits the installed TensorFlow, by the table *and* by TF's declared requirements."""

    id = "compat.numpy"
    family = "compat"
    title = "NumPy ⇄ TensorFlow"

    def run(self, distributions: Distributions, marker_env: dict[str, str], target_python: str) -> Result:
        numpy = distributions.get("numpy")
        tf = distributions.tensorflow()
        if tf is None or tf.version is None:
            return Result.skip("no TensorFlow installed: nothing to pair NumPy with")
        if numpy is None or numpy.version is None:
            return Result.fail(
                "NumPy is not installed (TensorFlow needs it)",
                hint=pip_install(target_python, f"tensorflow=={tf.version}") + " --force-reinstall",
            )
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
            hint = f"{pip_install(target_python, 'numpy<2')}  (or upgrade: {upgrade})"
        else:
            summary = f"NumPy {numpy.version} does not fit TensorFlow {tf.version}"
            hint = pip_install(target_python, f"numpy{want}")
        return Result.fail(
            summary,
            details=details + problems,
            hint=hint,
            data={"numpy": str(numpy.version), "tensorflow": str(tf.version)},
        )

    @staticmethod
    def _wanted(row, reqs) -> str:  # type: ignore[no-untyped-def]
        specs = [str(r.specifier) for r in reqs if r.specifier]
        if row is not None:
            specs.append(str(row.numpy))
        return merged(specs)


class KerasPairing(BaseCheck):
    """The Keras that tf.keras resolves to is installed and fits TensorFlow."""

    id = "compat.keras"
    family = "compat"
    title = "Keras ⇄ TensorFlow"

    def run(
        self,
        distributions: Distributions,
        keras_flavour: KerasFlavour,
        target_env: dict[str, str],
        marker_env: dict[str, str],
        target_python: str,
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
        return result

    def _judge(self, flavour: KerasFlavour, tf: Dist, dists: Distributions, row, marker_env, target_python):  # type: ignore[no-untyped-def]
        keras = dists.get("keras")
        tf_keras = dists.get("tf-keras")
        minor = _minor(tf.version)  # type: ignore[union-attr]
        if flavour.kind == "tf_keras":
            if tf_keras is None or tf_keras.version is None:
                return Result.fail(
                    f"TF_USE_LEGACY_KERAS={flavour.legacy_env} but tf-keras is not installed: "
                    "tf.keras raises ImportError",
                    hint=pip_install(target_python, f"tf-keras~={minor}.0")
                    + "   (or unset TF_USE_LEGACY_KERAS)",
                )
            if _previous_minor(tf_keras.version, tf.version):  # type: ignore[arg-type]
                return Result.warn(
                    f"tf-keras {tf_keras.version} is one minor behind TensorFlow {tf.version}: it imports, "
                    "but tf-keras declares the TensorFlow of its own minor",
                    hint=pip_install(target_python, f"tf-keras~={minor}.0"),
                )
            if _minor(tf_keras.version) != minor:
                return Result.fail(
                    f"tf-keras {tf_keras.version} does not match TensorFlow {tf.version} (needs {minor}.x)",
                    hint=pip_install(target_python, f"tf-keras~={minor}.0"),
                )
            return Result.ok(
                f"tf.keras is tf-keras {tf_keras.version} (TF_USE_LEGACY_KERAS={flavour.legacy_env})"
            )
        declared_keras = declared(tf.requirements(), "keras", marker_env)
        specs = [r.specifier for r in declared_keras if r.specifier]
        if row is not None:
            specs.append(row.keras)
        want = merged(str(s) for s in specs)
        if keras is None or keras.version is None:
            return Result.fail(
                f"Keras is not installed; TensorFlow {tf.version} needs keras{want}",
                hint=pip_install(target_python, f"keras{want}"),
            )
        bad = [s for s in specs if not s.contains(keras.version, prereleases=True)]
        if flavour.kind == "keras3" and keras.version.major < 3:
            return Result.fail(
                f"Keras {keras.version} is Keras 2, but tf.keras in TensorFlow {tf.version} needs Keras 3",
                details=[f"needs keras{want}"],
                hint=f"{pip_install(target_python, f'keras{want}')}   "
                + f"(or keep Keras 2: {pip_install(target_python, f'tf-keras~={minor}.0')}"
                + " and export TF_USE_LEGACY_KERAS=1)",
            )
        if flavour.kind == "keras3" and tf.version < Version("2.16"):  # type: ignore[operator]
            return Result.warn(
                f"tf.keras is Keras {keras.version}, which TensorFlow {tf.version} does not support: "
                "it imports and load_data works, but Keras 2 code and saved models may break",
                details=[f"TensorFlow {tf.version} needs keras{want}"],
                hint=pip_install(target_python, f"keras~={minor}.0"),
            )
        if flavour.kind == "keras2" and keras.version.major >= 3:
            return Result.fail(
                f"Keras {keras.version} is Keras 3, but TensorFlow {tf.version} needs Keras 2 ({minor}.x)",
                hint=pip_install(target_python, f"keras~={minor}.0"),
            )
        if bad:
            return Result.fail(
                f"Keras {keras.version} does not fit TensorFlow {tf.version} (needs keras{want})",
                hint=pip_install(target_python, f"keras{want}"),
            )
        return Result.ok(
            f"tf.keras is {flavour.label}", details=[f"TensorFlow {tf.version} needs keras{want}"]
        )


#: Covered by their own checks above; listing them again would double the findings.
_OWN_CHECKS = {"numpy", "keras", "tf-keras"}


class TensorflowRequirements(BaseCheck):
    """Everything the installed TensorFlow declares is installed at a fitting version.

    Like ``pip check``, scoped to TensorFlow: protobuf, ml_dtypes, h5py and the rest.
    """

    id = "compat.requirements"
    family = "compat"
    title = "TensorFlow's requirements"

    def run(self, distributions: Distributions, marker_env: dict[str, str], target_python: str) -> Result:
        tf = distributions.tensorflow()
        if tf is None or tf.version is None:
            return Result.skip("no TensorFlow installed")
        missing: list[str] = []
        wrong: list[str] = []
        fixes: list[str] = []
        checked = 0
        for dist in [d for d in distributions.tensorflow_dists()]:
            for req in dist.requirements():
                key = canonical(req.name)
                if key in _OWN_CHECKS or (req.marker is not None and not applies(req.marker, marker_env)):
                    continue
                checked += 1
                installed = distributions.get(key)
                if installed is None or installed.version is None:
                    missing.append(f"{req.name} (declared {req})")
                    fixes.append(str(req).split(";")[0].strip())
                elif req.specifier and not req.specifier.contains(installed.version, prereleases=True):
                    wrong.append(
                        f"{req.name} {installed.version_str}, but {dist.name} {dist.version_str} "
                        f"declares {req.name}{req.specifier}"
                    )
                    fixes.append(f"{req.name}{req.specifier}")
        if missing or wrong:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing")
            if wrong:
                parts.append(f"{len(wrong)} at a version TensorFlow does not accept")
            return Result.fail(
                f"{' and '.join(parts)}: " + "; ".join((wrong + missing)[:3]),
                details=wrong + missing,
                hint=pip_install(target_python, *dict.fromkeys(fixes)),
            )
        return Result.ok(
            f"all {checked} requirements of {tf.name} {tf.version} are satisfied",
            details=["numpy and keras are judged by compat.numpy and compat.keras"],
        )


CHECKS = [
    TensorflowInstalled(),
    PythonSupported(),
    NumpyCompatible(),
    KerasPairing(),
    TensorflowRequirements(),
]
