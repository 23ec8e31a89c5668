"""From an input's bytes to :class:`~mnist_doctor.fleet.model.HostReport` records: the reading boundary.

An input holds one report (``--format json > host.json``) or several written one after the other
(``srun … --format json > all.json``, ``for h in …; do ssh $h …; done | mnist-doctor fleet -``).
Each document is checked before anything of it is used: it must be an ``mnist-doctor`` document
of a schema this version reads (:data:`mnist_doctor.report.SCHEMA`; a newer one is named, with
the advice to upgrade), a diagnosis (``diagnose``, or ``fix`` whose re-run is the state now), and
every field the merge compares must have its documented type (docs/json.md). Anything else is a
:class:`~mnist_doctor.fleet.model.Skipped` naming the input and the reason — never an exception:
text that is not UTF-8, not JSON, nested beyond the parser's depth, or a number too long to read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mnist_doctor.fleet.model import CacheSite, Command, Fix, HostReport, Problem, Skipped
from mnist_doctor.pipeline.report import SCHEMA
from mnist_doctor.pipeline.summary import cause_name

#: Documents read from one input at most.
MAX_DOCUMENTS = 10_000
#: JSON values (counted by their commas and brackets, before parsing) one input may hold: a verbose
#: report has ~1000, so this is a thousand reports — and at most ~70 MB once parsed, where 16 MB of
#: ``[[],[],…]`` would take 400 MB.
MAX_VALUES = 1_000_000
#: Characters kept of a text a report gives (a title, an explanation, a command).
TEXT_CAP = 2000
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_WHITESPACE = " \t\n\r"


class NotAReport(ValueError):
    """A document that is not a report this version reads; the message says why."""


def decode(data: bytes) -> str:
    """The text of an input: UTF-8, or UTF-16 with its byte-order mark (PowerShell's ``>`` writes that)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding)
    return data.decode("utf-8")


def documents(text: str) -> Iterator[Any]:
    """The JSON documents in ``text``, one after the other; raises ValueError at the first bad one."""
    decoder = json.JSONDecoder()
    at, count = 0, 0
    while True:
        while at < len(text) and text[at] in _WHITESPACE:
            at += 1
        if at >= len(text):
            return
        if count >= MAX_DOCUMENTS:
            raise ValueError(f"more than {MAX_DOCUMENTS} documents")
        try:
            value, at = decoder.raw_decode(text, at)
        except RecursionError:
            raise ValueError("nested too deeply to be a report") from None
        count += 1
        yield value


def read_input(source: str, data: bytes) -> list[HostReport | Skipped]:
    """Every report in one input's bytes (``source#2`` for the second of several), or why not."""
    if not data.strip():
        return [Skipped(source, "is empty")]
    if data.count(b",") + data.count(b"[") + data.count(b"{") > MAX_VALUES:
        return [Skipped(source, f"holds more than {MAX_VALUES} values: not reports")]
    try:
        text = decode(data)
    except UnicodeDecodeError as exc:
        return [
            Skipped(source, f"is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})")
        ]
    found: list[Any] = []
    failure: str | None = None
    try:
        for value in documents(text):
            found.append(value)
    except ValueError as exc:  # JSONDecodeError, too deep, a number too long (int max str digits)
        failure = f"is not JSON ({_short(str(exc), 200)})" if not found else f"then not JSON ({exc})"
    pieces = len(found) + (1 if failure is not None and found else 0)
    many = pieces > 1
    out: list[HostReport | Skipped] = []
    for index, value in enumerate(found, 1):
        name = f"{source}#{index}" if many else source
        try:
            out.append(host_report(value, name))
        except NotAReport as exc:
            out.append(Skipped(name, str(exc)))
    if failure is not None:
        out.append(Skipped(f"{source}#{len(found) + 1}" if found else source, failure))
    return out


def _short(text: str, limit: int = TEXT_CAP) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(block: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = block.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        wanted = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise NotAReport(f"is not a report this version reads: {where}{key} is not {_article(wanted)}")
    return value


def _article(name: str) -> str:
    words = {"dict": "an object", "list": "a list", "str": "a text", "int": "an integer", "NoneType": "null"}
    return " or ".join(words.get(n, n) for n in name.split(" or "))


def _text(value: Any) -> str | None:
    return _short(value) if isinstance(value, str) else None


def _diagnosis_document(doc: Any) -> dict[str, Any]:
    """The document whose fields describe the host now, after the checks that say what it is."""
    if not isinstance(doc, dict):
        raise NotAReport(f"is not a report (a JSON {type(doc).__name__.replace('dict', 'object')})")
    tool = doc.get("tool")
    if not isinstance(tool, dict) or tool.get("name") != "mnist-doctor":
        raise NotAReport("is not an mnist-doctor report (no tool.name mnist-doctor)")
    schema = doc.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise NotAReport("is not an mnist-doctor report (no schema number)")
    if schema > SCHEMA:
        raise NotAReport(
            f"has schema {schema}, newer than this mnist-doctor reads ({SCHEMA}): upgrade mnist-doctor here"
        )
    if schema < SCHEMA:
        raise NotAReport(f"has schema {schema} (an older mnist-doctor, no diagnosis): run it again there")
    mode = doc.get("mode")
    if mode == "fix" and isinstance(doc.get("after"), dict):
        after: dict[str, Any] = doc["after"]
        return after  # the re-run after the fixes: the state the host is in now
    if mode == "fleet":
        raise NotAReport("is a fleet summary, not one host's report")
    if mode not in ("diagnose", "fix"):
        raise NotAReport(f"is not a diagnosis (mode {_short(str(mode), 40)}): run mnist-doctor --format json")
    return doc


def _problems(diagnosis: dict[str, Any], results: list[Any]) -> tuple[Problem, ...]:
    fixes: dict[int, Fix] = {}
    for item in _field(diagnosis, "fixes", list, "diagnosis."):
        if isinstance(item, dict) and isinstance(item.get("number"), int):
            commands = tuple(
                Command(
                    _short(c["command"]),
                    _short(c["comment"], 200) if isinstance(c.get("comment"), str) else None,
                )
                for c in item.get("commands") or []
                if isinstance(c, dict) and isinstance(c.get("command"), str) and c["command"]
            )
            fixes[item["number"]] = Fix(_text(item.get("advice")) or "", commands)
    rows = {r["id"]: r for r in results if isinstance(r, dict) and isinstance(r.get("id"), str)}
    found = []
    for kind in ("problems", "warnings"):
        for item in _field(diagnosis, kind, list, "diagnosis."):
            if not isinstance(item, dict):
                raise NotAReport(
                    f"is not a report this version reads: a diagnosis.{kind} entry is not an object"
                )
            status = _field(item, "status", str, f"diagnosis.{kind}[].")
            title = _field(item, "title", str, f"diagnosis.{kind}[].")
            checks = [c for c in _field(item, "checks", list, f"diagnosis.{kind}[].") if isinstance(c, str)]
            cause = item.get("cause")
            if not isinstance(cause, str) or not cause:  # a report made before problems named their cause
                if not checks:
                    raise NotAReport(
                        f"is not a report this version reads: a diagnosis.{kind} entry names no check"
                    )
                cause = cause_name(rows.get(checks[0]) or {"id": checks[0]})
            number = item.get("fix")
            found.append(
                Problem(
                    cause=_short(cause, 200),
                    status=_short(status, 20),
                    title=_short(title),
                    explanation=_text(item.get("explanation")),
                    fix=fixes.get(number) if isinstance(number, int) else None,
                )
            )
    return tuple(found)


def _proxy(results: list[Any]) -> str | None:
    """The proxy urllib uses for the dataset ("" = direct), from ``proxy.effective``; None: not examined."""
    for row in results:
        if isinstance(row, dict) and row.get("id") == "proxy.effective" and row.get("status") == "ok":
            data = row.get("data")
            if isinstance(data, dict) and "proxy" in data:
                return _short(data["proxy"], 500) if isinstance(data["proxy"], str) else ""
    return None


def _cache(env: dict[str, Any]) -> CacheSite | None:
    block = env.get("cache")
    if not isinstance(block, dict) or not isinstance(block.get("path"), str):
        return None
    resolved = block.get("resolved")
    return CacheSite(
        path=_short(block["path"], 4096),
        resolved=_short(resolved, 4096) if isinstance(resolved, str) else _short(block["path"], 4096),
        fs_type=_text(block.get("fs_type")),
        network=block.get("network") is True,
        source=_text(block.get("source")),
        fs_path=_text(block.get("fs_path")),
        device=_text(block.get("device")),
    )


def host_report(doc: Any, source: str) -> HostReport:
    """One document as a :class:`HostReport`; :class:`NotAReport` says why it is not one."""
    report = _diagnosis_document(doc)
    env = _field(report, "environment", dict, "")
    diagnosis = _field(report, "diagnosis", dict, "")
    results = _field(report, "results", list, "")
    verdict = _field(diagnosis, "verdict", str, "diagnosis.")
    if verdict not in ("ok", "warn", "fail"):
        raise NotAReport(f"is not a report this version reads: diagnosis.verdict is {_short(verdict, 20)!r}")
    exit_code = _field(doc, "exit_code", int, "")
    packages = env.get("packages") if isinstance(env.get("packages"), dict) else {}
    return HostReport(
        host=_text(env.get("host")),
        source=source,
        exit_code=0 if exit_code == 0 else 1,
        verdict=verdict,
        headline=_short(_field(diagnosis, "headline", str, "diagnosis.")),
        problems=_problems(diagnosis, results),
        python=_text(env.get("python_version")),
        packages=tuple(
            sorted(
                (_short(k, 100), _short(v, 100) if isinstance(v, str) else None)
                for k, v in packages.items()
                if isinstance(k, str)
            )
        ),
        proxy=_proxy(results),
        cache=_cache(env),
        target_python=_text(env.get("target_python")),
    )
