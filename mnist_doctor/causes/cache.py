"""Per-dataset verdicts of ``cache.integrity``: each file's state, what Keras will do with it, the fix.

Calibrated on what Keras really does (``get_file`` in keras/src/utils/file_utils.py 3.15.1,
keras/utils/data_utils.py 2.15, tf_keras/utils/data_utils.py): a missing file is simply
downloaded (not a failure); a bad copy of a file Keras pins is discarded and downloaded again;
a bad fashion_mnist ``.gz`` is never noticed — ``load_data()`` breaks with ``Not a gzipped file``
or ``EOFError`` on every call — so it fails here; a half-extracted cifar folder is never
repaired by Keras 2 / tf-keras / Keras < 3.6 (``FileNotFoundError``) but is re-extracted by
Keras >= 3.6 from a good archive. ``mnist`` keeps its own, deeper verdict (checks/cache.py).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_doctor.datasets import layout as cache_layout
from mnist_doctor.datasets import verification
from mnist_doctor.datasets.table import LEGACY_LINES, Dataset
from mnist_doctor.model import Advice, Fix, Hint, Status
from mnist_doctor.text.hints import clear_cache_fix, doctor_command, otherwise, reuse_fix, said
from mnist_doctor.text.units import human_bytes

#: What load_data() does with a bad file Keras does not hash (fashion_mnist's .gz files).
UNCHECKED_FAILURE = (
    "load_data() fails on it (gzip: \"Not a gzipped file (b'<!')\" or EOFError) on every call, "
    "and Keras never downloads it again: it checks no hash for this file"
)
NO_HASH_NOTE = (
    "Keras cannot detect a corrupt {name} file: no Keras line passes a file_hash for it, "
    "so the doctor's check (against the published sha256) is the only one"
)


def _q(path: str | Path) -> str:
    return shlex.quote(str(path))


@dataclass
class DatasetVerdict:
    """One dataset's part of ``cache.integrity``: status, one line, evidence, the exact fix."""

    name: str
    status: Status
    summary: str
    details: list[str] = field(default_factory=list)
    hint: str | None = None
    #: The typed steps ``--fix`` offers for this dataset (each names it in ``Fix.dataset``).
    fixes: tuple[Fix, ...] = ()
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def short(self) -> str:
        """A few words for the one-line summary of several datasets."""
        if self.status is Status.SKIP:
            return "skipped"
        if self.status is not Status.OK:
            return str(self.status.value)
        if self.summary.startswith("not cached yet"):
            return "not cached yet"
        if "files cached and verified" in self.summary:
            return "partly cached"
        return "cached and verified"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "summary": self.summary,
            "hint": self.hint,
            "files": self.files,
            "fixes": [fix.to_dict() for fix in self.fixes],
        }


def clear_hint(clear: Fix, dataset: Dataset, seed_name: str, target_python: str) -> Hint:
    """The hint of a clear step: its command (rendered from the fix's argv), then the other roads."""
    fetch = doctor_command(target_python, "--fetch", "--dataset", dataset.name)
    seed = doctor_command(target_python, "--seed", f"/path/to/{seed_name}", "--dataset", dataset.name)
    return (
        f"{clear.command}   # then re-run load_data() (Keras downloads it again); or: "
        + Hint(fetch, (Advice(fetch, "or"),))
        + "; offline: "
        + Hint(seed, (Advice(seed, "offline"),))
    )


def judge(
    dataset: Dataset, base: Path, kind: str | None, version: object, label: str, *, target_python: str
) -> DatasetVerdict:
    """The verdict on ``dataset``'s files under the Keras base folder ``base`` for this Keras line.

    ``target_python``: the interpreter examined, which the doctor commands of the fixes name.
    """
    if dataset.keras3_only and kind in LEGACY_LINES:
        return DatasetVerdict(
            dataset.name,
            Status.SKIP,
            f"{label} has no keras.datasets.{dataset.name} loader (Keras 3 only)",
        )
    if dataset.archive is not None:
        return _judge_archive(
            dataset, base, kind, cache_layout.line_version(kind, version), label, target_python
        )
    return _judge_files(dataset, base, target_python)


