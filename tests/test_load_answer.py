"""The load probe's answer is read once, by shape, into a typed outcome per loader.

The answer comes from the examined interpreter, so it is hostile input like any other: a value of
another kind, a stage without its name, a loader the doctor did not ask for refuse the answer as a
whole, with the place named, and the check still says something — never a traceback. A source test
keeps MNIST a row of the dataset table, not a branch.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_doctor.causes.load import diagnose
from mnist_doctor.checks.load import loader_result
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.datasets.table import default_loader, table
from mnist_doctor.facts import Facts, Options
from mnist_doctor.facts.answers.introspection import WrongShape
from mnist_doctor.facts.answers.load import FAILED, NOT_REACHED, OK, REFUSED, read_answer
from mnist_doctor.facts.load_probe import LoadProbe
from mnist_doctor.model import Status
from mnist_doctor.probing.subproc import ScriptRun

PACKAGE = Path(__file__).resolve().parent.parent / "mnist_doctor"
DNS = (
    "URL fetch failure on https://storage.googleapis.com/m.npz: None -- [Errno -2] Name or service not known"
)


def good_answer() -> dict[str, Any]:
    """MNIST loaded at the top level, cifar10 failed under ``loaders`` (the shape the script emits)."""
    return {
        "schema": 1,
        "mode": "tf",
        "done": True,
        "env": {"TF_USE_LEGACY_KERAS": None, "HOME": "/home/u"},
        "proxy": {
            "scheme": "http",
            "host": "proxy",
            "port": 3128,
            "has_credentials": True,
            "bypassed": False,
        },
        "get_file": {"args": {"fname": "mnist.npz", "origin": MNIST.origin, "file_hash": MNIST.sha256}},
        "stages": [
            {"name": "numpy", "ok": True, "value": {"version": "1.26.4"}},
            {"name": "tensorflow", "ok": True},
            {"name": "tf.keras", "ok": True, "value": {"kind": "keras3"}},
            {
                "name": "load_data",
                "ok": True,
                "value": {
                    "arrays": {
                        "x_train": {"shape": [60000, 28, 28], "dtype": "uint8"},
                        "y_train": {
                            "shape": [60000],
                            "dtype": "uint8",
                            "min": 0,
                            "max": 9,
                            "class_counts": [1] * 10,
                        },
                    },
                    "elapsed_s": 0.4,
                    "file": {"path": "/home/u/.keras/datasets/mnist.npz", "size": 11490434, "sha256": "ab"},
                },
            },
            {
                "name": "preprocess",
                "ok": True,
                "value": {"min": 0.0, "max": 1.0, "shape": [60000, 28, 28, 1]},
            },
            {
                "name": "load_data:cifar10",
                "ok": False,
                "exception": {"type": "builtins.Exception", "message": DNS, "chain": [], "traceback": "T"},
                "error_type": "builtins.Exception",
                "error": DNS,
            },
        ],
        "loaders": {
            "cifar10": {
                "status": "failed",
                "call": "tf.keras.datasets.cifar10.load_data()",
                "get_file": [
                    {"fname": "cifar-10-batches-py", "origin": "https://www.cs.toronto.edu/c.tar.gz"}
                ],
                "left_behind": [{"path": "/home/u/.keras/datasets/c.tar.gz", "size": 3, "looks_html": True}],
            }
        },
    }


def test_a_well_formed_answer_becomes_one_typed_outcome_per_loader() -> None:
    read = read_answer(good_answer(), "mnist", ("cifar10",))
    mnist, cifar = read.loaders["mnist"], read.loaders["cifar10"]
    assert mnist.status == OK and mnist.succeeded and mnist.arrays["y_train"].high == 9
    assert mnist.files[0].size == 11490434 and mnist.calls[0].origin == MNIST.origin
    assert mnist.preprocess is not None and mnist.preprocess.shape == (60000, 28, 28, 1)
    assert cifar.status == FAILED and cifar.stage is not None and cifar.stage.exception is not None
    assert cifar.stage.exception.message == DNS and cifar.left_behind[0].looks_html
    assert read.proxy is not None and read.proxy.label == "http://proxy:3128"
    assert [s.name for s in read.imports] == ["numpy", "tensorflow", "tf.keras"]


def _with(path: str, value: object) -> dict[str, Any]:
    """The good answer with the value at ``path`` (dotted, list indexes as numbers) replaced."""
    answer = good_answer()
    *parents, last = path.split(".")
    here: Any = answer
    for key in parents:
        here = here[int(key)] if isinstance(here, list) else here[key]
    if isinstance(here, list):
        here[int(last)] = value
    else:
        here[last] = value
    return answer


HOSTILE = {
    "not an object": ([1, 2], "the answer is a list"),
    "stages not a list": (_with("stages", "numpy"), "stages is a string"),
    "a stage without its name": (_with("stages.0", {"ok": True}), "stages[0] has no name"),
    "a stage without ok": (_with("stages.1", {"name": "tensorflow"}), "stages[1] has no ok"),
    "ok as a string": (_with("stages.0.ok", "yes"), "stages[0].ok is a string"),
    "an exception message as a number": (_with("stages.5.exception.message", 7), "message is an integer"),
    "a shape of strings": (
        _with("stages.3.value.arrays.x_train.shape", ["60000"]),
        "x_train.shape[0] is a string",
    ),
    "a file without its path": (
        _with("loaders.cifar10.left_behind.0", {"size": 3}),
        "left_behind[0] has no path",
    ),
    "a size as a string": (_with("stages.3.value.file.size", "11 MB"), "file.size is a string"),
    "an origin as a number": (_with("get_file.args.origin", 443), "origin is an integer"),
    "a proxy port as a string": (_with("proxy.port", "3128"), "proxy.port is a string"),
    "an env value as a list": (_with("env.HOME", ["/home/u"]), "env.HOME is a list"),
    "preprocess max as text": (_with("stages.4.value.max", "1.0"), "preprocess.value.max is a string"),
    "an unknown loader": (
        _with("loaders.evil", {"status": "ok"}),
        "loaders.evil is a loader the doctor did not ask",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_answer_is_refused_by_shape_naming_the_place(name: str) -> None:
    answer, said = HOSTILE[name]
    with pytest.raises(WrongShape) as refused:
        read_answer(answer, "mnist", ("cifar10",))
    assert said in str(refused.value), str(refused.value)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_refused_answer_is_read_as_no_answer_and_the_check_says_why(name: str) -> None:
    """No traceback anywhere: the probe records the refusal, the cause and the check still answer."""
    answer, said = HOSTILE[name]
    run = ScriptRun([sys.executable], 0, "", "", 1.0, answer=answer)  # type: ignore[arg-type]  # hostile
    probe = LoadProbe(run, "tf", others=("cifar10",))
    assert probe.shape_error is not None and said in probe.shape_error
    assert probe.outcome("mnist").status == NOT_REACHED and probe.run.answer is None
    assert diagnose(probe, host=MNIST.host, target_python=sys.executable).name.startswith(
        ("import-", "crash")
    )
    facts = Facts(Options(python=sys.executable))
    facts.provide("load_probe", probe)
    facts.provide("keras_flavour", None)  # recorded as unknown: no introspection runs here
    facts.provide("distributions", None)
    result = loader_result(facts, facts.options, default_loader(), MNIST, sys.executable)
    assert result.status is Status.FAIL
    assert any(f"the probe's answer was refused: {probe.shape_error}" == d for d in result.details)


def test_a_loader_record_the_target_refused_is_refused_with_its_reason() -> None:
    answer = good_answer()
    answer["loaders"]["cifar10"] = {"status": "refused", "reason": "the doctor could not keep x safe"}
    outcome = read_answer(answer, "mnist", ("cifar10",)).loaders["cifar10"]
    assert (outcome.status, outcome.reason, outcome.stage) == (
        REFUSED,
        "the doctor could not keep x safe",
        None,
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["stages", "loaders", "get_file", "left_behind", "tls", "refused", "proxy", "env", "mode"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, JSON, max_size=5))
def test_any_json_answer_is_read_or_refused_never_a_traceback(answer: dict[str, Any]) -> None:
    with contextlib.suppress(WrongShape):
        read_answer(answer, "mnist", ("cifar10",))


def test_no_mnist_branch_outside_the_dataset_table_and_the_defaults() -> None:
    """MNIST is a row of ``data/datasets.toml``: no code compares a name with it.

    Allowed: the table itself (``datasets/table.py`` names its default loader) and the API's default
    selection (``Options.datasets``, the same as the CLI's ``DEFAULT_DATASETS``). Everything else
    reads the row (``Dataset.is_default``, ``selection``, ``main_file``).
    """
    allowed = {PACKAGE / "datasets" / "table.py"}
    compared = re.compile(r"""(==|!=|\bin)\s*\(?\s*\[?["']mnist["']|["']mnist["']\s*(==|!=|\bin\b)""")
    named = re.compile(r"""["']mnist["']""")
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in allowed:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if compared.search(line) or (named.search(line) and "datasets: tuple[str, ...] = " not in line):
                found.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
    assert json.dumps(sorted(table())) and default_loader().name in table()
