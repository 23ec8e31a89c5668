"""The final word: call the real ``load_data()`` and cross-check it with the other findings.

``load.real`` runs the user's own ``load_data`` in the target interpreter (see
:mod:`mnist_doctor.facts.load_probe`) and names the root cause of a failure
(:mod:`mnist_doctor.causes.load`). ``load.consistency`` compares that verdict with the
network and cache families: a doctor whose predictions disagree with the real call must
say so rather than show two contradicting reports.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mnist_doctor.causes import CACHE, IMPORT, NETWORK, Diagnosis
from mnist_doctor.causes.http_status import fetch_again
from mnist_doctor.causes.load import diagnose
from mnist_doctor.checks.grouping import combine
from mnist_doctor.compat.table import declared_specs
from mnist_doctor.datasets.spec import DEFAULT_ORIGIN, MNIST, DatasetSpec
from mnist_doctor.datasets.table import Dataset, table
from mnist_doctor.facts import Facts, Options
from mnist_doctor.facts.answers.load import IMPORT_STAGES, MISSING, REFUSED, ArrayRecord, LoaderOutcome
from mnist_doctor.facts.load_probe import LoadGate, LoadProbe
from mnist_doctor.model import NETWORK_FAMILIES, BaseCheck, CheckResult, Hint, Result, Status
from mnist_doctor.probing.safekeeping import DOWNLOAD_IN_PROGRESS
from mnist_doctor.text.hints import doctor_command, offline_route, otherwise, quoted, said
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


def gate_result(gate: LoadGate, options: Options, target_python: str, loader: Dataset) -> Result:
    """The skip of a loader that ``--offline``/``--dry-run`` does not call, with the way to test it.

    Keras discards a cached copy that is not the pinned file and downloads over it (and a
    dangling link or a FIFO is worse); the ``load_gates`` fact predicts that, so the probe
    does not call the loader then.
    """
    mode = "--offline" if options.offline else "--dry-run"
    if "verdict" not in gate.data:
        return Result.skip(f"{mode}: load_data not run: {gate.reason}")
    why = "no network is used" if options.offline else "nothing may change"
    return Result.skip(
        f"{mode}: load_data not run: {gate.reason}; under {mode} {why}",
        details=list(gate.details),
        hint=said(doctor_command(target_python, "--seed FILE", *loader.selection))
        + otherwise("or, with a network", doctor_command(target_python, "--fetch", *loader.selection)),
        data=dict(gate.data),
    )


def safekeeping_details(probe: LoadProbe, name: str) -> list[str]:
    """What Keras did to loader ``name``'s cached files during the probe, and that they were put back."""
    lines = []
    for kept in probe.kept_files(name):
        did = "removed" if kept["outcome"] == "removed" else "replaced"
        back = (
            "the doctor put your copy back, byte for byte"
            if kept.get("restored")
            else f"the doctor could NOT put it back: {kept.get('error')}"
        )
        lines.append(f"Keras {did} {kept['path']} during load_data (it is not the pinned file); {back}")
    return lines


