"""Hints that work where they are given: pip, uv or ensurepip, and ``--fix`` running exactly that.

Real parts: venvs made without pip (as uv and pipx make them), a tiny wheel built with
hatchling into a local folder (installs use it with the index switched off: no network),
the CLI's ``--fix`` answered at a real pseudo-terminal, and a pipx-style private venv made
with ``uv venv`` from the warm uv cache (``--offline``).
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnist_doctor.text.hints import Installer
from testkit.doctor import clean_env
from testkit.fake_env import make_venv, site_packages
from tests.fake_tf import TF_REQUIRES, fake_tf_env

ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv")
needs_uv = pytest.mark.skipif(UV is None, reason="uv is not on PATH")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


@pytest.mark.parametrize(
    "installer",
    [
        Installer("/opt/my env/bin/python", True),
        Installer("/opt/my env/bin/python", False, "/usr/bin/uv"),
        Installer("/opt/my env/bin/python", False, None),
    ],
    ids=["pip", "uv", "ensurepip"],
)
def test_the_shown_text_splits_back_into_the_argv_that_runs(installer):
    specs = ("numpy<2", "keras>=3.12.0", "ml_dtypes<1.0.0,>=0.5.1", "requests[socks]", "tensorflow==2.21.0")
    for command in (installer.install(*specs, flags=("--upgrade",)), installer.uninstall("tensorflow")):
        parts = str(command).split(" && ")
        assert [tuple(shlex.split(part)) for part in parts] == [step.argv for step in command.steps]
    shown = str(installer.install("numpy<2"))
    expected = {
        "pip": "-m pip install",
        "uv": "uv pip install --python ",
        "ensurepip": "-m ensurepip --upgrade && ",
    }[installer.kind]
    assert expected in shown


@pytest.mark.usefixtures("processes")
def test_introspection_reports_whether_the_target_has_pip(tmp_path):
    from mnist_doctor.facts import Facts, Options

    with_pip = Facts(Options(python=sys.executable, offline=True, timeout=60)).get("installer")
    assert with_pip.has_pip is True and with_pip.kind == "pip"
    bare = make_venv(tmp_path / "bare")
    without = Facts(Options(python=str(bare), offline=True, timeout=60)).get("installer")
    assert without.has_pip is False and without.kind in ("uv", "ensurepip")


def _no_tf_hint(doctor, python: Path, path: str) -> dict:
    run = doctor(
        "--python",
        str(python),
        "--offline",
        "--format",
        "json",
        "--select",
        "compat.tensorflow",
        env_extra={"PATH": path},
    )
    return run.result("compat.tensorflow")


@needs_uv
def test_no_pip_with_uv_on_path_gets_uv_pip_install(doctor, tmp_path):
    bare = make_venv(tmp_path / "bare")
    r = _no_tf_hint(doctor, bare, os.environ["PATH"])
    assert r["hint"] == f"uv pip install --python {bare} tensorflow"
    assert r["data"]["fix"]["steps"] == [["uv", "pip", "install", "--python", str(bare), "tensorflow"]]


def test_no_pip_without_uv_gets_ensurepip_first(doctor, tmp_path):
    bare = make_venv(tmp_path / "bare")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    r = _no_tf_hint(doctor, bare, str(empty))
    assert r["hint"] == f"{bare} -m ensurepip --upgrade && {bare} -m pip install tensorflow"


# --- --fix runs exactly the command it shows ---------------------------------------------------


@pytest.fixture(scope="module")
def tiny_wheels(tmp_path_factory) -> Path:
    """A folder holding ``mdtiny-1.0`` as a wheel, built with hatchling (no network)."""
    root = tmp_path_factory.mktemp("tiny")
    src = root / "src"
    (src / "mdtiny").mkdir(parents=True)
    (src / "mdtiny" / "__init__.py").write_text("VALUE = 1\n")
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "mdtiny"\nversion = "1.0"\n'
    )
    out = root / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert list(out.glob("mdtiny-1.0-*.whl"))
    return out


def _in_pty(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 240) -> str:
    """Run ``argv`` at a pseudo-terminal and answer "y" to the one question ``--fix`` asks."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True
    )
    os.close(slave)
    out, answered, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                if not answered and b"now?" in out:
                    os.write(master, b"y\n")
                    answered = True
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        os.close(master)
    return ANSI.sub("", out.decode("utf-8", "replace"))


@pytest.mark.parametrize("route", ["uv", "ensurepip"])
def test_fix_runs_the_command_its_hint_shows(doctor, home, tmp_path, tiny_wheels, route):
    if route == "uv" and UV is None:
        pytest.skip("uv is not on PATH")
    py = fake_tf_env(tmp_path / "v", requires=[*TF_REQUIRES, "mdtiny>=1.0"])
    empty = tmp_path / "empty-path"
    empty.mkdir()
    path = os.environ["PATH"] if route == "uv" else str(empty)
    local_only = {
        "PATH": path,
        "UV_OFFLINE": "1",
        "UV_FIND_LINKS": str(tiny_wheels),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(tiny_wheels),
        "COLUMNS": "2000",
    }
    before = doctor(
        "--python",
        str(py),
        "--offline",
        "--format",
        "json",
        "--select",
        "compat.requirements",
        env_extra=local_only,
    ).result("compat.requirements")
    assert before["status"] == "fail" and "mdtiny is missing" in " ".join(before["details"])
    shown = before["hint"]
    assert shown.startswith("uv pip install" if route == "uv" else f"{py} -m ensurepip --upgrade && ")
    assert [shlex.split(p) for p in shown.split(" && ")] == before["data"]["fix"]["steps"]

    output = _in_pty(
        [
            sys.executable,
            "-m",
            "mnist_doctor",
            "--python",
            str(py),
            "--offline",
            "--select",
            "compat.requirements",
            "--fix",
            "--timeout",
            "120",
        ],
        clean_env(home, **local_only),
        tmp_path,
    )
    assert f"version fix: {shown}" in output, output[-3000:]
    assert list(site_packages(py).glob("mdtiny-1.0.dist-info")), output[-3000:]
    after = doctor(
        "--python",
        str(py),
        "--offline",
        "--format",
        "json",
        "--select",
        "compat.requirements",
        env_extra=local_only,
    ).result("compat.requirements")
    assert after["status"] == "ok", after


