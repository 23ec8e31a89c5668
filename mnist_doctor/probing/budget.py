"""One time budget for a whole run, built once from ``--timeout``.

Every stage, subprocess, socket read, retry and action takes a :class:`Slice` of the
same :class:`Budget`, so no code path can outlive the run: a local ``min(CAP, left)``
with its own margin constant is how runs overran before. A slice also remembers
*what* limited it, because a probe cut short by the doctor's own budget is a finding
about the doctor's ``--timeout``, not about the patient (promise 3).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

#: ``--timeout`` when none is given (the command line and the Python API alike).
DEFAULT_TIMEOUT_S = 120.0
#: The shortest slice ever handed out: calls still fail fast instead of blocking forever.
FLOOR_S = 0.05
#: Seconds a probe leaves of the run for the check that reads it: after a kill at the end of
#: its slice, the check still reports the kill itself before the engine's deadline.
REPORT_RESERVE_S = 1.0


@dataclass(frozen=True)
class Slice:
    """A share of the run's time: ``seconds`` from ``started``, and why it is that long."""

    seconds: float
    started: float
    #: True when the run's remaining time (not the stage's own cap) set ``seconds``.
    limited_by_budget: bool
    clock: Callable[[], float] = time.monotonic

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def remaining(self, floor: float = 0.0) -> float:
        """Seconds left in this slice (a socket timeout for the next read, say)."""
        return max(self.deadline - self.clock(), floor)

    def expired(self) -> bool:
        return self.clock() >= self.deadline


class Budget:
    """The run's deadline: ``total_s`` seconds from ``started`` (monotonic clock)."""

    def __init__(
        self, total_s: float, started: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not (isinstance(total_s, (int, float)) and math.isfinite(total_s) and total_s > 0):
            raise ValueError(f"a budget needs a finite positive number of seconds, not {total_s!r}")
        self.total_s = float(total_s)
        self.clock = clock
        self.started = clock() if started is None else started

    @property
    def deadline(self) -> float:
        return self.started + self.total_s

    def remaining(self, floor: float = 0.0) -> float:
        """Seconds left of the whole run (never below ``floor``)."""
        return max(self.deadline - self.clock(), floor)

    def expired(self) -> bool:
        return self.clock() >= self.deadline

    def elapsed(self) -> float:
        return self.clock() - self.started

    def slice(self, cap: float | None = None, reserve: float = 0.0, floor: float = FLOOR_S) -> Slice:
        """A share of what is left: at most ``cap``, keeping ``reserve`` seconds back for reporting.

        ``limited_by_budget`` tells the caller, later, whether a kill at the end of the slice
        was the stage's own cap (a finding) or the run running out (the doctor's limit).
        """
        now = self.clock()
        left = self.deadline - now - reserve
        if cap is not None and cap <= left:
            return Slice(max(cap, floor), now, False, self.clock)
        return Slice(max(left, floor), now, True, self.clock)
