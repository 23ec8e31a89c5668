"""``compat.closure``: the requirements of everything TensorFlow and Keras pull in, like ``pip check``.

Unit tier: the walk, the fix's direction and the grading on recorded metadata (the matrix's own
records of real environments) and on constructed metadata — markers evaluated for the target's
values, extras as pip handles them, missing distributions, cycles, garbage, a huge closure — and
the import probe's NumPy ABI causes in both directions, with the one root cause the report shows.
Target tier: the introspection and the compiled-file scan run for real on hostile metadata.
e2e: a real venv with the real wheels (TensorFlow 2.21, NumPy 1.26.4, ml_dtypes 0.7.0), the doctor
names the broken requirement, and the fix it prints, applied as printed, makes TensorFlow import.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from mnist_doctor.causes.imports import abi_direction, classify_import_failure
from mnist_doctor.checks.compat import ClosureRequirements
from mnist_doctor.facts.closure import Closure, plan_move, walk
from mnist_doctor.facts.closure import closure_roots as roots_of
from mnist_doctor.facts.introspection import Distributions
from mnist_doctor.facts.numpy_builds import NumpyBuild, NumpyBuilds, parse
from mnist_doctor.model import Result, Status
from mnist_doctor.pipeline.summary import summarize
from mnist_doctor.probing.subproc import run_script
from testkit.fake_env import add_dist, add_extension

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "docs" / "compat-matrix.json"
#: A target unlike the doctor's own Python: markers must be read from here, never from sys.
TARGET_311 = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.7",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_release": "6.1.0",
    "platform_system": "Linux",
    "platform_version": "#1 SMP",
    "python_full_version": "3.11.7",
    "platform_python_implementation": "CPython",
    "python_version": "3.11",
    "sys_platform": "linux",
}
TARGET_313 = {**TARGET_311, "python_full_version": "3.13.1", "python_version": "3.13"}
PY = "/nonexistent/closure-env/bin/python"
TF221 = ["numpy>=1.26.0", "keras>=3.12.0", "ml_dtypes<1.0.0,>=0.5.1", "h5py<3.15.0,>=3.11.0"]
ML_DTYPES_070 = ["numpy>=2.0.0", 'numpy>=2.1.0; python_version >= "3.13"', 'pytest; extra == "dev"']


def dists(*rows: tuple[Any, ...]) -> Distributions:
    """``(name, version, requires[, purelib])`` rows as the introspection reports them."""
    out = []
    for row in rows:
        name, version, requires = row[:3]
        out.append({"name": name, "version": version, "requires": list(requires), "purelib": (*row, None)[3]})
    return Distributions.from_introspection(out)


def closure_of(installed: Distributions, env: dict[str, str] = TARGET_311) -> Closure:
    return walk(installed, env, roots_of(installed))


def ml_dtypes_case(ml_dtypes: str = "0.7.0", numpy: str = "1.26.4") -> Distributions:
    return dists(
        ("tensorflow", "2.21.0", TF221, False),
        ("keras", "3.15.1", ["numpy", "ml-dtypes", "h5py"], True),
        ("ml_dtypes", ml_dtypes, ML_DTYPES_070, False),
        ("numpy", numpy, [], False),
        ("h5py", "3.14.0", ["numpy>=1.19.3"], False),
    )


def judge(
    installed: Distributions,
    builds: NumpyBuilds | None = None,
    results: dict[str, Any] | None = None,
    env: dict[str, str] = TARGET_311,
) -> Result:
    return ClosureRequirements().run(closure_of(installed, env), builds or NumpyBuilds(), PY, results or {})


def probe(status: Status, summary: str, **data: Any) -> dict[str, Result]:
    """``runtime.import``'s result as the compat checks read it."""
    return {"runtime.import": Result(status, summary, data=data)}


NUMPY2_BUILD = NumpyBuilds({"ml-dtypes": NumpyBuild("ml-dtypes", 1, 0, (Version("2.0"),))})
NUMPY123_BUILD = NumpyBuilds({"ml-dtypes": NumpyBuild("ml-dtypes", 1, 0, (Version("1.23"),))})


# --- the walk ---------------------------------------------------------------------------------


