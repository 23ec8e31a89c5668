"""Checks of the Keras cache: where it is, whether Keras can write there, and what lies in it.

The folder is predicted by :mod:`mnist_doctor.facts.cache` (Keras' own rules); the file
verdicts come from :mod:`mnist_doctor.datasets.verification`. Everything here touches only the file
system, so it runs in the doctor's process, as the same user Keras runs as.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from mnist_doctor.causes import cache as cache_verdicts
from mnist_doctor.datasets import layout as cache_layout
from mnist_doctor.datasets import verification
from mnist_doctor.datasets.spec import DatasetSpec
from mnist_doctor.datasets.table import Dataset
from mnist_doctor.facts.cache import CacheReach, KerasCache
from mnist_doctor.facts.flavour import KerasFlavour
from mnist_doctor.files.env_paths import PathTrouble, examine
from mnist_doctor.files.open_writers import writers_of
from mnist_doctor.files.safe_dir import SafeDir, UnsafeFolder
from mnist_doctor.model import CheckResult, Hint, Result, Status, function_check, worst
from mnist_doctor.text.hints import clear_cache_fix, doctor_command, otherwise, said

#: Keep this much room beyond the file itself (Keras writes the whole file before checking it).
SPACE_MARGIN = 1 << 20


def _q(path: str | os.PathLike[str]) -> str:
    return shlex.quote(str(path))


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def _nearest_existing(path: Path) -> Path:
    current = path
    while not os.path.exists(current) and current.parent != current:
        current = current.parent
    return current


def read_only_volume(path: Path) -> Path | None:
    """The nearest existing folder of ``path`` when it lies on a read-only file system, else None.

    Why: on a volume mounted read-only (a container's image layer, a read-only NFS export, a
    locked-down home) every write fails with EROFS, root's too, and no chmod or chown changes
    that: the only cure the user has is another folder for Keras.
    """
    try:
        existing = _nearest_existing(path)
        flags = os.statvfs(existing).f_flag
    except (OSError, ValueError):
        return None
    return existing if flags & getattr(os, "ST_RDONLY", 1) else None


def writable_keras_home(cache: KerasCache) -> str:
    """``export KERAS_HOME=…`` naming a folder Keras 3 can use instead, checked without writing.

    The XDG cache folder (``$XDG_CACHE_HOME/keras``, else ``~/.cache/keras``) when it, or the
    folder it would be made in, is writable and not on a read-only volume; otherwise a
    placeholder, since only the user knows which disk they may write to.
    """
    xdg = os.environ.get("XDG_CACHE_HOME")
    if examine("XDG_CACHE_HOME", xdg) is not None:
        xdg = None  # a folder no command could name, or none at all: not suggested (env.paths says why)
    base = xdg or os.path.join(cache.home or os.path.expanduser("~"), ".cache")
    candidate = Path(base) / "keras"
    existing = _nearest_existing(candidate)
    usable = (
        examine("KERAS_HOME", str(candidate)) is None  # what it is suggested for
        and os.path.isdir(existing)
        and os.access(existing, os.W_OK | os.X_OK)
        and not read_only_volume(candidate)
    )
    if usable:
        return f"export KERAS_HOME={_q(candidate)}"
    return "export KERAS_HOME=/a/writable/folder   # any folder you can write to, on a writable disk"


def _read_only_hint(cache: KerasCache, volume: Path) -> str:
    """A read-only volume: another folder, never chmod (Keras 2 has no variable for the datasets)."""
    if cache.rules == "keras3":
        return said(writable_keras_home(cache), f"{volume} is on a read-only file system")
    return (
        f"{volume} is on a read-only file system and {cache.flavour_label} always caches datasets "
        "under ~/.keras: have it mounted writable, or pass a writable cache_dir= to get_file"
    )


def _reads(loader: Dataset, cache: KerasCache, flavour: KerasFlavour | None) -> str:
    """Where this Keras line reads ``loader``'s files (an archive: its name and extracted folder)."""
    root = cache.base / loader.cache_subdir
    if loader.archive is None:
        return f"{root}/ (" + ", ".join(f.name for f in loader.files) + ")"
    kind = flavour.kind if flavour else None
    layout = loader.archive.layout(
        kind, cache_layout.line_version(kind, flavour.version if flavour else None)
    )
    return f"{root / layout.archive} extracted to {root / layout.members_dir}/"


