"""Fixes a person can paste, at any terminal width: the diagnosis first, commands whole.

Each report runs in tmux (a real terminal emulator) at 60, 80, 120 and 200 columns, and the
screen is read back as a person would copy it. The scenario is a real environment with long
paths and several findings: a virtual environment deep in a long folder (NumPy 2 metadata on
TensorFlow 2.16: pip commands with the interpreter's full path, from the result's typed ``fixes``),
``KERAS_HOME`` naming a file (a cache problem seen by three checks: one root cause), and an
``https://`` proxy (a warning with an ``export`` fix). ``--offline``: no connection.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_doctor.render.commands import shell_words, unwrap_lines
from testkit.doctor import clean_env
from testkit.fake_env import fake_environment
from tests.marks import needs_tf
from tests.terminal import needs_tmux, tmux_screen

WIDTHS = (60, 80, 120, 200)
SELECT = ("--offline", "--select", "compat,proxy,cache")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("layout")
    venv = root / "a-rather-long-project-folder-name" / "venv-with-numpy2-forced-onto-tensorflow-2-16"
    python = fake_environment(venv, {"tensorflow": "2.16.1", "numpy": "2.1.0", "keras": "3.5.0"})
    home = root / "home"
    home.mkdir()
    keras_home = root / "keras-home-is-a-file"
    keras_home.write_text("not a folder\n")
    env = clean_env(
        home, KERAS_HOME=str(keras_home), HTTPS_PROXY="https://proxy.example.internal:3128", TERM="screen"
    )
    for name in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE"):
        env.pop(name, None)
    args = [*SELECT, "--python", str(python)]
    done = subprocess.run(
        [sys.executable, "-m", "mnist_doctor", *args, "--format", "json"],
        capture_output=True, text=True, env=env, cwd=root, timeout=120,
    )  # fmt: skip
    return {"args": args, "env": env, "cwd": root, "report": json.loads(done.stdout), "code": done.returncode}


def _commands(report: dict) -> list[str]:
    return [c["command"] for f in report["diagnosis"]["fixes"] for c in f["commands"]]


@pytest.mark.usefixtures("processes")
def test_the_scenario_has_long_commands_and_one_root_cause_for_the_cache(scenario) -> None:
    diagnosis = scenario["report"]["diagnosis"]
    commands = _commands(scenario["report"])
    assert any(len(c) > 100 for c in commands), commands  # longer than three of the four widths
    cache = [p for p in diagnosis["problems"] if "cache.keras_home" in p["checks"]]
    assert len(cache) == 1 and {"cache.location", "cache.integrity"} <= set(cache[0]["checks"]), diagnosis
    numpy_fix = next(f for f in diagnosis["fixes"] if f["check"] == "compat.numpy")
    numpy = next(r for r in scenario["report"]["results"] if r["id"] == "compat.numpy")
    shown = numpy_fix["commands"][0]["command"]
    assert shown == " && ".join(f["command"] for f in numpy["fixes"]) and numpy["hint"].startswith(shown)
    assert [shlex.split(part) for part in shown.split(" && ")] == [f["argv"] for f in numpy["fixes"]]
    assert numpy["data"]["fix"]["steps"] == [f["argv"] for f in numpy["fixes"]]  # the schema-2 view
    assert numpy_fix["runs_with_fix"] is True


@needs_tmux
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.usefixtures("processes")
def test_every_fix_command_is_whole_on_screen(scenario, width: int) -> None:
    screen, joined, code = tmux_screen(scenario["args"], scenario["env"], scenario["cwd"], width)
    assert code == scenario["code"] == 1
    lines = screen.splitlines()
    # Diagnosis first, then the evidence table.
    diag_at = next(i for i, line in enumerate(lines) if line.startswith("Diagnosis: "))
    table_at = next(i for i, line in enumerate(lines) if "Check" in line and "Finding" in line)
    assert diag_at < table_at
    assert "Hint" not in lines[table_at]
    # Each command, once the report's own " \" continuations are joined, is one screen line.
    logical = [line.strip() for line in unwrap_lines(joined.splitlines())]
    for command in _commands(scenario["report"]):
        assert any(line == command or line.startswith(command + "   # ") for line in logical), (
            width, command, joined,
        )  # fmt: skip
        # And no word of it is cut by the terminal: a word that fits a line is whole on one line.
        for word in shell_words(command) or []:
            if len(word) <= width - 8:
                assert any(word in line for line in lines), (width, word)
    # Every fix is numbered and tied to its check id, and the table points at it.
    for fix in scenario["report"]["diagnosis"]["fixes"]:
        assert f"fix {fix['number']} ({fix['check']})" in screen
    assert "fix 1" in "\n".join(lines[table_at:])
    # A fix whose first command is typed says --fix can run it (a shell comment: pastes harmlessly).
    runnable = sum(f["runs_with_fix"] for f in scenario["report"]["diagnosis"]["fixes"])
    assert runnable and screen.count("# mnist-doctor --fix can run") == runnable


@pytest.mark.usefixtures("processes")
def test_markdown_says_which_fix_mnist_doctor_fix_runs(scenario) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mnist_doctor", *scenario["args"], "--format", "markdown"],
        capture_output=True, text=True, env=scenario["env"], cwd=scenario["cwd"], timeout=120,
    )  # fmt: skip
    fixes = scenario["report"]["diagnosis"]["fixes"]
    numpy_fix = next(f for f in fixes if f["check"] == "compat.numpy")
    assert numpy_fix["commands"][0]["command"] in done.stdout
    assert done.stdout.count("mnist-doctor --fix can run") == sum(f["runs_with_fix"] for f in fixes) >= 1


@needs_tmux
@pytest.mark.usefixtures("processes")
def test_a_wrapped_command_is_the_same_command_when_pasted(scenario) -> None:
    """At 60 columns the pip command wraps with ``\\``: the shell reads it back as the same argv.

    Copied as a terminal copies (lines it wrapped itself are joined: the interpreter path is
    longer than the window and runs past the edge).
    """
    _, joined, _ = tmux_screen(scenario["args"], scenario["env"], scenario["cwd"], 60)
    lines = joined.splitlines()
    commands = _commands(scenario["report"])
    first_word = next(c for c in commands if len(c) > 60).split()[0]
    start = next(
        i for i, line in enumerate(lines) if line.strip().startswith(first_word) and line.endswith(" \\")
    )
    block = [lines[start]]
    while block[-1].endswith(" \\"):
        block.append(lines[start + len(block)])
    assert len(block) > 1, block
    printed = subprocess.run(
        ["sh", "-c", "set -- " + "\n".join(block).strip() + '\nprintf "%s\\n" "$@"'],
        capture_output=True, text=True, timeout=30,
    ).stdout.splitlines()  # fmt: skip
    assert printed in [shlex.split(c) for c in commands], (printed, commands)


@needs_tf
@needs_tmux
@pytest.mark.usefixtures("processes")
def test_offline_machine_without_the_file_says_load_data_will_download(home: Path, tmp_path: Path) -> None:
    """``--offline`` with an empty cache: not "all passed", but what load_data() will need."""
    env = clean_env(home, TERM="screen")
    env.pop("COLUMNS", None)
    screen, joined, code = tmux_screen(["--offline"], env, tmp_path, 80, timeout=180)
    assert code == 0
    first = screen[screen.index("Diagnosis: ") :]
    assert "load_data()` will need to download mnist.npz (11.5 MB)" in " ".join(first.split())
    logical = [line.strip() for line in unwrap_lines(joined.splitlines())]
    assert "mnist-doctor --seed FILE" in logical
    assert any(line.startswith("mnist-doctor --fetch") for line in logical)
    assert "9 network checks skipped: --offline: network checks are not run" in " ".join(screen.split())
