"""One JSON contract for every mode: each ``--format json`` output validates against docs/report.schema.json.

Every mode runs for real (a diagnosis, ``--fix``, ``--list-checks``, ``--clear-cache``, ``--seed``,
``--fetch`` from a loopback server, usage errors): stdout is exactly one JSON document whose
``exit_code`` is the process's; Markdown is one document too; a usage error is one line on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit.loopback import DatasetServer


def valid_document(validator, run, mode: str) -> dict:
    """The one JSON document on ``run``'s stdout, valid against the schema, with the run's exit code."""
    document = json.loads(run.stdout)  # exactly one document: json.loads rejects trailing text
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, errors
    assert document["schema"] == 2 and document["mode"] == mode
    assert document["exit_code"] == run.code, (document["exit_code"], run.code, run.stderr)
    return document


def test_the_schema_rejects_what_it_should(validator) -> None:
    """Not a schema that accepts anything: wrong mode, missing fields and bad statuses fail."""
    assert not validator.is_valid({"schema": 2, "mode": "nonsense", "tool": {}, "exit_code": 0})
    assert not validator.is_valid({"schema": 1, "mode": "usage-error", "exit_code": 2})
    good = {
        "schema": 2,
        "mode": "usage-error",
        "tool": {"name": "mnist-doctor", "version": "0"},
        "error": {"message": "x", "hint": None},
        "exit_code": 2,
    }
    assert validator.is_valid(good)
    assert not validator.is_valid(dict(good, exit_code=0))
    assert not validator.is_valid({**good, "error": {"hint": None}})


def test_diagnosis_document(doctor, validator) -> None:
    run = doctor("--offline", "--select", "compat,env,proxy", "--format", "json")
    document = valid_document(validator, run, "diagnose")
    diagnosis = document["diagnosis"]
    assert diagnosis["verdict"] in ("ok", "warn", "fail") and diagnosis["headline"]
    assert diagnosis["load_data"]["state"] == "not-run"  # load.real was not selected


def test_diagnosis_with_a_failure_names_its_fix(doctor, validator, home: Path) -> None:
    keras_home = home / "keras-is-a-file"
    keras_home.write_text("x")
    run = doctor(
        "--offline", "--select", "cache", "--format", "json", env_extra={"KERAS_HOME": str(keras_home)}
    )
    document = valid_document(validator, run, "diagnose")
    problems = document["diagnosis"]["problems"]
    assert run.code == 1 and len(problems) == 1, problems  # three cache checks, one root cause
    fix = document["diagnosis"]["fixes"][problems[0]["fix"] - 1]
    assert fix["commands"] and fix["check"] in problems[0]["checks"]


def test_network_failure_over_loopback_is_one_problem(doctor, validator) -> None:
    """A closed port on 127.0.0.1: the TCP stage fails, the later stages and requests follow it."""
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = doctor(
        "--select",
        "network",
        "--origin",
        f"http://127.0.0.1:{port}/data/",
        "--format",
        "json",
        "--timeout",
        "30",
    )
    document = valid_document(validator, run, "diagnose")
    assert document["environment"]["origin"] == f"http://127.0.0.1:{port}/data/mnist.npz"
    problems = document["diagnosis"]["problems"]
    assert len(problems) == 1, problems
    assert problems[0]["title"] == "127.0.0.1 cannot be reached (TCP connection)"


def test_list_checks_document_and_markdown(doctor, validator) -> None:
    document = valid_document(validator, doctor("--list-checks", "--format", "json"), "list-checks")
    assert {c["id"] for c in document["checks"]} >= {"compat.numpy", "load.real"}
    markdown = doctor("--list-checks", "--format", "markdown")
    assert markdown.stdout.startswith("### mnist-doctor checks") and "| `compat.numpy` |" in markdown.stdout


def test_clear_cache_dry_run_speaks_json_on_stdout(doctor, validator, home: Path) -> None:
    datasets = home / ".keras" / "datasets"
    datasets.mkdir(parents=True)
    (datasets / "mnist.npz").write_bytes(b"PK\x03\x04 not really")
    run = doctor("--clear-cache", "--dry-run", "--format", "json")
    document = valid_document(validator, run, "clear-cache")
    step = document["actions"][0]
    assert step["action"] == "clear-cache" and step["dry_run"] is True and document["after"] is None
    assert any("would remove 1 item" in m for m in step["messages"]), step["messages"]
    assert (datasets / "mnist.npz").exists()


def test_clear_cache_yes_then_cache_checks_in_one_document(doctor, validator, home: Path) -> None:
    datasets = home / ".keras" / "datasets"
    datasets.mkdir(parents=True)
    (datasets / "mnist.npz").write_bytes(b"junk")
    run = doctor("--clear-cache", "--yes", "--format", "json")
    document = valid_document(validator, run, "clear-cache")
    assert not (datasets / "mnist.npz").exists()
    assert document["after"]["mode"] == "diagnose"
    assert {r["family"] for r in document["after"]["results"]} == {"cache"}


def test_clear_cache_without_yes_in_json_does_not_prompt(doctor, validator, home: Path) -> None:
    datasets = home / ".keras" / "datasets"
    datasets.mkdir(parents=True)
    (datasets / "mnist.npz").write_bytes(b"junk")
    run = doctor("--clear-cache", "--format", "json")
    document = valid_document(validator, run, "clear-cache")
    assert run.code == 2 and (datasets / "mnist.npz").exists()
    assert document["actions"][0]["exit_code"] == 2


def test_seed_of_a_wrong_file_is_refused_in_one_document(doctor, validator, tmp_path: Path) -> None:
    wrong = tmp_path / "mnist.npz"
    wrong.write_bytes(b"<html>login</html>")
    run = doctor("--seed", str(wrong), "--format", "json")
    document = valid_document(validator, run, "seed")
    assert run.code == 1 and any("refused" in m for m in document["actions"][0]["messages"])


def test_fetch_from_a_loopback_mirror_that_fails(doctor, validator) -> None:
    with DatasetServer(404) as server:
        run = doctor("--fetch", "--mirror", server.url, "--format", "json", "--timeout", "30")
    document = valid_document(validator, run, "fetch")
    assert run.code == 1 and document["actions"][0]["url"] == server.url


def test_fix_document(doctor, validator) -> None:
    run = doctor("--offline", "--select", "cache", "--fix", "--yes", "--format", "json")
    document = valid_document(validator, run, "fix")
    assert document["actions"][0]["action"] == "fix" and "results" in document


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "json", "--timeout", "soon"],
        ["--format=json", "--nonsense"],
        ["--format", "json", "--dry-run"],
        ["--format", "json", "--yes", "--offline"],
        ["--format", "json", "--seed", "/does/not/exist"],
        ["--format", "json", "--mirror", "https://m/x.npz"],
        ["--format", "json", "--list-checks", "--clear-cache"],
        ["--format", "json", "--fetch", "--offline"],
        ["--format", "json", "--seed", "x", "--dry-run"],
        ["--format", "json", "--clear-cache", "--select", "cache"],
        ["--format", "json", "--completion", "bash", "--offline"],
    ],
)
def test_usage_errors_are_one_line_and_one_document(doctor, validator, args: list[str]) -> None:
    run = doctor(*args)
    document = valid_document(validator, run, "usage-error")
    assert run.code == 2
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist-doctor: error: "), run.stderr
    assert "hint:" in lines[0] and document["error"]["message"] in lines[0]
    assert "passed" not in run.stdout + run.stderr  # no report trailer


def test_usage_error_in_markdown_and_rich(doctor) -> None:
    markdown = doctor("--format", "markdown", "--dry-run")
    assert markdown.code == 2 and markdown.stdout.startswith("### mnist-doctor: usage error")
    rich = doctor("--seed", "/does/not/exist")
    assert rich.code == 2 and rich.stdout == "" and len(rich.stderr.splitlines()) == 1


def test_actions_in_markdown_are_one_document(doctor, home: Path) -> None:
    run = doctor("--clear-cache", "--dry-run", "--format", "markdown")
    assert run.code == 0 and run.stdout.startswith("### mnist-doctor --clear-cache")
    assert run.stderr == ""