def success_result(probe: LoadProbe, outcome: LoaderOutcome, spec: DatasetSpec) -> Result:
    """Shapes, dtypes, labels, the file read and the seed's preprocessing, checked against the spec."""
    arrays = outcome.arrays
    problems = []
    details = []
    for expected in spec.arrays:
        got = arrays.get(expected.name) or ArrayRecord(expected.name, (), "")
        details.append(f"{expected.name}: {got.shape} {got.dtype or None}")
        if got.shape != expected.shape or got.dtype != expected.dtype:
            problems.append(
                f"{expected.name} is {got.shape} {got.dtype or None}, "
                f"expected {expected.shape} {expected.dtype}"
            )
    low, high = spec.label_range
    for name in ("y_train", "y_test"):
        got = arrays.get(name) or ArrayRecord(name, (), "")
        details.append(f"{name}: labels {got.low}..{got.high}, class counts {list(got.class_counts)}")
        if got.low is None or got.high is None or got.low < low or got.high > high:
            problems.append(f"{name} labels outside {low}..{high}")
    pre = outcome.preprocess
    first = spec.arrays[0].shape if spec.arrays else ()
    if pre is not None and pre.ok:
        details.append(f"x_train / 255 in [{pre.low}, {pre.high}], with channel axis {pre.shape}")
        in_range = pre.low is not None and pre.high is not None and pre.low >= 0.0 and pre.high <= 1.0
        if not in_range or pre.shape != (*first, 1):
            problems.append("preprocessing sanity step gave unexpected values")
    else:
        problems.append(
            "preprocessing sanity step failed: " + (pre.error if pre is not None else "did not run")
        )
    read = outcome.files[0] if outcome.files else None
    if read is not None:
        details.append(f"read {read.path} ({read.size:,} bytes)")
    details.append(f"load_data took {outcome.elapsed_s}s (probe total {probe.run.elapsed_s:.1f}s)")
    data = {
        "succeeded": True,
        "file": read.path if read is not None else None,
        "arrays": _arrays_data(outcome),
        "elapsed_s": outcome.elapsed_s,
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


def _arrays_data(outcome: LoaderOutcome) -> dict[str, dict[str, Any]]:
    """The arrays as the JSON report shows them (``shape``, ``dtype``; labels' range and counts)."""
    shown: dict[str, dict[str, Any]] = {}
    for name, array in outcome.arrays.items():
        entry: dict[str, Any] = {"shape": list(array.shape), "dtype": array.dtype}
        if array.low is not None:
            entry.update(min=array.low, max=array.high, class_counts=list(array.class_counts))
        shown[name] = entry
    return shown


def failure_result(
    diag: Diagnosis, probe: LoadProbe, outcome: LoaderOutcome, loader: Dataset, options: Options
) -> Result:
    """The named cause as a result; a kill by the doctor's own budget is a ``warn`` (promise 3)."""
    details = list(diag.details)
    error = outcome.stage.exception if outcome.stage is not None else probe.import_error
    if error is not None:
        details.append(f"exception: {error.short_type}: {error.message[:300]}")
        details.extend(f"  from {c.short_type}: {c.message[:200]}" for c in error.chain)
        if options.verbose and error.traceback:
            details.append(error.traceback)
    if probe.shape_error:
        details.append(f"the probe's answer was refused: {probe.shape_error}")
    if options.verbose and probe.run.stderr.strip():
        details.append("probe stderr (tail): " + probe.run.stderr.strip()[-1500:])
    details += safekeeping_details(probe, outcome.name)
    killed = probe.killed_during(outcome.name)
    data: dict[str, Any] = {
        "succeeded": False,
        "cause": diag.name,
        "category": diag.category,
        "timed_out": killed,
    }
    if probe.cut_by_budget:
        return budget_result(diag, probe, outcome, loader, options, details, data)
    return Result.fail(
        f"load_data failed — {diag.summary}",
        details=details,
        hint=diag.said,
        data=data,
        fixes=diag.fixes,
        explained_by=EXPLAINED_BY.get(diag.category, ()),
    )


def budget_result(
    diag: Diagnosis,
    probe: LoadProbe,
    outcome: LoaderOutcome,
    loader: Dataset,
    options: Options,
    details: list[str],
    data: dict[str, Any],
) -> Result:
    """The probe ran out of the run's ``--timeout``: say so, and how long to allow, without blaming."""
    stage = "load_data" if outcome.unfinished else (probe.unfinished_stage() or "start-up")
    if stage not in IMPORT_STAGES and stage != "load_data":
        stage = "start-up"  # another loader's stage: this one's part had ended
    doing = f"downloading/reading {loader.main_file.name}" if stage == "load_data" else f"the {stage} stage"
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
    #: Run by the engine once per selected loader (all inside one shared probe), then grouped.
    per_loader = True
    #: Ordered after the speed measurement (not requiring it): a download the run's --timeout cut
    #: is explained by the link's measured speed when that is why it did not finish.
    after = ("network.throughput",)

    def run(
        self,
        facts: Facts,
        options: Options,
        dataset: DatasetSpec,
        datasets: tuple[Dataset, ...],
        loader: Dataset,
        target_python: str,
        results: dict[str, CheckResult],
    ) -> Result:
        result = loader_result(facts, options, loader, dataset, target_python)
        if datasets != (loader,):
            return result
        return slow_link_result(result, results.get("network.throughput"), options, loader, target_python)

    def group(
        self,
        parts: list[tuple[str, Result]],
        facts: Facts,
        options: Options,
        dataset: DatasetSpec,
        datasets: tuple[Dataset, ...],
        target_python: str,
    ) -> Result:
        """The loaders' parts as one result; loaders skipped for a download, one line per host."""
        return several_result(parts, facts, options, dataset, datasets, target_python)


def slow_link_result(
    result: Result, throughput: CheckResult | None, options: Options, loader: Dataset, target_python: str
) -> Result:
    """A download cut by our --timeout on a link measured too slow for it: the link is the headline.

    It works, slowly — a ``warn`` naming the measured speed and the time the whole download
    needs, with a command that gives it that time (``mnist-doctor --fetch --timeout N``).
    """
    if not (result.data.get("cut_by_budget") and result.data.get("unfinished_stage") == "load_data"):
        return result
    hosts = (throughput.data.get("hosts") or []) if throughput is not None else []
    sample = next(
        (h for h in hosts if loader.name in (h.get("datasets") or []) and h.get("projected_s")), None
    )
    if sample is None:
        return result
    projected, rate = float(sample["projected_s"]), float(sample.get("rate_bps") or 0.0)
    needed = int(-(-(projected * 1.5 + 60) // 10) * 10)  # room for TensorFlow's start-up, rounded up
    spec = loader.main_file.spec
    why = f"download {spec.file_name} once, with the time this link needs"
    fix = fetch_again(spec, target_python, why, loader, "--timeout", str(needed))
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


def _refused_result(probe: LoadProbe, outcome: LoaderOutcome, loader: Dataset, target_python: str) -> Result:
    """The loader was not called: a cached file the doctor could not keep safe (or a download
    in progress, which it leaves alone)."""
    refusals: list[dict[str, Any]] = probe.keeping(loader.name).get("refused", [])
    if not outcome.refused_path:  # refused by the host before the call (a loader's own files)
        return Result.skip(
            f"load_data not run: {outcome.reason}",
            details=[r["path"] + ": " + r["reason"] for r in refusals],
            hint="see cache.integrity for what lies there ("
            + quoted(doctor_command(target_python, *loader.selection))
            + ")",
            data={"refused": outcome.reason},
        )
    refused = {"path": outcome.refused_path, "reason": outcome.reason}
    refusal = next((r for r in refusals if r.get("path") == outcome.refused_path), {})
    if refusal.get("kind") == DOWNLOAD_IN_PROGRESS:
        return Result.skip(
            f"load_data not run: {refusal.get('reason')} ({outcome.refused_path})",
            details=["the doctor leaves a download in progress alone: it neither copies nor replaces it"],
            hint="wait for that download to finish, then run the diagnosis again",
            data={"refused": refused},
        )
    return Result.skip(
        f"load_data not run: Keras would read {outcome.refused_path}, which the doctor cannot keep safe",
        details=[r["path"] + ": " + r["reason"] for r in refusals],
        hint="see cache.integrity for what lies there and how to fix it",
        data={"refused": refused},
    )


def _not_reached(probe: LoadProbe, options: Options, loader: Dataset) -> Result:
    """The probe ended before this loader (its own budget, or after another loader's end)."""
    if probe.cut_by_budget or probe.run.timed_out:
        return Result.skip(
            "load_data not reached: the probe was cut by the doctor's budget "
            f"(--timeout {options.timeout:g}s) before this loader",
            hint=said(f"mnist-doctor --dataset {loader.name}", "examine it alone"),
            data={"cut_by_budget": True},
        )
    return Result.skip("load_data not reached: the probe ended before this loader", data={})


def _cut_while_loading(probe: LoadProbe, options: Options, loader: Dataset) -> Result:
    """Another loader's probe cut by our budget during this loader: not its fault."""
    partial = probe.partial_files(loader.name)
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


def loader_result(
    facts: Facts, options: Options, loader: Dataset, dataset: DatasetSpec, target_python: str
) -> Result:
    """One loader's verdict: its gate under ``--offline``/``--dry-run``, else its own outcome in
    the shared probe. The default loader's file is ``dataset`` (``--origin`` applied): its
    success is checked against the arrays its spec knows, its fetch fix may use the mirror."""
    if options.offline or options.dry_run:
        gate = facts.get("load_gates").get(loader.name)
        if gate is not None:
            return gate_result(gate, options, target_python, loader)
    probe: LoadProbe = facts.get("load_probe")
    outcome = probe.outcome(loader.name)
    if outcome.status == MISSING:
        return Result.skip(
            f"this Keras has no {loader.name} loader ({outcome.reason})", data={"missing": True}
        )
    if outcome.status == REFUSED:
        return _refused_result(probe, outcome, loader, target_python)
    if outcome.succeeded:
        if loader.is_default:
            result = success_result(probe, outcome, dataset)
            result.details += safekeeping_details(probe, loader.name)
            return result
        return loader_success(probe, outcome)
    if outcome.stage is None and not (loader.is_default or probe.import_failed or probe.run.launch_error):
        return _not_reached(probe, options, loader)
    if outcome.unfinished and probe.cut_by_budget and not loader.is_default:
        return _cut_while_loading(probe, options, loader)
    mirror = dataset.origin if loader.is_default and dataset.origin != DEFAULT_ORIGIN else None
    diag = diagnose(
        probe,
        host=loader.hosts[0],
        target_python=target_python,
        tf_minor=_tf_minor(facts),
        declared=_declared(facts),
        dataset=loader,
        # load_data always asks Keras' own host; a fetch fix needs another place to download from.
        mirror=mirror,
    )
    if diag.status is Status.SKIP:  # not a fault of this machine: the test was not possible offline
        return Result.skip(
            f"--offline: load_data not completed: {diag.summary}",
            details=safekeeping_details(probe, loader.name),
            hint=diag.said,
            data={"cause": diag.name, "read_only": True},
        )
    return failure_result(diag, probe, outcome, loader, options)


def loader_success(probe: LoadProbe, outcome: LoaderOutcome) -> Result:
    """Shapes and dtypes of what the loader returned, and the files it read."""
    details = [f"{n}: {a.shape} {a.dtype}" for n, a in outcome.arrays.items()]
    details += [f"read {f.path}" + ("/" if f.is_dir else f" ({f.size:,} bytes)") for f in outcome.files]
    details += safekeeping_details(probe, outcome.name)
    train = outcome.arrays.get("x_train")
    test = outcome.arrays.get("x_test")
    count = (
        f"{train.shape[0]}+{test.shape[0]} samples"
        if train and test and train.shape and test.shape
        else "its arrays"
    )
    return Result.ok(
        f"load_data works: {count}",
        details=details,
        data={"succeeded": True, "arrays": _arrays_data(outcome), "elapsed_s": outcome.elapsed_s},
    )


def several_result(
    parts: list[tuple[str, Result]],
    facts: Facts,
    options: Options,
    dataset: DatasetSpec,
    datasets: tuple[Dataset, ...],
    target_python: str,
) -> Result:
    """Every selected loader's part of ``load.real``: worst status, each non-ok loader named, the
    loaders ``--offline``/``--dry-run`` did not call in a few words, their downloads by host."""
    gates: dict[str, LoadGate] = facts.get("load_gates") if (options.offline or options.dry_run) else {}
    shorts: dict[str, str] = {}
    downloads: dict[str, list[tuple[str, int]]] = {}  # host -> (loader, bytes) gated for a download
    mode = "--offline" if options.offline else "--dry-run"
    for loader in datasets:
        gate = gates.get(loader.name)
        if gate is None:
            continue
        shorts[loader.name] = f"not run under {mode}: {gate.short or gate.reason}"
        # the default loader's gate is the cache verdict on its one file: that file's size
        size = gate.data.get("download_bytes") or (dataset.size if loader.is_default else 0)
        if gate.data.get("verdict") == "missing" and size:
            host = gate.data.get("host") or loader.hosts[0]
            downloads.setdefault(host, []).append((loader.name, size))
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

    When every loader is such a skip, the hint is each host's offline route (its loaders' files,
    each URL with its sha256, and one ``--seed``) and ``data.downloads`` feeds the diagnosis line.
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
    rows = table()
    routes: list[Hint] = [
        f"for {host}: " + offline_route(target_python, tuple(rows[name] for name, _ in loaders))
        for host, loaders in downloads.items()
    ]
    data = dict(every.data, read_only=True, verdict="missing", downloads=named)
    hint = Hint("; ".join(routes), tuple(a for route in routes for a in route.advice))
    return replace(every, summary=line, hint=hint, data=data, advice=())


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

    #: ``load.real`` and every check of the network and cache families in this run (ordering only:
    #: the engine reads a family name in ``after`` as all of its checks).
    after = ("load.real", *NETWORK_FAMILIES, *CACHE_FAMILIES)

    def run(self, results: dict[str, CheckResult], dataset: DatasetSpec, checks: dict[str, Any]) -> Result:
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
        network_ids = {i for i, c in checks.items() if c.family in NETWORK_FAMILIES and c.network}
        cache_ids = {i for i, c in checks.items() if c.family in CACHE_FAMILIES}
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
