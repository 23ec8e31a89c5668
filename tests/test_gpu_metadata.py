"""The ``gpu`` family from metadata and the driver alone: real venvs with real dist-info, real
fake ``nvidia-smi`` executables on PATH, the doctor run as a CLI subprocess (TensorFlow is not
imported: ``gpu.tensorflow`` is left out, it has its own tests)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.gpu_fixtures import all_pinned, fake_smi, gpu_env, path_with, smi_printing

METADATA_CHECKS = "gpu.build,gpu.cuda_wheels,gpu.visible_devices,gpu.driver"
OLD_DRIVER = "470.82.01, NVIDIA GeForce GTX 1080, 8192 MiB"
NEW_DRIVER = "535.104.05, NVIDIA A100-SXM4-40GB, 40960 MiB"


def gpu_results(doctor, python: Path, bindir: Path | None, *extra: str, env: dict[str, str] | None = None):
    run = doctor(
        "--python",
        str(python),
        "--offline",
        "--format",
        "json",
        "--select",
        METADATA_CHECKS,
        *extra,
        env_extra={"PATH": path_with(bindir), **(env or {})},
    )
    assert run.code in (0, 1), run.stderr
    return run, {r["id"]: r for r in run.json["results"]}


def test_no_driver_no_wheels_is_all_ok(doctor, tmp_path):
    """This machine's situation: CUDA-capable tensorflow, no driver, no CUDA wheels: no fail."""
    py = gpu_env(tmp_path / "venv", "2.18.1")
    run, r = gpu_results(doctor, py, None)
    assert run.code == 0
    assert {k: v["status"] for k, v in r.items()} == dict.fromkeys(METADATA_CHECKS.split(","), "ok")
    assert "no NVIDIA driver" in r["gpu.driver"]["summary"]
    assert r["gpu.driver"]["hint"] is None  # nothing to fix for a CPU user
    assert any("525.60.13" in d for d in r["gpu.driver"]["details"])
    assert "(CUDA 12.5, cuDNN 9.3)" in r["gpu.build"]["summary"]


def test_old_driver_with_cuda12_build_names_the_mismatch_and_fix(doctor, tmp_path):
    py = gpu_env(tmp_path / "venv", "2.18.1", wheels=all_pinned("2.18.1"))
    smi_printing(tmp_path / "bin", OLD_DRIVER)
    run, r = gpu_results(doctor, py, tmp_path / "bin")
    driver = r["gpu.driver"]
    assert driver["status"] == "warn" and run.code == 0
    assert "NVIDIA driver 470.82.01 is too old for CUDA 12.5" in driver["summary"]
    assert ">= 525.60.13" in driver["summary"]
    assert ">= 525.60.13" in driver["hint"] and "tensorflow[and-cuda]==2.14.1" in driver["hint"]
    assert r["gpu.cuda_wheels"]["status"] == "ok"
    # --expect-gpu: the same finding is a failure, and the exit code says so.
    run, r = gpu_results(doctor, py, tmp_path / "bin", "--expect-gpu")
    assert r["gpu.driver"]["status"] == "fail" and run.code == 1


def test_old_driver_is_enough_for_a_cuda11_build(doctor, tmp_path):
    """TF 2.14 pins CUDA 11.8 wheels: driver 470 (>= 450.80.02) is fine for it."""
    py = gpu_env(tmp_path / "venv", "2.14.1", wheels=all_pinned("2.14.1"))
    smi_printing(tmp_path / "bin", OLD_DRIVER)
    _, r = gpu_results(doctor, py, tmp_path / "bin")
    assert r["gpu.driver"]["status"] == "ok", r["gpu.driver"]
    assert "CUDA 11.8 needs >= 450.80.02" in r["gpu.driver"]["summary"]
    # tensorrt is in 2.14's extra but optional: its absence is no finding.
    assert r["gpu.cuda_wheels"]["status"] == "ok", r["gpu.cuda_wheels"]


def test_good_driver_and_pinned_wheels_pass(doctor, tmp_path):
    py = gpu_env(tmp_path / "venv", "2.21.0", wheels=all_pinned("2.21.0"))
    smi_printing(tmp_path / "bin", NEW_DRIVER, "535.104.05, NVIDIA A100-SXM4-40GB, 40960 MiB")
    run, r = gpu_results(doctor, py, tmp_path / "bin", "--expect-gpu")
    assert run.code == 0, r
    assert r["gpu.driver"]["summary"].startswith(
        "NVIDIA driver 535.104.05: NVIDIA A100-SXM4-40GB (40960 MiB), "
    )
    assert len(r["gpu.driver"]["data"]["gpus"]) == 2
    assert "all 12 CUDA wheels" in r["gpu.cuda_wheels"]["summary"]


def test_wrong_cudnn_wheel_is_named_with_both_fixes(doctor, tmp_path):
    wheels = {**all_pinned("2.18.1"), "nvidia-cudnn-cu12": "8.9.7.29"}
    py = gpu_env(tmp_path / "venv", "2.18.1", wheels=wheels)
    smi_printing(tmp_path / "bin", NEW_DRIVER)
    _, r = gpu_results(doctor, py, tmp_path / "bin")
    wheels_r = r["gpu.cuda_wheels"]
    assert wheels_r["status"] == "warn"
    assert (
        "nvidia-cudnn-cu12 8.9.7.29, but TensorFlow pins nvidia-cudnn-cu12==9.3.0.75" in wheels_r["summary"]
    )
    assert '"tensorflow[and-cuda]==2.18.1"' in wheels_r["hint"]
    # The fake venvs have no pip: the hint uses the target's installer (see test_hints_installers.py).
    assert "install" in wheels_r["hint"] and "nvidia-cudnn-cu12==9.3.0.75" in wheels_r["hint"]


