"""The network probe's answer (``target/net_probe.py``), read by shape into typed records.

The answer comes from the examined interpreter, so it is input like any other: a stage record
of another shape (``"ok": "yes"``, ``"chain": 5``, a thousand stages) once reached the checks as
a dict and failed there on a ``.get`` of a list. Here each record is checked against the shape
the script emits (the vocabulary of :mod:`~mnist_doctor.facts.answers.introspection`), and the first
value of another kind is named by its place (``stages[1].port is a string, not an integer``):
the whole walk is then refused (:class:`~mnist_doctor.facts.answers.introspection.WrongShape`), and
the probe says the answer was malformed instead of a verdict. The checks read attributes.

Names the checks compare (a stage's ``name``, a measurement's ``ended``) must be one the script
emits; free text (an exception's message, a header) is kept as the script gave it, whatever
its characters: every byte that leaves the doctor is escaped by the one exit for text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mnist_doctor.facts.answers.introspection import (
    ANY,
    ListOf,
    MapOf,
    Obj,
    OneOf,
    Opt,
    WrongShape,
    problem,
    record_of,
)

STAGE_NAMES = ("dns", "tcp", "connect", "tls", "http")
#: How a throughput measurement ended (``measure_one`` in target/net_probe.py).
ENDINGS = ("cap", "eof", "window", "deadline", "http-error", "no-answer", "stall", "error")
#: More stages, certificates or measurements than this is no answer the script gives.
MAX_ITEMS = 64

#: An error as ``describe_error`` records it (keys the doctor does not read may hold any scalar).
ERROR = Obj(
    {
        "type": str,
        "message": str,
        "errno_name": Opt(str),
        "errno": ANY,
        "reason": Opt(str),
        "reason_type": Opt(str),
        "verify_message": Opt(str),
        "verify_code": Opt(int),
    }
)
CERT = Obj(
    {
        "subject_cn": Opt(str),
        "subject_o": Opt(str),
        "issuer_cn": Opt(str),
        "issuer_o": Opt(str),
        "issuer_ou": Opt(str),
        "self_signed": bool,
        "not_after": Opt(str),
    }
)
STRICT_RETRY = Obj({"relaxed_verifies": Opt(bool), "python": Opt(str), "relaxed_error": ERROR})
_NUMBER = Opt(float)
STAGE = Obj(
    {
        "name": OneOf(STAGE_NAMES),
        "ok": bool,
        "stuck": bool,
        "timed_out": bool,
        "deadline_limited": bool,
        "timeout_s": _NUMBER,
        "cap_s": _NUMBER,
        "elapsed_s": _NUMBER,
        "error": Opt(ERROR),
        # dns, tcp
        "host": Opt(str),
        "port": Opt(int),
        "via_proxy": bool,
        "note": Opt(str),
        "addresses": ListOf(str, MAX_ITEMS),
        # connect
        "target": Opt(str),
        "status": Opt(int),
        "reason": Opt(str),
        "sent_credentials": bool,
        "reply_bytes": Opt(int),
        # tls
        "version": Opt(str),
        "chain": ListOf(CERT, MAX_ITEMS),
        "store_ca_count": Opt(int),
        "context_class": Opt(str),
        "x509_strict": bool,
        "strict_retry": Opt(STRICT_RETRY),
        # http
        "location": Opt(str),
        "final_url": Opt(str),
        "content_type": Opt(str),
        "content_length": Opt(str),
        "content_range": Opt(str),
        "retry_after": Opt(str),
        "content_encoding": Opt(str),
        "first_bytes": Opt(str),
        "looks_html": bool,
        "body_start": Opt(str),
        "total_size": Opt(int),
    }
)
DIRECT = Obj({"tried": bool, "ok": bool, "host": Opt(str), "port": Opt(int), "error": Opt(ERROR)})
PROXY_VIEW = Obj(
    {
        "request_type": Opt(str),
        "request_host": Opt(str),
        "getproxies": MapOf(str),
        "env": MapOf(str),
        "proxy": Opt(str),
        "bypassed": bool,
        "request_method_set": bool,
        "platform": Opt(str),
    }
)
THROUGHPUT = Obj(
    {
        "name": str,
        "stuck": bool,
        "ended": OneOf(ENDINGS),
        "bytes": Opt(int),
        "elapsed_s": _NUMBER,
        "rate_bps": _NUMBER,
        "waited_s": _NUMBER,
        "status": Opt(int),
        "reason": Opt(str),
        "error": Opt(ERROR),
    }
)


def check(value: object, shape: Any, where: str) -> dict[str, Any]:
    """``value`` as an object of ``shape``, or :class:`WrongShape` naming the first departure."""
    found = problem(value, shape, where)
    if found:
        raise WrongShape(found)
    assert isinstance(value, dict)
    return value


@dataclass(frozen=True)
class ProbeError:
    """An exception as the target described it (``describe_error``): type names are bare."""

    type: str = "Error"
    message: str = ""
    errno_name: str | None = None
    reason: str | None = None
    reason_type: str | None = None
    verify_message: str | None = None
    verify_code: int | None = None

    @classmethod
    def read(cls, value: Mapping[str, Any] | None) -> ProbeError | None:
        """From a record already checked against :data:`ERROR` (None stays None)."""
        if value is None:
            return None
        return record_of(cls, value, type=value.get("type") or "Error")

    @classmethod
    def parse(cls, value: object, where: str = "error") -> ProbeError:
        """An error record from anywhere (a fetch, a test), checked by shape first."""
        found = cls.read(check(value, ERROR, where))
        assert found is not None
        return found


#: No error recorded: reads as an empty message.
NO_ERROR = ProbeError(type="", message="")


@dataclass(frozen=True)
class CertInfo:
    """Subject and issuer of one certificate the server presented (unverified)."""

    subject_cn: str | None = None
    subject_o: str | None = None
    issuer_cn: str | None = None
    issuer_o: str | None = None
    issuer_ou: str | None = None
    self_signed: bool = False


@dataclass(frozen=True)
class StrictRetry:
    """The TLS handshake retried without ``VERIFY_X509_STRICT`` (None: the retry failed)."""

    relaxed_verifies: bool | None = None
    python: str | None = None


@dataclass(frozen=True)
class StageRecord:
    """One stage of urllib's road as the target walked it; fields a stage does not set are empty.

    ``raw`` is the record as checked (the report shows it under ``data.record``, unchanged).
    """

    name: str
    ok: bool = False
    stuck: bool = False
    timed_out: bool = False
    deadline_limited: bool = False
    timeout_s: float | None = None
    cap_s: float | None = None
    elapsed_s: float | None = None
    error: ProbeError | None = None
    host: str | None = None
    port: int | None = None
    via_proxy: bool = False
    note: str | None = None
    addresses: tuple[str, ...] = ()
    target: str | None = None
    status: int | None = None
    reason: str | None = None
    sent_credentials: bool = False
    reply_bytes: int | None = None
    version: str | None = None
    chain: tuple[CertInfo, ...] = ()
    store_ca_count: int | None = None
    context_class: str | None = None
    x509_strict: bool = False
    strict_retry: StrictRetry | None = None
    location: str | None = None
    final_url: str | None = None
    content_type: str | None = None
    content_length: str | None = None
    content_range: str | None = None
    retry_after: str | None = None
    content_encoding: str | None = None
    first_bytes: str | None = None
    looks_html: bool = False
    body_start: str | None = None
    total_size: int | None = None
    raw: Mapping[str, Any] | None = None

    @property
    def err(self) -> ProbeError:
        """The stage's error, or :data:`NO_ERROR`."""
        return self.error or NO_ERROR

    @classmethod
    def parse(cls, value: object, where: str = "stage") -> StageRecord:
        """A record the target printed, by shape (:data:`STAGE`), or :class:`WrongShape`."""
        record = check(value, STAGE, where)
        if "name" not in record:
            raise WrongShape(f"{where} has no name")
        retry = record.get("strict_retry")
        return record_of(
            cls,
            record,
            error=ProbeError.read(record.get("error")),
            addresses=tuple(record.get("addresses") or ()),
            chain=tuple(record_of(CertInfo, cert) for cert in record.get("chain") or ()),
            strict_retry=record_of(StrictRetry, retry) if retry else None,
            raw=record,
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as the target printed it (for the report's ``data.record``)."""
        return dict(self.raw or {"name": self.name, "ok": self.ok})


def parse_stages(values: object, where: str = "stages") -> tuple[StageRecord, ...]:
    """The walk's stage records, by shape: a list of at most :data:`MAX_ITEMS` records."""
    found = problem(values, ListOf(ANY, MAX_ITEMS), where)
    if found:
        raise WrongShape(found)
    assert isinstance(values, list)
    return tuple(StageRecord.parse(value, f"{where}[{index}]") for index, value in enumerate(values))


def parse_planned(values: object, where: str = "planned") -> tuple[str, ...]:
    """The stages the walk meant to take, each a stage name."""
    found = problem(values, ListOf(OneOf(STAGE_NAMES), len(STAGE_NAMES)), where)
    if found:
        raise WrongShape(found)
    assert isinstance(values, list)
    return tuple(values)


@dataclass(frozen=True)
class DirectRoute:
    """The host tried without the proxy that failed (``direct_route`` in target/net_probe.py)."""

    tried: bool = False
    ok: bool = False
    host: str | None = None
    port: int | None = None
    error: ProbeError | None = None

    @classmethod
    def parse(cls, value: object, where: str = "direct") -> DirectRoute:
        record = check(value, DIRECT, where)
        return record_of(cls, record, error=ProbeError.read(record.get("error")))


@dataclass(frozen=True)
class Measurement:
    """One host's ranged download (``throughput:N`` in target/net_probe.py)."""

    ended: str | None = None
    bytes: int | None = None
    elapsed_s: float | None = None
    rate_bps: float | None = None
    waited_s: float | None = None
    status: int | None = None
    reason: str | None = None
    error: ProbeError | None = None

    @classmethod
    def parse(cls, value: object, where: str = "throughput") -> Measurement:
        record = check(value, THROUGHPUT, where)
        return record_of(cls, record, error=ProbeError.read(record.get("error")))
