"""Command line: parse, pick the patient, run the checks or an action, render, exit with a graded code.

Heavy modules (rich, packaging, requests, the checks) are imported only after argument
parsing, so ``--help`` and ``--version`` stay fast and work in a broken environment.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from mnist_doctor import __version__
from mnist_doctor.pipeline.budget import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    from rich.console import Console

    from mnist_doctor.facts import Facts, Options

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
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
"""


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with our own one-line message and a hint (no usage dump)."""

    #: The command line being parsed, so a usage error can honour ``--format`` (set by :func:`_main`).
    argv: ClassVar[list[str]] = []

    def error(self, message: str) -> NoReturn:
        usage_error(message, "mnist-doctor --help lists every flag", _format_in(self.argv))
        raise SystemExit(EXIT_USAGE)


def _format_in(argv: list[str]) -> str:
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

    line = f"mnist-doctor: error: {_one_line(message)}"
    if hint:
        line += f" (hint: {_one_line(hint)})"
    emit(line, sys.stderr)
    error = {"message": _one_line(message), "hint": _one_line(hint) if hint else None}
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


def _one_line(text: str, limit: int = 300) -> str:
    """A message that stays one line, however long or multi-line the value it quotes.

    Redacted *before* it is flattened and cut, so neither can break a secret out of its mask.
    """
    from mnist_doctor.text.output import safe_text

    flat = " ".join(safe_text(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _positive_float(text: str) -> float:
    """A ``--timeout``: a finite number of seconds in (0, MAX_TIMEOUT_S]."""
    shown = f"'{_one_line(text, 40)}'"
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
        type=_positive_float,
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


def main(argv: list[str] | None = None) -> int:
    """The command: :func:`_main` inside the one exit for text (safe streams, output errors)."""
    from mnist_doctor.text.output import run_cli

    return run_cli(_main, argv)


def _main(argv: list[str]) -> int:
    """Parse and run; every write here passes the safe streams :func:`main` installed."""
    if argv == ["--version"]:  # the common probe of "is it installed?" skips argparse entirely
        sys.stdout.write(f"mnist-doctor {__version__}\n")
        return EXIT_OK
    from mnist_doctor.probing import signals

    # Ctrl-C and SIGTERM kill every probe, unwind through the finally blocks, exit 130/143.
    signals.install()
    try:
        parser = build_parser()
        parser.argv = list(argv)  # type: ignore[attr-defined]  # read back by the usage-error hook
        args = parser.parse_args(argv)
        from mnist_doctor.errors import UsageError

        try:
            if args.completion:
                return _completion(args, argv)
            return _run(args)
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


def _console(stderr: bool = False) -> Console:
    """The redacting, control-escaping console (see :mod:`mnist_doctor.render.console`)."""
    from mnist_doctor.render.console import make_console

    return make_console(stderr=stderr)


def _completion(args: argparse.Namespace, argv: list[str]) -> int:
    """``--completion SHELL``: the script, generated from this very parser; alone on its command line."""
    from mnist_doctor.cli.completion import completion_script
    from mnist_doctor.errors import UsageError
    from mnist_doctor.text.output import emit

    if len([a for a in argv if a.startswith("-")]) > 1:
        raise UsageError("--completion takes no other flag", hint="mnist-doctor --completion bash")
    emit(completion_script(build_parser(), args.completion), end="")
    return EXIT_OK


def _check_combinations(args: argparse.Namespace) -> None:
    """Flags that mean nothing together are usage errors, not silently ignored."""
    from mnist_doctor.errors import UsageError

    action = (
        "--clear-cache" if args.clear_cache else "--seed" if args.seed else "--fetch" if args.fetch else None
    )
    asks = args.clear_cache or args.fix  # the modes that ask before changing anything
    if args.mirror and not args.fetch:
        raise UsageError("--mirror goes with --fetch", hint="mnist-doctor --fetch --mirror URL")
    for flag, given in (("--dry-run", args.dry_run), ("--yes", args.yes)):
        if given and not asks:
            where = f", not to {action}" if action else ""
            raise UsageError(
                f"{flag} only applies to --clear-cache and --fix{where}",
                hint=f"mnist-doctor --clear-cache {flag}",
            )
    if args.list_checks and (action or args.fix):
        raise UsageError(
            f"--list-checks does not go with {action or '--fix'}", hint="mnist-doctor --list-checks"
        )
    if action:
        for flag, given in (
            ("--select", args.select), ("--ignore", args.ignore), ("--expect-gpu", args.expect_gpu),
        ):  # fmt: skip
            if given:
                raise UsageError(
                    f"{flag} does not go with {action} (an action re-runs only the cache checks)",
                    hint=f"run the action, then: mnist-doctor {flag} ...",
                )
    if args.fetch and args.offline:
        raise UsageError("--fetch needs the network; --offline forbids it", hint="mnist-doctor --seed FILE")
    if args.seed:
        from mnist_doctor.actions.install import open_source

        source, why = open_source(args.seed)
        if source is None:
            example = "~/Downloads/mnist.npz" if args.dataset is None else "~/Downloads/FILE"
            raise UsageError(
                f"--seed {_one_line(args.seed, 200)}: {why}",
                hint=f"give the path of a downloaded dataset file: mnist-doctor --seed {example}",
            )
        source.close()


def _options(args: argparse.Namespace) -> Options:
    from mnist_doctor.compat.table import TABLE_ENV, table_problem
    from mnist_doctor.datasets.spec import ORIGIN_ENV, choose_origin
    from mnist_doctor.datasets.table import DEFAULT_DATASETS, origin_problem, parse_selection
    from mnist_doctor.errors import UsageError
    from mnist_doctor.facts import Options
    from mnist_doctor.network.urlcheck import url_problem
    from mnist_doctor.probing.interpreter import resolve_python

    for flag, url in (("--origin", args.origin), ("--mirror", args.mirror)):
        problem = url_problem(url) if url is not None else None
        if problem:
            raise UsageError(
                f"{flag} '{_one_line(url, 200)}' {problem}", hint=f"{flag} https://host/path/mnist.npz"
            )
    _check_combinations(args)  # after the URLs: a malformed URL is named first, whatever it came with
    chosen = choose_origin(args.origin)
    if args.fetch and not args.mirror and chosen.rejected is not None:
        # A diagnosis reports a bad variable as a finding; a download from it cannot even start.
        raise UsageError(
            f"{ORIGIN_ENV} '{_one_line(chosen.rejected, 200)}' {chosen.problem}",
            hint=f"unset {ORIGIN_ENV}   # or pass --mirror https://host/path/mnist.npz",
        )
    table = table_problem()
    if table:
        raise UsageError(table, hint=f"unset {TABLE_ENV}   # the table shipped with mnist-doctor")
    datasets = parse_selection(args.dataset)
    origin = args.origin or args.mirror
    problem = origin_problem(origin, datasets)
    if problem:
        flag = "--origin" if args.origin else "--mirror"
        raise UsageError(f"{flag} '{_one_line(origin, 200)}' {problem}", hint=f"{flag} https://host/path/")
    return Options(
        python=resolve_python(args.python),
        offline=args.offline,
        timeout=args.timeout,
        datasets=datasets,
        # One file (MNIST alone): a folder URL names the file in it. Several: each file's own name.
        origin=_file_url(origin) if datasets == DEFAULT_DATASETS else origin,
        verbose=args.verbose,
        strict=args.strict,
        dry_run=args.dry_run,
        expect_gpu=args.expect_gpu,
    )


def _file_url(url: str | None) -> str | None:
    """A folder URL given to ``--origin``/``--mirror`` names the file in it (one rule: dataset.file_url)."""
    if not url:
        return url
    from mnist_doctor.datasets.spec import file_url

    return file_url(url)


def _run(args: argparse.Namespace) -> int:
    from mnist_doctor.pipeline.engine import discover
    from mnist_doctor.pipeline.run import new_facts, validated

    options = _options(args)
    if args.list_checks:
        checks, load_errors = discover()
        return _list_checks(checks, load_errors, args.format)
    facts = new_facts(options)
    # A JSON or Markdown reader cannot answer a question: those formats never prompt.
    interactive = args.format == "rich" and sys.stdin.isatty() and sys.stdout.isatty()
    if args.clear_cache or args.seed or args.fetch:
        validated(facts)
        return _action(args, facts, interactive)
    report, results = _diagnose(args, facts)
    code = int(report["exit_code"])
    if not args.fix:
        _render(report, args)
        return code
    if args.format == "rich":
        _render(report, args)
    console, record = _action_console(args)
    changed = False
    from mnist_doctor.cli.fix import collect_fixes, offer_fixes
    from mnist_doctor.model import FixKind

    # a warning alone is worth fixing when the fix saves a download (a copy under another Keras line's name)
    if code or any(step.kind is FixKind.REUSE for plan in collect_fixes(results) for step in plan.steps):
        changed = offer_fixes(
            results, facts, console, yes=args.yes, dry_run=args.dry_run, interactive=interactive
        )
    else:
        console.print("\nnothing to fix")
    after = None
    step: dict[str, Any] = {"action": "fix", "changed": changed, "dry_run": args.dry_run}
    if changed:
        from rich.text import Text

        from mnist_doctor.errors import UsageError
        from mnist_doctor.pipeline.fix_outcome import reconcile

        console.print("\nre-running the checks after the fixes:")
        try:
            after, _ = _diagnose(args, new_facts(facts.options))
        except UsageError as exc:  # e.g. no --timeout left to examine the interpreter again
            console.print(Text(f"  the re-check could not run: {exc}"))
            if exc.hint:
                console.print(Text(f"  hint: {exc.hint}"))
        if after is not None and args.format == "rich":
            _render(after, args)
        # The re-check shares the run's budget: a problem it did not judge again is not fixed.
        outcome = reconcile(report["results"], after["results"] if after else [], strict=args.strict)
        code = outcome.exit_code
        step["outcome"] = outcome.to_dict()
        console.print("\nafter the fixes:")
        for line in outcome.lines():
            console.print(Text(f"  {line}"))
    step["exit_code"] = code
    if args.format != "rich":
        _finish("fix", [dict(step, messages=_lines(record))], after, code, args, first=report)
    return code


def _action_console(args: argparse.Namespace) -> tuple[Console, Any]:
    """Where an action's messages go: the terminal (rich), or a buffer that becomes part of one document."""
    if args.format == "rich":
        return _console(), None
    import io

    from mnist_doctor.render.console import SafeConsole

    buffer = io.StringIO()
    console = SafeConsole(  # wide and soft-wrapped: one message is one line, never cut
        file=buffer, width=1000, force_terminal=False, color_system=None, no_color=True,
        highlight=False, soft_wrap=True, emoji=False, markup=False,
    )  # fmt: skip
    return console, buffer