@function_check("cache.location", "Keras cache location", explained_by=("cache.keras_home",))
def location(
    keras_cache: KerasCache,
    datasets: tuple[Dataset, ...] = (),
    keras_flavour: KerasFlavour | None = None,
    cache_reach: CacheReach | None = None,
) -> Result:
    """Names the exact ``mnist.npz`` path Keras will read and why; warns about a silent fallback.

    With other loaders selected, one detail line each names where this Keras line reads them.
    A cache folder that is a link is named with where it leads (Keras reads and writes there),
    and whether the doctor's actions act there too.
    """
    cache = keras_cache
    details = [
        f"Keras in use: {cache.flavour_label} ({cache.rules} rules, {cache.source})",
        f"why: {cache.reason}",
        f"dataset file: {cache.dataset_path}",
        f"keras.json: {cache.keras_json}",
        *_reach_details(cache, cache_reach),
    ]
    details += [
        f"{loader.name}: {where}"
        for loader in datasets
        if not loader.is_default
        for where in [_reads(loader, cache, keras_flavour)]
    ]
    data = cache.to_dict()
    if cache.problems:
        return Result.fail(
            f"Keras cannot use its cache folder: {cache.problems[0]}",
            details=details + cache.problems[1:],
            hint=said(f"mv {_q(cache.configured)} {_q(str(cache.configured) + '.bak')}"),
            data=data,
        )
    volume = read_only_volume(cache.configured) if cache.fallback else None
    if cache.fallback and volume is not None:
        return Result.warn(
            f"Keras silently falls back to {cache.base}: {volume} is on a read-only file system",
            details=[
                *details,
                f"{cache.base} is shared with every user of this machine and usually wiped at reboot",
            ],
            hint=_read_only_hint(cache, volume),
            data=data,
        )
    if cache.fallback and cache.fallback_cause is not None:  # a variable whose path cannot be used
        cause = cache.fallback_cause
        return Result.warn(
            f"Keras silently falls back to {cache.base} because {cause.sentence}",
            details=[
                *details,
                f"{cache.base} is shared with every user of this machine and usually wiped at reboot",
            ],
            hint=said(cause.fix(), _after_fix(cause)),
            data=data,
        )
    if cache.fallback:
        if cache.configured == cache.base:  # Keras 3 chose /tmp/.keras because the home is not writable
            hint = said("export KERAS_HOME=/a/writable/folder", "your home is not writable")
        else:
            user_dir = cache.configured
            hint = said(f"mkdir -p {_q(user_dir)} && chmod u+rwx {_q(user_dir)}")
            if cache.rules == "keras3":
                hint += otherwise("or", "export KERAS_HOME=/a/writable/folder")
        return Result.warn(
            f"Keras silently falls back to {cache.base}: it reads {cache.dataset_path}",
            details=[
                *details,
                f"{cache.base} is shared with every user of this machine and usually wiped at reboot",
            ],
            hint=hint,
            data=data,
        )
    if cache.keras_home_ignored:
        return Result.warn(
            f"KERAS_HOME={cache.keras_home} is ignored by {cache.flavour_label}: reads {cache.dataset_path}",
            details=[
                *details,
                "Keras 2 and tf-keras read keras.json from KERAS_HOME but cache datasets under ~/.keras",
            ],
            hint=said("mnist-doctor --seed FILE", "installs the file where this Keras reads it")
            + "; or "
            + said("unset KERAS_HOME"),
            data=data,
        )
    if cache_reach is not None and cache_reach.real is not None:
        real_file = cache_reach.real / cache.dataset_path.name
        return Result.ok(
            f"Keras reads {cache.dataset_path}, through a link: {real_file}", details=details, data=data
        )
    return Result.ok(f"Keras reads {cache.dataset_path}", details=details, data=data)


def _reach_details(cache: KerasCache, reach: CacheReach | None) -> list[str]:
    """Where a linked cache folder leads, and whether the actions follow the link (and if not, why)."""
    if reach is None or (reach.real is None and reach.refused is None):
        return []
    lines = []
    if reach.real is not None:
        real_file = reach.real / cache.dataset_path.name
        lines.append(f"{reach.folder} leads to {reach.real}: Keras reads and writes {real_file}")
    if reach.refused is None:
        lines.append("your own link, yours all the way: --clear-cache, --seed and --fetch act there too")
    else:
        lines.append(f"--clear-cache, --seed and --fetch will not act there: {reach.refused}")
        if reach.hint:
            lines.append(f"by hand: {reach.hint}")
    return lines


