"""Rich renderer: one table grouped by family — status, check, finding, hint — then the tally.

Plain text (no colour, no cursor tricks) when stdout is not a terminal or ``NO_COLOR`` is set.
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


def render_rich(report: dict[str, Any], console: Console, verbose: bool = False) -> None:
    for i, line in enumerate(header_lines(report)):
        console.print(Text(line, style="bold" if i == 0 else "dim"))
    table = Table(box=box.SIMPLE_HEAD, show_lines=False, expand=False, pad_edge=False)
    table.add_column("", no_wrap=True, width=3)
    table.add_column("Check", no_wrap=True)
    table.add_column("Finding", overflow="fold", max_width=70)
    table.add_column("Hint", overflow="fold", max_width=60)
    for family, rows in groupby(report["results"], key=lambda r: r["family"]):
        table.add_row("", Text(family, style="bold underline"), "", "")
        for r in rows:
            status = r["status"]
            finding = Text(r["summary"])
            if verbose:
                for detail in r.get("details") or []:
                    finding.append("\n  " + detail, style="dim")
                if r.get("traceback"):
                    finding.append("\n" + r["traceback"].rstrip(), style="dim magenta")
                finding.append(f"\n  ({r.get('elapsed_s', 0):.2f}s)", style="dim")
            table.add_row(
                Text(f"[{GLYPHS[status]}]", style=STYLES[status]),
                Text(r["title"]) + Text(f"\n{r['id']}", style="dim"),
                finding,
                Text(r.get("hint") or "", style="cyan"),
            )
    console.print(table)
    style = "bold red" if report["exit_code"] else "bold green"
    console.print(Text(closing_line(report), style=style))
    if not verbose and any(r.get("details") for r in report["results"] if r["status"] != "ok"):
        console.print(Text("run with --verbose for details", style="dim"))


def print_message(console: Console, message: str, hint: str | None = None, style: str = "bold red") -> None:
    console.print(Text(message, style=style))
    if hint:
        console.print(Text("hint: ", style="cyan") + Text(hint))
