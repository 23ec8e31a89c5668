"""``--fix``: carry out the typed fixes the checks found, one confirmation each.

A check states what fixes its finding as ``Result.fixes``: ordered :class:`~mnist_doctor.model.Fix`
steps whose argv is exact (the hint's text is rendered from it). Nothing here reads a hint:

- ``clear-cache``, ``fetch`` and ``reuse`` are the doctor's own actions, limited to the dataset's
  files in the Keras cache (removing a corrupt ``mnist.npz``, which Keras downloads again;
  downloading it from the mirror the step names; placing a verified archive the other Keras line
  cached where this one reads it, :mod:`mnist_doctor.actions.reuse`). ``--yes`` accepts them.
- ``command`` steps (pip, uv, ensurepip: they change installed packages) run exactly their argv,
  only after an explicit "yes" typed at a terminal: ``--yes`` never installs packages, as moving
  TensorFlow or NumPy can break other projects (``needs_confirmation``).

One result's steps (for one dataset) run in order and stop at the first failure (``a && b``).
Returns True when something changed, so the CLI re-runs the checks.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rich.markup import escape
from rich.text import Text

from mnist_doctor.datasets.table import DEFAULT_DATASETS
from mnist_doctor.facts import Facts
from mnist_doctor.model import CheckResult, Fix, FixKind, Status, shell_line

PIP_TIMEOUT_S = 900.0
#: Doctor actions first (they are quick and reversible), package changes last.
_ORDER = {FixKind.CLEAR_CACHE: 0, FixKind.REUSE: 1, FixKind.FETCH: 2, FixKind.COMMAND: 3}


@dataclass(frozen=True)
class Plan:
    """The steps one result asks for (for one dataset), with the result that found them."""

    source: str  # the check id
    reason: str  # the result's summary (or, one of several datasets: its first step's why)
    steps: tuple[Fix, ...]

    @property
    def command(self) -> str:
        return shell_line(self.steps)


def collect_fixes(results: Iterable[CheckResult] | dict[str, CheckResult]) -> list[Plan]:
    """The distinct fixes of failed (or warning) results: doctor actions first, package changes last.

    Two results asking for the same steps (``cache.integrity`` and ``load.real`` both clearing
    the cache) give one plan. A result covering several datasets (``cache.integrity`` with
    ``--dataset``) gives one plan per dataset (``Fix.dataset``): one dataset's fix failing or
    being declined does not hold back another's.
    """
    items = results.values() if isinstance(results, dict) else results
    found: dict[tuple[tuple[FixKind, tuple[str, ...]], ...], Plan] = {}
    for result in items:
        if result.status not in (Status.FAIL, Status.WARN, Status.ERROR) or not result.fixes:
            continue
        groups: dict[str | None, list[Fix]] = {}
        for fix in result.fixes:
            groups.setdefault(fix.dataset, []).append(fix)
        for steps in groups.values():
            reason = (
                result.summary
                if len(groups) == 1
                else f"{steps[0].dataset or DEFAULT_DATASETS[0]}: {steps[0].why}"
            )
            key = tuple((fix.kind, fix.argv) for fix in steps)
            found.setdefault(key, Plan(result.id, reason, tuple(steps)))
    return sorted(found.values(), key=lambda plan: _ORDER[plan.steps[0].kind])


def _consent(console: Any, question: str, fix: Fix, *, yes: bool, interactive: bool) -> bool:
    """``--yes`` answers for a step that allows it; otherwise only a person at a terminal does."""
    if yes and not fix.needs_confirmation:
        return True
    if not interactive:
        if fix.needs_confirmation:
            console.print("  not run: it runs only after a 'y' typed at a terminal (--yes does not run it)")
        else:
            console.print(Text(f"  skipped (not a terminal; rerun with --yes to accept): {question}"))
        return False
    from rich.prompt import Confirm

    return bool(Confirm.ask(escape(question), console=console, default=False))


def _apply(plan: Plan, facts: Facts, console: Any, *, yes: bool, dry_run: bool, interactive: bool) -> bool:
    """Carry out one plan's steps in order; True if it changed something.

    Actions draw on the run's one ``--timeout`` budget: the whole run, fixes included, is bounded.
    """
    changed = False
    steps = list(plan.steps)
    while steps:
        fix = steps[0]
        if fix.kind is FixKind.COMMAND:
            # Consecutive commands are one line and one question (ensurepip && pip install).
            run = _leading_commands(steps)
            del steps[: len(run)]
            done = _run_commands(run, console, yes=yes, dry_run=dry_run, interactive=interactive)
        else:
            del steps[0]
            done = _action(fix, facts, console, yes=yes, dry_run=dry_run, interactive=interactive)
        changed = changed or done
        if not done:
            break
    return changed


def _leading_commands(steps: Sequence[Fix]) -> list[Fix]:
    run: list[Fix] = []
    for fix in steps:
        if fix.kind is not FixKind.COMMAND:
            break
        run.append(fix)
    return run


def _action(fix: Fix, facts: Facts, console: Any, *, yes: bool, dry_run: bool, interactive: bool) -> bool:
    """The doctor's own action a step names, in-process (what its ``argv`` does typed by hand).

    It acts on the dataset its argv names (``Fix.dataset``; none named: mnist, as the actions
    typed without ``--dataset``), never on the run's whole ``--dataset`` selection: clearing the
    cache because ``mnist.npz`` is broken must not remove a good cifar archive.
    """
    from mnist_doctor import actions
    from mnist_doctor.pipeline.run import new_facts

    # Fresh facts by the one path every run takes: same options and deadline, nothing cached
    # from before the change, narrowed to the step's dataset.
    wanted = (fix.dataset,) if fix.dataset is not None else DEFAULT_DATASETS
    facts = new_facts(replace(facts.options, datasets=wanted))
    console.print(Text(f"  {fix.why}: {fix.command}"))
    accepted = yes and not fix.needs_confirmation
    if fix.kind is FixKind.REUSE:
        from mnist_doctor.actions.reuse import place_copy

        assert fix.dataset is not None  # a Fix cannot be built otherwise
        return place_copy(facts, console, fix.dataset, yes=accepted, dry_run=dry_run, interactive=interactive)
    if fix.kind is FixKind.CLEAR_CACHE:
        code = actions.clear_cache(facts, console, yes=accepted, dry_run=dry_run, interactive=interactive)
        return code == 0 and not dry_run
    assert fix.kind is FixKind.FETCH and fix.url is not None  # a Fix cannot be built otherwise
    if dry_run:
        console.print(Text(f"  would download mnist.npz from {fix.url} into the Keras cache"))
        return False
    question = f"download mnist.npz from {fix.url}?"
    if not _consent(console, question, fix, yes=yes, interactive=interactive):
        return False
    return actions.fetch_dataset(facts, console, fix.url) == 0


def _run_commands(fixes: list[Fix], console: Any, *, yes: bool, dry_run: bool, interactive: bool) -> bool:
    """Print the command; run exactly its argv only on the answer its steps require."""
    line = shell_line(fixes)
    console.print(Text(f"  version fix: {line}"))
    if dry_run:
        return False
    strictest = next((f for f in fixes if f.needs_confirmation), fixes[0])
    whys = "; ".join(dict.fromkeys(f.why for f in fixes))
    if not _consent(console, f"run `{line}` now? ({whys})", strictest, yes=yes, interactive=interactive):
        return False
    return run_steps([list(f.argv) for f in fixes], console)


def _run_relayed(argv: list[str], console: Any, timeout: float) -> int:
    """Run ``argv``, relaying its output line by line through the doctor's console.

    pip or uv may quote an index or proxy URL: their output passes the same redaction and
    control-character escaping as everything else the doctor prints (promise 4).
    """
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace"
    )

    def relay() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            console.print("    " + line.rstrip("\n"))

    pump = threading.Thread(target=relay, name="fix-output", daemon=True)
    pump.start()
    try:
        code = proc.wait(timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    pump.join(1.0)
    return code


def run_steps(argvs: Sequence[Sequence[str]], console: Any, timeout: float = PIP_TIMEOUT_S) -> bool:
    """Run each argv in order, stopping at the first failure (``a && b``)."""
    for argv in argvs:
        try:
            code = _run_relayed(list(argv), console, timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            console.print(f"  {escape(argv[0])} could not run: {escape(str(exc))}")
            return False
        if code != 0:
            console.print(f"  `{escape(shlex.join(argv))}` failed with exit code {code}")
            return False
    console.print("  done: " + escape(" && ".join(shlex.join(a) for a in argvs)))
    return bool(argvs)


def offer_fixes(
    results: Iterable[CheckResult] | dict[str, CheckResult],
    facts: Facts,
    console: Any,
    *,
    yes: bool,
    dry_run: bool,
    interactive: bool,
) -> bool:
    """Offer each fix found; True if any changed the environment (the CLI then re-runs)."""
    plans = collect_fixes(results)
    if not plans:
        console.print("\nno automatic fix for the problems found: follow the hints above")
        return False
    console.print("\nfixes" + (" (dry run: nothing will change)" if dry_run else "") + ":")
    changed = False
    for plan in plans:
        console.print(Text(f"- {plan.reason} (from {plan.source})"))
        changed = _apply(plan, facts, console, yes=yes, dry_run=dry_run, interactive=interactive) or changed
    return changed
