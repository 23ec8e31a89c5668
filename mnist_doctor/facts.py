"""Shared facts: computed once, on demand, by name, and safe to ask for from many threads.

A fact is a function registered with :func:`fact`; its parameters name the other facts
it needs, exactly like a check's ``run``. Modules that define facts register them on
import (the core ones are imported by :func:`load_core_facts`), so a plugin can define
its own facts next to its checks.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mnist_doctor.budget import Budget

_PROVIDERS: dict[str, Callable[..., Any]] = {}


def fact(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``func`` as the provider of the fact named like the function."""
    _PROVIDERS[func.__name__] = func
    return func


def providers() -> dict[str, Callable[..., Any]]:
    return dict(_PROVIDERS)


@dataclass
class Options:
    """What the user asked for; itself available to checks as the fact ``options``."""

    python: str
    offline: bool = False
    timeout: float = 120.0
    origin: str | None = None
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
        self.budget = Budget(self.timeout, started=self.started)

    @property
    def deadline(self) -> float:
        return self.budget.deadline

    def remaining(self, floor: float = 0.05) -> float:
        """Seconds left before ``--timeout``; never below ``floor`` so calls still fail fast."""
        return self.budget.remaining(floor)


class FactError(Exception):
    """A fact could not be computed; checks that need it become ``error`` results."""


class BudgetExhausted(FactError):
    """The run's ``--timeout`` ended the fact's computation: a limit of the doctor, not a finding."""


class Facts:
    """The lazily computed facts of one run."""

    def __init__(self, options: Options, overrides: dict[str, Any] | None = None) -> None:
        load_core_facts()
        self._values: dict[str, Any] = {"options": options, "facts": self}
        self._errors: dict[str, BaseException] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        if overrides:
            self._values.update(overrides)

    @property
    def options(self) -> Options:
        return self._values["options"]

    def known(self, name: str) -> bool:
        return name in self._values or name in _PROVIDERS

    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def get(self, name: str) -> Any:
        """The value of fact ``name``, computing it (once) if needed."""
        if name in self._values:
            return self._values[name]
        if name in self._errors:
            raise self._failed(name)
        provider = _PROVIDERS.get(name)
        if provider is None:
            raise FactError(f"unknown fact {name!r}; known: {', '.join(sorted(_PROVIDERS))}")
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

    def invalidate(self, *names: str) -> None:
        """Forget facts (after a fix changed the world) so they are computed afresh."""
        for name in names:
            self._values.pop(name, None)
            self._errors.pop(name, None)

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


def load_core_facts() -> None:
    """Import the modules that define the core facts (registration happens on import)."""
    from mnist_doctor import (  # noqa: F401
        cache_paths,
        environment,
        flavour,
        gpu,
        gpu_driver,
        gpu_runtime,
        hosted,
        probes,
    )