def test_the_recorded_case_names_ml_dtypes_its_requirement_and_the_installed_numpy():
    """On the metadata the matrix recorded from the real environment (every distribution in it)."""
    record = next(
        c
        for c in json.loads(RECORDS.read_text())["cases"]
        if c["case"] == "ml-dtypes-numpy2-build-numpy1-tf2.21"
    )
    installed = Distributions.from_introspection(list(record["distributions"].values()))
    closure = closure_of(installed)
    (unmet,) = closure.unmet
    assert unmet.line() == "ml_dtypes 0.7.0 requires numpy>=2.0.0, but numpy 1.26.4 is installed"
    assert unmet.via == ("tensorflow", "ml-dtypes") and not unmet.by_root
    assert {"tensorflow", "keras", "ml-dtypes", "numpy", "protobuf"} <= {d.key for d in closure.members}
    result = judge(installed, NUMPY2_BUILD)
    assert result.status is Status.FAIL, result
    assert result.summary.startswith("ml_dtypes 0.7.0 requires numpy>=2.0.0, but numpy 1.26.4 is installed")
    assert "compiled for NumPy 2.0's C-API or newer: NumPy 1.26.4 refuses it" in result.summary
    (step,) = result.fixes
    assert step.argv == (PY, "-m", "pip", "install", "ml_dtypes<1.0.0,>=0.5.1", "numpy==1.26.4")
    assert "--force" not in " ".join(step.argv) and "--no-deps" not in step.argv
    assert result.hint is not None and result.hint.startswith(step.command)
    assert result.data["unmet"][0]["installed"] == "1.26.4" and result.data["modules"][:1] == ["ml_dtypes"]


@pytest.mark.parametrize(
    "case",
    [
        "tf2.12",
        "tf2.14",
        "tf2.16",
        "tf2.18",
        "tf2.20",
        "tf2.21",
        "tensorflow-cpu-and-tensorflow-same-version",
    ],
)
def test_the_healthy_recorded_environments_have_nothing_unmet(case):
    record = next(c for c in json.loads(RECORDS.read_text())["cases"] if c["case"] == case)
    installed = Distributions.from_introspection(list(record["distributions"].values()))
    closure = closure_of(installed)
    assert closure.unmet == () and closure.unreadable == ()
    assert closure.checked > 20 and len(closure.members) > 20
    assert judge(installed).status is Status.OK


def test_markers_are_the_targets_not_the_doctors():
    installed = ml_dtypes_case(numpy="2.0.2")  # meets numpy>=2.0.0, not numpy>=2.1.0 on 3.13
    assert closure_of(installed, TARGET_311).unmet == ()
    (unmet,) = closure_of(installed, TARGET_313).unmet
    assert unmet.wanted == "numpy>=2.1.0" and unmet.installed is not None
    # Without the target's marker values nothing is evaluated for the doctor's own Python instead.
    partial = {k: v for k, v in TARGET_313.items() if k != "python_version"}
    closure = closure_of(installed, partial)
    assert closure.unmet == ()
    assert any("marker of 'numpy>=2.1.0; python_version >= \"3.13\"'" in u for u in closure.unreadable)


def test_extras_are_followed_as_pip_follows_them():
    installed = dists(
        ("keras", "3.15.1", ["rich[Fast_Path]>=12", 'namex; extra == "dev"'], True),
        ("rich", "14.0.0", ['pygments>=2.13; extra == "fast-path"', 'jupyter; extra == "jupyter"', "mdurl"]),
        ("pygments", "2.10.0", []),
        ("mdurl", "0.1.2", []),
    )
    closure = closure_of(installed)
    # rich[Fast_Path] asks for rich's "fast-path" extra (PEP 685 names); "jupyter" and keras' own
    # "dev" extra were not asked for, so neither missing jupyter nor namex is a finding.
    assert [u.line() for u in closure.unmet] == [
        "rich 14.0.0 requires pygments>=2.13, but pygments 2.10.0 is installed"
    ]
    assert closure.unmet[0].via == ("keras", "rich")
    assert sum(1 for d, _ in closure.required_by["mdurl"]) == 1  # the base requirements once, not per extra


