"""The load probe: run the real ``mnist.load_data()`` in the target interpreter, killed on timeout.

Keras' download has no timeout, so the probe gets whatever is left of ``--timeout``
(minus a margin so the doctor, not the engine, reports the kill). It is the slowest
fact of a run: the check that asks for it is marked ``slow`` and starts first.

The probe must not change the patient: every cached file Keras may read is kept safe
around it (:mod:`mnist_doctor.safekeeping`), and under ``--offline`` the probe's own
sockets are disabled, so Keras cannot reach the network even if it wanted to.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from mnist_doctor.budget import REPORT_RESERVE_S, Slice
from mnist_doctor.dataset import MNIST
from mnist_doctor.facts import Facts, Options, fact
from mnist_doctor.safekeeping import Safekeeping, candidate_paths
from mnist_doctor.subproc import ScriptRun, run_script

#: A cached file larger than this is not copied aside (and so not offered to Keras): the
#: size past which ``npz_check`` refuses to read a file at all.
MAX_KEPT_BYTES = MNIST.max_file_size
#: Stages of ``target/load_probe.py`` that import (same names as ``target/import_probe.py``).
IMPORT_STAGES = ("numpy", "tensorflow", "tf.keras", "keras")


@dataclass
class LoadProbe:
    """The probe's subprocess run, its JSON answer and the timeout it was given."""

    run: ScriptRun
    requested_mode: str
    #: What :class:`~mnist_doctor.safekeeping.Safekeeping` kept, restored and refused.
    safekeeping: dict[str, Any] = field(default_factory=dict)

    @property
    def timeout_s(self) -> float:
        return self.run.timeout_s

    @property
    def limited_by_budget(self) -> bool:
        """True when the run's ``--timeout`` (not a cap of the probe's own) set its time."""
        return self.run.limited_by_budget

    @property
    def cut_by_budget(self) -> bool:
        """Killed (or interrupted) because the run's own budget ran out: not the patient's fault."""
        return self.run.cut_by_budget

    @property
    def refused(self) -> dict[str, Any] | None:
        """Set when the probe did not call ``load_data``: Keras would read a file it must not."""
        value = self.answer.get("refused")
        return value if isinstance(value, dict) else None

    @property
    def kept_files(self) -> list[dict[str, Any]]:
        """User files Keras removed or replaced during the probe (and whether they were put back)."""
        return [k for k in self.safekeeping.get("kept", []) if k.get("outcome") in ("removed", "replaced")]

    @property
    def mode(self) -> str:
        """``tf`` or ``keras``: what the probe resolved (``auto`` picks in the target)."""
        return str(self.answer.get("mode") or self.requested_mode)

    @property
    def answer(self) -> dict[str, Any]:
        return self.run.answer or {}

    def stage(self, name: str) -> dict[str, Any] | None:
        for record in self.answer.get("stages", []):
            if record.get("name") == name:
                return record
        return None

    @property
    def succeeded(self) -> bool:
        record = self.stage("load_data")
        return bool(record and record.get("ok"))

    @property
    def error(self) -> dict[str, Any] | None:
        """The structured exception of the stage that failed (load_data's, else the import's)."""
        records = self.answer.get("stages", [])
        for record in reversed(records):
            if not record.get("ok") and record.get("exception"):
                return record["exception"]
        return None

    @property
    def import_failed(self) -> bool:
        """An import stage failed (or never finished): load_data was not even reached."""
        return self.stage("load_data") is None and any(
            not r.get("ok") for r in self.answer.get("stages", []) if r.get("name") in IMPORT_STAGES
        )

    def import_text(self) -> str:
        """Errors of the failed import stages, as text for ``classify_import_failure``."""
        parts = []
        # The last failed stage stopped the probe: its error names the cause first (a missing
        # numpy matters less than the missing TensorFlow that made load_data unreachable).
        for record in reversed(self.answer.get("stages", [])):
            if record.get("name") in IMPORT_STAGES and not record.get("ok"):
                parts += [f"{record.get('error_type')}: {record.get('error')}", *record.get("chain", [])]
        return "\n".join(parts)

    def unfinished_stage(self) -> str | None:
        """The stage that started and never reported back (the probe was killed or crashed)."""
        stages = self.answer.get("stages", [])
        if stages and not stages[-1].get("ok") and not stages[-1].get("exception"):
            return stages[-1].get("name")
        return None

    def import_view(self) -> ScriptRun:
        """This run seen as ``target/import_probe.py``'s: only the import stages.

        The probe imports exactly what the import probe imports, with the same stage names
        and fields, so ``import_probe`` can be derived from it instead of importing
        TensorFlow a second time (``ImportProbe(load_probe.import_view(), load_probe.mode)``).
        A kill or crash after the imports finished is not an import problem.
        """
        stages = [r for r in self.answer.get("stages", []) if r.get("name") in IMPORT_STAGES]
        imports_done = self.stage("load_data") is not None or self.answer.get("done", False)
        answer = dict(self.answer, stages=stages, done=bool(imports_done))
        after_imports = self.stage("load_data") is not None
        return replace(
            self.run,
            answer=answer if self.run.answer is not None else None,
            timed_out=self.run.timed_out and not after_imports,
            returncode=0 if after_imports else self.run.returncode,
        )

    def partial_files(self) -> list[dict[str, Any]]:
        """Files the probe's download left where there was none (removed again by the doctor)."""
        return [
            {"path": n["path"], "size": n.get("size", 0), "outcome": n.get("outcome", "")}
            for n in self.safekeeping.get("new", [])
            if str(n.get("outcome", "")).startswith("partial")
        ]


