"""Who is writing a file right now (mnist_doctor/files/open_writers.py), against real processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnist_doctor.files.open_writers import writers_of

pytestmark = pytest.mark.usefixtures("target_interpreter")

HOLD = "import sys, time; f = open(sys.argv[1], sys.argv[2]); print('open', flush=True); time.sleep(30)"


def holding(path: Path, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
    return proc


@pytest.mark.parametrize("mode", ["wb", "ab", "r+b"])
def test_a_process_writing_the_file_is_found_with_its_pid(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "mnist.npz"
    target.write_bytes(b"PK\x03\x04 half")
    proc = holding(target, mode)
    try:
        found = writers_of(str(target))
        assert [w.pid for w in found] == [proc.pid] and found[0].command.startswith("python")
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while writers_of(str(target)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writers_of(str(target)) == []


def test_a_reader_another_file_or_no_file_is_no_writer(tmp_path: Path) -> None:
    target, other = tmp_path / "mnist.npz", tmp_path / "other.npz"
    target.write_bytes(b"x")
    other.write_bytes(b"y")
    reader, writer = holding(target, "rb"), holding(other, "wb")
    try:
        assert writers_of(str(target)) == []
        assert writers_of(str(tmp_path / "absent.npz")) == []
    finally:
        for proc in (reader, writer):
            proc.kill()
            proc.wait()
