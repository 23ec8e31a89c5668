"""Where Keras will read and write ``mnist.npz``: the exact path, and why.

Keras never tells the user that it moved its cache: when the configured folder is not
writable it silently uses a shared ``/tmp/.keras``. This module replays Keras' own rules
on the target's home, ``KERAS_HOME`` and the real file system, so the doctor names the
file Keras will actually open (and every other place a copy may be lying around).

Rules, read in the sources at these tags (checked for this module):

* **Keras 3** (keras-team/keras v3.0.0, v3.5.0, v3.11.3, v3.12.0, v3.15.1 — the last one
  also installed in the dev venv): ``keras/src/backend/config.py`` (``keras/backend/config.py``
  in 3.0) sets the Keras dir to ``$KERAS_HOME`` when the variable is *present* (even empty),
  else ``~/.keras`` — or ``/tmp/.keras`` if ``~`` is not writable — and creates that dir at
  import time when it can (errors swallowed). ``get_file`` (``keras/src/utils/file_utils.py``)
  then uses it unless ``os.access(base, os.W_OK)`` is false (also when it does not exist),
  falling back to ``/tmp/.keras``; from **3.12.0** the fallback is ``tempfile.gettempdir()/.keras``
  when ``/tmp`` is not a directory. Files go to ``<base>/datasets/``.
* **Keras 2** (keras-team/keras v2.12.0, v2.15.0 ``keras/utils/data_utils.py``; TensorFlow's
  older copy ``tensorflow/python/keras/utils/data_utils.py``) and **tf-keras** (keras-team/tf-keras
  v2.15.0, v2.21.0 ``tf_keras/utils/data_utils.py``): ``get_file`` always starts from
  ``~/.keras`` — ``KERAS_HOME`` is ignored there, although ``backend.py`` honours it for
  ``keras.json`` and creates *that* dir at import. Same ``os.access`` fallback to ``/tmp/.keras``.
  So with ``KERAS_HOME`` set and no ``~/.keras`` yet, Keras 2 ends up in ``/tmp/.keras``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import Version

from mnist_doctor.datasets.spec import DatasetSpec
from mnist_doctor.facts import fact
from mnist_doctor.facts.answers.introspection import Introspection
from mnist_doctor.facts.flavour import KerasFlavour
from mnist_doctor.files.env_paths import PathTrouble, examine
from mnist_doctor.files.safe_dir import SafeDir, UnsafeFolder

#: Keras 3 release from which the fallback uses ``tempfile.gettempdir()`` when ``/tmp`` is missing.
TEMPDIR_RULE_FROM = Version("3.12.0")
CACHE_SUBDIR = "datasets"


@dataclass(frozen=True)
class PathState:
    """What ``os.path`` / ``os.access`` say about one path (as the target's user)."""

    path: str
    exists: bool
    is_dir: bool
    is_link: bool = False
    writable: bool = False

    @classmethod
    def probe(cls, path: str) -> PathState:
        return cls(
            path=path,
            exists=os.path.exists(path),
            is_dir=os.path.isdir(path),
            is_link=os.path.islink(path),
            writable=bool(path) and os.access(path, os.W_OK),
        )


StateLookup = Callable[[str], PathState]


def state_lookup(introspected: list[dict[str, Any]] | None) -> StateLookup:
    """States reported by the target interpreter first, the doctor's own probe for other paths.

    The doctor runs as the same user on the same file system, so probing locally gives
    the same answer for paths the introspection script did not list (such as ``~``).
    """
    known: dict[str, PathState] = {}
    for row in introspected or []:
        if row.get("path"):
            known[os.path.normpath(row["path"])] = PathState(
                row["path"],
                bool(row.get("exists")),
                bool(row.get("is_dir")),
                bool(row.get("is_link")),
                bool(row.get("writable")),
            )

    def lookup(path: str) -> PathState:
        hit = known.get(os.path.normpath(path)) if path else None
        return hit or PathState.probe(path)

    return lookup


def creatable(path: str, lookup: StateLookup) -> bool:
    """Whether ``os.makedirs(path)`` would succeed: the nearest existing ancestor is a writable dir."""
    if not path:
        return False
    current = os.path.abspath(path)
    while True:
        state = lookup(current)
        if state.exists or state.is_link:
            return state.is_dir and state.writable and current != os.path.abspath(path)
        parent = os.path.dirname(current)
        if parent == current:
            return False
        current = parent


def usable_after_import(path: str, created_at_import: bool, lookup: StateLookup) -> bool:
    """``os.access(path, W_OK)`` as ``get_file`` will see it, after Keras' import made the dir."""
    state = lookup(path)
    if state.exists:
        return state.writable
    return created_at_import and creatable(path, lookup)


@dataclass(frozen=True)
class KerasCache:
    """The cache Keras will use. ``dataset_path`` is the exact file ``load_data`` reads."""

    rules: str  # "keras3" or "keras2" (Keras 2 and tf-keras share their get_file)
    flavour_label: str
    keras_dir: Path  # where keras.json lives
    configured: Path  # the base get_file starts from
    base: Path  # the base it really uses
    reason: str
    fallback: bool
    dataset_path: Path
    candidates: list[Path]
    keras_home: str | None
    keras_home_ignored: bool
    problems: list[str] = field(default_factory=list)
    source: str = ""
    home: str = ""
    #: What is wrong with ``KERAS_HOME`` and ``HOME`` as paths (too long, a link loop, behind a
    #: folder this user may not search, through a file, not UTF-8), found once, here.
    troubles: tuple[PathTrouble, ...] = ()
    #: The one of them that made Keras fall back, when one did.
    fallback_cause: PathTrouble | None = None

    def trouble(self, variable: str) -> PathTrouble | None:
        return next((t for t in self.troubles if t.variable == variable), None)

    @property
    def datasets_dir(self) -> Path:
        return self.dataset_path.parent

    @property
    def keras_json(self) -> Path:
        return self.keras_dir / "keras.json"

    def role(self, datasets_dir: Path) -> str:
        """Why a candidate folder is listed: read by Keras, or only a place a stray copy may sit."""
        if datasets_dir == self.datasets_dir:
            return "Keras reads this copy"
        return "not read by Keras here (another rule or fallback location)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules": self.rules,
            "flavour": self.flavour_label,
            "keras_dir": str(self.keras_dir),
            "configured": str(self.configured),
            "base": str(self.base),
            "reason": self.reason,
            "fallback": self.fallback,
            "dataset_path": str(self.dataset_path),
            "candidates": [str(p) for p in self.candidates],
            "keras_home": self.keras_home,
            "keras_home_ignored": self.keras_home_ignored,
            "problems": list(self.problems),
            "source": self.source,
            "home": self.home,
            "troubles": {t.variable: t.kind for t in self.troubles},
        }


