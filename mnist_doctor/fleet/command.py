"""``mnist-doctor fleet``: its arguments, its inputs (report files or a Ray cluster), its output.

A command of its own (``mnist_doctor.cli.main.main`` hands over ``argv`` after ``fleet``), with the
same frame as the single report: the one exit for text (:func:`mnist_doctor.output.run_cli`:
redaction, control characters escaped, output errors as exit codes), Ctrl-C and SIGTERM killing
every child, one ``--timeout`` budget, usage errors as one line on stderr (and a ``usage-error``
document under ``--format json``), exit code 2.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from typing import Any, ClassVar, NoReturn

from mnist_doctor.probing.budget import DEFAULT_TIMEOUT_S

EXIT_USAGE = 2
#: The longest --timeout accepted (as for the single report).
MAX_TIMEOUT_S = 3600.0
#: ``auto`` (Ray finds the cluster: $RAY_ADDRESS, or the one started here), ``HOST:PORT``, ``ray://HOST:PORT``.
ADDRESS = re.compile(r"auto|(ray://)?([A-Za-z0-9][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}")
#: Flags handed to every node's doctor with ``--ray`` (a report file was made with its own).
FORWARDED = ("python", "offline", "dataset", "origin", "select", "ignore", "strict", "expect_gpu")

EPILOG = """\
exit codes: 0 every host healthy (warnings allowed), 1 a host failed or a node gave no report,
2 usage error (nothing to merge), 130 interrupted.
examples:
  mnist-doctor fleet reports/                    every *.json report in a folder
  cat *.json | mnist-doctor fleet -              reports on standard input, one after the other
  mnist-doctor fleet --ray --offline             every node of the Ray cluster started here
  mnist-doctor fleet --ray head:6379 --format markdown
recipes (Slurm, Kubernetes, ssh/pdsh): docs/fleet.md
"""


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line and a hint, honouring ``--format`` (no usage dump)."""

    argv: ClassVar[list[str]] = []

    def error(self, message: str) -> NoReturn:
        usage_error(message, "mnist-doctor fleet --help", _format_in(self.argv))
        raise SystemExit(EXIT_USAGE)


def _format_in(argv: list[str]) -> str:
    fmt = "rich"
    for i, arg in enumerate(argv):
        if arg == "--format" and i + 1 < len(argv):
            fmt = argv[i + 1]
        elif arg.startswith("--format="):
            fmt = arg.split("=", 1)[1]
    return fmt if fmt in ("json", "markdown") else "rich"


