"""GPU checks: will TensorFlow use a GPU here, and if not, why not.

Four checks read metadata and the driver only (no TensorFlow import): the build installed,
the CUDA wheels TensorFlow pins for ``[and-cuda]``, ``CUDA_VISIBLE_DEVICES`` and the NVIDIA
driver. ``gpu.tensorflow`` asks TensorFlow itself (``list_physical_devices('GPU')``) through the
import probe and explains a missing GPU with the metadata findings and TensorFlow's own log lines.

No GPU is not a failure: ``mnist.load_data()`` and training run on the CPU. A finding that stops
the GPU is a warning when there are signs the user wants one (a driver, ``nvidia-*`` wheels) and
``ok`` otherwise; ``--expect-gpu`` makes each of them, and "TensorFlow sees no GPU", a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mnist_doctor.gpu import METAL_FOR_TF, GpuBuild, metal_target
from mnist_doctor.gpu_driver import NvidiaSmi, driver_too_old, minimum_driver
from mnist_doctor.gpu_runtime import GpuRuntime
from mnist_doctor.hints import pip_install, pip_uninstall
from mnist_doctor.model import BaseCheck, Result, Status

WSL_GUIDE = "https://www.tensorflow.org/install/pip#windows-wsl2"
#: The last TensorFlow whose [and-cuda] extra is CUDA 11 (for drivers older than CUDA 12 needs).
LAST_CUDA11_TF = "2.14.1"


@dataclass
class Finding:
    """Why the GPU cannot be used, with the exact fix; ``None`` from a helper means no obstacle."""

    summary: str
    hint: str
    details: tuple[str, ...] = ()


def expects_gpu(options: Any) -> bool:
    return bool(getattr(options, "expect_gpu", False))


def wants_gpu(build: GpuBuild, smi: NvidiaSmi) -> bool:
    """Signs that a GPU is meant to be used: a driver answers (or is broken), or nvidia wheels exist."""
    return smi.state in ("ok", "failed", "timed_out") or bool(build.nvidia_wheels) or bool(build.metal)


def verdict(finding: Finding, options: Any, intent: bool, data: dict[str, Any] | None = None) -> Result:
    """``fail`` under ``--expect-gpu``, ``warn`` when a GPU is evidently wanted, else ``ok``."""
    details = list(finding.details)
    if expects_gpu(options):
        return Result(Status.FAIL, finding.summary, details, finding.hint, data or {})
    if intent:
        return Result(Status.WARN, finding.summary, details, finding.hint, data or {})
    # Nothing is wrong for a CPU user: the fix is kept as information, not shown as a hint.
    return Result(Status.OK, finding.summary, [*details, f"for a GPU: {finding.hint}"], None, data or {})


def build_finding(build: GpuBuild, python: str) -> Finding | None:
    """The installed build cannot use a GPU here (CPU-only distribution, native Windows, no metal)."""
    if build.kind == "cpu":
        return Finding(
            f"{build.kind_note}: TensorFlow will not use a GPU",
            f"{pip_uninstall(python, build.cpu_dist or '')} && "
            + pip_install(python, f"tensorflow[and-cuda]=={build.tf_version}")
            + "   (Linux; GPU builds exist for Linux and WSL2)",
        )
    if build.kind == "windows":
        return Finding(
            f"TensorFlow {build.tf_version} on native Windows runs on the CPU only "
            "(2.10 was the last release with GPU support there)",
            f"use WSL2 and install TensorFlow inside it: {pip_install('python3', 'tensorflow[and-cuda]')} "
            f"({WSL_GUIDE})",
        )
    if build.kind == "macos" and not build.metal:
        return Finding(
            f"{build.tensorflow} {build.tf_version} on macOS without tensorflow-metal runs on the CPU only",
            pip_install(python, "tensorflow-metal"),
        )
    return None


def metal_finding(build: GpuBuild, python: str) -> Finding | None:
    """tensorflow-metal built for another TensorFlow minor (Apple's table)."""
    if build.kind != "macos" or not build.metal:
        return None
    from mnist_doctor.environment import parse_version

    target = metal_target(parse_version(build.metal))
    if target is None or target == build.minor:
        return None
    paired = [m for m, tf in METAL_FOR_TF.items() if tf == build.minor]
    fix = (
        pip_install(python, f"tensorflow-metal=={paired[0]}.*")
        if paired
        else pip_install(python, f"tensorflow=={target}.*")
    )
    return Finding(
        f"tensorflow-metal {build.metal} is built for TensorFlow {target}, this is {build.tf_version}: "
        "the plugin may fail to load (NotFoundError / symbol not found) and the GPU stays unused",
        fix,
        ("pairs from Apple's table: " + ", ".join(f"metal {m} ⇄ TF {t}" for m, t in METAL_FOR_TF.items()),),
    )


def wheels_finding(build: GpuBuild, python: str, smi: NvidiaSmi, expect: bool = False) -> Finding | None:
    """TF's ``[and-cuda]`` pins missing or at other versions (only judged for CUDA builds)."""
    if build.kind != "cuda" or not build.pins:
        return None
    bad = [p for p in build.pins if p.state in ("missing", "wrong")]
    if not bad:
        return None
    extra = pip_install(python, f"tensorflow[and-cuda]=={build.tf_version}")
    if all(p.state in ("missing", "optional") for p in build.pins):
        if smi.state == "absent" and not build.nvidia_wheels and not expect:
            return None  # no driver and no wheels: nothing was meant to run on a GPU
        return Finding(
            f"none of the {len(bad)} CUDA wheels {build.tensorflow} {build.tf_version} pins for "
            f"[and-cuda] is installed: without a system CUDA {build.cuda} and cuDNN {build.cudnn} "
            "TensorFlow cannot load its GPU libraries",
            extra,
        )
    wrong = [p for p in bad if p.state == "wrong"]
    missing = [p for p in bad if p.state == "missing"]
    lines = [f"{p.name} {p.installed}, but TensorFlow pins {p.requirement}" for p in wrong]
    lines += [f"{p.name} missing (TensorFlow pins {p.requirement})" for p in missing]
    parts = []
    if wrong:
        parts.append(f"{len(wrong)} at other versions")
    if missing:
        parts.append(f"{len(missing)} missing")
    return Finding(
        f"CUDA wheels for {build.tensorflow} {build.tf_version} [and-cuda]: {' and '.join(parts)}: "
        + "; ".join(lines[:2]),
        f"{extra}   (or exactly: {pip_install(python, *(p.requirement for p in bad))})",
        tuple(lines),
    )


def devices_finding(build: GpuBuild) -> Finding | None:
    if not build.devices_hidden:
        return None
    shown = repr(build.visible_devices)
    return Finding(
        f"CUDA_VISIBLE_DEVICES={shown} hides every GPU from TensorFlow",
        "unset CUDA_VISIBLE_DEVICES   (or list the GPUs to use, e.g. export CUDA_VISIBLE_DEVICES=0)",
    )


def driver_finding(build: GpuBuild, smi: NvidiaSmi, python: str = "python") -> Finding | None:
    """No, broken, hung or too old NVIDIA driver for the CUDA major TensorFlow was built with."""
    if build.kind not in ("cuda", "cpu", "none"):
        return None
    windows_driver = build.wsl or build.platform == "Windows"
    need = minimum_driver(build.cuda_major, windows_driver)
    driver_fix = (
        f"install the NVIDIA driver (>= {need} for CUDA {build.cuda})"
        if need
        else "install the NVIDIA driver"
    ) + ", e.g. sudo ubuntu-drivers install, or from https://www.nvidia.com/Download/index.aspx"
    if smi.state == "absent":
        return Finding("no NVIDIA driver (nvidia-smi not found): TensorFlow runs on the CPU", driver_fix)
    if smi.state == "failed":
        return Finding(
            f"nvidia-smi is installed but failed: {smi.message}",
            "the driver is not loaded or does not match the kernel module: reboot, or reinstall the driver "
            "(nvidia-smi must list the GPU)",
        )
    if smi.state == "timed_out":
        return Finding(
            f"nvidia-smi did not answer within {smi.elapsed_s:.1f}s: the driver looks hung",
            "check `nvidia-smi` by hand; a hung driver usually needs a reboot",
        )
    if build.kind != "cuda":
        return None
    need_old = driver_too_old(smi.driver or "", build.cuda_major, windows_driver)
    if need_old is None:
        return None
    return Finding(
        f"NVIDIA driver {smi.driver} is too old for CUDA {build.cuda} ({build.tensorflow} {build.tf_version} "
        f"was built with it; CUDA {build.cuda_major}.x needs driver >= {need_old}): TensorFlow will not "
        "use the GPU",
        f"upgrade the NVIDIA driver to >= {need_old} (sudo ubuntu-drivers install, or "
        "https://www.nvidia.com/Download/index.aspx), or keep this driver with a CUDA 11 TensorFlow "
        f"(Python <= 3.11): {pip_install(python, f'tensorflow[and-cuda]=={LAST_CUDA11_TF}')}"
        if build.cuda_major and build.cuda_major >= 12
        else f"upgrade the NVIDIA driver to >= {need_old}",
        (f"driver minimum per NVIDIA's CUDA release notes: CUDA {build.cuda_major}.x >= {need_old}",),
    )


class Build(BaseCheck):
    """Which TensorFlow build is installed, and whether it can use a GPU on this platform at all."""

    id = "gpu.build"
    family = "gpu"
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
                finding.details += (
                    "an NVIDIA GPU is present (nvidia-smi answers), but this build cannot use it",
                )
            return verdict(finding, options, present or wants_gpu(build, nvidia_smi), data)
        if build.kind == "cuda":
            details = [build.cuda_source] if build.cuda_source else []
            if build.wsl:
                details.append("WSL2: the GPU is reached through the Windows NVIDIA driver")
            cuda = f" (CUDA {build.cuda}, cuDNN {build.cudnn})" if build.cuda else ""
            return Result.ok(f"{build.kind_note}{cuda}", details=details, data=data)
        if build.kind == "macos":
            target = metal_target(_version(build.metal))
            note = f"built for TensorFlow {target}" if target else "not in Apple's table"
            return Result.ok(
                f"{build.tensorflow} {build.tf_version} with tensorflow-metal {build.metal} ({note})",
                data=data,
            )
        return Result.ok(f"{build.tensorflow} {build.tf_version}: {build.kind_note}", data=data)


class CudaWheels(BaseCheck):
    """The CUDA/cuDNN wheels TensorFlow pins for ``[and-cuda]`` are installed at accepted versions."""

    id = "gpu.cuda_wheels"
    family = "gpu"
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
    family = "gpu"
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
    family = "gpu"
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
    family = "gpu"
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
            cuda = rt.build.get("cuda_version")
            built = f" (built with CUDA {cuda}, cuDNN {rt.build.get('cudnn_version')})" if cuda else ""
            count = len(rt.devices)
            return Result.ok(
                f"TensorFlow sees {count} GPU{'s' if count > 1 else ''}: {', '.join(rt.devices)}{built}",
                details=details,
                data=data,
            )
        if rt.state == "timed_out":
            finding = Finding(
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
            finding = Finding(f"no GPU visible to TensorFlow: {first.summary}", first.hint, tuple(details))
        elif rt.findings:
            finding = Finding(
                f"no GPU visible to TensorFlow: {rt.findings[0].meaning}",
                _stderr_hint(rt.findings[0].name, build, target_python),
                tuple(details),
            )
        else:
            finding = Finding(
                "no GPU visible to TensorFlow (no reason found in the metadata or TensorFlow's log)",
                "run with TF_CPP_MIN_LOG_LEVEL=0 to see TensorFlow's own GPU messages",
                tuple(details),
            )
        return verdict(finding, options, wants_gpu(build, smi), data)


def _stderr_hint(name: str, build: GpuBuild, python: str) -> str:
    if name in ("missing-gpu-libraries", "missing-library", "cudnn-mismatch"):
        return pip_install(python, f"tensorflow[and-cuda]=={build.tf_version}")
    if name == "no-device":
        return "unset CUDA_VISIBLE_DEVICES, and check that nvidia-smi lists a GPU"
    return "check the NVIDIA driver: nvidia-smi must list the GPU"


def _build_info_notes(build: GpuBuild, rt: GpuRuntime) -> list[str]:
    """Where TensorFlow's own build info and the metadata disagree (two witnesses, both shown)."""
    notes = []
    if rt.build.get("is_cuda_build") is False and build.kind == "cuda":
        notes.append(f"TensorFlow reports is_cuda_build=False although {build.tensorflow} is the CUDA build")
    cuda = str(rt.build.get("cuda_version") or "")
    if cuda and build.cuda and not cuda.startswith(build.cuda):
        notes.append(f"TensorFlow reports CUDA {cuda}; the metadata says {build.cuda} ({build.cuda_source})")
    return notes


def _version(text: str | None):  # type: ignore[no-untyped-def]
    from mnist_doctor.environment import parse_version

    return parse_version(text)


CHECKS = [Build(), CudaWheels(), VisibleDevices(), Driver(), TensorflowSeesGpu()]