def _lines(record: Any) -> list[str]:
    """The recorded messages as lines, trailing spaces and blank lines dropped."""
    if record is None:
        return []
    return [line.rstrip() for line in record.getvalue().splitlines() if line.strip()]


def _finish(
    mode: str,
    actions: list[dict[str, Any]],
    after: dict[str, Any] | None,
    code: int,
    args: argparse.Namespace,
    first: dict[str, Any] | None = None,
) -> None:
    """One document for an action (or ``--fix``) under ``--format json|markdown``."""
    from mnist_doctor.pipeline.report import document
    from mnist_doctor.text.output import emit, emit_json

    if args.format == "json":
        if first is not None:
            fields = {k: v for k, v in first.items() if k not in ("schema", "mode", "tool", "exit_code")}
            emit_json(document(mode, code, **fields, actions=actions, after=after))
        else:
            emit_json(document(mode, code, actions=actions, after=after))
        return
    from mnist_doctor.render.markdown import render_actions, render_markdown

    parts = [render_markdown(first, verbose=args.verbose)] if first is not None else []
    parts.append(render_actions(mode, actions, code))
    if after is not None:
        parts.append(render_markdown(after, verbose=args.verbose, title="after the change"))
    emit("\n".join(parts))


def _diagnose(
    args: argparse.Namespace, facts: Facts, only: list[str] | None = None
) -> tuple[dict[str, Any], list[Any]]:
    """Run the checks (all selected, or ``only``) and build the report; the caller renders it."""
    from mnist_doctor.pipeline.engine import Engine
    from mnist_doctor.pipeline.run import diagnose

    def runner(facts: Facts, chosen: list[Any]) -> list[Any]:
        return _run_engine(Engine, facts, chosen, args.format)

    found = diagnose(facts, only or args.select, None if only else args.ignore, runner=runner)
    return found.report, found.results