def _judge_files(dataset: Dataset, base: Path, target_python: str) -> DatasetVerdict:
    folder = base / dataset.cache_subdir
    reports = [(f, verification.inspect_data_file(folder / f.name, f)) for f in dataset.files]
    details = [f"{r.path}: {r.summary}" for _, r in reports]
    unchecked = [f for f in dataset.files if not f.keras_detects_corruption]
    if unchecked:
        details.append(NO_HASH_NOTE.format(name=dataset.name))
    files = [dict(r.to_dict(), keras_pin=f.keras_pin) for f, r in reports]
    broken = [(f, r) for f, r in reports if r.verdict in verification.BROKEN]
    if broken:
        data_file, report = broken[0]
        why = (
            UNCHECKED_FAILURE
            if not data_file.keras_detects_corruption
            else verification.BROKEN[report.verdict]
        )
        if report.verdict in (verification.DIRECTORY, verification.NOT_REGULAR, verification.UNREADABLE):
            why = verification.BROKEN[report.verdict]
        names = ", ".join(r.path.name for _, r in broken)
        clear = clear_cache_fix(target_python, f"remove the broken {names} of {dataset.name}", dataset.name)
        return DatasetVerdict(
            dataset.name,
            Status.FAIL,
            f"{report.path.name} is {report.summary.split(':')[0].split(' (')[0]}: {why}",
            details,
            clear_hint(clear, dataset, data_file.name, target_python),
            (clear,),
            files,
        )
    odd = [(f, r) for f, r in reports if r.verdict == verification.MISMATCH]
    if odd:
        data_file, report = odd[0]
        what = (
            "Keras discards it and downloads it again"
            if data_file.keras_detects_corruption
            else "Keras loads it unchecked: it is not the published file"
        )
        clear = clear_cache_fix(
            target_python, f"remove {report.path.name}, which is not the pinned file", dataset.name
        )
        return DatasetVerdict(
            dataset.name,
            Status.WARN,
            f"{report.path.name} is well-formed but not the pinned file: {what}",
            details,
            clear_hint(clear, dataset, data_file.name, target_python),
            (clear,),
            files,
        )
    partials = [p for _, r in reports for p in r.partials]
    present = [r for _, r in reports if r.ok]
    if partials:
        return DatasetVerdict(
            dataset.name,
            Status.WARN,
            f"{len(partials)} leftover partial file(s) in {folder}",
            details + [f"leftover partial file: {p}" for p in partials],
            "rm -f -- " + " ".join(_q(p) for p in partials),
            (),
            files,
        )
    if len(present) == len(reports):
        return DatasetVerdict(
            dataset.name, Status.OK, f"cached and verified in {folder}", details, files=files
        )
    missing = [f for f, r in reports if not r.ok]
    size = sum(f.spec.size for f in missing)
    what = "not cached yet" if not present else f"{len(present)} of {len(reports)} files cached and verified"
    return DatasetVerdict(
        dataset.name,
        Status.OK,
        f"{what}: Keras downloads {human_bytes(size)} to {folder} on first load_data()",
        [
            *details,
            f"offline machine? mnist-doctor --seed FILE --dataset {dataset.name} puts each file there",
        ],
        files=files,
    )


