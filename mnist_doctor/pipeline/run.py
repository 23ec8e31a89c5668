"""One diagnosis, from resolved options to the report: the path the CLI and the Python API share.

Discovery, selection, the early start of the real ``load_data`` probe, the engine and the
report are the same whoever asks; only rendering differs (a terminal, JSON, a notebook).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mnist_doctor.errors import UsageError
from mnist_doctor.facts import BudgetExhausted, FactError, Facts, Options, wanted_facts
from mnist_doctor.facts.answers.introspection import Introspection
from mnist_doctor.model import CheckResult
from mnist_doctor.probing.budget import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    from mnist_doctor.probing.subproc import VerifiedPython

#: Facts that ask the target interpreter something in a subprocess of their own and need nothing
#: from the introspection: started beside it, so the two interpreter start-ups overlap instead of
#: queueing behind :func:`validated` (without this they were half of a static-checks run).
EARLY_FACTS = ("proxy_view",)

#: Runs the chosen checks on the facts (the CLI wraps the engine in its spinner).
Runner = Callable[[Facts, list[Any]], list[CheckResult]]


@dataclass
class RunOutcome:
    """What one run found: the results in check order and the report dict (plugin load errors in it).

    Not a :class:`mnist_doctor.causes.Diagnosis` (one named root cause): a run holds many results."""

    results: list[CheckResult]
    report: dict[str, Any]

    @property
    def exit_code(self) -> int:
        return int(self.report["exit_code"])


def new_facts(options: Options, provided: dict[str, Any] | None = None) -> Facts:
    """Facts for a run; the handshake with the target starts at once, then its introspection, both in
    the background.

    The handshake starts before the fact providers are imported (their import is most of the
    doctor's start) and the introspection subprocess overlaps the rest of the doctor's own imports
    (the checks, rich); :func:`validated` waits for it and turns a non-Python target into a usage error.
    """
    early: list[Callable[[], VerifiedPython]] = []
    if not provided or "target_python" not in provided:
        from mnist_doctor.probing.handshake import HELLO_TIMEOUT_S, Greeting

        greeting = Greeting(options.python, options.budget.slice(cap=HELLO_TIMEOUT_S))

        def target_python() -> VerifiedPython:
            """This run's ``target_python``: the registered provider's, from the handshake under way."""
            from mnist_doctor.facts.introspection import verified

            return verified(greeting.answer())

        early.append(target_python)
    facts = Facts(options, overrides=provided, providers=early)

    def prefetch() -> None:
        with contextlib.suppress(Exception):  # reported by validated(), with a usage message
            facts.get("introspection")

    threading.Thread(target=prefetch, name="introspection", daemon=True).start()
    return facts


def validated(facts: Facts) -> Facts:
    """The target answered the introspection, or a :class:`UsageError`: not a Python, or too short a
    ``--timeout`` (a healthy interpreter cut off by the run's own budget is not called broken).

    The target's proxy values are registered as secrets here, before anything is rendered.
    """
    try:
        facts.get("target_python")  # the handshake first: its reason, not the introspection's
        register_target_secrets(facts.get("introspection"))
    except BudgetExhausted as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, BudgetExhausted) else exc
        raise UsageError(
            f"--python {facts.options.python}: not examined, {cause}",
            hint=f"rerun with a larger --timeout (it is {facts.options.timeout:g} s; the default is "
            f"{DEFAULT_TIMEOUT_S:g} s)",
        ) from None
    except FactError as exc:
        reason = exc.__cause__ if isinstance(exc.__cause__, FactError) else exc  # first asked elsewhere
        raise UsageError(
            f"--python {facts.options.python}: not a working Python interpreter ({reason})",
            hint='in the environment to examine, run: python -c "import sys; print(sys.executable)"',
        ) from None
    return facts


def register_target_secrets(info: Introspection) -> None:
    """The examined interpreter's proxy values are secrets too, wherever they are echoed later."""
    from mnist_doctor.text.redact import register_env, register_url

    register_env(info.env)
    for value in info.urllib.getproxies.values():
        register_url(value)


def start_early_facts(facts: Facts, chosen: list[Any]) -> None:
    """Start, in the background, each of :data:`EARLY_FACTS` that a chosen check asks for.

    A failure is kept by ``facts`` and met by the check that asks, exactly as without the
    early start; the subprocess is bounded by the fact's own budget slice.
    """
    wanted = {name for check in chosen for name in wanted_facts(check.run)}

    def compute(name: str) -> None:
        with contextlib.suppress(Exception):  # the check asking for it reports it
            facts.get(name)

    for name in EARLY_FACTS:
        if name in wanted:
            threading.Thread(target=compute, args=(name,), name=f"early:{name}", daemon=True).start()


def share_tensorflow_import(facts: Facts, chosen: list[Any]) -> None:
    """Start the real load_data probe now, and let the import check reuse its imports.

    TensorFlow's import is the longest step of a run; when ``load.real`` will run, its probe
    starts before anything else and ``runtime.import`` reads the same subprocess's import
    stages instead of importing TensorFlow a second time. Not under ``--offline``/``--dry-run``,
    where ``load.real`` first decides whether the call would change the cache.
    """
    options = facts.options
    if options.offline or options.dry_run or not any(c.id == "load.real" for c in chosen):
        return
    from mnist_doctor.facts.import_probe import SHARED_IMPORT
    from mnist_doctor.facts.load_probe import start_early

    facts.provide(SHARED_IMPORT, True)
    start_early(facts)


def run_checks(
    facts: Facts,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    *,
    runner: Runner | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> RunOutcome:
    """Run the selected checks on ``facts`` and build the (redacted) report.

    ``meanwhile`` is called once every early probe has started, before the wait for the
    introspection: the CLI imports its renderer there (rich costs as much as an interpreter's
    start), on a core the probes leave idle, instead of after the last check.
    """
    from mnist_doctor.pipeline.engine import Engine, discover
    from mnist_doctor.pipeline.engine import select as choose
    from mnist_doctor.pipeline.report import build_report

    checks, load_errors = discover()
    selection = list(select or [])
    chosen = choose(checks, selection or None, ignore)
    share_tensorflow_import(facts, chosen)
    start_early_facts(facts, chosen)
    if meanwhile is not None:
        meanwhile()
    validated(facts)
    results = runner(facts, chosen) if runner else Engine(facts).run(chosen)
    errors = [e.result() for e in load_errors] if not selection else []
    options = facts.options
    report = build_report(facts, results, strict=options.strict, verbose=options.verbose, load_errors=errors)
    return RunOutcome(results, report)
