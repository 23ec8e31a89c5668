"""The import probe: does ``import tensorflow`` / ``tf.keras`` really work in the target?

The probe runs ``target/import_probe.py`` with the target interpreter under a timeout.
It is the slowest fact (TensorFlow's import takes seconds), so the runtime check that
asks for it is marked ``slow`` and starts first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mnist_doctor.facts import Options, fact
from mnist_doctor.flavour import KerasFlavour
from mnist_doctor.subproc import ScriptRun, run_script

IMPORT_TIMEOUT_S = 180.0


@dataclass
class ImportProbe:
    """The probe's run and its per-stage answer."""

    run: ScriptRun
    mode: str

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
        for record in (self.run.answer or {}).get("stages", []):
            if not record.get("ok"):
                return record
        return None


def probe_mode(flavour: KerasFlavour) -> str:
    """``keras`` when Keras 3 runs without TensorFlow, else ``tf``."""
    return "keras" if flavour.api == "keras" else "tf"


@fact
def import_probe(target_python: str, keras_flavour: KerasFlavour, options: Options) -> ImportProbe:
    """Import numpy, TensorFlow and tf.keras for real in the target interpreter."""
    mode = probe_mode(keras_flavour)
    run = run_script(
        target_python, "import_probe.py", [mode], timeout=min(IMPORT_TIMEOUT_S, options.remaining())
    )
    return ImportProbe(run, mode)
