"""Rich renderer: the diagnosis first (root causes, each with its numbered fix), then the evidence.

Fix commands are printed on lines of their own at full width, outside the table: a command in
a narrow table cell breaks mid-token and cannot be pasted. A command longer than the line is
broken only between shell words, with a `` \\`` continuation (:func:`wrap_command`); a single
word longer than the line runs past the edge rather than being cut.

The evidence table is grouped by family; a family whose checks all passed folds into one line
and identical skips fold into one row (``--verbose`` unfolds families). Plain text (no colour,
no cursor tricks) when the console says so (see :mod:`mnist_doctor.render.console`).
"""

from __future__ import annotations

import textwrap
from itertools import groupby
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mnist_doctor.render import (
    GLYPHS,
    closing_line,
    fix_refs,
    fold_skips,
    folded_text,
    header_lines,
    runs_with_fix_note,
)
from mnist_doctor.render.commands import wrap_command
from mnist_doctor.text.output import plural

STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim", "error": "magenta"}
VERDICT_STYLES = {"ok": "bold green", "warn": "bold yellow", "fail": "bold red"}
INDENT = "    "


def _glyph(status: str) -> Text:
    return Text(f"[{GLYPHS[status]}]", style=STYLES[status])


def _finding(r: dict[str, Any], verbose: bool) -> Text:
    finding = Text(r["summary"])
    if verbose:
        for detail in r.get("details") or []:
            finding.append("\n  " + detail, style="dim")
        if r.get("hint"):
            finding.append("\n  hint: " + r["hint"], style="dim cyan")
        if r.get("traceback"):
            finding.append("\n" + r["traceback"].rstrip(), style="dim magenta")
        finding.append(f"\n  ({r.get('elapsed_s', 0):.2f}s)", style="dim")
    return finding


def _folded(rows: list[dict[str, Any]]) -> bool:
    return all(r["status"] in ("ok", "skip") for r in rows) and any(r["status"] == "ok" for r in rows)


def print_prose(
    console: Console, text: str, style: str = "", indent: str = "", first: Text | None = None
) -> None:
    """``text`` wrapped at spaces only: a path or URL in it is never cut (a long one runs past the edge)."""
    lead = first.plain if first is not None else ""
    lines = textwrap.wrap(
        lead + text,
        max(console.width, 20),
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent + lead]
    for i, line in enumerate(lines):
        if i == 0 and first is not None and line.startswith(indent + lead):
            shown = Text(indent) + first + Text(line[len(indent) + len(lead) :], style=style)
        else:
            shown = Text(line, style=style)
        console.print(shown, soft_wrap=True)


def _prose_left(fix: dict[str, Any]) -> bool:
    """The advice says more than its commands (a few words of prose once they are taken out)."""
    advice = str(fix.get("advice") or "")
    for command in fix.get("commands") or []:
        advice = advice.replace(command["command"], " ")
        if command.get("comment"):
            advice = advice.replace(command["comment"], " ")
    words = [w for w in advice.replace("`", " ").split() if any(c.isalpha() for c in w)]
    return len(words) >= 5


def print_fix(console: Console, fix: dict[str, Any]) -> None:
    """``fix N (check id): advice`` then each command on its own full-width line(s)."""
    label = Text(f"fix {fix['number']} ", style="bold cyan") + Text(f"({fix['check']})", style="cyan")
    commands = fix.get("commands") or []
    if fix.get("advice") and (not commands or _prose_left(fix)):
        print_prose(console, ": " + fix["advice"], style="", indent="  ", first=label)
    else:
        console.print(Text("  ") + label)
    width = console.width
    for command in commands:
        lines = wrap_command(command["command"], width, indent=INDENT)
        comment = f"   # {command['comment']}" if command.get("comment") else ""
        if comment and len(lines[-1]) + len(comment) > width:
            lines, comment = [f"{INDENT}{comment.strip()}", *lines], ""  # the comment goes first, alone
        for i, line in enumerate(lines):
            text = Text(line, style="dim" if line.lstrip().startswith("#") else "bold")
            if i == len(lines) - 1 and comment:
                text.append(comment, style="dim")
            console.print(text, soft_wrap=True)
    if commands and fix.get("runs_with_fix"):
        console.print(Text(INDENT + "# " + runs_with_fix_note(len(commands)), style="dim"), soft_wrap=True)


