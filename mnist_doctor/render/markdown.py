"""Markdown renderer: paste-ready for a GitHub issue — the diagnosis, its fixes, the evidence table.

Fix commands go in fenced ``sh`` blocks (copyable whole, never wrapped); table cells carry
only findings and a short "fix N" reference, so nothing in a cell needs to be pasted.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from mnist_doctor.render import (
    GLYPHS,
    closing_line,
    fix_refs,
    fold_skips,
    folded_text,
    header_lines,
    runs_with_fix_note,
)

_EMOJI = {"ok": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️", "error": "💥"}


def cell(text: object) -> str:
    """``text`` safe inside a table cell: its pipes escaped, its line breaks as ``<br>``."""
    return str(text or "").replace("|", "\\|").replace("\n", "<br>")


def fence(lines: list[str], lang: str = "sh") -> list[str]:
    """A fenced block long enough that no line inside can close it."""
    ticks = "```"
    while any(ticks in line for line in lines):
        ticks += "`"
    return [ticks + lang, *lines, ticks]


def _fix(fix: dict[str, Any]) -> list[str]:
    out = [
        f"**Fix {fix['number']}** (`{fix['check']}`)"
        + (f": {cell(fix['advice'])}" if fix.get("advice") else "")
    ]
    commands = [
        c["command"] + (f"   # {c['comment']}" if c.get("comment") else "") for c in fix.get("commands") or []
    ]
    if commands:
        out += ["", *fence(commands)]
        if fix.get("runs_with_fix"):
            out += ["", f"_{runs_with_fix_note(len(commands))}._"]
    return [*out, ""]


def render_diagnosis(report: dict[str, Any]) -> list[str]:
    diagnosis = report.get("diagnosis")
    if not diagnosis:
        return []
    fixes = {f["number"]: f for f in diagnosis.get("fixes") or []}
    out = ["#### Diagnosis", "", f"**{cell(diagnosis['headline'])}**", ""]
    for kind in ("problems", "warnings"):
        for problem in diagnosis.get(kind) or []:
            line = f"- {_EMOJI.get(problem['status'], '?')} **{cell(problem['title'])}**"
            if problem.get("explanation"):
                line += f" — {cell(problem['explanation'])}"
            line += " (" + ", ".join(f"`{c}`" for c in problem["checks"]) + ")"
            if problem.get("fix"):
                line += f" → fix {problem['fix']}"
            out.append(line)
    out.append("")
    for number in sorted(fixes):
        out += _fix(fixes[number])
    return out


def render_markdown(report: dict[str, Any], verbose: bool = False, title: str | None = None) -> str:
    out = ["### mnist-doctor report" + (f" ({title})" if title else ""), ""]
    out += [f"- {line}" for line in header_lines(report)]
    out += ["", *render_diagnosis(report), "#### Checks", ""]
    refs = fix_refs(report)
    out += ["| | Check | Finding | Fix |", "|---|---|---|---|"]
    for family, group in groupby(report["results"], key=lambda r: r["family"]):
        for item in list(group) if verbose else fold_skips(list(group)):
            if isinstance(item, tuple):
                summary, rows = item
                ids = ", ".join(f"`{r['id']}`" for r in rows)
                out.append(f"| {_EMOJI['skip']} | {ids} | {cell(folded_text(family, summary, rows))} | |")
                continue
            finding = cell(item["summary"])
            if verbose and item.get("details"):
                finding += "<br>" + "<br>".join(cell(d) for d in item["details"])
            ref = f"fix {refs[item['id']]}" if item["id"] in refs else ""
            glyph = _EMOJI.get(item["status"], GLYPHS.get(item["status"], "?"))
            out.append(f"| {glyph} | `{item['id']}` | {finding} | {ref} |")
    out += ["", f"**{closing_line(report)}** (exit code {report['exit_code']})", ""]
    env = report["environment"]
    out += ["<details><summary>Environment</summary>", ""]
    out += fence([f"{key}: {value}" for key, value in env.items()], "")
    out += ["", "</details>", ""]
    return "\n".join(out)


def render_actions(mode: str, actions: list[dict[str, Any]], exit_code: int) -> str:
    """An action's messages (``--clear-cache``, ``--seed``, ``--fetch``, ``--fix``) as a text block."""
    out = [f"### mnist-doctor --{mode}", ""]
    for step in actions:
        out += fence(step.get("messages") or ["(no output)"], "text")
        out.append("")
    out += [f"**exit code {exit_code}**", ""]
    return "\n".join(out)


def render_check_list(rows: list[dict[str, Any]], broken: list[dict[str, Any]]) -> str:
    """``--list-checks --format markdown``: one table row per check."""
    out = ["### mnist-doctor checks", "", "| Check | Title | Notes |", "|---|---|---|"]
    for row in rows:
        notes = [word for word, on in (("network", row["network"]), ("slow", row["slow"])) if on]
        if row["requires"]:
            notes.append("requires " + ", ".join(f"`{r}`" for r in row["requires"]))
        notes_text = ", ".join(notes)
        out.append(f"| `{row['id']}` | {cell(row['title'])} | {notes_text} |")
    for b in broken:
        out.append(f"| `plugin.{b['entry_point']}` | failed to load: {cell(str(b['error']))} | |")
    return "\n".join(out) + "\n"
