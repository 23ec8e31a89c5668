"""The load probe: run the real ``mnist.load_data()`` in the target interpreter, killed on timeout.

Keras' download has no timeout, so the probe gets whatever is left of ``--timeout``
(minus a margin so the doctor, not the engine, reports the kill). It is the slowest
fact of a run: the check that asks for it is marked ``slow`` and starts first.

The probe must not change the patient: every cached file Keras may read is kept safe
around it (:mod:`mnist_doctor.probing.safekeeping`), and under ``--offline`` the probe's own
sockets are disabled, so Keras cannot reach the network even if it wanted to.

With ``--dataset`` the same process calls every selected loader in turn (the default one first,
then the others from the smallest download to the largest, so a slow 170 MB archive cut by the
budget costs only itself); the answer is read once into a typed outcome per loader
(:mod:`mnist_doctor.facts.answers.load`), so the failure rules and the budget logic apply to
each loader alike. Under ``--offline`` or
``--dry-run``, :func:`load_gates` says which loaders would download or extract into the
user's cache: the probe does not call them.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mnist_doctor.datasets import verification
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.datasets.table import Dataset, default_loader
from mnist_doctor.datasets.verification import DIRECTORY, OK, UNREADABLE, pin_state
from mnist_doctor.facts import Facts, Options, fact
from mnist_doctor.facts.answers.introspection import WrongShape
from mnist_doctor.facts.answers.load import (
    IMPORT_STAGES,
    NOT_REACHED,
    TOP_STAGE,
    ErrorRecord,
    LoadAnswer,
    LoaderOutcome,
    read_answer,
)
from mnist_doctor.probing.budget import REPORT_RESERVE_S, Slice
from mnist_doctor.probing.safekeeping import DatasetKeeping, Safekeeping, candidate_paths
from mnist_doctor.probing.subproc import ScriptRun, VerifiedPython, run_script
from mnist_doctor.text.units import human_bytes

#: A cached file larger than this is not copied aside (and so not offered to Keras): the
#: size past which ``verification`` refuses to read a file at all.
MAX_KEPT_BYTES = MNIST.max_file_size
#: Verdicts of the copy Keras reads under which ``load_data`` changes nothing and needs no network:
#: the pinned file is read; a folder or an unreadable file makes Keras fail before any download.
MNIST_READ_ONLY_VERDICTS = (OK, DIRECTORY, UNREADABLE)


@dataclass
class LoadProbe:
    """The probe's subprocess run, its answer read once into a typed outcome per loader.

    ``top`` is the loader at the answer's top level (the default one, when it was asked for),
    ``others`` the loaders recorded under ``loaders``. An answer of another shape is refused as
    a whole (:attr:`shape_error` says where) and read as no answer.
    """

    run: ScriptRun
    requested_mode: str
    #: What :class:`~mnist_doctor.probing.safekeeping.Safekeeping` kept, restored, refused (``top``'s).
    safekeeping: dict[str, Any] = field(default_factory=dict)
    #: Loaders other than ``top`` that the probe was asked to call, in the order it called them.
    others: tuple[str, ...] = ()
    #: Their safekeeping reports, by loader name.
    others_safekeeping: dict[str, dict[str, Any]] = field(default_factory=dict)
    top: str | None = field(default_factory=lambda: default_loader().name)
    #: Why the answer was refused (None: it has the shape the target script emits).
    shape_error: str | None = field(default=None, init=False)
    parsed: LoadAnswer = field(default_factory=LoadAnswer, init=False)

    def __post_init__(self) -> None:
        try:
            self.parsed = read_answer(self.run.answer, self.top, self.others)
        except WrongShape as exc:
            self.shape_error = str(exc)
            self.run = replace(self.run, answer=None)
            self.parsed = read_answer(None, self.top, self.others)

    def outcome(self, name: str) -> LoaderOutcome:
        """Loader ``name``'s own outcome (``not-reached`` when the probe ended before it)."""
        return self.parsed.loaders.get(name) or LoaderOutcome(name, NOT_REACHED)

    def keeping(self, name: str) -> dict[str, Any]:
        """The safekeeping report of loader ``name``'s files."""
        return self.safekeeping if name == self.top else self.others_safekeeping.get(name, {})

    def killed_during(self, name: str) -> bool:
        """The probe's kill came during loader ``name`` (for ``top``: also during the imports)."""
        if not self.run.timed_out:
            return False
        if self.outcome(name).unfinished:
            return True
        last = self.parsed.stages[-1] if self.parsed.stages else None
        others_running = last is not None and last.unfinished and last.name.startswith(TOP_STAGE + ":")
        return name == self.top and not others_running

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

    def kept_files(self, name: str) -> list[dict[str, Any]]:
        """User files Keras removed or replaced during the probe (and whether they were put back)."""
        kept = self.keeping(name).get("kept", [])
        return [k for k in kept if k.get("outcome") in ("removed", "replaced")]

    @property
    def mode(self) -> str:
        """``tf`` or ``keras``: what the probe resolved (``auto`` picks in the target)."""
        return self.parsed.mode or self.requested_mode

    @property
    def import_failed(self) -> bool:
        """An import stage failed (or never finished): no loader was reached."""
        return any(not s.ok for s in self.parsed.imports)

    @property
    def import_error(self) -> ErrorRecord | None:
        """The exception of the import stage that stopped the probe, if one raised."""
        return next((s.exception for s in reversed(self.parsed.imports) if s.exception), None)

    def import_text(self) -> str:
        """Errors of the failed import stages, as text for ``classify_import_failure``."""
        parts = []
        # The last failed stage stopped the probe: its error names the cause first (a missing
        # numpy matters less than the missing TensorFlow that made load_data unreachable).
        for record in reversed(self.parsed.imports):
            if not record.ok:
                parts += [f"{record.error_type}: {record.error}", *record.chain]
        return "\n".join(parts)

    def unfinished_stage(self) -> str | None:
        """The stage that started and never reported back (the probe was killed or crashed)."""
        stages = self.parsed.stages
        return stages[-1].name if stages and stages[-1].unfinished else None

    def import_view(self) -> ScriptRun:
        """This run seen as ``target/import_probe.py``'s: only the import stages.

        The probe imports exactly what the import probe imports, with the same stage names
        and fields, so ``import_probe`` can be derived from it instead of importing
        TensorFlow a second time (``ImportProbe(load_probe.import_view(), load_probe.mode)``).
        A kill or crash after the imports finished is not an import problem.
        """
        answer = self.run.answer or {}
        stages = [r for r in answer.get("stages", []) if r.get("name") in IMPORT_STAGES]
        # Any loader's stage (the top one's ``load_data`` or another's ``load_data:<name>``) came after them.
        after_imports = any(s.name.split(":", 1)[0] == TOP_STAGE for s in self.parsed.stages)
        imports_done = after_imports or self.parsed.done
        return replace(
            self.run,
            answer=dict(answer, stages=stages, done=bool(imports_done))
            if self.run.answer is not None
            else None,
            timed_out=self.run.timed_out and not after_imports,
            returncode=0 if after_imports else self.run.returncode,
        )

    def partial_files(self, name: str) -> list[dict[str, Any]]:
        """Files the probe's download left where there was none (removed again by the doctor)."""
        return [
            {"path": n["path"], "size": n.get("size", 0), "outcome": n.get("outcome", "")}
            for n in self.keeping(name).get("new", [])
            if str(n.get("outcome", "")).startswith("partial")
        ]


