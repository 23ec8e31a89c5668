"""Where the examined Python runs: Colab, Kaggle, SageMaker, Databricks, a Jupyter kernel, or a shell.

Hosted notebooks change what works: Kaggle's "Internet off" switch blocks every download
(the way out is an attached dataset and ``--seed``), Colab keeps the modules a cell already
imported until the runtime restarts, and a kernel is often another interpreter than the
shell's. Detection reads the target's environment variables (each host sets its own), and,
when the doctor runs *inside* the kernel (the Python API or ``%mnist_doctor``), what that
kernel has already imported. Nothing here imports TensorFlow or anything heavy.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from mnist_doctor.facts import Options, fact

#: Environment variables that identify a host, in the order they are tried (first match wins).
HOST_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("colab", ("COLAB_RELEASE_TAG", "COLAB_GPU", "COLAB_BACKEND_VERSION")),
    ("kaggle", ("KAGGLE_KERNEL_RUN_TYPE", "KAGGLE_URL_BASE", "KAGGLE_DOCKER_IMAGE")),
    ("databricks", ("DATABRICKS_RUNTIME_VERSION",)),
    ("sagemaker", ("SAGEMAKER_INTERNAL_IMAGE_URI", "SAGEMAKER_APP_TYPE", "SAGEMAKER_SPACE_NAME")),
    ("jupyter", ("JPY_PARENT_PID", "JPY_SESSION_NAME")),
)
#: Every variable above, for the target's introspection to report.
HOST_VARIABLES = tuple(name for _, names in HOST_MARKERS for name in names)
LABELS = {
    "colab": "Google Colab",
    "kaggle": "a Kaggle notebook",
    "databricks": "Databricks",
    "sagemaker": "Amazon SageMaker",
    "jupyter": "a Jupyter kernel",
    "shell": "a shell",
}
#: Where Kaggle mounts attached datasets.
KAGGLE_INPUT = "/kaggle/input"


@dataclass(frozen=True)
class NotebookHost:
    """The host (``colab``, ``kaggle``, …, ``shell``), the variable that told, and in-kernel facts."""

    kind: str
    evidence: str | None = None
    #: True when the doctor itself runs inside the examined kernel (API or magic).
    in_kernel: bool = False

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)

    @property
    def notebook(self) -> bool:
        return self.kind != "shell" or self.in_kernel


def detect_host(env: dict[str, str], in_kernel: bool = False) -> NotebookHost:
    """The first host whose marker variable is set (non-empty) in ``env``."""
    for kind, names in HOST_MARKERS:
        for name in names:
            if env.get(name):
                return NotebookHost(kind, name, in_kernel)
    return NotebookHost(
        "jupyter" if in_kernel else "shell", "running inside the kernel" if in_kernel else None, in_kernel
    )


def running_in_kernel() -> bool:
    """Whether this very process is an IPython kernel (the doctor was called from a cell)."""
    shell_module = sys.modules.get("IPython")
    if shell_module is None or "ipykernel" not in sys.modules:
        return False
    get = getattr(shell_module, "get_ipython", None)
    shell = get() if callable(get) else None
    return shell is not None and getattr(shell, "kernel", None) is not None


@dataclass(frozen=True)
class LoadedModule:
    """A module already imported by the kernel, the version it reports and its distributions."""

    name: str
    version: str
    distributions: tuple[str, ...] = field(default=())


def loaded_modules() -> list[LoadedModule]:
    """Top-level modules of this process that report a ``__version__`` and belong to a distribution.

    Read from ``sys.modules`` only: nothing is imported, so a broken package stays unloaded.
    """
    from importlib import metadata

    owners = metadata.packages_distributions()
    found = []
    for name, module in list(sys.modules.items()):
        if "." in name or module is None or name not in owners:
            continue
        version = getattr(module, "__version__", None)
        if isinstance(version, str) and version:
            found.append(LoadedModule(name, version, tuple(owners[name])))
    return sorted(found, key=lambda m: m.name)


def kaggle_datasets(limit: int = 20, root: str = KAGGLE_INPUT) -> list[str]:
    """``mnist.npz`` files attached to a Kaggle notebook (two levels deep, bounded)."""
    found: list[str] = []
    try:
        with os.scandir(root) as datasets:
            for dataset in datasets:
                if len(found) >= limit or not dataset.is_dir(follow_symlinks=False):
                    continue
                for dirpath, dirnames, filenames in os.walk(dataset.path):
                    if dirpath.count(os.sep) - root.count(os.sep) >= 3:
                        dirnames[:] = []
                    found += [os.path.join(dirpath, f) for f in filenames if f == "mnist.npz"]
                    if len(found) >= limit:
                        break
    except OSError:
        return found
    return found[:limit]


@fact
def notebook_host(target_env: dict[str, str], options: Options) -> NotebookHost:
    """Where the examined Python runs (read from the target's environment variables)."""
    in_kernel = bool(options.in_kernel)
    return detect_host(dict(target_env), in_kernel=in_kernel)


@fact
def kernel_modules(options: Options) -> list[LoadedModule] | None:
    """Modules the kernel has imported, when the doctor runs inside it; ``None`` otherwise."""
    if not options.in_kernel:
        return None
    return loaded_modules()


def describe(host: NotebookHost) -> dict[str, Any]:
    return {"kind": host.kind, "label": host.label, "evidence": host.evidence, "in_kernel": host.in_kernel}
