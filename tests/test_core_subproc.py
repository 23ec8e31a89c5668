"""subproc: answers found in capped output, budget slices recorded, process groups killed.

Real child processes (the test interpreter running small programs), real pipes and real
signals; the capture is also fed by hand, split at every byte, because a marker cut in two
by a pipe read is exactly what a flooding target produces.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from mnist_doctor.probing import subproc
from mnist_doctor.probing.budget import Budget
from mnist_doctor.probing.subproc import JSON_MARKER, _Capture, run_argv

MARK = JSON_MARKER.encode()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_the_marked_answer_is_found_wherever_the_reads_split_it():
    stream = (
        b"noise\n" + b"x" * 300 + b"\n" + MARK + b'{"n": 1}\n' + b"more\n" + MARK + b'{"n": 2}\n' + b"tail"
    )
    for cut in range(1, len(stream)):
        capture = _Capture(cap=64, marker=JSON_MARKER.encode())
        capture.feed(stream[:cut])
        capture.feed(stream[cut:])
        assert capture.answer == b'{"n": 2}', cut
        assert capture.answers == 2, cut
        assert len(capture.tail) <= 2 * 1024  # the cap (never below 1 KB) holds


def test_an_answer_at_the_very_start_and_one_byte_at_a_time():
    capture = _Capture(cap=1024, marker=JSON_MARKER.encode())
    for byte in MARK + b'{"a": [1]}\n':
        capture.feed(bytes([byte]))
    assert capture.answer == b'{"a": [1]}'


def test_a_marker_inside_a_line_is_not_an_answer():
    capture = _Capture(cap=1024, marker=JSON_MARKER.encode())
    capture.feed(b"say " + MARK + b'{"fake": 1}\n')
    assert capture.answer is None


@pytest.mark.usefixtures("target_interpreter")
def test_output_beyond_the_cap_is_dropped_but_the_answer_kept():
    code = (
        "import sys\n"
        f"sys.stdout.write({JSON_MARKER!r} + '{{\"ok\": true}}\\n')\n"
        "chunk = 'z' * 65535 + '\\n'\n"
        "for _ in range(800): sys.stdout.write(chunk)\n"  # 50 MB after the answer
    )
    run = run_argv([sys.executable, "-c", code], timeout=60)
    assert run.answer == {"ok": True}
    assert run.stdout_dropped > 40 * 1024 * 1024
    assert len(run.stdout) <= 2 * subproc.OUTPUT_CAP_BYTES


@pytest.mark.usefixtures("target_interpreter")
def test_a_slice_limited_by_the_budget_marks_the_kill_as_ours():
    cut = run_argv([sys.executable, "-c", "import time; time.sleep(30)"], timeout=Budget(0.5).slice(cap=10))
    assert cut.timed_out and cut.limited_by_budget and cut.cut_by_budget
    capped = run_argv(
        [sys.executable, "-c", "import time; time.sleep(30)"], timeout=Budget(60).slice(cap=0.5)
    )
    assert capped.timed_out and not capped.cut_by_budget  # the stage's own cap: a finding
    assert capped.elapsed_s < 10


@pytest.mark.usefixtures("target_interpreter")
def test_a_grandchild_in_its_own_session_dies_with_the_run(tmp_path):
    pidfile = tmp_path / "escapee"
    code = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        f"    open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(0.3)\n"
        f"print({JSON_MARKER!r} + '{{}}')\n"
    )
    run = run_argv([sys.executable, "-c", code], timeout=30)
    assert run.answer == {}
    pid = int(pidfile.read_text())
    time.sleep(0.2)
    assert not alive(pid)


@pytest.mark.usefixtures("target_interpreter")
def test_shutdown_kills_running_children_and_refuses_new_ones(tmp_path):
    box: dict[str, subproc.ScriptRun] = {}
    worker = threading.Thread(
        target=lambda: box.setdefault("run", run_argv(["sleep", "60"], timeout=60)), daemon=True
    )
    worker.start()
    time.sleep(0.5)
    try:
        subproc.shutdown()
        worker.join(5)
        assert not worker.is_alive()
        assert box["run"].interrupted and box["run"].cut_by_budget
        refused = run_argv(["true"], timeout=5)
        assert refused.launch_error and refused.interrupted
    finally:
        subproc.resume()
    assert run_argv(["true"], timeout=5).returncode == 0


@pytest.mark.parametrize("script", sorted(subproc.STREAMING_SCRIPTS))
def test_streaming_scripts_exist(script):
    """Only the scripts that really print progress answers are waited on for ``done``."""
    assert '"done"' in subproc.script_source(script) or "['done']" in subproc.script_source(script)


def test_parse_answer_keeps_its_contract():
    text = "a\n" + JSON_MARKER + json.dumps({"x": 1}) + "\n" + JSON_MARKER + "{broken\n"
    assert subproc.parse_answer(text) is None
    assert subproc.parse_answer("nothing") is None
    assert subproc.parse_answer(JSON_MARKER + '{"y": 2}') == {"y": 2}
    assert os.environ.get(subproc.TOKEN_VAR) is None  # the doctor's own environment is untouched
