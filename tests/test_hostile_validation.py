"""Hostile arguments and variables: exit 2 with one line for flags, a finding for the environment.

Real CLI subprocesses; the unsearchable-folder case runs as another uid (``setpriv``).
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from testkit.loopback import DatasetServer
from tests.test_cache_new_user import as_new_user, needs_other_user, needs_system_python


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("mnist-doctor: error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    return errors[0]


@pytest.mark.parametrize(
    "value", ["nan", "NaN", "inf", "-inf", "1e309", "1e12", "3600.5", "0", "-1", "-0.0", "abc", "", "0x10"]
)
def test_bad_timeout_is_exit_2_with_one_line(doctor, value: str) -> None:
    run = doctor("--list-checks", f"--timeout={value}")
    assert run.code == 2
    assert "--timeout" in _one_error_line(run.stderr)
    assert run.stdout == ""


@pytest.mark.parametrize("value", ["0.5", "3600", "1e3", "120"])
def test_good_timeout_is_accepted(doctor, value: str) -> None:
    run = doctor("--list-checks", "--format", "json", "--timeout", value)
    assert run.code == 0, run.stderr
    assert run.json["checks"]


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://[::1", "IPv6"),
        ("http://[::1/mnist.npz", "IPv6"),
        ("http://h:99999/", "bad port"),
        ("http://h:abc/", "bad port"),
        ("http://h:-1/", "bad port"),
        ("ftp://h/mnist.npz", "not an http(s) URL"),
        ("file:///etc/passwd", "not an http(s) URL"),
        ("javascript:alert(1)", "not an http(s) URL (scheme 'javascript')"),
        ("data:,mnist", "not an http(s) URL (scheme 'data')"),
        ("https://u:Secr3tPw@mirror.example/mnist.npz", "user name or password"),
        ("http://", "no host"),
        ("http:///mnist.npz", "no host"),
        ("mnist.npz", "no scheme"),
        ("http://h/a b", "spaces"),
        ("http://h/" + "a" * 9000, "longer than 8192"),
        ("http://u:Secr3tPw@[::1/x", "IPv6"),
    ],
)
@pytest.mark.parametrize("flag", ["--origin", "--mirror"])
def test_malformed_url_flag_is_exit_2_with_one_redacted_line(
    doctor, flag: str, url: str, reason: str
) -> None:
    extra = ["--fetch"] if flag == "--mirror" else []
    run = doctor(flag, url, *extra, "--offline")
    assert run.code == 2, run.stderr
    line = _one_error_line(run.stderr)
    assert reason in line and len(line) < 400
    assert "Secr3tPw" not in run.stderr


@pytest.mark.parametrize(
    "value, reason",
    [
        ("http://[::1", "malformed"),
        ("http://proxy:99999", "bad port"),
        ("http://proxy:abc", "bad port"),
        ("http://u:Pr0xyPw@[::1", "malformed"),
        ("http://:3128", "no host"),
    ],
)
def test_malformed_proxy_variable_is_a_finding_not_a_crash(doctor, value: str, reason: str) -> None:
    run = doctor("--offline", "--select", "proxy", "--format", "json", env_extra={"HTTPS_PROXY": value})
    assert run.code == 1, run.stderr
    statuses = {r["id"]: r["status"] for r in run.json["results"]}
    assert "error" not in statuses.values(), statuses
    syntax = run.result("proxy.syntax")
    assert syntax["status"] == "fail" and reason in syntax["summary"]
    assert "Pr0xyPw" not in run.stdout


@pytest.mark.parametrize("origin", ["http://[::1", "http://h:99999/x", "https://h:abc/mnist.npz", "http://"])
def test_malformed_origin_variable_is_a_finding_not_a_crash(doctor, origin: str) -> None:
    run = doctor(
        "--select", "network.origin,proxy", "--format", "json", env_extra={"MNIST_DOCTOR_ORIGIN": origin}
    )
    assert run.code == 0, run.stderr  # Keras never reads the variable: a warning, not a failure
    assert "Traceback" not in run.stderr
    named = run.result("network.origin")
    assert named["status"] == "warn" and "MNIST_DOCTOR_ORIGIN" in named["summary"]
    assert (named["hint"] or "").startswith("unset MNIST_DOCTOR_ORIGIN")
    crashed = [r["id"] for r in run.json["results"] if r["status"] == "error"]
    assert not crashed, crashed


def test_malformed_origin_variable_with_fetch_is_exit_2(doctor) -> None:
    run = doctor("--fetch", "--timeout", "20", env_extra={"MNIST_DOCTOR_ORIGIN": "http://u:Or1ginPw@[::1/x"})
    assert run.code == 2
    assert "MNIST_DOCTOR_ORIGIN" in _one_error_line(run.stderr) and "Or1ginPw" not in run.stderr


def test_malformed_origin_variable_online_prints_no_traceback(doctor) -> None:
    """The network checks meet the bad origin too (nothing is contacted: there is no host)."""
    run = doctor(
        "--select",
        "network",
        "--timeout",
        "30",
        "--format",
        "json",
        env_extra={"MNIST_DOCTOR_ORIGIN": "http://[::1"},
    )
    assert "Traceback" not in run.stderr, run.stderr
    assert run.code == 1 and run.json["schema"] == 2
    crashed = [r["id"] for r in run.json["results"] if r["status"] == "error"]
    assert not crashed, crashed  # the stages walk Keras' own URL; the variable is set aside and named
    assert run.result("network.origin")["status"] == "warn"


def test_an_ftp_origin_variable_is_named_not_blamed_on_the_timeout(doctor) -> None:
    """``MNIST_DOCTOR_ORIGIN=ftp://...`` of a host that answers: named as what it is, with the fix,
    and never walked (it reached the HTTP stage, reported as cut short by --timeout after 0.0 s).
    The fix is applied as printed: without the variable the checks test Keras' own URL."""
    with DatasetServer("full", payload=b"PK\x03\x04 not walked") as server:
        origin = f"ftp://127.0.0.1:{server.port}/mnist.npz"
        argv = ("--select", "network", "--format", "json", "--timeout", "30")
        run = doctor(*argv, env_extra={"MNIST_DOCTOR_ORIGIN": origin})
        assert server.requests == []  # set aside: the mirror named in it is never contacted
    results = {r["id"]: r for r in run.json["results"]}
    named = results["network.origin"]
    assert named["status"] == "warn" and "MNIST_DOCTOR_ORIGIN" in named["summary"], named
    assert "is not an http(s) URL (scheme 'ftp')" in named["summary"]
    assert "storage.googleapis.com" in named["summary"]  # what is tested instead, and said so
    assert named["hint"].startswith("unset MNIST_DOCTOR_ORIGIN")
    assert not any("cut short" in r["summary"] for r in results.values()), results
    assert not [r["id"] for r in results.values() if r["status"] == "error"]
    fixed = doctor(*argv)  # `unset MNIST_DOCTOR_ORIGIN`, as the hint says
    after = {r["id"]: r for r in fixed.json["results"]}["network.origin"]
    assert after["status"] == "ok" and after["summary"].startswith("Keras' own URL")


