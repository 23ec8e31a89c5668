"""Rich renderer: one table grouped by family — status, check, finding, hint — then the tally.

A family whose checks all passed folds into one line (``--verbose`` unfolds it), so the
problems stand out. Plain text (no colour, no cursor tricks) when stdout is not a
terminal or ``NO_COLOR`` is set.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mnist_doctor.render import GLYPHS, closing_line, header_lines

STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim", "error": "magenta"}


def _glyph(status: str) -> Text:
    return Text(f"[{GLYPHS[status]}]", style=STYLES[status])


def _finding(r: dict[str, Any], verbose: bool) -> Text:
    finding = Text(r["summary"])
    if verbose:
        for detail in r.get("details") or []:
            finding.append("\n  " + detail, style="dim")
        if r.get("traceback"):
            finding.append("\n" + r["traceback"].rstrip(), style="dim magenta")
        finding.append(f"\n  ({r.get('elapsed_s', 0):.2f}s)", style="dim")
    return finding


def _folded(rows: list[dict[str, Any]]) -> bool:
    return all(r["status"] in ("ok", "skip") for r in rows) and any(r["status"] == "ok" for r in rows)


def render_rich(report: dict[str, Any], console: Console, verbose: bool = False) -> None:
    for i, line in enumerate(header_lines(report)):
        console.print(Text(line, style="bold" if i == 0 else "dim"))
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    table.add_column("", no_wrap=True, width=3)
    table.add_column("Check", no_wrap=True)
    table.add_column("Finding", overflow="fold", ratio=3)
    table.add_column("Hint", overflow="fold", ratio=2)
    for family, group in groupby(report["results"], key=lambda r: r["family"]):
        rows = list(group)
        if not verbose and _folded(rows):
            passed = sum(r["status"] == "ok" for r in rows)
            skipped = len(rows) - passed
            text = f"all {passed} checks passed" if passed > 1 else rows[0]["summary"]
            if skipped:
                text += f" ({skipped} not applicable)"
            table.add_row(_glyph("ok"), Text(family, style="bold"), Text(text, style="green"), "")
            continue
        table.add_row("", Text(family, style="bold underline"), "", "")
        for r in rows:
            table.add_row(
                _glyph(r["status"]),
                Text(r["id"]),
                _finding(r, verbose),
                Text(r.get("hint") or "", style="cyan"),
            )
    console.print(table)
    style = "bold red" if report["exit_code"] else "bold green"
    console.print(Text(closing_line(report), style=style))
    if not verbose:
        console.print(Text("--verbose shows every check with its details and timings", style="dim"))


def print_message(console: Console, message: str, hint: str | None = None, style: str = "bold red") -> None:
    console.print(Text(message, style=style))
    if hint:
        console.print(Text("hint: ", style="cyan") + Text(hint))
