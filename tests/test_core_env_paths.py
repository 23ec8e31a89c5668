"""Paths from the environment: each way one fails is found once and named with its variable.

Unit tier, on real paths in ``tmp_path`` (a name longer than the file system allows, a link loop,
a file where a folder should be, bytes that are not UTF-8); a folder this user may not search is
simulated here (root searches everything) and met for real as another uid in
``test_hostile_env_paths.py``. Then every variable × every kind through the checks that own it,
in-process: a finding naming the variable with the command that takes it away, never a crash.
"""

from __future__ import annotations

import errno
import os
import shlex
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from mnist_doctor.checks import cache as cache_checks
from mnist_doctor.checks import env as env_checks
from mnist_doctor.checks import tls as tls_checks
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.facts import Facts, Options
from mnist_doctor.facts.cache import predict_keras_cache
from mnist_doctor.facts.flavour import KerasFlavour
from mnist_doctor.files import env_paths
from mnist_doctor.files.env_paths import DENIED, LOOP, NOT_A_FOLDER, NOT_UTF8, TOO_LONG, examine
from mnist_doctor.model import Status
from mnist_doctor.pipeline.engine import Engine, select
from testkit.hostile import PATH_KINDS, hostile_path

KINDS = (TOO_LONG, LOOP, NOT_A_FOLDER, NOT_UTF8, DENIED)


def test_the_test_paths_are_the_kinds_the_module_names() -> None:
    assert KINDS == PATH_KINDS


@pytest.fixture
def denied(monkeypatch: pytest.MonkeyPatch) -> None:
    """``stat`` below a ``*-closed`` folder fails with EACCES, as for a user who may not search it."""
    real = os.stat

    def stat(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        text = os.fsdecode(path) if isinstance(path, (bytes, str)) else ""
        if "-closed/" in text:
            raise PermissionError(errno.EACCES, "Permission denied", text)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)


# ---------------------------------------------------------------- examine()


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_found_with_the_part_at_fault(kind: str, tmp_path: Path, request) -> None:
    if kind == DENIED:
        request.getfixturevalue("denied")
    value = hostile_path(tmp_path, kind, "KERAS_HOME")
    found = examine("KERAS_HOME", value)
    assert found is not None and found.kind == kind, found
    assert found.sentence.startswith("KERAS_HOME=") and found.fix() == "unset KERAS_HOME"
    assert found.breaks is (kind != NOT_UTF8)
    expected_at = {
        TOO_LONG: value,
        LOOP: str(tmp_path / "KERAS_HOME-loop"),
        NOT_A_FOLDER: str(tmp_path / "KERAS_HOME-file"),
        NOT_UTF8: value,
        DENIED: str(tmp_path / "KERAS_HOME-closed"),
    }[kind]
    assert found.at == expected_at, found


def test_a_name_too_long_is_found_below_folders_that_do_not_exist_yet(tmp_path: Path) -> None:
    """``stat`` says ENOENT at the first missing folder; ``makedirs`` would fail later, on the name."""
    found = examine("KERAS_HOME", str(tmp_path / "not-yet" / "also-not" / ("n" * 256)))
    assert found is not None and found.kind == TOO_LONG and "256 bytes" in found.detail


def test_a_path_longer_than_path_max_is_found_before_any_stat() -> None:
    found = examine("TMPDIR", "/" + "/".join(["abcdefgh"] * 600))
    assert found is not None and found.kind == TOO_LONG and "5400 bytes" in found.detail


@pytest.mark.parametrize("value", ["", None, "/", "relative/not/there", "/tmp", "/nonexistent/a/b"])
def test_usable_or_merely_missing_paths_are_no_trouble(value: str | None) -> None:
    assert examine("TMPDIR", value) is None


def test_home_is_set_again_from_the_password_database(tmp_path: Path) -> None:
    import pwd

    found = examine("HOME", hostile_path(tmp_path, LOOP, "HOME"))
    assert found is not None
    home = pwd.getpwuid(os.getuid()).pw_dir
    if not os.path.isdir(home):
        pytest.skip(f"this user's home {home} is not a folder here")
    assert found.fix() == f"export HOME={shlex.quote(home)}"


# ---------------------------------------------------------------- every variable × kind, through its check


def flavour() -> KerasFlavour:
    return KerasFlavour("keras3", "tf.keras", "keras", Version("3.15.1"), Version("2.21"), None, "test")


def _facts(target_env: dict[str, str], home: str) -> Facts:
    paths = {"home": home, "keras_home": target_env.get("KERAS_HOME"), "tempdir": "/tmp", "states": []}
    return Facts(
        Options(python=sys.executable, timeout=60, offline=True),
        overrides={
            "dataset": MNIST,
            "datasets": (),
            "keras_flavour": flavour(),
            "keras_cache": predict_keras_cache(flavour(), paths),
            "target_env": target_env,
            "ssl_module": "OpenSSL 3",
            "target_python": sys.executable,
        },
    )


