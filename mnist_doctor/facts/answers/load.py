"""The load probe's answer, read once by shape into a typed outcome per loader.

``target/load_probe.py`` runs in the examined interpreter, so its answer is input like any other:
every value the doctor reads is checked against the shape the script emits (:data:`ANSWER`, in
the vocabulary of :mod:`mnist_doctor.facts.answers.introspection`) and a value of another kind, a stage
without its name, or a loader the doctor did not ask for refuses the answer as a whole
(:class:`~mnist_doctor.facts.answers.introspection.WrongShape`, naming the place) — never a traceback.

The wire keeps one loader at the answer's top level (its stages ``load_data``/``preprocess``,
``get_file``, ``left_behind``, ``tls``, ``refused``: the shape of the probe before ``--dataset``)
and every other under ``loaders[name]`` with its stage ``load_data:<name>``. :func:`read_answer`
gives both the same record, :class:`LoaderOutcome`: what the checks and the cause table read,
by attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mnist_doctor.facts.answers.introspection import ANY, ListOf, MapOf, Obj, Opt, WrongShape, problem

#: Stages of ``target/load_probe.py`` that import (same names as ``target/import_probe.py``).
IMPORT_STAGES = ("numpy", "tensorflow", "tf.keras", "keras")
#: The stage of the loader at the answer's top level; another loader's is ``load_data:<name>``.
TOP_STAGE = "load_data"

# What a loader's record says about it (``status``), and what the reader adds.
OK = "ok"
FAILED = "failed"
#: Its ``load_data`` started and never reported back (the probe was killed or crashed then).
UNFINISHED = "started"
#: This Keras has no such loader (``california_housing`` before Keras 3).
MISSING = "missing"
#: Not called: a file the doctor could not keep safe, or a download ``--offline`` forbids.
REFUSED = "refused"
#: The probe ended (import failure, kill, crash) before it reached this loader.
NOT_REACHED = "not-reached"

_ERROR_LINK = Obj({"type": str, "message": str})
_ERROR = Obj({"type": str, "message": str, "chain": ListOf(_ERROR_LINK), "traceback": str})
_STAGE = Obj(
    {
        "name": str,
        "ok": bool,
        "exception": _ERROR,
        "error_type": str,
        "error": str,
        "chain": ListOf(str),
        "value": ANY,
        "elapsed_s": float,
    }
)
_FILE = Obj(
    {
        "path": str,
        "size": int,
        "sha256": str,
        "head": str,
        "looks_html": bool,
        "zip_complete": bool,
        "dir": bool,
        "entries": ListOf(str),
    }
)
_ARRAY = Obj({"shape": ListOf(int), "dtype": str, "min": int, "max": int, "class_counts": ListOf(int)})
_CALL = Obj({"fname": Opt(str), "origin": Opt(str), "file_hash": Opt(str), "returned": Opt(str)})
_TLS = Obj({"ca_count": Opt(int), "verify_paths": Opt(MapOf(Opt(str))), "peer": Obj({"issuer": MapOf(str)})})
_LOAD_VALUE = Obj({"arrays": ANY, "elapsed_s": float, "file": Opt(_FILE), "files": ListOf(Opt(_FILE))})
_PREPROCESS_VALUE = Obj({"min": float, "max": float, "shape": ListOf(int), "dtype": str})
_LOADER = Obj(
    {
        "status": str,
        "reason": str,
        "call": str,
        "get_file": ListOf(_CALL),
        "left_behind": ListOf(_FILE),
        "tls": _TLS,
    }
)
#: The answer's shape (``target/load_probe.py`` is the other half). Keys not named: anything.
ANSWER = Obj(
    {
        "stages": ListOf(_STAGE),
        "mode": str,
        "done": bool,
        "env": MapOf(Opt(str)),
        "proxy": Opt(
            Obj(
                {"scheme": str, "host": Opt(str), "port": Opt(int), "has_credentials": bool, "bypassed": bool}
            )
        ),
        "get_file": Obj({"args": _CALL, "returned": Opt(str)}),
        "left_behind": ListOf(_FILE),
        "tls": _TLS,
        "refused": Obj({"path": str, "reason": str}),
        "loaders": MapOf(_LOADER),
    }
)


@dataclass(frozen=True)
class ErrorRecord:
    """An exception as the probe described it: qualified type, message, its chain, the traceback."""

    type: str
    message: str
    chain: tuple[ErrorRecord, ...] = ()
    traceback: str = ""

    @property
    def short_type(self) -> str:
        return self.type.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class StageRecord:
    """One stage of the probe: it finished (``ok``), raised (``exception``), or never reported back."""

    name: str
    ok: bool
    exception: ErrorRecord | None = None
    #: The flat summary of a failure (``error_type: error`` and the chain as lines).
    error_type: str = ""
    error: str = ""
    chain: tuple[str, ...] = ()
    value: Mapping[str, Any] = field(default_factory=dict)

    @property
    def unfinished(self) -> bool:
        return not self.ok and self.exception is None


@dataclass(frozen=True)
class FileState:
    """A file (or an extracted folder) that ``get_file`` returned or left behind."""

    path: str
    size: int = 0
    sha256: str = ""
    head: str = ""
    looks_html: bool = False
    zip_complete: bool = False
    is_dir: bool = False


@dataclass(frozen=True)
class ArrayRecord:
    """Shape and dtype of one returned array (labels: their range and class counts)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    low: int | None = None
    high: int | None = None
    class_counts: tuple[int, ...] = ()


