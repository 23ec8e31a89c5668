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

from mnist_doctor.causes.load import diagnose
from mnist_doctor.cli.fix import collect_fixes, offer_fixes
from mnist_doctor.facts import Facts, Options
from mnist_doctor.facts.load_probe import run_load_probe
from mnist_doctor.model import CheckResult, Fix, FixKind, Status
from mnist_doctor.text.hints import clear_cache_fix
from tests.load_fixtures import probe_env

ROOT = Path(__file__).resolve().parents[1]
PY39 = Path.home() / ".pyenv" / "versions" / "3.9.18" / "bin" / "python3.9"


def result(check_id: str, status: Status, summary: str = "", **data: object) -> CheckResult:
    family = check_id.split(".")[0]
    return CheckResult(status, summary, data=dict(data), id=check_id, family=family, title=check_id)


def test_commands_are_never_run_without_a_terminal_and_cache_fixes_come_first(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    touch = Fix(FixKind.COMMAND, ("touch", str(marker)), "create the marker")
    results = [
        result("compat.numpy", Status.FAIL, "NumPy 2 with TF 2.16"),
        result("load.real", Status.FAIL, "import failed"),
        result("cache.integrity", Status.FAIL, "the copy Keras reads is html"),
        result("load.consistency", Status.OK, "agree"),
    ]
    results[0].fixes = (touch,)
    results[1].fixes = (touch,)  # the same steps from two checks: offered once
    results[2].fixes = (clear_cache_fix(sys.executable, "remove the broken file"),)
    results[3].fixes = (touch,)  # a passing check offers nothing
    plans = collect_fixes(results)
    assert [(p.source, p.steps[0].kind) for p in plans] == [
        ("cache.integrity", FixKind.CLEAR_CACHE),
        ("compat.numpy", FixKind.COMMAND),
    ]
    console = Console(record=True, width=200)
    facts = Facts(Options(python=sys.executable))
    changed = offer_fixes(results[:2], facts, console, yes=True, dry_run=False, interactive=False)
    assert changed is False and not marker.exists()  # --yes alone never runs a command
    shown = console.export_text()
    assert f"version fix: touch {marker}" in shown and "--yes does not run it" in shown


@pytest.mark.usefixtures("processes")
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
        from mnist_doctor.cli.fix import offer_fixes
        from mnist_doctor.text.hints import clear_cache_fix
        from mnist_doctor.model import CheckResult, Status
        failed = CheckResult(Status.FAIL, "html", id="load.real", family="load", title="t",
                             fixes=(clear_cache_fix(sys.executable, "html page"),))
        facts = Facts(Options(python=sys.executable, timeout=60))
        print("CHANGED", offer_fixes([failed], facts, Console(), yes=True, dry_run=False, interactive=False))
        """
    )
    done = subprocess.run(  # from the source tree: the code under test, whatever is installed
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert "CHANGED True" in done.stdout, done.stdout + done.stderr
    assert not bad.exists()


@pytest.mark.skipif(not PY39.exists(), reason=f"{PY39} not installed")
@pytest.mark.usefixtures("processes")
def test_probe_runs_on_python39_and_names_a_missing_tensorflow(tmp_path: Path) -> None:
    run = run_load_probe(str(PY39), "tf", 60, env=probe_env(tmp_path), cwd=str(tmp_path))
    assert (
        run.parsed.done and not run.outcome(run.top or "mnist").succeeded
    )  # stdlib-only, 3.9 syntax: it answered
    diag = diagnose(run, host="storage.googleapis.com", target_python=str(PY39))
    assert diag.name == "import-not-installed", diag
    (step,) = diag.fixes
    assert step.kind is FixKind.COMMAND and step.argv[1:] == ("-m", "pip", "install", "tensorflow")
    assert step.command in diag.hint
