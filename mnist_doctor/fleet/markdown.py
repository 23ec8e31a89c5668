"""The fleet's answer in Markdown, for an issue or a job's summary: a cause table, then the fixes.

Reads the ``fleet`` document only. Fix commands go in fenced ``sh`` blocks (copyable whole);
table cells carry names and a "fix N" reference, escaped so no value can break the table.
"""

from __future__ import annotations

from typing import Any

from mnist_doctor.render.markdown import cell, fence

_EMOJI = {"ok": "✅", "warn": "⚠️", "fail": "❌", "error": "💥"}
#: Rows of one list or table before the rest is only counted (``--verbose``: all of them).
SHOWN_ROWS = 30


def _rows(rows: list[Any], verbose: bool) -> tuple[list[Any], str | None]:
    """The rows to show, and the line that counts the others (None: all shown)."""
    if verbose or len(rows) <= SHOWN_ROWS:
        return rows, None
    return rows[:SHOWN_ROWS], f"_… and {len(rows) - SHOWN_ROWS} more (`--verbose` lists them all)_"


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
        what = f"{cell(row['title'])} (`{cell(row['cause'])}`)"
        out.append(f"| {emoji} | {what} | {cell(hosts)} | {', '.join(refs)} |")
    out.append("")
    for number, cause, fix in fixes:
        where = ", ".join(fix["hosts"])
        advice = f": {cell(fix['advice'])}" if fix.get("advice") and not fix.get("commands") else ""
        out += [f"**Fix {number}** (`{cell(cause)}`, on {cell(where)}){advice}", ""]
        commands = [
            c["command"] + (f"   # {c['comment']}" if c.get("comment") else "")
            for c in fix.get("commands") or []
        ]
        if commands:
            out += [*fence(commands), ""]
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
                f"| {cell(row['label'])} | {cell(value['value'])} | {cell(', '.join(value['hosts']))} |"
            )
        if more:
            counted.append(f"{row['label']}: {more}")
    return [*out, "", *counted, ""] if counted else [*out, ""]


def _shared(doc: dict[str, Any]) -> list[str]:
    if not doc["shared_caches"]:
        return []
    out = ["#### Shared caches", ""]
    for group in doc["shared_caches"]:
        out.append(f"- {_EMOJI['warn']} **{cell(', '.join(group['hosts']))}** — {cell(group['advice'])}")
    return [*out, ""]


def _missing(doc: dict[str, Any], verbose: bool) -> list[str]:
    out: list[str] = []
    if doc["unanswered"]:
        out += ["#### No report from", ""]
        out += [f"- {_EMOJI['error']} **{cell(u['name'])}**: {cell(u['reason'])}" for u in doc["unanswered"]]
        out.append("")
    if doc["skipped"]:
        out += ["#### Inputs skipped", ""]
        skipped, more = _rows(doc["skipped"], verbose)
        out += [f"- {cell(s['source'])} {cell(s['reason'])}" for s in skipped]
        out += [more, ""] if more else [""]
    return out


def render_fleet_markdown(doc: dict[str, Any], verbose: bool = False) -> str:
    out = ["### mnist-doctor fleet", "", f"**{cell(doc['headline'])}**", ""]
    out += _causes(doc)
    if doc["healthy"]:
        out += [f"{_EMOJI['ok']} healthy: {cell(', '.join(doc['healthy']))}", ""]
    out += _drift(doc, verbose) + _shared(doc) + _missing(doc, verbose)
    if verbose and doc["hosts"]:
        out += ["#### Hosts", "", "| Host | Source | Exit | Headline |", "|---|---|---|---|"]
        for h in doc["hosts"]:
            out.append(
                f"| {cell(h['name'])} | `{cell(h['source'])}` | {h['exit_code']} | {cell(h['headline'])} |"
            )
        out.append("")
    out += [f"**exit code {doc['exit_code']}**", ""]
    return "\n".join(out)
