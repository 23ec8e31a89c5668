"""The diagnosis in a few lines: the root causes, each with its evidence and its fix.

A single problem is usually seen by several checks: on an offline machine ``network.dns``
fails, ``load.real`` fails with cause ``dns`` (category ``network``) and ``load.consistency``
says they agree. The reader needs one problem ("no route to storage.googleapis.com (DNS)")
with one fix, not three rows to reconcile. :func:`summarize` reads the report's result
dicts (so it works on any report, plugins included) and folds each failure that is only a
consequence of another into that one's evidence, following the links the checks set when they
knew them (``explained_by``: ``load.real`` names the families its cause's category points at,
a network stage the stage that failed first, ``runtime.import`` the compat check its cause is
about); ``load.consistency`` saying they agree joins the evidence.

Computed once in :mod:`mnist_doctor.pipeline.report` and stored in the report as ``"diagnosis"``;
renderers only read it. The fixes are numbered here, so every format numbers them alike.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.model import shell_join
from mnist_doctor.text.output import plural

BAD = ("fail", "error")
#: Titles for a failed network stage, in the reader's words.
STAGE_TITLES = {
    "dns": "no route to {host} (DNS)",
    "tcp": "{host} cannot be reached (TCP connection)",
    "connect": "the proxy does not open a tunnel to {host}",
    "tls": "the TLS connection to {host} fails",
    "http": "{host} does not serve the dataset (HTTP)",
}


def _host(result: dict[str, Any]) -> str:
    data = result.get("data") or {}
    record = data.get("record") if isinstance(data.get("record"), dict) else {}
    host = record.get("host") if record else None
    if not host and isinstance(data.get("origin"), str):
        try:
            host = urlsplit(data["origin"]).hostname
        except ValueError:  # a malformed --origin is reported by its own check
            host = None
    return str(host or MNIST.host)


def _explained_by(result: dict[str, Any], chosen: list[dict[str, Any]]) -> str | None:
    """The id of the failure this one is a consequence of, or None when it is a root cause.

    The first of the result's ``explained_by`` links (a check id, or a family: any check of it)
    that another chosen result answers, in the report's order.
    """
    links = result.get("explained_by")
    if not isinstance(links, list):
        return None
    others = [r for r in chosen if r["id"] != result["id"]]
    for link in links:
        for other in others:
            if link in (other["id"], other["family"]):
                return str(other["id"])
    return None


def cause_name(root: dict[str, Any]) -> str:
    """A problem's name, the same on every machine that has it: the root check's id, with the
    cause it named when it named one (``load.real:dns``, ``runtime.import:numpy-abi``).

    Titles quote paths, bytes and versions, so they differ between machines with one problem;
    ``mnist-doctor fleet`` groups hosts by this name.
    """
    data = root.get("data") or {}
    named = data.get("cause") or data.get("diagnosis") if isinstance(data, dict) else None
    return f"{root['id']}:{named}" if isinstance(named, str) and named else str(root["id"])


def _root(rid: str, parents: dict[str, str]) -> str:
    seen = {rid}
    while rid in parents and parents[rid] not in seen:
        rid = parents[rid]
        seen.add(rid)
    return rid


def _title(root: dict[str, Any]) -> str:
    data = root.get("data") or {}
    stage = data.get("stage")
    silent = data.get("silent")
    if root["family"] == "network" and isinstance(silent, dict) and silent.get("address"):
        who = "the proxy at" if silent.get("party") == "proxy" else "the dataset host"
        return f"{who} {silent['address']} accepts connections and never answers"
    if root["family"] == "network" and stage in STAGE_TITLES and data.get("failed_stage") in (None, stage):
        return STAGE_TITLES[stage].format(host=_host(root))
    return str(root.get("summary") or root["id"])


def _explanation(root: dict[str, Any], evidence: list[dict[str, Any]]) -> str | None:
    """One line: what the root check saw, and whether ``load_data()`` itself failed the same way."""
    title = _title(root)
    said = str(root.get("summary") or "")
    details = [d for d in root.get("details") or [] if isinstance(d, str) and d.strip()]
    line = said if said and said != title else (details[0].strip() if details else "")
    real = next((e for e in evidence if e["id"] == "load.real"), None)
    if real is not None and root["id"] != "load.real":
        line += ("; " if line else "") + "the real load_data() fails the same way"
    return line or None


def _fixes_line(row: dict[str, Any]) -> str | None:
    """A row's typed ``fixes`` as the one line ``--fix`` runs (each argv quoted as the hint shows it)."""
    fixes = row.get("fixes")
    if not isinstance(fixes, list) or not fixes:
        return None
    argvs = [fix.get("argv") if isinstance(fix, dict) else None for fix in fixes]
    if not all(isinstance(a, list) and a and all(isinstance(w, str) for w in a) for a in argvs):
        return None
    return " && ".join(shell_join(argv) for argv in argvs if argv)


