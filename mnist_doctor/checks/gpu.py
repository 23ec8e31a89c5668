"""GPU checks: will TensorFlow use a GPU here, and if not, why not.

Four checks read metadata and the driver only (no TensorFlow import): the build installed,
the CUDA wheels TensorFlow pins for ``[and-cuda]``, ``CUDA_VISIBLE_DEVICES`` and the NVIDIA
driver. ``gpu.tensorflow`` asks TensorFlow itself (``list_physical_devices('GPU')``) through the
import probe and explains a missing GPU with the metadata findings and TensorFlow's own log lines.
The reasons themselves are in :mod:`mnist_doctor.causes.gpu`.

No GPU is not a failure: ``mnist.load_data()`` and training run on the CPU. A finding that stops
the GPU is a warning when there are signs the user wants one (a driver, ``nvidia-*`` wheels) and
``ok`` otherwise; ``--expect-gpu`` makes each of them, and "TensorFlow sees no GPU", a failure.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mnist_doctor.causes import Diagnosis
from mnist_doctor.causes.gpu import (
    build_finding,
    devices_finding,
    driver_finding,
    metal_finding,
    obstacle,
    stderr_fix,
    stderr_hint,
    wheels_finding,
)
from mnist_doctor.facts.gpu import GpuBuild, metal_target
from mnist_doctor.facts.gpu_driver import NvidiaSmi, minimum_driver
from mnist_doctor.facts.gpu_runtime import GpuRuntime
from mnist_doctor.facts.introspection import parse_version
from mnist_doctor.model import BaseCheck, Result, Status
from mnist_doctor.text.hints import pip_install


def expects_gpu(options: Any) -> bool:
    return bool(getattr(options, "expect_gpu", False))


def wants_gpu(build: GpuBuild, smi: NvidiaSmi) -> bool:
    """Signs that a GPU is meant to be used: a driver answers (or is broken), or nvidia wheels exist."""
    return smi.state in ("ok", "failed", "timed_out") or bool(build.nvidia_wheels) or bool(build.metal)


def verdict(finding: Diagnosis, options: Any, intent: bool, data: dict[str, Any] | None = None) -> Result:
    """``fail`` under ``--expect-gpu``, the finding's own ``warn`` when a GPU is wanted, else ``ok``."""
    details = list(finding.details)
    if expects_gpu(options):
        return Result(Status.FAIL, finding.summary, details, finding.said, data or {}, finding.fixes)
    if intent:
        return Result(finding.status, finding.summary, details, finding.said, data or {}, finding.fixes)
    # Nothing is wrong for a CPU user: the fix is kept as information, not shown as a hint.
    return Result(Status.OK, finding.summary, [*details, f"for a GPU: {finding.hint}"], None, data or {})


class Build(BaseCheck):
    """Which TensorFlow build is installed, and whether it can use a GPU on this platform at all."""

    id = "gpu.build"
    title = "TensorFlow build"

    def run(self, gpu_build: GpuBuild, nvidia_smi: NvidiaSmi, target_python: str, options: Any) -> Result:
        build = gpu_build
        if build.kind == "none":
            return Result.skip("no TensorFlow installed: see compat.tensorflow")
        data = {"kind": build.kind, "cuda": build.cuda, "cudnn": build.cudnn, "platform": build.platform}
        finding = build_finding(build, target_python) or metal_finding(build, target_python)
        if finding is not None:
            present = nvidia_smi.state == "ok" and build.kind == "cpu"
            if present:
                finding = replace(
                    finding,
                    details=(
                        *finding.details,
                        "an NVIDIA GPU is present (nvidia-smi answers), but this build cannot use it",
                    ),
                )
            return verdict(finding, options, present or wants_gpu(build, nvidia_smi), data)
        if build.kind == "cuda":
            details = [build.cuda_source] if build.cuda_source else []
            if build.wsl:
                details.append("WSL2: the GPU is reached through the Windows NVIDIA driver")
            cuda = f" (CUDA {build.cuda}, cuDNN {build.cudnn})" if build.cuda else ""
            return Result.ok(f"{build.kind_note}{cuda}", details=details, data=data)
        if build.kind == "macos":
            target = metal_target(parse_version(build.metal))
            note = f"built for TensorFlow {target}" if target else "not in Apple's table"
            return Result.ok(
                f"{build.tensorflow} {build.tf_version} with tensorflow-metal {build.metal} ({note})",
                data=data,
            )
        return Result.ok(f"{build.tensorflow} {build.tf_version}: {build.kind_note}", data=data)


