"""The import probe: does ``import tensorflow`` / ``tf.keras`` really work in the target?

The probe runs ``target/import_probe.py`` with the target interpreter under a timeout.
It is the slowest fact (TensorFlow's import takes seconds), so the runtime check that
asks for it is marked ``slow`` and starts first.

Its time is a slice of the run's one budget (``--timeout``), capped at
:data:`IMPORT_TIMEOUT_S`. The probe remembers which of the two ended it: a kill at its own
cap is a finding (TensorFlow hangs), a kill because the run's budget ran out is not
(promise 3) — ``runtime.import`` then warns and names the ``--timeout`` that would do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mnist_doctor.facts import Options, fact
from mnist_doctor.facts.flavour import KerasFlavour
from mnist_doctor.pipeline.budget import REPORT_RESERVE_S
from mnist_doctor.probing.subproc import ScriptRun, VerifiedPython, run_script

IMPORT_TIMEOUT_S = 180.0


@dataclass
class ImportProbe:
    """The probe's run and its per-stage answer."""

    run: ScriptRun
    mode: str
    #: The run's remaining budget, not the probe's own cap, set its time limit.
    limited_by_budget: bool = False
    #: The time limit the probe had (seconds); None when it shared the load probe's run.
    limit_s: float | None = None

    @property
    def cut_by_budget(self) -> bool:
        """Killed because the doctor's ``--timeout`` ran out: no verdict on the patient."""
        return self.run.timed_out and self.limited_by_budget

    @property
    def stages(self) -> dict[str, dict[str, Any]]:
        answer = self.run.answer or {}
        return {s["name"]: s for s in answer.get("stages", [])}

    def stage(self, name: str) -> dict[str, Any] | None:
        return self.stages.get(name)

    @property
    def finished(self) -> bool:
        return bool((self.run.answer or {}).get("done"))

    def failed_stage(self) -> dict[str, Any] | None:
        """The first stage that failed, or that started and never finished (crash/timeout)."""
        stages: list[dict[str, Any]] = (self.run.answer or {}).get("stages", [])
        for record in stages:
            if not record.get("ok"):
                return record
        return None


def probe_mode(flavour: KerasFlavour) -> str:
    """``keras`` when Keras 3 runs without TensorFlow, else ``tf``."""
    return "keras" if flavour.api == "keras" else "tf"


#: Set (as a fact) by the CLI when the real ``load_data`` probe runs in this run anyway.
SHARED_IMPORT = "import_shared_with_load_probe"


@fact
def import_probe(
    target_python: VerifiedPython, keras_flavour: KerasFlavour, options: Options, facts: Any
) -> ImportProbe:
    """Import numpy, TensorFlow and tf.keras for real in the target interpreter.

    When the load probe runs anyway it imports exactly the same modules first, with the
    same stage names, so its import stages are reused: TensorFlow is imported once per
    run, which keeps the whole run close to a bare ``load_data()``.
    """
    if facts.peek(SHARED_IMPORT):
        load = facts.get("load_probe")
        return ImportProbe(load.import_view(), load.mode, bool(getattr(load, "limited_by_budget", False)))
    mode = probe_mode(keras_flavour)
    share = options.budget.slice(cap=IMPORT_TIMEOUT_S, reserve=REPORT_RESERVE_S)
    run = run_script(target_python, "import_probe.py", [mode], timeout=share)
    return ImportProbe(run, mode, share.limited_by_budget, share.seconds)


def timeout_needed(timeout_s: float, limit_s: float | None) -> int:
    """A ``--timeout`` that gives the import probe its whole own cap, rounded up to 10 s."""
    used_before = max(timeout_s - (limit_s or 0.0), 0.0)
    needed = used_before + IMPORT_TIMEOUT_S + REPORT_RESERVE_S
    return int(-(-needed // 10) * 10)
