"""Renderers read the report dict (see :mod:`mnist_doctor.report`) and nothing else."""

from __future__ import annotations

from typing import Any

GLYPHS = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-", "error": "☠"}
WORDS = {"ok": "passed", "warn": "warnings", "fail": "failed", "skip": "skipped", "error": "crashed"}


def closing_line(report: dict[str, Any]) -> str:
    """``N passed, N warnings, N failed, N skipped`` (+ crashed checks when there are any)."""
    c = report["counts"]
    line = f"{c['ok']} passed, {c['warn']} warnings, {c['fail']} failed, {c['skip']} skipped"
    if c.get("error"):
        line += f", {c['error']} crashed"
    return line


def header_lines(report: dict[str, Any]) -> list[str]:
    env = report["environment"]
    tool = report["tool"]
    lines = [
        f"{tool['name']} {tool['version']} — examining {env.get('target_python')}"
        + (
            f" (Python {env['python_version']}, {env.get('platform', '')})"
            if env.get("python_version")
            else ""
        )
    ]
    pkgs = env.get("packages") or {}
    if pkgs:
        tf_names = [k for k in pkgs if k.startswith(("tensorflow", "tf-nightly", "intel-tensorflow"))]
        shown = [f"{k} {pkgs[k]}" for k in tf_names if pkgs.get(k)] or ["no TensorFlow"]
        shown += [f"{k} {pkgs[k]}" for k in ("numpy", "keras", "tf-keras") if pkgs.get(k)]
        flavour = env.get("keras_flavour") or {}
        if flavour.get("reason") and flavour.get("kind"):
            shown.append(flavour["reason"])
        lines.append(" · ".join(shown))
    if env.get("origin"):
        lines.append(
            f"dataset origin: {env['origin']}"
            + ("  (offline: network checks skipped)" if env.get("offline") else "")
        )
    return lines
