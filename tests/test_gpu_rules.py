"""Platform rules and the small tables, on real recorded metadata with the target's marker values:
native Windows (no GPU after 2.10), WSL2 (the Windows driver column), macOS with tensorflow-metal
(Apple's pairing), and the driver/CUDA arithmetic and nvidia-smi parsing."""

from __future__ import annotations

import pytest

from mnist_doctor.causes.gpu import build_finding, driver_finding, metal_finding
from mnist_doctor.facts.gpu import describe
from mnist_doctor.facts.gpu_driver import NvidiaSmi, driver_too_old, parse_query
from mnist_doctor.facts.introspection import Distributions
from tests.gpu_fixtures import recorded_tensorflow
from tests.test_gpu_replay import LINUX_311

WINDOWS = {**LINUX_311, "platform_system": "Windows", "sys_platform": "win32", "os_name": "nt"}
MACOS = {**LINUX_311, "platform_system": "Darwin", "sys_platform": "darwin", "platform_machine": "arm64"}


def dists(*rows: tuple[str, str]) -> Distributions:
    out = []
    for name, version in rows:
        requires = recorded_tensorflow().get(version, []) if name == "tensorflow" else []
        out.append({"name": name, "version": version, "requires": requires})
    return Distributions.from_introspection(out)


def test_native_windows_after_2_10_has_no_gpu_and_points_to_wsl2():
    build = describe(dists(("tensorflow", "2.16.2")), WINDOWS, {})
    assert build.kind == "windows"
    finding = build_finding(build, "python")
    assert finding is not None and "native Windows" in finding.summary
    assert finding.name == "windows-native" and finding.category == "gpu" and finding.status.value == "warn"
    assert "WSL2" in finding.hint and "tensorflow[and-cuda]" in finding.hint


def test_windows_meta_package_resolves_to_the_intel_cpu_build():
    """TF 2.15 on Windows: ``tensorflow`` requires ``tensorflow-intel``, which provides the code."""
    build = describe(dists(("tensorflow", "2.15.1"), ("tensorflow-intel", "2.15.1")), WINDOWS, {})
    assert build.tensorflow == "tensorflow-intel"
    assert build.kind == "windows"
    assert build_finding(build, "python") is not None


def test_wsl2_uses_the_windows_driver_column():
    build = describe(
        dists(("tensorflow", "2.18.1")), LINUX_311, {}, release="5.15.153.1-microsoft-standard-WSL2"
    )
    assert build.wsl and build.kind == "cuda"
    smi = NvidiaSmi("ok", "/usr/lib/wsl/lib/nvidia-smi", "526.98", [{"name": "RTX", "memory": "8 GiB"}])
    finding = driver_finding(build, smi)  # Windows needs >= 527.41 for CUDA 12
    assert finding is not None and ">= 527.41" in finding.summary and finding.name == "driver-too-old"
    linux = describe(dists(("tensorflow", "2.18.1")), LINUX_311, {}, release="6.8.0-45-generic")
    assert not linux.wsl and driver_finding(linux, smi) is None  # 526.98 >= 525.60.13 on Linux


@pytest.mark.parametrize(
    ("tf", "metal", "problem", "fix"),
    [
        ("2.14.0", "1.1.0", False, ""),
        ("2.13.0", "1.0.0", False, ""),
        ("2.13.0", "1.1.0", True, "tensorflow-metal==1.0.*"),
        ("2.16.2", "1.1.0", True, "tensorflow==2.14.*"),
        ("2.18.1", "1.2.0", False, ""),  # not in Apple's table: reported, never guessed
    ],
)
def test_tensorflow_metal_pairing_follows_apples_table(tf, metal, problem, fix):
    build = describe(dists(("tensorflow-macos", tf), ("tensorflow-metal", metal)), MACOS, {})
    assert build.kind == "macos" and build.metal == metal
    finding = metal_finding(build, "python")
    assert (finding is not None) == problem
    if finding:
        assert f"tensorflow-metal {metal} is built for TensorFlow" in finding.summary and fix in finding.hint


def test_macos_without_metal_is_cpu_only():
    build = describe(dists(("tensorflow", "2.16.2")), MACOS, {})
    finding = build_finding(build, "python")
    assert build.kind == "macos" and finding is not None and "tensorflow-metal" in finding.hint
    assert finding.name == "macos-without-metal"


@pytest.mark.parametrize(
    ("driver", "major", "windows", "too_old"),
    [
        ("525.60.13", 12, False, None),
        ("525.60.12", 12, False, "525.60.13"),
        ("470.256.02", 12, False, "525.60.13"),
        ("470.256.02", 11, False, None),
        ("450.80.01", 11, False, "450.80.02"),
        ("452.39", 11, True, None),
        ("560.94", 12, True, None),
        ("not-a-version", 12, False, None),
        ("535.1", None, False, None),
    ],
)
def test_driver_minimum_per_cuda_major(driver, major, windows, too_old):
    assert driver_too_old(driver, major, windows) == too_old


def test_parse_query_reads_every_gpu_and_ignores_noise():
    out = (
        "535.104.05, NVIDIA A100-SXM4-40GB, 40960 MiB\nWARNING: something\n535.104.05, Tesla T4, 15360 MiB\n"
    )
    driver, gpus = parse_query(out)
    assert driver == "535.104.05"
    assert [g["name"] for g in gpus] == ["NVIDIA A100-SXM4-40GB", "Tesla T4"]
    assert parse_query("No devices were found\n") == (None, [])


def test_cpu_build_is_named_by_its_own_distribution_when_tensorflow_is_there_too():
    """tensorflow 2.20 and tensorflow-cpu 2.21 together (a matrix case): the CPU build is the one named."""
    build = describe(dists(("tensorflow", "2.20.0"), ("tensorflow-cpu", "2.21.0")), LINUX_311, {})
    assert build.kind == "cpu" and build.cpu_dist == "tensorflow-cpu"
    finding = build_finding(build, "python")
    assert finding is not None and finding.name == "cpu-only-build"
    assert finding.summary.startswith("tensorflow-cpu 2.21.0 is the CPU-only build")
    assert "pip uninstall -y tensorflow-cpu" in finding.hint
