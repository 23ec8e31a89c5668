"""Shared facts: computed once, on demand, by name, and safe to ask for from many threads.

A fact is a function marked with :func:`fact`; its parameters name the other facts it
needs, exactly like a check's ``run``. Modules of facts are registered explicitly, through
the entry-point group ``mnist_doctor.facts`` (the built-in ones in the project's own
``pyproject.toml``, a plugin's in its own), exactly like checks; :func:`registry` loads them
once. This module imports none of them, so the layers below it (pure rules) and above it
(providers, checks) never form an import cycle.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mnist_doctor.probing.budget import Budget

FACTS_GROUP = "mnist_doctor.facts"
#: Facts every run has without a provider: set by :class:`Facts` itself and by the engine —
#: ``results`` (so far), ``checks`` (of this run, by id) and ``loader`` (the one a per-loader
#: check, ``per_loader = True``, is run for).
BUILT_IN = ("options", "facts", "results", "checks", "loader")
_MARK = "__mnist_doctor_fact__"

Provider = Callable[..., Any]


def fact(func: Provider) -> Provider:
    """Mark ``func`` as the provider of the fact named like the function.

    Marking registers nothing by itself: the module is registered through an entry point
    (see :func:`registry`), so which facts exist never depends on which modules happen to
    have been imported.
    """
    setattr(func, _MARK, True)
    return func


@dataclass(frozen=True)
class FactLoadError:
    """A ``mnist_doctor.facts`` entry point that could not be loaded, or that clashes."""

    name: str
    value: str
    error: str
    traceback: str = ""


@dataclass(frozen=True)
class Registry:
    """Every registered fact provider by name, and what could not be registered."""

    providers: dict[str, Provider]
    errors: tuple[FactLoadError, ...] = ()

    def known(self) -> frozenset[str]:
        return frozenset(self.providers) | frozenset(BUILT_IN)


def providers_of(obj: Any) -> list[Provider]:
    """The providers an entry point names: a module's marked functions, a function, or a list."""
    if isinstance(obj, types.ModuleType):
        return [v for v in vars(obj).values() if callable(v) and getattr(v, _MARK, False)]
    if callable(obj):
        return [obj]
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        return [p for item in obj for p in providers_of(item)]
    raise TypeError(f"{obj!r} is neither a fact provider, a module of them nor a list")


@functools.cache
def registry(group: str = FACTS_GROUP) -> Registry:
    """Load the fact providers registered under ``group`` (once per process)."""
    from importlib import metadata  # here, not above: the run's handshake starts before this import

    found: dict[str, Provider] = {}
    errors: list[FactLoadError] = []
    for ep in sorted(metadata.entry_points(group=group), key=lambda e: e.name):
        try:
            loaded = providers_of(ep.load())
        except Exception as exc:
            errors.append(
                FactLoadError(ep.name, ep.value, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            )
            continue
        for provider in loaded:
            name = provider.__name__
            if name in found or name in BUILT_IN:
                errors.append(FactLoadError(ep.name, ep.value, f"fact {name!r} is already provided"))
                continue
            found[name] = provider
    return Registry(found, tuple(errors))


@dataclass(frozen=True)
class Options:
    """What the user asked for, resolved once (by the CLI or the API) and never changed.

    Itself available to checks as the fact ``options``; its :class:`Budget` is the run's one
    deadline.
    """

    python: str
    offline: bool = False
    timeout: float = 120.0
    origin: str | None = None
    #: ``--dataset``: the keras.datasets loaders examined (names from dataset_table), in table order.
    #: The API's default, the same as the CLI's (``datasets.table.DEFAULT_DATASETS``; not imported
    #: here: the registry stays cheap to import).
    datasets: tuple[str, ...] = ("mnist",)
    verbose: bool = False
    strict: bool = False
    #: ``--dry-run``: like ``--offline`` for the cache, the run must not let Keras replace a file.
    dry_run: bool = False
    #: The doctor runs inside the examined IPython kernel (the Python API or ``%mnist_doctor``).
    in_kernel: bool = False
    #: ``--expect-gpu``: "no GPU visible to TensorFlow" (and what causes it) is a failure.
    expect_gpu: bool = False
    started: float = field(default_factory=time.monotonic)
    #: The run's one deadline (from ``timeout`` and ``started``); every stage takes a slice of it.
    budget: Budget = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget", Budget(self.timeout, started=self.started))

    @property
    def deadline(self) -> float:
        return self.budget.deadline

    def remaining(self, floor: float = 0.05) -> float:
        """Seconds left before ``--timeout``; never below ``floor`` so calls still fail fast."""
        return self.budget.remaining(floor)


class FactError(Exception):
    """A fact could not be computed; checks that need it become ``error`` results."""


class FactUnavailable(FactError):
    """A fact that cannot exist here for a known reason: the checks that need it are *skipped*
    with that reason (e.g. the TLS stages of an interpreter built without ``ssl``), not errors."""


class BudgetExhausted(FactError):
    """The run's ``--timeout`` ended the fact's computation: a limit of the doctor, not a finding."""


class Facts:
    """The lazily computed facts of one run."""

    def __init__(
        self,
        options: Options,
        overrides: dict[str, Any] | None = None,
        providers: Iterable[Provider] = (),
    ) -> None:
        """``overrides`` are values known in advance; ``providers`` add facts for this run only."""
        self._providers = dict(registry().providers)
        self._providers.update({p.__name__: p for p in providers})
        self._values: dict[str, Any] = {"options": options, "facts": self}
        self._errors: dict[str, BaseException] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        if overrides:
            self._values.update(overrides)

    @property
    def options(self) -> Options:
        options: Options = self._values["options"]
        return options

    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def get(self, name: str) -> Any:
        """The value of fact ``name``, computing it (once) if needed."""
        if name in self._values:
            return self._values[name]
        if name in self._errors:
            raise self._failed(name)
        provider = self._providers.get(name)
        if provider is None:
            raise FactError(f"unknown fact {name!r}; known: {', '.join(sorted(self._providers))}")
        with self._lock_for(name):
            if name in self._values:
                return self._values[name]
            if name in self._errors:
                raise self._failed(name)
            try:
                value = self.call(provider)
            except BaseException as exc:
                self._errors[name] = exc
                raise
            self._values[name] = value
            return value

    def _failed(self, name: str) -> FactError:
        """The error to raise for a fact that failed before (same kind: a budget cut stays one)."""
        original = self._errors[name]
        if isinstance(original, FactUnavailable):  # the same reason for every check that asks
            return FactUnavailable(str(original))
        kind = BudgetExhausted if isinstance(original, BudgetExhausted) else FactError
        error = kind(f"fact {name!r} failed: {original}")
        error.__cause__ = original
        return error

    def provide(self, name: str, value: Any) -> None:
        """Set a fact's value directly (the engine provides ``results`` this way)."""
        self._values[name] = value

    def peek(self, name: str, default: Any = None) -> Any:
        """The value if already computed, without computing it."""
        return self._values.get(name, default)

    def call(self, func: Callable[..., Any]) -> Any:
        """Call ``func`` with the facts its parameters name."""
        kwargs = {name: self.get(name) for name in wanted_facts(func)}
        return func(**kwargs)


def wanted_facts(func: Callable[..., Any]) -> list[str]:
    """The fact names a provider or check asks for (its named parameters)."""
    params = inspect.signature(func).parameters.values()
    return [
        p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
    ]