def _after_fix(trouble: PathTrouble) -> str:
    """What Keras uses once the printed fix is applied."""
    if trouble.variable == "KERAS_HOME":
        return "Keras then uses ~/.keras"
    return "Keras then uses ~/.keras in that home"


@function_check("cache.keras_home", "KERAS_HOME")
def keras_home(keras_cache: KerasCache) -> Result:
    """``KERAS_HOME``, when set, names a folder Keras can use (not a file, not an empty string)."""
    value = keras_cache.keras_home
    if value is None:
        return Result.skip("KERAS_HOME is not set")
    trouble = keras_cache.trouble("KERAS_HOME")
    if trouble is not None:
        if not trouble.breaks:
            consequence = "Keras can use it"
        elif keras_cache.rules == "keras3":
            consequence = f"Keras silently falls back to {keras_cache.base}"
        else:
            consequence = f"{keras_cache.flavour_label} reads no keras.json there"
        return Result.warn(
            f"{trouble.sentence}; {consequence}" if trouble.breaks else trouble.sentence,
            details=[f"the part at fault: {trouble.at}", consequence],
            hint=said(trouble.fix(), _after_fix(trouble)),
            data={"variable": trouble.variable, "trouble": trouble.kind},
        )
    if value == "":
        return Result.fail(
            "KERAS_HOME is set but empty: Keras cannot use it",
            details=["Keras 3 takes an empty KERAS_HOME as the cache folder and falls back to /tmp/.keras"],
            hint=said("unset KERAS_HOME") + otherwise("or", "export KERAS_HOME=$HOME/.keras"),
        )
    path = Path(os.path.expanduser(value))
    if os.path.exists(path) and not os.path.isdir(path):
        return Result.fail(
            f"KERAS_HOME={value} is a file, not a folder",
            details=["Keras puts keras.json and datasets/ inside KERAS_HOME; with a file there it cannot"],
            hint=said(f"export KERAS_HOME={_q(str(path) + '_dir')}", "any folder; or move the file away"),
        )
    if not os.path.exists(path):
        parent = _nearest_existing(path)
        if not (os.path.isdir(parent) and os.access(parent, os.W_OK)):
            return Result.warn(
                f"KERAS_HOME={value} does not exist and cannot be created ({parent} is not writable)",
                hint=said(f'sudo mkdir -p {_q(path)} && sudo chown "$(id -un)" {_q(path)}'),
            )
        note = (
            "Keras creates it on first import"
            if keras_cache.rules == "keras3"
            else "only keras.json would go there"
        )
        return Result.ok(f"KERAS_HOME={value} does not exist yet; {note}")
    if keras_cache.keras_home_ignored:
        return Result.warn(
            f"KERAS_HOME={value} is a folder, but {keras_cache.flavour_label} ignores it for datasets",
            hint=said("mnist-doctor --seed FILE", "installs the file where this Keras reads it"),
        )
    return Result.ok(f"KERAS_HOME={value} is a folder")


def write_probe(folder: Path, file_name: str = "mnist.npz") -> tuple[bool, str]:
    """Really create and remove a file where Keras will write (``os.access`` can lie).

    Only ever *inside the cache folder itself*, opened and verified by :class:`SafeDir`
    (the temp name is the doctor's own ``.mnist.npz.<hex>.part``, which ``--clear-cache``
    recognises if the run is killed in between). A folder that does not exist yet is not
    created to test it: its nearest existing ancestor is checked with ``stat``/``os.access``
    only, so a diagnosis writes nothing anywhere. A folder the doctor will not act in (a
    link it does not follow, another user's) is judged with ``os.access`` and says why.
    """
    if not os.path.lexists(folder):
        parent = _nearest_existing(folder)
        if not os.path.isdir(parent):
            return False, f"{folder} does not exist yet, and {parent} is not a folder"
        if os.access(parent, os.W_OK | os.X_OK):
            return True, f"{folder} does not exist yet; {parent} is writable, so Keras can create it"
        return False, f"{folder} does not exist yet, and {parent} is not writable (checked without writing)"
    try:
        with SafeDir.open(folder) as cache_dir:
            name, handle = cache_dir.create_temp(file_name)
            try:
                os.write(handle, b"x")
            finally:
                os.close(handle)
                cache_dir.unlink(name)
            if cache_dir.through_link:
                return True, f"created and removed a temporary file in {cache_dir.real} (your link {folder})"
    except UnsafeFolder as exc:
        usable = os.access(folder, os.W_OK | os.X_OK)
        return (
            usable,
            f"not probed by writing ({exc.reason}); os.access says {'' if usable else 'not '}writable",
        )
    except OSError as exc:
        return False, f"cannot create a file in {folder}: {exc.strerror or exc}"
    return True, f"created and removed a temporary file in {folder}"