def test_a_missing_requirement_of_a_root_fails_a_deep_one_warns():
    root_missing = dists(("keras", "3.15.1", ["namex>=0.0.8", "numpy"], True), ("numpy", "2.4.6", []))
    result = judge(root_missing)
    assert result.status is Status.FAIL, result
    assert "keras 3.15.1 requires namex>=0.0.8, which is not installed" in result.summary
    assert result.fixes[0].argv[-1] == "namex>=0.0.8"
    deep = dists(
        ("tensorflow", "2.21.0", ["tensorboard~=2.21.0"], False),
        ("tensorboard", "2.21.0", ["werkzeug>=1.0.1", "markdown>=2.6.8"], True),
        ("markdown", "3.9", []),
    )
    result = judge(deep)
    assert result.status is Status.WARN and "not known to break" in result.summary
    assert result.data["unmet"][0]["installed"] is None and result.data["unmet"][0]["via"] == [
        "tensorflow",
        "tensorboard",
    ]


def test_cycles_end_and_each_unmet_requirement_is_found_once():
    installed = dists(
        ("keras", "3.15.1", ["a", "keras"], True),
        ("a", "1.0", ["b>=2", "keras>=3"]),
        ("b", "1.0", ["a", "b", "c<1"]),
        ("c", "1.5", ["a"]),
    )
    closure = closure_of(installed)
    assert sorted(u.line() for u in closure.unmet) == [
        "a 1.0 requires b>=2, but b 1.0 is installed",
        "b 1.0 requires c<1, but c 1.5 is installed",
    ]
    assert {d.key for d in closure.members} == {"keras", "a", "b", "c"}


def test_garbage_metadata_is_listed_never_guessed_and_never_a_crash():
    installed = dists(
        (
            "keras",
            "3.15.1",
            [
                "numpy>=\ufffd\ufffd",  # non-UTF-8 bytes, as replaced when read
                "%%% not a requirement",
                "",
                'ok-pkg; python_version ~= "three"',  # a comparison packaging cannot make
                "odd-version>=1",
                "y" * 100_000 + " !!",
            ],
            True,
        ),
        ("odd-version", "not-a-version", []),
        ("\x00weird\x1b[31m", "1", ["keras"]),
    )
    closure = closure_of(installed)
    assert closure.unmet == ()
    text = "\n".join(closure.unreadable)
    assert "requirement 'numpy>=\ufffd\ufffd'" in text and "requirement '%%% not a requirement'" in text
    assert "odd-version: version 'not-a-version'" in text
    assert "marker of 'ok-pkg; python_version ~= \"three\"'" in text
    assert all(len(line) < 400 for line in closure.unreadable)  # a 100 KB line is not copied whole
    result = judge(installed)
    assert result.status is Status.OK and any(d.startswith("unreadable, not judged:") for d in result.details)


def test_a_huge_closure_is_walked_once_and_its_report_stays_bounded():
    n = 5000
    rows: list[tuple[Any, ...]] = [("keras", "3.15.1", [f"p{i}>=1" for i in range(0, n, 50)], True)]
    for i in range(n):
        needs = [f"p{j}" for j in (i + 1, i * 7 % n, (i * 13 + 5) % n) if j < n]
        needs.append(f"gone{i}>=2" if i % 10 == 0 else "keras")
        rows.append((f"p{i}", "1.0", needs))
    closure = closure_of(dists(*rows))
    assert len(closure.members) == n + 1
    assert len(closure.unmet) == n // 10 and closure.checked == sum(len(r[2]) for r in rows)
    result = judge(dists(*rows))
    assert len(result.details) < 30 and "(and 499 more)" in result.summary
    (step,) = result.fixes
    assert len(step.argv) == 4 + n // 10  # every missing one in the one install


# --- which side moves -------------------------------------------------------------------------


def test_the_fix_keeps_a_numpy_tensorflow_accepts_and_moves_ml_dtypes():
    closure = closure_of(ml_dtypes_case())
    move = plan_move(closure.unmet[0], closure)
    assert move.wants == (("ml_dtypes", "<1.0.0,>=0.5.1"), ("numpy", "==1.26.4"))
    assert move.keeps == "numpy 1.26.4"
    assert move.alternative == (("numpy", ">=2.0.0"),)  # TF 2.21 accepts NumPy 2 too: offered second


def test_when_tensorflow_caps_numpy_the_only_fix_moves_the_requirer():
    installed = dists(
        ("tensorflow", "2.17.1", ["numpy<2.0.0,>=1.23.5", "ml-dtypes<0.5.0,>=0.3.1"], False),
        ("ml-dtypes", "0.4.1", ["numpy>=2.0.0"], False),
        ("numpy", "1.26.4", [], False),
    )
    closure = closure_of(installed)
    move = plan_move(closure.unmet[0], closure)
    assert move.wants == (("ml-dtypes", "<0.5.0,>=0.3.1"), ("numpy", "==1.26.4"))
    assert move.alternative == ()  # numpy>=2.0.0 would leave TensorFlow's numpy<2.0.0


