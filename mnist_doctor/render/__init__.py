"""Renderers read the report dict (see :mod:`mnist_doctor.pipeline.report`) and nothing else."""

from __future__ import annotations

from typing import Any

from mnist_doctor.datasets.table import DEFAULT_DATASETS
from mnist_doctor.text.output import plural

GLYPHS = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-", "error": "☠"}
WORDS = {"ok": "passed", "warn": "warnings", "fail": "failed", "skip": "skipped", "error": "crashed"}


def closing_line(report: dict[str, Any]) -> str:
    """``N passed, 1 warning, N failed, N skipped`` (+ crashed checks when there are any)."""
    c = report["counts"]
    line = f"{c['ok']} passed, {plural(c['warn'], 'warning')}, {c['fail']} failed, {c['skip']} skipped"
    if c.get("error"):
        line += f", {c['error']} crashed"
    return line


def fix_refs(report: dict[str, Any]) -> dict[str, int]:
    """Check id → the number of the fix that covers it (problems and warnings of the diagnosis)."""
    diagnosis = report.get("diagnosis") or {}
    refs: dict[str, int] = {}
    for problem in (diagnosis.get("problems") or []) + (diagnosis.get("warnings") or []):
        if problem.get("fix"):
            for check_id in problem.get("checks") or []:
                refs.setdefault(check_id, problem["fix"])
    load = diagnosis.get("load_data") or {}
    if load.get("fix"):
        refs.setdefault("load.real", load["fix"])
    return refs


def runs_with_fix_note(commands: int) -> str:
    """Said under a fix whose first command is a typed fix (``runs_with_fix``): ``--fix`` runs it."""
    return f"mnist-doctor --fix can run {'it' if commands == 1 else 'the first one'} for you"


def fold_skips(rows: list[dict[str, Any]]) -> list[dict[str, Any] | tuple[str, list[dict[str, Any]]]]:
    """Rows, with each run of two or more identical skips (same summary) folded into one group."""
    out: list[dict[str, Any] | tuple[str, list[dict[str, Any]]]] = []
    i = 0
    while i < len(rows):
        j = i
        while (
            j + 1 < len(rows)
            and rows[i]["status"] == "skip"
            and rows[j + 1]["status"] == "skip"
            and rows[j + 1]["summary"] == rows[i]["summary"]
        ):
            j += 1
        if j > i:
            out.append((rows[i]["summary"], rows[i : j + 1]))
        else:
            out.append(rows[i])
        i = j + 1
    return out


def folded_text(family: str, summary: str, rows: list[dict[str, Any]]) -> str:
    """``6 network checks skipped: --offline: network checks are not run``."""
    return f"{plural(len(rows), family + ' check')} skipped: {summary}"


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
    offline = "  (offline: network checks skipped)" if env.get("offline") else ""
    datasets = env.get("datasets") or list(DEFAULT_DATASETS)
    if datasets != list(DEFAULT_DATASETS):  # --dataset: the loaders examined (their origins are in the table)
        lines.append(f"datasets: {', '.join(datasets)}{offline}")
    elif env.get("origin"):
        lines.append(f"dataset origin: {env['origin']}{offline}")
    return lines