def _owner_problems(paths: list[Path]) -> list[tuple[Path, int]]:
    if not hasattr(os, "geteuid"):
        return []
    me = os.geteuid()
    out = []
    for path in paths:
        try:
            owner = path.lstat().st_uid
        except OSError:
            continue
        if owner != me and me != 0:
            out.append((path, owner))
    return out


def _own_folders(cache: KerasCache, datasets: tuple[Dataset, ...]) -> list[tuple[Path, str]]:
    """Cache folders of the selected loaders other than ``<base>/datasets`` (with a file name each)."""
    seen = {cache.datasets_dir}
    out = []
    for loader in datasets:
        sub = cache.base / loader.cache_subdir
        if sub not in seen:
            seen.add(sub)
            out.append((sub, loader.files[0].name))
    return out


def _missing_bytes(cache: KerasCache, datasets: tuple[Dataset, ...]) -> int:
    """Room the other selected loaders still need: absent files (stat only), archives twice (extracted)."""
    total = 0
    for loader in datasets:
        if loader.is_default:
            continue  # its file is weighed by the caller (the deep verdict of the copy Keras reads)
        for path, data_file in zip(
            cache_layout.file_paths(loader, cache.datasets_dir), loader.files, strict=True
        ):
            if loader.archive is not None:
                # the archive's name depends on the Keras line: any of them present counts as present
                names = [layout.archive for layout in loader.archive.layouts]
                if not any(os.path.isfile(path.parent / name) for name in names):
                    total += 2 * data_file.spec.size
            elif not os.path.isfile(path):
                total += data_file.spec.size
    return total