@dataclass(frozen=True)
class Preprocess:
    """The tutorial's first step (``x_train / 255`` as float32, a channel axis), as the target ran it."""

    ok: bool
    low: float | None = None
    high: float | None = None
    shape: tuple[int, ...] = ()
    #: Why it failed (or ``did not run``).
    error: str = ""


@dataclass(frozen=True)
class GetFileCall:
    """One ``get_file`` call the loader made (as recorded around the real function)."""

    fname: str | None
    origin: str | None
    returned: str | None = None


@dataclass(frozen=True)
class TlsEvidence:
    """The target's trust store and the issuer of the certificate it was shown."""

    ca_count: int | None
    verify_paths: Mapping[str, str | None] | None
    issuer: Mapping[str, str]


@dataclass(frozen=True)
class ProxyRoute:
    """The proxy urllib uses for the dataset host in the target (no credentials)."""

    scheme: str
    host: str | None
    port: int | None
    has_credentials: bool
    bypassed: bool

    @property
    def label(self) -> str:
        return f"{self.scheme or 'http'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class LoaderOutcome:
    """What one loader's real ``load_data()`` did inside the shared probe."""

    name: str
    status: str
    #: Why it was not called (``refused``), or why this Keras has no such loader (``missing``).
    reason: str = ""
    #: The cached file the doctor could not keep safe, when the target refused to call it.
    refused_path: str = ""
    #: Its own ``load_data`` stage (None: never started).
    stage: StageRecord | None = None
    arrays: Mapping[str, ArrayRecord] = field(default_factory=dict)
    elapsed_s: float | None = None
    #: The files it read (a folder for an extracted archive).
    files: tuple[FileState, ...] = ()
    calls: tuple[GetFileCall, ...] = ()
    left_behind: tuple[FileState, ...] = ()
    tls: TlsEvidence | None = None
    #: The tutorial's first step on the top-level loader's arrays (None elsewhere).
    preprocess: Preprocess | None = None

    @property
    def succeeded(self) -> bool:
        return self.stage is not None and self.stage.ok

    @property
    def unfinished(self) -> bool:
        return self.stage is not None and self.stage.unfinished


@dataclass(frozen=True)
class LoadAnswer:
    """The whole answer, typed: the import stages, the route, and each loader's outcome."""

    imports: tuple[StageRecord, ...] = ()
    #: Every stage in the order they ran (the last unfinished one is where a kill came).
    stages: tuple[StageRecord, ...] = ()
    mode: str = ""
    done: bool = False
    env: Mapping[str, str | None] = field(default_factory=dict)
    proxy: ProxyRoute | None = None
    loaders: Mapping[str, LoaderOutcome] = field(default_factory=dict)


