"""The modes of the command, once the flags are parsed: diagnose (and render), ``--fix``, the cache
actions (``--clear-cache``, ``--seed``, ``--fetch``), ``--list-checks`` and ``--completion``.

Each imports what it needs when it runs (rich, the engine, the checks), so the parser before
it stays cheap.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from mnist_doctor.cli.options import options_from
from mnist_doctor.cli.parser import build_parser
from mnist_doctor.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from rich.console import Console

    from mnist_doctor.facts import Facts


def _console(stderr: bool = False) -> Console:
    """The redacting, control-escaping console (see :mod:`mnist_doctor.render.console`)."""
    from mnist_doctor.render.console import make_console

    return make_console(stderr=stderr)


def completion(args: argparse.Namespace, argv: list[str]) -> int:
    """``--completion SHELL``: the script, generated from this very parser; alone on its command line."""
    from mnist_doctor.cli.completion import completion_script
    from mnist_doctor.errors import UsageError
    from mnist_doctor.text.output import emit

    if len([a for a in argv if a.startswith("-")]) > 1:
        raise UsageError("--completion takes no other flag", hint="mnist-doctor --completion bash")
    emit(completion_script(build_parser(), args.completion), end="")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """The mode the flags ask for; its exit code."""
    from mnist_doctor.pipeline.run import new_facts, validated

    options = options_from(args)
    if args.list_checks:
        from mnist_doctor.pipeline.engine import discover

        checks, load_errors = discover()
        return _list_checks(checks, load_errors, args.format)
    facts = new_facts(options)
    # A JSON or Markdown reader cannot answer a question: those formats never prompt.
    interactive = args.format == "rich" and sys.stdin.isatty() and sys.stdout.isatty()
    if args.clear_cache or args.seed or args.fetch:
        validated(facts)
        return _action(args, facts, interactive)
    report, results = _checked(args, facts)
    if not args.fix:
        _render(report, args)
        return int(report["exit_code"])
    return _fix(args, facts, report, results, interactive)


def _fix(
    args: argparse.Namespace, facts: Facts, report: dict[str, Any], results: list[Any], interactive: bool
) -> int:
    """``--fix``: the report, the fixes offered (or done with ``--yes``), the checks again, the outcome."""
    from mnist_doctor.cli.fix import collect_fixes, offer_fixes
    from mnist_doctor.model import FixKind
    from mnist_doctor.pipeline.run import new_facts

    code = int(report["exit_code"])
    if args.format == "rich":
        _render(report, args)
    console, record = _action_console(args)
    changed = False
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
            after, _ = _checked(args, new_facts(facts.options))
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


def _checked(
    args: argparse.Namespace, facts: Facts, only: list[str] | None = None
) -> tuple[dict[str, Any], list[Any]]:
    """Run the checks (all selected, or ``only``) and build the report; the caller renders it."""
    from mnist_doctor.pipeline.engine import Engine
    from mnist_doctor.pipeline.run import run_checks

    def runner(facts: Facts, chosen: list[Any]) -> list[Any]:
        return _run_engine(Engine, facts, chosen, args.format)

    found = run_checks(
        facts,
        only or args.select,
        None if only else args.ignore,
        runner=runner,
        meanwhile=lambda: _import_renderer(args.format),
    )
    return found.report, found.results


def _import_renderer(fmt: str) -> None:
    """Import what renders ``fmt`` now, while the probes start (rich: as long as a Python's start);
    only its cost matters here, :func:`_render` uses it."""
    if fmt == "rich":
        import mnist_doctor.render.console
        import mnist_doctor.render.rich
    elif fmt == "markdown":
        import mnist_doctor.render.markdown  # noqa: F401


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
            after, _ = _checked(args, new_facts(options), only=["cache"])
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
