"""``--fix`` through the CLI: a broken cached file is offered for removal, then the checks re-run."""

from __future__ import annotations

from pathlib import Path


def _html_cache(home: Path) -> Path:
    folder = home / ".keras" / "datasets"
    folder.mkdir(parents=True)
    (folder / "mnist.npz").write_bytes(b"<html>blocked by proxy</html>")
    (folder / "fashion-mnist.npz").write_bytes(b"other dataset")
    return folder


def test_fix_with_yes_removes_the_broken_file_and_reruns(doctor, home: Path) -> None:
    folder = _html_cache(home)
    run = doctor("--offline", "--select", "cache", "--fix", "--yes")
    out = run.stdout + run.stderr
    assert "remove the broken" in out and "re-running the checks after the fixes" in out
    assert not (folder / "mnist.npz").exists()
    assert (folder / "fashion-mnist.npz").read_bytes() == b"other dataset"
    assert run.code == 0, out  # the re-run is clean


def test_fix_without_a_terminal_or_yes_changes_nothing(doctor, home: Path) -> None:
    folder = _html_cache(home)
    run = doctor("--offline", "--select", "cache", "--fix")
    out = run.stdout + run.stderr
    assert "no terminal to confirm on" in out
    assert (folder / "mnist.npz").exists()
    assert run.code == 1