def _expand(path: str, home: str) -> str:
    """``os.path.expanduser`` as the target process would do it (with its own home)."""
    if path == "~" or path.startswith("~/"):
        return home + path[1:]
    return path


def _under(path: Path | str, root: str) -> bool:
    normal = os.path.normpath(path)
    return normal == root or normal.startswith(root.rstrip("/") + "/")


def _fallback_root(rules: str, version: Version | None, lookup: StateLookup, tempdir: str) -> tuple[str, str]:
    if rules == "keras3" and (version is None or version >= TEMPDIR_RULE_FROM) and not lookup("/tmp").is_dir:
        return tempdir, f"/tmp is not a directory, so Keras ≥ {TEMPDIR_RULE_FROM} uses the temp dir {tempdir}"
    return "/tmp", ""


def predict_keras_cache(
    flavour: KerasFlavour | None,
    keras_paths: dict[str, Any],
    file_name: str = "mnist.npz",
    lookup: StateLookup | None = None,
) -> KerasCache:
    """Replay ``get_file``'s choice of folder for ``flavour`` (see the module docstring)."""
    lookup = lookup or state_lookup(keras_paths.get("states"))
    home = keras_paths.get("home") or os.path.expanduser("~")
    keras_home = keras_paths.get("keras_home")  # None: unset; "": set but empty
    tempdir = keras_paths.get("tempdir") or "/tmp"
    kind = flavour.kind if flavour else None
    rules = "keras2" if kind in ("keras2", "tf_keras") else "keras3"
    version = flavour.version if flavour and kind == "keras3" else None
    label = flavour.label if flavour and kind else "no Keras installed (Keras 3 rules assumed)"
    problems: list[str] = []
    home_keras = os.path.join(home, ".keras")
    home_fallback = False
    troubles = tuple(
        t
        for t in (
            examine("KERAS_HOME", _expand(keras_home, home)) if keras_home else None,
            examine("HOME", home),
        )
        if t is not None
    )
    broken = {t.variable: t for t in troubles if t.breaks}
    cause_trouble: PathTrouble | None = None

    if rules == "keras3":
        source = "keras/src/backend/config.py + keras/src/utils/file_utils.py:get_file"
        if keras_home is not None:
            keras_dir = keras_home
            why = f"KERAS_HOME={keras_home!r} is set"
        elif lookup(home).writable and "HOME" not in broken:
            keras_dir, why = home_keras, "KERAS_HOME is not set: ~/.keras"
        else:
            keras_dir = "/tmp/.keras"
            unusable = broken["HOME"].sentence if "HOME" in broken else f"the home {home} is not writable"
            why = f"KERAS_HOME is not set and {unusable}, so config.py picks /tmp/.keras"
            home_fallback = True
            cause_trouble = broken.get("HOME")
        configured = _expand(keras_dir, home)
        created = True  # config.py makes the Keras dir at import when it can
        ignored = False
    else:
        source = "keras/utils/data_utils.py:get_file (Keras 2) / tf_keras/utils/data_utils.py"
        keras_dir = keras_home if keras_home is not None else home_keras
        configured = home_keras
        why = "Keras 2 / tf-keras always start from ~/.keras"
        ignored = keras_home is not None and os.path.normpath(_expand(keras_home, home)) != os.path.normpath(
            home_keras
        )
        if ignored:
            why += f" (KERAS_HOME={keras_home!r} only moves keras.json)"
        # backend.py creates the keras.json dir at import: ~/.keras only when KERAS_HOME is unset.
        created = not ignored

    state = lookup(configured)
    # the variable the configured folder comes from, when that variable's path cannot be used
    # (Keras 3 without KERAS_HOME already left a broken HOME for /tmp/.keras in config.py, above)
    blamed = broken.get("HOME" if rules == "keras2" else "KERAS_HOME" if keras_home else "")
    if blamed is None and usable_after_import(configured, created, lookup):
        base, fallback = configured, home_fallback
        if not state.exists:
            why += "; Keras creates it on first import"
        if state.exists and not state.is_dir:
            problems.append(
                f"{configured} is a file, not a folder: get_file will fail with NotADirectoryError"
            )
    else:
        root, tmp_note = _fallback_root(rules, version, lookup, tempdir)
        base, fallback = os.path.join(root, ".keras"), True
        if blamed is not None:
            cause = blamed.sentence
            cause_trouble = blamed
        elif not configured:
            cause = "KERAS_HOME is empty"
        elif not state.exists:
            cause = f"{configured} does not exist and Keras will not create it"
        else:
            cause = f"{configured} is not writable (os.access W_OK is false)"
        why += f"; {cause}, so get_file silently falls back to {base}"
        if tmp_note:
            why += f" ({tmp_note})"
        if state.exists and not state.is_dir and configured:
            problems.append(f"{configured} is a file, not a folder")

    datasets = Path(base) / CACHE_SUBDIR
    others = [
        Path(_expand(keras_dir, home)) / CACHE_SUBDIR if keras_dir else None,
        Path(home_keras) / CACHE_SUBDIR,
        Path(_expand(keras_home, home)) / CACHE_SUBDIR if keras_home else None,
        Path("/tmp/.keras") / CACHE_SUBDIR,
        Path(tempdir) / ".keras" / CACHE_SUBDIR,
    ]
    # A folder under a path that cannot be used (too long, a loop, behind a closed folder) holds
    # no copy anyone reads, and none the doctor could search: not listed (the trouble is named).
    unreachable = [os.path.normpath(_expand(t.value, home)) for t in troubles if t.breaks]
    candidates: list[Path] = [datasets]
    for path in others:
        if path is None or any(_under(path, root) for root in unreachable):
            continue
        if os.path.normpath(path) not in {os.path.normpath(c) for c in candidates}:
            candidates.append(path)
    return KerasCache(
        rules=rules,
        flavour_label=label,
        keras_dir=Path(_expand(keras_dir, home) or "."),
        configured=Path(configured or "."),
        base=Path(base),
        reason=why,
        fallback=fallback,
        dataset_path=datasets / file_name,
        candidates=candidates,
        keras_home=keras_home,
        keras_home_ignored=ignored,
        problems=problems,
        source=source,
        home=home,
        troubles=troubles,
        fallback_cause=cause_trouble,
    )


