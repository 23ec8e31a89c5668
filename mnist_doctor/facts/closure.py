"""The dependency closure of TensorFlow and Keras, and which of its requirements are unmet.

What ``pip check`` does, limited to what ``load_data()`` pulls in and read from metadata
alone: starting at the installed TensorFlow distributions, Keras and tf-keras (the *roots*),
every ``Requires-Dist`` whose marker holds for the **examined** interpreter is followed to
the distribution it names, and each one is compared with what is installed.

- Markers are evaluated with the target's own values (``marker_env``, from the
  introspection): every standard marker variable is given, so nothing of the doctor's own
  Python leaks in. When the introspection could not give them all, a requirement with a
  marker is not judged (it is listed as unreadable), never evaluated for the wrong Python.
- Extras are handled as pip handles them: the roots are taken without extras (as installed),
  and a requirement ``pkg[extra]`` adds ``pkg``'s requirements under ``extra == "extra"``
  (the name as written and normalised, PEP 685).
- Pre-releases count as versions (``prereleases=True``, as ``pip check`` compares).
- The walk visits each (distribution, extra) once: cycles end, and a closure of thousands of
  distributions costs one pass over their requirements.
- A requirement line, marker or installed version that cannot be read is listed, not guessed.

Nothing is imported here but the metadata the introspection already read. TensorFlow 2.21's
closure (32 packages, 43 requirements) takes 10-30 ms, mostly packaging parsing requirement
lines: lines that only serve an extra nobody asked for are skipped before parsing.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from mnist_doctor.compat.table import canonical
from mnist_doctor.facts import fact
from mnist_doctor.facts.introspection import Dist, Distributions

#: The Keras distributions that are roots beside TensorFlow's (``tf.keras`` resolves to one).
KERAS_ROOTS = ("keras", "tf-keras", "keras-nightly", "tf-keras-nightly")

#: PEP 508 marker variables: with all of them from the target, packaging fills in nothing of ours.
MARKER_VARIABLES = (
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_full_version",
    "platform_python_implementation",
    "python_version",
    "sys_platform",
)

#: How much of a requirement a finding quotes.
SHOWN_CHARS = 200

#: The distribution whose requirements compiled packages state as what they were built for
#: (``facts/numpy_builds.py`` reads what they really were built for).
NUMPY = "numpy"


def shown(text: str) -> str:
    """``text`` cut at :data:`SHOWN_CHARS` for a finding (a name or a version is as long as a
    hostile METADATA makes it)."""
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


@dataclass(frozen=True)
class Unmet:
    """One requirement of a distribution in the closure that the installed packages do not meet."""

    requirer: Dist
    requirement: Requirement
    #: The installed distribution it names; None: not installed.
    installed: Dist | None
    #: The roots' names on the way to the requirer, then the requirer (``tensorflow → ml-dtypes``).
    via: tuple[str, ...]
    #: Whether the requirer is a root (TensorFlow, Keras, tf-keras): what load_data() imports first.
    by_root: bool

    @property
    def name(self) -> str:
        """The required distribution's canonical name."""
        return canonical(self.requirement.name)

    @property
    def wanted(self) -> str:
        """The requirement without its marker (``numpy>=2.0.0``, ``rich[jupyter]``), as shown."""
        extras = f"[{','.join(sorted(self.requirement.extras))}]" if self.requirement.extras else ""
        return shown(f"{self.requirement.name}{extras}{self.requirement.specifier}")

    def line(self) -> str:
        """``ml_dtypes 0.6.0 requires numpy>=2.0.0, but numpy 1.26.4 is installed``."""
        who = shown(f"{self.requirer.name} {self.requirer.version_str}")
        if self.installed is None:
            return f"{who} requires {self.wanted}, which is not installed"
        have = shown(f"{self.installed.name} {self.installed.version_str}")
        return f"{who} requires {self.wanted}, but {have} is installed"

    def root_break(self) -> str | None:
        """Why a root's own requirement breaks its import, or None: TensorFlow and Keras import
        what they declare at import time, so a missing one, or one older than their minimum,
        fails (newer than a cap is a precaution more often than a break)."""
        if not self.by_root:
            return None
        if self.installed is None:
            return f"{self.requirer.name} imports what it declares"
        version = self.installed.version
        floor = below_minimum(self.requirement.specifier, version) if version is not None else None
        if floor is not None:
            who = self.requirer.name
            return f"older than {who}'s minimum ({floor}): it lacks what {who} calls"
        return None