def render_diagnosis(report: dict[str, Any], console: Console) -> None:
    """The "Diagnosis" block: headline, then each root cause with its explanation and fix."""
    diagnosis = report.get("diagnosis")
    if not diagnosis:
        return
    fixes = {f["number"]: f for f in diagnosis.get("fixes") or []}
    headline_style = VERDICT_STYLES[diagnosis["verdict"]]
    print_prose(console, diagnosis["headline"], headline_style, first=Text("Diagnosis: ", style="bold"))
    for kind in ("problems", "warnings"):
        for problem in diagnosis.get(kind) or []:
            print_prose(console, " " + problem["title"], "bold", first=_glyph(problem["status"]))
            if problem.get("explanation"):
                print_prose(console, problem["explanation"], indent="  ")
            print_prose(console, "seen by: " + ", ".join(problem["checks"]), "dim", indent="  ")
            if problem.get("fix") in fixes:
                print_fix(console, fixes[problem["fix"]])
    load = diagnosis.get("load_data") or {}
    if load.get("fix") in fixes:
        print_fix(console, fixes[load["fix"]])
    console.print()


def _table(report: dict[str, Any], verbose: bool) -> Table:
    refs = fix_refs(report)
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    table.add_column("", no_wrap=True, width=3)
    table.add_column("Check", no_wrap=True)
    table.add_column("Finding", overflow="fold", ratio=1)
    if refs:
        table.add_column("Fix", no_wrap=True)
    extra = [""] if refs else []
    for family, group in groupby(report["results"], key=lambda r: r["family"]):
        rows = list(group)
        if not verbose and _folded(rows):
            passed = sum(r["status"] == "ok" for r in rows)
            skipped = len(rows) - passed
            text = f"all {passed} checks passed" if passed > 1 else rows[0]["summary"]
            if skipped:
                text += f" ({skipped} not applicable)"
            table.add_row(_glyph("ok"), Text(family, style="bold"), Text(text, style="green"), *extra)
            continue
        if not verbose and len(rows) > 1 and all(r["status"] == "skip" for r in rows):
            same = all(r["summary"] == rows[0]["summary"] for r in rows)
            text = (
                folded_text(family, rows[0]["summary"], rows)
                if same
                else f"{rows[0]['summary']} ({plural(len(rows), 'check')} skipped)"
            )
            table.add_row(_glyph("skip"), Text(family, style="bold"), Text(text, style="dim"), *extra)
            continue
        table.add_row("", Text(family, style="bold underline"), "", *extra)
        for item in rows if verbose else fold_skips(rows):
            if isinstance(item, tuple):
                summary, folded = item
                text = Text(folded_text(family, summary, folded))
                table.add_row(_glyph("skip"), Text(f"{family}.* ({len(folded)})"), text, *extra)
                continue
            ref = (
                [Text(f"fix {refs[item['id']]}", style="cyan") if item["id"] in refs else ""] if refs else []
            )
            table.add_row(_glyph(item["status"]), Text(item["id"]), _finding(item, verbose), *ref)
    return table


def render_rich(report: dict[str, Any], console: Console, verbose: bool = False) -> None:
    for i, line in enumerate(header_lines(report)):
        print_prose(console, line, "bold" if i == 0 else "dim")
    console.print()
    render_diagnosis(report, console)
    console.print(_table(report, verbose))
    style = "bold red" if report["exit_code"] else "bold green"
    console.print(Text(closing_line(report), style=style))
    if not verbose:
        console.print(Text("--verbose shows every check with its details and timings", style="dim"))


def print_message(console: Console, message: str, hint: str | None = None, style: str = "bold red") -> None:
    console.print(Text(message, style=style))
    if hint:
        console.print(Text("hint: ", style="cyan") + Text(hint))
