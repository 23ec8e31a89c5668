"""The command line: fast --version, usage errors (exit 2), JSON schema, formats, plain output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.doctor import clean_env


def imported(argv: list[str], home) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``argv`` under ``python -X importtime``: the process and every module it imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        env=clean_env(home),
        timeout=60,
    )
    names = {
        line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")
    }
    return proc, names - {"package"}  # the header line's last column


#: The command's own modules ``--version`` may import: the package, the entry point, the exit codes.
VERSION_MODULES = {"mnist_doctor", "mnist_doctor.cli", "mnist_doctor.cli.main", "mnist_doctor.errors"}
#: What --help must not import: the checks, the engine, the probes, rich and the third-party stack.
HEAVY = ("rich", "packaging", "requests", "urllib3", "certifi", "numpy", "tensorflow", "keras", "subprocess")
HEAVY_OURS = (
    "mnist_doctor.facts",
    "mnist_doctor.checks",
    "mnist_doctor.pipeline.engine",
    "mnist_doctor.render",
)


@pytest.mark.usefixtures("processes")
@pytest.mark.parametrize("how", ["console script", "-m"])
def test_version_imports_nothing_but_its_entry_point(home, how: str) -> None:
    """``--version`` adds to a bare interpreter's imports only the package and its entry point: no
    argparse, dataclasses, inspect or typing (they were 4x the bare start-up)."""
    if how == "-m":
        # The baseline is ``-m`` of the package's own cheapest module: runpy and the package itself.
        _, bare = imported(["-m", "mnist_doctor.errors"], home)
        proc, names = imported(["-m", "mnist_doctor", "--version"], home)
        allowed = VERSION_MODULES | {"mnist_doctor.__main__"}
    else:
        script = Path(sys.executable).with_name("mnist-doctor")
        if not script.exists():
            pytest.skip("no mnist-doctor console script beside this interpreter")
        _, bare = imported(["-c", "pass"], home)
        proc, names = imported([str(script), "--version"], home)
        allowed = VERSION_MODULES
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("mnist-doctor ")
    assert names - bare - allowed == set()
    assert "mnist_doctor.cli.main" in names  # the measurement saw our imports at all


@pytest.mark.usefixtures("processes")
def test_help_imports_no_check_engine_or_rich(home) -> None:
    """``--help`` builds the parser and prints: none of the checks, probes, renderers or rich."""
    proc, names = imported(["-m", "mnist_doctor", "--help"], home)
    assert proc.returncode == 0 and "--timeout" in proc.stdout
    assert "mnist_doctor.cli.parser" in names
    heavy = {n for n in names if n.split(".")[0] in HEAVY or n.startswith(HEAVY_OURS)}
    assert heavy == set()


def test_help_lists_every_flag(doctor):
    run = doctor("--help")
    assert run.code == 0
    for flag in (
        "--list-checks",
        "--select",
        "--ignore",
        "--format",
        "--verbose",
        "--strict",
        "--offline",
        "--timeout",
        "--version",
        "--python",
        "--origin",
        "--clear-cache",
        "--seed",
        "--fetch",
        "--mirror",
        "--yes",
        "--dry-run",
        "--fix",
    ):
        assert flag in run.stdout, flag


def test_usage_errors_exit_2_with_hint_and_no_traceback(doctor):
    for args, text in [
        (["--format", "xml"], "invalid choice"),
        (["--timeout", "soon"], "not a number"),
        (["--timeout", "-1"], "more than 0"),
        (["--select", "compat.nope", "--offline"], "unknown check id or family: compat.nope"),
        (["--mirror", "https://m/x.npz"], "--mirror goes with --fetch"),
        (["--origin", "ftp://x/y"], "not an http(s) URL"),
        (["--seed", "a", "--fetch"], "not allowed with"),
    ]:
        run = doctor(*args)
        assert run.code == 2, (args, run.stderr)
        assert text in run.stderr, (args, run.stderr)
        assert "Traceback" not in run.stderr
    run = doctor("--select", "compat.nope", "--offline")
    assert "compat.numpy" in run.stderr  # the valid ids are listed


def test_json_report_schema_and_exit_code(doctor):
    run = doctor("--format", "json", "--offline", "--select", "compat,env")
    report = run.json
    assert report["schema"] == 2
    assert report["tool"]["name"] == "mnist-doctor" and report["tool"]["version"]
    assert report["exit_code"] == run.code
    assert set(report["counts"]) == {"ok", "warn", "fail", "skip", "error"}
    assert sum(report["counts"].values()) == len(report["results"])
    for r in report["results"]:
        assert {"id", "family", "title", "status", "summary", "details", "hint", "elapsed_s"} <= set(r)
        assert r["status"] in report["counts"]
    assert report["environment"]["target_python"] == sys.executable
    assert report["environment"]["python_version"]


def test_strict_turns_warnings_into_exit_1(doctor):
    env = {"TF_USE_LEGACY_KERAS": "maybe"}
    lenient = doctor("--format", "json", "--offline", "--select", "compat.keras", env_extra=env)
    strict = doctor("--format", "json", "--offline", "--select", "compat.keras", "--strict", env_extra=env)
    if lenient.result("compat.keras")["status"] != "warn":
        import pytest

        pytest.skip("no TensorFlow >= 2.16 here, so the legacy variable does not apply")
    assert lenient.code == 0 and strict.code == 1
    assert strict.json["exit_code"] == 1


def test_markdown_is_paste_ready(doctor):
    run = doctor("--format", "markdown", "--offline", "--select", "compat")
    assert run.stdout.startswith("### mnist-doctor report")
    assert "| | Check | Finding | Fix |" in run.stdout
    assert "`compat.numpy`" in run.stdout
    assert "passed," in run.stdout and "<details><summary>Environment</summary>" in run.stdout


def test_plain_output_without_tty_has_no_escape_codes_and_a_closing_line(doctor):
    run = doctor("--offline", "--select", "compat", env_extra={"NO_COLOR": "1"})
    assert "\x1b[" not in run.stdout
    closing = [line for line in run.stdout.splitlines() if line.strip()][
        -2
    ]  # the last one points at --verbose
    assert re.fullmatch(r"\d+ passed, \d+ warnings?, \d+ failed, \d+ skipped", closing.strip()), closing


def test_list_checks_text_and_json(doctor):
    run = doctor("--list-checks", "--format", "json")
    listed = json.loads(run.stdout)
    ids = {c["id"] for c in listed["checks"]}
    assert {"compat.numpy", "compat.keras", "env.shadowing", "runtime.import"} <= ids
    text = doctor("--list-checks")
    assert "compat.numpy" in text.stdout