def test_a_same_major_upgrade_within_every_range_moves_the_required_package():
    installed = dists(
        ("tensorflow", "2.21.0", ["protobuf>=5.28.0", "tensorboard~=2.21.0"], False),
        ("tensorboard", "2.21.0", ["protobuf!=4.24.0,>=5.29.1"], True),
        ("protobuf", "5.28.3", [], False),
    )
    closure = closure_of(installed)
    move = plan_move(closure.unmet[0], closure)
    assert move.wants == (("protobuf", "!=4.24.0,>=5.29.1"),) and move.keeps is None
    missing = dists(("keras", "3.15.1", ["rich[jupyter]>=12"], True))
    closure = closure_of(missing)
    assert plan_move(closure.unmet[0], closure).wants == (("rich[jupyter]", ">=12"),)


# --- grading: two witnesses -------------------------------------------------------------------


def test_an_unmet_numpy_requirement_is_graded_by_what_the_compiled_files_were_built_for():
    installed = ml_dtypes_case("0.6.0")
    loads = judge(installed, NUMPY123_BUILD)  # ml_dtypes 0.6.0: declares numpy>=2.0.0, targets 1.23
    assert loads.status is Status.WARN and "not known to break" in loads.summary
    assert any("target NumPy 1.23: they load under NumPy 1.26.4" in d for d in loads.details)
    unread = judge(installed, NumpyBuilds(why_not="cut short by the doctor's --timeout"))
    assert unread.status is Status.WARN
    assert "compiled files not read: cut short by the doctor's --timeout" in unread.details
    assert judge(ml_dtypes_case(), NUMPY2_BUILD).status is Status.FAIL


def test_the_import_probe_decides_when_it_ran():
    installed = ml_dtypes_case()
    works = judge(installed, NUMPY2_BUILD, probe(Status.OK, "imports", runtime={"keras_kind": "keras3"}))
    assert works.status is Status.WARN and "the import works here (runtime.import)" in works.summary
    fails_there = judge(
        installed, NumpyBuilds(), probe(Status.FAIL, "import tensorflow failed", raised_in="ml_dtypes")
    )
    assert (
        fails_there.status is Status.FAIL
        and "the import fails in ml_dtypes (runtime.import)" in fails_there.summary
    )
    elsewhere = judge(
        installed, NumpyBuilds(), probe(Status.FAIL, "import tensorflow failed", raised_in="absl")
    )
    assert elsewhere.status is Status.WARN  # another failure is not this requirement's


def test_requirements_judged_by_other_checks_are_not_reported_twice():
    installed = dists(
        ("tensorflow", "2.21.0", ["h5py<3.15.0", "keras>=3.12.0"], False),  # compat.requirements'
        ("tf-keras", "2.15.1", ["tensorflow<2.16,>=2.15"], True),  # compat.keras'
        ("keras", "3.15.1", [], True),
        ("h5py", "3.16.0", [], False),
    )
    assert len(closure_of(installed).unmet) == 2
    assert judge(installed).status is Status.OK


# --- the import probe's evidence: NumPy's ABI in both directions ------------------------------

#: Observed (TF 2.21, NumPy 1.26.4, ml_dtypes 0.7.0): NumPy's message on stderr, then the traceback.
NUMPY2_BUILD_STDERR = """
RuntimeError: module was compiled against NumPy C-API version 0x12 (NumPy 2.0) but the running NumPy has \
C-API version 0x11. Check the section C-API incompatibility at the Troubleshooting ImportError section at \
https://numpy.org/devdocs/user/troubleshooting-importerror.html#c-api-incompatibility for indications on how \
to solve this problem.
ImportError: numpy._core.multiarray failed to import

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "<string>", line 1, in <module>
  File "/v/lib/python3.11/site-packages/tensorflow/__init__.py", line 49, in <module>
    from tensorflow._api.v2 import __internal__
  File "/v/lib/python3.11/site-packages/tensorflow/python/framework/dtypes.py", line 21, in <module>
    import ml_dtypes
  File "/v/lib/python3.11/site-packages/ml_dtypes/__init__.py", line 45, in <module>
    from ml_dtypes._finfo import finfo
  File "/v/lib/python3.11/site-packages/ml_dtypes/_finfo.py", line 19, in <module>
    from ml_dtypes._ml_dtypes_ext import bcomplex32
SystemError: <built-in function __import__> returned a result with an exception set
"""