def run_order(datasets: tuple[Dataset, ...]) -> tuple[Dataset, ...]:
    """The default loader first (as before ``--dataset``), then the smallest downloads before the largest."""
    return tuple(sorted(datasets, key=lambda d: (not d.is_default, d.total_size, d.name)))


def run_load_probe(
    python: VerifiedPython,
    mode: str,
    timeout: float | Slice,
    *,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    offline: bool = False,
    datasets: tuple[Dataset, ...] | None = None,
    skip: dict[str, str] | None = None,
) -> LoadProbe:
    """Run ``target/load_probe.py`` with the user's cached files kept safe around it.

    ``env``/``cwd`` default to the doctor's own (the user's). Files Keras removes or replaces
    are put back before this returns, also when the probe was killed; a signal arriving
    meanwhile leaves them to :func:`mnist_doctor.probing.safekeeping.restore_all`. ``datasets``
    (default: the default loader only) are the loaders to call; ``skip`` names loaders not to
    call, and why. The default loader's record is the answer's top level (its copy is kept by
    :class:`Safekeeping`, which lets the target refuse to call it when Keras would read a file
    that could not be kept); every other's is under ``loaders``.
    """
    order = run_order(datasets) if datasets else (default_loader(),)
    skip_map = dict(skip or {})
    top = next((d for d in order if d.is_default and d.name not in skip_map), None)
    spec = (top or default_loader()).main_file.spec
    keeping = Safekeeping(spec.sha256, spec.size, MAX_KEPT_BYTES)
    others: dict[str, DatasetKeeping] = {}
    try:
        if top is not None:
            keeping.protect(candidate_paths(spec.file_name, env))
        for loader in order:
            if loader is top or loader.name in skip_map:
                continue
            kept = others[loader.name] = DatasetKeeping.protect(loader, env)
            if kept.refused:
                first = kept.refused[0]
                skip_map[loader.name] = f"the doctor could not keep {first.path} safe: {first.reason}"
        config: dict[str, Any] = {
            "refuse": keeping.refused_paths,
            "offline": offline,
            "datasets": [d.name for d in order if d is top or not d.is_default],
            "skip": {n: r for n, r in skip_map.items() if top is None or n != top.name},
            # The loader whose record is the answer's top level, and its file (whose paths the
            # target predicts by Keras' rules); it also resolves the Keras that load_data uses.
            "top": (top or default_loader()).name,
            "top_file": spec.file_name,
        }
        run = run_script(
            python, "load_probe.py", [mode, json.dumps(config)], timeout=timeout, env=env, cwd=cwd
        )
    finally:
        keeping.restore()
        for kept in others.values():
            kept.restore()
    return LoadProbe(
        run,
        mode,
        keeping.report(),
        others=tuple(d.name for d in order if d is not top and not d.is_default),
        others_safekeeping={n: k.report() for n, k in others.items()},
        top=top.name if top is not None else None,
    )