@fact
def keras_cache(
    keras_flavour: KerasFlavour, introspection: Introspection, dataset: DatasetSpec
) -> KerasCache:
    """Where ``load_data`` will read ``mnist.npz`` in the target environment."""
    paths = dict(introspection.keras_paths)
    return predict_keras_cache(keras_flavour, paths, dataset.file_name)


@dataclass(frozen=True)
class CacheReach:
    """Where the folder Keras reads really is, and whether the doctor's actions may act in it.

    Keras follows a link without a word (``~/.keras/datasets -> /data/me/keras-datasets``), so
    the file it reads and writes is under ``real``; the actions follow the same link only by
    :mod:`mnist_doctor.files.own_link`'s rule, else ``refused`` says why and ``hint`` the way by hand.
    """

    folder: Path
    #: Where a link leads (Keras reads and writes there); None when no link is on the way.
    real: Path | None = None
    refused: str | None = None
    hint: str | None = None


def reach_of(folder: Path) -> CacheReach:
    """Open ``folder`` as the actions would (read-only: nothing is created) and say what happened."""
    try:
        with SafeDir.open(folder) as opened:
            return CacheReach(folder, opened.real if opened.through_link else None)
    except UnsafeFolder as exc:
        resolved = Path(os.path.realpath(folder))  # Keras' view of it: for the message only
        return CacheReach(
            folder, resolved if resolved != folder else None, f"{exc.path} {exc.reason}", exc.hint
        )
    except (OSError, ValueError):
        return CacheReach(folder)  # missing or unreadable: cache.permissions says which


@fact
def cache_reach(keras_cache: KerasCache) -> CacheReach:
    """How the folder Keras reads is reached: directly, through the user's own link, or refused."""
    return reach_of(keras_cache.datasets_dir)
