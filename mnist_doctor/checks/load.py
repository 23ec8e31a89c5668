"""The final word: call the real ``load_data()`` and cross-check it with the other findings.

``load.real`` runs the user's own ``load_data`` in the target interpreter (see
:mod:`mnist_doctor.facts.load_probe`) and names the root cause of a failure
(:mod:`mnist_doctor.causes.load`). ``load.consistency`` compares that verdict with the
network and cache families: a doctor whose predictions disagree with the real call must
say so rather than show two contradicting reports.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any

from mnist_doctor.causes import CACHE, IMPORT, NETWORK, Diagnosis
from mnist_doctor.causes.http_status import fetch_again
from mnist_doctor.causes.load import diagnose
from mnist_doctor.compat.table import declared_specs
from mnist_doctor.datasets.spec import DEFAULT_ORIGIN, MNIST, DatasetSpec
from mnist_doctor.datasets.table import Dataset
from mnist_doctor.facts import Facts, Options
from mnist_doctor.facts.load_probe import LoadGate, LoadProbe
from mnist_doctor.model import NETWORK_FAMILIES, BaseCheck, CheckResult, Hint, Result, Status
from mnist_doctor.pipeline.engine import ENTRY_POINT_GROUP
from mnist_doctor.probing.safekeeping import DOWNLOAD_IN_PROGRESS
from mnist_doctor.text.hints import doctor_command, otherwise, quoted, said
from mnist_doctor.text.units import human_bytes, human_duration

#: Families whose verdicts ``load.consistency`` weighs against the real call.
CACHE_FAMILIES = ("cache",)
#: The families whose failure explains a ``load_data()`` failure of each category.
EXPLAINED_BY = {NETWORK: NETWORK_FAMILIES, CACHE: CACHE_FAMILIES, IMPORT: ("env", "compat", "runtime")}


def _tf_minor(facts: Facts) -> str | None:
    try:
        flavour = facts.get("keras_flavour")
    except Exception:
        return None
    tf = getattr(flavour, "tensorflow", None)
    return f"{tf.major}.{tf.minor}" if tf else None


def _declared(facts: Facts) -> dict[str, str]:
    """What TensorFlow's ``Requires-Dist`` declares for each package (empty when unknown)."""
    try:
        tf = facts.get("distributions").tensorflow()
        return declared_specs(tf.requirements(), facts.get("marker_env")) if tf else {}
    except Exception:
        return {}


def read_only_skip(facts: Facts, options: Options, dataset: DatasetSpec, target_python: str) -> Result | None:
    """Under ``--offline``/``--dry-run``: a skip when the real call would download or replace a file.

    Keras discards a cached copy that is not the pinned file and downloads over it (and a
    dangling link or a FIFO is worse). The verdict of ``cache.integrity`` on the copy Keras
    reads predicts that (the ``load_gates`` fact), so the probe is not even started then;
    ``None`` means it is safe.
    """
    gate = facts.get("load_gates").get("mnist")
    if gate is None:
        return None
    return gate_result(gate, options, target_python)


def gate_result(gate: LoadGate, options: Options, target_python: str, name: str = "mnist") -> Result:
    """The skip of a loader that ``--offline``/``--dry-run`` does not call, with the way to test it."""
    mode = "--offline" if options.offline else "--dry-run"
    if "verdict" not in gate.data:
        return Result.skip(f"{mode}: load_data not run: {gate.reason}")
    why = "no network is used" if options.offline else "nothing may change"
    flag = "" if name == "mnist" else f" --dataset {name}"
    return Result.skip(
        f"{mode}: load_data not run: {gate.reason}; under {mode} {why}",
        details=list(gate.details),
        hint=said(doctor_command(target_python, "--seed FILE" + flag))
        + otherwise("or, with a network", doctor_command(target_python, "--fetch" + flag)),
        data=dict(gate.data),
    )


def keras_host() -> str:
    """The host ``load_data()`` downloads from (Keras' own URL, whatever ``--origin`` says)."""
    return MNIST.host


