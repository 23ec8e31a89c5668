"""Facts from running the network stages: urllib's road (in the target) and requests' (here).

Both probes start together and share one slice of the run's budget, capped at
:data:`NETWORK_BUDGET_S`, leaving :data:`~mnist_doctor.budget.REPORT_RESERVE_S` for the checks
to report. The urllib probe streams each stage as it ends, so even when it must be killed
the stages it finished, and the one it was stuck in, are known; whether the run's
``--timeout`` (rather than the stage's own limit) cut a stage is kept, because that is no
verdict about the network.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mnist_doctor.budget import REPORT_RESERVE_S, Slice
from mnist_doctor.dataset import DatasetSpec
from mnist_doctor.dataset_table import Dataset
from mnist_doctor.facts import Options, fact
from mnist_doctor.pem_guard import unsafe_ca_file
from mnist_doctor.redact import redact, redact_text
from mnist_doctor.subproc import STAGE_MARKER, run_script

NETWORK_BUDGET_S = 45.0
#: Seconds of the slice kept for the script's start-up and its last words: its own internal
#: deadline is this much earlier than the kill, so it usually reports a stuck stage itself.
SCRIPT_GRACE_S = 0.25
STAGES = ("dns", "tcp", "connect", "tls", "http")
READ_BYTES = 1024


def parse_stage_lines(stdout: str) -> list[dict[str, Any]]:
    """Stage records in the order printed; a ``begin`` without its ``end`` marks a stuck stage."""
    records: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        if not line.startswith(STAGE_MARKER):
            continue
        try:
            record = json.loads(line[len(STAGE_MARKER) :])
        except ValueError:
            continue
        if record.get("event") == "begin":
            records.setdefault(
                record["name"],
                {
                    "name": record["name"],
                    "ok": False,
                    "stuck": True,
                    "timeout_s": record.get("timeout_s"),
                    "deadline_limited": bool(record.get("deadline_limited")),
                },
            )
        else:
            records[record["name"]] = record
    return list(records.values())


@dataclass
class UrllibProbe:
    """The target interpreter's walk along Keras' road, stage by stage."""

    stages: list[dict[str, Any]]
    planned: list[str]
    proxy_view: dict[str, Any]
    budget_s: float
    elapsed_s: float
    killed: bool = False
    error: str | None = None
    #: The run's ``--timeout`` (not :data:`NETWORK_BUDGET_S`) set the probe's time.
    limited_by_budget: bool = False

    def cut_by_budget(self, record: dict[str, Any] | None) -> bool:
        """Did the run's ``--timeout`` (not the stage's own limit) end this stage or the probe?

        Such a stage says nothing about the network (promise 3): it might have answered later.
        """
        if not self.limited_by_budget:
            return False
        if record is None:
            return self.killed
        return bool(
            (record.get("stuck") or record.get("timed_out"))
            and (record.get("deadline_limited") or self.killed)
        )

    def stage(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.stages if s["name"] == name), None)

    def failed(self) -> dict[str, Any] | None:
        return next((s for s in self.stages if not s.get("ok")), None)

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


def run_urllib_probe(target_python: str, dataset: DatasetSpec, budget: float | Slice) -> UrllibProbe:
    """Walk the stages in the target; ``budget`` is the probe's slice (or seconds, for tests)."""
    if not isinstance(budget, Slice):
        budget = Slice(float(budget) + SCRIPT_GRACE_S, time.monotonic(), False)
    inner = max(budget.remaining() - SCRIPT_GRACE_S, 0.05)
    config = {"budget": inner, "expected_size": dataset.size}
    start = time.monotonic()
    run = run_script(
        target_python, "net_probe.py", ["stages", dataset.origin, json.dumps(config)], timeout=budget
    )
    answer = run.answer or {}
    stages = answer.get("stages") or parse_stage_lines(run.stdout)
    error = None
    if run.answer is None:
        error = run.launch_error or (
            f"killed after {run.elapsed_s:.1f} s"
            if run.timed_out
            else (run.stderr.strip().splitlines() or ["no answer"])[-1]
        )
    elif answer.get("error"):
        error = answer["error"].get("message")
    return UrllibProbe(
        stages=redact(stages),
        planned=list(answer.get("planned") or [s["name"] for s in stages]),
        proxy_view=redact(answer.get("proxy_view") or {}),
        budget_s=inner,
        elapsed_s=time.monotonic() - start,
        killed=run.timed_out,
        error=redact_text(error),
        limited_by_budget=budget.limited_by_budget,
    )


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
            timeout=(budget, budget),
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
    target_python: str, network_targets: tuple[DatasetSpec, ...], options: Options
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
            stages=[],
            planned=[],
            proxy_view={},
            budget_s=share.remaining(),
            elapsed_s=0.0,
            killed=True,
            error="no answer in time",
            limited_by_budget=share.limited_by_budget,
        )
        for i in range(len(others))
    ]


@fact
def network_probes(target_python: str, network_target: DatasetSpec, options: Options) -> NetworkProbes:
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
    worker.join(share.remaining())
    requests_probe = box.get("r")
    if requests_probe is None:
        error = "did not finish in time" if share.limited_by_budget else f"no answer within {budget:.1f} s"
        requests_probe = RequestsProbe(ok=False, timed_out=True, error=error, elapsed_s=budget)
    return NetworkProbes(urllib=urllib_probe, requests=requests_probe, budget_s=budget)