#: The checks that own each variable.
OWNERS = {
    "KERAS_HOME": "cache.keras_home",
    "HOME": "env.paths",
    "TMPDIR": "env.paths",
    "TEMP": "env.paths",
    "TMP": "env.paths",
    "XDG_CACHE_HOME": "env.paths",
    "SSL_CERT_FILE": "tls.cert_env",
    "SSL_CERT_DIR": "tls.cert_env",
    "REQUESTS_CA_BUNDLE": "tls.requests_bundle",
    "CURL_CA_BUNDLE": "tls.requests_bundle",
}
#: Where a path that is not UTF-8 but usable is a finding: the report prints commands naming it.
NOT_UTF8_NAMED = ("KERAS_HOME", "HOME")
CHECKS = [*cache_checks.CHECKS, *env_checks.CHECKS, *tls_checks.CHECKS]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("variable", list(OWNERS))
def test_each_variable_of_each_kind_is_a_finding_naming_it(
    variable: str, kind: str, tmp_path: Path, request
) -> None:
    if kind == DENIED:
        request.getfixturevalue("denied")
    home = tmp_path / "home"
    home.mkdir()
    value = hostile_path(tmp_path / "bad", kind, variable)
    env = {"HOME": str(home), variable: value}
    # (not cache.permissions: its write probe would touch the machine's real /tmp/.keras)
    ids = [
        "cache.location",
        "cache.keras_home",
        "cache.config",
        "cache.integrity",
        "env.paths",
        "tls.cert_env",
    ]
    chosen = select(CHECKS, [*ids, "tls.requests_bundle"], None)
    results = {r.id: r for r in Engine(_facts(env, env["HOME"])).run(chosen)}
    assert not [r for r in results.values() if r.status is Status.ERROR], results
    owner = results[OWNERS[variable]]
    if kind == NOT_UTF8 and variable not in NOT_UTF8_NAMED:
        assert owner.status is not Status.ERROR
        return
    assert owner.status in (Status.WARN, Status.FAIL), owner
    assert f"{variable} " in owner.summary or f"{variable}=" in owner.summary, owner.summary
    assert f"unset {variable}" in (owner.hint or "") or (variable == "HOME" and "export HOME=" in owner.hint)
    if variable in ("KERAS_HOME", "HOME") and kind != NOT_UTF8:
        # Keras falls back, and the location says why and how to undo it
        location = results["cache.location"]
        assert location.status is Status.WARN and f"because {variable}=" in location.summary
        assert str(Path(value).parent) not in " ".join(str(p) for p in _candidates(env))


def _candidates(env: dict[str, str]) -> list[Path]:
    paths = {"home": env["HOME"], "keras_home": env.get("KERAS_HOME"), "tempdir": "/tmp", "states": []}
    return predict_keras_cache(flavour(), paths).candidates[1:]


def test_a_bundle_naming_no_file_is_not_offered_to_urllib(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "REQUESTS_CA_BUNDLE": str(tmp_path / "gone.pem")}
    chosen = select(CHECKS, ["tls.requests_bundle"], None)
    (result,) = Engine(_facts(env, str(tmp_path))).run(chosen)
    assert result.status is Status.WARN and "names no file" in result.summary
    assert "SSL_CERT_FILE" not in (result.hint or "") and result.hint == "unset REQUESTS_CA_BUNDLE"


def test_a_ca_file_variable_naming_a_folder_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "SSL_CERT_FILE": str(tmp_path)}
    (result,) = Engine(_facts(env, str(tmp_path))).run(select(CHECKS, ["tls.cert_env"], None))
    assert result.status is Status.FAIL and "is a directory, not a file" in result.summary


def test_the_compat_table_variable_is_read_once_with_its_reason(tmp_path: Path, monkeypatch) -> None:
    from mnist_doctor.compat.source import TABLE_ENV, table_problem

    for value, reason in [
        (hostile_path(tmp_path, LOOP, "table"), "loop of symbolic links"),
        (str(tmp_path / "missing.toml"), "cannot be read"),
        (str(tmp_path), "cannot be read"),
    ]:
        monkeypatch.setenv(TABLE_ENV, value)
        problem = table_problem()
        assert problem is not None and problem.startswith(f"{TABLE_ENV}=") and reason in problem
    not_toml = tmp_path / "table.toml"
    not_toml.write_text("[[release]\n")
    monkeypatch.setenv(TABLE_ENV, str(not_toml))
    assert "is not a TOML table" in (table_problem() or "")
    monkeypatch.delenv(TABLE_ENV)
    assert table_problem() is None


def test_the_module_examines_with_stat_only() -> None:
    """No ``open`` of a path the user named: a FIFO or a device costs nothing to examine."""
    source = Path(env_paths.__file__).read_text(encoding="utf-8")
    assert "open(" not in source.replace("pathconf(", "")


#: ``pathlib.Path`` predicates that raise on ``EACCES`` and ``ENAMETOOLONG`` before Python 3.14
#: (they swallow only ENOENT, ENOTDIR, EBADF and ELOOP); ``os.path``'s swallow every ``OSError``.
RAISING_PREDICATES = ("exists", "is_dir", "is_file", "is_symlink", "is_fifo", "is_socket", "is_mount")


def test_the_doctor_asks_os_path_not_pathlib_whether_a_path_exists() -> None:
    """A path from the environment reaches the checks and actions: one pathlib predicate on it was a crash."""
    import ast

    package = Path(env_paths.__file__).parent
    found = []
    for source in package.rglob("*.py"):
        if "target" in source.parts:
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in RAISING_PREDICATES
                and not node.args
                and not node.keywords  # os.DirEntry's (follow_symlinks=...) is another API
                and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "os")
            ):
                found.append(f"{source.relative_to(package)}:{node.lineno} .{node.func.attr}()")
    assert not found, found