def _commands(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The lines to paste for one result, all typed: its ``fixes`` (what ``--fix`` runs) first,
    then its ``advice`` (the other commands its hint names). A hint is never read for commands."""
    out: dict[str, dict[str, Any]] = {}
    line = _fixes_line(row)
    if line is not None:
        out[line] = {"command": line, "comment": None}
    advice = row.get("advice")
    for item in advice if isinstance(advice, list) else []:
        command = item.get("command") if isinstance(item, dict) else None
        if isinstance(command, str) and command.strip():
            comment = item.get("comment")
            out.setdefault(
                command, {"command": command, "comment": comment if isinstance(comment, str) else None}
            )
    return list(out.values())


def _fix_from(rows: list[dict[str, Any]], number: int) -> dict[str, Any] | None:
    """The first of ``rows`` (root first) that names a fix: its commands and its advice.

    The typed ``fixes`` come first (what ``--fix`` runs); the typed ``advice`` (an alternative,
    "or upgrade: ...") follows it.
    """
    for row in rows:
        hint = row.get("hint")
        commands = _commands(row)
        if not hint and not commands:
            continue
        return {
            "number": number,
            "check": row["id"],
            "advice": hint or "",
            "commands": commands,
            "runs_with_fix": _fixes_line(row) is not None,
        }
    return None


def _problems(
    results: list[dict[str, Any]], statuses: tuple[str, ...], fixes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    by_id = {r["id"]: r for r in results}
    chosen = [r for r in results if r["status"] in statuses]
    parents = {r["id"]: p for r in chosen if (p := _explained_by(r, chosen))}
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in chosen:
        groups.setdefault(_root(r["id"], parents), []).append(r)
    consistency = by_id.get("load.consistency")
    problems = []
    for root_id, members in groups.items():
        root = by_id[root_id]
        evidence = [root] + [m for m in members if m["id"] != root_id]
        ids = [e["id"] for e in evidence]
        agrees = (
            consistency is not None
            and "load.real" in ids
            and consistency["status"] == "ok"
            and str(consistency.get("summary", "")).startswith("agree")
        )
        if agrees and consistency is not None:
            ids.append(consistency["id"])
        fix = _fix_from(evidence, len(fixes) + 1)
        if fix is not None:
            fixes.append(fix)
        problems.append(
            {
                "status": "error" if root["status"] == "error" else root["status"],
                "cause": cause_name(root),
                "title": _title(root),
                "explanation": _explanation(root, evidence),
                "checks": ids,
                "fix": fix["number"] if fix else None,
            }
        )
    return problems


def _load_line(by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What to say about ``load_data()`` itself when nothing failed."""
    real = by_id.get("load.real")
    if real is None:
        return {"state": "not-run", "text": "load_data() itself was not run (not selected)"}
    data = real.get("data") or {}
    if real["status"] == "ok":
        took = data.get("elapsed_s")
        timing = f" (it took {took:.1f} s)" if isinstance(took, (int, float)) else ""
        return {"state": "works", "text": f"`load_data()` works here{timing}", "elapsed_s": took}
    if real["status"] == "skip" and data.get("read_only") and data.get("verdict") == "missing":
        offline = "--offline" in str(real.get("summary") or "")
        why = "the network was not used (--offline)" if offline else "nothing may change (--dry-run)"
        downloads = data.get("downloads") or {}
        if downloads:  # several loaders: what each host must deliver
            what = "; ".join(f"{', '.join(names)} from {host}" for host, names in downloads.items())
            return {
                "state": "needs-download",
                "text": f"the `load_data()` calls will need to download {what}; {why}, so that was not "
                "tried. They will work once the files are downloaded — or seed them",
            }
        mb = f"{MNIST.size / 1e6:.1f} MB"
        return {
            "state": "needs-download",
            "text": f"`load_data()` will need to download {MNIST.file_name} ({mb}) from {MNIST.host}; "
            f"{why}, so that was not tried. It will work once the file is downloaded — or seed it",
        }
    if real["status"] == "skip":
        return {"state": "not-run", "text": f"load_data() was not run: {real.get('summary')}"}
    return {"state": real["status"], "text": str(real.get("summary") or "")}


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``"diagnosis"`` block of the report (see docs/json.md)."""
    by_id = {r["id"]: r for r in results}
    fixes: list[dict[str, Any]] = []
    problems = _problems(results, BAD, fixes)
    warnings = _problems(results, ("warn",), fixes)
    load = _load_line(by_id)
    if problems:
        verdict = "fail"
        headline = (
            plural(len(problems), "problem")
            + " to fix"
            + (": load_data() fails here" if load["state"] == "fail" else "")
        )
    else:
        verdict = "warn" if warnings else "ok"
        headline = load["text"]
        if load["state"] == "needs-download":
            fix = _fix_from([by_id["load.real"]], len(fixes) + 1)
            if fix is not None:
                fixes.append(fix)
                load["fix"] = fix["number"]
        if warnings:
            headline += " — " + plural(len(warnings), "warning") + " below"
    return {
        "verdict": verdict,
        "headline": headline,
        "load_data": load,
        "problems": problems,
        "warnings": warnings,
        "fixes": fixes,
    }
