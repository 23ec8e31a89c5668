"""One vocabulary for named root causes: the :class:`Diagnosis` and the ordered rule table.

Why one type and one mechanism: the import probe, the real ``load_data()``, the network road,
``--fetch`` and the GPU checks all answer the same question — *which known cause is this, and
what fixes it* — and a reader (or a renderer, or ``--fix``) should find the answer in the same
shape wherever it came from. A cause is a :class:`Rule` in an ordered :class:`RuleTable`: the
most specific rule first, the first that recognises the evidence wins. Rules read *text* (error
messages, exception type names as the probe recorded them, stderr), never live exception
objects: TensorFlow and urllib raise different types for the same cause across releases, and
the evidence mostly arrives as JSON from another interpreter anyway.

The package's layers: this module and :mod:`~mnist_doctor.causes.network` are pure rules
(they import only rule modules, so any layer may use them); the cause tables
(:mod:`~mnist_doctor.causes.imports`, :mod:`~mnist_doctor.causes.load`,
:mod:`~mnist_doctor.causes.gpu`) read the evidence types the facts define, so they sit
between the facts and the checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from mnist_doctor.model import Advice, Fix, Hint, Status, hint_parts

#: What a cause is about; ``load.consistency`` compares it with the network and cache families.
NETWORK, CACHE, IMPORT, TIMEOUT, RESOURCE, OTHER, GPU = (
    "network",
    "cache",
    "import",
    "timeout",
    "resource",
    "other",
    "gpu",
)


@dataclass(frozen=True)
class Diagnosis:
    """A named root cause: ``name`` is stable (tests, JSON), ``summary`` one line, ``hint`` the fix.

    ``status`` is the verdict the cause deserves by itself (``skip``: not a fault of this
    machine, e.g. a download refused under ``--offline``); a check may still soften it (a probe
    cut short by the doctor's own budget) or harden it (``--expect-gpu``). ``details`` are the
    evidence lines shown with it; ``module`` is the package whose import raised, when a
    traceback names one. ``fixes`` are the typed steps (:class:`~mnist_doctor.model.Fix`) the
    hint's command was rendered from: a check hands them on as ``Result.fixes`` for ``--fix``.
    """

    name: str
    category: str
    summary: str
    hint: str
    details: tuple[str, ...] = ()
    status: Status = Status.FAIL
    module: str | None = None
    #: What ``--fix`` may do about it, in order (see mnist_doctor.cli.fix); empty: nothing.
    fixes: tuple[Fix, ...] = ()
    #: The other commands the hint names (given as a :class:`~mnist_doctor.model.Hint`, its own).
    advice: tuple[Advice, ...] = ()
    #: The checks whose failure predicts this cause (``Result.explained_by`` of the check that
    #: reports it): ``numpy-abi`` is what a failing ``compat.numpy`` foretold.
    explained_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        text, advice = hint_parts(self.hint)
        object.__setattr__(self, "hint", text or "")
        object.__setattr__(self, "advice", (*advice, *self.advice))

    @property
    def said(self) -> Hint:
        """The hint with its advice, to hand on whole (``Result(hint=cause.said)``)."""
        return Hint(self.hint, self.advice)


class Textual(Protocol):
    """Evidence a rule table can read: all of it flattened into one text."""

    @property
    def text(self) -> str: ...


E = TypeVar("E", bound=Textual)
R = TypeVar("R")


@dataclass(frozen=True)
class Rule(Generic[E, R]):
    """One named cause: a pattern that must appear in the evidence text, and a judge.

    The judge sees the evidence and the pattern's match (None when the rule has no pattern)
    and returns the verdict, or None when, on a closer look, the cause does not apply (the
    table then goes on with the next rule).
    """

    name: str
    judge: Callable[[E, re.Match[str] | None], R | None]
    pattern: re.Pattern[str] | None = None

    def apply(self, evidence: E) -> R | None:
        match = self.pattern.search(evidence.text) if self.pattern is not None else None
        if self.pattern is not None and match is None:
            return None
        return self.judge(evidence, match)


@dataclass(frozen=True)
class RuleTable(Generic[E, R]):
    """Rules in order, most specific first: the order *is* the precedence between causes."""

    rules: tuple[Rule[E, R], ...]

    def __post_init__(self) -> None:
        names = [r.name for r in self.rules]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"rule names must be unique in a table: {duplicated}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rules)

    def verdicts(self, evidence: E) -> Iterator[R]:
        for rule in self.rules:
            verdict = rule.apply(evidence)
            if verdict is not None:
                yield verdict

    def first(self, evidence: E) -> R | None:
        """The verdict of the first rule that recognises the evidence (None: no rule does)."""
        return next(self.verdicts(evidence), None)

    def all(self, evidence: E) -> list[R]:
        """Every rule's verdict, in table order (for reports that list all obstacles)."""
        return list(self.verdicts(evidence))


def rx(*alternatives: str) -> re.Pattern[str]:
    """One case-insensitive pattern matching any of ``alternatives``."""
    return re.compile("|".join(alternatives), re.IGNORECASE)