@dataclass(frozen=True)
class Closure:
    """What the roots pull in, installed, with every requirement met or not."""

    roots: tuple[Dist, ...]
    #: Every installed distribution reached, roots first, in the order the walk met them.
    members: tuple[Dist, ...]
    #: Requirements compared with what is installed (markers held here).
    checked: int
    unmet: tuple[Unmet, ...]
    #: Requirement lines, markers or versions that could not be read: ``name version: what``.
    unreadable: tuple[str, ...] = ()
    #: Who requires each distribution (canonical name) with which requirement, markers held.
    required_by: dict[str, tuple[tuple[Dist, Requirement], ...]] = field(default_factory=dict)

    @property
    def root_keys(self) -> frozenset[str]:
        return frozenset(d.key for d in self.roots)

    def specs_on(self, name: str, *, roots_only: bool = False) -> list[SpecifierSet]:
        """The specifiers the closure (or only its roots) puts on ``name``."""
        return [
            req.specifier
            for dist, req in self.required_by.get(canonical(name), ())
            if not roots_only or dist.key in self.root_keys
        ]


def below_minimum(spec: SpecifierSet, version: Version) -> Specifier | None:
    """The lower bound of ``spec`` that ``version`` is below, or None."""
    for bound in spec:
        if bound.operator not in (">=", ">", "~=", "==", "===") or bound.version.endswith(".*"):
            continue
        try:
            floor = Version(bound.version)
        except InvalidVersion:
            continue
        if version < floor or (bound.operator == ">" and version == floor):
            return bound
    return None


def _candidates(specs: Iterable[SpecifierSet], extra: Iterable[Version] = ()) -> set[Version]:
    """Versions at and around every bound of ``specs``: where a set of intervals can be non-empty."""
    out = set(extra)
    for spec in specs:
        for one in spec:
            try:
                bound = Version(one.version.removesuffix(".*"))
            except InvalidVersion:
                continue
            release = bound.release
            bumped = (*release[:-1], release[-1] + 1) if release else (0,)
            out.update(
                {
                    bound,
                    Version(".".join(map(str, (*release, 0, 0)[:3]))),
                    Version(".".join(map(str, bumped))),
                    Version(f"{bound.major}.999999"),
                    Version(f"{bound.major + 1}.0"),
                }
            )
            if bound.major > 0:
                out.add(Version(f"{bound.major - 1}.999999"))
    return out


def admits(specs: list[SpecifierSet], *, major: int | None = None, extra: Iterable[Version] = ()) -> bool:
    """Whether some version (of ``major``, when given) satisfies every one of ``specs``.

    Decided on the versions at and around their bounds, which is exact for intervals (what
    ``>=``, ``<``, ``~=`` and ``==X.*`` describe) and good enough for ``!=`` holes.
    """
    near = set(extra)
    if major is not None:
        near |= {Version(f"{major}.0"), Version(f"{major}.999999")}
    for version in _candidates(specs, near):
        if major is not None and version.major != major:
            continue
        if all(spec.contains(version, prereleases=True) for spec in specs):
            return True
    return False


def module_names(dist_key: str) -> tuple[str, ...]:
    """The top-level module names a distribution most likely installs, for matching the module
    a traceback names: ``ml-dtypes`` → ``ml_dtypes``, ``absl-py`` → ``absl``, ``pyyaml`` → ``yaml``."""
    variants = (
        dist_key,
        dist_key.removesuffix("-py"),
        dist_key.removeprefix("py"),
        dist_key.removeprefix("python-"),
    )
    return tuple(dict.fromkeys(v.replace("-", "_") for v in variants if v))


def _applies(marker: Marker | None, env: dict[str, str], extras: tuple[str, ...]) -> bool | None:
    """The marker's verdict for the target with one of ``extras`` requested ("" = none);
    None when it cannot be evaluated there."""
    if marker is None:
        return True
    if any(name not in env for name in MARKER_VARIABLES):
        return None
    try:
        return any(marker.evaluate({**env, "extra": extra}) for extra in extras)
    except Exception:  # an undefined comparison in a hostile marker: not judged
        return None