def test_a_module_built_for_numpy_2_under_numpy_1_is_named_with_a_fix_that_keeps_numpy():
    diagnosis = classify_import_failure(
        NUMPY2_BUILD_STDERR,
        target_python="python",
        tf_minor="2.21",
        declared={"ml-dtypes": "<1.0.0,>=0.5.1", "numpy": ">=1.26.0"},
        numpy_version="1.26.4",
    )
    assert (diagnosis.name, diagnosis.module) == ("numpy-abi", "ml_dtypes")
    assert diagnosis.summary == (
        "ml_dtypes was compiled for NumPy 2.0 and cannot run with NumPy 1.26.4 "
        "(raised while importing ml_dtypes, not TensorFlow)"
    )
    (step,) = diagnosis.fixes
    assert step.argv == ("python", "-m", "pip", "install", "ml_dtypes<1.0.0,>=0.5.1", "numpy==1.26.4")
    assert 'or upgrade NumPy: python -m pip install "numpy>=2.0"' in diagnosis.hint


def test_the_direction_of_an_abi_mismatch_is_read_from_numpys_words():
    newer = abi_direction(NUMPY2_BUILD_STDERR, None)
    assert newer.newer and newer.built_for == "NumPy 2.0"
    older = abi_direction("A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.0.2", "2.0.2")
    assert not older.newer
    assert abi_direction(
        "module compiled against ABI version 0x2000000 but this version of numpy is 0x1000009", None
    ).newer
    assert not abi_direction(
        "module compiled against ABI version 0x1000009 but this version of numpy is 0x2000000", None
    ).newer
    # Only a consequence line: the running NumPy tells (under NumPy 1 the module was built for 2).
    assert abi_direction("ImportError: numpy._core.multiarray failed to import", "1.26.4").newer
    assert not abi_direction("ImportError: numpy.core.multiarray failed to import", "2.1.0").newer


def test_with_tensorflow_capping_numpy_the_import_fix_still_keeps_numpy():
    diagnosis = classify_import_failure(
        NUMPY2_BUILD_STDERR,
        target_python="python",
        tf_minor="2.17",
        declared={"ml-dtypes": "<0.5.0,>=0.3.1", "numpy": "<2.0.0,>=1.23.5"},
        numpy_version="1.26.4",
    )
    assert diagnosis.fixes[0].argv[-2:] == ("ml_dtypes<0.5.0,>=0.3.1", "numpy==1.26.4")
    assert "upgrade NumPy" not in diagnosis.hint


def test_the_report_shows_one_root_cause_not_two():
    closure = {
        "id": "compat.closure",
        "family": "compat",
        "status": "fail",
        "summary": "ml_dtypes 0.7.0 requires numpy>=2.0.0, but numpy 1.26.4 is installed",
        "details": [],
        "hint": "python -m pip install ...",
        "data": {"modules": ["ml_dtypes", "numpy"]},
    }
    imports = {
        "id": "runtime.import",
        "family": "runtime",
        "status": "fail",
        "summary": "import tensorflow failed: ml_dtypes was compiled for NumPy 2.0",
        "details": [],
        "hint": "python -m pip install ...",
        "data": {"raised_in": "ml_dtypes", "diagnosis": "numpy-abi"},
        # as runtime.import links a failure raised in a module (checks/runtime.py)
        "explained_by": ["env.shadowing", "compat.closure", "compat.numpy", "compat.tensorflow"],
    }
    load = {
        "id": "load.real",
        "family": "load",
        "status": "fail",
        "summary": "load_data() failed",
        "details": [],
        "hint": None,
        "data": {"category": "import"},
        "explained_by": ["env", "compat", "runtime", "network.http"],
    }
    (problem,) = summarize([closure, imports, load])["problems"]
    assert problem["checks"][0] == "compat.closure" and set(problem["checks"]) == {
        "compat.closure",
        "runtime.import",
        "load.real",
    }


# --- the scan of compiled files ---------------------------------------------------------------