class CudaWheels(BaseCheck):
    """The CUDA/cuDNN wheels TensorFlow pins for ``[and-cuda]`` are installed at accepted versions."""

    id = "gpu.cuda_wheels"
    title = "CUDA wheels ([and-cuda])"

    def run(self, gpu_build: GpuBuild, nvidia_smi: NvidiaSmi, target_python: str, options: Any) -> Result:
        build = gpu_build
        if build.kind != "cuda":
            return Result.skip(f"not a CUDA build ({build.kind_note or 'no TensorFlow'})")
        data = {
            "pins": [p.__dict__ for p in build.pins],
            "nvidia_wheels": build.nvidia_wheels,
        }
        if not build.pins:
            return Result.ok(
                f"{build.tensorflow} {build.tf_version} declares no [and-cuda] extra: it uses a system "
                f"CUDA {build.cuda} and cuDNN {build.cudnn}",
                data=data,
            )
        finding = wheels_finding(build, target_python, nvidia_smi, expects_gpu(options))
        if finding is not None:
            return verdict(finding, options, wants_gpu(build, nvidia_smi), data)
        if all(p.state in ("missing", "optional") for p in build.pins):
            return Result.ok(
                f"the {sum(p.name.startswith('nvidia-') for p in build.pins)} CUDA wheels of [and-cuda] "
                "are not installed (no NVIDIA driver either: not needed)",
                details=[
                    f"for a GPU: {pip_install(target_python, f'tensorflow[and-cuda]=={build.tf_version}')}"
                ],
                data=data,
            )
        return Result.ok(
            f"all {len(build.pins)} CUDA wheels {build.tensorflow} {build.tf_version} pins for [and-cuda] "
            "are installed at accepted versions",
            data=data,
        )


class VisibleDevices(BaseCheck):
    """``CUDA_VISIBLE_DEVICES`` does not hide every GPU."""

    id = "gpu.visible_devices"
    title = "CUDA_VISIBLE_DEVICES"

    def run(self, gpu_build: GpuBuild, nvidia_smi: NvidiaSmi, options: Any) -> Result:
        build = gpu_build
        data = {"CUDA_VISIBLE_DEVICES": build.visible_devices}
        finding = devices_finding(build)
        if finding is not None:
            return verdict(finding, options, nvidia_smi.state == "ok", data)
        if build.visible_devices is None:
            return Result.ok("not set: CUDA shows every GPU", data=data)
        return Result.ok(f"CUDA_VISIBLE_DEVICES={build.visible_devices!r}: CUDA shows only these", data=data)


class Driver(BaseCheck):
    """The NVIDIA driver answers and is new enough for the CUDA major TensorFlow was built with."""

    id = "gpu.driver"
    title = "NVIDIA driver"

    def run(self, gpu_build: GpuBuild, nvidia_smi: NvidiaSmi, target_python: str, options: Any) -> Result:
        build, smi = gpu_build, nvidia_smi
        if build.kind in ("macos", "rocm", "windows"):
            return Result.skip(f"{build.kind_note}: the NVIDIA driver does not apply")
        data = {"state": smi.state, "driver": smi.driver, "gpus": smi.gpus, "path": smi.path}
        if smi.state == "timed_out" and smi.budget_limited:
            return Result.skip(
                "the run's --timeout ended nvidia-smi before it answered (not held against the driver)",
                hint="rerun with a larger --timeout",
                data=data,
            )
        finding = driver_finding(build, smi, target_python)
        if finding is not None:
            intent = smi.state != "absent" or bool(build.nvidia_wheels)
            return verdict(finding, options, intent, data)
        gpus = ", ".join(f"{g['name']} ({g['memory']})" for g in smi.gpus)
        need = minimum_driver(build.cuda_major, build.wsl or build.platform == "Windows")
        enough = f"; CUDA {build.cuda} needs >= {need}" if need and build.kind == "cuda" else ""
        return Result.ok(f"NVIDIA driver {smi.driver}: {gpus}{enough}", data=data)


