"""Facts from running the network stages: urllib's road (in the target) and requests' (here).

Both probes start together and share one slice of the run's budget, capped at
:data:`NETWORK_BUDGET_S`, leaving :data:`~mnist_doctor.probing.budget.REPORT_RESERVE_S` for the checks
to report. The urllib probe streams each stage as it ends, so even when it must be killed
the stages it finished, and the one it was stuck in, are known.

Every stage has its own cap (:data:`STAGE_CAPS_S`). Two ways a stage ends without an answer
are kept apart, because only one is about the network: the doctor's time ran out before the
stage's own cap did (no verdict: :meth:`UrllibProbe.cut_by_budget`), or the remote stayed
silent for the whole cap (a finding: :meth:`UrllibProbe.silent`). When the proxy failed before
the host could answer (silent included), the target also tries the host without it
(``UrllibProbe.direct``), so the finding can say whether dropping the proxy variable works.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mnist_doctor.causes.network import NO_SSL_SKIP, missing_ssl
from mnist_doctor.datasets.spec import DatasetSpec
from mnist_doctor.datasets.table import Dataset
from mnist_doctor.facts import FactUnavailable, Options, fact
from mnist_doctor.facts.answers.introspection import ListOf, Obj, WrongShape, problem
from mnist_doctor.facts.answers.network import (
    MAX_ITEMS,
    DirectRoute,
    Measurement,
    StageRecord,
    parse_planned,
    parse_stages,
)
from mnist_doctor.facts.proxies import ProxyView
from mnist_doctor.network.pem_guard import unsafe_ca_file
from mnist_doctor.probing.budget import REPORT_RESERVE_S, Slice
from mnist_doctor.probing.subproc import STAGE_MARKER, VerifiedPython, run_script
from mnist_doctor.text.redact import redact, redact_text

NETWORK_BUDGET_S = 45.0
#: Seconds of the slice kept for the script's start-up and its last words: its own internal
#: deadline is this much earlier than the kill, so it usually reports a stuck stage itself.
SCRIPT_GRACE_S = 0.25
STAGES = ("dns", "tcp", "connect", "tls", "http")
READ_BYTES = 1024
#: Each stage's own cap: how long the remote may stay silent before the silence is a finding
#: ("accepts connections and never answers"). A working resolver, proxy or host answers each
#: of these in well under a second; the caps leave room for a lost packet's retransmissions
#: (1 s, then 3 s) and for a proxy that connects upstream before it answers CONNECT. They are
#: short enough that a run with the default ``--timeout`` waits the whole cap of a silent
#: stage, and so does ``--timeout 10`` for the proxy's CONNECT (what is left after start-up
#: is about 8 s); with less time, a silence cannot be told from a slow answer, and the stage
#: says it was cut by the doctor's budget. The http stage waits for a first answer to a GET,
#: which a proxy may only send once it has the bytes from upstream, so it gets more.
STAGE_CAPS_S = {"dns": 5.0, "tcp": 5.0, "connect": 5.0, "tls": 5.0, "http": 10.0}


def parse_stage_lines(stdout: str) -> list[dict[str, Any]]:
    """Stage records in the order printed; a ``begin`` without its ``end`` marks a stuck stage.

    A line that is not an object with a string ``name`` is no stage line (the records are read
    by shape afterwards, :func:`~mnist_doctor.facts.answers.network.parse_stages`).
    """
    records: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        if not line.startswith(STAGE_MARKER):
            continue
        try:
            record = json.loads(line[len(STAGE_MARKER) :])
        except ValueError:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("name"), str):
            continue
        if record.get("event") == "begin":
            records.setdefault(
                record["name"],
                {
                    "name": record["name"],
                    "ok": False,
                    "stuck": True,
                    "timeout_s": record.get("timeout_s"),
                    "cap_s": record.get("cap_s"),
                    "deadline_limited": bool(record.get("deadline_limited")),
                },
            )
        else:
            records[record["name"]] = record
    return list(records.values())


@dataclass
class UrllibProbe:
    """The target interpreter's walk along Keras' road, stage by stage (typed at this boundary:
    a walk whose answer has another shape has no stages and says why in ``error``)."""

    stages: tuple[StageRecord, ...]
    planned: tuple[str, ...]
    proxy_view: ProxyView
    budget_s: float
    elapsed_s: float
    killed: bool = False
    error: str | None = None
    #: The run's ``--timeout`` (not :data:`NETWORK_BUDGET_S`) set the probe's time.
    limited_by_budget: bool = False
    #: When the proxy failed before the host answered: the host tried without it, see
    #: ``direct_route`` in target/net_probe.py; ``tried`` False: not tried.
    direct: DirectRoute = field(default_factory=DirectRoute)

    @property
    def direct_works(self) -> bool:
        """The host answers without the proxy that failed (TCP and a verified TLS handshake)."""
        return self.direct.tried and self.direct.ok

    @property
    def proxy(self) -> str | None:
        """The proxy urllib used for this walk (None: direct)."""
        return self.proxy_view.proxy or None

    @property
    def proxy_variables(self) -> list[str]:
        """The variables that give urllib its proxy for this URL's scheme (lower case wins in urllib)."""
        scheme = self.proxy_view.request_type or "https"
        names = self.proxy_view.env.keys()
        return sorted((n for n in names if n.lower() == f"{scheme}_proxy"), key=lambda n: n.islower())

    def cut_by_budget(self, record: StageRecord | None) -> bool:
        """Did the doctor's time (not the stage's own cap) end this stage, or the probe?

        A stage given less than its own cap (``deadline_limited``) that ran out of it says
        nothing about the network (promise 3): it might have answered later. So does a probe
        killed at the end of a slice the run's ``--timeout`` set, in whatever stage it was in.
        """
        if record is None:
            return self.killed and self.limited_by_budget
        if not (record.stuck or record.timed_out):
            return False
        if record.deadline_limited:
            return True
        return record.stuck and self.killed and self.limited_by_budget

    def silent(self, record: StageRecord | None) -> bool:
        """Did the remote say nothing for this stage's whole own cap? That is a finding."""
        return bool(record and record.timed_out and not self.cut_by_budget(record))

    def silent_party(self, record: StageRecord | None) -> str | None:
        """``"proxy"`` or ``"host"``: who accepted the connection, then said nothing for the stage's
        whole own cap (None: nobody did).

        Only the stages after the connection was accepted count: an unanswered resolver or
        connection attempt is no "accepts and never answers" (``dns`` and ``tcp`` word their own).
        CONNECT and a plain-http GET sent to a proxy are the proxy's to answer; the TLS handshake
        and an https GET travel the tunnel to the dataset host.
        """
        if record is None or not self.silent(record) or record.name not in ("connect", "tls", "http"):
            return None
        if record.name == "connect":
            return "proxy"
        proxied_get = self.proxy and self.proxy_view.request_type == "http"
        return "proxy" if record.name == "http" and proxied_get else "host"

    def stage(self, name: str) -> StageRecord | None:
        return next((s for s in self.stages if s.name == name), None)

    def failed(self) -> StageRecord | None:
        return next((s for s in self.stages if not s.ok), None)

    @property
    def ok(self) -> bool:
        return bool(self.stages) and self.failed() is None and len(self.stages) == len(self.planned)


