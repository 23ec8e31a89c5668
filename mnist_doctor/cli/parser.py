"""The command line's grammar: the argparse parser, and how a usage error is said.

Cheap on purpose: ``--help`` builds this parser and prints, so this module imports only
argparse and the constants it shows; what a flag *does* is in :mod:`mnist_doctor.cli.modes`.
"""

from __future__ import annotations

import argparse
import sys
from typing import ClassVar, NoReturn

from mnist_doctor import __version__
from mnist_doctor.errors import EXIT_USAGE
from mnist_doctor.probing.budget import DEFAULT_TIMEOUT_S

#: An hour: longer than any real diagnosis; keeps deadlines far from float and C-long limits.
MAX_TIMEOUT_S = 3600.0

EPILOG = """\
exit codes: 0 no failure (warnings allowed), 1 a failure or crashed check (or a warning
with --strict, or the output could not be written), 2 usage error, 130 interrupted,
141 stdout closed by the reader (broken pipe).
examples:
  mnist-doctor                              examine this Python
  mnist-doctor --python ~/project/.venv     examine another environment (pipx installs)
  mnist-doctor --offline --format json      no network, machine-readable
  mnist-doctor --clear-cache --dry-run      show which dataset files would be removed
  mnist-doctor --seed ~/Downloads/mnist.npz put a verified file where Keras looks
  mnist-doctor fleet reports/               merge many machines' JSON reports (fleet --help)
"""


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with our own one-line message and a hint (no usage dump)."""

    #: The command line being parsed, so a usage error can honour ``--format``
    #: (set by :func:`mnist_doctor.cli.main.command`).
    argv: ClassVar[list[str]] = []

    def error(self, message: str) -> NoReturn:
        usage_error(message, "mnist-doctor --help lists every flag", format_in(self.argv))
        raise SystemExit(EXIT_USAGE)


def format_in(argv: list[str]) -> str:
    """The ``--format`` asked for, read without argparse (which may be what failed)."""
    fmt = "rich"
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--format" and i + 1 < len(argv):
            fmt = argv[i + 1]
        elif arg.startswith("--format="):
            fmt = arg.split("=", 1)[1]
    return fmt if fmt in ("json", "markdown") else "rich"


def usage_error(message: str, hint: str | None, fmt: str) -> int:
    """One line on stderr (message and hint); under ``--format json|markdown`` a document on stdout too."""
    from mnist_doctor.text.output import emit

    line = f"mnist-doctor: error: {one_line(message)}"
    if hint:
        line += f" (hint: {one_line(hint)})"
    emit(line, sys.stderr)
    error = {"message": one_line(message), "hint": one_line(hint) if hint else None}
    if fmt == "json":
        from mnist_doctor.pipeline.report import document
        from mnist_doctor.text.output import emit_json

        emit_json(document("usage-error", EXIT_USAGE, error=error))
    elif fmt == "markdown":
        emit(
            f"### mnist-doctor: usage error\n\n{error['message']}"
            + (f"\n\nhint: `{error['hint']}`" if hint else "")
        )
    return EXIT_USAGE


def one_line(text: str, limit: int = 300) -> str:
    """A message that stays one line, however long or multi-line the value it quotes.

    Redacted *before* it is flattened and cut, so neither can break a secret out of its mask.
    """
    from mnist_doctor.text.output import safe_text

    flat = " ".join(safe_text(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def positive_float(text: str) -> float:
    """A ``--timeout``: a finite number of seconds in (0, MAX_TIMEOUT_S]."""
    shown = f"'{one_line(text, 40)}'"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{shown} is not a number of seconds") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{shown} is not a finite number of seconds")
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    if value > MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TIMEOUT_S:g} seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mnist-doctor",
        description="Find out why tf.keras.datasets.mnist.load_data() fails here — and how to fix it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"mnist-doctor {__version__}")
    what = p.add_argument_group("what to check")
    what.add_argument(
        "--list-checks", action="store_true", help="list the checks (built-in and plugins) and exit"
    )
    what.add_argument(
        "--select",
        action="append",
        metavar="IDS",
        help="only these check ids or families (comma-separated, repeatable); their prerequisites run too",
    )
    what.add_argument("--ignore", action="append", metavar="IDS", help="skip these check ids or families")
    what.add_argument("--offline", action="store_true", help="do not touch the network (network checks skip)")
    what.add_argument("--expect-gpu", action="store_true", help="fail when TensorFlow would use no GPU here")
    what.add_argument(
        "--python",
        metavar="PATH",
        help="interpreter or virtualenv folder to examine (default: $MNIST_DOCTOR_PYTHON, else this Python)",
    )
    what.add_argument(
        "--dataset",
        metavar="NAME[,NAME…]",
        help="keras.datasets loaders to examine: mnist (default), fashion_mnist, cifar10, cifar100, "
        "imdb, reuters, boston_housing, california_housing, or all",
    )
    what.add_argument(
        "--origin",
        metavar="URL",
        help="dataset URL to test, e.g. an internal mirror (default: $MNIST_DOCTOR_ORIGIN, else Keras' own)",
    )
    what.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"bound for the whole run, probes included (default {DEFAULT_TIMEOUT_S:g}, "
        f"at most {MAX_TIMEOUT_S:g})",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--format",
        choices=("rich", "json", "markdown"),
        default="rich",
        help="rich table (default), json (schema in docs/json.md) or markdown (for bug reports)",
    )
    out.add_argument("--verbose", "-v", action="store_true", help="show details, timings and tracebacks")
    out.add_argument("--strict", action="store_true", help="treat warnings as failures (exit 1)")
    fix = p.add_argument_group("fixes (each re-runs the affected checks afterwards)")
    acts = fix.add_mutually_exclusive_group()
    acts.add_argument(
        "--clear-cache",
        action="store_true",
        help="remove the dataset's own files (mnist.npz unless --dataset; for cifar both Keras "
        "lines' archives and extracted folders) and partial downloads from every Keras cache "
        "location (nothing else)",
    )
    acts.add_argument(
        "--seed",
        metavar="FILE",
        help="verify FILE against the dataset spec (without --dataset: the dataset it is a file of) and "
        "install it where Keras will read it, an archive packed (offline route)",
    )
    acts.add_argument(
        "--fetch",
        action="store_true",
        help="download every file of the dataset(s) with timeouts, retries and "
        "hash check, then install each where Keras will read it",
    )
    acts.add_argument("--fix", action="store_true", help="after the checks, offer the safe fixes found")
    fix.add_argument(
        "--mirror",
        metavar="URL",
        help="with --fetch: download from this mirror instead (a folder URL ending in '/' serves every file)",
    )
    fix.add_argument(
        "--yes", "-y", action="store_true", help="with --clear-cache or --fix: do not ask for confirmation"
    )
    fix.add_argument(
        "--dry-run",
        action="store_true",
        help="with --clear-cache or --fix: say what would be done, change nothing",
    )
    p.add_argument(
        "--completion",
        choices=("bash", "zsh", "fish"),
        help="print a shell completion script and exit, e.g. mnist-doctor --completion bash >> ~/.bashrc",
    )
    return p
