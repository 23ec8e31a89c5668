"""Typed fixes: the text a hint shows is rendered from the exact argv ``--fix`` carries out.

Real parts: the real load probe in a real venv whose Keras stand-in fails the way Keras does
(a refused connection on 127.0.0.1, wrapped in Keras' own "URL fetch failure" message), a real
loopback HTTP server for a fetch fix, and real files in a temporary ``HOME``.
"""

from __future__ import annotations

import hashlib
import io
import shlex
import socket
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from mnist_doctor.causes.load import diagnose
from mnist_doctor.cli.fix import collect_fixes, offer_fixes
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.facts import Facts, Options
from mnist_doctor.facts.load_probe import run_load_probe
from mnist_doctor.model import CheckResult, Fix, FixKind, Status, shell_join, shell_line
from mnist_doctor.text.hints import Installer, clear_cache_fix, doctor_argv, fetch_fix
from testkit.loopback import DatasetServer
from tests.cache_fixtures import datasets_dir
from tests.fake_tf import fake_tf_env
from tests.load_fixtures import probe_env

MIRROR = "http://127.0.0.1:9/mirror/mnist.npz"
WORDS = st.lists(st.text(min_size=1).filter(lambda w: "\x00" not in w), min_size=1, max_size=6)


@given(WORDS)
def test_the_shown_text_splits_back_into_the_exact_argv(words: list[str]) -> None:
    fix = Fix(FixKind.COMMAND, tuple(words), "anything")
    assert shlex.split(fix.command) == words
    assert fix.to_dict()["command"] == fix.command == shell_join(words)


def test_every_installer_hint_is_its_steps_rendered() -> None:
    specs = ("numpy<2", "tensorflow[and-cuda]==2.21.0", "ml_dtypes<1.0.0,>=0.5.1")
    for installer in (
        Installer("/opt/my env/bin/python", True),
        Installer("/opt/my env/bin/python", False, "/usr/bin/uv"),
        Installer("/opt/my env/bin/python", False, None),
    ):
        swap = installer.uninstall("tensorflow").then(installer.install("x"))
        for command in (installer.install(*specs), swap):
            assert str(command) == shell_line(command.steps)
            assert all(step.kind is FixKind.COMMAND and step.needs_confirmation for step in command.steps)
            assert [shlex.split(part) for part in str(command).split(" && ")] == [
                list(step.argv) for step in command.steps
            ]
    # pip's docs style: requirements in double quotes (they paste into cmd.exe and PowerShell too)
    assert str(Installer("python", True).install("numpy<2")) == 'python -m pip install "numpy<2"'


@pytest.mark.parametrize(
    ("kind", "argv", "url", "confirm"),
    [
        (FixKind.COMMAND, (), None, True),
        (FixKind.COMMAND, ("pip", ""), None, True),
        (FixKind.FETCH, ("mnist-doctor", "--fetch"), None, False),
        (FixKind.COMMAND, ("pip", "install", "x"), None, False),  # package changes always ask
    ],
)
def test_a_malformed_fix_cannot_be_built(kind, argv, url, confirm) -> None:
    with pytest.raises(ValueError):
        Fix(kind, argv, "why", confirm, url)


def test_a_result_row_carries_its_fixes_and_the_schema2_view_derived_from_them() -> None:
    clear = clear_cache_fix(sys.executable, "remove the broken mnist.npz")
    row = CheckResult(
        Status.FAIL, "broken", id="cache.integrity", family="cache", title="t", fixes=(clear,)
    ).to_dict()
    assert row["fixes"] == [clear.to_dict()]
    # the doctor's own Python: no --python
    assert row["fixes"][0]["argv"] == ["mnist-doctor", "--clear-cache"]
    assert row["data"]["fix"] == {
        "kind": "clear_cache",
        "reason": "remove the broken mnist.npz",
        "command": "mnist-doctor --clear-cache",
        "steps": [["mnist-doctor", "--clear-cache"]],
    }
    other = clear_cache_fix("/opt/other env/bin/python", "why")
    assert other.argv == ("mnist-doctor", "--python", "/opt/other env/bin/python", "--clear-cache")
    assert other.command == 'mnist-doctor --python "/opt/other env/bin/python" --clear-cache'


# --- load.real: a fetch fix only from a mirror the user named ------------------------------------

