"""What the installed TensorFlow can do with a GPU, read from metadata alone (no import).

The fact :func:`gpu_build` answers, for the target interpreter: which TensorFlow build is
installed (CPU-only distribution, CUDA-capable ``tensorflow`` on Linux, macOS, ROCm), which
CUDA it was built with, the ``and-cuda`` pins it declares against the ``nvidia-*`` wheels
installed, ``CUDA_VISIBLE_DEVICES``, and the platform rules (native Windows, WSL2, macOS with
``tensorflow-metal``). The checks in :mod:`mnist_doctor.checks.gpu` turn it into verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.version import Version

from mnist_doctor.compat.table import applies, canonical
from mnist_doctor.facts import fact
from mnist_doctor.facts.answers.introspection import Introspection
from mnist_doctor.facts.introspection import Dist, Distributions, env_lookup, parse_version

#: Distributions that never contain CUDA kernels (they may still *declare* ``and-cuda``:
#: tensorflow-cpu 2.21 does, copied from tensorflow's metadata, and it changes nothing).
CPU_ONLY = {
    "tensorflow-cpu": "the CPU-only build",
    "tensorflow-intel": "Intel's CPU build (what `tensorflow` installs on Windows for 2.12–2.15)",
    "tensorflow-aarch64": "the ARM64 CPU build",
    "tensorflow-cpu-aws": "the AWS Graviton CPU build",
    "intel-tensorflow": "Intel's CPU-optimised build",
    "tf-nightly-cpu": "the CPU-only nightly",
    "tf-nightly-intel": "Intel's CPU nightly",
}
MACOS_DISTS = ("tensorflow-macos", "tf-nightly-macos")
ROCM_DISTS = ("tensorflow-rocm",)

#: CUDA (and cuDNN) each TensorFlow minor was built with, from TensorFlow's "Tested build
#: configurations" (https://www.tensorflow.org/install/source#gpu). Used only when the wheel
#: does not say it itself: from 2.14 on, the ``and-cuda`` pin on ``nvidia-cuda-runtime-cuXX``
#: in the wheel's own METADATA is the first witness (2.14: 11.8.89, 2.15: 12.2.140,
#: 2.16–2.17: 12.3.101, 2.18–2.21: >=12.5.82; see docs/compat-matrix.json) and agrees with this.
TF_CUDA: dict[str, tuple[str, str]] = {
    "2.12": ("11.8", "8.6"),
    "2.13": ("11.8", "8.6"),
    "2.14": ("11.8", "8.7"),
    "2.15": ("12.2", "8.9"),
    "2.16": ("12.3", "8.9"),
    "2.17": ("12.3", "8.9"),
    "2.18": ("12.5", "9.3"),
    "2.19": ("12.5", "9.3"),
    "2.20": ("12.5", "9.3"),
    "2.21": ("12.5", "9.3"),
}

#: tensorflow-metal release -> the TensorFlow minor it is built for, from Apple's release table
#: (https://developer.apple.com/metal/tensorflow-plugin/, "Releases"). Kept to what that table
#: states; a newer plugin is reported as "not in the table", never guessed.
METAL_FOR_TF: dict[str, str] = {
    "0.5": "2.9",
    "0.6": "2.10",
    "0.7": "2.11",
    "0.8": "2.12",
    "1.0": "2.13",
    "1.1": "2.14",
}

#: The last TensorFlow with GPU support on native Windows is 2.10 (tensorflow.org/install/pip,
#: "Windows Native": "TensorFlow 2.10 was the last TensorFlow release that supported GPU on
#: native-Windows"); later releases need WSL2.
WINDOWS_LAST_GPU = Version("2.10.99")


@dataclass(frozen=True)
class Pin:
    """One ``and-cuda`` requirement, evaluated for the target, against what is installed."""

    requirement: str
    name: str
    installed: str | None
    #: ``ok`` (installed and accepted), ``missing``, ``wrong`` (installed, not accepted) or
    #: ``optional`` (missing, but not needed for the GPU: tensorrt).
    state: str


@dataclass
class GpuBuild:
    """Everything the metadata says about GPU use in the target environment."""

    tensorflow: str | None = None
    tf_version: Version | None = None
    #: ``none`` (no TF), ``cuda`` (CUDA-capable), ``cpu`` (CPU-only distribution), ``macos``, ``rocm``,
    #: ``windows`` (native Windows with TF > 2.10: CPU only).
    kind: str = "none"
    kind_note: str = ""
    platform: str = ""
    wsl: bool = False
    #: CUDA ``major.minor`` TF was built with, and where that came from.
    cuda: str | None = None
    cudnn: str | None = None
    cuda_source: str = ""
    pins: list[Pin] = field(default_factory=list)
    #: ``nvidia-*`` wheels installed, by name (whatever TF declares).
    nvidia_wheels: dict[str, str] = field(default_factory=dict)
    visible_devices: str | None = None
    metal: str | None = None
    #: The CPU-only distribution installed (``kind == "cpu"``), by its own name.
    cpu_dist: str | None = None
    log_level: str | None = None

    @property
    def cuda_major(self) -> int | None:
        return int(self.cuda.split(".")[0]) if self.cuda else None

    @property
    def minor(self) -> str | None:
        return f"{self.tf_version.major}.{self.tf_version.minor}" if self.tf_version else None

    @property
    def native_windows_without_gpu(self) -> bool:
        return (
            self.platform == "Windows" and self.tf_version is not None and self.tf_version > WINDOWS_LAST_GPU
        )

    @property
    def devices_hidden(self) -> bool:
        """``CUDA_VISIBLE_DEVICES`` set to ``-1`` or empty: CUDA shows no device at all."""
        value = self.visible_devices
        return value is not None and (value.strip() == "" or value.strip().startswith("-1"))


def and_cuda_pins(tf: Dist, dists: Distributions, marker_env: dict[str, str]) -> list[Pin]:
    """TF's ``Requires-Dist: ...; extra == "and-cuda"`` lines that apply here, vs what is installed."""
    env = {**marker_env, "extra": "and-cuda"}
    plain = {**marker_env, "extra": ""}
    out = []
    for req in tf.requirements():
        # Only requirements the extra adds: they apply with the extra and not without it.
        if req.marker is None or not applies(req.marker, env) or applies(req.marker, plain):
            continue
        dist = dists.get(req.name)
        if dist is None or dist.version is None:
            # tensorrt (2.14's extra) serves TF-TRT only: TensorFlow uses the GPU without it.
            state = "missing" if canonical(req.name).startswith("nvidia-") else "optional"
        elif req.specifier and not req.specifier.contains(dist.version, prereleases=True):
            state = "wrong"
        else:
            state = "ok"
        text = f"{req.name}{req.specifier}" if req.specifier else req.name
        out.append(Pin(text, canonical(req.name), dist.version_str if dist else None, state))
    return out


