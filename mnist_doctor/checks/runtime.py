"""The import probe: numpy, TensorFlow and tf.keras imported for real, in a subprocess.

The compat checks predict from metadata; this check observes. When they disagree the
observation wins and the report shows both (the compat checks read this result: they run
after it, see ``checks/compat.py``).

A probe killed because the doctor's own ``--timeout`` ran out says nothing about the
patient: that is a ``warn`` naming the time it had and the ``--timeout`` that would do,
never a ``fail``. A probe killed at its own cap (:data:`mnist_doctor.facts.import_probe.IMPORT_TIMEOUT_S`)
is a hang, and fails.
"""

from __future__ import annotations

from typing import Any

from packaging.version import InvalidVersion, Version

from mnist_doctor.causes.imports import classify_import_failure
from mnist_doctor.compat.table import declared_specs
from mnist_doctor.facts.flavour import KerasFlavour
from mnist_doctor.facts.import_probe import IMPORT_TIMEOUT_S, ImportProbe, ImportStage, timeout_needed
from mnist_doctor.facts.introspection import Distributions, env_lookup
from mnist_doctor.model import BaseCheck, Result


def _tail(text: str, lines: int = 12) -> list[str]:
    return [line for line in text.strip().splitlines()[-lines:] if line.strip()]


class ImportWorks(BaseCheck):
    """``import tensorflow`` and ``tf.keras`` really work in the target interpreter."""

    id = "runtime.import"
    #: A module named like the package in the working directory, or a TensorFlow that cannot be
    #: installed or run here, explains any failure of the import.
    explained_by = ("env.shadowing", "compat.tensorflow")
    title = "Import TensorFlow"
    slow = True

    def run(
        self,
        import_probe: ImportProbe,
        keras_flavour: KerasFlavour,
        distributions: Distributions,
        target_python: str,
        options: Any,
        target_env: dict[str, str],
        marker_env: dict[str, str],
    ) -> Result:
        probe = import_probe
        run = probe.run
        data: dict[str, Any] = {
            "stages": probe.stages,
            "returncode": run.returncode,
            "mode": probe.mode,
            "elapsed_s": round(run.elapsed_s, 2),
        }
        if keras_flavour.kind is None and probe.mode == "tf" and distributions.tensorflow() is None:
            numpy_stage = probe.stage("numpy")
            note = "numpy imports" if numpy_stage and numpy_stage.ok else "numpy does not import either"
            return Result.skip(f"no TensorFlow installed ({note}); see compat.tensorflow", data=data)
        if run.launch_error:
            return Result.fail(f"could not start {target_python}: {run.launch_error}", data=data)
        if probe.malformed:
            return Result.fail(
                f"{target_python} gave the import probe a malformed answer: {probe.malformed}",
                hint=f"check that {target_python} is the Python you mean (a wrapper that prints its own "
                "JSON, or a sitecustomize that rewrites output, changes the answer)",
                data=data,
            )
        failed = probe.failed_stage()
        if probe.cut_by_budget:
            data["budget_limited"] = True
            where = failed.name if failed else "start-up"
            needed = timeout_needed(options.timeout, probe.limit_s)
            return Result.warn(
                f"the import of {where} was still running after {run.elapsed_s:.1f}s when the doctor's "
                f"own budget (--timeout {options.timeout:g}) ended it: no verdict on TensorFlow",
                details=[
                    "this says nothing against the environment: the probe was stopped by mnist-doctor, "
                    f"not by a failure (its own limit is {IMPORT_TIMEOUT_S:g}s)",
                    *_tail(run.stderr, 4),
                ],
                hint=f"rerun with --timeout {needed}",
                data=data,
            )
        if run.timed_out:
            where = failed.name if failed else "start-up"
            return Result.fail(
                f"import of {where} did not finish within {run.elapsed_s:.0f}s, the probe's own limit "
                "(killed): it hangs",
                details=_tail(run.stderr),
                hint=f'run {target_python} -X importtime -c "import tensorflow" to see where it stops',
                data=data,
            )
        if failed is None and probe.finished:
            return self._success(probe, distributions, data)
        text = "\n".join(
            [
                (failed.error or "") if failed else "",
                *(failed.chain if failed else ()),
                run.stderr,
                (failed.traceback or "") if failed else "",
            ]
        )
        tf_version = keras_flavour.tensorflow
        tf = distributions.tensorflow()
        diagnosis = classify_import_failure(
            text,
            target_python=target_python,
            signal_name=run.signal_name,
            tf_minor=f"{tf_version.major}.{tf_version.minor}" if tf_version else None,
            legacy_keras=_legacy_value(probe, target_env),
            declared=declared_specs(tf.requirements(), marker_env) if tf else {},
            numpy_version=_running_numpy(probe, distributions),
        )
        stage_name = failed.name if failed else "start-up"
        crashed = f" (crashed: {run.signal_name})" if run.signal_name else ""
        message = (failed.error if failed else None) or (_tail(run.stderr, 1) or ["no output"])[0]
        data["diagnosis"] = diagnosis.name
        data["failed_stage"] = stage_name
        if diagnosis.module:
            data["raised_in"] = diagnosis.module
        return Result.fail(
            f"import {stage_name} failed{crashed}: {diagnosis.summary}",
            details=[f"{_error_type(failed)}: {message}", *_tail(run.stderr, 8)],
            hint=diagnosis.said,
            data=data,
            fixes=diagnosis.fixes,
            # compat.closure judges the requirements of the module the import raised in.
            explained_by=(
                "env.shadowing",
                *(("compat.closure",) if diagnosis.module else ()),
                *diagnosis.explained_by,
            ),
        )

    def _success(self, probe: ImportProbe, distributions: Distributions, data: dict[str, Any]) -> Result:
        np_seen = probe.seen("numpy")
        keras_seen = probe.seen("tf.keras", "keras")
        tf_stage = probe.stage("tensorflow")
        tf_seen = probe.seen("tensorflow")
        parts = [f"numpy {np_seen.version}"]
        if tf_stage is not None and tf_stage.ok:
            parts.append(f"TensorFlow {tf_seen.version}")
        api = "tf.keras" if probe.mode == "tf" else "keras"
        keras_name = "tf-keras" if keras_seen.kind == "tf_keras" else "Keras"
        parts.append(f"{api} → {keras_name} {keras_seen.version or '(version unknown)'}")
        details = [f"{s.name}: {s.elapsed_s:.1f}s" for s in _by_name(probe)]
        mismatches = _metadata_mismatches(distributions, np_seen.version, tf_seen.version)
        data["runtime"] = {
            "numpy": np_seen.version,
            "tensorflow": tf_seen.version,
            "keras": keras_seen.version,
            "keras_kind": keras_seen.kind,
            "backend": keras_seen.backend,
        }
        summary = "imports: " + ", ".join(parts) + f" in {probe.run.elapsed_s:.1f}s"
        if mismatches:
            return Result.warn(
                summary + "; metadata disagrees with the running versions",
                details=mismatches + details,
                hint="reinstall the packages named above (stale or duplicated dist-info)",
                data=data,
            )
        return Result.ok(summary, details=details, data=data)


