"""The fleet's answer on a terminal: the verdict, each cause with its hosts and fix, then what differs.

Reads the ``fleet`` document only (the dict :mod:`mnist_doctor.fleet.command` also prints as
JSON, already made safe) and prints through the redacting :class:`SafeConsole`. Fix commands get
full-width lines of their own, broken only between shell words, as in the single report.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from mnist_doctor.render import GLYPHS
from mnist_doctor.render.commands import wrap_command
from mnist_doctor.render.rich import print_prose
from mnist_doctor.text.output import plural

STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim", "error": "magenta"}
INDENT = "    "
#: Hosts named in one line, values of one drift, skipped inputs listed, before the rest is only
#: counted (``--verbose`` shows them all; ``--format json`` always has them all).
SHOWN_HOSTS = 8
SHOWN_VALUES = 6
SHOWN_SKIPPED = 10


def names(hosts: list[str], verbose: bool) -> str:
    """``a, b, c`` — or the first few and ``… and N more`` (all of them with ``--verbose``)."""
    if verbose or len(hosts) <= SHOWN_HOSTS:
        return ", ".join(hosts)
    return ", ".join(hosts[:SHOWN_HOSTS]) + f" … and {len(hosts) - SHOWN_HOSTS} more"


def _glyph(status: str) -> Text:
    return Text(f"[{GLYPHS.get(status, '?')}] ", style=STYLES.get(status, ""))


def _fix(console: Console, fix: dict[str, Any], several: bool, verbose: bool) -> None:
    label = "fix" + (f" on {names(fix['hosts'], verbose)}" if several else "")
    commands = fix.get("commands") or []
    if commands:
        console.print(Text(f"  {label}:", style="cyan"), soft_wrap=True)
    else:
        print_prose(console, fix.get("advice") or "", indent="  ", first=Text(f"{label}: ", style="cyan"))
    for command in commands:
        lines = wrap_command(command["command"], console.width, indent=INDENT)
        for i, line in enumerate(lines):
            text = Text(line, style="bold")
            if i == len(lines) - 1 and command.get("comment"):
                text.append(f"   # {command['comment']}", style="dim")
            console.print(text, soft_wrap=True)


def _causes(console: Console, doc: dict[str, Any], verbose: bool) -> None:
    for row in doc["causes"]:
        print_prose(console, f"{row['title']}", "bold", first=_glyph(row["status"]))
        hosts = row["hosts"]
        print_prose(console, f"{plural(len(hosts), 'host')}: {names(hosts, verbose)}", indent="  ")
        print_prose(console, f"cause: {row['cause']}", "dim", indent="  ")
        for fix in row["fixes"]:
            _fix(console, fix, len(row["fixes"]) > 1, verbose)
    healthy = doc["healthy"]
    if healthy:
        print_prose(
            console,
            f"healthy: {plural(len(healthy), 'host')} ({names(healthy, verbose)})",
            "green",
            first=_glyph("ok"),
        )


def _drift(console: Console, doc: dict[str, Any], verbose: bool) -> None:
    if not doc["drift"]:
        return
    console.print()
    console.print(Text("Drift across hosts", style="bold"))
    for row in doc["drift"]:
        shown = row["values"] if verbose else row["values"][:SHOWN_VALUES]
        values = "; ".join(f"{v['value']} on {names(v['hosts'], verbose)}" for v in shown)
        if len(shown) < len(row["values"]):
            values += f"; … and {plural(len(row['values']) - len(shown), 'other value')}"
        print_prose(console, values, indent="  ", first=Text(f"{row['label']}: ", style="bold"))


def _shared(console: Console, doc: dict[str, Any], verbose: bool) -> None:
    if not doc["shared_caches"]:
        return
    console.print()
    console.print(Text("Shared caches", style="bold"))
    for group in doc["shared_caches"]:
        print_prose(console, names(group["hosts"], verbose), "bold", first=_glyph("warn"))
        print_prose(console, group["advice"], indent="  ")


def _missing(console: Console, doc: dict[str, Any], verbose: bool) -> None:
    if doc["unanswered"]:
        console.print()
        console.print(Text("No report from", style="bold"))
        for item in doc["unanswered"]:
            print_prose(console, f"{item['name']}: {item['reason']}", first=_glyph("error"))
    if doc["skipped"]:
        console.print()
        console.print(Text("Inputs skipped", style="bold"))
        shown = doc["skipped"] if verbose else doc["skipped"][:SHOWN_SKIPPED]
        for item in shown:
            print_prose(console, f"{item['source']} {item['reason']}", "dim", indent="  ")
        if len(shown) < len(doc["skipped"]):
            more = plural(len(doc["skipped"]) - len(shown), "more input")
            print_prose(console, f"… and {more} (--verbose lists them)", "dim", indent="  ")


def _hosts(console: Console, doc: dict[str, Any]) -> None:
    console.print()
    console.print(Text("Hosts", style="bold"))
    for host in doc["hosts"]:
        status = "ok" if host["exit_code"] == 0 else "fail"
        print_prose(console, f"{host['name']} ({host['source']}): {host['headline']}", first=_glyph(status))


def render_fleet_rich(doc: dict[str, Any], console: Console, verbose: bool = False) -> None:
    """The whole answer; ``verbose`` names every host and lists each host's own headline."""
    counted = plural(len(doc["hosts"]), "host") + (
        f", {plural(len(doc['unanswered']), 'machine')} without a report" if doc["unanswered"] else ""
    )
    console.print(Text(f"mnist-doctor fleet — {counted}", style="bold"))
    console.print()
    style = {"ok": "bold green", "warn": "bold yellow"}.get(doc["verdict"], "bold red")
    print_prose(console, doc["headline"], style, first=Text("Verdict: ", style="bold"))
    console.print()
    _causes(console, doc, verbose)
    _drift(console, doc, verbose)
    _shared(console, doc, verbose)
    _missing(console, doc, verbose)
    if verbose:
        _hosts(console, doc)
    console.print()
    console.print(
        Text(f"exit code {doc['exit_code']}", style="bold red" if doc["exit_code"] else "bold green")
    )