def run_load_probe(
    python: str,
    mode: str,
    timeout: float | Slice,
    *,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    offline: bool = False,
) -> LoadProbe:
    """Run ``target/load_probe.py`` with the user's cached files kept safe around it.

    ``env``/``cwd`` default to the doctor's own (the user's). Files Keras removes or replaces
    are put back before this returns, also when the probe was killed; a signal arriving
    meanwhile leaves them to :func:`mnist_doctor.safekeeping.restore_all`.
    """
    keeping = Safekeeping(MNIST.sha256, MNIST.size, MAX_KEPT_BYTES)
    try:
        keeping.protect(candidate_paths(MNIST.file_name, env))
        config = {"refuse": keeping.refused_paths, "offline": offline}
        run = run_script(
            python, "load_probe.py", [mode, json.dumps(config)], timeout=timeout, env=env, cwd=cwd
        )
    finally:
        keeping.restore()
    return LoadProbe(run, mode, keeping.report())


@fact
def load_probe(target_python: str, options: Options) -> LoadProbe:
    """Call the real ``load_data`` in the target interpreter, in the user's working directory.

    The probe picks ``tf`` or ``keras`` itself (``auto``: ``keras`` only when TensorFlow is
    absent), so it starts at once instead of waiting for the introspection that the
    ``keras_flavour`` prediction needs: it is the longest step of a run. It gets what is
    left of the run's budget, minus the margin the check needs to report a kill.
    """
    share = options.budget.slice(reserve=REPORT_RESERVE_S)
    return run_load_probe(target_python, "auto", share, cwd=os.getcwd(), offline=options.offline)


def start_early(facts: Facts) -> threading.Thread | None:
    """Start computing ``load_probe`` in the background right away (the CLI calls this first).

    The probe only needs ``target_python`` and ``options``, and TensorFlow's import is the
    longest step of a run: starting it before the introspection and the check discovery
    hides their cost inside the import. Not under ``--offline`` (the check may not run).
    """
    if facts.options.offline:
        return None

    def compute() -> None:
        with contextlib.suppress(Exception):  # the check reports the fact's error itself
            facts.get("load_probe")

    thread = threading.Thread(target=compute, name="load_probe-early", daemon=True)
    thread.start()
    return thread