def cuda_from_pins(tf: Dist, marker_env: dict[str, str]) -> tuple[str | None, str | None, str]:
    """CUDA and cuDNN ``major.minor`` from TF's own ``and-cuda`` pins (runtime and cuDNN wheels)."""
    env = {**marker_env, "extra": "and-cuda"}
    cuda = cudnn = None
    source = ""
    for req in tf.requirements():
        if req.marker is None or not applies(req.marker, env):
            continue
        key = canonical(req.name)
        low = _lower_bound(req)
        if low is None:
            continue
        if key.startswith("nvidia-cuda-runtime-cu"):
            cuda = f"{low.major}.{low.minor}"
            source = f"{tf.name} {tf.version_str} pins {req.name}{req.specifier} for [and-cuda]"
        elif key.startswith("nvidia-cudnn-cu"):
            cudnn = f"{low.major}.{low.minor}"
    return cuda, cudnn, source


def _lower_bound(req: Requirement) -> Version | None:
    for spec in req.specifier:
        if spec.operator in ("==", "===", ">=", "~=", ">"):
            version = parse_version(spec.version.rstrip(".*"))
            if version is not None:
                return version
    return None


def metal_target(metal_version: Version | None) -> str | None:
    """The TensorFlow minor a tensorflow-metal release is built for (Apple's table), if known."""
    if metal_version is None:
        return None
    return METAL_FOR_TF.get(f"{metal_version.major}.{metal_version.minor}")


def describe(
    dists: Distributions, marker_env: dict[str, str], env: dict[str, str], release: str = ""
) -> GpuBuild:
    """The :class:`GpuBuild` of an environment (pure: the fact below feeds it the target's data)."""
    build = GpuBuild(
        platform=marker_env.get("platform_system", ""),
        wsl="microsoft" in release.lower() and marker_env.get("platform_system") == "Linux",
        visible_devices=env_lookup(env, "CUDA_VISIBLE_DEVICES"),
        log_level=env_lookup(env, "TF_CPP_MIN_LOG_LEVEL"),
    )
    build.nvidia_wheels = {
        key: found[0].version_str
        for key, found in dists.by_key.items()
        if key.startswith("nvidia-") and found
    }
    metal = dists.get("tensorflow-metal")
    build.metal = metal.version_str if metal else None
    tf = dists.tensorflow()
    if tf is None:
        return build
    build.tensorflow, build.tf_version = tf.name, tf.version
    names = {d.key for d in dists.tensorflow_dists()}
    cpu = next((k for k in CPU_ONLY if k in names), None)
    if any(k in names for k in MACOS_DISTS) or build.platform == "Darwin":
        build.kind, build.kind_note = "macos", "macOS: no CUDA; the GPU is reached through tensorflow-metal"
    elif build.native_windows_without_gpu:
        build.kind = "windows"
        build.kind_note = (
            f"native Windows: TensorFlow {tf.version_str} has no GPU support here (2.10 was the last)"
        )
    elif any(k in names for k in ROCM_DISTS):
        build.kind, build.kind_note = "rocm", "the ROCm build (AMD GPUs): the NVIDIA checks do not apply"
    elif cpu is not None:
        found = dists.get(cpu)
        build.cpu_dist = found.name if found else cpu
        build.kind = "cpu"
        build.kind_note = f"{build.cpu_dist} {found.version_str if found else ''} is {CPU_ONLY[cpu]}"
    else:
        build.kind, build.kind_note = "cuda", f"{tf.name} {tf.version_str}: the CUDA-capable build"
    if build.kind != "cuda":
        return build
    build.pins = and_cuda_pins(tf, dists, marker_env)
    build.cuda, build.cudnn, build.cuda_source = cuda_from_pins(tf, marker_env)
    tabled = TF_CUDA.get(build.minor or "")
    if build.cuda is None and tabled:
        build.cuda, build.cudnn = tabled
        build.cuda_source = f"TensorFlow's tested build configurations for {build.minor}"
    elif build.cudnn is None and tabled:
        build.cudnn = tabled[1]
    return build


@fact
def gpu_build(
    distributions: Distributions,
    marker_env: dict[str, str],
    target_env: dict[str, str],
    introspection: Introspection,
) -> GpuBuild:
    """What the target's metadata says about GPU use (no TensorFlow import)."""
    release = introspection.python.release or ""
    return describe(distributions, marker_env, target_env, release)