def walk(distributions: Distributions, marker_env: dict[str, str], roots: list[Dist]) -> Closure:
    """The closure of ``roots`` in ``distributions`` and its unmet requirements (module docstring)."""
    env = {k: v for k, v in marker_env.items() if isinstance(k, str) and isinstance(v, str)}
    queue: deque[tuple[str, str]] = deque((root.key, "") for root in roots)
    seen: set[tuple[str, str]] = set()
    parent: dict[str, str] = {}
    members: dict[str, Dist] = {}
    required_by: dict[str, list[tuple[Dist, Requirement]]] = {}
    unmet: list[Unmet] = []
    unreadable: list[str] = []
    root_keys = {root.key for root in roots}
    checked = 0
    while queue:
        key, extra = queue.popleft()
        if (key, extra) in seen:
            continue
        seen.add((key, extra))
        dist = distributions.get(key)
        if dist is None:
            continue  # missing: its requirer already recorded it
        members.setdefault(key, dist)
        asked = ("",) if not extra else (extra,)
        for line in dist.requires:
            if _not_asked(line, extra):
                continue
            try:
                req = Requirement(line)
            except InvalidRequirement:
                if not extra:
                    unreadable.append(f"{dist.name} {dist.version_str}: requirement {line[:200]!r}")
                continue
            holds = _applies(req.marker, env, _spellings(asked))
            if holds is None:
                if not extra:
                    unreadable.append(f"{dist.name} {dist.version_str}: marker of {line[:200]!r}")
                continue
            # Under an extra, only what the extra adds (the base requirements were judged already).
            if not holds or (extra and (req.marker is None or _applies(req.marker, env, ("",)))):
                continue
            name = canonical(req.name)
            required_by.setdefault(name, []).append((dist, req))
            checked += 1
            installed = distributions.get(name)
            parent.setdefault(name, key)
            if installed is None or _misses(req, installed, unreadable):
                unmet.append(Unmet(dist, req, installed, _via(key, parent, root_keys), key in root_keys))
            queue.append((name, ""))
            queue.extend((name, canonical(e)) for e in sorted(req.extras))
    return Closure(
        tuple(roots),
        tuple(members.values()),
        checked,
        tuple(unmet),
        tuple(dict.fromkeys(unreadable)),
        {k: tuple(v) for k, v in required_by.items()},
    )


#: A marker that is only ``extra == "name"`` (most lines of a METADATA with extras).
_ONLY_EXTRA = re.compile(r";\s*extra\s*==\s*(['\"])([^'\"]*)\1\s*$")


def _not_asked(line: str, extra: str) -> bool:
    """Whether ``line`` certainly does not apply to this pass, told without parsing it (the
    parser costs about as much as everything else): a base requirement in an extra's pass, or a
    requirement of another extra than the one asked for. Anything else is parsed and evaluated."""
    if extra and ";" not in line:
        return True
    only = _ONLY_EXTRA.search(line)
    return only is not None and canonical(only.group(2)) != canonical(extra)


def _spellings(extras: tuple[str, ...]) -> tuple[str, ...]:
    """Each extra as written and normalised (PEP 685), as pip evaluates it."""
    out: list[str] = []
    for extra in extras:
        out.extend(dict.fromkeys((extra, canonical(extra), re.sub(r"[-_.]+", "_", extra).lower())))
    return tuple(out)


def _misses(req: Requirement, installed: Dist, unreadable: list[str]) -> bool:
    """The installed version is outside ``req``'s specifier (an unreadable version is listed, not judged)."""
    if not req.specifier:
        return False
    if installed.version is None:
        unreadable.append(f"{installed.name}: version {installed.version_str[:100]!r}")
        return False
    try:
        return not req.specifier.contains(installed.version, prereleases=True)
    except InvalidSpecifier:
        return False


def _via(key: str, parent: dict[str, str], roots: set[str]) -> tuple[str, ...]:
    chain = [key]
    while chain[-1] not in roots and chain[-1] in parent and parent[chain[-1]] not in chain:
        chain.append(parent[chain[-1]])
    return tuple(reversed(chain))


@dataclass(frozen=True)
class Move:
    """One install that meets an unmet requirement: what pip is asked for, and what it keeps."""

    #: ``(distribution, specifier)`` pairs for one ``pip install``.
    wants: tuple[tuple[str, str], ...]
    #: ``numpy 1.26.4``: pinned as installed (see :func:`plan_move`), else None.
    keeps: str | None = None
    #: The other direction, when it too keeps every requirement of the closure's roots.
    alternative: tuple[tuple[str, str], ...] = ()


