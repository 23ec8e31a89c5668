"""Hostile streams, terminals and encodings: a clean exit with a documented code, never a traceback.

Documented codes (README, ``--help``): broken pipe → 141 and nothing on stderr; stdout
that cannot be written (``/dev/full``, closed) → one line on stderr and 1; a closed stdin
or stderr changes nothing. Everything runs the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.doctor import clean_env

#: Every test here starts real processes (tests/tiers.py puts them in the e2e tier).
pytestmark = pytest.mark.usefixtures("processes")

FAST = ["--offline", "--select", "proxy"]


def _run(args: list[str], env: dict[str, str], cwd: Path, **kwargs) -> subprocess.CompletedProcess[bytes]:
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "mnist_doctor", *args], env=env, cwd=cwd, timeout=120, **kwargs
    )


def _shell(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["sh", "-c", command], env=env, cwd=cwd, timeout=120, capture_output=True)


def _doctor_cmd(*args: str) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in [sys.executable, "-m", "mnist_doctor", *args])


@pytest.mark.parametrize("fmt", ["json", "rich", "markdown"])
def test_broken_pipe_exits_141_quietly(home: Path, tmp_path: Path, fmt: str) -> None:
    """The reader is gone before the report is written (``| head -c0`` at its most abrupt)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = _run([*FAST, "--format", fmt], clean_env(home), tmp_path, stdout=write_end)
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert done.stderr == b""


def test_head_c1_reads_one_byte_and_the_doctor_ends_cleanly(home: Path, tmp_path: Path) -> None:
    command = _doctor_cmd(*FAST, "--format", "json") + " | head -c1"
    done = _shell(command, clean_env(home), tmp_path)
    assert done.stdout.startswith(b"{")
    assert b"Traceback" not in done.stderr and b"Exception ignored" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        [*FAST, "--format", "json"],
        [*FAST, "--format", "markdown"],
        [*FAST],
        ["--help"],
        ["--version"],
        ["--list-checks"],
        ["--list-checks", "--format", "json"],
    ],
)
def test_disk_full_is_one_line_and_exit_1(home: Path, tmp_path: Path, args: list[str]) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with open("/dev/full", "wb") as full:
        done = _run(args, clean_env(home), tmp_path, stdout=full)
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1 and "No space left on device" in lines[0], lines


def test_closed_stdout_is_one_line_and_exit_1(home: Path, tmp_path: Path) -> None:
    done = _shell(_doctor_cmd(*FAST) + " >&-", clean_env(home), tmp_path)
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 1
    assert len(lines) == 1 and "standard output is closed" in lines[0], lines


def test_closed_stdin_and_closed_stderr_change_nothing(home: Path, tmp_path: Path) -> None:
    for redirect in ("<&-", "2>&-", "<&- 2>&-"):
        done = _shell(_doctor_cmd(*FAST, "--format", "json") + " " + redirect, clean_env(home), tmp_path)
        assert done.returncode == 0, (redirect, done.stderr)
        assert json.loads(done.stdout)["counts"]["ok"] >= 1


def test_closed_stdin_makes_fixes_non_interactive(home: Path, tmp_path: Path) -> None:
    done = _shell(_doctor_cmd("--clear-cache", "--offline") + " <&-", clean_env(home), tmp_path)
    assert done.returncode in (0, 1), done.stderr
    assert b"Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize("columns", ["abc", "0", "-5", "999999", "5", "", "1e3", "80"])
def test_any_columns_value_renders_the_whole_report(home: Path, tmp_path: Path, columns: str) -> None:
    env = clean_env(home, COLUMNS=columns, LINES=columns)
    done = _run(FAST, env, tmp_path)
    text = done.stdout.decode()
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    assert "proxy" in text and "passed," in text  # never an empty report
    widest = max(len(line) for line in text.splitlines())
    assert 40 <= widest <= 500, widest


# --------------------------------------------------------------------------- encodings

BAD_BYTES = {
    "HTTPS_PROXY": "http://us\udcff:p\udcfe@pr\udcffoxy:3128",
    "NO_PROXY": "a\udcff.example,b",
    "KERAS_HOME": "/tmp/k\udcffh\udce9",
}


@pytest.mark.parametrize("fmt", ["json", "rich", "markdown"])
@pytest.mark.parametrize("locale_env", [{"LC_ALL": "C"}, {"LC_ALL": "C", "PYTHONIOENCODING": "ascii"}, {}])
def test_undecodable_environment_never_crashes_and_output_is_utf8(
    home: Path, tmp_path: Path, fmt: str, locale_env: dict[str, str]
) -> None:
    env = clean_env(home, **BAD_BYTES, **locale_env)
    if "PYTHONIOENCODING" not in locale_env:
        env.pop("PYTHONIOENCODING", None)
    done = _run(["--offline", "--select", "proxy,cache", "--format", fmt, "--verbose"], env, tmp_path)
    assert done.returncode in (0, 1), done.stderr.decode("utf-8", "replace")
    assert b"Traceback" not in done.stderr
    text = done.stdout.decode("utf-8")  # valid UTF-8 (or ASCII) whatever the locale
    assert "\udcff" not in text and "\\xff" in text
    if fmt == "json":
        data = json.loads(text)
        assert data["schema"] == 2
        assert not any(0xD800 <= ord(c) <= 0xDFFF for c in json.dumps(data, ensure_ascii=False))


def test_json_is_utf8_bytes_under_an_ascii_locale(home: Path, tmp_path: Path) -> None:
    keras_home = tmp_path / "données ✓"
    keras_home.mkdir()
    env = clean_env(home, LC_ALL="C", PYTHONIOENCODING="ascii", KERAS_HOME=str(keras_home))
    done = _run(["--offline", "--select", "cache", "--format", "json"], env, tmp_path)
    assert done.returncode in (0, 1), done.stderr
    assert "données ✓".encode() in done.stdout
    json.loads(done.stdout.decode("utf-8"))
