"""The command's entry point, ``mnist-doctor`` and ``python -m mnist_doctor``: a fast path, then the modes.

``--version`` alone (the usual "is it installed?") is answered before anything else is imported:
no argparse, no dataclasses, not even the safe streams, as the version is a constant with nothing
to redact or escape. A write that fails takes the ordinary path, which reports it exactly as for
any other output. Everything else runs :func:`command` inside the one exit for text
(:func:`mnist_doctor.text.output.run_cli`): the parser (:mod:`mnist_doctor.cli.parser`), then the
mode it names (:mod:`mnist_doctor.cli.modes`).
"""

import sys

from mnist_doctor import __version__
from mnist_doctor.errors import EXIT_OK, UsageError

VERSION_LINE = f"mnist-doctor {__version__}\n"


def main(argv: list[str] | None = None) -> int:
    """The command: ``--version`` at once, anything else through :func:`command` with safe streams."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"] and _version_written():
        return EXIT_OK
    from mnist_doctor.text.output import run_cli

    return run_cli(command, args)


def _version_written() -> bool:
    """Write the version line as it is; False when stdout cannot take it (the slow path says why)."""
    stream = sys.stdout
    if stream is None:  # fd 1 closed at start
        return False
    try:
        stream.write(VERSION_LINE)
        stream.flush()
    except (OSError, ValueError):  # broken pipe, disk full, closed file
        return False
    return True


def command(argv: list[str]) -> int:
    """Parse and run; every write here passes the safe streams :func:`main` installed."""
    if argv == ["--version"]:  # here only when the fast path's write failed: report it the usual way
        sys.stdout.write(VERSION_LINE)
        return EXIT_OK
    from mnist_doctor.probing import signals

    # Ctrl-C and SIGTERM kill every probe, unwind through the finally blocks, exit 130/143.
    signals.install()
    try:
        from mnist_doctor.cli.parser import build_parser, usage_error

        parser = build_parser()
        parser.argv = list(argv)  # type: ignore[attr-defined]  # read back by the usage-error hook
        args = parser.parse_args(argv)
        try:
            if args.completion:
                from mnist_doctor.cli.modes import completion

                return completion(args, argv)
            from mnist_doctor.cli.modes import run

            return run(args)
        except UsageError as exc:
            return usage_error(str(exc), exc.hint, args.format)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM raised as signals.Interrupted
        return signals.exit_code(exc)
    finally:
        signals.closing()
        signals.stop_children()  # a probe of a check abandoned at the deadline dies with us
        _put_back_user_files()  # then files Keras changed during a killed probe are restored


def _put_back_user_files() -> None:
    """However the run ends, files Keras changed during a probe are restored (promise 1)."""
    module = sys.modules.get("mnist_doctor.probing.safekeeping")
    if module is not None:  # only a run that started a load probe has anything to restore
        module.restore_all()
