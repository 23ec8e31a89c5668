"""``%mnist_doctor [flags]``: the command line inside a Jupyter or IPython cell.

``%load_ext mnist_doctor`` registers the magic. It takes the command's diagnosis flags
(``--offline``, ``--select``, ``--python``, ``--timeout`` …), runs the same diagnosis as the
Python API inside the kernel, and displays the report; actions that change files
(``--clear-cache``, ``--seed``, ``--fetch``, ``--fix``) are left to a terminal or ``!mnist-doctor``,
where a confirmation can be typed.
"""

from __future__ import annotations

import shlex
from typing import Any

ACTIONS = ("clear_cache", "seed", "fetch", "fix")


def run_magic(line: str) -> Any:
    """Parse ``line`` like the command line and return the report (IPython displays it)."""
    from mnist_doctor.api import diagnose
    from mnist_doctor.cli.parser import build_parser

    try:
        args = build_parser().parse_args(shlex.split(line))
    except SystemExit:  # argparse already printed the one-line usage error
        return None
    except ValueError as exc:  # an unbalanced quote in the line
        _say(f"mnist-doctor: error: {exc}")
        return None
    asked = [a for a in ACTIONS if getattr(args, a, None)]
    if asked:
        flag = "--" + asked[0].replace("_", "-")
        _say(f"mnist-doctor: {flag} changes files: run `!mnist-doctor {flag} …` in a cell or a terminal")
        return None
    try:
        return diagnose(
            python=args.python,
            select=args.select,
            ignore=args.ignore,
            offline=args.offline,
            timeout=args.timeout,
            origin=args.origin,
            dataset=args.dataset,
            strict=args.strict,
            verbose=args.verbose,
        )
    except ValueError as exc:
        _say(f"mnist-doctor: error: {exc}")
        return None


def _say(message: str) -> None:
    """One line in the cell's output, through the same redaction as everything else printed."""
    from mnist_doctor.text.output import safe_text

    print(safe_text(message))


def register(ipython: Any) -> None:
    """Register ``%mnist_doctor`` with a running IPython shell."""

    def mnist_doctor(line: str) -> Any:
        return run_magic(line)

    mnist_doctor.__doc__ = (
        "Diagnose tf.keras.datasets.mnist.load_data() here: %mnist_doctor [--offline] [...]"
    )
    ipython.register_magic_function(mnist_doctor, magic_kind="line", magic_name="mnist_doctor")