def _judge_archive(
    dataset: Dataset,
    base: Path,
    kind: str | None,
    version: tuple[int, int] | None,
    label: str,
    target_python: str,
) -> DatasetVerdict:
    assert dataset.archive is not None
    archive = dataset.archive
    data_file = dataset.files[0]
    root = base / dataset.cache_subdir
    current, other = cache_layout.current_and_other(archive, kind, version)
    cur = verification.inspect_data_file(root / current.archive, data_file)
    oth = verification.inspect_data_file(root / other.archive, data_file, with_partials=False)
    ext = cache_layout.extraction_state(root / current.members_dir, archive.members)
    size = human_bytes(data_file.spec.size)
    details = [
        f"{label} reads the layout of {cache_layout.line_name(current)}"
        + (
            " (re-extracts on every call)"
            if current.extracts_every_call
            else " (extracts only when the folder is missing)"
        ),
        f"archive {cur.path}: {cur.summary}",
        f"extracted: {ext.summary}",
    ]
    if oth.present:
        details.append(f"{cache_layout.line_name(other)} archive {oth.path}: {oth.summary}")
    other_ext = cache_layout.extraction_state(root / other.members_dir, archive.members)
    if other_ext.state != cache_layout.ABSENT:
        details.append(f"{cache_layout.line_name(other)} folder (not read by {label}): {other_ext.summary}")
    files = [dict(cur.to_dict(), keras_pin=data_file.keras_pin, layout="current")]
    if oth.present:
        files.append(dict(oth.to_dict(), keras_pin=data_file.keras_pin, layout="other"))
    extraction = {
        "folder": str(ext.folder),
        "state": ext.state,
        "missing": list(ext.missing),
        "empty": list(ext.empty),
    }
    files.append(
        {"path": str(ext.folder), "verdict": ext.state, "summary": ext.summary, "extraction": extraction}
    )
    reuse = reuse_fix(
        target_python,
        dataset.name,
        f"place the verified {oth.path.name} where {label} reads it ({cur.path.name})",
    )
    reuse_hint = said(reuse.command, f"copies the verified {oth.path} to {cur.path}")

    def verdict(
        status: Status, summary: str, hint: str | None = None, fixes: tuple[Fix, ...] = ()
    ) -> DatasetVerdict:
        return DatasetVerdict(dataset.name, status, summary, details, hint, fixes, files)

    if cur.verdict in verification.BROKEN:
        clear = clear_cache_fix(target_python, f"remove the broken {cur.path.name}", dataset.name)
        return verdict(
            Status.FAIL,
            f"{cur.path.name} is {cur.summary.split(':')[0].split(' (')[0]}: "
            f"{verification.BROKEN[cur.verdict]} ({size})",
            clear_hint(clear, dataset, data_file.name, target_python)
            + ("; then reuse the verified copy: " + reuse_hint if oth.ok else ""),
            (clear,),
        )
    if ext.state == cache_layout.NOT_A_FOLDER:
        return verdict(
            Status.FAIL,
            f"{ext.folder.name} is not a folder: Keras cannot extract the archive there",
            said(f"rm -- {_q(ext.folder)}", "Keras extracts the archive again on the next load_data()"),
        )
    if ext.state == cache_layout.HALF and not current.extracts_every_call:
        first = (ext.missing or ext.empty)[0]
        how = said(
            f"rm -r -- {_q(ext.folder)}",
            f"{label} then extracts the verified archive again"
            if cur.ok
            else "then load_data() downloads and extracts it again",
        )
        clear = clear_cache_fix(target_python, f"remove the half-extracted {ext.folder.name}/", dataset.name)
        return verdict(
            Status.FAIL,
            f"{ext.folder.name}/ is half-extracted: {label} never re-extracts it, so load_data() raises "
            f"FileNotFoundError …/{first}",
            f"{clear.command}   # or by hand: " + how,
            (clear,),
        )
    if oth.ok and not cur.ok and cur.verdict in (verification.MISSING, verification.MISMATCH):
        return verdict(
            Status.WARN,
            f"a verified copy sits under {cache_layout.line_name(other)}'s name {oth.path.name}; "
            f"{label} reads {cur.path.name} and would download {size} again",
            reuse_hint,
            (reuse,),
        )
    if cur.verdict == verification.MISMATCH:
        clear = clear_cache_fix(
            target_python, f"remove {cur.path.name}, which is not the pinned file", dataset.name
        )
        return verdict(
            Status.WARN,
            f"{cur.path.name} is a tarball but not the pinned file: Keras discards it and downloads "
            f"{size} again",
            clear_hint(clear, dataset, data_file.name, target_python),
            (clear,),
        )
    if ext.state == cache_layout.HALF and not cur.ok:
        seed = doctor_command(
            target_python, "--seed", f"/path/to/{data_file.name}", "--dataset", dataset.name
        )
        fetch = doctor_command(target_python, "--fetch", "--dataset", dataset.name)
        return verdict(
            Status.WARN,
            f"{ext.folder.name}/ is half-extracted and its archive is missing: Keras downloads {size} again "
            "to repair it",
            said(seed) + otherwise("or", fetch),
        )
    if cur.partials:
        return verdict(
            Status.WARN,
            f"{len(cur.partials)} leftover partial file(s) beside {cur.path.name}",
            said("rm -f -- " + " ".join(_q(p) for p in cur.partials)),
        )
    if cur.ok:
        state = {
            cache_layout.COMPLETE: "extracted",
            cache_layout.ABSENT: "extracted on the next load_data()",
            cache_layout.HALF: "its half-extracted folder is extracted again on every call",
        }[ext.state]
        return verdict(Status.OK, f"{cur.path.name} verified; {state}")
    note = (
        f"; the extracted folder is complete, but {label} downloads the archive again before using it"
        if ext.state == cache_layout.COMPLETE
        else ""
    )
    details.append(
        f"offline machine? mnist-doctor --seed /path/to/{data_file.name} --dataset {dataset.name} "
        "puts it there"
    )
    return verdict(
        Status.OK, f"not cached yet: Keras downloads {size} to {cur.path} on first load_data(){note}"
    )
