"""Notebook checks: which host runs the examined Python, and whether the kernel runs stale modules.

``notebook.host`` adapts the advice to the place: on Kaggle with "Internet" off the only
route is an attached dataset seeded into the cache; on Colab a ``pip install`` needs a
restarted runtime. ``notebook.stale_modules`` runs only inside a kernel (the Python API or
``%mnist_doctor``): a package upgraded after the kernel imported it keeps running the old
code until the kernel restarts, whatever ``pip list`` says.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from packaging.version import InvalidVersion, Version

from mnist_doctor.facts import Options
from mnist_doctor.facts.hosted import KAGGLE_INPUT, LoadedModule, NotebookHost, describe, kaggle_datasets
from mnist_doctor.facts.introspection import Distributions
from mnist_doctor.model import BaseCheck, CheckResult, Result, Status

#: The checks whose failure means "no route to the dataset host" for the Kaggle advice.
ROUTE_CHECKS = ("network.dns", "network.tcp", "network.connect", "network.tls", "network.http")
RESTART = {
    "colab": "Runtime → Restart session, then run your cells again",
    "kaggle": "Run → Restart & clear cell outputs (or the power icon), then run your cells again",
}


class HostCheck(BaseCheck):
    """Names the notebook host (Colab, Kaggle, SageMaker, Databricks, Jupyter) and its traps."""

    id = "notebook.host"
    title = "Notebook host"
    after = ROUTE_CHECKS

    def run(self, notebook_host: NotebookHost, results: dict[str, CheckResult], options: Options) -> Result:
        host = notebook_host
        data = describe(host)
        if not host.notebook:
            return Result.skip("not a notebook: run from a shell", data=data)
        evidence = f"{host.evidence} is set" if host.evidence and host.evidence.isupper() else host.evidence
        details = [f"detected from: {evidence}"] if evidence else []
        if host.kind == "kaggle":
            return self._kaggle(results, options, details, data)
        if host.kind == "colab":
            details.append("after `!pip install …` the runtime keeps the versions it already imported")
            return Result.ok(
                "Google Colab: restart the runtime after installing packages",
                details=details,
                hint=RESTART["colab"],
                data=data,
            )
        return Result.ok(f"running in {host.label}", details=details, data=data)

    @staticmethod
    def _kaggle(
        results: dict[str, CheckResult], options: Options, details: list[str], data: dict[str, Any]
    ) -> Result:
        attached = kaggle_datasets()
        data["attached_mnist"] = attached
        blocked = [i for i in ROUTE_CHECKS if i in results and results[i].status is Status.FAIL]
        seed = (
            f"!mnist-doctor --seed {shlex.quote(attached[0])}"
            if attached
            else "attach an MNIST dataset (Add Input), then "
            f"!mnist-doctor --seed {KAGGLE_INPUT}/<dataset>/mnist.npz"
        )
        details.append(
            "Keras ≥ 3.6 rejects load_data(path=...) with a folder: seed the file into the cache instead"
        )
        if attached:
            details += [f"attached: {path}" for path in attached]
        if blocked:
            return Result.warn(
                "Kaggle notebook with no route to the dataset host (Internet is off in its settings)",
                details=[f"failing: {', '.join(blocked)}", *details],
                hint=f"turn Internet on (Settings → Internet), or {seed}",
                data=data,
            )
        if options.offline:
            return Result.ok(
                "Kaggle notebook (--offline: the route was not tested)", details=details, hint=seed, data=data
            )
        return Result.ok("Kaggle notebook with a route to the dataset host", details=details, data=data)


def _same_release(loaded: str, installed: str) -> bool | None:
    """Whether two versions name the same release (``4.9.0`` vs ``4.9.0.80`` count as one); None: unknown."""
    try:
        a, b = Version(loaded), Version(installed)
    except InvalidVersion:
        return None
    n = min(len(a.release), len(b.release))
    return a.release[:n] == b.release[:n] and a.pre == b.pre and a.dev == b.dev


class StaleModulesCheck(BaseCheck):
    """Inside a kernel: the imported version of every package equals the installed one."""

    id = "notebook.stale_modules"
    title = "Modules the kernel already imported"

    def run(
        self,
        kernel_modules: list[LoadedModule] | None,
        distributions: Distributions,
        notebook_host: NotebookHost,
        options: Options,
    ) -> Result:
        if kernel_modules is None:
            return Result.skip("not run inside a kernel (use mnist_doctor.diagnose() or %mnist_doctor)")
        import sys

        if os.path.abspath(options.python) != os.path.abspath(sys.executable):
            return Result.skip(f"the kernel runs {sys.executable}, the examined Python is {options.python}")
        stale = []
        for module in kernel_modules:
            for dist_name in module.distributions:
                installed = distributions.get(dist_name)
                if installed is None or not installed.version_str:
                    continue
                if _same_release(module.version, installed.version_str) is False:
                    stale.append((module, dist_name, installed.version_str))
                break
        data = {"stale": [{"module": m.name, "loaded": m.version, "installed": v} for m, _d, v in stale]}
        if not stale:
            return Result.ok(f"{len(kernel_modules)} imported packages match what is installed", data=data)
        named = ", ".join(f"{m.name} {m.version} is loaded, {v} is installed" for m, _d, v in stale[:4])
        return Result.warn(
            f"restart the kernel: {named}",
            details=[f"{m.name}: loaded {m.version}, installed {d} {v}" for m, d, v in stale],
            hint=RESTART.get(
                notebook_host.kind, "restart the kernel (Kernel → Restart), then run your cells again"
            ),
            data=data,
        )


#: Where this family stands in the report (lower first; plugins without one come last).
REPORT_ORDER = 95

CHECKS = [HostCheck(), StaleModulesCheck()]
