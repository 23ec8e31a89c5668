"""Sessions: ``lint``, ``typecheck``, the test tiers, and the TensorFlow matrix that proves the doctor.

    python -m nox -t ci            # what CI runs: lint, types, unit (every Python), e2e (once), matrix slice
    python -m nox -s unit          # the everyday loop: the unit and target tiers, no TensorFlow
    python -m nox -s e2e           # every real part for real, with TensorFlow, in parallel
    python -m nox -s coverage      # both tiers under coverage.py (subprocesses included)
    python -m nox -s matrix_report # the whole matrix (10 releases + broken combinations)
                                   # → docs/compat-matrix.md and docs/compat-matrix.json

Environments are made with uv when it is installed (much faster) and reused on re-runs;
a matrix environment is reinstalled only when its case's install steps change.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # the matrix helpers live next to this file

from matrix import cases as matrix_cases  # noqa: E402
from matrix.report import write_report  # noqa: E402
from matrix.run import run_case  # noqa: E402

# 2025.02.09 brought what this file uses: ``requires=`` between sessions (matrix_report) and
# ``nox.project.dependency_groups`` (the PEP 735 groups in pyproject.toml); older noxes stop here
# with a message naming the version instead of failing on an unknown keyword.
nox.needs_version = ">=2025.2.9"

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "unit"]

#: The one Python of the e2e tier, the matrix and the tools: every supported TensorFlow release
#: (2.12–2.21) has wheels for it.
PYTHON = "3.11"
#: Every Python the doctor supports; sessions run on the ones this machine has.
SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def _pyenv_bins() -> list[str]:
    """bin folders of pyenv-installed CPythons of the supported minors (newest patch of each).

    pyenv's shims only answer for the active version, so ``python3.12`` on PATH is a shim that
    fails; the real interpreters are put first on PATH for nox (and uv) to find.
    """
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    newest: dict[str, tuple[tuple[int, ...], Path]] = {}
    for folder in root.glob("3.*"):
        parts = folder.name.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts) or not (folder / "bin").is_dir():
            continue
        minor, key = ".".join(parts[:2]), tuple(int(p) for p in parts)
        if minor in SUPPORTED_PYTHONS and key > newest.get(minor, ((), folder))[0]:
            newest[minor] = (key, folder)
    return [str(folder / "bin") for _, folder in sorted(newest.values())]


os.environ["PATH"] = os.pathsep.join([*_pyenv_bins(), os.environ.get("PATH", "")])


# A supported Python this machine lacks is skipped with nox's reason ("interpreter not found"),
# also under CI=true, where nox would otherwise fail the run for it.
nox.options.error_on_missing_interpreters = False
RESULTS_DIR = ROOT / "build" / "matrix"
#: pyproject.toml, read once: the sessions install from its ``[dependency-groups]``.
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
LINT_PATHS = [
    p
    for p in ("mnist_doctor", "tests", "testkit", "matrix", "benchmarks", "noxfile.py")
    if (ROOT / p).exists()
]


@nox.session(python=PYTHON, tags=["ci"])
def lint(session: nox.Session) -> None:
    """ruff, with the repository's configuration."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", *LINT_PATHS)


