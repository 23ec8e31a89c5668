"""``--fix``: offer the safe fixes the checks found, one confirmation each.

Safe means reversible and limited to the dataset cache: removing a corrupt ``mnist.npz``
(Keras downloads it again) and downloading it from a mirror. Version problems get the
exact ``pip`` command; pip only runs after an explicit "yes" typed at a terminal
(``--yes`` never installs packages: moving TensorFlow or NumPy can break other projects).

A fix is described by a check in its result's ``data["fix"]`` (``{"kind": "clear_cache" |
"fetch" | "pip", "reason": ..., "command": ..., "steps": [[argv...], ...]}``). ``steps`` is
the argv of the very command the hint shows (built by :mod:`mnist_doctor.hints`, which knows
whether the target has pip, or needs uv or ensurepip): ``--fix`` prints ``command`` and runs
``steps`` in order, so what runs is what was shown. A result without ``data["fix"]`` whose
hint starts with a ``-m pip`` command is still offered (text split with :func:`shlex.split`),
for checks that do not build a :class:`~mnist_doctor.hints.Command`.
Returns True when something changed, so the CLI re-runs the checks.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from rich.markup import escape

from mnist_doctor.dataset import DEFAULT_ORIGIN
from mnist_doctor.facts import Facts
from mnist_doctor.model import CheckResult, Status

#: ``python -m pip install ...`` (or ``uv pip ...``, or ensurepip first) at the start of a hint,
#: up to a double space or "(": only for results that carry no structured ``data["fix"]``.
_PIP_HINT = re.compile(
    r"^\s*`?((?:\S+ -m ensurepip --upgrade && )?(?:\S+ -m pip|uv pip) (?:install|uninstall) [^`(\n]+?)`?"
    r"\s*(?:\s\s|\(|$)"
)
PIP_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Fix:
    kind: str  # clear_cache | fetch | pip
    reason: str
    source: str  # the check id that found it
    command: str | None = None
    #: argv run in order; the structured form of ``command`` (None: split ``command``).
    steps: tuple[tuple[str, ...], ...] | None = None
    #: The one dataset a cache fix acts on (None: the run's ``--dataset`` selection).
    dataset: str | None = None

    def argvs(self) -> list[list[str]]:
        if self.steps:
            return [list(step) for step in self.steps]
        return [shlex.split(part) for part in (self.command or "").split(" && ") if part.strip()]


def collect_fixes(results: Iterable[CheckResult] | dict[str, CheckResult]) -> list[Fix]:
    """The distinct fixes named by failed (or warning) results, cache first, pip last."""
    items = results.values() if isinstance(results, dict) else results
    found: dict[tuple[str, str | None, str | None], Fix] = {}
    for result in items:
        if result.status not in (Status.FAIL, Status.WARN, Status.ERROR):
            continue
        data = result.data or {}
        # ``fixes``: one per dataset when a check covers several (cache.integrity with --dataset)
        specs = [s for s in [data.get("fix"), *(data.get("fixes") or [])] if isinstance(s, dict)]
        candidates = []
        for spec in specs:
            if spec.get("kind") in ("clear_cache", "fetch", "pip", "reuse"):
                steps = _steps(spec.get("steps"))
                dataset = spec.get("dataset") if isinstance(spec.get("dataset"), str) else None
                candidates.append(
                    Fix(
                        spec["kind"],
                        str(spec.get("reason") or result.summary),
                        result.id,
                        spec.get("command"),
                        steps,
                        dataset,
                    )
                )
        if not candidates:
            match = _PIP_HINT.match(result.hint or "")
            if not match:
                continue
            candidates.append(Fix("pip", result.summary, result.id, match.group(1).strip()))
        for fix in candidates:
            if fix.kind == "pip" and not fix.command:
                continue
            found.setdefault((fix.kind, fix.command, fix.dataset), fix)
    order = {"clear_cache": 0, "reuse": 1, "fetch": 2, "pip": 3}
    return sorted(found.values(), key=lambda f: order[f.kind])


def _steps(raw: Any) -> tuple[tuple[str, ...], ...] | None:
    """Validated argv lists from ``data["fix"]["steps"]`` (anything malformed: None)."""
    if not isinstance(raw, list) or not raw:
        return None
    if not all(isinstance(step, list) and step and all(isinstance(w, str) for w in step) for step in raw):
        return None
    return tuple(tuple(step) for step in raw)


def _confirm(console: Any, question: str, *, yes: bool, interactive: bool) -> bool:
    if yes:
        return True
    if not interactive:
        console.print(f"  skipped (not a terminal; rerun with --yes to accept): {question}")
        return False
    from rich.prompt import Confirm

    return bool(Confirm.ask(question, console=console, default=False))


def _mirror(facts: Facts) -> str | None:
    origin = facts.options.origin
    return origin if origin and origin != DEFAULT_ORIGIN else None


def fresh_facts(facts: Facts) -> Facts:
    """Facts for an action after the run: same options and the same deadline, nothing cached."""
    return Facts(facts.options)


def _apply(fix: Fix, facts: Facts, console: Any, *, yes: bool, dry_run: bool, interactive: bool) -> bool:
    """Carry out one fix; True if it changed something.

    Actions draw on the run's one ``--timeout`` budget: the whole run, fixes included, is bounded.
    """
    facts = fresh_facts(facts)
    if fix.dataset is not None and fix.dataset in facts.options.datasets:
        facts = Facts(replace(facts.options, datasets=(fix.dataset,)))
    from mnist_doctor import actions

    if fix.kind == "reuse" and fix.dataset is not None:
        from mnist_doctor.actions.reuse import place_copy

        return place_copy(facts, console, fix.dataset, yes=yes, dry_run=dry_run, interactive=interactive)
    if fix.kind == "clear_cache" and fix.dataset not in (None, "mnist"):
        # MERGE: --clear-cache acts on mnist.npz only in this branch; once it follows
        # ``options.datasets`` (h14-actions), drop this branch so the fix runs it.
        console.print(f"  run: mnist-doctor --clear-cache --dataset {fix.dataset}")
        return False
    if fix.kind == "clear_cache":
        code = actions.clear_cache(facts, console, yes=yes, dry_run=dry_run, interactive=interactive)
        return code == 0 and not dry_run
    if fix.kind == "fetch":
        mirror = _mirror(facts)
        if mirror is None:
            console.print(
                "  to download from a mirror: `mnist-doctor --fetch --mirror URL`; or copy mnist.npz "
                "from a machine that has it and run `mnist-doctor --seed FILE`"
            )
            return False
        if dry_run:
            console.print(f"  would download mnist.npz from {mirror} into the Keras cache")
            return False
        if not _confirm(console, f"download mnist.npz from {mirror}?", yes=yes, interactive=interactive):
            return False
        return actions.fetch_dataset(facts, console, mirror) == 0
    return _run_pip(fix, console, dry_run=dry_run, interactive=interactive)


def _run_pip(fix: Fix, console: Any, *, dry_run: bool, interactive: bool) -> bool:
    """Print the command; run it only on an explicit answer at a terminal (never with --yes alone)."""
    command = fix.command or ""
    console.print(f"  version fix: {escape(command)}")
    if dry_run or not interactive:
        return False
    from rich.prompt import Confirm

    question = f"run `{escape(command)}` now? (changes installed packages)"
    if not Confirm.ask(question, console=console, default=False):
        return False
    return run_steps(fix.argvs(), console)


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


def run_steps(argvs: list[list[str]], console: Any, timeout: float = PIP_TIMEOUT_S) -> bool:
    """Run each argv in order, stopping at the first failure (``a && b``)."""
    for argv in argvs:
        try:
            code = _run_relayed(argv, console, timeout)
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
    """Offer each safe fix found; True if any changed the environment (the CLI then re-runs)."""
    fixes = collect_fixes(results)
    if not fixes:
        console.print("\nno automatic fix for the problems found: follow the hints above")
        return False
    console.print("\nfixes" + (" (dry run: nothing will change)" if dry_run else "") + ":")
    changed = False
    for fix in fixes:
        console.print(f"- {fix.reason} (from {fix.source})")
        changed = _apply(fix, facts, console, yes=yes, dry_run=dry_run, interactive=interactive) or changed
    return changed
