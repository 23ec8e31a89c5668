"""The NVIDIA driver, as ``nvidia-smi`` reports it, and the minimum driver each CUDA major needs.

``nvidia-smi`` ships with the driver, so "not found" means "no NVIDIA driver" on Linux and
Windows alike (in WSL2 it is the Windows driver, mapped in). It is run through
:func:`mnist_doctor.probing.subproc.run_argv` (own process group, killed as a group) with a small slice
of the run's budget: a hung driver is a finding, not a hung doctor.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field

from mnist_doctor.facts import Options, fact
from mnist_doctor.probing.budget import REPORT_RESERVE_S
from mnist_doctor.probing.subproc import run_argv

QUERY = ["--query-gpu=driver_version,name,memory.total", "--format=csv,noheader"]
#: Seconds nvidia-smi may take at most (it answers in well under a second on a healthy driver).
SMI_CAP_S = 5.0
#: At most this many GPUs are listed (a flood of output is not read further).
MAX_GPUS = 16

#: Minimum driver for each CUDA major under CUDA's minor version compatibility, from NVIDIA's
#: CUDA Toolkit release notes, table "CUDA Toolkit and Minimum Required Driver Version for CUDA
#: Minor Version Compatibility" (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/,
#: also https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html).
#: In WSL2, nvidia-smi reports the Windows driver, hence the Windows column.
MIN_DRIVER: dict[int, dict[str, str]] = {
    11: {"linux": "450.80.02", "windows": "452.39"},
    12: {"linux": "525.60.13", "windows": "527.41"},
}


def driver_tuple(text: str) -> tuple[int, ...] | None:
    """``"525.60.13"`` -> ``(525, 60, 13)``; ``None`` if it is not a driver version."""
    if not re.fullmatch(r"\d+(\.\d+){0,3}", text.strip()):
        return None
    return tuple(int(p) for p in text.strip().split("."))


def minimum_driver(cuda_major: int | None, windows_driver: bool) -> str | None:
    row = MIN_DRIVER.get(cuda_major or -1)
    return row["windows" if windows_driver else "linux"] if row else None


def driver_too_old(driver: str, cuda_major: int | None, windows_driver: bool) -> str | None:
    """The minimum driver if ``driver`` is older than what ``cuda_major`` needs, else ``None``."""
    need = minimum_driver(cuda_major, windows_driver)
    have, want = driver_tuple(driver), driver_tuple(need or "")
    if need is None or have is None or want is None:
        return None
    return need if have < want else None


@dataclass
class NvidiaSmi:
    """What ``nvidia-smi`` said."""

    #: ``absent`` (not on PATH), ``ok``, ``failed`` (ran, exit status not 0), ``timed_out``.
    state: str
    path: str | None = None
    driver: str | None = None
    gpus: list[dict[str, str]] = field(default_factory=list)
    message: str = ""
    elapsed_s: float = 0.0
    #: For ``timed_out``: the run's own budget (not nvidia-smi's cap) ended it.
    budget_limited: bool = False


def parse_query(stdout: str) -> tuple[str | None, list[dict[str, str]]]:
    """Driver version and GPUs from ``--query-gpu=driver_version,name,memory.total`` CSV lines."""
    gpus = []
    driver = None
    for line in stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or driver_tuple(parts[0]) is None:
            continue
        driver = driver or parts[0]
        gpus.append({"driver": parts[0], "name": ",".join(parts[1:-1])[:120], "memory": parts[-1][:40]})
        if len(gpus) >= MAX_GPUS:
            break
    return driver, gpus


def query(executable: str | None, timeout: float, budget_limited: bool = False) -> NvidiaSmi:
    """Run ``nvidia-smi`` (``executable``, found on PATH when ``None``) within ``timeout`` seconds."""
    path = executable or shutil.which("nvidia-smi")
    if not path:
        return NvidiaSmi("absent", message="nvidia-smi is not on PATH")
    run = run_argv([path, *QUERY], timeout=timeout)
    if run.launch_error:
        return NvidiaSmi("absent", path, message=run.launch_error[:300], elapsed_s=run.elapsed_s)
    if run.timed_out:
        return NvidiaSmi(
            "timed_out",
            path,
            message=f"no answer within {timeout:.1f}s (killed)",
            elapsed_s=run.elapsed_s,
            budget_limited=budget_limited,
        )
    text = (run.stdout.strip() or run.stderr.strip()).splitlines()
    first = (text[0] if text else f"exit status {run.returncode}")[:300]
    if run.returncode != 0:
        return NvidiaSmi("failed", path, message=first, elapsed_s=run.elapsed_s)
    driver, gpus = parse_query(run.stdout)
    if driver is None:
        return NvidiaSmi("failed", path, message=f"unexpected answer: {first}", elapsed_s=run.elapsed_s)
    return NvidiaSmi("ok", path, driver, gpus, elapsed_s=run.elapsed_s)


@fact
def nvidia_smi(options: Options) -> NvidiaSmi:
    """The NVIDIA driver and GPUs of this machine, from ``nvidia-smi`` (a slice of the run's budget)."""
    share = options.budget.slice(cap=SMI_CAP_S, reserve=REPORT_RESERVE_S)
    return query(None, share.seconds, share.limited_by_budget)
