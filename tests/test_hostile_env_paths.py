"""Paths from the environment that cannot be used, through the real CLI: findings naming each variable.

One doctor run per kind of trouble, every variable set to a hostile path of that kind at once (a name
longer than the file system allows, a loop of symbolic links, a file where a folder should be, bytes
that are not UTF-8), then the printed fixes applied and the run repeated: the findings are gone. A
folder the user may not search is met for real as another uid (``setpriv``; root searches everything).
The actions run in a mount namespace whose ``/tmp`` is private, since Keras' fallback ``/tmp/.keras``
is where they then act, and the machine's own must stay untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from testkit.doctor import DoctorRun, clean_env, run_doctor
from testkit.hostile import hostile_path
from testkit.loopback import DatasetServer
from tests.cache_fixtures import OTHER_UID, REPO
from tests.test_cache_new_user import SYSTEM_PYTHON, needs_other_user, needs_system_python

pytestmark = pytest.mark.usefixtures("processes")

#: Every variable naming a path the doctor or Keras reads, and the check that must name it.
VARIABLES = {
    "KERAS_HOME": "cache.keras_home",
    "HOME": "env.paths",
    "TMPDIR": "env.paths",
    "XDG_CACHE_HOME": "env.paths",
    "SSL_CERT_FILE": "tls.cert_env",
    "SSL_CERT_DIR": "tls.cert_env",
    "REQUESTS_CA_BUNDLE": "tls.requests_bundle",
    "CURL_CA_BUNDLE": "tls.requests_bundle",
}
#: Usable paths that are not UTF-8 are named only where the report prints commands with them.
NAMED_WHEN_NOT_UTF8 = ("KERAS_HOME", "HOME")
#: The cache checks that only read (``cache.permissions`` probes by writing, in Keras' fallback
#: ``/tmp/.keras`` here: it runs in the private ``/tmp`` of the actions test instead).
SELECT = "env,tls,cache.location,cache.keras_home,cache.config,cache.integrity"


def _world(root: Path, kind: str) -> dict[str, str]:
    return {variable: hostile_path(root, kind, variable) for variable in VARIABLES}


def _named(run: DoctorRun, variable: str) -> list[dict[str, Any]]:
    """The warnings and failures whose summary names ``variable``."""
    word = re.compile(rf"\b{variable}\b")
    return [r for r in run.json["results"] if r["status"] in ("warn", "fail") and word.search(r["summary"])]


def _sound(run: DoctorRun) -> None:
    assert run.code in (0, 1), run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    crashed = [(r["id"], r["summary"]) for r in run.json["results"] if r["status"] == "error"]
    assert not crashed, crashed


def apply(hints: list[str], env: dict[str, str], placeholder_home: str | None = None) -> list[str]:
    """Apply the ``unset NAME`` and ``export NAME=VALUE`` steps of ``hints`` to ``env``, as a shell would.

    ``placeholder_home`` stands for the one fix that is a template (a uid without a home in the
    password database is told to pick a folder of its own).
    """
    applied = []
    for hint in hints:
        for step in hint.split("&&"):
            words = shlex.split(step.split("#", 1)[0])
            if words[:1] == ["unset"]:
                for name in words[1:]:
                    env.pop(name, None)
            elif words[:1] == ["export"]:
                name, _, value = words[1].partition("=")
                if value == "/a/folder/you/own" and placeholder_home:
                    value = placeholder_home
                env[name] = value
            else:
                continue
            applied.append(shlex.join(words))
    return applied


@pytest.mark.parametrize("kind", ["too-long", "loop", "not-a-folder", "not-utf8"])
def test_each_variable_is_a_finding_naming_it_and_the_printed_fix_clears_it(
    tmp_path: Path, home: Path, kind: str
) -> None:
    world = _world(tmp_path / "hostile", kind)
    env = clean_env(home, **world)
    # The kind first reported (a name too long) also meets the target's import probe (TensorFlow, Keras).
    select = SELECT + (",runtime" if kind == "too-long" else "")
    run = run_doctor("--offline", "--format", "json", "--select", select, env=env, cwd=tmp_path)
    _sound(run)
    if kind == "too-long":
        assert run.result("runtime.import")["status"] == "ok", run.result("runtime.import")
    expected = NAMED_WHEN_NOT_UTF8 if kind == "not-utf8" else tuple(VARIABLES)
    hints = []
    for variable in expected:
        findings = _named(run, variable)
        owners = [r for r in findings if r["id"] == VARIABLES[variable]]
        assert owners, (variable, [(r["id"], r["summary"]) for r in run.json["results"]])
        hints += [r["hint"] for r in findings if r.get("hint")]
    # The actions meet the same variables: --clear-cache says what it could not search, acts on nothing.
    listing = run_doctor("--clear-cache", "--dry-run", "--format", "json", env=env, cwd=tmp_path)
    # (1 when the machine's own /tmp/.keras, where Keras now reads, is another user's: refused)
    assert listing.code in (0, 1) and "Traceback" not in listing.stderr, listing.stderr
    if kind != "not-utf8":
        messages = " ".join(listing.json["actions"][0]["messages"])
        assert "not searched: KERAS_HOME=" in messages and "fix: unset KERAS_HOME" in messages
    # --fix meets them too: nothing it could run changes a variable, and it says so without a crash.
    fix = run_doctor("--fix", "--dry-run", "--offline", "--format", "json", "--select", SELECT, env=env)
    assert fix.code in (0, 1) and "Traceback" not in fix.stderr + fix.stdout, fix.stderr
    assert fix.json["mode"] == "fix" and fix.json["exit_code"] == fix.code
    # The fixes, applied as printed, take every finding away.
    applied = apply(hints, env)
    assert {f"unset {v}" for v in expected if v != "HOME"} <= set(applied), applied
    again = run_doctor("--offline", "--format", "json", "--select", SELECT, env=env, cwd=tmp_path)
    _sound(again)
    left = {v: [r["summary"] for r in _named(again, v)] for v in expected if _named(again, v)}
    assert not left, left


def _as_other_user(home: Path, env_extra: dict[str, str], *args: str) -> DoctorRun:
    """The doctor as uid OTHER_UID with the system Python (the repo and this venv's packages importable)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]]),
        "HOME": str(home),
        **env_extra,
    }
    argv = ["setpriv", f"--reuid={OTHER_UID}", f"--regid={OTHER_UID}", "--clear-groups"]
    done = subprocess.run(
        [*argv, str(SYSTEM_PYTHON), "-m", "mnist_doctor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        cwd=str(home),
    )
    return DoctorRun(done.returncode, done.stdout, done.stderr)


@needs_other_user
@needs_system_python
def test_paths_behind_a_folder_the_user_may_not_search_are_findings(shared_tmp: Path) -> None:
    home = shared_tmp / "user"
    home.mkdir()
    os.chown(home, OTHER_UID, OTHER_UID)
    closed = shared_tmp / "closed"
    closed.mkdir(mode=0o700)  # root's: uid OTHER_UID may not search it
    world = {variable: str(closed / variable.lower() / "x") for variable in VARIABLES}
    run = _as_other_user(home, world, "--offline", "--format", "json", "--select", SELECT)
    _sound(run)
    hints = []
    for variable in VARIABLES:
        findings = [r for r in _named(run, variable) if r["id"] == VARIABLES[variable]]
        assert findings and "may not be searched" in findings[0]["summary"], (variable, run.stdout[-3000:])
        hints += [r["hint"] for r in _named(run, variable) if r.get("hint")]
    listing = _as_other_user(home, world, "--clear-cache", "--dry-run", "--format", "json")
    assert listing.code in (0, 1) and "Traceback" not in listing.stderr, listing.stderr
    assert "not searched: KERAS_HOME=" in " ".join(listing.json["actions"][0]["messages"])
    env = dict(world)
    apply(hints, env, placeholder_home=str(home))
    assert env.get("HOME") == str(home) and not set(env) - {"HOME"}, env
    again = _as_other_user(home, {}, "--offline", "--format", "json", "--select", SELECT)
    _sound(again)
    assert not [r["summary"] for v in VARIABLES for r in _named(again, v) if str(closed) in r["summary"]]


def _private_tmp_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a mount namespace with a private /tmp"
    if shutil.which("unshare") is None or not Path("/mnt").is_dir():
        return "needs unshare (util-linux) and /mnt as a mount point"
    return None


@pytest.mark.skipif(_private_tmp_problem() is not None, reason=str(_private_tmp_problem()))
def test_actions_act_where_keras_falls_back_and_name_the_variable(
    tmp_path: Path, home: Path, good_npz: Path
) -> None:
    """--seed, --clear-cache --yes and --fetch with KERAS_HOME too long: Keras reads /tmp/.keras, and so
    do the actions, saying why; in a mount namespace whose /tmp is a private tmpfs (``keep`` stays)."""
    keep = tmp_path
    data = good_npz.read_bytes()
    good_npz = Path(shutil.copy(good_npz, keep / "downloaded.npz"))  # inside what the namespace keeps
    keras_home = hostile_path(tmp_path / "hostile", "too-long", "KERAS_HOME")
    env = clean_env(
        home,
        KERAS_HOME=keras_home,
        MNIST_DOCTOR_SHA256=hashlib.sha256(data).hexdigest(),
        MNIST_DOCTOR_SIZE=str(len(data)),
    )
    with DatasetServer("full", payload=data) as server:
        steps = {
            "seed": ["--seed", str(good_npz)],
            "clear": ["--clear-cache", "--yes"],
            "fetch": ["--fetch", "--mirror", server.url],
        }
        doctor = shlex.join([sys.executable, "-m", "mnist_doctor"])
        script = [
            f"mount --bind {shlex.quote(str(keep))} /mnt",
            "mount -t tmpfs -o mode=1777 private-tmp /tmp",
            f"mkdir -p {shlex.quote(str(keep))}",
            f"mount --bind /mnt {shlex.quote(str(keep))}",
            "umount /mnt",
        ]
        runs = [
            f"{doctor} {shlex.join(args)} --format json > {shlex.quote(str(keep / name))}.out "
            f"2> {shlex.quote(str(keep / name))}.err; echo $? > {shlex.quote(str(keep / name))}.rc"
            for name, args in steps.items()
        ]
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", " && ".join(script) + "; "
             + "; ".join(runs)],
            env=env, cwd=str(keep), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in steps:
        code = int((keep / f"{name}.rc").read_text())
        out, err = (keep / f"{name}.out").read_text(), (keep / f"{name}.err").read_text()
        assert "Traceback" not in out + err and code == 0, (name, code, err[-2000:], out[-2000:])
        document = json.loads(out)
        messages = " ".join(document["actions"][0]["messages"])
        after = {r["id"]: r for r in (document.get("after") or {}).get("results", [])}
        assert not [r for r in after.values() if r["status"] == "error"], (name, after)
        if name == "clear":
            assert "not searched: KERAS_HOME=" in messages and "removed 1 item(s)" in messages, messages
        else:
            assert "because KERAS_HOME=" in messages and "fix: unset KERAS_HOME" in messages, messages
            assert "/tmp/.keras/datasets/mnist.npz" in messages
            assert after["cache.integrity"]["status"] == "ok", after["cache.integrity"]
    assert not Path(keras_home).parent.exists() or not any(Path(keras_home).parent.iterdir())
