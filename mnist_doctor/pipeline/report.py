"""Turn results into the report every renderer reads: environment, results, counts, exit code.

Renderers never look at facts or checks; they only read this dict, which is exactly the
JSON document (``schema`` 2, documented in docs/json.md and docs/report.schema.json), already made safe by
:func:`mnist_doctor.text.output.sanitize` (redacted, control characters and undecodable bytes
escaped), so every renderer starts from safe strings.
"""

from __future__ import annotations

import platform
import socket
import sys
from typing import Any

from mnist_doctor import __version__
from mnist_doctor.facts import Facts
from mnist_doctor.model import CheckResult, Status
from mnist_doctor.pipeline.summary import summarize
from mnist_doctor.text.output import sanitize, sanitize_document

#: 2: ``mode`` and ``diagnosis`` added; every mode (actions, ``--list-checks``, usage errors) is a document.
SCHEMA = 2


def counts(results: list[CheckResult]) -> dict[str, int]:
    out = {s.value: 0 for s in Status}
    for result in results:
        out[result.status.value] += 1
    return out


def exit_code(results: list[CheckResult], strict: bool) -> int:
    """0 no failure (warnings allowed), 1 a failure or crashed check (or a warning with ``strict``)."""
    bad = {Status.FAIL, Status.ERROR} | ({Status.WARN} if strict else set())
    return 1 if any(r.status in bad for r in results) else 0


def environment(facts: Facts) -> dict[str, Any]:
    """What was examined: the machine, the interpreter, key versions, the Keras flavour, the origin.

    ``host`` and ``cache`` (the cache folder's file system) let ``mnist-doctor fleet`` tell
    machines apart and see which of them share one cache.
    """
    options = facts.options
    env: dict[str, Any] = {
        "doctor_python": sys.executable,
        "target_python": options.python,
        "offline": options.offline,
        "timeout_s": options.timeout,
        "host": _host_name(),
    }
    try:
        py = facts.get("introspection").python
        env.update(
            python_version=py.version_str,
            implementation=py.implementation,
            platform=f"{py.system} {py.release} {py.machine}",
            in_venv=py.in_venv,
            cwd=py.cwd,
        )
        dists = facts.get("distributions")
        tf = dists.tensorflow()
        env["packages"] = {
            name: str(dists.get(name).version_str) if dists.get(name) else None
            for name in ("numpy", "keras", "tf-keras", "protobuf", "ml-dtypes", "h5py")
        }
        env["packages"][tf.name if tf else "tensorflow"] = tf.version_str if tf else None
        flavour = facts.get("keras_flavour")
        env["keras_flavour"] = {"kind": flavour.kind, "api": flavour.api, "reason": flavour.reason}
        env["origin"] = facts.get("dataset").origin
        env["datasets"] = list(facts.options.datasets)
    except Exception as exc:  # the environment block must never sink the report
        env["error"] = f"{type(exc).__name__}: {exc}"
        env.setdefault("platform", platform.platform())
    try:
        env["cache"] = facts.get("cache_filesystem").to_dict()
    except Exception:  # the cache checks say why the cache folder is unknown
        env["cache"] = None
    return env


def _host_name() -> str | None:
    try:
        return socket.gethostname() or None
    except OSError:
        return None


def build_report(
    facts: Facts,
    results: list[CheckResult],
    *,
    strict: bool,
    verbose: bool,
    load_errors: list[CheckResult] | None = None,
) -> dict[str, Any]:
    everything = list(load_errors or []) + list(results)
    rows = sanitize([r.to_dict(verbose=verbose) for r in everything])
    report = {
        "schema": SCHEMA,
        "mode": "diagnose",
        "tool": tool(),
        "environment": environment(facts),
        "diagnosis": diagnosis(rows),
        "results": rows,
        "counts": counts(everything),
        "exit_code": exit_code(everything, strict),
    }
    return sanitize_document(report)


def diagnosis(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The diagnosis block; if summarizing itself fails, a plain one (the report must never sink)."""
    try:
        return summarize(rows)
    except Exception as exc:
        bad = [r for r in rows if r.get("status") in ("fail", "error")]
        return {
            "verdict": "fail" if bad else "ok",
            "headline": f"see the checks below (the summary failed: {type(exc).__name__}: {exc})",
            "load_data": {"state": "not-run", "text": "see load.real below"},
            "problems": [],
            "warnings": [],
            "fixes": [],
        }


def tool() -> dict[str, str]:
    return {"name": "mnist-doctor", "version": __version__}


def document(mode: str, exit_code: int, **fields: Any) -> dict[str, Any]:
    """Any other mode's JSON document (``--list-checks``, actions, usage errors), made safe."""
    return sanitize_document(
        {"schema": SCHEMA, "mode": mode, "tool": tool(), **fields, "exit_code": exit_code}
    )