def _one_line(text: str, limit: int = 300) -> str:
    """Redacted first, then flattened and cut: a secret cannot break out of its mask."""
    from mnist_doctor.text.output import safe_text

    flat = " ".join(safe_text(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def usage_error(message: str, hint: str | None, fmt: str) -> int:
    """One line on stderr; under ``--format json|markdown`` the usage-error document on stdout too."""
    from mnist_doctor.text.output import emit, emit_json

    line = f"mnist-doctor fleet: error: {_one_line(message)}" + (
        f" (hint: {_one_line(hint)})" if hint else ""
    )
    emit(line, sys.stderr)
    error = {"message": _one_line(message), "hint": _one_line(hint) if hint else None}
    if fmt == "json":
        from mnist_doctor.pipeline.report import document

        emit_json(document("usage-error", EXIT_USAGE, error=error))
    elif fmt == "markdown":
        emit(
            f"### mnist-doctor fleet: usage error\n\n{error['message']}"
            + (f"\n\nhint: `{error['hint']}`" if hint else "")
        )
    return EXIT_USAGE


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{_one_line(text, 40)}' is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mnist-doctor fleet",
        description="Merge many machines' mnist-doctor reports into one answer: which hosts cannot load "
        "the data and why, what differs between them, which share one cache.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "reports",
        nargs="*",
        metavar="REPORT",
        help="report files (mnist-doctor --format json), folders of *.json files, or - for standard input",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="run the doctor on every alive node of a Ray cluster (HOST:PORT, ray://HOST:PORT; default: "
        "auto, i.e. $RAY_ADDRESS or the cluster started on this machine); needs mnist-doctor[ray]",
    )
    p.add_argument("--format", choices=("rich", "json", "markdown"), default="rich", help="output format")
    p.add_argument(
        "--verbose", "-v", action="store_true", help="name every host, and list each host's verdict"
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"bound for the whole run, every node's diagnosis included (default {DEFAULT_TIMEOUT_S:g})",
    )
    node = p.add_argument_group("with --ray: passed to the doctor on every node")
    node.add_argument("--python", metavar="PATH", help="the interpreter or venv to examine on each node")
    node.add_argument("--offline", action="store_true", help="do not touch the network there")
    node.add_argument("--dataset", metavar="NAME[,NAME…]", help="keras.datasets loaders to examine")
    node.add_argument("--origin", metavar="URL", help="dataset URL to test (an internal mirror)")
    node.add_argument("--select", action="append", metavar="IDS", help="only these check ids or families")
    node.add_argument("--ignore", action="append", metavar="IDS", help="skip these check ids or families")
    node.add_argument("--strict", action="store_true", help="warnings count as failures there")
    node.add_argument("--expect-gpu", action="store_true", help="fail where TensorFlow would use no GPU")
    return p


def doctor_args(args: argparse.Namespace) -> list[str]:
    """The node doctors' command line, from the flags given (each as the single report spells it)."""
    out: list[str] = []
    for name in FORWARDED:
        value = getattr(args, name)
        flag = "--" + name.replace("_", "-")
        if value is True:
            out.append(flag)
        elif isinstance(value, list):
            for item in value:
                out += [flag, item]
        elif isinstance(value, str):
            out += [flag, value]
    return out


def _check(args: argparse.Namespace) -> None:
    from mnist_doctor.errors import UsageError

    if args.ray is not None:
        if args.reports:
            raise UsageError("report files do not go with --ray", hint="mnist-doctor fleet --ray [ADDRESS]")
        if not ADDRESS.fullmatch(args.ray):
            raise UsageError(
                f"--ray '{_one_line(args.ray, 100)}' is not a Ray address "
                "(HOST:PORT, ray://HOST:PORT or auto)",
                hint="mnist-doctor fleet --ray head-node:6379",
            )
        return
    given = [f"--{n.replace('_', '-')}" for n in FORWARDED if getattr(args, n) not in (None, False, [])]
    if given:
        raise UsageError(
            f"{given[0]} goes with --ray (a report file was made with the flags of its own run)",
            hint=f"mnist-doctor fleet --ray {given[0]} ...",
        )
    if not args.reports:
        raise UsageError(
            "nothing to merge: give report files or folders, - for standard input, or --ray",
            hint="mnist-doctor fleet reports/",
        )


def _render(doc: dict[str, Any], args: argparse.Namespace) -> None:
    from mnist_doctor.text.output import emit, emit_json

    if args.format == "json":
        emit_json(doc)
    elif args.format == "markdown":
        from mnist_doctor.fleet.markdown import render_fleet_markdown

        emit(render_fleet_markdown(doc, verbose=args.verbose))
    else:
        from mnist_doctor.fleet.rich import render_fleet_rich
        from mnist_doctor.render.console import make_console

        render_fleet_rich(doc, make_console(), verbose=args.verbose)


def run(args: argparse.Namespace) -> int:
    from mnist_doctor.errors import UsageError
    from mnist_doctor.fleet.collect import collect_files
    from mnist_doctor.fleet.merge import merge
    from mnist_doctor.pipeline.report import document
    from mnist_doctor.probing.budget import Budget

    _check(args)
    budget = Budget(args.timeout)
    if args.ray is not None:
        from mnist_doctor.fleet.ray_runner import run_on_ray

        collected = run_on_ray(args.ray, doctor_args(args), budget)
    else:
        collected = collect_files(args.reports, sys.stdin.buffer if sys.stdin else None, budget.deadline)
    if not collected.reports and not collected.unanswered:
        reasons = "; ".join(f"{s.source} {s.reason}" for s in collected.skipped[:3])
        more = f" (and {len(collected.skipped) - 3} more)" if len(collected.skipped) > 3 else ""
        raise UsageError(
            f"no report among the inputs: {reasons}{more}" if reasons else "no report among the inputs",
            hint="make one per host with: mnist-doctor --format json > $(hostname).json",
        )
    view = merge(collected)
    doc = document("fleet", view.exit_code, **view.to_dict())
    _render(doc, args)
    return view.exit_code


def main(argv: list[str] | None = None) -> int:
    """``mnist-doctor fleet ARGS`` inside the one exit for text."""
    from mnist_doctor.text.output import run_cli

    return run_cli(_main, argv)


def _main(argv: list[str]) -> int:
    from mnist_doctor.errors import UsageError
    from mnist_doctor.probing import signals

    signals.install()
    parser = build_parser()
    _Parser.argv = list(argv)
    fmt = _format_in(argv)
    try:
        args = parser.parse_args(argv)
        try:
            return run(args)
        except UsageError as exc:
            return usage_error(str(exc), exc.hint, fmt)
    except SystemExit as exc:  # argparse after --help (0) or a usage error it reported (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt as exc:
        return signals.exit_code(exc)
    finally:
        signals.closing()
        signals.stop_children()
