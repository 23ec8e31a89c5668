"""Facts about the target environment, read from the introspection script's JSON.

One subprocess (``target/introspect.py`` run by the target interpreter) answers for
distributions, versions, ``sys.path``, shadowing files, environment variables, the
proxies urllib will use and the ``ssl`` defaults. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from mnist_doctor.causes.network import NO_SSL_SKIP, missing_ssl
from mnist_doctor.compat.table import canonical
from mnist_doctor.datasets.spec import DatasetSpec
from mnist_doctor.facts import BudgetExhausted, FactError, FactUnavailable, Options, fact
from mnist_doctor.facts.answers.introspection import Introspection, WrongShape
from mnist_doctor.probing.handshake import HELLO_TIMEOUT_S, Hello, NotPython, greet
from mnist_doctor.probing.subproc import VerifiedPython, run_script
from mnist_doctor.text.hints import Installer, installer_for, remember

#: Distributions that provide the ``tensorflow`` import package. Two of them in one
#: environment overwrite each other's files (unless one is a meta-package of the other).
TF_PROVIDERS = (
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-gpu",
    "tensorflow-macos",
    "tensorflow-intel",
    "tensorflow-aarch64",
    "tensorflow-cpu-aws",
    "tensorflow-rocm",
    "intel-tensorflow",
    "tf-nightly",
    "tf-nightly-cpu",
    "tf-nightly-gpu",
    "tf-nightly-macos",
    "tf-nightly-intel",
)

#: The introspection's own cap: a healthy interpreter answers in well under a second.
INTROSPECT_TIMEOUT_S = 30.0


def parse_version(text: str | None) -> Version | None:
    if not text:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


@dataclass(frozen=True)
class Dist:
    """One installed distribution as the target interpreter sees it."""

    name: str
    version_str: str
    location: str | None = None
    requires: tuple[str, ...] = ()
    #: ``Root-Is-Purelib`` of its wheel: False when it ships compiled code; None when unknown.
    purelib: bool | None = None

    @property
    def key(self) -> str:
        return canonical(self.name)

    @property
    def version(self) -> Version | None:
        return parse_version(self.version_str)

    def requirements(self) -> list[Requirement]:
        out = []
        for line in self.requires:
            try:
                out.append(Requirement(line))
            except InvalidRequirement:
                continue
        return out


@dataclass
class Distributions:
    """Installed distributions by normalised name (a list: the same name can appear twice)."""

    by_key: dict[str, list[Dist]] = field(default_factory=dict)

    @classmethod
    def from_introspection(cls, rows: Sequence[Mapping[str, Any]]) -> Distributions:
        out: dict[str, list[Dist]] = {}
        for row in rows or []:
            if not row.get("name"):
                continue
            requires = row.get("requires")
            purelib = row.get("purelib")
            dist = Dist(
                row["name"],
                row.get("version") or "",
                row.get("location"),
                tuple(r for r in requires if isinstance(r, str)) if isinstance(requires, list) else (),
                purelib if isinstance(purelib, bool) else None,
            )
            out.setdefault(dist.key, []).append(dist)
        return cls(out)

    def get(self, name: str) -> Dist | None:
        found = self.by_key.get(canonical(name))
        return found[0] if found else None

    def version(self, name: str) -> Version | None:
        dist = self.get(name)
        return dist.version if dist else None

    def tensorflow_dists(self) -> list[Dist]:
        return [d for key in TF_PROVIDERS for d in self.by_key.get(key, [])]

    def tensorflow(self) -> Dist | None:
        """The TF distribution that matters: the one the others do not merely depend on."""
        dists = self.tensorflow_dists()
        if not dists:
            return None
        providers = conflicting_tensorflow(dists)
        return (providers or dists)[0]


def conflicting_tensorflow(dists: list[Dist]) -> list[Dist]:
    """TF distributions that really provide the ``tensorflow`` package.

    ``tensorflow`` on Windows (2.12–2.15) is a meta-package requiring ``tensorflow-intel``,
    and on Apple silicon one requiring ``tensorflow-macos``: a distribution that requires
    another *installed* provider is such a meta-package, not a second copy.
    """
    installed = {d.key for d in dists}

    def is_meta(dist: Dist) -> bool:
        return any(
            canonical(req.name) in installed and canonical(req.name) != dist.key
            for req in dist.requirements()
        )

    return [d for d in dists if not is_meta(d)]


@fact
def target_python(options: Options) -> VerifiedPython:
    """The interpreter under examination (``--python``), once it answered the handshake.

    Every probe takes its interpreter from here, so nothing runs in ``--python`` with arguments
    before it proved to be a Python (:mod:`mnist_doctor.probing.handshake`); a program that did not is
    a :class:`FactError` (a usage error for the CLI), a handshake cut by ``--timeout`` a
    :class:`BudgetExhausted`.
    """
    return verified(greet(options.python, options.budget.slice(cap=HELLO_TIMEOUT_S)))


def verified(found: Hello | NotPython) -> VerifiedPython:
    """The handshake's answer as the fact ``target_python`` gives it (a run that started the handshake
    early, ``pipeline.run.new_facts``, reads its :class:`~mnist_doctor.probing.handshake.Greeting` here)."""
    if isinstance(found, NotPython):
        if found.cut_by_budget:
            raise BudgetExhausted(found.reason)
        raise FactError(found.reason)
    return found.python


@fact
def introspection(target_python: VerifiedPython, dataset: DatasetSpec, options: Options) -> Introspection:
    """What ``target/introspect.py`` answered in the target interpreter, read by shape.

    An answer of another shape than the script's is a :class:`FactError` naming the first value
    that departs (:mod:`mnist_doctor.facts.answers.introspection`): a usage error for the CLI, never
    a traceback.
    """
    run = run_script(
        target_python,
        "introspect.py",
        [dataset.origin],
        timeout=options.budget.slice(cap=INTROSPECT_TIMEOUT_S),
    )
    if run.answer is None:
        if run.cut_by_budget:
            raise BudgetExhausted(
                f"--timeout {options.timeout:g}s ran out after {run.elapsed_s:.1f}s, "
                f"before {target_python} answered"
            )
        reason = run.launch_error or (
            f"no answer within {run.timeout_s:.0f}s"
            if run.timed_out
            else (run.stderr.strip().splitlines() or ["no answer"])[-1]
        )
        raise FactError(f"could not introspect {target_python}: {reason}")
    try:
        found = Introspection.parse(run.answer)
    except WrongShape as exc:
        raise FactError(f"its introspection answer has another shape: {exc}") from None
    # Known before any check spells a hint: every pip_install(target, ...) then fits the target.
    remember(_installer_from(target_python, found))
    return found


def _installer_from(target_python: str, answer: Introspection) -> Installer:
    return installer_for(target_python, answer.installers.get("pip"))


@fact
def installer(target_python: str, introspection: Introspection) -> Installer:
    """How to install into the target: pip, or uv / ensurepip when it has no pip."""
    return remember(_installer_from(target_python, introspection))


def isolated_tool_env(prefix: str | None = None) -> str | None:
    """``pipx`` or ``uv tool`` when ``prefix`` (default: the doctor's own) is such a tool's private venv.

    Such a venv holds the doctor and nothing of the user's project: installing TensorFlow
    there would "fix" the doctor, not the project.
    """
    prefix = os.path.abspath(prefix or sys.prefix)
    parts = prefix.replace("\\", "/").lower()
    if "/pipx/venvs/" in parts + "/" or os.path.exists(os.path.join(prefix, "pipx_metadata.json")):
        return "pipx"
    if "/uv/tools/" in parts + "/" or os.path.exists(os.path.join(prefix, "uv-receipt.toml")):
        return "uv tool"
    return None


@fact
def doctor_isolation(target_python: str) -> str | None:
    """The tool that made the doctor's own venv, when the patient *is* that venv (no ``--python``)."""
    from mnist_doctor.text.hints import same_file

    if not (same_file(target_python, sys.executable) or _same_prefix(target_python)):
        return None
    return isolated_tool_env()


def _same_prefix(target_python: str) -> bool:
    """``--python`` named the doctor's own venv by another path (bin/python3 vs bin/python)."""
    here = os.path.dirname(os.path.abspath(sys.executable))
    return os.path.dirname(os.path.abspath(target_python)) == here


@fact
def distributions(introspection: Introspection) -> Distributions:
    """Installed distributions in the target environment (importlib.metadata, there)."""
    return Distributions.from_introspection(list(introspection.distributions))


@fact
def target_env(introspection: Introspection) -> dict[str, str]:
    """The target's environment variables that matter (proxies, TLS, Keras, TF)."""
    return dict(introspection.env)


@fact
def python_version(introspection: Introspection) -> Version:
    """The target interpreter's version."""
    if introspection.version is None:
        raise FactError(f"the interpreter did not report its version ({introspection.errors.get('python')})")
    return Version(".".join(str(p) for p in introspection.version))


@fact
def ssl_module(introspection: Introspection) -> str:
    """The target's OpenSSL version; :class:`FactUnavailable` when it has no ssl module, so every
    check that goes through TLS is skipped with that one reason (``tls.verify_paths`` names it)."""
    info = introspection.ssl
    if missing_ssl(info.error):
        raise FactUnavailable(NO_SSL_SKIP)
    return info.openssl_version or ""


@fact
def marker_env(introspection: Introspection) -> dict[str, str]:
    """PEP 508 marker values of the target interpreter (to evaluate ``Requires-Dist``)."""
    return dict(introspection.markers)


def env_lookup(env: dict[str, str], name: str) -> str | None:
    """Case-sensitive lookup first, then case-insensitive (Windows environments)."""
    if name in env:
        return env[name]
    lowered = name.lower()
    for key, value in env.items():
        if key.lower() == lowered:
            return value
    return None
