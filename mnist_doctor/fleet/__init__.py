"""``mnist-doctor fleet``: many machines' reports merged into one answer.

Which hosts cannot load the data and why (one row per root cause, with its fix once), what
differs between them (versions, proxies, cache folders), and which share one cache on a network
file system — from report files (:mod:`~mnist_doctor.fleet.collect`) or from every node of a Ray
cluster (:mod:`~mnist_doctor.fleet.ray_runner`). Modules, one concern each: ``sources`` (bounded
reading of files and stdin), ``reports`` (the schema check, into the typed records of ``model``),
``merge``, the renderers ``rich`` and ``markdown``, ``command`` (arguments and output), and the
Ray side: ``ray_runner`` (here), ``ray_driver`` (its own process), ``node_task`` (on each node).

This package is light to import: the entry point below loads the command only when called.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """``mnist-doctor fleet ARGS`` (``argv`` without the word ``fleet``)."""
    from mnist_doctor.fleet.command import main as run

    return run(argv)
