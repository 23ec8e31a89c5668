"""What TensorFlow itself says about the GPU: the import probe's ``gpu`` record and TF's stderr.

The probe (``target/import_probe.py``, or the load probe whose imports runtime.import reuses)
records ``tf.config.list_physical_devices('GPU')`` and ``tf.sysconfig.get_build_info()`` under
the answer's ``gpu`` key. TensorFlow explains a missing GPU only in its own log lines on
stderr; :func:`classify_stderr` names the ones that matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mnist_doctor.facts import fact
from mnist_doctor.facts.import_probe import ImportProbe


@dataclass(frozen=True)
class StderrFinding:
    """One recognised TensorFlow log line: a stable name, what it means, and the line itself."""

    name: str
    meaning: str
    line: str


#: (name, pattern, meaning). Patterns match TensorFlow's own messages (XLA/TSL stream executor).
PATTERNS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "no-cuda-driver",
        re.compile(r"Could not find cuda drivers on your machine", re.I),
        "TensorFlow found no NVIDIA driver (libcuda): it runs on the CPU",
    ),
    (
        "missing-gpu-libraries",
        re.compile(r"Cannot dlopen some GPU libraries", re.I),
        "the CUDA/cuDNN libraries TensorFlow needs are not installed (pip install 'tensorflow[and-cuda]')",
    ),
    (
        "missing-library",
        re.compile(r"Could not load dynamic library '([^']+)'", re.I),
        "a CUDA library could not be loaded",
    ),
    (
        "cudnn-mismatch",
        re.compile(r"Loaded runtime CuDNN library: \S+ but source was compiled with: \S+", re.I),
        "the cuDNN found is not the one TensorFlow was built with (major must match, minor >= built)",
    ),
    (
        "driver-too-old",
        re.compile(r"CUDA driver version is insufficient|CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", re.I),
        "the NVIDIA driver is older than the CUDA TensorFlow was built with",
    ),
    (
        "no-device",
        re.compile(r"CUDA_ERROR_NO_DEVICE|no CUDA-capable device is detected", re.I),
        "CUDA sees no GPU (CUDA_VISIBLE_DEVICES hides them, or there is none)",
    ),
    (
        "cuinit-failed",
        re.compile(r"failed call to cuInit", re.I),
        "CUDA could not initialise the driver",
    ),
    (
        "ptx-jit",
        re.compile(r"not built with CUDA kernel binaries compatible with compute capability", re.I),
        "this GPU is newer than TensorFlow's kernels: they are JIT-compiled (slow first run)",
    ),
)


def classify_stderr(text: str, limit: int = 8) -> list[StderrFinding]:
    """TensorFlow's GPU-related log lines in ``text``, at most one per name (first seen), in order."""
    found: dict[str, StderrFinding] = {}
    for line in text.splitlines():
        for name, pattern, meaning in PATTERNS:
            if name in found:
                continue
            if pattern.search(line):
                found[name] = StderrFinding(name, meaning, _short(line))
        if len(found) >= limit:
            break
    return list(found.values())


def _short(line: str) -> str:
    """The message part of a TF log line (without the ``I0000 00:00:... file.cc:31]`` prefix)."""
    message = re.sub(r"^[IWEF][^\]]*?\.(?:cc|h|py):\d+\]\s*", "", line.strip())
    return message[:300]


@dataclass
class GpuRuntime:
    """TensorFlow's own view, from the probe."""

    #: ``ok`` (the probe answered), ``absent`` (no record: TF not imported, or an older probe),
    #: ``error`` (the query raised), ``timed_out`` (the query did not finish in the probe's cap).
    state: str
    devices: list[str] = field(default_factory=list)
    build: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    reason: str = ""
    findings: list[StderrFinding] = field(default_factory=list)
    elapsed_s: float = 0.0
    #: From ``build``, read once: the CUDA and cuDNN TensorFlow was built with (None: not said),
    #: and whether it is a CUDA build (None: not said, or not true/false).
    cuda_version: str | None = None
    cudnn_version: str | None = None
    is_cuda_build: bool | None = None


def from_probe(answer: dict[str, Any] | None, stderr: str) -> GpuRuntime:
    """Read the probe's ``gpu`` record (see ``gpu_stage`` in the target scripts)."""
    record = (answer or {}).get("gpu")
    findings = classify_stderr(stderr or "")
    if not isinstance(record, dict):
        return GpuRuntime("absent", reason="the probe did not reach the GPU query", findings=findings)
    if record.get("skipped"):
        return GpuRuntime("absent", reason=str(record["skipped"])[:300], findings=findings)
    elapsed = float(record.get("elapsed_s") or 0.0)
    if record.get("timed_out"):
        return GpuRuntime(
            "timed_out", reason=str(record.get("error") or ""), findings=findings, elapsed_s=elapsed
        )
    value = record.get("value") or {}
    devices = [str(d)[:200] for d in value.get("devices") or []]
    raw_build = value.get("build")
    build: dict[str, Any] = raw_build if isinstance(raw_build, dict) else {}
    errors = [str(e)[:500] for e in (value.get("devices_error"), value.get("build_error")) if e]
    state = "error" if value.get("devices_error") else "ok"
    cuda, cudnn, is_cuda = (build.get(k) for k in ("cuda_version", "cudnn_version", "is_cuda_build"))
    return GpuRuntime(
        state,
        devices,
        dict(build),
        "; ".join(errors),
        findings=findings,
        elapsed_s=elapsed,
        cuda_version=str(cuda)[:100] if cuda else None,
        cudnn_version=str(cudnn)[:100] if cudnn is not None else None,
        is_cuda_build=is_cuda if isinstance(is_cuda, bool) else None,
    )


@fact
def gpu_runtime(import_probe: ImportProbe) -> GpuRuntime:
    """What TensorFlow says about the GPU in the target interpreter (imports TensorFlow, once per run)."""
    run = import_probe.run
    return from_probe(run.answer, run.stderr)
