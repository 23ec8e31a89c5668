"""``--python`` naming real programs that are not a working Python: exit 2 with the reason, nothing changed.

The real CLI in subprocesses, against real executables (``/bin/rm``, ``/bin/sh``, ``cat``, ``tee``,
``yes``, a sleeper, programs answering JSON of the wrong shape, an old Python), run in a working
directory baited with the names the probes pass as arguments (``-``, ``auto``, the dataset URL as a
relative path): before the handshake, ``/bin/rm`` removed them.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from tests.cache_fixtures import tree_snapshot
from tests.test_core_python_flag import PYENV

#: Names a program taking the probes' arguments for files would act on (``PROGRAM - ARGS``).
BAIT = ("-", "auto", "stages", "https:/storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz")

#: Answers the handshake as a Python would (it reads the token), then every probe with JSON of
#: another shape: the introspection's answer must be refused by shape, not crash a renderer.
LOOKS_LIKE_PYTHON = """#!/bin/sh
if [ -n "$MNIST_DOCTOR_HELLO" ]; then
  token=$(printf '%s' "$MNIST_DOCTOR_HELLO" | rev)
  printf '@@MNIST_DOCTOR_JSON@@{"hello": "%s", ' "$token"
  echo '"version": [3, 11, 7], "implementation": "cpython"}'
  exit 0
fi
echo '@@MNIST_DOCTOR_JSON@@{"env": [1], "python": {"version": [3, 11, 7]}, "done": true}'
"""


def _script(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def _hostile(folder: Path) -> dict[str, tuple[str, str]]:
    """--python values and the reason the one error line must give."""
    fifo = folder / "fifo"
    os.mkfifo(fifo)
    fifo.chmod(0o755)
    plain = folder / "plain"
    plain.write_text("print('not executable')\n")
    loop = folder / "loop"
    loop.symlink_to(loop)
    kinds = {
        "rm": ("/bin/rm", "missing operand"),
        "sh": ("/bin/sh", "without answering the handshake"),
        "cat": ("/bin/cat", "without answering the handshake"),
        "tee": (shutil.which("tee") or "/usr/bin/tee", "without answering the handshake"),
        "dd": (shutil.which("dd") or "/bin/dd", "without answering the handshake"),
        "true": ("/bin/true", "without answering the handshake"),
        "false": ("/bin/false", "without answering the handshake"),
        "env": (shutil.which("env") or "/usr/bin/env", "without answering the handshake"),
        "floods": (_script(folder, "floods", "#!/bin/sh\nyes mnist-doctor-flood\n"), "without answering"),
        "sleeps": (_script(folder, "sleeps", "#!/bin/sh\nwhile :; do sleep 1; done\n"), "--timeout"),
        "wrong JSON": (
            _script(folder, "wrong-json", "#!/bin/sh\necho '@@MNIST_DOCTOR_JSON@@{\"env\": [1]}'\n"),
            "not a Python's",
        ),
        "wrong shape": (_script(folder, "wrong-shape", LOOKS_LIKE_PYTHON), "env is a list, not an object"),
        "folder": (str(folder / "bait-free"), "no bin/python"),
        "fifo": (str(fifo), "named pipe"),
        "not executable": (str(plain), "not executable"),
        "symlink loop": (str(loop), "symbolic links"),
    }
    (folder / "bait-free").mkdir()
    python2 = PYENV / "2.7.18" / "bin" / "python"
    if python2.exists():
        kinds["python 2"] = (str(python2), "Python 2.7")
    return kinds


def _alive(marker: str) -> list[int]:
    """Processes whose command line names ``marker`` (the sleeper must not outlive its run)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(pid))
    return found


def test_a_program_that_is_not_a_working_python_is_exit_2_and_changes_nothing(doctor, tmp_path: Path) -> None:
    programs = tmp_path / "programs"
    programs.mkdir()
    kinds = _hostile(programs)
    work = tmp_path / "baited"
    for name in BAIT:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(f"keep {name}\n")
    (work / "stages").chmod(stat.S_IRUSR | stat.S_IWUSR)
    before = tree_snapshot(work)
    formats = ("rich", "json", "markdown")
    for index, (kind, (python, reason)) in enumerate(kinds.items()):
        # every kind in one format, every format several times; the wrong shape in all three
        for fmt in formats if kind == "wrong shape" else formats[index % 3 : index % 3 + 1]:
            timeout = ("--timeout", "3") if kind == "sleeps" else ()
            run = doctor("--python", python, "--format", fmt, *timeout, cwd=work, timeout=60)
            assert tree_snapshot(work) == before, f"--python {kind} changed the working directory"
            assert run.code == 2, (kind, fmt, run.stderr)
            assert "Traceback" not in run.stderr + run.stdout, (kind, fmt, run.stderr)
            errors = [line for line in run.stderr.splitlines() if line.startswith("mnist-doctor: error:")]
            assert len(errors) == 1 and reason in errors[0], (kind, run.stderr)
            if fmt == "json":
                assert run.json["mode"] == "usage-error" and reason in run.json["error"]["message"], kind
    assert not _alive(kinds["sleeps"][0]), "the sleeper outlived the doctor"
