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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mnist_doctor.facts import Options, fact
from mnist_doctor.facts.answers.introspection import (
    ListOf,
    MapOf,
    Obj,
    OneOf,
    Opt,
    WrongShape,
    problem,
    record_of,
)
from mnist_doctor.facts.flavour import KerasFlavour
from mnist_doctor.probing.budget import REPORT_RESERVE_S
from mnist_doctor.probing.subproc import ScriptRun, VerifiedPython, run_script

IMPORT_TIMEOUT_S = 180.0
#: More stages or causes than this is no answer the script gives.
MAX_ITEMS = 64
#: Which Keras ``tf.keras`` (or ``keras``) turned out to be.
KERAS_KINDS = ("tf_keras", "keras3", "keras2")


#: What a stage found (the module's version, and for Keras which one and its backend).
MODULE_SEEN = Obj(
    {"version": Opt(str), "file": Opt(str), "kind": Opt(OneOf(KERAS_KINDS)), "backend": Opt(str)}
)
#: One stage as ``stage()`` in target/_prelude.py records it.
STAGE = Obj(
    {
        "name": str,
        "ok": bool,
        "started": bool,
        "value": Opt(MODULE_SEEN),
        "error_type": Opt(str),
        "error": Opt(str),
        "chain": ListOf(str, MAX_ITEMS),
        "traceback": Opt(str),
        "elapsed_s": float,
    }
)
ANSWER = Obj({"stages": ListOf(STAGE, MAX_ITEMS), "done": bool, "env": MapOf(Opt(str)), "mode": str})


@dataclass(frozen=True)
class ModuleSeen:
    """A module the probe imported: its ``__version__``; for Keras, which one and its backend."""

    version: str | None = None
    kind: str | None = None
    backend: str | None = None


@dataclass(frozen=True)
class ImportStage:
    """One import the probe made (``numpy``, ``tensorflow``, ``tf.keras`` or ``keras``)."""

    name: str
    ok: bool = False
    elapsed_s: float = 0.0
    #: The module's answer when it imported (empty when it did not).
    value: ModuleSeen = field(default_factory=ModuleSeen)
    error_type: str | None = None
    error: str | None = None
    #: The exception's causes, each "Type: message".
    chain: tuple[str, ...] = ()
    traceback: str | None = None

    @classmethod
    def read(cls, record: Mapping[str, Any]) -> ImportStage:
        """From a record already checked against :data:`STAGE`."""
        value = record.get("value") or {}
        chain = tuple(record.get("chain") or ())
        return record_of(cls, record, value=record_of(ModuleSeen, value), chain=chain)


def read_answer(answer: object) -> tuple[tuple[ImportStage, ...], dict[str, str | None], bool]:
    """(stages, the environment the probe saw, finished) from its answer, by shape.

    Raises :class:`WrongShape` naming the first value that departs; no answer is no stage.
    """
    if answer is None:
        return (), {}, False
    found = problem(answer, ANSWER)
    if found:
        raise WrongShape(found)
    assert isinstance(answer, dict)
    unnamed = next((i for i, s in enumerate(answer.get("stages") or ()) if "name" not in s), None)
    if unnamed is not None:
        raise WrongShape(f"stages[{unnamed}] has no name")
    stages = tuple(ImportStage.read(record) for record in answer.get("stages") or ())
    return stages, dict(answer.get("env") or {}), answer.get("done", False)


@dataclass
class ImportProbe:
    """The probe's run and its per-stage answer, read by shape once (:func:`read_answer`)."""

    run: ScriptRun
    mode: str
    #: The run's remaining budget, not the probe's own cap, set its time limit.
    limited_by_budget: bool = False
    #: The time limit the probe had (seconds); None when it shared the load probe's run.
    limit_s: float | None = None
    records: tuple[ImportStage, ...] = field(init=False, default=())
    #: ``TF_USE_LEGACY_KERAS`` and ``KERAS_BACKEND`` as the probe's process saw them.
    env: dict[str, str | None] = field(init=False, default_factory=dict)
    finished: bool = field(init=False, default=False)
    #: Why the answer was refused (another shape than the script prints); None: it was read.
    malformed: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        try:
            self.records, self.env, self.finished = read_answer(self.run.answer)
        except WrongShape as exc:
            self.malformed = str(exc)

    @property
    def cut_by_budget(self) -> bool:
        """Killed because the doctor's ``--timeout`` ran out: no verdict on the patient."""
        return self.run.timed_out and self.limited_by_budget

    @property
    def stages(self) -> dict[str, dict[str, Any]]:
        """The stage records as the script printed them, by name (the report's ``data.stages``)."""
        if self.malformed:
            return {}
        answer = self.run.answer or {}
        return {s["name"]: s for s in answer.get("stages", [])}

    def stage(self, name: str) -> ImportStage | None:
        return next((s for s in self.records if s.name == name), None)

    def seen(self, *names: str) -> ModuleSeen:
        """What the first of these stages that ran found (empty when none did)."""
        return next((s.value for n in names if (s := self.stage(n)) is not None), ModuleSeen())

    def failed_stage(self) -> ImportStage | None:
        """The first stage that failed, or that started and never finished (crash/timeout)."""
        return next((s for s in self.records if not s.ok), None)


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
