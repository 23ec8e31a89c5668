"""The result model every check, renderer and action shares.

Kept free of third-party imports so plugins can import it cheaply and the
renderers only ever read plain data.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class Status(str, enum.Enum):
    """Outcome of one check. ``error`` means the check itself crashed."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    @property
    def passed(self) -> bool:
        """Whether checks that ``require`` this one may run (a warning still lets them)."""
        return self in (Status.OK, Status.WARN)


@dataclass
class Result:
    """What a check returns: a verdict, one line, the evidence and the exact fix."""

    status: Status
    summary: str
    details: list[str] = field(default_factory=list)
    hint: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, summary: str, **kw: Any) -> Result:
        return cls(Status.OK, summary, **kw)

    @classmethod
    def warn(cls, summary: str, **kw: Any) -> Result:
        return cls(Status.WARN, summary, **kw)

    @classmethod
    def fail(cls, summary: str, **kw: Any) -> Result:
        return cls(Status.FAIL, summary, **kw)

    @classmethod
    def skip(cls, summary: str, **kw: Any) -> Result:
        return cls(Status.SKIP, summary, **kw)


@dataclass
class CheckResult:
    """A :class:`Result` stamped by the engine with the check's identity and timing."""

    id: str
    family: str
    title: str
    status: Status
    summary: str
    details: list[str] = field(default_factory=list)
    hint: str | None = None
    elapsed_s: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    traceback: str | None = None

    def to_dict(self, verbose: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "family": self.family,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "details": list(self.details),
            "hint": self.hint,
            "elapsed_s": round(self.elapsed_s, 3),
            "data": self.data,
        }
        if verbose and self.traceback:
            out["traceback"] = self.traceback
        return out


@runtime_checkable
class Check(Protocol):
    """A diagnosis. ``run`` receives the facts it names as parameters.

    ``requires`` lists check ids that must pass (ok or warn) first; otherwise the
    engine skips this check and says which prerequisite did not pass. ``after`` only
    orders (the check runs once those finished, whatever their status) and is optional,
    as is ``timeout`` (seconds, on top of the run's ``--timeout``).
    ``network`` checks are skipped by ``--offline``; ``slow`` ones are started first.
    """

    id: str
    family: str
    title: str
    requires: tuple[str, ...]
    network: bool
    slow: bool

    def run(self, **facts: Any) -> Result: ...


def family_of(check_id: str) -> str:
    return check_id.split(".", 1)[0]


class BaseCheck:
    """Convenience base for checks: sensible defaults for the optional attributes."""

    id: str = ""
    title: str = ""
    requires: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    timeout: float | None = None
    network: bool = False
    slow: bool = False

    @property
    def family(self) -> str:
        """The family is the id's first part (``cache.integrity`` → ``cache``): stated once."""
        return family_of(self.id)

    def run(self, **facts: Any) -> Result:  # pragma: no cover - abstract
        raise NotImplementedError


def function_check(
    id: str,
    title: str,
    *,
    requires: Iterable[str] = (),
    after: Iterable[str] = (),
    network: bool = False,
    slow: bool = False,
) -> Callable[[Callable[..., Result]], BaseCheck]:
    """Turn a plain function into a check; its parameters name the facts it needs."""

    def wrap(func: Callable[..., Result]) -> BaseCheck:
        check = BaseCheck()
        check.id = id
        check.title = title
        check.requires = tuple(requires)
        check.after = tuple(after)
        check.network = network
        check.slow = slow
        check.run = func  # type: ignore[method-assign]
        check.__doc__ = func.__doc__
        return check

    return wrap
