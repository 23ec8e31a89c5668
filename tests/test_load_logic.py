"""The load family's logic that needs no TensorFlow: consistency, --fix, the probe on Python 3.9.

Real interpreters and real files throughout: the 3.9 probe runs in pyenv's Python 3.9,
and the --fix test removes a real corrupt file in a temporary KERAS_HOME through the cache
helper's own ``clear_cache`` in a subprocess with its own HOME.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from mnist_doctor.diagnoses.load import diagnose
from mnist_doctor.facts import Facts, Options
from mnist_doctor.facts.load_probe import run_load_probe
from mnist_doctor.fixes import collect_fixes, offer_fixes
from mnist_doctor.model import CheckResult, Status
from tests.load_fixtures import probe_env

PY39 = Path.home() / ".pyenv" / "versions" / "3.9.18" / "bin" / "python3.9"


def result(check_id: str, status: Status, summary: str = "", **data: object) -> CheckResult:
    return CheckResult(check_id, check_id.split(".")[0], check_id, status, summary, data=dict(data))


def test_pip_fixes_come_from_hints_and_are_never_run_without_a_terminal(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    results = [
        result("compat.numpy", Status.FAIL, "NumPy 2 with TF 2.16"),
        result("load.real", Status.FAIL, "import failed", fix={"kind": "pip", "command": f"touch {marker}"}),
    ]
    results[
        0
    ].hint = (
        'python -m pip install "numpy<2"  (or upgrade TensorFlow: python -m pip install "tensorflow>=2.18")'
    )
    fixes = collect_fixes(results)
    assert [f.command for f in fixes] == ['python -m pip install "numpy<2"', f"touch {marker}"]
    console = Console(record=True, width=200)
    changed = offer_fixes(
        results, Facts(Options(python=sys.executable)), console, yes=True, dry_run=False, interactive=False
    )
    assert changed is False and not marker.exists()  # --yes alone never runs pip
    assert 'python -m pip install "numpy<2"' in console.export_text()


def test_fix_clears_a_corrupt_cache_for_real(tmp_path: Path) -> None:
    pytest.importorskip("mnist_doctor.actions")
    home = tmp_path / "home"
    env = probe_env(home)
    bad = home / ".keras" / "datasets" / "mnist.npz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"<html>blocked</html>")
    script = textwrap.dedent(
        """
        import sys
        from rich.console import Console
        from mnist_doctor.facts import Facts, Options
        from mnist_doctor.fixes import offer_fixes
        from mnist_doctor.model import CheckResult, Status
        failed = CheckResult("load.real", "load", "t", Status.FAIL, "html",
                             data={"fix": {"kind": "clear_cache", "reason": "html page"}})
        facts = Facts(Options(python=sys.executable, timeout=60))
        print("CHANGED", offer_fixes([failed], facts, Console(), yes=True, dry_run=False, interactive=False))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert "CHANGED True" in done.stdout, done.stdout + done.stderr
    assert not bad.exists()


@pytest.mark.skipif(not PY39.exists(), reason=f"{PY39} not installed")
def test_probe_runs_on_python39_and_names_a_missing_tensorflow(tmp_path: Path) -> None:
    run = run_load_probe(str(PY39), "tf", 60, env=probe_env(tmp_path), cwd=str(tmp_path))
    assert run.answer.get("done") and not run.succeeded  # stdlib-only, 3.9 syntax: it answered
    diag = diagnose(run, host="storage.googleapis.com", target_python=str(PY39))
    assert diag.name == "import-not-installed", diag
    assert diag.fix and diag.fix["kind"] == "pip" and "-m pip install tensorflow" in diag.fix["command"]