@dataclass
class RequestsProbe:
    """The same request made with requests (certifi or ``REQUESTS_CA_BUNDLE``) in the doctor."""

    ok: bool
    status: int | None = None
    content_type: str | None = None
    total_size: int | None = None
    verify: str | bool | None = None
    proxy: str | None = None
    error_type: str | None = None
    error: str | None = None
    elapsed_s: float = 0.0
    timed_out: bool = False
    available: bool = True


@dataclass
class NetworkProbes:
    urllib: UrllibProbe
    requests: RequestsProbe
    budget_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def run_urllib_probe(
    target_python: VerifiedPython,
    dataset: DatasetSpec,
    budget: float | Slice,
    *,
    caps: Mapping[str, float] = STAGE_CAPS_S,
) -> UrllibProbe:
    """Walk the stages in the target; ``budget`` is the probe's slice (or seconds, for tests);
    ``caps``: each stage's own cap (:data:`STAGE_CAPS_S`)."""
    if not isinstance(budget, Slice):
        budget = Slice(float(budget) + SCRIPT_GRACE_S, time.monotonic(), False)
    inner = max(budget.remaining() - SCRIPT_GRACE_S, 0.05)
    config = {"budget": inner, "expected_size": dataset.size, "stage_timeouts": dict(caps)}
    start = time.monotonic()
    run = run_script(
        target_python, "net_probe.py", ["stages", dataset.origin, json.dumps(config)], timeout=budget
    )
    answer = run.answer or {}
    error = None
    if run.answer is None:
        error = run.launch_error or (
            f"killed after {run.elapsed_s:.1f} s"
            if run.timed_out
            else (run.stderr.strip().splitlines() or ["no answer"])[-1]
        )
    elif isinstance(answer.get("error"), dict):
        error = str(answer["error"].get("message"))
    records, planned, view, direct, malformed = read_walk(answer, run.stdout, dataset)
    return UrllibProbe(
        stages=records,
        planned=planned,
        proxy_view=view,
        budget_s=inner,
        elapsed_s=time.monotonic() - start,
        killed=run.timed_out,
        error=redact_text(malformed or error),
        limited_by_budget=budget.limited_by_budget,
        direct=direct,
    )


