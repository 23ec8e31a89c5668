"""Hostile text: no secret printed, no raw control byte reaches the terminal (issue 11).

The properties run the real CLI in subprocesses (bounded: ~20 examples each); the pure
redaction properties run many more examples in-process.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_doctor.text import redact
from mnist_doctor.text.output import emit, safe_text, sanitize, to_json
from testkit.doctor import clean_env, run_doctor

#: Printable ASCII (space, '@', '/', ':', '%', quotes, backslash...) plus a few non-ASCII letters.
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("éß€漢")
#: Fixed ends make a leak unmistakable: neither may ever appear in any output.
HEAD, TAIL = "Zq7", "K9w"


def _password(middle: str) -> str:
    return f"{HEAD}{middle}{TAIL}"


@pytest.fixture
def fresh_secrets() -> Iterator[None]:
    """The registry of known secrets is process-wide: each test starts and ends with an empty one."""
    saved = set(redact._secrets)
    redact._secrets.clear()
    redact._literal_re.clear()
    yield
    redact._secrets.clear()
    redact._secrets.update(saved)
    redact._literal_re.clear()


def _leaks(text: str, password: str) -> list[str]:
    forms = {password, quote(password, safe=""), HEAD, TAIL}
    return [f for f in forms if f in text]


# --------------------------------------------------------------------------- pure function


@settings(max_examples=400, deadline=None)
@given(middle=st.text(PRINTABLE, min_size=0, max_size=24), encoded=st.booleans())
def test_registered_proxy_password_never_survives_any_embedding(middle: str, encoded: bool) -> None:
    password = _password(middle)
    shown = quote(password, safe="") if encoded else password
    url = f"http://alice:{shown}@proxy.example:3128"
    saved = set(redact._secrets)
    try:
        redact.register_env({"HTTPS_PROXY": url})
        for text in (
            url,
            f"connect via {url} refused",
            f"HTTPS_PROXY={url}",
            json.dumps({"proxy": url}),
            repr(url),
            f"proxy {password} echoed raw",
        ):
            out = safe_text(text)
            assert not _leaks(out, password), (text, out)
        assert "proxy.example" in safe_text(f"connect via {url} refused")
        document = to_json({"proxy": url, "nested": [{"k": url}]})
        assert json.loads(safe_text(document, json_escaped=True))  # masking never breaks the JSON
    finally:
        redact._secrets.clear()
        redact._secrets.update(saved)
        redact._literal_re.clear()


#: Without registration the shape alone must do: anything but whitespace and quotes in the password.
UNQUOTED = st.characters(min_codepoint=0x21, max_codepoint=0x7E).filter(lambda c: c not in "\"'<>`\\")


@settings(max_examples=400, deadline=None)
@given(middle=st.text(UNQUOTED, max_size=24), scheme=st.sampled_from(["http", "https", "socks5h", "ftp"]))
def test_unknown_userinfo_is_masked_by_shape_up_to_the_last_at(middle: str, scheme: str) -> None:
    password = _password(middle)
    saved = set(redact._secrets)
    redact._secrets.clear()
    redact._literal_re.clear()
    try:
        for text in (
            f"{scheme}://bob:{password}@mirror.example:8443/mnist.npz",
            f"error: {scheme}://bob:{password}@mirror.example failed",
            f"bob:{password}@10.0.0.1:3128",
        ):
            out = redact.redact_text(text)
            assert out is not None
            assert password not in out and HEAD not in out, (text, out)
    finally:
        redact._secrets.update(saved)
        redact._literal_re.clear()


QUERY_VALUE = st.characters(min_codepoint=0x21, max_codepoint=0x7E).filter(lambda c: c not in "&;#\"'<>`")


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(
        [
            "private_token",
            "auth_token",
            "access_key",
            "X-Amz-Signature",
            "sessionId",
            "API_KEY",
            "passwd",
            "client_secret",
            "Credential",
            "pwd",
            "sig",
        ]
    ),
    value=st.text(QUERY_VALUE, min_size=1, max_size=20),
)
def test_credential_like_query_parameters_are_masked(name: str, value: str) -> None:
    secret = _password(value)
    out = redact.redact_text(f"https://h.example/mnist.npz?v=1&{name}={secret}&page=2")
    assert out is not None and secret not in out and HEAD not in out
    assert "page=2" in out and "v=1" in out


def test_control_characters_are_escaped_but_newlines_and_tabs_stay() -> None:
    raw = "a\x1b[31mred\x07\r\x9b2J\u202eevil\ud8ff\udcff\n\tend"
    out = safe_text(raw)
    for char in "\x1b\x07\r\x9b\u202e\ud8ff\udcff":
        assert char not in out
    assert "\\x1b[31mred" in out and "\\xff" in out and "\n\tend" in out
    assert safe_text(out) == out  # idempotent: safe text passes the exit again unchanged


def test_sanitize_makes_any_report_valid_utf8_json() -> None:
    report = {"k\udcfe": ["\udcff", float("nan"), float("inf"), 1.5, None, True], "esc": "\x1b]0;title\x07"}
    text = to_json(report)
    data = json.loads(text.encode("utf-8").decode("utf-8"))
    assert data == sanitize(report)
    assert "\\xfe" in text and "nan" in text and "\x1b" not in text


def test_emit_writes_utf8_bytes_even_to_an_ascii_stream(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with open(path, "w", encoding="ascii") as stream:
        emit("naïve ✓ \udcff", stream, encoding="utf-8")
        emit("plain ✓", stream)
    data = path.read_bytes()
    assert data.decode("utf-8") == "naïve ✓ \\xff\nplain \\u2713\n"


# --------------------------------------------------------------------------- the real CLI

SOURCES = ["HTTPS_PROXY", "http_proxy", "ALL_PROXY", "--origin", "--mirror"]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    middle=st.text(PRINTABLE, min_size=0, max_size=16),
    encoded=st.booleans(),
    source=st.sampled_from(SOURCES),
    fmt=st.sampled_from(["rich", "json", "markdown"]),
    verbose=st.booleans(),
)
@pytest.mark.usefixtures("processes")
def test_password_never_printed_by_the_cli(
    home: Path, tmp_path: Path, middle: str, encoded: bool, source: str, fmt: str, verbose: bool
) -> None:
    password = _password(middle)
    shown = quote(password, safe="") if encoded else password
    url = f"http://carol:{shown}@127.0.0.1:9/mnist.npz"
    env = clean_env(home)
    args = ["--offline", "--format", fmt, "--timeout", "60"] + (["--verbose"] if verbose else [])
    if source.startswith("--"):
        args += [source, url] + (["--fetch"] if source == "--mirror" else ["--select", "proxy"])
    else:
        env[source] = url.removesuffix("/mnist.npz")
        args += ["--select", "proxy"]
    run = run_doctor(*args, env=env, cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.code in (0, 1, 2), out
    assert "Traceback" not in out
    assert not _leaks(out, password), (source, fmt, out[-2000:])
    if fmt == "json" and run.code != 2 and source != "--mirror":
        assert run.json["schema"] == 2


def test_ftp_password_in_origin_or_mirror_usage_error_is_masked(doctor) -> None:
    for args in (
        ["--origin", "ftp://dave:Hunter2Secret@files.example/mnist.npz"],
        ["--fetch", "--mirror", "ftp://dave:Hunter2Secret@files.example/mnist.npz"],
        ["--format", "ftp://dave:Hunter2Secret@files.example"],  # argparse quotes the bad choice
        ["--origin=ftp://dave:Hun'ter2\\Secret@files.example/"],
    ):
        run = doctor(*args, "--offline")
        assert run.code == 2, run.stderr
        assert "Hunter2" not in run.stderr + run.stdout and "Secret" not in run.stderr
        assert "dave:***@files.example" in run.stderr
        assert len([line for line in run.stderr.splitlines() if "error:" in line]) == 1


def test_secret_query_parameters_in_origin_are_masked(doctor) -> None:
    origin = "https://h.example/mnist.npz?private_token=PrivTok123&X-Goog-Signature=Sig456&alt=media"
    run = doctor("--offline", "--origin", origin, "--select", "proxy", "--format", "json", "--verbose")
    assert "PrivTok123" not in run.stdout and "Sig456" not in run.stdout
    assert "alt=media" in run.stdout and "private_token=***" in run.stdout


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_target_interpreter_stderr_echoing_the_proxy_is_redacted(doctor, tmp_path: Path) -> None:
    """A --python wrapper that prints $HTTPS_PROXY (and a terminal escape) to stderr, then fails or works."""
    failing = _script(tmp_path / "fails", 'printf "proxy: %s \\033[2J\\n" "$HTTPS_PROXY" >&2; exit 3\n')
    working = _script(
        tmp_path / "works", f'printf "proxy: %s\\n" "$HTTPS_PROXY" >&2; exec {sys.executable} "$@"\n'
    )
    proxy = "http://erin:Pa ss/w@rd@proxy.example:3128"
    for python, code in ((failing, 2), (working, None)):
        for fmt in ("rich", "json"):
            run = doctor(
                "--python",
                str(python),
                "--offline",
                "--select",
                "proxy",
                "--format",
                fmt,
                "--verbose",
                env_extra={"HTTPS_PROXY": proxy},
            )
            out = run.stdout + run.stderr
            assert "Pa ss" not in out and "w@rd" not in out and "ss/w" not in out, out
            assert "\x1b" not in out and "Traceback" not in out
            if code is not None:
                assert run.code == code and "erin:***@proxy.example" in run.stderr


def test_target_env_proxy_values_are_secrets_too(doctor) -> None:
    """An upper/lower-case pair with different passwords: both are masked in every detail."""
    run = doctor(
        "--offline",
        "--select",
        "proxy",
        "--format",
        "markdown",
        "--verbose",
        env_extra={"HTTPS_PROXY": "http://u:UpperPw@p:3128", "https_proxy": "http://u:lower pw/x@p:3128"},
    )
    assert "UpperPw" not in run.stdout and "lower pw" not in run.stdout, run.stdout
    assert "proxy.case" in run.stdout


# --------------------------------------------------------------------------- control characters


@pytest.fixture
def escaping_server() -> Iterator[str]:
    """A loopback HTTP server whose status line and headers carry terminal escapes and a BEL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.sendall(
                        b"HTTP/1.1 404 \x1b[2J\x1b]0;pwned\x07Not \x9bFound\r\n"
                        b"Server: evil\x1b[31m\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/mnist.npz"
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_escape_bytes_from_a_server_never_reach_the_terminal(doctor, escaping_server: str) -> None:
    for fmt in ("rich", "markdown", "json"):
        run = doctor(
            "--origin",
            escaping_server,
            "--select",
            "network",
            "--format",
            fmt,
            "--verbose",
            "--timeout",
            "30",
        )
        out = run.stdout + run.stderr
        assert "Traceback" not in out
        for char in ("\x1b", "\x07", "\x9b", "\r"):
            assert char not in out, (fmt, char, out[-1500:])
        assert "404" in out


def test_escapes_in_keras_home_are_shown_escaped(doctor, tmp_path: Path) -> None:
    keras_home = tmp_path / "k\x1b[31mred\x07\rhome"
    keras_home.mkdir()
    for fmt in ("rich", "markdown", "json"):
        run = doctor(
            "--offline",
            "--select",
            "cache",
            "--format",
            fmt,
            "--verbose",
            env_extra={"KERAS_HOME": str(keras_home)},
        )
        out = run.stdout + run.stderr
        assert "\x1b" not in out and "\x07" not in out and "\r" not in out
        shown = "\\x1b[31mred\\x07\\rhome"
        assert (shown.replace("\\", "\\\\") if fmt == "json" else shown) in out, out[-1500:]


def test_no_terminal_escape_in_plain_output_without_tty(doctor) -> None:
    run = doctor("--offline", "--select", "proxy", env_extra={"TERM": "xterm-256color"})
    assert "\x1b" not in run.stdout and run.code == 0
    assert os.linesep in run.stdout


@pytest.mark.timeout(60)
def test_hostile_long_lines_are_redacted_in_bounded_work() -> None:
    """Shapes that make naive patterns backtrack (minutes before issue 11); the bound is the timeout."""
    for text in (
        "x" * 120_000,
        "a:" * 60_000 + "@h",
        "http://a:b" * 12_000 + "@",
        "?" * 120_000 + "=",
        "=" * 120_000 + "a:b@h",
        "http://u:p c" * 10_000 + "@",
    ):
        out = safe_text(text)
        assert len(out) <= len(text) + 10


def test_a_120kb_origin_is_refused_at_once(doctor) -> None:
    run = doctor("--origin", "http://h/" + "a" * 120_000, "--offline", timeout=60)
    assert run.code == 2 and "longer than 8192" in run.stderr and len(run.stderr) < 1000