@fact
def load_probe(
    target_python: VerifiedPython, options: Options, datasets: tuple[Dataset, ...], facts: Facts
) -> LoadProbe:
    """Call the real ``load_data`` of every selected loader in the target, in the user's working directory.

    The probe picks ``tf`` or ``keras`` itself (``auto``: ``keras`` only when TensorFlow is
    absent), so it starts at once instead of waiting for the introspection that the
    ``keras_flavour`` prediction needs: it is the longest step of a run. It gets what is
    left of the run's budget, minus the margin the check needs to report a kill. Under
    ``--offline``/``--dry-run`` the loaders :func:`load_gates` stops are not called.
    """
    skip: dict[str, str] = {}
    if options.offline or options.dry_run:
        skip = {name: gate.reason for name, gate in facts.get("load_gates").items()}
    share = options.budget.slice(reserve=REPORT_RESERVE_S)
    return run_load_probe(
        target_python,
        "auto",
        share,
        cwd=os.getcwd(),
        offline=options.offline,
        datasets=datasets,
        skip=skip,
    )


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


@dataclass(frozen=True)
class LoadGate:
    """Why ``--offline``/``--dry-run`` does not call a loader: it would download or extract."""

    reason: str
    details: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    #: The reason in a few words, for a summary naming several loaders (no paths).
    short: str = ""