Walk = tuple[tuple[StageRecord, ...], tuple[str, ...], ProxyView, DirectRoute, str | None]


def read_walk(answer: dict[str, Any], stdout: str, dataset: DatasetSpec) -> Walk:
    """(stages, planned, proxy view, direct route, problem) from the walk's answer, by shape.

    The stages are the answer's, or the stage lines printed before the probe was killed. An
    answer of another shape gives no stages, and ``problem`` names the first value that departs.
    """
    try:
        records = parse_stages(redact(answer.get("stages") or parse_stage_lines(stdout)))
        planned = (
            parse_planned(answer["planned"]) if answer.get("planned") else tuple(r.name for r in records)
        )
        view = ProxyView.parse(redact(answer.get("proxy_view") or {}), dataset)
        direct = DirectRoute.parse(redact(answer.get("direct") or {}))
    except WrongShape as exc:
        return (), (), ProxyView.parse({}, dataset), DirectRoute(), f"the walk's answer is malformed: {exc}"
    return records, planned, view, direct, None


def _requests_attempt(dataset: DatasetSpec, budget: float) -> RequestsProbe:
    start = time.monotonic()
    try:
        import requests
    except ImportError as exc:  # a doctor dependency, but say so rather than crash
        return RequestsProbe(ok=False, available=False, error=str(exc))
    session = requests.Session()
    settings = session.merge_environment_settings(dataset.origin, {}, None, None, None)
    verify = settings.get("verify")
    if verify is True:
        verify = requests.utils.DEFAULT_CA_BUNDLE_PATH
    proxy = requests.utils.select_proxy(dataset.origin, settings.get("proxies") or {})
    out = RequestsProbe(ok=False, verify=verify, proxy=redact_text(proxy))
    # A folder of CAs is read file by file; a file is read whole by OpenSSL.
    unsafe = unsafe_ca_file(verify) if isinstance(verify, str) and not os.path.isdir(verify) else None
    if unsafe:  # REQUESTS_CA_BUNDLE=/dev/urandom or a FIFO: OpenSSL would read without end, in our process
        out.error_type, out.error = "UnsafeCABundle", f"not tried: {unsafe}"
        out.elapsed_s = time.monotonic() - start
        return out
    try:
        with session.get(
            dataset.origin,
            headers={"Range": f"bytes=0-{READ_BYTES - 1}"},
            stream=True,
            # The stages' own caps, as urllib's walk has them: a silent proxy or host ends this
            # request by itself, so the comparison knows what requests tried and got.
            timeout=(min(budget, STAGE_CAPS_S["connect"]), min(budget, STAGE_CAPS_S["http"])),
            allow_redirects=True,
        ) as response:
            out.status = response.status_code
            out.content_type = response.headers.get("Content-Type")
            content_range = response.headers.get("Content-Range") or ""
            if "/" in content_range and content_range.rsplit("/", 1)[1].strip().isdigit():
                out.total_size = int(content_range.rsplit("/", 1)[1])
            elif response.status_code == 200 and (response.headers.get("Content-Length") or "").isdigit():
                out.total_size = int(response.headers["Content-Length"])
            out.ok = response.status_code < 400
    except Exception as exc:
        out.error_type = type(exc).__name__
        out.error = redact_text(str(exc))
    finally:
        session.close()
    out.elapsed_s = time.monotonic() - start
    return out