class TensorflowSeesGpu(BaseCheck):
    """What TensorFlow itself reports: ``tf.config.list_physical_devices('GPU')`` and its build info."""

    id = "gpu.tensorflow"
    title = "GPUs TensorFlow sees"
    slow = True

    def run(
        self,
        gpu_build: GpuBuild,
        nvidia_smi: NvidiaSmi,
        gpu_runtime: GpuRuntime,
        target_python: str,
        options: Any,
    ) -> Result:
        build, smi, rt = gpu_build, nvidia_smi, gpu_runtime
        if build.kind == "none":
            return Result.skip("no TensorFlow installed")
        data: dict[str, Any] = {
            "devices": rt.devices,
            "build_info": rt.build,
            "stderr": [f.name for f in rt.findings],
            "elapsed_s": rt.elapsed_s,
        }
        details = [f"TensorFlow says: {f.line}" for f in rt.findings]
        details += _build_info_notes(build, rt)
        if rt.state == "absent":
            return Result.skip(f"no answer from TensorFlow: {rt.reason} (see runtime.import)", data=data)
        if rt.devices:
            cuda = rt.cuda_version
            built = f" (built with CUDA {cuda}, cuDNN {rt.cudnn_version})" if cuda else ""
            count = len(rt.devices)
            return Result.ok(
                f"TensorFlow sees {count} GPU{'s' if count > 1 else ''}: {', '.join(rt.devices)}{built}",
                details=details,
                data=data,
            )
        if rt.state == "timed_out":
            finding = obstacle(
                "gpu-query-hung",
                f"TensorFlow's GPU query did not answer in {rt.elapsed_s:.0f}s "
                "(CUDA initialisation hung or slow)",
                "run python -c \"import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))\" "
                "and watch its log; a first run on a new GPU may JIT-compile for minutes",
                tuple(details),
            )
            return verdict(finding, options, wants_gpu(build, smi), data)
        reasons = [
            f
            for f in (
                build_finding(build, target_python),
                metal_finding(build, target_python),
                devices_finding(build),
                driver_finding(build, smi, target_python),
                wheels_finding(build, target_python, smi, expects_gpu(options)),
            )
            if f is not None
        ]
        if rt.error:
            details.append(f"the query raised: {rt.error}")
        if build.log_level and build.log_level.strip() not in ("", "0"):
            details.append(
                f"TF_CPP_MIN_LOG_LEVEL={build.log_level} hides some of TensorFlow's own GPU messages"
            )
        data["reasons"] = [r.summary for r in reasons]
        if reasons:
            first = reasons[0]
            details[:0] = [f"because: {r.summary}" for r in reasons]
            finding = obstacle(
                first.name,
                f"no GPU visible to TensorFlow: {first.summary}",
                first.said,
                tuple(details),
                first.fixes,
            )
        elif rt.findings:
            fix = stderr_fix(rt.findings[0].name, build, target_python)
            finding = obstacle(
                rt.findings[0].name,
                f"no GPU visible to TensorFlow: {rt.findings[0].meaning}",
                stderr_hint(rt.findings[0].name, build, target_python),
                tuple(details),
                fix.steps if fix is not None else (),
            )
        else:
            finding = obstacle(
                "no-gpu-visible",
                "no GPU visible to TensorFlow (no reason found in the metadata or TensorFlow's log)",
                "run with TF_CPP_MIN_LOG_LEVEL=0 to see TensorFlow's own GPU messages",
                tuple(details),
            )
        return verdict(finding, options, wants_gpu(build, smi), data)


def _build_info_notes(build: GpuBuild, rt: GpuRuntime) -> list[str]:
    """Where TensorFlow's own build info and the metadata disagree (two witnesses, both shown)."""
    notes = []
    if rt.is_cuda_build is False and build.kind == "cuda":
        notes.append(f"TensorFlow reports is_cuda_build=False although {build.tensorflow} is the CUDA build")
    cuda = rt.cuda_version or ""
    if cuda and build.cuda and not cuda.startswith(build.cuda):
        notes.append(f"TensorFlow reports CUDA {cuda}; the metadata says {build.cuda} ({build.cuda_source})")
    return notes


#: Where this family stands in the report (lower first; plugins without one come last).
REPORT_ORDER = 90

CHECKS = [Build(), CudaWheels(), VisibleDevices(), Driver(), TensorflowSeesGpu()]