def _error(raw: Mapping[str, Any]) -> ErrorRecord:
    chain = tuple(
        ErrorRecord(str(c.get("type", "")), str(c.get("message", ""))) for c in raw.get("chain", [])
    )
    return ErrorRecord(
        str(raw.get("type", "")), str(raw.get("message", "")), chain, str(raw.get("traceback", ""))
    )


def _stage(raw: Mapping[str, Any], where: str) -> StageRecord:
    if "name" not in raw or "ok" not in raw:
        raise WrongShape(f"{where} has no {'name' if 'name' not in raw else 'ok'}")
    value = raw.get("value")
    exception = raw.get("exception")
    return StageRecord(
        name=raw["name"],
        ok=raw["ok"],
        exception=_error(exception) if isinstance(exception, dict) else None,
        error_type=str(raw.get("error_type", "")),
        error=str(raw.get("error", "")),
        chain=tuple(raw.get("chain", [])),
        value=value if isinstance(value, dict) else {},
    )


def _file(raw: Mapping[str, Any] | None, where: str) -> FileState | None:
    if raw is None:
        return None
    if "path" not in raw:
        raise WrongShape(f"{where} has no path")
    return FileState(
        path=raw["path"],
        size=raw.get("size", 0),
        sha256=raw.get("sha256", ""),
        head=raw.get("head", ""),
        looks_html=raw.get("looks_html", False),
        zip_complete=raw.get("zip_complete", False),
        is_dir=raw.get("dir", False),
    )


def _files(raws: list[Any], where: str) -> tuple[FileState, ...]:
    found = (_file(r, f"{where}[{i}]") for i, r in enumerate(raws))
    return tuple(f for f in found if f is not None)


def _call(raw: Mapping[str, Any], returned: str | None = None) -> GetFileCall:
    return GetFileCall(raw.get("fname"), raw.get("origin"), raw.get("returned", returned))


def _tls(raw: Mapping[str, Any] | None) -> TlsEvidence | None:
    if not raw:
        return None
    return TlsEvidence(
        raw.get("ca_count"), raw.get("verify_paths"), dict((raw.get("peer") or {}).get("issuer") or {})
    )


def _arrays(raw: object, where: str) -> dict[str, ArrayRecord]:
    """Each returned array; a value that was not two pairs of arrays is recorded as
    ``{"unexpected": "<type>"}`` by the target, and read as no arrays."""
    if not isinstance(raw, dict):
        return {}
    found: dict[str, ArrayRecord] = {}
    for name, a in raw.items():
        if not isinstance(a, dict):
            continue
        wrong = problem(a, _ARRAY, f"{where}.arrays.{name}")
        if wrong:
            raise WrongShape(wrong)
        found[name] = ArrayRecord(
            name, tuple(a.get("shape", ())), a.get("dtype", ""), a.get("min"), a.get("max"),
            tuple(a.get("class_counts", ())),
        )  # fmt: skip
    return found


def _value(stage: StageRecord | None, where: str) -> Mapping[str, Any]:
    """A finished load stage's value, checked against its shape (a failed stage has none)."""
    if stage is None or not stage.ok:
        return {}
    found = problem(dict(stage.value), _LOAD_VALUE, f"{where}.value")
    if found:
        raise WrongShape(found)
    return stage.value


def _status(stage: StageRecord | None) -> str:
    if stage is None:
        return NOT_REACHED
    if stage.ok:
        return OK
    return UNFINISHED if stage.unfinished else FAILED