def _running_numpy(probe: ImportProbe, distributions: Distributions) -> str | None:
    """The NumPy the probe imported (its own answer), else the installed one's metadata."""
    seen = probe.seen("numpy").version
    if seen:
        return seen
    installed = distributions.version("numpy")
    return str(installed) if installed is not None else None


def _legacy_value(probe: ImportProbe, target_env: dict[str, str]) -> str | None:
    """TF_USE_LEGACY_KERAS as the probe's process saw it (its own answer), else as introspected."""
    if "TF_USE_LEGACY_KERAS" in probe.env:
        return probe.env["TF_USE_LEGACY_KERAS"]
    return env_lookup(target_env, "TF_USE_LEGACY_KERAS")


def _error_type(failed: ImportStage | None) -> str:
    return (failed.error_type if failed else None) or "error"


def _by_name(probe: ImportProbe) -> list[ImportStage]:
    """One stage per name, the last record of each (as the report's ``data.stages`` keeps them)."""
    return list({stage.name: stage for stage in probe.records}.values())


def _metadata_mismatches(distributions: Distributions, np_seen: str | None, tf_seen: str | None) -> list[str]:
    out = []
    pairs = [("numpy", distributions.version("numpy"), np_seen)]
    tf = distributions.tensorflow()
    if tf is not None and tf_seen is not None:
        pairs.append((tf.name, tf.version, tf_seen))
    for name, meta, seen in pairs:
        if meta is None or not seen:
            continue
        try:
            if Version(seen) != meta:
                out.append(f"{name}: metadata says {meta}, the running module says {seen}")
        except InvalidVersion:
            continue
    return out


#: Where this family stands in the report (lower first; plugins without one come last).
REPORT_ORDER = 30

CHECKS = [ImportWorks()]
