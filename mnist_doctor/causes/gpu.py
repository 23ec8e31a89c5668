"""Why the GPU cannot be used, with the exact fix: one pure function per obstacle.

Each takes the GPU facts (:mod:`mnist_doctor.facts.gpu`, :mod:`mnist_doctor.facts.gpu_driver`) and
returns a :class:`~mnist_doctor.causes.Diagnosis` (category ``gpu``, status ``warn``) or ``None``.
The ``gpu`` checks report them one by one, and ``gpu.tensorflow`` gathers them to explain why
TensorFlow sees no GPU, so both always give the same reason. They are not a rule table: each
obstacle is judged from structured facts (versions, driver state), not from failure text, and
each check asks for its own.
"""

from __future__ import annotations

from mnist_doctor.causes import GPU, Diagnosis
from mnist_doctor.facts.gpu import METAL_FOR_TF, GpuBuild, metal_target
from mnist_doctor.facts.gpu_driver import NvidiaSmi, driver_too_old, minimum_driver
from mnist_doctor.facts.introspection import parse_version
from mnist_doctor.model import Fix, Hint, Status
from mnist_doctor.text.hints import Command, install_command, pip_install, said, uninstall_command

WSL_GUIDE = "https://www.tensorflow.org/install/pip#windows-wsl2"
#: The last TensorFlow whose [and-cuda] extra is CUDA 11 (for drivers older than CUDA 12 needs).
LAST_CUDA11_TF = "2.14.1"


def obstacle(
    name: str, summary: str, hint: str, details: tuple[str, ...] = (), fixes: tuple[Fix, ...] = ()
) -> Diagnosis:
    """Why the GPU cannot be used, with the exact fix.

    ``warn`` by itself: no GPU is no failure (``mnist.load_data()`` and training run on the CPU);
    the checks make it ``ok`` when no GPU is wanted and ``fail`` under ``--expect-gpu``.
    ``fixes``: the steps ``--fix`` may run, the hint's command when its hint starts with one.
    """
    return Diagnosis(name, GPU, summary, hint, details, status=Status.WARN, fixes=fixes)


def build_finding(build: GpuBuild, python: str) -> Diagnosis | None:
    """The installed build cannot use a GPU here (CPU-only distribution, native Windows, no metal)."""
    if build.kind == "cpu":
        cmd = _and_cuda(python, build)
        if build.cpu_dist:
            cmd = uninstall_command(python, build.cpu_dist).then(cmd)
        return obstacle(
            "cpu-only-build",
            f"{build.kind_note}: TensorFlow will not use a GPU",
            f"{cmd}   (Linux; GPU builds exist for Linux and WSL2)",
            fixes=cmd.steps,
        )
    if build.kind == "windows":
        return obstacle(
            "windows-native",
            f"TensorFlow {build.tf_version} on native Windows runs on the CPU only "
            "(2.10 was the last release with GPU support there)",
            "use WSL2 and install TensorFlow inside it: "
            + said(pip_install("python3", "tensorflow[and-cuda]"))
            + f" ({WSL_GUIDE})",
        )
    if build.kind == "macos" and not build.metal:
        cmd = install_command(python, "tensorflow-metal")
        return obstacle(
            "macos-without-metal",
            f"{build.tensorflow} {build.tf_version} on macOS without tensorflow-metal runs on the CPU only",
            str(cmd),
            fixes=cmd.steps,
        )
    return None


def metal_finding(build: GpuBuild, python: str) -> Diagnosis | None:
    """tensorflow-metal built for another TensorFlow minor (Apple's table)."""
    if build.kind != "macos" or not build.metal:
        return None
    target = metal_target(parse_version(build.metal))
    if target is None or target == build.minor:
        return None
    paired = [m for m, tf in METAL_FOR_TF.items() if tf == build.minor]
    fix = (
        install_command(python, f"tensorflow-metal=={paired[0]}.*")
        if paired
        else install_command(python, f"tensorflow=={target}.*")
    )
    return obstacle(
        "metal-mismatch",
        f"tensorflow-metal {build.metal} is built for TensorFlow {target}, this is {build.tf_version}: "
        "the plugin may fail to load (NotFoundError / symbol not found) and the GPU stays unused",
        str(fix),
        ("pairs from Apple's table: " + ", ".join(f"metal {m} ⇄ TF {t}" for m, t in METAL_FOR_TF.items()),),
        fix.steps,
    )


