"""Build real Python environments whose installed-distribution metadata we choose.

Combinations that cannot be installed side by side (TF 2.16 with NumPy 2, two TF
distributions, Keras 3 on TF 2.15) are made as real ``*.dist-info`` folders with METADATA
inside a real virtual environment; the doctor examines it with ``--python``, exactly as
it would examine a user's environment. No package code is installed, so these
environments are for metadata verdicts (compat checks), not for the import probe.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Requires-Dist as declared by the real wheels (cp311, Linux), trimmed to what the checks read.
TF_REQUIRES = {
    "2.14.0": [
        "numpy>=1.23.5",
        "keras<2.15,>=2.14.0",
        "protobuf!=4.21.0,!=4.21.1,!=4.21.2,!=4.21.3,!=4.21.4,!=4.21.5,<5.0.0dev,>=3.20.3",
        "ml-dtypes==0.2.0",
    ],
    "2.15.0": [
        "numpy<2.0.0,>=1.23.5",
        "keras<2.16,>=2.15.0",
        "ml-dtypes~=0.2.0",
        'tensorflow-intel==2.15.0; platform_system == "Windows"',
    ],
    "2.16.1": [
        'numpy<2.0.0,>=1.23.5; python_version <= "3.11"',
        'numpy<2.0.0,>=1.26.0; python_version >= "3.12"',
        "keras>=3.0.0",
        "ml-dtypes~=0.3.1",
        "protobuf!=4.21.0,<5.0.0dev,>=3.20.3",
    ],
    "2.17.0": ['numpy<2.0.0,>=1.23.5; python_version <= "3.11"', "keras>=3.2.0", "ml-dtypes<0.5.0,>=0.3.1"],
    "2.18.0": ["numpy<2.1.0,>=1.26.0", "keras>=3.5.0", "ml-dtypes<0.5.0,>=0.4.0"],
    "2.21.0": ["numpy>=1.26.0", "keras>=3.12.0", "ml_dtypes<1.0.0,>=0.5.1"],
}


def make_venv(path: Path, python: str = sys.executable) -> Path:
    """A real, empty virtual environment (no pip: fast); returns its interpreter."""
    subprocess.run([python, "-m", "venv", "--without-pip", str(path)], check=True, capture_output=True)
    return path / "bin" / "python"


def site_packages(venv_python: Path) -> Path:
    out = subprocess.run(
        [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(out)


def add_dist(site: Path, name: str, version: str, requires: list[str] | None = None) -> Path:
    """Write ``<name>-<version>.dist-info/METADATA`` as pip would."""
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires or []]
    (folder / "METADATA").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "INSTALLER").write_text("pip\n", encoding="utf-8")
    return folder


def fake_environment(root: Path, packages: dict[str, str], python: str = sys.executable) -> Path:
    """A venv whose metadata lists ``packages`` ({name: version}); TF gets its real Requires-Dist."""
    venv_python = make_venv(root, python)
    site = site_packages(venv_python)
    for name, version in packages.items():
        requires = TF_REQUIRES.get(version) if name.startswith("tensorflow") else None
        add_dist(site, name, version, requires)
    return venv_python


def add_extension(site: Path, dist_info: Path, module: str, numpy_target: str | None) -> Path:
    """A stand-in compiled file for ``module``, listed in the distribution's ``RECORD``: the bytes
    NumPy's headers compile into an extension (NumPy 2 headers targeting ``numpy_target``, or
    NumPy 1 headers when it is None) — what ``target/numpy_builds.py`` reads. Not loadable."""
    folder = site / module
    folder.mkdir(parents=True, exist_ok=True)
    if numpy_target is None:
        text = b"module compiled against API version 0x%x but this version of numpy is 0x%x"
    else:
        text = (
            b"module was compiled against NumPy C-API version 0x%x (NumPy "
            + numpy_target.encode()
            + b") but the running NumPy has C-API version 0x%x."
        )
    name = "_ext_numpy_" + (numpy_target or "1").replace(".", "_") + ".so"
    path = folder / name
    path.write_bytes(b"\x7fELF" + b"\0" * 64 + text + b"\0" * 64)
    with (dist_info / "RECORD").open("a", encoding="utf-8") as record:
        record.write(f"{module}/{name},,\n")
    return path
