"""A third-party plugin, built and installed as a real package, shows up like a built-in check."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "mnist-doctor-gpu-plugin"
version = "0.1.0"

[project.entry-points."mnist_doctor.checks"]
gpu = "mnist_doctor_gpu:CHECKS"
broken = "mnist_doctor_gpu_missing:CHECKS"

[project.entry-points."mnist_doctor.facts"]
gpu_plugin = "mnist_doctor_gpu.facts"

[tool.hatch.build.targets.wheel]
packages = ["mnist_doctor_gpu"]
"""

PLUGIN_CODE = '''\
from mnist_doctor.model import BaseCheck, Result
from mnist_doctor.text.hints import said


class GpuVisible(BaseCheck):
    """Report whether CUDA_VISIBLE_DEVICES hides every GPU."""

    id = "gpu.visible"
    family = "gpu"
    title = "GPU visibility"

    def run(self, target_env):
        if target_env.get("CUDA_VISIBLE_DEVICES") == "-1":
            hint = said("unset CUDA_VISIBLE_DEVICES")
            return Result.warn("CUDA_VISIBLE_DEVICES=-1 hides every GPU", hint=hint)
        return Result.ok("no GPU hidden by CUDA_VISIBLE_DEVICES")


class GpuCount(BaseCheck):
    """Uses a fact the plugin registers itself."""

    id = "gpu.count"
    family = "gpu"
    title = "GPUs listed"

    def run(self, listed_gpus):
        return Result.ok(f"{listed_gpus} GPU(s) listed in CUDA_VISIBLE_DEVICES")


class GpuTypo(BaseCheck):
    """Asks for a fact nobody provides (a typo): caught at discovery."""

    id = "gpu.typo"
    family = "gpu"
    title = "misspelt fact"

    def run(self, listed_gpu):
        return Result.ok("never runs")


CHECKS = [GpuVisible(), GpuCount(), GpuTypo()]
'''

PLUGIN_FACTS = """\
from mnist_doctor.facts import fact


@fact
def listed_gpus(target_env):
    value = target_env.get("CUDA_VISIBLE_DEVICES") or ""
    return len([d for d in value.split(",") if d.strip() and d.strip() != "-1"])
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("plugin-src")
    (src / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    pkg = src / "mnist_doctor_gpu"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(PLUGIN_CODE))
    (pkg / "facts.py").write_text(PLUGIN_FACTS)
    site = tmp_path_factory.mktemp("plugin-site")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 and "No module named 'hatchling'" in proc.stderr:
        pytest.skip("hatchling is needed to build the plugin (it is in the test extra)")
    assert proc.returncode == 0, proc.stderr
    return site


def test_plugin_check_is_listed_and_runs_in_the_report(doctor, plugin_site):
    env = {"PYTHONPATH": str(plugin_site), "CUDA_VISIBLE_DEVICES": "-1"}
    listed = doctor("--list-checks", "--format", "json", env_extra=env).json
    assert "gpu.visible" in {c["id"] for c in listed["checks"]}
    assert "broken" in [e["entry_point"] for e in listed["load_errors"]]
    run = doctor("--offline", "--format", "json", "--select", "gpu", env_extra=env)
    r = run.result("gpu.visible")
    assert r["status"] == "warn" and r["family"] == "gpu"
    assert r["hint"] == "unset CUDA_VISIBLE_DEVICES"
    # its typed command is the fix the diagnosis prints (no hint text is read for commands)
    assert r["advice"] == [{"command": "unset CUDA_VISIBLE_DEVICES", "comment": None}]
    fix = next(f for f in run.json["diagnosis"]["fixes"] if f["check"] == "gpu.visible")
    assert [c["command"] for c in fix["commands"]] == ["unset CUDA_VISIBLE_DEVICES"]


def test_plugin_that_fails_to_load_is_an_error_result_not_a_crash(doctor, plugin_site):
    run = doctor(
        "--offline", "--format", "json", "--ignore", "runtime", env_extra={"PYTHONPATH": str(plugin_site)}
    )
    broken = run.result("plugin.broken")
    assert broken["status"] == "error"
    assert "mnist_doctor_gpu_missing" in broken["summary"]
    assert run.code == 1


def test_plugin_facts_register_by_entry_point_and_unknown_facts_are_caught(doctor, plugin_site):
    env = {"PYTHONPATH": str(plugin_site), "CUDA_VISIBLE_DEVICES": "0,1"}
    listed = doctor("--list-checks", "--format", "json", env_extra=env).json
    ids = {c["id"] for c in listed["checks"]}
    assert "gpu.count" in ids and "gpu.typo" not in ids
    errors = {e["entry_point"]: e["error"] for e in listed["load_errors"]}
    assert errors["gpu.typo"] == "unknown fact 'listed_gpu' requested by check gpu.typo"
    run = doctor("--offline", "--format", "json", "--select", "gpu.count", env_extra=env)
    assert run.result("gpu.count")["summary"] == "2 GPU(s) listed in CUDA_VISIBLE_DEVICES"
