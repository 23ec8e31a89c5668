"""Scripts run by the *target* interpreter must work in any environment: stdlib only, Python 3.9 syntax."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_core_python_flag import PYENV

TARGET = Path(__file__).resolve().parents[1] / "mnist_doctor" / "target"
SCRIPTS = sorted(p for p in TARGET.glob("*.py") if p.name != "__init__.py")
#: Imported lazily inside the probes, guarded, because they *are* the patient.
PATIENT_MODULES = {"numpy", "tensorflow", "keras", "tf_keras"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_target_script_uses_only_the_standard_library(script: Path):
    tree = ast.parse(script.read_text(encoding="utf-8"), feature_version=(3, 9))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    foreign = imported - set(sys.stdlib_module_names) - PATIENT_MODULES
    assert not foreign, f"{script.name} imports non-stdlib modules {foreign}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_target_script_compiles_on_the_oldest_supported_python(script: Path):
    python39 = PYENV / "3.9.18" / "bin" / "python3"
    candidates = [python39, *sorted(PYENV.glob("3.9*/bin/python3")), Path("/usr/bin/python3.9")]
    found = next((p for p in candidates if p.exists()), None)
    if found is None:
        pytest.skip("no Python 3.9 on this machine; the ast check above still applies")
    proc = subprocess.run(
        [str(found), "-m", "py_compile", str(script)],
        capture_output=True,
        text=True,
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr


def test_introspection_runs_under_python_39_and_answers(doctor, tmp_path):
    python39 = next(iter(sorted(PYENV.glob("3.9*/bin/python3"))), None)
    if python39 is None:
        pytest.skip("no Python 3.9 on this machine")
    run = doctor("--python", str(python39), "--offline", "--format", "json", "--select", "env,compat")
    assert run.code in (0, 1), run.stderr
    assert run.json["environment"]["python_version"].startswith("3.9")


def test_introspection_finds_the_same_distributions_as_importlib_metadata(tmp_path):
    """The fast header-only scan must agree with importlib.metadata, names, versions and requirements."""
    import json
    import re
    from importlib import metadata

    from mnist_doctor.subproc import run_script

    run = run_script(
        sys.executable, "introspect.py", ["https://example.invalid/mnist.npz"], timeout=60, cwd=str(tmp_path)
    )
    assert run.answer is not None, run.stderr
    ours = sorted((d["key"], d["version"]) for d in run.answer["distributions"])

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    theirs = sorted((norm(d.metadata["Name"]), d.version) for d in metadata.distributions())
    assert ours == theirs
    for row in run.answer["distributions"]:
        if "requires" in row:
            assert sorted(row["requires"]) == sorted(metadata.requires(row["name"]) or []), row["name"]
    json.dumps(run.answer)  # plain JSON all the way down
