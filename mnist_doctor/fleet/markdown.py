"""The fleet's answer in Markdown, for an issue or a job's summary: a cause table, then the fixes.

Reads the ``fleet`` document only. Fix commands go in fenced ``sh`` blocks (copyable whole);
table cells carry names and a "fix N" reference, escaped so no value can break the table.
"""

from __future__ import annotations

from typing import Any

_EMOJI = {"ok": "✅", "warn": "⚠️", "fail": "❌", "error": "💥"}


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


def _drift(doc: dict[str, Any]) -> list[str]:
    if not doc["drift"]:
        return []
    out = ["#### Drift across hosts", "", "| What | Value | Hosts |", "|---|---|---|"]
    for row in doc["drift"]:
        for value in row["values"]:
            out.append(
                f"| {_cell(row['label'])} | `{_cell(value['value'])}` | {_cell(', '.join(value['hosts']))} |"
            )
    return [*out, ""]


def _shared(doc: dict[str, Any]) -> list[str]:
    if not doc["shared_caches"]:
        return []
    out = ["#### Shared caches", ""]
    for group in doc["shared_caches"]:
        out.append(f"- {_EMOJI['warn']} **{_cell(', '.join(group['hosts']))}** — {_cell(group['advice'])}")
    return [*out, ""]


def _missing(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if doc["unanswered"]:
        out += ["#### Did not answer", ""]
        out += [
            f"- {_EMOJI['error']} **{_cell(u['name'])}**: {_cell(u['reason'])}" for u in doc["unanswered"]
        ]
        out.append("")
    if doc["skipped"]:
        out += ["#### Inputs skipped", ""]
        out += [f"- `{_cell(s['source'])}` {_cell(s['reason'])}" for s in doc["skipped"]]
        out.append("")
    return out


def render_fleet_markdown(doc: dict[str, Any], verbose: bool = False) -> str:
    out = ["### mnist-doctor fleet", "", f"**{_cell(doc['headline'])}**", ""]
    out += _causes(doc)
    if doc["healthy"]:
        out += [f"{_EMOJI['ok']} healthy: {_cell(', '.join(doc['healthy']))}", ""]
    out += _drift(doc) + _shared(doc) + _missing(doc)
    if verbose and doc["hosts"]:
        out += ["#### Hosts", "", "| Host | Source | Exit | Headline |", "|---|---|---|---|"]
        for h in doc["hosts"]:
            out.append(
                f"| {_cell(h['name'])} | `{_cell(h['source'])}` | {h['exit_code']} | {_cell(h['headline'])} |"
            )
        out.append("")
    out += [f"**exit code {doc['exit_code']}**", ""]
    return "\n".join(out)