def network_slice(options: Options) -> Slice:
    """The network stages' share of the run: at most :data:`NETWORK_BUDGET_S`."""
    return options.budget.slice(cap=NETWORK_BUDGET_S, reserve=REPORT_RESERVE_S)


def host_key(spec: DatasetSpec) -> object:
    """(host, port) of a file's origin; a malformed origin (``http://[::1``) is its own host."""
    try:
        return (spec.host, spec.port)
    except ValueError:
        return spec.origin


def host_label(spec: DatasetSpec) -> str:
    """``host`` (default port) or ``host:port``; a malformed origin is shown as given (redacted)."""
    try:
        return spec.host if spec.port in (80, 443) else f"{spec.host}:{spec.port}"
    except ValueError:
        return redact_text(spec.origin) or ""


@fact
def network_targets(datasets: tuple[Dataset, ...]) -> tuple[DatasetSpec, ...]:
    """One file per distinct host the selected loaders download from, in selection order.

    Each host is tested with its largest file (its size is what a slow host makes users wait
    for). The first is the one the ``network.*`` stage checks walk in detail; the others are
    walked the same way for ``network.hosts``. With the default selection this is MNIST's file.
    """
    by_host: dict[object, DatasetSpec] = {}
    for loader in datasets:
        for data_file in loader.files:
            key = host_key(data_file.spec)
            known = by_host.get(key)
            if known is None or data_file.spec.size > known.size:
                by_host[key] = data_file.spec
    return tuple(by_host.values())


@fact
def network_target(network_targets: tuple[DatasetSpec, ...], dataset: DatasetSpec) -> DatasetSpec:
    """The file the ``network.*`` stage checks test: the first selected dataset's host."""
    return network_targets[0] if network_targets else dataset