# --- a doctor examining its own pipx / uv tool venv ----------------------------------------------


def test_isolated_tool_env_is_recognised_by_path_or_receipt(tmp_path):
    from mnist_doctor.facts.introspection import isolated_tool_env

    assert isolated_tool_env(str(tmp_path / ".local" / "pipx" / "venvs" / "mnist-doctor")) == "pipx"
    assert (
        isolated_tool_env(str(tmp_path / ".local" / "share" / "uv" / "tools" / "mnist-doctor")) == "uv tool"
    )
    receipt = tmp_path / "elsewhere"
    receipt.mkdir()
    assert isolated_tool_env(str(receipt)) is None
    (receipt / "uv-receipt.toml").write_text("[tool]\n")
    assert isolated_tool_env(str(receipt)) == "uv tool"


@needs_uv
@pytest.mark.usefixtures("processes")
def test_doctor_in_its_own_pipx_venv_points_at_the_project_python_first(home, tmp_path):
    venv = tmp_path / "pipx" / "venvs" / "mnist-doctor"
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # The doctor with its declared runtime dependencies (tomli too on Python 3.10), as pipx installs it.
    for args in (["-e", str(ROOT)],):
        deps = subprocess.run(
            [UV, "pip", "install", "-q", "--offline", "--python", str(python), *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if deps.returncode != 0:
            pytest.skip(f"the doctor or its dependencies are not in the uv cache: {deps.stderr[-300:]}")
    done = subprocess.run(
        [str(python), "-m", "mnist_doctor", "--offline", "--format", "json", "--select", "compat.tensorflow"],
        capture_output=True,
        text=True,
        env=clean_env(home),
        cwd=tmp_path,
        timeout=120,
    )
    import json

    result = {r["id"]: r for r in json.loads(done.stdout)["results"]}["compat.tensorflow"]
    assert result["status"] == "fail"
    assert result["hint"].startswith("mnist-doctor --python "), result
    assert "pipx" in result["summary"] and "fix" not in result["data"]
    assert "pip install" not in result["hint"]


@pytest.mark.usefixtures("processes")
def test_fix_output_is_relayed_through_the_redacting_console() -> None:
    """pip/uv output reaches the terminal only through the doctor's one exit for text."""
    import io

    from mnist_doctor.cli.fix import run_steps
    from mnist_doctor.render.console import SafeConsole

    sink = io.StringIO()
    console = SafeConsole(file=sink, width=200, markup=False, highlight=False, color_system=None)
    code = "print('Looking in indexes: http://alice:s3cr3t-pw@127.0.0.1:3128/simple'); print('\\x1b[2Jdone')"
    assert run_steps([[sys.executable, "-c", code]], console) is True
    shown = sink.getvalue()
    assert "127.0.0.1:3128/simple" in shown and "done" in shown
    assert "s3cr3t-pw" not in shown and "\x1b[2J" not in shown


# --- --fix runs the exact argv of the typed fix, with a recording installer on PATH ----------------

_RECORDING_UV = """#!{python}
import json, os, sys
with open(os.environ["FAKE_UV_RECORD"], "w") as out:
    json.dump(sys.argv, out)
print("fake uv: done")
"""


def test_fix_runs_exactly_the_argv_of_the_typed_fix(doctor, home, tmp_path):
    """A harmless ``uv`` stand-in records the argv it was started with: the fix's, word for word."""
    from mnist_doctor.model import shell_join

    bare = make_venv(tmp_path / "bare")  # no pip: the install command is uv's
    tools = tmp_path / "tools"
    tools.mkdir()
    uv = tools / "uv"
    uv.write_text(_RECORDING_UV.format(python=sys.executable))
    uv.chmod(0o755)
    record = tmp_path / "uv-argv.json"
    env = {"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}", "FAKE_UV_RECORD": str(record)}
    args = ("--python", str(bare), "--offline", "--select", "compat.tensorflow")

    result = doctor(*args, "--format", "json", env_extra=env).result("compat.tensorflow")
    (fix,) = result["fixes"]
    assert fix["argv"] == ["uv", "pip", "install", "--python", str(bare), "tensorflow"]
    assert fix["kind"] == "command" and fix["needs_confirmation"] is True
    assert result["hint"] == fix["command"] == shell_join(fix["argv"])

    refused = doctor(*args, "--fix", "--yes", env_extra=env)
    assert "--yes does not run it" in refused.stdout + refused.stderr and not record.exists()

    output = _in_pty(
        [sys.executable, "-m", "mnist_doctor", *args, "--fix", "--timeout", "120"],
        clean_env(home, **env),
        tmp_path,
    )
    assert f"version fix: {fix['command']}" in output and "fake uv: done" in output, output[-3000:]
    ran = json.loads(record.read_text())
    assert ran == [str(uv), *fix["argv"][1:]]  # the program found on PATH, then exactly the argv