def _top(answer: Mapping[str, Any], stages: tuple[StageRecord, ...], name: str) -> LoaderOutcome:
    """The loader at the answer's top level (the shape of the probe before ``--dataset``)."""
    refused = answer.get("refused")
    if refused:
        if "path" not in refused or "reason" not in refused:
            raise WrongShape(f"refused has no {'path' if 'path' not in refused else 'reason'}")
        return LoaderOutcome(name, REFUSED, reason=refused["reason"], refused_path=refused["path"])
    stage = next((s for s in stages if s.name == TOP_STAGE), None)
    value = _value(stage, "load_data")
    preprocess = _preprocess(next((s for s in stages if s.name == "preprocess"), None))
    call = answer.get("get_file") or {}
    calls = (_call(call["args"], call.get("returned")),) if call.get("args") else ()
    read = _file(value.get("file"), "load_data.value.file")
    return LoaderOutcome(
        name,
        _status(stage),
        stage=stage,
        arrays=_arrays(value.get("arrays"), "load_data.value"),
        elapsed_s=value.get("elapsed_s"),
        files=(read,) if read else (),
        calls=calls,
        left_behind=_files(answer.get("left_behind", []), "left_behind"),
        tls=_tls(answer.get("tls")),
        preprocess=preprocess,
    )


def _preprocess(stage: StageRecord | None) -> Preprocess | None:
    if stage is None:
        return None
    if not stage.ok:
        return Preprocess(False, error=stage.exception.message if stage.exception else "did not run")
    found = problem(dict(stage.value), _PREPROCESS_VALUE, "preprocess.value")
    if found:
        raise WrongShape(found)
    value = stage.value
    return Preprocess(True, value.get("min"), value.get("max"), tuple(value.get("shape", ())))


def _other(record: Mapping[str, Any], stages: tuple[StageRecord, ...], name: str) -> LoaderOutcome:
    """A loader recorded under ``loaders[name]``, its stage ``load_data:<name>``."""
    status = record.get("status", NOT_REACHED)
    if status in (REFUSED, MISSING):
        return LoaderOutcome(name, status, reason=record.get("reason", ""))
    stage = next((s for s in stages if s.name == f"{TOP_STAGE}:{name}"), None)
    where = f"loaders.{name}"
    value = _value(stage, f"load_data:{name}")
    return LoaderOutcome(
        name,
        _status(stage),
        stage=stage,
        arrays=_arrays(value.get("arrays"), f"load_data:{name}.value"),
        elapsed_s=value.get("elapsed_s"),
        files=_files(value.get("files", []), f"load_data:{name}.value.files"),
        calls=tuple(_call(c) for c in record.get("get_file", [])),
        left_behind=_files(record.get("left_behind", []), f"{where}.left_behind"),
        tls=_tls(record.get("tls")),
    )


def _proxy(raw: Mapping[str, Any]) -> ProxyRoute:
    return ProxyRoute(
        raw.get("scheme", "http"),
        raw.get("host"),
        raw.get("port"),
        raw.get("has_credentials", False),
        raw.get("bypassed", False),
    )


def read_answer(answer: object, top: str | None, others: tuple[str, ...]) -> LoadAnswer:
    """The typed answer; ``top`` is the loader at the top level (None: none was asked for), ``others``
    the loaders asked for under ``loaders``. :class:`WrongShape` names the first place that differs."""
    if answer is None:
        return LoadAnswer()
    found = problem(answer, ANSWER)
    if found:
        raise WrongShape(found)
    assert isinstance(answer, dict)  # problem() said it is an object
    stages = tuple(_stage(s, f"stages[{i}]") for i, s in enumerate(answer.get("stages", [])))
    recorded = answer.get("loaders", {})
    unknown = sorted(set(recorded) - set(others))
    if unknown:
        raise WrongShape(f"loaders.{unknown[0][:60]} is a loader the doctor did not ask for")
    loaders = {n: _other(recorded.get(n, {}), stages, n) for n in others}
    if top is not None:
        loaders = {top: _top(answer, stages, top), **loaders}
    proxy = answer.get("proxy")
    return LoadAnswer(
        imports=tuple(s for s in stages if s.name in IMPORT_STAGES),
        stages=stages,
        mode=answer.get("mode", ""),
        done=answer.get("done", False),
        env=answer.get("env", {}),
        proxy=_proxy(proxy) if proxy else None,
        loaders=loaders,
    )