def wheels_finding(build: GpuBuild, python: str, smi: NvidiaSmi, expect: bool = False) -> Diagnosis | None:
    """TF's ``[and-cuda]`` pins missing or at other versions (only judged for CUDA builds)."""
    if build.kind != "cuda" or not build.pins:
        return None
    bad = [p for p in build.pins if p.state in ("missing", "wrong")]
    if not bad:
        return None
    extra = _and_cuda(python, build)
    if all(p.state in ("missing", "optional") for p in build.pins):
        if smi.state == "absent" and not build.nvidia_wheels and not expect:
            return None  # no driver and no wheels: nothing was meant to run on a GPU
        return obstacle(
            "cuda-wheels-missing",
            f"none of the {len(bad)} CUDA wheels {build.tensorflow} {build.tf_version} pins for "
            f"[and-cuda] is installed: without a system CUDA {build.cuda} and cuDNN {build.cudnn} "
            "TensorFlow cannot load its GPU libraries",
            str(extra),
            fixes=extra.steps,
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
    return obstacle(
        "cuda-wheels-mismatch",
        f"CUDA wheels for {build.tensorflow} {build.tf_version} [and-cuda]: {' and '.join(parts)}: "
        + "; ".join(lines[:2]),
        f"{extra}   (or exactly: " + said(pip_install(python, *(p.requirement for p in bad))) + ")",
        tuple(lines),
        extra.steps,
    )


def devices_finding(build: GpuBuild) -> Diagnosis | None:
    if not build.devices_hidden:
        return None
    shown = repr(build.visible_devices)
    return obstacle(
        "devices-hidden",
        f"CUDA_VISIBLE_DEVICES={shown} hides every GPU from TensorFlow",
        said("unset CUDA_VISIBLE_DEVICES")
        + "   (or list the GPUs to use, e.g. "
        + said("export CUDA_VISIBLE_DEVICES=0")
        + ")",
    )


def driver_finding(build: GpuBuild, smi: NvidiaSmi, python: str = "python") -> Diagnosis | None:
    """No, broken, hung or too old NVIDIA driver for the CUDA major TensorFlow was built with."""
    if build.kind not in ("cuda", "cpu", "none"):
        return None
    windows_driver = build.wsl or build.platform == "Windows"
    need = minimum_driver(build.cuda_major, windows_driver)
    driver_fix = (
        f"install the NVIDIA driver (>= {need} for CUDA {build.cuda})"
        if need
        else "install the NVIDIA driver"
    ) + (
        ", e.g. "
        + said("sudo ubuntu-drivers install")
        + ", or from https://www.nvidia.com/Download/index.aspx"
    )
    if smi.state == "absent":
        return obstacle(
            "no-driver", "no NVIDIA driver (nvidia-smi not found): TensorFlow runs on the CPU", driver_fix
        )
    if smi.state == "failed":
        return obstacle(
            "driver-failed",
            f"nvidia-smi is installed but failed: {smi.message}",
            "the driver is not loaded or does not match the kernel module: reboot, or reinstall the driver "
            "(nvidia-smi must list the GPU)",
        )
    if smi.state == "timed_out":
        return obstacle(
            "driver-hung",
            f"nvidia-smi did not answer within {smi.elapsed_s:.1f}s: the driver looks hung",
            "check `nvidia-smi` by hand; a hung driver usually needs a reboot",
        )
    if build.kind != "cuda":
        return None
    need_old = driver_too_old(smi.driver or "", build.cuda_major, windows_driver)
    if need_old is None:
        return None
    return obstacle(
        "driver-too-old",
        f"NVIDIA driver {smi.driver} is too old for CUDA {build.cuda} ({build.tensorflow} {build.tf_version} "
        f"was built with it; CUDA {build.cuda_major}.x needs driver >= {need_old}): TensorFlow will not "
        "use the GPU",
        f"upgrade the NVIDIA driver to >= {need_old} (sudo ubuntu-drivers install, or "
        "https://www.nvidia.com/Download/index.aspx), or keep this driver with a CUDA 11 TensorFlow "
        "(Python <= 3.11): " + said(pip_install(python, f"tensorflow[and-cuda]=={LAST_CUDA11_TF}"))
        if build.cuda_major and build.cuda_major >= 12
        else f"upgrade the NVIDIA driver to >= {need_old}",
        (f"driver minimum per NVIDIA's CUDA release notes: CUDA {build.cuda_major}.x >= {need_old}",),
    )


def _and_cuda(python: str, build: GpuBuild) -> Command:
    return install_command(python, f"tensorflow[and-cuda]=={build.tf_version}")


def stderr_fix(name: str, build: GpuBuild, python: str) -> Command | None:
    """The command that fixes what TensorFlow's log says, when one does."""
    if name in ("missing-gpu-libraries", "missing-library", "cudnn-mismatch"):
        return _and_cuda(python, build)
    return None


def stderr_hint(name: str, build: GpuBuild, python: str) -> Hint:
    command = stderr_fix(name, build, python)
    if command is not None:
        return Hint(str(command))  # the fix itself (stderr_fix): --fix runs it
    if name == "no-device":
        return said("unset CUDA_VISIBLE_DEVICES") + ", and check that nvidia-smi lists a GPU"
    return Hint("check the NVIDIA driver: nvidia-smi must list the GPU")