def test_driver_present_but_no_cuda_wheels_warns(doctor, tmp_path):
    py = gpu_env(tmp_path / "venv", "2.18.1")
    smi_printing(tmp_path / "bin", NEW_DRIVER)
    _, r = gpu_results(doctor, py, tmp_path / "bin")
    assert r["gpu.cuda_wheels"]["status"] == "warn"
    assert "none of the 12 CUDA wheels tensorflow 2.18.1 pins" in r["gpu.cuda_wheels"]["summary"]


def test_cpu_build_with_a_gpu_present_warns(doctor, tmp_path):
    py = gpu_env(tmp_path / "venv", "2.21.0", dist="tensorflow-cpu")
    smi_printing(tmp_path / "bin", NEW_DRIVER)
    _, r = gpu_results(doctor, py, tmp_path / "bin")
    build = r["gpu.build"]
    assert build["status"] == "warn"
    assert "tensorflow-cpu 2.21.0 is the CPU-only build" in build["summary"]
    assert "uninstall" in build["hint"] and "tensorflow-cpu" in build["hint"]
    # tensorflow-cpu 2.21 declares [and-cuda] too, but it has no CUDA kernels: not judged.
    assert r["gpu.cuda_wheels"]["status"] == "skip"


def test_cpu_build_without_a_gpu_is_ok(doctor, tmp_path):
    py = gpu_env(tmp_path / "venv", "2.21.0", dist="tensorflow-cpu")
    run, r = gpu_results(doctor, py, None)
    assert r["gpu.build"]["status"] == "ok" and run.code == 0


@pytest.mark.parametrize(
    ("value", "with_gpu", "status"), [("-1", True, "warn"), ("", True, "warn"), ("-1", False, "ok")]
)
def test_cuda_visible_devices_hiding_every_gpu(doctor, tmp_path, value, with_gpu, status):
    py = gpu_env(tmp_path / "venv", "2.18.1", wheels=all_pinned("2.18.1"))
    if with_gpu:
        smi_printing(tmp_path / "bin", NEW_DRIVER)
    _, r = gpu_results(
        doctor, py, tmp_path / "bin" if with_gpu else None, env={"CUDA_VISIBLE_DEVICES": value}
    )
    vis = r["gpu.visible_devices"]
    assert vis["status"] == status
    assert f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU" in vis["summary"]
    assert vis["data"]["CUDA_VISIBLE_DEVICES"] == value


def test_cuda_visible_devices_listing_a_gpu_is_ok(doctor, tmp_path):
    py = gpu_env(tmp_path / "venv", "2.18.1", wheels=all_pinned("2.18.1"))
    smi_printing(tmp_path / "bin", NEW_DRIVER)
    _, r = gpu_results(doctor, py, tmp_path / "bin", env={"CUDA_VISIBLE_DEVICES": "0"})
    assert r["gpu.visible_devices"]["status"] == "ok"


def test_failing_nvidia_smi_is_named(doctor, tmp_path):
    py = gpu_env(tmp_path / "venv", "2.18.1", wheels=all_pinned("2.18.1"))
    fake_smi(
        tmp_path / "bin",
        'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."; exit 9',
    )
    _, r = gpu_results(doctor, py, tmp_path / "bin")
    driver = r["gpu.driver"]
    assert driver["status"] == "warn"
    assert "couldn't communicate with the NVIDIA driver" in driver["summary"]
    assert "reboot" in driver["hint"]


def test_hanging_nvidia_smi_is_killed_with_its_children(doctor, tmp_path):
    """A hung driver: nvidia-smi (and a child it started) are killed at the 5 s cap, as a group."""
    py = gpu_env(tmp_path / "venv", "2.18.1", wheels=all_pinned("2.18.1"))
    pidfile = tmp_path / "child.pid"
    fake_smi(tmp_path / "bin", f"sleep 300 &\necho $! > {pidfile}\nwait")
    start = time.monotonic()
    _, r = gpu_results(doctor, py, tmp_path / "bin")
    elapsed = time.monotonic() - start
    driver = r["gpu.driver"]
    assert driver["status"] == "warn", driver
    assert "did not answer" in driver["summary"]
    assert elapsed < 5 + 15, elapsed  # the cap plus the doctor's own start-up, with a wide margin
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_run_budget_cutting_nvidia_smi_short_is_not_held_against_the_driver(doctor, tmp_path):
    py = gpu_env(tmp_path / "venv", "2.18.1", wheels=all_pinned("2.18.1"))
    fake_smi(tmp_path / "bin", "exec sleep 300")
    start = time.monotonic()
    run, r = gpu_results(doctor, py, tmp_path / "bin", "--timeout", "2.5")
    assert time.monotonic() - start < 2.5 + 2 + 3  # promise 5 with a margin for machine noise
    driver = r["gpu.driver"]
    assert driver["status"] == "skip", driver
    assert "--timeout" in driver["summary"] and "not held against" in driver["summary"]
    assert r["gpu.build"]["status"] == "ok"
    assert run.code == 0


def test_unexecutable_nvidia_smi_counts_as_absent(doctor, tmp_path):
    py = gpu_env(tmp_path / "venv", "2.18.1")
    path = fake_smi(tmp_path / "bin", "exit 0")
    path.chmod(0o644)
    _, r = gpu_results(doctor, py, tmp_path / "bin")
    assert "no NVIDIA driver" in r["gpu.driver"]["summary"]
