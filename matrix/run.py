"""Run one matrix case for real: predict with the doctor, observe with the probe, compare, record.

The doctor is run twice in the case's environment, as a user would run it there
(``python -m mnist_doctor``): first ``--select compat,env`` — metadata only, TensorFlow is
never imported, this is the *prediction* — then ``--select runtime`` — the import probe,
the *observation*. ``matrix.verdict.compare`` decides; the record (installed
distributions with their requirements, both reports, the verdict) is written as JSON so
``matrix.report`` can build the table and the unit tests can replay it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from matrix.cases import Case
from matrix.verdict import Verdict, compare
from testkit.doctor import run_doctor

DOCTOR_TIMEOUT_S = 300
DOCTOR_PACKAGE = Path(__file__).resolve().parents[1] / "mnist_doctor"
#: Variables that would change what TensorFlow does; only a case's own ``env`` may set them.
SCRUBBED_ENV = (
    "TF_USE_LEGACY_KERAS",
    "KERAS_BACKEND",
    "KERAS_HOME",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
)

#: Run by the case's interpreter: every installed distribution, its version and Requires-Dist.
SNAPSHOT_SCRIPT = """
import json, re, sys, importlib.metadata as md
out = {}
for dist in md.distributions():
    name = dist.metadata["Name"]
    if name:
        key = re.sub(r"[-_.]+", "-", name).lower()
        out[key] = {"name": name, "version": dist.version, "requires": list(dist.requires or [])}
print(json.dumps({"python": "%d.%d.%d" % sys.version_info[:3], "distributions": out}))
"""


def case_env(case: Case, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    for name in SCRUBBED_ENV:
        env.pop(name, None)
    env.update(case.env)
    return env


def snapshot(python: str) -> dict[str, Any]:
    """``pip list`` with requirements, read by the target interpreter itself."""
    out = subprocess.run(
        [python, "-c", SNAPSHOT_SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout)


def doctor_report(python: str, select: str, env: dict[str, str], cwd: str) -> dict[str, Any]:
    """The doctor's JSON report for ``--select select``; a usage error or garbage raises."""
    args = ("--format", "json", "--offline", "--select", select, "--timeout", str(DOCTOR_TIMEOUT_S))
    start = time.monotonic()
    run = run_doctor(*args, env=env, cwd=cwd, timeout=DOCTOR_TIMEOUT_S + 60, python=python)
    command = " ".join([python, "-m", "mnist_doctor", *args])
    if run.code not in (0, 1):
        raise RuntimeError(f"{command} exited {run.code}:\n{run.stderr[-3000:]}")
    try:
        doc = run.json
    except json.JSONDecodeError as exc:
        raise RuntimeError(
            f"{command} printed no JSON ({exc}):\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
        ) from exc
    if doc.get("exit_code") != run.code:
        raise RuntimeError(f"JSON exit_code {doc.get('exit_code')} != process exit code {run.code}")
    doc["wall_s"] = round(time.monotonic() - start, 2)
    return doc


def _slim(doc: dict[str, Any]) -> dict[str, Any]:
    """Keep what the table and the replay need; tracebacks and paths stay in the live run."""
    results = []
    for r in doc["results"]:
        r = {k: r.get(k) for k in ("id", "family", "status", "summary", "details", "hint", "data")}
        stages = (r.get("data") or {}).get("stages") or {}
        for stage in stages.values():
            stage.pop("traceback", None)
        results.append(r)
    return {
        "schema": doc["schema"],
        "exit_code": doc.get("exit_code"),
        "wall_s": doc.get("wall_s"),
        "results": results,
    }


def installed_versions(snap: dict[str, Any]) -> dict[str, str]:
    return {key: d["version"] for key, d in snap["distributions"].items()}


#: What produces the observation: the CLI, the engine, the runtime check, the JSON renderer.
OBSERVER_MODULES = (
    "mnist_doctor.cli.main",
    "mnist_doctor.cli.modes",
    "mnist_doctor.pipeline.engine",
    "mnist_doctor.checks.runtime",
    "mnist_doctor.render.json",
)

#: Run by the case's interpreter: the doctor's source files those modules really import.
SOURCES_SCRIPT = """
import importlib, json, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
mods = [m for n, m in list(sys.modules.items()) if n.split(".")[0] == "mnist_doctor"]
files = {getattr(m, "__file__", None) for m in mods}
print(json.dumps(sorted(f for f in files if f)))
"""


def observer_sources(python: str) -> list[Path]:
    """The doctor's modules behind ``runtime.import`` (their import closure) and its target scripts."""
    out = subprocess.run(
        [python, "-c", SOURCES_SCRIPT, *OBSERVER_MODULES],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    files = {Path(f) for f in json.loads(out.stdout)}
    files |= set((DOCTOR_PACKAGE / "target").glob("*.py"))
    return sorted(files)


def observation_key(case: Case, snap: dict[str, Any], sources: list[Path]) -> str:
    """What the probe's outcome depends on: installed versions, the case's setting, the observer's code.

    The compatibility table and the metadata checks are deliberately left out: they only
    change the *prediction*, which is re-run every time.
    """
    digest = hashlib.sha256()
    versions = sorted(installed_versions(snap).items())
    digest.update(json.dumps([snap["python"], versions, case.env, case.cwd_files], sort_keys=True).encode())
    for source in sources:
        label = source.relative_to(DOCTOR_PACKAGE) if source.is_relative_to(DOCTOR_PACKAGE) else source.name
        digest.update(str(label).encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def _reusable_observation(path: Path, key: str) -> dict[str, Any] | None:
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return old["observation"] if old.get("observation_key") == key else None


def run_case(
    case: Case, python: str, results_dir: Path, fresh: bool = False
) -> tuple[Verdict, dict[str, Any], bool]:
    """Predict, observe, compare and write ``<results_dir>/<case>.json``.

    The prediction always runs. The observation (importing TensorFlow, seconds) is reused
    from the previous record when nothing it depends on changed, unless ``fresh``.
    Returns the verdict, the record, and whether the observation was reused.
    """
    snap = snapshot(python)
    env = case_env(case)
    key = observation_key(case, snap, observer_sources(python))
    record_path = results_dir / f"{case.name}.json"
    observation = None if fresh else _reusable_observation(record_path, key)
    reused = observation is not None
    with tempfile.TemporaryDirectory(prefix=f"matrix-{case.name}-") as cwd:
        for name, text in case.cwd_files.items():
            Path(cwd, name).write_text(text, encoding="utf-8")
        prediction = doctor_report(python, "compat,env", env, cwd)
        if observation is None:
            observation = _slim(doctor_report(python, "runtime", env, cwd))
    verdict = compare(case, prediction, observation, installed_versions(snap))
    record = {
        "case": case.name,
        "venv": case.venv,
        "title": case.title,
        "expect": case.expect,
        "env": case.env,
        "cwd_files": sorted(case.cwd_files),
        "python": snap["python"],
        "platform": sys.platform,
        "distributions": snap["distributions"],
        "prediction": _slim(prediction),
        "observation": observation,
        "observation_key": key,
        "verdict": verdict.to_json(),
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
    return verdict, record, reused