def safekeeping_details(probe: LoadProbe) -> list[str]:
    """What Keras did to the user's cached files during the probe, and that they were put back."""
    lines = []
    for kept in probe.kept_files:
        did = "removed" if kept["outcome"] == "removed" else "replaced"
        back = (
            "the doctor put your copy back, byte for byte"
            if kept.get("restored")
            else f"the doctor could NOT put it back: {kept.get('error')}"
        )
        lines.append(f"Keras {did} {kept['path']} during load_data (it is not the pinned file); {back}")
    return lines


def success_result(probe: LoadProbe, spec: DatasetSpec) -> Result:
    """Shapes, dtypes, labels, the file read and the seed's preprocessing, checked against the spec."""
    load = probe.stage("load_data") or {}
    value = load.get("value") or {}
    arrays = value.get("arrays") or {}
    problems = []
    details = []
    for expected in spec.arrays:
        got = arrays.get(expected.name) or {}
        shape, dtype = tuple(got.get("shape") or ()), got.get("dtype")
        details.append(f"{expected.name}: {shape} {dtype}")
        if shape != expected.shape or dtype != expected.dtype:
            problems.append(f"{expected.name} is {shape} {dtype}, expected {expected.shape} {expected.dtype}")
    low, high = spec.label_range
    for name in ("y_train", "y_test"):
        got = arrays.get(name) or {}
        counts = got.get("class_counts") or []
        details.append(f"{name}: labels {got.get('min')}..{got.get('max')}, class counts {counts}")
        if got.get("min") is None or got["min"] < low or got["max"] > high:
            problems.append(f"{name} labels outside {low}..{high}")
    pre = probe.stage("preprocess") or {}
    pre_value = pre.get("value") or {}
    first = spec.arrays[0].shape if spec.arrays else ()
    if pre.get("ok"):
        details.append(
            f"x_train / 255 in [{pre_value.get('min')}, {pre_value.get('max')}], "
            f"with channel axis {tuple(pre_value.get('shape') or ())}"
        )
        if not (pre_value.get("min", -1) >= 0.0 and pre_value.get("max", 2) <= 1.0) or tuple(
            pre_value.get("shape") or ()
        ) != (*first, 1):
            problems.append("preprocessing sanity step gave unexpected values")
    else:
        problems.append(
            "preprocessing sanity step failed: " + str((pre.get("error") or {}).get("message", "did not run"))
        )
    file = value.get("file") or {}
    if file:
        details.append(f"read {file.get('path')} ({file.get('size', 0):,} bytes)")
    details.append(f"load_data took {value.get('elapsed_s')}s (probe total {probe.run.elapsed_s:.1f}s)")
    data = {
        "succeeded": True,
        "file": file.get("path"),
        "arrays": arrays,
        "elapsed_s": value.get("elapsed_s"),
    }
    if problems:
        return Result.fail(
            "load_data returned unexpected data: " + "; ".join(problems),
            details=details,
            hint="clear the cache (" + quoted("mnist-doctor --clear-cache") + ") and download again",
            data=data,
        )
    return Result.ok(
        f"load_data works: 60000+10000 images {first[1:] if first else ''} uint8, labels 0–9",
        details=details,
        data=data,
    )


def failure_result(diag: Diagnosis, probe: LoadProbe, options: Options) -> Result:
    """The named cause as a result; a kill by the doctor's own budget is a ``warn`` (promise 3)."""
    details = list(diag.details)
    error = probe.error
    if error:
        details.append(
            f"exception: {error.get('type', '').rsplit('.', 1)[-1]}: {str(error.get('message'))[:300]}"
        )
        details.extend(
            f"  from {c.get('type', '').rsplit('.', 1)[-1]}: {str(c.get('message'))[:200]}"
            for c in error.get("chain") or []
        )
        if options.verbose and error.get("traceback"):
            details.append(error["traceback"])
    if options.verbose and probe.run.stderr.strip():
        details.append("probe stderr (tail): " + probe.run.stderr.strip()[-1500:])
    details += safekeeping_details(probe)
    data: dict[str, Any] = {
        "succeeded": False,
        "cause": diag.name,
        "category": diag.category,
        "timed_out": probe.run.timed_out,
    }
    if probe.cut_by_budget:
        return budget_result(diag, probe, options, details, data)
    return Result.fail(
        f"load_data failed — {diag.summary}",
        details=details,
        hint=diag.said,
        data=data,
        fixes=diag.fixes,
        explained_by=EXPLAINED_BY.get(diag.category, ()),
    )


