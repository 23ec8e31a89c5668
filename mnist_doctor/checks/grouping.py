"""One result per loader: the engine's grouping of a per-loader check's parts.

A check that declares ``per_loader = True`` is run by the engine once for each selected loader
(``run`` asks for ``loader`` by name), and its parts become one result here: the worst status,
each loader that is not ok named in the summary, every loader's details and data under its
name, each failing loader's typed fixes (``--fix`` acts on that loader alone), the typed advice
of every loader that is not ok (failures first) and the links of the worst one
(``explained_by``). A check may regroup the parts itself (``group``), and use :func:`combine`
for the common part.
"""

from __future__ import annotations

from typing import Any

from mnist_doctor.model import Result, Status
from mnist_doctor.model import worst as worst_of


def combine(parts: list[tuple[str, Result]], shorts: dict[str, str] | None = None) -> Result:
    """One result from each loader's: worst status, non-ok loaders named, details and data per loader.

    ``shorts`` are briefer summaries for the combined line (the details keep the full ones).
    """
    shorts = shorts or {}
    worst = worst_of(r.status for _, r in parts)
    if worst == Status.SKIP or all(r.status in (Status.OK, Status.SKIP) for _, r in parts):
        worst = Status.OK if any(r.status == Status.OK for _, r in parts) else Status.SKIP
    not_ok = [(n, r) for n, r in parts if r.status != Status.OK]
    ok_names = [n for n, r in parts if r.status == Status.OK]
    pieces = [
        f"{n}: {r.status.value} — {shorts.get(n) or r.summary}"
        for n, r in sorted(not_ok, key=lambda x: -x[1].status.severity)
    ]
    if ok_names:
        pieces.append("load_data works for " + ", ".join(ok_names))
    details = [f"{n}: {r.status.value} — {r.summary}" for n, r in parts]
    # One probe process ran every loader: a line they share (its stderr tail) is shown once.
    first_said: dict[str, str] = {}
    for n, r in parts:
        for d in r.details:
            said = first_said.setdefault(d, n)
            details.append(f"  {n}: {d}" if said == n else f"  {n}: (a line the same as {said}'s above)")
    hints = list(dict.fromkeys(f"{n}: {r.hint}" for n, r in not_ok if r.hint and r.status != Status.SKIP))
    hints += list(dict.fromkeys(f"{n}: {r.hint}" for n, r in not_ok if r.hint and r.status == Status.SKIP))
    first_bad = next((r for _, r in sorted(not_ok, key=lambda x: -x[1].status.severity)), None)
    data: dict[str, Any] = {
        "datasets": {n: {"status": r.status.value, "summary": r.summary, **r.data} for n, r in parts},
        "succeeded": bool(parts) and all(r.status == Status.OK for _, r in parts),
    }
    if first_bad is not None and worst in (Status.FAIL, Status.WARN):
        for key in ("cause", "category", "cut_by_budget"):
            if key in first_bad.data:
                data[key] = first_bad.data[key]
    advice = [a for _, r in sorted(not_ok, key=lambda x: x[1].status == Status.SKIP) for a in r.advice]
    # Each failing loader's steps, each naming its loader (``--fix`` acts on that loader alone;
    # MNIST's name none): the same step from several loaders (an import failure's pip) once.
    fixes = {
        (fix.kind, fix.argv, fix.dataset): fix
        for _, r in sorted(not_ok, key=lambda x: -x[1].status.severity)
        if r.status in (Status.FAIL, Status.WARN)
        for fix in r.fixes
    }
    return Result(
        status=worst,
        summary="; ".join(pieces) or "no loader selected",
        details=details,
        hint="\n".join(hints) or None,
        data=data,
        fixes=tuple(fixes.values()),
        advice=tuple(dict.fromkeys(advice)),
        explained_by=first_bad.explained_by if first_bad is not None else (),
    )
