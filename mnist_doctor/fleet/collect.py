"""Report files, folders and standard input → the hosts' reports and the inputs skipped (and why).

The two halves of the reading boundary meet here: :mod:`mnist_doctor.fleet.sources` gets each
input's bytes without blocking or overreading, :mod:`mnist_doctor.fleet.reports` turns them into
typed reports. An input is read, parsed and dropped before the next one, so memory holds one
input's bytes at a time however many are given.
"""

from __future__ import annotations

from typing import BinaryIO

from mnist_doctor.errors import UsageError
from mnist_doctor.fleet.model import Collected, HostReport, Skipped
from mnist_doctor.fleet.reports import read_input
from mnist_doctor.fleet.sources import gather


def _is_terminal(stream: BinaryIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def collect_files(arguments: list[str], stdin: BinaryIO | None, deadline: float) -> Collected:
    """Every report in ``arguments`` (files, folders, ``-``), read before ``deadline``."""
    if "-" in arguments and _is_terminal(stdin):
        raise UsageError(
            "- reads reports from standard input, which is a terminal here",
            hint="cat reports/*.json | mnist-doctor fleet -",
        )
    collected = Collected()
    for found in gather(arguments, stdin, deadline):  # type: ignore[arg-type]  # None only without "-"
        if isinstance(found, Skipped):
            collected.skipped.append(found)
            continue
        for item in read_input(found.source, found.data):
            if isinstance(item, HostReport):
                collected.reports.append(item)
            else:
                collected.skipped.append(item)
    return collected