def test_a_build_breaks_under_a_numpy_it_was_not_built_for():
    assert NumpyBuild("x", 2, 0, (Version("2.0"),)).breaks_under(Version("1.26.4"))
    assert NumpyBuild("x", 2, 0, (Version("1.23"),)).breaks_under(Version("1.26.4")) is None
    assert NumpyBuild("x", 2, 0, (Version("1.23"),)).breaks_under(Version("2.4.6")) is None
    assert NumpyBuild("x", 2, 1).breaks_under(Version("2.0.2"))
    assert NumpyBuild("x", 2, 1).breaks_under(Version("1.26.4")) is None
    assert NumpyBuild("x", 2, 0, (Version("2.0"),)).breaks_under(Version("2.0.0rc1")) is None
    hostile = parse({"builds": [{"name": "x", "targets": ["2.0", "garbage", 7], "files": "many"}, "no", {}]})
    assert hostile == {"x": NumpyBuild("x", 0, 0, (Version("2.0"), Version("7")))}
    assert parse({"builds": "nope"}) == {} and parse(None) == {}


@pytest.mark.usefixtures("target_interpreter")
def test_the_scan_reads_numpys_marks_from_compiled_files_and_nothing_else(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    new = add_dist(site, "ml_dtypes", "0.7.0", ["numpy>=2.0.0"])
    add_extension(site, new, "ml_dtypes", "2.0")
    old = add_dist(site, "oldext", "1.0", ["numpy<2"])
    add_extension(site, old, "oldext", None)
    hostile = add_dist(site, "hostile", "1.0", ["numpy>=2"])
    os.mkfifo(site / "hostile_fifo.so")  # a FIFO would block a read forever
    outside = tmp_path / "outside.so"
    outside.write_bytes(b"compiled against NumPy C-API version 0x%x (NumPy 9.9)")
    (site / "link.so").symlink_to(outside)
    (hostile / "RECORD").write_text(
        f'hostile_fifo.so,,\n../outside.so,,\nlink.so,,\n{outside},,\n"unclosed,\n\x00,,\n', encoding="utf-8"
    )
    run = run_script(
        sys.executable,
        "numpy_builds.py",
        ["ml-dtypes", "oldext", "hostile", "absent"],
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert run.answer is not None, run.stderr
    builds = parse(run.answer)
    assert builds["ml-dtypes"].targets == (Version("2.0"),) and builds["ml-dtypes"].numpy1_files == 0
    assert builds["oldext"].numpy1_files == 1 and builds["oldext"].targets == ()
    # Only the FIFO is inside the folder: listed, not read; nothing outside is read at all.
    assert builds["hostile"].targets == () and builds["hostile"].files == 1
    assert builds["absent"].files == 0


@pytest.mark.usefixtures("target_interpreter")
def test_the_introspection_keeps_every_requirement_and_survives_hostile_metadata(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    odd = site / "odd-1.0.dist-info"
    odd.mkdir()
    license_text = "License: MIT\n        \n        Version: 666 (part of the license text)\n"
    (odd / "METADATA").write_bytes(
        b"Metadata-Version: 2.1\nName: odd\nVersion: 1.0\n"
        + license_text.encode()
        + b"Requires-Dist: numpy>=\xff\xfe\nRequires-Dist: fine>=1\n\nRequires-Dist: body-not-header\n"
    )
    (odd / "WHEEL").write_text("Wheel-Version: 1.0\nRoot-Is-Purelib: false\n")
    huge = site / "huge-1.0.dist-info"
    huge.mkdir()
    (huge / "METADATA").write_text(
        "Name: huge\nVersion: 1.0\n" + "Requires-Dist: filler>=1\n" * 200_000, encoding="utf-8"
    )
    os.mkfifo(huge / "WHEEL")
    run = run_script(
        sys.executable,
        "introspect.py",
        ["https://example.invalid/mnist.npz"],
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=str(tmp_path),
    )
    assert run.answer is not None, run.stderr
    rows = {d["key"]: d for d in run.answer["distributions"] if d.get("key") in ("odd", "huge")}
    assert rows["odd"]["version"] == "1.0"  # a folded License line is not a Version header
    assert rows["odd"]["requires"] == ["numpy>=\ufffd\ufffd", "fine>=1"] and rows["odd"]["purelib"] is False
    assert rows["huge"]["purelib"] is None and 10_000 < len(rows["huge"]["requires"]) < 200_000


# --- e2e: the real wheels ---------------------------------------------------------------------

UV = shutil.which("uv")


def _uv(*args: str) -> subprocess.CompletedProcess[str]:
    """uv from the warm cache first, the package index only when the cache lacks a file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_FIND_LINKS", "VIRTUAL_ENV"))}
    assert UV is not None
    for offline in ("1", ""):
        done = subprocess.run([UV, *args], capture_output=True, text=True, env={**env, "UV_OFFLINE": offline})
        if done.returncode == 0:
            return done
    return done


@pytest.fixture(scope="module")
def ml_dtypes_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TensorFlow 2.21 and Keras 3.15.1 as resolved, then NumPy 1.26.4 with ml_dtypes 0.7.0 (which
    requires numpy>=2.0.0 and is compiled for NumPy 2.0): a NumPy inside TensorFlow's range."""
    if UV is None:
        pytest.skip("uv is not on PATH")
    root = tmp_path_factory.mktemp("closure") / "venv"
    subprocess.run([UV, "venv", "-q", "-p", sys.executable, str(root)], check=True, capture_output=True)
    python = root / "bin" / "python"
    for step in (
        ("tensorflow==2.21.0", "numpy==2.4.6", "keras==3.15.1"),
        ("--no-deps", "numpy==1.26.4", "ml-dtypes==0.7.0"),
    ):
        done = _uv("pip", "install", "-q", "--python", str(python), *step)
        if done.returncode != 0:
            pytest.skip(f"cannot install {step}: {done.stderr.strip()[-300:]}")
    return python


def test_the_real_case_is_one_root_cause_and_its_printed_fix_makes_tensorflow_import(
    doctor, ml_dtypes_venv: Path
):
    python = str(ml_dtypes_venv)
    env = {"PATH": os.environ["PATH"], "COLUMNS": "2000"}
    broken = subprocess.run([python, "-c", "import tensorflow"], capture_output=True, text=True, timeout=300)
    assert broken.returncode != 0 and "C-API version 0x12 (NumPy 2.0)" in broken.stderr
    run = doctor("--python", python, "--offline", "--format", "json", "--timeout", "240", env_extra=env)
    assert run.code == 1, run.stderr
    results = {r["id"]: r for r in run.json["results"]}
    closure = results["compat.closure"]
    assert closure["status"] == "fail", closure
    assert closure["summary"].startswith(
        "ml_dtypes 0.7.0 requires numpy>=2.0.0, but numpy 1.26.4 is installed"
    )
    assert closure["data"]["unmet"][0]["built_for"]["targets"] == ["2.0"]
    imports = results["runtime.import"]
    assert imports["data"]["diagnosis"] == "numpy-abi" and imports["data"]["raised_in"] == "ml_dtypes"
    assert "compiled for NumPy 2.0 and cannot run with NumPy 1.26.4" in imports["summary"]
    (problem,) = run.json["diagnosis"]["problems"]
    assert problem["checks"][:2] == ["compat.closure", "runtime.import"]
    (fix,) = closure["fixes"]
    assert fix["argv"][-2:] == ["ml_dtypes<1.0.0,>=0.5.1", "numpy==1.26.4"]
    assert shlex.split(fix["command"]) == fix["argv"]
    # Applied as printed (uv venvs have no pip: the hint is uv's), the warm cache first.
    applied = subprocess.run(
        fix["argv"], capture_output=True, text=True, env={**os.environ, "UV_OFFLINE": "1"}, timeout=300
    )
    if applied.returncode != 0:
        applied = subprocess.run(fix["argv"], capture_output=True, text=True, timeout=300)
    assert applied.returncode == 0, applied.stderr
    works = subprocess.run(
        [
            python,
            "-c",
            "import tensorflow as tf, numpy, ml_dtypes; print(numpy.__version__, ml_dtypes.__version__)",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert works.returncode == 0, works.stderr[-2000:]
    numpy_version, ml_dtypes_version = works.stdout.split()[-2:]
    assert numpy_version == "1.26.4" and Version(ml_dtypes_version) < Version("0.6.1")
    again = doctor("--python", python, "--offline", "--format", "json", "--select", "compat", env_extra=env)
    assert {r["id"]: r["status"] for r in again.json["results"]}["compat.closure"] == "ok"