@nox.session(python=PYTHON, tags=["ci"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict on mnist_doctor/ (configuration in pyproject.toml); the target scripts are excluded."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "typecheck"), "-e", ".")
    session.run("mypy")


@nox.session(python=list(SUPPORTED_PYTHONS), tags=["ci"])
def unit(session: nox.Session) -> None:
    """The unit tier (in-process, recorded answers) and the target tier (the target scripts run for
    real), on every supported Python: no TensorFlow is installed, none is needed (tests/tiers.py)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"), "-e", ".")
    session.run("python", "-m", "pytest", "-q", "--tier", "unit,target", *session.posargs)


#: Workers of the e2e tier: most of its time is waiting (servers, budgets, TensorFlow's import on
#: another core), so one more worker than the machine's two cores keeps both busy.
E2E_WORKERS = "3"


@nox.session(python=PYTHON, tags=["ci"])
def e2e(session: nox.Session) -> None:
    """The e2e tier: every real part for real (TensorFlow, load_data(), servers, proxies, TLS, venvs,
    other uids, signals, the notebook kernel), once, in parallel (pytest-xdist)."""
    # the ray extra: tests/test_fleet_ray.py runs `mnist-doctor fleet --ray` on a real local cluster
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"), "-e", ".[tensorflow,ray]")
    workers = os.environ.get("MNIST_DOCTOR_E2E_WORKERS", E2E_WORKERS)
    session.run("python", "-m", "pytest", "-q", "--tier", "e2e", "-n", workers, *session.posargs)


@nox.session(python=PYTHON)
def coverage(session: nox.Session) -> None:
    """Line coverage of mnist_doctor/ by every tier, the doctor's own subprocesses included."""
    session.install(
        *nox.project.dependency_groups(PYPROJECT, "test"),
        *nox.project.dependency_groups(PYPROJECT, "coverage"),
        "-e",
        ".[tensorflow,ray]",
    )
    data = ROOT / "build" / "coverage"
    data.mkdir(parents=True, exist_ok=True)
    for old in data.glob(".coverage*"):
        old.unlink()
    env = {"COVERAGE_FILE": str(data / ".coverage")}
    workers = os.environ.get("MNIST_DOCTOR_E2E_WORKERS", E2E_WORKERS)
    session.run("coverage", "run", "-m", "pytest", "-q", "--tier", "unit,target", *session.posargs, env=env)
    session.run(
        "coverage", "run", "-m", "pytest", "-q", "--tier", "e2e", "-n", workers, *session.posargs, env=env
    )
    session.run("coverage", "combine", "-q", env=env)
    session.run("coverage", "report", "--skip-covered", "--sort=cover", env=env)


def _doctor_requirements() -> list[str]:
    """The doctor's own runtime deps, minus numpy: the case decides numpy, the doctor must not move it."""
    deps = PYPROJECT["project"]["dependencies"]
    return [d for d in deps if not d.split(";")[0].strip().lower().startswith("numpy")]


def _build(session: nox.Session, venv: str) -> None:
    """Install the venv's case exactly; skip when a reused venv already holds it."""
    group = matrix_cases.venvs()[venv]
    steps = group[0].steps
    if any(c.steps != steps for c in group):
        session.error(f"cases sharing venv {venv} must install the same steps")
    doctor = _doctor_requirements()
    wanted = json.dumps({"steps": [s.args() for s in steps], "doctor": doctor}, sort_keys=True)
    stamp = Path(session.virtualenv.location) / "matrix-case.json"
    if stamp.exists() and stamp.read_text() == wanted:
        session.log(f"{venv}: reusing the installed environment")
        return
    stamp.unlink(missing_ok=True)
    for step in steps:
        session.install(*step.args())
    session.install(*doctor)
    session.install("--no-deps", "-e", ".")
    stamp.write_text(wanted)


def _run_venv(session: nox.Session, venv: str) -> None:
    """Build the venv, then predict/observe/compare each of its cases.

    ``-- --fresh`` re-imports TensorFlow even when a recorded observation is still valid.
    """
    _build(session, venv)
    python = str(Path(session.bin) / "python")
    fresh = "--fresh" in session.posargs
    failed = []
    for case in matrix_cases.venvs()[venv]:
        verdict, _record, reused = run_case(case, python, RESULTS_DIR, fresh=fresh)
        pred, obs = verdict.prediction, verdict.observation
        said = "ok" if pred.outcome == "ok" else f"{pred.outcome} ({', '.join(pred.failing)})"
        how = "recorded observation (environment and probe unchanged)" if reused else "probe observed"
        session.log(f"{case.name}: doctor predicted {said}; {how} {obs.outcome}: {obs.summary}")
        if not verdict.agree:
            failed.append(case.name)
            for problem in verdict.problems:
                session.warn(f"{case.name}: {problem}")
    if failed:
        session.error(f"the doctor disagrees with reality for: {', '.join(failed)}")


def _params(venvs: list[str], as_id: Callable[[str], str]) -> list[Any]:
    """One nox.param per venv, tagged ``ci`` when one of its cases runs in CI."""
    out = []
    for venv in venvs:
        ci = any(c.ci for c in matrix_cases.venvs()[venv])
        out.append(nox.param(as_id(venv), id=as_id(venv), tags=["ci"] if ci else []))
    return out


RELEASE_VENVS = [v for v in matrix_cases.venvs() if v.startswith("tf2.")]
BROKEN_VENVS = [v for v in matrix_cases.venvs() if not v.startswith("tf2.")]


@nox.session(python=PYTHON)
@nox.parametrize("tf", _params(RELEASE_VENVS, lambda v: v.removeprefix("tf")))
def matrix(session: nox.Session, tf: str) -> None:
    """One TensorFlow release with a NumPy and Keras it supports (plus env-var/cwd variants on it)."""
    _run_venv(session, f"tf{tf}")


@nox.session(python=PYTHON)
@nox.parametrize("case", _params(BROKEN_VENVS, lambda v: v))
def matrix_broken(session: nox.Session, case: str) -> None:
    """A broken combination forced in with --no-deps: the doctor must predict it, the probe confirm it."""
    _run_venv(session, case)


@nox.session(python=False, requires=["matrix", "matrix_broken"])
def matrix_report(session: nox.Session) -> None:
    """Run the whole matrix, then write docs/compat-matrix.md and .json; any disagreement fails."""
    _write_docs(session)


@nox.session(python=False, default=False)
def matrix_table(session: nox.Session) -> None:
    """Re-render the docs from the records already in build/matrix (shows disagreeing rows too)."""
    _write_docs(session)


def _write_docs(session: nox.Session) -> None:
    problems = write_report(RESULTS_DIR, ROOT / "docs")
    session.log(f"wrote docs/compat-matrix.md and docs/compat-matrix.json ({len(matrix_cases.CASES)} cases)")
    if problems:
        session.error("; ".join(problems))