def budget_result(
    diag: Diagnosis, probe: LoadProbe, options: Options, details: list[str], data: dict[str, Any]
) -> Result:
    """The probe ran out of the run's ``--timeout``: say so, and how long to allow, without blaming."""
    stage = probe.unfinished_stage() or "start-up"
    doing = "downloading/reading mnist.npz" if stage == "load_data" else f"the {stage} stage"
    suggest = max(300, int(options.timeout * 3))
    data["cut_by_budget"] = True
    data["unfinished_stage"] = stage
    return Result.warn(
        f"load_data did not finish: the doctor's --timeout {options.timeout:g}s ended it after "
        f"{probe.run.elapsed_s:.1f}s, during {doing}",
        details=[
            f"{diag.summary} — this is the doctor's own time limit, not a fault found here",
            *details,
        ],
        hint=said(f"mnist-doctor --timeout {suggest}", "allow the real load_data more time"),
        data=data,
        fixes=diag.fixes,
        explained_by=EXPLAINED_BY.get(diag.category, ()),
    )


class RealLoadCheck(BaseCheck):
    """Call the real tf.keras.datasets.<name>.load_data() of every selected loader in the target."""

    id = "load.real"
    #: A download Keras rejected (hash, not a zip) after the host served something else: what
    #: the host sent, judged by network.http, is the cause whatever the category.
    explained_by = ("network.http",)
    title = "the real load_data()"
    slow = True
    #: Ordered after the speed measurement (not requiring it): a download the run's --timeout cut
    #: is explained by the link's measured speed when that is why it did not finish.
    after = ("network.throughput",)

    def run(
        self,
        facts: Facts,
        options: Options,
        dataset: DatasetSpec,
        datasets: tuple[Dataset, ...],
        target_python: str,
        results: dict[str, CheckResult],
    ) -> Result:
        names = tuple(d.name for d in datasets)
        if names in ((), ("mnist",)):
            result = mnist_result(facts, options, dataset, target_python)
            throughput = results.get("network.throughput")
            return slow_link_result(result, throughput, options, dataset, target_python)
        return several_result(facts, options, dataset, datasets, target_python)


