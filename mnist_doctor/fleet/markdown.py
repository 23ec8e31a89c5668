"""The fleet's answer in Markdown, for an issue or a job's summary: a cause table, then the fixes.

Reads the ``fleet`` document only. Fix commands go in fenced ``sh`` blocks (copyable whole);
table cells carry names and a "fix N" reference, escaped so no value can break the table.
"""

from __future__ import annotations

from typing import Any

_EMOJI = {"ok": "✅", "warn": "⚠️", "fail": "❌", "error": "💥"}
#: Rows of one list or table before the rest is only counted (``--verbose``: all of them).
SHOWN_ROWS = 30


def _rows(rows: list[Any], verbose: bool) -> tuple[list[Any], str | None]:
    """The rows to show, and the line that counts the others (None: all shown)."""
    if verbose or len(rows) <= SHOWN_ROWS:
        return rows, None
    return rows[:SHOWN_ROWS], f"_… and {len(rows) - SHOWN_ROWS} more (`--verbose` lists them all)_"


def _cell(text: Any) -> str:
    return str(text or "").replace("|", "\\|").replace("\n", "<br>")


def _fence(lines: list[str], lang: str = "sh") -> list[str]:
    """A fenced block long enough that no line inside can close it."""
    ticks = "```"
    while any(ticks in line for line in lines):
        ticks += "`"
    return [ticks + lang, *lines, ticks]


def _causes(doc: dict[str, Any]) -> list[str]:
    if not doc["causes"]:
        return []
    out = ["| | Cause | Hosts | Fix |", "|---|---|---|---|"]
    fixes: list[tuple[int, str, dict[str, Any]]] = []
    for row in doc["causes"]:
        refs = []
        for fix in row["fixes"]:
            fixes.append((len(fixes) + 1, row["cause"], fix))
            refs.append(f"fix {len(fixes)}")
        emoji = _EMOJI.get(row["status"], "?")
        hosts = ", ".join(row["hosts"])
        what = f"{_cell(row['title'])} (`{_cell(row['cause'])}`)"
        out.append(f"| {emoji} | {what} | {_cell(hosts)} | {', '.join(refs)} |")
    out.append("")
    for number, cause, fix in fixes:
        where = ", ".join(fix["hosts"])
        advice = f": {_cell(fix['advice'])}" if fix.get("advice") and not fix.get("commands") else ""
        out += [f"**Fix {number}** (`{_cell(cause)}`, on {_cell(where)}){advice}", ""]
        commands = [
            c["command"] + (f"   # {c['comment']}" if c.get("comment") else "")
            for c in fix.get("commands") or []
        ]
        if commands:
            out += [*_fence(commands), ""]
    return out


def _drift(doc: dict[str, Any], verbose: bool) -> list[str]:
    if not doc["drift"]:
        return []
    out = ["#### Drift across hosts", "", "| What | Value | Hosts |", "|---|---|---|"]
    counted = []
    for row in doc["drift"]:
        values, more = _rows(row["values"], verbose)
        for value in values:
            out.append(
                f"| {_cell(row['label'])} | {_cell(value['value'])} | {_cell(', '.join(value['hosts']))} |"
            )
        if more:
            counted.append(f"{row['label']}: {more}")
    return [*out, "", *counted, ""] if counted else [*out, ""]


def _shared(doc: dict[str, Any]) -> list[str]:
    if not doc["shared_caches"]:
        return []
    out = ["#### Shared caches", ""]
    for group in doc["shared_caches"]:
        out.append(f"- {_EMOJI['warn']} **{_cell(', '.join(group['hosts']))}** — {_cell(group['advice'])}")
    return [*out, ""]


def _missing(doc: dict[str, Any], verbose: bool) -> list[str]:
    out: list[str] = []
    if doc["unanswered"]:
        out += ["#### No report from", ""]
        out += [
            f"- {_EMOJI['error']} **{_cell(u['name'])}**: {_cell(u['reason'])}" for u in doc["unanswered"]
        ]
        out.append("")
    if doc["skipped"]:
        out += ["#### Inputs skipped", ""]
        skipped, more = _rows(doc["skipped"], verbose)
        out += [f"- {_cell(s['source'])} {_cell(s['reason'])}" for s in skipped]
        out += [more, ""] if more else [""]
    return out


def render_fleet_markdown(doc: dict[str, Any], verbose: bool = False) -> str:
    out = ["### mnist-doctor fleet", "", f"**{_cell(doc['headline'])}**", ""]
    out += _causes(doc)
    if doc["healthy"]:
        out += [f"{_EMOJI['ok']} healthy: {_cell(', '.join(doc['healthy']))}", ""]
    out += _drift(doc, verbose) + _shared(doc) + _missing(doc, verbose)
    if verbose and doc["hosts"]:
        out += ["#### Hosts", "", "| Host | Source | Exit | Headline |", "|---|---|---|---|"]
        for h in doc["hosts"]:
            out.append(
                f"| {_cell(h['name'])} | `{_cell(h['source'])}` | {h['exit_code']} | {_cell(h['headline'])} |"
            )
        out.append("")
    out += [f"**exit code {doc['exit_code']}**", ""]
    return "\n".join(out)
