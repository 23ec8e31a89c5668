"""After ``--fix``: which problems the re-check found fixed, which it still found, and which it never judged.

The re-check after a fix shares the run's one budget (the whole run stays within ``--timeout``),
so it may have too little time left to judge a check again, or it skips it. Its exit code alone
would then forget a failure found before the fix: the fix would "succeed" by running out of
time. Here a problem found before the fix counts as fixed only when the re-check judged that
check again and did not find it; a check the re-check skipped, or that the doctor's budget cut
short, keeps its verdict from before. Pure: it reads two reports' result dicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: Statuses that make the exit code 1 (``--strict`` adds ``warn``).
BAD = ("fail", "error")
#: Keys of a result's ``data`` that mark it as stopped by the doctor's own budget (no verdict).
BUDGET_MARKS = ("cut_by_budget", "budget_limited")


def judged(result: dict[str, Any]) -> bool:
    """Did this result come from a check that ran to a verdict (not skipped, not cut by the budget)?"""
    if result.get("status") == "skip":
        return False
    data = result.get("data") or {}
    return not (isinstance(data, dict) and any(data.get(mark) for mark in BUDGET_MARKS))


@dataclass(frozen=True)
class FixOutcome:
    """The problems found before the fix, each as the re-check left it (check ids, report order)."""

    #: Judged again, and no longer a problem: fixed, and verified.
    fixed: tuple[str, ...]
    #: Judged again, and still a problem.
    still_failing: tuple[str, ...]
    #: Not judged again (skipped, cut by the budget, or absent): still counted as the problem it was.
    not_rechecked: tuple[str, ...]
    #: Problems the re-check found that were not there before.
    new: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        return 1 if (self.still_failing or self.not_rechecked or self.new) else 0

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "fixed": list(self.fixed),
            "still_failing": list(self.still_failing),
            "not_rechecked": list(self.not_rechecked),
            "new": list(self.new),
        }

    def lines(self) -> list[str]:
        """What the terminal says after the re-check: one line per kind that has any."""
        out = []
        if self.fixed:
            out.append(f"fixed, and verified by the re-check: {', '.join(self.fixed)}")
        if self.still_failing:
            out.append(f"still failing: {', '.join(self.still_failing)}")
        if self.new:
            out.append(f"failing now, not before: {', '.join(self.new)}")
        if self.not_rechecked:
            out.append(
                f"not re-checked (skipped, or cut by the doctor's --timeout): {', '.join(self.not_rechecked)}"
                " — still counted as failing; run mnist-doctor again to check"
            )
        return out


def reconcile(
    before: Iterable[dict[str, Any]], after: Iterable[dict[str, Any]], *, strict: bool = False
) -> FixOutcome:
    """Each problem of ``before`` (a report's results) as ``after`` (the re-check's) left it."""
    bad = BAD + (("warn",) if strict else ())
    again = {str(r.get("id")): r for r in after}
    problems = [str(r.get("id")) for r in before if r.get("status") in bad]
    fixed, still, unseen = [], [], []
    for rid in problems:
        result = again.get(rid)
        if result is None or not judged(result):
            unseen.append(rid)
        elif result.get("status") in bad:
            still.append(rid)
        else:
            fixed.append(rid)
    new = [rid for rid, r in again.items() if r.get("status") in bad and rid not in problems]
    return FixOutcome(tuple(fixed), tuple(still), tuple(unseen), tuple(new))