def slow_link_result(
    result: Result, throughput: CheckResult | None, options: Options, dataset: DatasetSpec, target_python: str
) -> Result:
    """A download cut by our --timeout on a link measured too slow for it: the link is the headline.

    It works, slowly — a ``warn`` naming the measured speed and the time the whole download
    needs, with a command that gives it that time (``mnist-doctor --fetch --timeout N``).
    """
    if not (result.data.get("cut_by_budget") and result.data.get("unfinished_stage") == "load_data"):
        return result
    hosts = (throughput.data.get("hosts") or []) if throughput is not None else []
    sample = next((h for h in hosts if "mnist" in (h.get("datasets") or []) and h.get("projected_s")), None)
    if sample is None:
        return result
    projected, rate = float(sample["projected_s"]), float(sample.get("rate_bps") or 0.0)
    needed = int(-(-(projected * 1.5 + 60) // 10) * 10)  # room for TensorFlow's start-up, rounded up
    why = f"download {dataset.file_name} once, with the time this link needs"
    fix = fetch_again(dataset, target_python, why, "--timeout", str(needed))
    return Result.warn(
        f"load_data() needs {human_duration(projected)} here: {sample.get('host')} delivers "
        f"{human_bytes(rate)}/s (measured), and the doctor's --timeout {options.timeout:g}s ended the "
        "download",
        details=[
            "it works, slowly: your own load_data() finishes in about that time (Keras shows no "
            "progress until it is done)",
            *result.details,
        ],
        hint=f"give it the time, once: `{fix.command}`; later calls read the cached copy at once",
        data={**result.data, "slow_link": {"rate_bps": rate, "projected_s": projected}},
        fixes=(fix,),
    )


def mnist_result(facts: Facts, options: Options, dataset: DatasetSpec, target_python: str) -> Result:
    """MNIST's verdict (the whole check when only MNIST is selected, as before ``--dataset``)."""
    if options.offline or options.dry_run:
        skip = read_only_skip(facts, options, dataset, target_python)
        if skip is not None:
            return skip
    probe: LoadProbe = facts.get("load_probe").view("mnist")
    if probe.refused:
        path = probe.refused.get("path")
        refusal: dict[str, Any] = next(
            (r for r in probe.safekeeping.get("refused", []) if r.get("path") == path), {}
        )
        if refusal.get("kind") == DOWNLOAD_IN_PROGRESS:
            return Result.skip(
                f"load_data not run: {refusal.get('reason')} ({path})",
                details=["the doctor leaves a download in progress alone: it neither copies nor replaces it"],
                hint="wait for that download to finish, then run the diagnosis again",
                data={"refused": probe.refused},
            )
        return Result.skip(
            f"load_data not run: Keras would read {probe.refused.get('path')}, which the doctor "
            "cannot keep safe",
            details=[r["path"] + ": " + r["reason"] for r in probe.safekeeping.get("refused", [])],
            hint="see cache.integrity for what lies there and how to fix it",
            data={"refused": probe.refused},
        )
    if probe.succeeded:
        result = success_result(probe, dataset)
        result.details += safekeeping_details(probe)
        return result
    diag = diagnose(
        probe,
        host=keras_host(),
        target_python=target_python,
        tf_minor=_tf_minor(facts),
        declared=_declared(facts),
        # load_data always asks Keras' own host; a fetch fix needs another place to download from.
        mirror=dataset.origin if dataset.origin != DEFAULT_ORIGIN else None,
    )
    if diag.status is Status.SKIP:  # not a fault of this machine: the test was not possible offline
        return Result.skip(
            f"--offline: load_data not completed: {diag.summary}",
            details=safekeeping_details(probe),
            hint=diag.said,
            data={"cause": diag.name, "read_only": True},
        )
    return failure_result(diag, probe, options)


def loader_result(
    facts: Facts, options: Options, loader: Dataset, probe: LoadProbe, target_python: str
) -> Result:
    """One loader other than MNIST: its own outcome inside the shared probe."""
    record = probe.loader(loader.name)
    status = record.get("status")
    if status == "missing":
        return Result.skip(
            f"this Keras has no {loader.name} loader ({record.get('reason')})",
            data={"missing": True},
        )
    if status == "refused":
        return Result.skip(
            f"load_data not run: {record.get('reason')}",
            details=[
                r["path"] + ": " + r["reason"] for r in probe.view(loader.name).safekeeping.get("refused", [])
            ],
            hint="see cache.integrity for what lies there "
            f"(`{doctor_command(target_python, '--dataset ' + loader.name)}`)",
            data={"refused": record.get("reason")},
        )
    view = probe.view(loader.name)
    own_stage = view.stage("load_data")
    if own_stage is None:
        if probe.import_failed or probe.run.launch_error:
            diag = diagnose(
                view,
                host=loader.hosts[0],
                target_python=target_python,
                dataset=loader,
                tf_minor=_tf_minor(facts),
                declared=_declared(facts),
            )
            return failure_result(diag, view, options)
        if probe.cut_by_budget or probe.run.timed_out:
            return Result.skip(
                "load_data not reached: the probe was cut by the doctor's budget "
                f"(--timeout {options.timeout:g}s) before this loader",
                hint=said(f"mnist-doctor --dataset {loader.name}", "examine it alone"),
                data={"cut_by_budget": True},
            )
        return Result.skip("load_data not reached: the probe ended before this loader", data={})
    if own_stage.get("ok"):
        return loader_success(view, loader)
    if not own_stage.get("exception") and probe.cut_by_budget:
        partial = view.partial_files()
        return Result.skip(
            f"load_data did not finish: cut by the doctor's budget (--timeout {options.timeout:g}s) after "
            f"{probe.run.elapsed_s:.1f}s, while {loader.name} was loading",
            details=[
                "this is the doctor's own time limit, not a fault found here",
                *(
                    f"partial file left by the kill: {p['path']} ({p['size']:,} bytes) — {p['outcome']}"
                    for p in partial
                ),
            ],
            hint=said(
                f"mnist-doctor --dataset {loader.name} --timeout {max(300, int(options.timeout * 3))}",
                "allow the real load_data more time",
            ),
            data={"cut_by_budget": True},
        )
    diag = diagnose(
        view,
        host=loader.hosts[0],
        target_python=target_python,
        tf_minor=_tf_minor(facts),
        declared=_declared(facts),
        dataset=loader,
    )
    if diag.status is Status.SKIP:
        return Result.skip(
            f"--offline: load_data not completed: {diag.summary}",
            hint=diag.said,
            data={"cause": diag.name, "read_only": True},
        )
    return failure_result(diag, view, options)


def loader_success(view: LoadProbe, loader: Dataset) -> Result:
    """Shapes and dtypes of what the loader returned, and the files it read."""
    value = (view.stage("load_data") or {}).get("value") or {}
    arrays = value.get("arrays") or {}
    details = [f"{n}: {tuple(a.get('shape') or ())} {a.get('dtype')}" for n, a in arrays.items()]
    details += [
        f"read {f.get('path')}" + ("/" if f.get("dir") else f" ({f.get('size', 0):,} bytes)")
        for f in value.get("files") or []
        if f
    ]
    details += safekeeping_details(view)
    train = (arrays.get("x_train") or {}).get("shape") or []
    test = (arrays.get("x_test") or {}).get("shape") or []
    count = f"{train[0]}+{test[0]} samples" if train and test else "its arrays"
    return Result.ok(
        f"load_data works: {count}",
        details=details,
        data={"succeeded": True, "arrays": arrays, "elapsed_s": value.get("elapsed_s")},
    )


#: Worst first: the status a check of several loaders reports.
_RANK = {Status.ERROR: 0, Status.FAIL: 1, Status.WARN: 2, Status.OK: 3, Status.SKIP: 4}


def several_result(
    facts: Facts, options: Options, dataset: DatasetSpec, datasets: tuple[Dataset, ...], target_python: str
) -> Result:
    """Every selected loader inside ``load.real``: worst status, each non-ok loader named."""
    gates: dict[str, LoadGate] = facts.get("load_gates") if (options.offline or options.dry_run) else {}
    runnable = [d for d in datasets if d.name not in gates]
    probe: LoadProbe | None = facts.get("load_probe") if runnable else None
    parts: list[tuple[str, Result]] = []
    shorts: dict[str, str] = {}
    downloads: dict[str, list[tuple[str, int]]] = {}  # host -> (loader, bytes) gated for a download
    mode = "--offline" if options.offline else "--dry-run"
    for loader in datasets:
        if loader.name in gates:
            gate = gates[loader.name]
            result = gate_result(gate, options, target_python, loader.name)
            shorts[loader.name] = f"not run under {mode}: {gate.short or gate.reason}"
            size = gate.data.get("download_bytes") or (dataset.size if loader.name == "mnist" else 0)
            if gate.data.get("verdict") == "missing" and size:
                host = gate.data.get("host") or loader.hosts[0]
                downloads.setdefault(host, []).append((loader.name, size))
        elif probe is None:
            continue
        elif loader.name == "mnist":
            result = mnist_result(facts, options, dataset, target_python)
        else:
            result = loader_result(facts, options, loader, probe, target_python)
        parts.append((loader.name, result))
    every = combine(parts, shorts)
    if sum(len(v) for v in downloads.values()) < 2:
        return every
    return _grouped_downloads(every, parts, shorts, downloads, mode, target_python)


def _grouped_downloads(
    every: Result,
    parts: list[tuple[str, Result]],
    shorts: dict[str, str],
    downloads: dict[str, list[tuple[str, int]]],
    mode: str,
    target_python: str,
) -> Result:
    """Several loaders skipped because they would download: one line per host, not one per loader.

    When every loader is such a skip, the hint is each host's offline route (its loaders'
    ``--seed``/``--fetch --mirror`` commands) and ``data.downloads`` feeds the diagnosis line.
    """
    named = {
        host: [f"{name} ({human_bytes(size)})" for name, size in loaders]
        for host, loaders in downloads.items()
    }
    line = f"under {mode}, each would download: " + "; ".join(
        f"{', '.join(names)} from {host}" for host, names in named.items()
    )
    grouped = {name for loaders in downloads.values() for name, _ in loaders}
    if len(grouped) < len(parts):
        others = combine([(n, r) for n, r in parts if n not in grouped], shorts)
        return replace(every, summary=f"{others.summary}; {line}")
    routes: list[Hint] = []
    for host, loaders in downloads.items():
        selection = ",".join(name for name, _ in loaders)
        seed = doctor_command(target_python, f"--dataset {selection} --seed FILE")
        fetch = doctor_command(target_python, f"--dataset {selection} --fetch --mirror URL")
        routes.append(
            f"for {host}: copy each file from a machine that can reach it and run "
            + quoted(seed)
            + ", or download from a mirror: "
            + quoted(fetch)
        )
    data = dict(every.data, read_only=True, verdict="missing", downloads=named)
    hint = Hint("; ".join(routes), tuple(a for route in routes for a in route.advice))
    return replace(every, summary=line, hint=hint, data=data, advice=())


def combine(parts: list[tuple[str, Result]], shorts: dict[str, str] | None = None) -> Result:
    """One result from each loader's: worst status, non-ok loaders named, details and data per loader.

    ``shorts`` are briefer summaries for the combined line (the details keep the full ones).
    """
    shorts = shorts or {}
    worst = min((r.status for _, r in parts), key=lambda s: _RANK[s], default=Status.SKIP)
    if worst == Status.SKIP or all(r.status in (Status.OK, Status.SKIP) for _, r in parts):
        worst = Status.OK if any(r.status == Status.OK for _, r in parts) else Status.SKIP
    not_ok = [(n, r) for n, r in parts if r.status != Status.OK]
    ok_names = [n for n, r in parts if r.status == Status.OK]
    pieces = [
        f"{n}: {r.status.value} — {shorts.get(n) or r.summary}"
        for n, r in sorted(not_ok, key=lambda x: _RANK[x[1].status])
    ]
    if ok_names:
        pieces.append("load_data works for " + ", ".join(ok_names))
    details = [f"{n}: {r.status.value} — {r.summary}" for n, r in parts]
    # One probe process ran every loader: a line they share (its stderr tail) is shown once.
    first_said: dict[str, str] = {}
    for n, r in parts:
        for d in r.details:
            said = first_said.setdefault(d, n)
            details.append(f"  {n}: {d}" if said == n else f"  {n}: (a line the same as {said}'s above)")
    hints = list(dict.fromkeys(f"{n}: {r.hint}" for n, r in not_ok if r.hint and r.status != Status.SKIP))
    hints += list(dict.fromkeys(f"{n}: {r.hint}" for n, r in not_ok if r.hint and r.status == Status.SKIP))
    first_bad = next((r for _, r in sorted(not_ok, key=lambda x: _RANK[x[1].status])), None)
    data: dict[str, Any] = {
        "datasets": {n: {"status": r.status.value, "summary": r.summary, **r.data} for n, r in parts},
        "succeeded": bool(parts) and all(r.status == Status.OK for _, r in parts),
    }
    if first_bad is not None and worst in (Status.FAIL, Status.WARN):
        for key in ("cause", "category", "cut_by_budget"):
            if key in first_bad.data:
                data[key] = first_bad.data[key]
    advice = [a for _, r in sorted(not_ok, key=lambda x: x[1].status == Status.SKIP) for a in r.advice]
    # Each failing loader's steps, each naming its loader (``--fix`` acts on that loader alone;
    # MNIST's name none): the same step from several loaders (an import failure's pip) once.
    fixes = {
        (fix.kind, fix.argv, fix.dataset): fix
        for _, r in sorted(not_ok, key=lambda x: _RANK[x[1].status])
        if r.status in (Status.FAIL, Status.WARN)
        for fix in r.fixes
    }
    return Result(
        status=worst,
        summary="; ".join(pieces) or "no loader selected",
        details=details,
        hint="\n".join(hints) or None,
        data=data,
        fixes=tuple(fixes.values()),
        advice=tuple(dict.fromkeys(advice)),
        explained_by=first_bad.explained_by if first_bad is not None else (),
    )


def _registered(families: tuple[str, ...]) -> list[Any]:
    """The checks registered under these families' entry points (their modules, not ours)."""
    found: list[Any] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in families:
            continue
        try:
            loaded = ep.load()
        except Exception:  # the engine reports broken plugins itself
            continue
        found += [c for c in (loaded if isinstance(loaded, (list, tuple)) else [loaded]) if hasattr(c, "id")]
    return found


def _registered_ids(families: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c.id for c in _registered(families) if isinstance(c.id, str))


@dataclass
class Witness:
    """What one group of checks says: ``pass``/``fail``, or ``None`` when none of them ran."""

    name: str
    verdict: str | None
    failing: list[str]
    ran: int

    def says(self) -> str:
        if self.verdict is None:
            return f"no {self.name} check ran"
        if self.verdict == "fail":
            return f"{self.name} checks failed ({', '.join(self.failing)})"
        return f"{self.name} checks passed ({self.ran} ran)"


def witness(name: str, results: dict[str, CheckResult], ids: set[str]) -> Witness:
    """Only checks that really ran count: a skipped check says nothing (it did not pass)."""
    ran = [r for i, r in results.items() if i in ids and r.status != Status.SKIP]
    failing = [r.id for r in ran if r.status in (Status.FAIL, Status.ERROR)]
    verdict = None if not ran else ("fail" if failing else "pass")
    return Witness(name, verdict, failing, len(ran))


#: Causes that arise in the middle of a whole download, which the network stages (they read the
#: first bytes and a short throughput sample) cannot see: no contradiction with their passing.
MID_TRANSFER_CAUSES = frozenset({"truncated"})


class ConsistencyCheck(BaseCheck):
    """Does the real load_data agree with what the network and cache checks predicted?"""

    id = "load.consistency"
    title = "load_data agrees with the other checks"

    @property
    def after(self) -> tuple[str, ...]:  # type: ignore[override]  # computed: plugins register late
        """``load.real`` and every registered check of the network and cache families (ordering only)."""
        return ("load.real", *_registered_ids(NETWORK_FAMILIES + CACHE_FAMILIES))

    def run(self, results: dict[str, CheckResult], dataset: DatasetSpec) -> Result:
        real = results.get("load.real")
        if real is None or real.status in (Status.SKIP, Status.ERROR):
            return Result.skip("load.real did not run: nothing to compare")
        if real.data.get("cut_by_budget"):
            return Result.skip("load.real was cut short by --timeout: nothing to compare")
        succeeded = bool(real.data.get("succeeded"))
        category = real.data.get("category")
        if not succeeded and category == IMPORT:
            return Result.skip(
                "load_data was never reached: the import failed (see runtime.import), so the network "
                "and cache findings cannot be compared with it"
            )
        # Only checks that open connections test the route; proxy/tls settings checks do not.
        network_ids = {c.id for c in _registered(NETWORK_FAMILIES) if getattr(c, "network", False)}
        cache_ids = set(_registered_ids(CACHE_FAMILIES))
        net = witness("network", results, network_ids)
        cache = witness("cache", results, cache_ids)
        tested_url = dataset.origin
        other_url = tested_url != MNIST.origin
        data: dict[str, Any] = {
            "load": real.status.value,
            "network": net.verdict,
            "cache": cache.verdict,
            "network_tested_url": tested_url if net.verdict else None,
            "load_data_url": MNIST.origin,
        }
        details = [f"load.real: {real.summary}", f"{net.says()}", f"{cache.says()}"]
        if other_url and net.verdict:
            details.append(
                f"the network checks tested {tested_url} (--origin); load_data uses {MNIST.origin}"
            )
        cause = real.summary.removeprefix("load_data failed — ")
        if succeeded:
            return self._success(net, cache, other_url, data, details)
        if category == NETWORK:
            if net.verdict is None:
                return Result.skip(
                    "load_data failed on the network; no network check ran to compare", data=data
                )
            if other_url and net.verdict == "pass":
                return Result.ok(
                    f"the mirror {tested_url} is reachable, but load_data uses {MNIST.origin}, which "
                    f"failed ({cause})",
                    details=details,
                    hint=said(
                        f"mnist-doctor --fetch --mirror {tested_url}", "puts the file where Keras reads it"
                    ),
                    data=data,
                )
            if net.verdict == "pass" and real.data.get("cause") in MID_TRANSFER_CAUSES:
                return Result.ok(
                    f"agree: the host answers ({net.says()}, on the first bytes of the file) and the "
                    f"whole transfer of load_data broke mid-way ({cause})",
                    details=details,
                    data=data,
                )
            if net.verdict == "pass":
                return self._disagree(
                    f"network checks passed but load_data failed with {cause}", data, details
                )
            return Result.ok(
                f"agree: load_data failed on the network and {net.says()}", details=details, data=data
            )
        if category == CACHE:
            if cache.verdict is None:
                return Result.skip("load_data failed on the cache; no cache check ran to compare", data=data)
            if cache.verdict == "pass" and net.verdict == "fail":
                return Result.ok(
                    f"agree: the host sent something other than the dataset ({net.says()}), and "
                    f"Keras rejected what it saved ({cause})",
                    details=details,
                    data=data,
                )
            if cache.verdict == "pass":
                return self._disagree(f"cache checks passed but load_data failed with {cause}", data, details)
            return Result.ok(
                f"agree: load_data failed on the cache and {cache.says()}", details=details, data=data
            )
        return Result.skip(
            f"nothing to compare: the cause ({cause}) is neither a network nor a cache problem",
            data=data,
        )

    @staticmethod
    def _success(
        net: Witness, cache: Witness, other_url: bool, data: dict[str, Any], details: list[str]
    ) -> Result:
        if net.verdict == "fail" and cache.verdict == "fail":
            return ConsistencyCheck._disagree(
                f"load_data worked although {net.says()} and {cache.says()}", data, details
            )
        if net.verdict == "fail":
            where = "the mirror given with --origin" if other_url else "the dataset host"
            return Result.ok(
                f"load_data works from the cache although {where} is unreachable ({net.says()})",
                details=details,
                data=data,
            )
        untested = [w.name for w in (net, cache) if w.verdict is None]
        if len(untested) == 2:
            return Result.skip("load_data works; no network or cache check ran to compare with", data=data)
        said = " and ".join(w.says() for w in (net, cache) if w.verdict is not None)
        summary = "load_data works" + (f"; {said}" if said else "")
        if untested:
            summary += f"; not compared with the {' or '.join(untested)} (no such check ran)"
        return Result.ok(summary, details=details, data=data)

    @staticmethod
    def _disagree(what: str, data: dict[str, Any], details: list[str]) -> Result:
        return Result.warn(
            what,
            data=data,
            details=[
                "the load_data verdict is the one that counts: the real call is what your code runs",
                *details,
            ],
            hint="follow load.real's hint; if a check's prediction looks wrong, report the output of "
            + quoted("mnist-doctor --format json --verbose"),
        )


#: Where this family stands in the report (lower first; plugins without one come last).
REPORT_ORDER = 80

CHECKS = [RealLoadCheck(), ConsistencyCheck()]
