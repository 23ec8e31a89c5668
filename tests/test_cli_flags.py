"""Flag hygiene: meaningless combinations are usage errors, folder URLs are completed, shells complete.

Completion scripts are generated from the argparse parser: bash's is sourced by a real bash and
asked for completions the way bash asks (``COMP_WORDS``/``COMP_CWORD``); zsh and fish scripts are
checked with those shells when they are installed, and for covering every flag always.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mnist_doctor.cli.completion import options
from mnist_doctor.cli.parser import build_parser
from testkit.loopback import DatasetServer


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--dry-run"], "--dry-run only applies to --clear-cache and --fix"),
        (["--yes"], "--yes only applies to --clear-cache and --fix"),
        (["--seed", "x", "--yes"], "not to --seed"),
        (["--fetch", "--dry-run"], "not to --fetch"),
        (["--mirror", "https://m/"], "--mirror goes with --fetch"),
        (["--list-checks", "--fix"], "--list-checks does not go with --fix"),
        (["--fetch", "--select", "cache"], "--select does not go with --fetch"),
        (["--clear-cache", "--expect-gpu"], "--expect-gpu does not go with --clear-cache"),
        (["--fetch", "--offline"], "--fetch needs the network"),
        (["--seed", "/no/such/mnist.npz"], "does not exist"),
        (["--completion", "bash", "--offline"], "--completion takes no other flag"),
    ],
)
def test_meaningless_combinations_are_usage_errors(doctor, args: list[str], text: str) -> None:
    run = doctor(*args)
    assert run.code == 2, (args, run.stderr)
    assert len(run.stderr.splitlines()) == 1 and text in run.stderr, run.stderr
    assert run.stdout == ""


def test_meaningful_combinations_still_work(doctor, home: Path) -> None:
    assert doctor("--clear-cache", "--dry-run").code == 0
    assert doctor("--offline", "--select", "cache", "--fix", "--dry-run").code in (0, 1)


def test_origin_folder_url_is_completed_like_mirror(doctor) -> None:
    """``--origin http://host/folder/`` tests ``folder/mnist.npz``, as ``--mirror`` fetches it."""
    with DatasetServer(404, payload=b"not the dataset") as server:
        folder = server.base + "/some/folder/"
        run = doctor("--select", "network.http", "--origin", folder, "--format", "json", "--timeout", "30")
        fetch = doctor("--fetch", "--mirror", folder, "--format", "json", "--timeout", "30")
    assert run.json["environment"]["origin"] == folder + "mnist.npz"
    assert fetch.json["actions"][0]["url"] == folder + "mnist.npz"
    assert set(server.paths) == {"/some/folder/mnist.npz"}, server.requests


def test_help_points_at_the_json_docs(doctor) -> None:
    run = doctor("--help")
    assert "docs/json.md" in " ".join(run.stdout.split()) and "--completion" in run.stdout


def _bash_complete(script: str, words: list[str]) -> list[str]:
    program = (
        script
        + "\nCOMP_WORDS=("
        + " ".join(f"'{w}'" for w in words)
        + f")\nCOMP_CWORD={len(words) - 1}\n_mnist_doctor\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    )
    done = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completion_completes_flags_choices_and_files(doctor, tmp_path: Path) -> None:
    run = doctor("--completion", "bash")
    assert run.code == 0
    script = run.stdout
    assert _bash_complete(script, ["mnist-doctor", "--of"]) == ["--offline"]
    assert _bash_complete(script, ["mnist-doctor", "--format", ""]) == ["rich", "json", "markdown"]
    assert _bash_complete(script, ["mnist-doctor", "--completion", "z"]) == ["zsh"]
    (tmp_path / "mnist-download.npz").write_bytes(b"x")
    files = _bash_complete(script, ["mnist-doctor", "--seed", str(tmp_path / "mnist-d")])
    assert files == [str(tmp_path / "mnist-download.npz")]
    assert _bash_complete(script, ["mnist-doctor", "--timeout", ""]) == []  # a number is typed
    every = set(_bash_complete(script, ["mnist-doctor", "-"]))
    assert {n for o in options(build_parser()) for n in o.names} == every


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_cover_every_flag(doctor, shell: str, tmp_path: Path) -> None:
    run = doctor("--completion", shell)
    assert run.code == 0
    for option in options(build_parser()):
        for name in option.names:
            if shell == "fish":
                flag = f"-l {name[2:]}" if name.startswith("--") else f"-s {name[1:]}"
                assert flag in run.stdout, name
            else:
                assert f"'{name}[" in run.stdout, name
    assert "json markdown" in run.stdout
    if shutil.which(shell):  # a real syntax check where the shell exists
        script = tmp_path / f"completion.{shell}"
        script.write_text(run.stdout)
        check = [shell, "-n", str(script)]
        assert subprocess.run(check, capture_output=True, timeout=30).returncode == 0
