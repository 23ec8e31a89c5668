"""Replay of real TensorFlow metadata (2.14–2.21, recorded by the matrix from the real wheels):
the CUDA the doctor derives from each wheel's own ``[and-cuda]`` pins must agree with the cited
table, every pin must be judged against real ``nvidia-*`` dist-info, and the driver minimum must
follow the CUDA major. The matrix itself does not run the ``gpu`` family (it selects compat/env
and runtime), so these replays stand in for matrix rows: same metadata, no 600 MB wheels."""

from __future__ import annotations

import pytest
from packaging.version import Version

from mnist_doctor.facts.gpu import TF_CUDA, describe
from mnist_doctor.facts.introspection import Distributions
from tests.gpu_fixtures import (
    all_pinned,
    and_cuda_lines,
    gpu_env,
    path_with,
    pinned_version,
    recorded_tensorflow,
)
from tests.test_gpu_metadata import OLD_DRIVER, smi_printing

#: Marker values of the recording environment (cp311, Linux x86_64: docs/compat-matrix.json).
LINUX_311 = {
    "platform_system": "Linux",
    "sys_platform": "linux",
    "platform_machine": "x86_64",
    "python_version": "3.11",
    "python_full_version": "3.11.7",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}

WITH_EXTRA = sorted(v for v, reqs in recorded_tensorflow().items() if and_cuda_lines(reqs))


def test_the_records_cover_2_14_to_2_21():
    minors = {".".join(v.split(".")[:2]) for v in WITH_EXTRA}
    assert minors == {f"2.{m}" for m in range(14, 22)}
    # 2.12 and 2.13 have no [and-cuda] extra: the table is their only witness.
    assert {"2.12.1", "2.13.1"} <= set(recorded_tensorflow()) - set(WITH_EXTRA)


def rows(version: str, wheels: dict[str, str]) -> Distributions:
    requires = recorded_tensorflow()[version]
    pins = {r.name: r for r in and_cuda_lines(requires)}
    out = [{"name": "tensorflow", "version": version, "requires": requires}]
    for name, wanted in wheels.items():
        out.append({"name": name, "version": pinned_version(pins[name]) if wanted == "pinned" else wanted})
    return Distributions.from_introspection(out)


@pytest.mark.parametrize("version", WITH_EXTRA)
def test_pins_and_table_agree_on_cuda_and_cudnn(version):
    build = describe(rows(version, all_pinned(version)), LINUX_311, {})
    minor = ".".join(version.split(".")[:2])
    assert build.kind == "cuda"
    assert "pins nvidia-cuda-runtime-cu" in build.cuda_source
    assert build.cuda == TF_CUDA[minor][0], (version, build.cuda)
    assert Version(build.cudnn or "0").major == Version(TF_CUDA[minor][1]).major, (version, build.cudnn)
    assert len(build.pins) == len(and_cuda_lines(recorded_tensorflow()[version]))
    assert {p.state for p in build.pins} <= {"ok", "optional"}


@pytest.mark.parametrize("version", WITH_EXTRA)
def test_each_wrong_pin_is_caught(version):
    pinned = all_pinned(version)
    for name in pinned:
        build = describe(rows(version, {**pinned, name: "1.0"}), LINUX_311, {})
        states = {p.name: p.state for p in build.pins}
        assert states[name] == "wrong", (version, name)
        assert list(states.values()).count("wrong") == 1


@pytest.mark.parametrize("version", ["2.12.1", "2.13.1"])
def test_releases_without_the_extra_fall_back_to_the_table(version):
    build = describe(rows(version, {}), LINUX_311, {})
    assert build.pins == [] and build.cuda == "11.8"
    assert "tested build configurations" in build.cuda_source


@pytest.mark.parametrize("version", WITH_EXTRA)
def test_driver_470_against_every_release(doctor, tmp_path, version):
    """Driver 470 serves CUDA 11 (TF 2.14) and is too old for CUDA 12 (TF 2.15 and later)."""
    py = gpu_env(tmp_path / "venv", version, wheels=all_pinned(version))
    smi_printing(tmp_path / "bin", OLD_DRIVER)
    run = doctor(
        "--python",
        str(py),
        "--offline",
        "--format",
        "json",
        "--select",
        "gpu.build,gpu.cuda_wheels,gpu.driver",
        env_extra={"PATH": path_with(tmp_path / "bin")},
    )
    assert run.code == 0, run.stderr
    r = {x["id"]: x for x in run.json["results"]}
    assert r["gpu.cuda_wheels"]["status"] == "ok", r["gpu.cuda_wheels"]
    if version.startswith("2.14"):
        assert r["gpu.driver"]["status"] == "ok"
    else:
        assert r["gpu.driver"]["status"] == "warn"
        assert "needs driver >= 525.60.13" in r["gpu.driver"]["summary"]