def dataset_gate(
    loader: Dataset, base: Path, kind: str | None, version: tuple[int, int] | None
) -> LoadGate | None:
    """Would ``loader.load_data()`` download, or extract into the cache under ``base``?

    Keras reads a cached file without the network when it is the file Keras pins (for
    Fashion-MNIST, which Keras does not check, when it is there at all); an archive is
    extracted by Keras >= 3.6 on every call, by the older lines when the folder is missing.
    A loader this Keras lacks is never gated: the probe finds it missing and calls nothing.
    """
    if loader.keras3_only and kind != "keras3":
        return None
    folder = base / loader.cache_subdir
    missing: list[tuple[Path, Any]] = []
    for data_file in loader.files:
        if data_file.kind == "json":
            continue  # the word indexes are read by get_word_index(), not by load_data()
        spec = data_file.spec
        if loader.archive is not None:
            layout = loader.archive.layout(kind, version)
            path = folder / layout.archive
        else:
            path = folder / data_file.name
        state = pin_state(path, spec.sha256, spec.size) if data_file.keras_pin != "none" else "ok"
        if data_file.keras_pin == "none" and not os.path.lexists(path):
            state = "missing"
        data = {"read_only": True, "verdict": state, "path": str(path)}
        if state == "missing":
            missing.append((path, data_file))
            continue
        if state != "ok":
            return LoadGate(
                f"Keras would discard {path} (not the file it pins) and download "
                f"{data_file.name} ({human_bytes(spec.size)}) over it",
                data=data,
                short=f"would discard the cached {path.name} and download it again",
            )
        if loader.archive is not None:
            target = folder / layout.folder
            if layout.extracts_every_call:
                return LoadGate(
                    f"this Keras re-extracts {path.name} into {target} on every load_data call",
                    data=dict(data, folder=str(target)),
                    short=f"re-extracts {path.name} on every call",
                )
            if not os.path.lexists(target):
                return LoadGate(
                    f"load_data would extract {path.name} into {target} (missing)",
                    data=dict(data, folder=str(target)),
                    short=f"would extract {path.name} (no {target.name}/ yet)",
                )
    if not missing:
        return None
    size = human_bytes(sum(f.spec.size for _, f in missing))
    host = missing[0][1].spec.host
    names = missing[0][1].name if len(missing) == 1 else f"{len(missing)} files"
    where = missing[0][0] if len(missing) == 1 else missing[0][0].parent
    return LoadGate(
        f"load_data would download {names} ({size}) from {host} into {where}",
        details=tuple(f"{p}: not present" for p, _ in missing),
        data={
            "read_only": True,
            "verdict": "missing",
            "path": str(missing[0][0]),
            "host": host,
            "download_bytes": sum(f.spec.size for _, f in missing),
        },
        short=f"would download {names} ({size}) from {host}",
    )


@fact
def load_gates(options: Options, datasets: tuple[Dataset, ...], facts: Facts) -> dict[str, LoadGate]:
    """Under ``--offline``/``--dry-run``: the loaders whose real call would download or extract.

    Empty otherwise. MNIST's gate is the verdict of the cache integrity rules on the copy
    Keras reads (see ``checks/load.py``); the other loaders' come from :func:`dataset_gate`.
    """
    if not (options.offline or options.dry_run):
        return {}
    gates: dict[str, LoadGate] = {}
    try:
        cache = facts.get("keras_cache")
        flavour = facts.get("keras_flavour")
    except Exception as exc:
        why = f"cannot tell which file Keras reads ({exc})"
        return {d.name: LoadGate(why, data={"read_only": True}) for d in datasets}
    version = flavour.version
    line = (version.major, version.minor) if version is not None else None
    for loader in datasets:
        if loader.is_default:
            # The deep verdict on the copy Keras reads (the one ``cache.integrity`` gives).
            spec = loader.main_file.spec
            copy = verification.inspect_file(cache.dataset_path, spec, with_partials=False)
            if copy.verdict in MNIST_READ_ONLY_VERDICTS:
                continue
            size_mb = human_bytes(spec.size)
            if copy.verdict == verification.MISSING:
                what = (
                    f"load_data would download {spec.file_name} ({size_mb}) from {spec.host} "
                    f"into {cache.dataset_path}"
                )
            else:
                what = (
                    f"Keras would discard the copy it reads ({copy.summary.split(':')[0]}) and download "
                    f"{size_mb} over it"
                )
            gates[loader.name] = LoadGate(
                what,
                details=(f"{cache.dataset_path}: {copy.summary}",),
                data={"read_only": True, "verdict": copy.verdict, "path": str(cache.dataset_path)},
                short=what.split(" into ")[0].removeprefix("load_data "),
            )
            continue
        gate = dataset_gate(loader, Path(cache.base), flavour.kind, line)
        if gate is not None:
            gates[loader.name] = gate
    return gates