def _run_engine(engine_cls: Any, facts: Facts, chosen: list[Any], fmt: str) -> list[Any]:
    """Run the checks; on an interactive stderr, a spinner names the checks still running."""
    from mnist_doctor.render.console import make_console, spinner_wanted

    if not (fmt == "rich" and spinner_wanted()):
        results: list[Any] = engine_cls(facts).run(chosen)
        return results
    console = make_console(stderr=True, live=True)
    titles = {c.id: c.id for c in chosen}
    running: list[str] = []
    with console.status("starting checks…") as status:

        def on_event(kind: str, check_id: str) -> None:
            if kind == "start":
                running.append(check_id)
            elif check_id in running:
                running.remove(check_id)
            names = ", ".join(titles.get(i, i) for i in running[:4]) + (" …" if len(running) > 4 else "")
            status.update(f"running: {names}" if running else "finishing…")

        shown: list[Any] = engine_cls(facts, on_event=on_event).run(chosen)
        return shown


def _render(report: dict[str, Any], args: argparse.Namespace) -> None:
    from mnist_doctor.text.output import emit

    if args.format == "json":
        from mnist_doctor.render.json import render_json

        emit(render_json(report), encoding="utf-8", json_escaped=True)
    elif args.format == "markdown":
        from mnist_doctor.render.markdown import render_markdown

        emit(render_markdown(report, verbose=args.verbose))
    else:
        from mnist_doctor.render.rich import render_rich

        render_rich(report, _console(), verbose=args.verbose)


