"""Markdown renderer: paste-ready for a GitHub issue (a bug report with the environment)."""

from __future__ import annotations

from typing import Any

from mnist_doctor.render import GLYPHS, closing_line, header_lines

_EMOJI = {"ok": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️", "error": "💥"}


def _cell(text: str | None) -> str:
    if not text:
        return ""
    return text.replace("|", "\\|").replace("\n", "<br>")


def _code(text: str | None) -> str:
    if not text:
        return ""
    return (
        "<code>"
        + text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "&#124;")
        .replace("\n", "<br>")
        + "</code>"
    )


def render_markdown(report: dict[str, Any], verbose: bool = False) -> str:
    out = ["### mnist-doctor report", ""]
    out += [f"- {line}" for line in header_lines(report)]
    out += ["", "| | Check | Finding | Hint |", "|---|---|---|---|"]
    for r in report["results"]:
        finding = _cell(r["summary"])
        if verbose and r.get("details"):
            finding += "<br>" + "<br>".join(_cell(d) for d in r["details"])
        out.append(
            f"| {_EMOJI.get(r['status'], GLYPHS.get(r['status'], '?'))} | `{r['id']}` | {finding} | "
            f"{_code(r.get('hint'))} |"
        )
    out += ["", f"**{closing_line(report)}** (exit code {report['exit_code']})", ""]
    env = report["environment"]
    out += ["<details><summary>Environment</summary>", "", "```"]
    for key, value in env.items():
        out.append(f"{key}: {value}")
    out += ["```", "", "</details>", ""]
    return "\n".join(out)