_REFUSING_MNIST = """
import urllib.error
import urllib.request

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


def get_file(fname, origin):
    # What Keras' get_file does with a URLError: its own bare Exception (the cause stays as context).
    try:
        urllib.request.urlopen("http://127.0.0.1:{port}/mnist.npz", timeout=10)
    except urllib.error.URLError as e:
        raise Exception("URL fetch failure on {{}}: {{}} -- {{}}".format(origin, e.errno, e.reason))


def load_data(path="mnist.npz"):
    return get_file(path, origin=ORIGIN)
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.usefixtures("processes")
def test_a_refused_download_offers_a_fetch_from_the_mirror_and_nothing_without_one(tmp_path: Path) -> None:
    python = fake_tf_env(tmp_path / "v")
    mnist = next((tmp_path / "v").glob("lib/python*/site-packages/keras/src/datasets/mnist.py"))
    mnist.write_text(_REFUSING_MNIST.format(port=_closed_port()))
    probe = run_load_probe(str(python), "tf", 60, env=probe_env(tmp_path / "home"), cwd=str(tmp_path))
    assert not probe.outcome("mnist").succeeded, probe.run.answer

    with_mirror = diagnose(probe, host=MNIST.host, target_python=str(python), mirror=MIRROR)
    assert with_mirror.name == "connection-refused", with_mirror
    (fetch,) = with_mirror.fixes
    assert fetch.kind is FixKind.FETCH and fetch.url == MIRROR and not fetch.needs_confirmation
    assert fetch.argv == doctor_argv(str(python), "--fetch", "--mirror", MIRROR)

    without = diagnose(probe, host=MNIST.host, target_python=str(python))
    assert without.name == "connection-refused" and without.fixes == ()
    assert "--seed FILE" in without.hint  # the person still gets the offline route


# --- --fix carries out a fetch step from the URL the step names -----------------------------------


@pytest.mark.usefixtures("processes")
def test_fix_fetches_from_the_url_of_its_step(
    keras_home: Path, good_npz: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = good_npz.read_bytes()
    monkeypatch.setenv("MNIST_DOCTOR_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setenv("MNIST_DOCTOR_SIZE", str(len(payload)))
    facts = Facts(Options(python=sys.executable, timeout=60))
    with DatasetServer("full", payload=payload) as server:
        failed = CheckResult(
            Status.FAIL,
            "load_data failed — connection refused",
            id="load.real",
            family="load",
            title="t",
            fixes=(fetch_fix(sys.executable, server.url, "connection refused"),),
        )
        declined = offer_fixes([failed], facts, _console(), yes=False, dry_run=False, interactive=False)
        assert declined is False and server.requests == []  # no terminal, no --yes: nothing fetched
        out = io.StringIO()
        changed = offer_fixes([failed], facts, _console(out), yes=True, dry_run=False, interactive=False)
    assert changed is True, out.getvalue()
    assert (datasets_dir(keras_home) / "mnist.npz").read_bytes() == payload
    assert len(server.requests) == 1 and f"--fetch --mirror {server.url}" in out.getvalue()


def _console(out: io.StringIO | None = None) -> Console:
    return Console(file=out or io.StringIO(), width=300, color_system=None)


def test_the_same_steps_from_two_checks_are_offered_once() -> None:
    clear = clear_cache_fix(sys.executable, "remove the broken file")
    rows = [
        CheckResult(Status.FAIL, "a", id=f"x.{name}", family="x", title="t", fixes=(clear,))
        for name in ("one", "two")
    ]
    (plan,) = collect_fixes(rows)
    assert plan.source == "x.one" and plan.command == "mnist-doctor --clear-cache"


# --- GPU findings: the hint's command is their typed fix --------------------------------------------


def test_gpu_findings_render_their_hint_from_their_fixes() -> None:
    from mnist_doctor.causes.gpu import build_finding, metal_finding
    from mnist_doctor.facts.gpu import describe
    from tests.test_gpu_rules import LINUX_311, MACOS, dists

    python = "/opt/v/bin/python"
    cpu = build_finding(describe(dists(("tensorflow-cpu", "2.16.2")), LINUX_311, {}), python)
    no_metal = build_finding(describe(dists(("tensorflow", "2.16.2")), MACOS, {}), python)
    other_metal = metal_finding(
        describe(dists(("tensorflow", "2.16.2"), ("tensorflow-metal", "1.0.0")), MACOS, {}), python
    )
    for finding in (cpu, no_metal, other_metal):
        assert finding is not None and finding.fixes
        assert finding.hint.startswith(shell_line(finding.fixes))
    assert cpu is not None and [f.argv[-1] for f in cpu.fixes] == [
        "tensorflow-cpu",
        "tensorflow[and-cuda]==2.16.2",
    ]
