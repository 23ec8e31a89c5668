"""The result model every check, renderer and action shares.

Kept free of third-party imports so plugins can import it cheaply and the
renderers only ever read plain data.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

#: Why a check that needs the network did not run: the engine's skip, and a check's own under --offline.
OFFLINE_SKIP = "--offline: network checks are not run"
#: The families whose checks judge the road to the dataset's host, most telling first: a failed
#: network stage, then the settings that steer it (proxy, tls).
NETWORK_FAMILIES = ("network", "proxy", "tls")


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

    @property
    def severity(self) -> int:
        """This status's rank in the one order of severity: skip < ok < warn < fail < error.

        A skip judged nothing, so anything judged outranks it; a crashed check (error) says
        the least about the patient and is shown first. Every "worst of" in the doctor is
        :func:`worst`, which reads this order.
        """
        return _SEVERITY.index(self)


#: The one severity order, least severe first (:attr:`Status.severity`).
_SEVERITY = (Status.SKIP, Status.OK, Status.WARN, Status.FAIL, Status.ERROR)


def worst(statuses: Iterable[Status], default: Status = Status.SKIP) -> Status:
    """The most severe of ``statuses`` in the one order (``default`` when there is none)."""
    return max(statuses, key=lambda status: status.severity, default=default)


class FixKind(str, enum.Enum):
    """What carrying out a :class:`Fix` means."""

    #: Run a program (``argv``): pip, uv, ``python -m ensurepip``. It changes installed packages,
    #: so it always needs a person's answer at a terminal.
    COMMAND = "command"
    #: The doctor's own ``--clear-cache``: remove the dataset's own files from the Keras cache
    #: folder (Keras downloads them again). ``argv`` is the same action typed by hand.
    CLEAR_CACHE = "clear-cache"
    #: The doctor's own ``--fetch --mirror URL``: download, verify and install ``mnist.npz``
    #: from ``url``. ``argv`` is the same action typed by hand.
    FETCH = "fetch"
    #: The doctor's own placing of a verified archive that the other Keras line cached under its
    #: names (cifar after TF 2.15 -> 2.16) where this Keras line reads it, for :attr:`Fix.dataset`.
    #: ``argv`` is the same step typed by hand (``mnist-doctor --fix --dataset NAME``).
    REUSE = "reuse"


@dataclass(frozen=True)
class Fix:
    """One step that fixes what a check found, typed so nothing is ever parsed back from text.

    ``argv`` is exact: the hint shows :attr:`command` (rendered from argv) and ``--fix`` runs
    that very argv (``COMMAND``) or performs the doctor action it names in-process, under the
    run's budget (``CLEAR_CACHE``, ``FETCH``, ``REUSE``). ``needs_confirmation``: only an answer typed at a
    terminal runs it, ``--yes`` does not (anything that changes installed packages); without it,
    ``--yes`` accepts the step (the doctor's own reversible actions on the dataset's files).
    """

    kind: FixKind
    argv: tuple[str, ...]
    #: What the step does, in a few words ("install numpy<2", "remove the broken ...").
    why: str
    needs_confirmation: bool = True
    #: ``FETCH``: the URL to download from (also in ``argv`` after ``--mirror``).
    url: str | None = None
    #: The one ``keras.datasets`` loader a doctor action acts on (``--dataset NAME`` in ``argv``);
    #: None: mnist, as the actions typed without ``--dataset`` (never the run's whole selection).
    dataset: str | None = None

    def __post_init__(self) -> None:
        if not self.argv or not all(isinstance(word, str) and word for word in self.argv):
            raise ValueError(f"a fix needs a non-empty argv of non-empty words, not {self.argv!r}")
        if self.kind is FixKind.FETCH and not self.url:
            raise ValueError("a fetch fix names the URL it downloads from")
        if self.kind is FixKind.COMMAND and not self.needs_confirmation:
            raise ValueError("a command changes installed packages: it always needs confirmation")
        if self.kind is FixKind.REUSE and not self.dataset:
            raise ValueError("a reuse fix names the dataset whose archive it places")

    @property
    def command(self) -> str:
        """The argv as one shell line (:func:`shell_join`; ``shlex.split`` gives the argv back)."""
        return shell_join(self.argv)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "argv": list(self.argv),
            "command": self.command,
            "why": self.why,
            "needs_confirmation": self.needs_confirmation,
        }
        if self.url is not None:
            out["url"] = self.url
        if self.dataset is not None:
            out["dataset"] = self.dataset
        return out


def shell_quote(word: str) -> str:
    """One word for a shell, quoted the way pip's docs write requirements (``"numpy<2"``).

    Bare when it holds only characters no shell treats specially; in double quotes when it
    holds none of the characters double quotes do not protect (``"``, ``$``, backtick,
    backslash, ``!``), which also pastes into PowerShell and cmd.exe; else :func:`shlex.quote`.
    ``shlex.split`` always gives the word back.
    """
    if word and all(c.isalnum() or c in "-_./=:,+@%" for c in word) and not word.startswith("="):
        return word
    if not any(c in word for c in '"$`\\!'):
        return f'"{word}"'
    return shlex.quote(word)


def shell_join(argv: Iterable[str]) -> str:
    """An argv as one shell line (:func:`shell_quote` for each word): the text a hint shows."""
    return " ".join(shell_quote(word) for word in argv)


def shell_line(fixes: Iterable[Fix]) -> str:
    """Steps run in order, as the one line a person pastes: ``a && b``."""
    return " && ".join(fix.command for fix in fixes)


@dataclass(frozen=True)
class Advice:
    """One command a person may run that ``--fix`` does not: an alternative ("or upgrade: ..."),
    a setting (``export SSL_CERT_FILE=...``), the offline route (``mnist-doctor --seed FILE``).

    Typed where the hint is written (:mod:`mnist_doctor.text.hints`), so the report prints it on
    a line of its own without reading the hint's prose. ``line`` is what a shell reads (one line,
    a placeholder such as ``FILE`` allowed); ``comment`` the few words shown beside it.
    """

    line: str
    comment: str | None = None

    def __post_init__(self) -> None:
        if not self.line.strip() or "\n" in self.line:
            raise ValueError(f"advice is one non-empty shell line, not {self.line!r}")

    @classmethod
    def of(cls, argv: Iterable[str], comment: str | None = None) -> Advice:
        """The advice to run ``argv``, quoted as a hint shows it (:func:`shell_join`)."""
        return cls(shell_join(argv), comment)

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.line, "comment": self.comment}


class Hint(str):
    """A hint's prose that carries the commands it names as :class:`Advice`, built together.

    A ``str`` (every reader of a hint reads text), composed with ``+`` — ``Hint + str``,
    ``str + Hint`` and ``Hint + Hint`` keep the advice in order — so a sentence is built the way
    it reads and never parsed back. Formatting it into an f-string would keep the words and drop
    the commands, so that raises. A :class:`Result` or a cause given a ``Hint`` keeps its text
    and takes its advice.
    """

    advice: tuple[Advice, ...]

    def __new__(cls, text: str = "", advice: Iterable[Advice] = ()) -> Hint:
        made = super().__new__(cls, text)
        made.advice = tuple(advice)
        return made

    @property
    def text(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        raise TypeError("a Hint is joined with +, not formatted into a string (its advice would be lost)")

    def __add__(self, other: str) -> Hint:
        return Hint(self.text + str.__str__(other), self.advice + hint_parts(other)[1])

    def __radd__(self, other: str) -> Hint:
        return Hint(str.__str__(other) + self.text, hint_parts(other)[1] + self.advice)

    def __repr__(self) -> str:
        return f"Hint({self.text!r}, {self.advice!r})"


def hint_parts(hint: object) -> tuple[str | None, tuple[Advice, ...]]:
    """A ``hint`` given as plain text or as a :class:`Hint`: its plain text and the advice it carries."""
    if isinstance(hint, Hint):
        return hint.text, hint.advice
    return (hint if isinstance(hint, str) else None), ()


#: ``data["fix"]["kind"]`` of schema-2 reports before fixes were typed (kept for their readers).
_LEGACY_KINDS = {
    FixKind.COMMAND: "pip",
    FixKind.CLEAR_CACHE: "clear_cache",
    FixKind.FETCH: "fetch",
    FixKind.REUSE: "reuse",
}


def legacy_fix(fixes: tuple[Fix, ...], summary: str) -> dict[str, Any]:
    """``data["fix"]`` as schema-2 readers know it, derived from the typed steps (never the reverse)."""
    first = fixes[0]
    out: dict[str, Any] = {
        "kind": _LEGACY_KINDS[first.kind],
        "reason": summary if first.kind is FixKind.COMMAND else first.why,
        "command": shell_line(fixes),
        "steps": [list(fix.argv) for fix in fixes],
    }
    if first.dataset is not None:
        out["dataset"] = first.dataset
    return out


@dataclass
class Result:
    """What a check returns: a verdict, one line, the evidence and the exact fix.

    ``fixes`` are the steps ``--fix`` may carry out, in order (empty: nothing it can do; the
    hint still says what a person can). ``advice``: the other commands the hint names, typed
    (a :class:`Hint` given as ``hint`` brings its own). ``explained_by``: the results that would
    explain this one if they failed too, most likely first — check ids, or a family name for
    any check of that family — set by the check that knows why it failed; the report's
    diagnosis follows these links to fold a consequence into its root cause.
    """

    status: Status
    summary: str
    details: list[str] = field(default_factory=list)
    hint: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    fixes: tuple[Fix, ...] = ()
    advice: tuple[Advice, ...] = ()
    explained_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        text, advice = hint_parts(self.hint)
        self.hint = text
        self.advice = (*advice, *self.advice)

    @property
    def said(self) -> Hint | None:
        """The hint with its advice, to hand on to another result whole."""
        return None if self.hint is None else Hint(self.hint, self.advice)

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


@dataclass(kw_only=True)
class CheckResult(Result):
    """A :class:`Result` stamped by the engine with the check's identity and timing."""

    id: str
    family: str
    title: str
    elapsed_s: float = 0.0
    traceback: str | None = None

    @classmethod
    def stamp(
        cls,
        result: Result,
        *,
        id: str,
        family: str,
        title: str,
        elapsed_s: float = 0.0,
        traceback: str | None = None,
    ) -> CheckResult:
        """``result`` as the engine reports it (its lists and dicts copied, not shared)."""
        return cls(
            result.status,
            result.summary,
            list(result.details),
            result.hint,
            dict(result.data),
            tuple(result.fixes),
            tuple(result.advice),
            tuple(result.explained_by),
            id=id,
            family=family,
            title=title,
            elapsed_s=elapsed_s,
            traceback=traceback,
        )

    def to_dict(self, verbose: bool = False) -> dict[str, Any]:
        data = dict(self.data)
        if self.fixes:
            data["fix"] = legacy_fix(self.fixes, self.summary)
        out: dict[str, Any] = {
            "id": self.id,
            "family": self.family,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "details": list(self.details),
            "hint": self.hint,
            "elapsed_s": round(self.elapsed_s, 3),
            "data": data,
            "fixes": [fix.to_dict() for fix in self.fixes],
            "advice": [advice.to_dict() for advice in self.advice],
            "explained_by": list(self.explained_by),
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
    #: Results that explain any failure of this check (see :attr:`Result.explained_by`), known
    #: before it runs; the engine appends them to each result's own.
    explained_by: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        """The family is the id's first part (``cache.integrity`` → ``cache``): stated once."""
        return family_of(self.id)

    #: Subclasses define ``run`` with the facts they need as parameters; each signature
    #: differs, so the base declares only "a callable returning a Result".
    run: Callable[..., Result]


def function_check(
    id: str,
    title: str,
    *,
    requires: Iterable[str] = (),
    after: Iterable[str] = (),
    network: bool = False,
    slow: bool = False,
    explained_by: Iterable[str] = (),
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
        check.explained_by = tuple(explained_by)
        check.run = func
        check.__doc__ = func.__doc__
        return check

    return wrap