#: Bounds of which only the tightest of each kind matters (``>=1.26.0,>=2.0.0`` is ``>=2.0.0``).
_LOWER, _UPPER = (">=", ">"), ("<", "<=")


def merged(specs: Iterable[SpecifierSet]) -> str:
    """One specifier string from several, each bound at its tightest and without repeats:
    ``>=1.19.3`` and ``>=2.0.0`` and ``<1.0.0,>=0.5.1`` give what pip would be asked for; "" for none."""
    kept: dict[str, Specifier] = {}
    rest: list[Specifier] = []
    for one in (s for spec in specs for s in spec):
        try:
            bound = Version(one.version)
        except InvalidVersion:
            rest.append(one)
            continue
        if one.operator in _LOWER + _UPPER:
            now = kept.get(one.operator)
            tighter = now is None or (
                bound > Version(now.version) if one.operator in _LOWER else bound < Version(now.version)
            )
            if tighter:
                kept[one.operator] = one
        else:
            rest.append(one)
    return str(SpecifierSet(",".join(str(s) for s in [*kept.values(), *rest])))


def plan_move(unmet: Unmet, closure: Closure) -> Move:
    """Which side of an unmet requirement to move, so that one install meets it.

    P requires D (``ml_dtypes 0.6.0`` requires ``numpy>=2.0.0``); D is installed at v
    (``numpy 1.26.4``). Either D moves into every range the closure puts on it (upgrade
    NumPy), or P moves to a version that accepts v (an ml_dtypes built for NumPy 1).

    D stays at v, and P moves, when the roots (TensorFlow, Keras) declare D and accept v,
    and moving D would either change its *major* version or leave a range another member of
    the closure puts on it. The roots' acceptance is what the compatibility table and the
    matrix prove (TF 2.21 with NumPy 1.26.4 is a supported pair); a new major of a package
    others are built against is the change that breaks the packages *outside* the closure
    (every extension compiled for NumPy 1 — the very error this finds, in reverse — and
    whatever pinned NumPy 1 on purpose); and a move out of TensorFlow's own range (TF 2.17
    declares ``numpy<2``) would trade this finding for ``compat.numpy``'s. The install asks for
    P within the ranges its own requirers give (TensorFlow's ``ml_dtypes<1.0.0,>=0.5.1``) and
    for D pinned at v, so the resolver picks the newest P that accepts v — or, if none
    exists, refuses and changes nothing. Upgrading D is offered as the alternative when it
    stays inside every range of the closure.

    Otherwise D moves: into the intersection of every range the closure puts on it (the roots'
    included, so TensorFlow's own requirement stays met), or installed with them when missing.
    """
    everyone = closure.specs_on(unmet.name) or [unmet.requirement.specifier]
    extras = f"[{','.join(sorted(unmet.requirement.extras))}]" if unmet.requirement.extras else ""
    installed = unmet.installed
    move_d = ((f"{installed.name if installed else unmet.requirement.name}{extras}", merged(everyone)),)
    version = installed.version if installed is not None else None
    if installed is None or version is None:
        return Move(move_d)
    own = closure.specs_on(unmet.name, roots_only=True)
    roots_accept = bool(own) and all(spec.contains(version, prereleases=True) for spec in own)
    fits = admits(everyone)
    new_major = not admits([unmet.requirement.specifier], major=version.major)
    if roots_accept and (new_major or not fits):
        requirer = unmet.requirer
        wants = ((requirer.name, merged(closure.specs_on(requirer.key))), (installed.name, f"=={version}"))
        return Move(wants, keeps=f"{installed.name} {version}", alternative=move_d if fits else ())
    return Move(move_d)


def closure_roots(distributions: Distributions) -> list[Dist]:
    """The installed TensorFlow distributions, Keras and tf-keras: what ``load_data()`` starts from."""
    keras = [d for name in KERAS_ROOTS if (d := distributions.get(name)) is not None]
    return distributions.tensorflow_dists() + keras


@fact
def dependency_closure(distributions: Distributions, marker_env: dict[str, str]) -> Closure:
    """TensorFlow's and Keras' dependency closure in the target, with its unmet requirements."""
    return walk(distributions, marker_env, closure_roots(distributions))