def _python_kinds(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Unusable --python values and the reason each must name."""
    empty = tmp_path / "empty-venv"
    empty.mkdir()
    plain = tmp_path / "plain.txt"
    plain.write_text("not a program")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fifo.chmod(0o755)
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    sock.close()
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    shell = tmp_path / "not-python"
    shell.write_text("#!/bin/sh\necho hello\n")
    shell.chmod(shell.stat().st_mode | stat.S_IXUSR)
    venv_dir_python = tmp_path / "odd-venv" / "bin" / "python"
    venv_dir_python.mkdir(parents=True)
    return {
        "missing": (str(tmp_path / "nope" / "python"), "no such file"),
        "folder without python": (str(empty), "folder has no bin/python"),
        "not executable": (str(plain), "not executable"),
        "fifo": (str(fifo), "named pipe"),
        "socket": (str(sock_path), "socket"),
        "device": ("/dev/null", "character device"),
        "symlink loop": (str(loop), "symbolic links"),
        "through a file": (str(plain / "python"), "not a folder"),
        "name too long": (str(tmp_path / ("p" * 300)), "too long"),
        "path too long": ("/" + "/".join(["abcdefgh"] * 600), "too long"),
        "not a python": (str(shell), "not a working Python interpreter"),
        "bin/python is a folder": (str(venv_dir_python.parent.parent), "not a regular file"),
    }


def test_every_unusable_python_is_exit_2_with_the_reason(doctor, tmp_path: Path) -> None:
    for kind, (value, reason) in _python_kinds(tmp_path).items():
        run = doctor("--python", value, "--offline", "--select", "proxy", timeout=60)
        assert run.code == 2, (kind, run.stderr)
        line = _one_error_line(run.stderr)
        assert reason in line, (kind, line)
        assert len(line) < 400, kind


def test_python_from_the_environment_variable_is_checked_the_same_way(doctor, tmp_path: Path) -> None:
    run = doctor("--offline", env_extra={"MNIST_DOCTOR_PYTHON": str(tmp_path / ("q" * 300))})
    assert run.code == 2 and "too long" in _one_error_line(run.stderr)


def test_tiny_timeout_does_not_call_a_healthy_python_broken(doctor) -> None:
    run = doctor("--offline", "--timeout", "0.001")
    line = _one_error_line(run.stderr)
    assert run.code == 2
    assert "not a working Python" not in line and "--timeout" in line


@needs_other_user
@needs_system_python
def test_python_behind_an_unsearchable_folder(shared_tmp: Path) -> None:
    home = shared_tmp / "user"
    home.mkdir()
    os.chown(home, 65534, 65534)
    locked = shared_tmp / "locked"
    (locked / "venv" / "bin").mkdir(parents=True)
    (locked / "venv" / "bin" / "python").symlink_to("/usr/bin/python3")
    locked.chmod(0o700)  # root's: uid 65534 may not search it
    run = as_new_user(home, "--python", str(locked / "venv"), "--offline", "--select", "proxy")
    assert run.returncode == 2, run.stderr
    assert "permission denied" in _one_error_line(run.stderr)