@function_check(
    "cache.permissions",
    "Cache permissions and space",
    requires=("cache.location",),
    explained_by=("cache.keras_home", "cache.location"),
)
def permissions(keras_cache: KerasCache, dataset: DatasetSpec, datasets: tuple[Dataset, ...] = ()) -> Result:
    """Keras can create, replace and read files in its cache folders, which you own and which have room."""
    folder = keras_cache.datasets_dir
    file = keras_cache.dataset_path
    details = []
    writable, probe_note = write_probe(folder, dataset.file_name)
    details.append(probe_note)
    # A loader with its own sub-folder (fashion_mnist: datasets/fashion-mnist/) is probed there too.
    for sub, first in _own_folders(keras_cache, datasets):
        sub_ok, sub_note = write_probe(sub, first)
        details.append(sub_note)
        if writable and not sub_ok:
            writable, folder = False, sub
    file_problem = None
    if os.path.isfile(file):
        try:
            # opens for writing, writes nothing; O_NONBLOCK: a FIFO swapped in cannot block the run
            os.close(os.open(file, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NONBLOCK", 0)))
        except OSError as exc:
            file_problem = f"{file} cannot be replaced: {exc.strerror}"
        if not os.access(file, os.R_OK):
            file_problem = f"{file} cannot be read"
    existing = [p for p in (keras_cache.base, folder, file) if os.path.lexists(p)]
    foreign = _owner_problems(existing)
    details += [f"{p} is owned by {_user_name(uid)}" for p, uid in foreign]
    me = _user_name(os.geteuid()) if hasattr(os, "geteuid") else "you"
    chown = f'sudo chown -R "$(id -un)" {_q(keras_cache.base)}'
    data = {"writable": writable, "foreign_owners": {str(p): uid for p, uid in foreign}}
    volume = read_only_volume(folder) if not writable or file_problem else None
    if volume is not None:
        where = "it is" if volume == folder else f"{volume} is"
        summary = f"Keras cannot write to {folder}: {where} on a read-only file system"
        return Result.fail(summary, details=details, hint=_read_only_hint(keras_cache, volume), data=data)
    if not writable or file_problem:
        summary = file_problem or f"Keras cannot write to {folder}"
        line = chown if foreign else f"chmod -R u+rwX {_q(keras_cache.base)}"
        instead = f"or make {keras_cache.configured} writable so Keras stops using {keras_cache.base}"
        hint = said(line, instead if keras_cache.fallback else None)
        return Result.fail(summary, details=details, hint=hint, data=data)
    if foreign:
        path, uid = foreign[0]
        return Result.fail(
            f"{path} belongs to {_user_name(uid)}, not {me}",
            details=[
                *details,
                "a file or folder of another user (often left by `sudo python`) breaks the next "
                "download or re-download",
            ],
            hint=said(chown),
            data=data,
        )
    usage = shutil.disk_usage(_nearest_existing(folder))
    data["free_bytes"] = usage.free
    details.append(f"free space: {usage.free / 1e9:.2f} GB")
    mnist = any(d.is_default for d in datasets) or not datasets
    need = (
        0 if not mnist or verification.inspect_file(file, dataset, with_partials=False).ok else dataset.size
    )
    need += _missing_bytes(keras_cache, datasets)
    need = need + SPACE_MARGIN if need else 0
    if usage.free < need:
        return Result.fail(
            f"only {usage.free / 1e6:.1f} MB free at {folder}; the download needs {need / 1e6:.1f} MB",
            details=details,
            hint=said(f"df -h {_q(_nearest_existing(folder))}", "free some space")
            + ("; or export KERAS_HOME=/a/roomier/folder" if keras_cache.rules == "keras3" else ""),
            data=data,
        )
    return Result.ok(f"{folder} is writable by {me}", details=details, data=data)


def _keras_dir_trouble(cache: KerasCache) -> PathTrouble | None:
    """``KERAS_HOME``'s trouble when keras.json would live in that unusable folder.

    (A broken ``HOME`` is not one: Keras' config then moves to ``/tmp/.keras``, which is predicted.)
    """
    trouble = cache.trouble("KERAS_HOME") if cache.keras_home else None
    return trouble if trouble is not None and trouble.breaks else None


@function_check("cache.config", "keras.json")
def keras_config(keras_cache: KerasCache) -> Result:
    """``keras.json`` is absent, or readable and valid: an unreadable one makes ``import keras`` fail."""
    path = keras_cache.keras_json
    unusable = _keras_dir_trouble(keras_cache)
    if unusable is not None:
        return Result.skip(f"{unusable.sentence}: Keras reads no keras.json there and uses its defaults")
    if not os.path.lexists(path):
        return Result.ok(f"{path} does not exist (Keras writes defaults on first import)")
    if os.path.isdir(path):
        return Result.fail(
            f"{path} is a folder", hint=said(f"rmdir {_q(path)}", "Keras writes a fresh file on import")
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return Result.fail(
            f"{path} cannot be read ({exc.strerror}): `import keras` raises an error",
            details=["Keras opens keras.json at import and only tolerates invalid JSON, not a read error"],
            hint=said(f'sudo chown "$(id -un)" {_q(path)} && chmod u+rw {_q(path)}')
            + otherwise("or", f"rm {_q(path)}"),
        )
    except UnicodeDecodeError:
        text = "\x00"
    try:
        config = json.loads(text)
    except ValueError:
        return Result.warn(
            f"{path} is not valid JSON: Keras ignores it and uses its defaults",
            hint=f"rm {_q(path)}   # Keras writes a fresh one on import",
        )
    if not isinstance(config, dict):
        return Result.fail(
            f"{path} holds {type(config).__name__}, not an object", hint=said(f"rm {_q(path)}")
        )
    problems = []
    if config.get("floatx", "float32") not in ("float16", "float32", "float64"):
        problems.append(f"floatx={config.get('floatx')!r}")
    if not isinstance(config.get("epsilon", 1e-7), float):
        problems.append(f"epsilon={config.get('epsilon')!r} is not a float")
    if config.get("image_data_format", "channels_last") not in ("channels_last", "channels_first"):
        problems.append(f"image_data_format={config.get('image_data_format')!r}")
    if problems:
        return Result.fail(
            f"{path} has values Keras rejects at import: " + ", ".join(problems),
            hint=f"rm {_q(path)}   # Keras writes a fresh one on import",
        )
    return Result.ok(f"{path} is valid", details=[f"backend: {config.get('backend', 'default')}"])


#: Verdicts for the copy Keras reads that make load_data fail (or need the network to heal):
#: those of any dataset file, and for mnist.npz a valid npz that is not MNIST.


@function_check(
    "cache.integrity",
    "Cached dataset files",
    # After the write probe: its short-lived temporary file must not be taken for a leftover.
    # After the real load_data(): whether Keras could replace a broken copy here is its witness.
    after=("cache.location", "cache.permissions", "load.real"),
    # KERAS_HOME unusable -> the cache folder unusable -> the file in it unreadable: one problem.
    explained_by=("cache.keras_home", "cache.location", "cache.permissions"),
)
def integrity(
    keras_cache: KerasCache,
    dataset: DatasetSpec,
    target_python: str,
    results: dict[str, CheckResult],
    datasets: tuple[Dataset, ...] = (),
    keras_flavour: KerasFlavour | None = None,
) -> Result:
    """Every file of each selected dataset is the pinned one, in the layout this Keras line reads.

    With only ``mnist`` selected (the default) this is the ``mnist.npz`` verdict of every place
    Keras might use; with more, one line per dataset (see :mod:`mnist_doctor.causes.cache`).
    """
    default = next((d for d in datasets if d.is_default), None)
    mnist = (
        _mnist_integrity(keras_cache, dataset, target_python) if default is not None or not datasets else None
    )
    if mnist is not None:
        mnist = replaced_online(mnist, results.get("load.real"))
    if mnist is not None and len(datasets) <= 1:
        return mnist
    verdicts = []
    for loader in datasets:
        if loader is default and mnist is not None:
            # the default loader's steps need no label: a step naming no dataset acts on it (Fix.dataset)
            verdicts.append(
                cache_verdicts.DatasetVerdict(
                    loader.name, mnist.status, mnist.summary, mnist.details, mnist.said, mnist.fixes
                )
            )
        else:
            verdicts.append(
                cache_verdicts.judge(
                    loader,
                    keras_cache.base,
                    keras_flavour.kind if keras_flavour else None,
                    keras_flavour.version if keras_flavour else None,
                    keras_cache.flavour_label,
                    target_python=target_python,
                )
            )
    return _combine(verdicts, mnist.data if mnist is not None else {})


def _combine(verdicts: list[cache_verdicts.DatasetVerdict], mnist_data: dict[str, Any]) -> Result:
    """One result for several datasets: the worst status, each non-ok dataset named in the summary."""
    status = worst(v.status for v in verdicts)
    attention = [v for v in verdicts if v.status in (Status.FAIL, Status.WARN, Status.ERROR)]
    if attention:
        summary = "; ".join(f"{v.name}: {v.summary}" for v in attention)
        if len(attention) < len(verdicts):
            summary += " (" + ", ".join(f"{v.name}: {v.short}" for v in verdicts if v not in attention) + ")"
    elif len(verdicts) == 1:
        summary = f"{verdicts[0].name}: {verdicts[0].summary}"
    else:
        summary = f"{len(verdicts)} datasets: " + ", ".join(f"{v.name} {v.short}" for v in verdicts)
    details = []
    for verdict in verdicts:
        details.append(f"[{verdict.name}] {verdict.status.value}: {verdict.summary}")
        details += [f"  {line}" for line in verdict.details]
    hints = [Hint(v.name + ": ") + v.hint for v in attention if v.hint]
    # One dataset's steps each (Fix.dataset): --fix offers every dataset's steps on their own.
    fixes = tuple(fix for v in verdicts if v.status in (Status.FAIL, Status.WARN) for fix in v.fixes)
    data: dict[str, Any] = {**mnist_data, "datasets": [v.to_dict() for v in verdicts]}
    hint = Hint("\n".join(hints), tuple(a for h in hints for a in h.advice))
    return Result(status, summary, details=details, hint=hint or None, data=data, fixes=fixes)


def replaced_online(mnist: Result, real: CheckResult | None) -> Result:
    """A broken copy Keras replaces is a ``warn`` where this run's real load_data() replaced it.

    ``fail`` means it breaks here: with the host answering, Keras discards the copy and downloads
    again, and load_data() works (promise 3); without that witness (offline, the network failing,
    load.real not run) the copy stays a ``fail``. The doctor kept the user's bytes, so the copy is
    still there and the next load_data() downloads again: the fixes stay.
    """
    replaceable = mnist.data.get("verdict") in verification.BROKEN
    if mnist.status is not Status.FAIL or not replaceable or real is None:
        return mnist
    if not real.data.get("succeeded"):
        return mnist
    return replace(
        mnist,
        status=Status.WARN,
        summary=f"the copy Keras reads is {mnist.data.get('state')}: Keras discards it and downloads "
        "again (it did in this run: the host answers)",
    )


def _mnist_integrity(keras_cache: KerasCache, dataset: DatasetSpec, target_python: str) -> Result:
    """Every ``mnist.npz`` Keras might use is the pinned file; says which copy Keras reads."""
    reports = [
        verification.inspect_file(folder / dataset.file_name, dataset) for folder in keras_cache.candidates
    ]
    read, others = reports[0], reports[1:]
    details = [
        f"{r.path}: {r.summary}" + ("   ← Keras reads this one" if r is read else "")
        for r in reports
        if r.present or r is read
    ]
    partials = [p for r in reports for p in r.partials]
    details += [f"leftover partial file: {p}" for p in partials]
    data: dict[str, Any] = {
        "read": str(read.path),
        "verdict": read.verdict,
        "state": read.summary.split(":")[0],
        "copies": [r.to_dict() for r in reports],
    }
    good_elsewhere = next((r for r in others if r.ok), None)
    writers = writers_of(str(read.path)) if read.present else []
    if writers:
        return Result.warn(
            f"a download is in progress: {writers[0]} is writing {read.path} "
            f"({read.summary.split(':')[0]} so far); the doctor leaves it alone",
            details=[*details, "clearing or replacing it now would break that download"],
            hint="wait for that download to finish, then run the diagnosis again",
            data={**data, "writers": [w.pid for w in writers]},
        )
    if read.verdict in verification.BROKEN:
        # --fix offers this: removing a broken file is safe (Keras would discard it anyway)
        clear = clear_cache_fix(target_python, f"remove the broken {read.path}")
        seed = _q(good_elsewhere.path) if good_elsewhere else "/path/to/mnist.npz"
        return Result.fail(
            f"the copy Keras reads is {read.summary.split(':')[0]}: {verification.BROKEN[read.verdict]}",
            details=details,
            hint=said(f"{clear.command} && {doctor_command(target_python, '--fetch')}")
            + otherwise("or offline", doctor_command(target_python, "--seed", seed)),
            data=data,
            fixes=(clear,),
        )
    if read.verdict == verification.OTHER_MNIST:
        return Result.warn(
            "the copy Keras reads is a valid MNIST, not the pinned file: Keras replaces it on first use",
            details=details,
            hint=said("mnist-doctor --fetch")
            + otherwise("or offline", "mnist-doctor --seed /path/to/the/original/mnist.npz"),
            data=data,
        )
    if not read.ok and good_elsewhere:
        return Result.warn(
            f"a good copy sits at {good_elsewhere.path}, but Keras reads {read.path} (not present)",
            details=details,
            hint=said(f"mnist-doctor --seed {_q(good_elsewhere.path)}"),
            data=data,
        )
    stray = [r for r in others if r.present and not r.ok]
    if partials or stray:
        what = [f"{len(partials)} leftover partial file(s)"] if partials else []
        what += [f"a bad copy at {r.path} ({r.verdict})" for r in stray]
        return Result.warn(
            ("the copy Keras reads is fine, but " if read.ok else "not cached yet; ") + "; ".join(what),
            details=details,
            # --clear-cache would also remove the good copy; name the exact leftovers instead.
            hint=said("rm -f -- " + " ".join(_q(p) for p in partials + [r.path for r in stray]))
            if read.ok
            else said("mnist-doctor --clear-cache"),
            data=data,
        )
    if read.ok:
        return Result.ok(f"{read.path} is the pinned file ({read.summary})", details=details, data=data)
    return Result.ok(
        f"not cached yet: Keras downloads {dataset.size / 1e6:.1f} MB to {read.path} on first load_data()",
        details=[
            *details,
            "offline machine? mnist-doctor --seed FILE (or --fetch --mirror URL) puts it there",
        ],
        data=data,
    )


#: Where this family stands in the report (lower first; plugins without one come last).
REPORT_ORDER = 70

CHECKS = [location, keras_home, permissions, keras_config, integrity]