@fact
def other_hosts_probes(
    target_python: VerifiedPython, network_targets: tuple[DatasetSpec, ...], options: Options
) -> list[UrllibProbe]:
    """urllib's walk to every further host (cifar's www.cs.toronto.edu beside storage.googleapis.com).

    The walks run concurrently, each in its own target process, in one slice of the budget; a
    walk the slice cut short says so (``limited_by_budget``), never that the host is down.
    """
    others = list(network_targets[1:])
    if not others:
        return []
    share = network_slice(options)
    found: dict[int, UrllibProbe] = {}
    workers = [
        threading.Thread(
            target=lambda i=i, spec=spec: found.setdefault(i, run_urllib_probe(target_python, spec, share)),
            name=f"net-probe-{spec.host}",
            daemon=True,
        )
        for i, spec in enumerate(others)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(share.remaining() + SCRIPT_GRACE_S)
    return [
        found.get(i)
        or UrllibProbe(
            stages=(),
            planned=(),
            proxy_view=ProxyView.parse({}, spec),
            budget_s=share.remaining(),
            elapsed_s=0.0,
            killed=True,
            error="no answer in time",
            limited_by_budget=share.limited_by_budget,
        )
        for i, spec in enumerate(others)
    ]


@fact
def network_probes(
    target_python: VerifiedPython, network_target: DatasetSpec, options: Options
) -> NetworkProbes:
    """Run urllib's stages (target) and requests' request (doctor) concurrently, in one slice.

    requests runs in a daemon thread, bounded by the slice even where requests itself is
    not (name resolution): the thread is abandoned, never waited for, at the slice's end.
    """
    share = network_slice(options)
    budget = max(share.remaining() - SCRIPT_GRACE_S, 0.05)
    box: dict[str, RequestsProbe] = {}
    worker = threading.Thread(
        target=lambda: box.setdefault("r", _requests_attempt(network_target, budget)),
        name="requests-probe",
        daemon=True,
    )
    worker.start()
    urllib_probe = run_urllib_probe(target_python, network_target, share)
    if network_target.scheme == "https" and missing_ssl(urllib_probe.error):
        raise FactUnavailable(NO_SSL_SKIP)  # every stage and the comparison: one cause, said by TLS
    worker.join(share.remaining())
    requests_probe = box.get("r")
    if requests_probe is None:
        error = "did not finish in time" if share.limited_by_budget else f"no answer within {budget:.1f} s"
        requests_probe = RequestsProbe(ok=False, timed_out=True, error=error, elapsed_s=budget)
    return NetworkProbes(urllib=urllib_probe, requests=requests_probe, budget_s=budget)


# ---------------------------------------------------------------- throughput (network.throughput)

#: The ranged GET asks for at most this much: enough to leave TCP slow start behind on a
#: normal line, little enough to cost nobody anything (2 MiB).
THROUGHPUT_CAP_BYTES = 2 << 20
#: Seconds of body the measurement may last (from the response headers on).
THROUGHPUT_WINDOW_S = 5.0
#: No byte for this long and the transfer has stalled: the hang users see in ``urlretrieve``.
THROUGHPUT_STALL_S = 3.0
#: Seconds allowed for the response headers of the ranged GET (the http stage got them already).
THROUGHPUT_HEAD_S = 5.0
#: The target interpreter's start-up, on top of the per-host time.
THROUGHPUT_START_S = 1.0


@dataclass(frozen=True)
class HostLoad:
    """What one host must deliver for the datasets examined: the file sampled and the total."""

    host: str
    #: The largest file from this host: the sample is taken from it (a small file may end first).
    spec: DatasetSpec
    total_bytes: int
    files: tuple[str, ...]
    datasets: tuple[str, ...]

    @property
    def url(self) -> str:
        return self.spec.origin


def host_loads(files: list[tuple[str, DatasetSpec]]) -> list[HostLoad]:
    """Group ``(dataset name, file spec)`` pairs by host, in first-seen order, summing sizes."""
    groups: dict[object, list[tuple[str, DatasetSpec]]] = {}
    for name, spec in files:
        groups.setdefault(host_key(spec), []).append((name, spec))
    loads = []
    for members in groups.values():
        largest = max(members, key=lambda m: m[1].size)[1]
        loads.append(
            HostLoad(
                host=host_label(largest),
                spec=largest,
                total_bytes=sum(spec.size for _, spec in members),
                files=tuple(spec.file_name for _, spec in members),
                datasets=tuple(dict.fromkeys(name for name, _ in members)),
            )
        )
    return loads


@dataclass
class ThroughputSample:
    """One host's measurement, or why there is none."""

    load: HostLoad
    record: Measurement | None
    #: The doctor's budget (never the host) ended the measurement: no verdict on the network.
    cut_by_budget: bool = False
    error: str | None = None


def throughput_slice(options: Options, hosts: int) -> Slice:
    """The throughput stage's share of the run: start-up plus headers and window per host."""
    per_host = THROUGHPUT_HEAD_S + THROUGHPUT_WINDOW_S
    return options.budget.slice(cap=THROUGHPUT_START_S + hosts * per_host, reserve=REPORT_RESERVE_S)


def run_throughput_probe(
    target_python: VerifiedPython, loads: list[HostLoad], budget: float | Slice
) -> list[ThroughputSample]:
    """Measure each host in the target, one after the other; ``budget`` is the slice (or seconds)."""
    if not isinstance(budget, Slice):
        budget = Slice(float(budget) + SCRIPT_GRACE_S, time.monotonic(), False)
    config = {
        "budget": max(budget.remaining() - SCRIPT_GRACE_S, 0.05),
        "urls": [load.url for load in loads],
        "cap_bytes": THROUGHPUT_CAP_BYTES,
        "window_s": THROUGHPUT_WINDOW_S,
        "stall_s": THROUGHPUT_STALL_S,
        "head_s": THROUGHPUT_HEAD_S,
    }
    run = run_script(target_python, "net_probe.py", ["throughput", "", json.dumps(config)], timeout=budget)
    answer = run.answer or {}
    error = answer.get("error")
    why = run.launch_error or (str(error.get("message")) if isinstance(error, dict) else None)
    if run.answer is None and not why and not run.timed_out:
        why = (run.stderr.strip().splitlines() or ["no answer"])[-1]
    try:
        records = read_measurements(answer.get("throughput") or parse_stage_lines(run.stdout))
    except WrongShape as exc:
        records, why = {}, f"the measurement's answer is malformed: {exc}"
    samples = []
    for index, load in enumerate(loads):
        record = records.get(f"throughput:{index}")
        if record is not None:
            samples.append(ThroughputSample(load, record, cut_by_budget=record.ended == "deadline"))
        elif run.timed_out:
            samples.append(
                ThroughputSample(load, None, cut_by_budget=True, error="killed at the slice's end")
            )
        else:
            samples.append(ThroughputSample(load, None, error=redact_text(why) or "the probe gave no answer"))
    return samples


def read_measurements(values: object) -> dict[str, Measurement]:
    """The finished measurements by name (``throughput:N``), by shape; a stuck one is none."""
    found = problem(values, ListOf(Obj({"name": str}), MAX_ITEMS), "throughput")
    if found:
        raise WrongShape(found)
    assert isinstance(values, list)
    unnamed = next((index for index, value in enumerate(values) if "name" not in value), None)
    if unnamed is not None:
        raise WrongShape(f"throughput[{unnamed}] has no name")
    return {
        value["name"]: Measurement.parse(redact(value), f"throughput[{index}]")
        for index, value in enumerate(values)
        if value.get("stuck") is not True
    }


def _unreachable(load: HostLoad, probe: UrllibProbe) -> ThroughputSample:
    """Why a host the walk did not get through to is not measured (no connection is tried)."""
    if probe.cut_by_budget(probe.failed()):
        return ThroughputSample(load, None, cut_by_budget=True, error="its walk was cut by --timeout")
    failed = probe.failed()
    stage = f"the {failed.name} stage failed" if failed else (probe.error or "no answer")
    return ThroughputSample(load, None, error=f"unreachable ({stage}; see network.hosts)")


@fact
def network_throughput(
    target_python: VerifiedPython,
    datasets: tuple[Dataset, ...],
    network_targets: tuple[DatasetSpec, ...],
    other_hosts_probes: list[UrllibProbe],
    options: Options,
) -> list[ThroughputSample]:
    """A bounded ranged download from each dataset host, the way Keras downloads (urllib, target).

    Asked for once ``network.http`` passed (the first host answers) and after the walks to the
    other hosts: a host those found unreachable is not tried again. One host at a time, so that
    two measurements never share the line.
    """
    loads = host_loads([(d.name, f.spec) for d in datasets for f in d.files])
    walks = {
        host_key(spec): probe for spec, probe in zip(network_targets[1:], other_hosts_probes, strict=False)
    }
    samples: dict[int, ThroughputSample] = {}
    measured: list[int] = []
    for index, load in enumerate(loads):
        walk = walks.get(host_key(load.spec))
        if walk is not None and not walk.ok:
            samples[index] = _unreachable(load, walk)
        else:
            measured.append(index)
    if measured:
        chosen = [loads[i] for i in measured]
        found = run_throughput_probe(target_python, chosen, throughput_slice(options, len(chosen)))
        samples.update(zip(measured, found, strict=True))
    return [samples[i] for i in range(len(loads))]
