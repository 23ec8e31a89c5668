"""The command line: fast --version, usage errors (exit 2), JSON schema, formats, plain output."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from testkit.doctor import clean_env


@pytest.mark.usefixtures("processes")
def test_version_imports_nothing_heavy(home):
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mnist_doctor", "--version"],
        capture_output=True,
        text=True,
        env=clean_env(home),
        timeout=60,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("mnist-doctor ")
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert not imported & {"tensorflow", "keras", "numpy", "requests", "rich", "packaging"}, imported


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