def _action(args: argparse.Namespace, facts: Facts, interactive: bool) -> int:
    """``--clear-cache``, ``--seed`` or ``--fetch``, then the cache checks again (not after a dry run)."""
    from dataclasses import replace

    from mnist_doctor import actions
    from mnist_doctor.errors import UsageError

    console, record = _action_console(args)
    options = facts.options
    if args.clear_cache:
        mode = "clear-cache"
        code = actions.clear_cache(
            facts, console, yes=args.yes, dry_run=args.dry_run, interactive=interactive
        )
    elif args.seed:
        mode = "seed"
        seeded: list[str] = []
        # Without --dataset the file says which dataset it belongs to (by size and hash).
        code = actions.seed_file(facts, console, args.seed, any_dataset=args.dataset is None, seeded=seeded)
        if seeded and seeded != list(options.datasets):
            options = replace(options, datasets=tuple(seeded))  # same start: the same deadline
    else:
        mode = "fetch"
        code = actions.fetch_dataset(facts, console, args.mirror)
    step: dict[str, Any] = {"action": mode, "exit_code": code, "dry_run": bool(args.dry_run)}
    if args.seed:
        step["file"] = args.seed
    if args.fetch:
        url = _fetch_url(facts, args.mirror)
        if url:
            step["url"] = url
    after = None
    if not args.dry_run and code != EXIT_USAGE:
        from mnist_doctor.pipeline.run import new_facts

        console.print("\ncache checks after this change:")
        try:
            after, _ = _diagnose(args, new_facts(options), only=["cache"])
        except UsageError as exc:
            # The interpreter answered before the action; what fails now is the spent --timeout.
            # The action's own verdict stands: not a usage error (exit 2), not a traceback.
            console.print(f"  not run: {exc}")
        if after is not None:
            if args.format == "rich":
                _render(after, args)
            code = code or after["exit_code"]
    if args.format != "rich":
        _finish(mode, [dict(step, messages=_lines(record))], after, code, args)
    return code


def _fetch_url(facts: Facts, mirror: str | None) -> str | None:
    """The URL a ``--fetch`` step reports: the one file's, else the ``--mirror`` folder (else none)."""
    from mnist_doctor import actions

    try:
        files = [f for loader in facts.get("datasets") for f in loader.files]
    except Exception:  # the action has said why the datasets are unknown
        return mirror
    if len(files) == 1:
        return actions.mirror_url(mirror, files[0].spec)
    return mirror


def _list_checks(checks: list[Any], load_errors: list[Any], fmt: str) -> int:
    rows = [
        {
            "id": c.id,
            "family": c.family,
            "title": c.title,
            "requires": list(c.requires),
            "network": bool(c.network),
            "slow": bool(c.slow),
            "module": type(c).__module__,
            "doc": (type(c).__doc__ or c.run.__doc__ or "").strip().splitlines()[0]
            if (type(c).__doc__ or c.run.__doc__)
            else "",
        }
        for c in checks
    ]
    broken = [{"entry_point": e.name, "value": e.value, "error": e.error} for e in load_errors]
    code = EXIT_FAIL if broken else EXIT_OK
    if fmt == "json":
        from mnist_doctor.pipeline.report import document
        from mnist_doctor.text.output import emit_json

        emit_json(document("list-checks", code, checks=rows, load_errors=broken))
        return code
    if fmt == "markdown":
        from mnist_doctor.render.markdown import render_check_list
        from mnist_doctor.text.output import emit

        emit(render_check_list(rows, broken))
        return code
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("id", "title", "notes"):
        table.add_column(col)
    for row in rows:
        notes = ", ".join(
            filter(
                None,
                [
                    "network" if row["network"] else "",
                    "slow" if row["slow"] else "",
                    ("requires " + ", ".join(row["requires"])) if row["requires"] else "",
                ],
            )
        )
        table.add_row(row["id"], row["title"], notes)
    console = _console()
    console.print(table)
    for b in broken:
        console.print(f"[☠] plugin {b['entry_point']} ({b['value']}) failed to load: {b['error']}")
    return EXIT_FAIL if broken else EXIT_OK
