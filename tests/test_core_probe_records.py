"""The import probe's and the introspection's answers are read by shape into records (unit tier).

Like the network walk (``test_core_net_records.py``): a value of another kind is refused with
its place named, and the check says so, never a traceback. Before, ``runtime.import`` read the
stages with ``.get`` and crashed on the first one of another kind (a ``chain`` that is a string
was spread into text letter by letter; a ``__version__`` that is a number raised ``TypeError``
inside ``packaging``).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from mnist_doctor.checks.runtime import ImportWorks
from mnist_doctor.facts import Options, import_probe
from mnist_doctor.facts.answers import introspection as introspected
from mnist_doctor.facts.answers import network as net_records
from mnist_doctor.facts.answers.introspection import Introspection, PythonInfo, SslInfo, TrustInfo, WrongShape
from mnist_doctor.facts.flavour import KerasFlavour
from mnist_doctor.facts.import_probe import ImportProbe, ModuleSeen, read_answer
from mnist_doctor.facts.introspection import Distributions
from mnist_doctor.model import Status
from mnist_doctor.probing.subproc import ScriptRun

NUMPY = {"name": "numpy", "ok": True, "started": True, "value": {"version": "1.26.4", "file": "/np.py"}}
TF = {"name": "tensorflow", "ok": True, "value": {"version": "2.16.1"}, "elapsed_s": 2.5}
KERAS = {
    "name": "tf.keras",
    "ok": True,
    "value": {"version": "3.3.3", "kind": "keras3", "backend": "tensorflow"},
}
ANSWER = {"stages": [NUMPY, TF, KERAS], "done": True, "mode": "tf", "env": {"TF_USE_LEGACY_KERAS": None}}


def probe(answer: dict[str, Any] | None) -> ImportProbe:
    return ImportProbe(ScriptRun(["python"], 0, "", "", 3.0, answer=answer), "tf")


def test_a_well_formed_answer_is_read_into_typed_stages() -> None:
    read = probe(ANSWER)
    assert read.malformed is None and read.finished and read.env == {"TF_USE_LEGACY_KERAS": None}
    assert read.seen("tf.keras", "keras") == ModuleSeen("3.3.3", "keras3", "tensorflow")
    assert read.seen("numpy").version == "1.26.4" and read.failed_stage() is None
    assert read.stages["numpy"] is NUMPY  # the report's data.stages: what the script printed


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({**ANSWER, "stages": [{"ok": True}]}, "stages[0] has no name"),
        ({**ANSWER, "stages": [{**NUMPY, "ok": "true"}]}, "stages[0].ok is a string, not true or false"),
        (
            {**ANSWER, "stages": [{**NUMPY, "chain": "ImportError: x"}]},
            "stages[0].chain is a string, not a list",
        ),
        ({**ANSWER, "stages": [{**TF, "value": {"version": 2.16}}]}, "stages[0].value.version is a number"),
        (
            {**ANSWER, "stages": [{**KERAS, "value": {"kind": "keras\udcff"}}]},
            "stages[0].value.kind is 'keras\\udcff'",
        ),
        ({**ANSWER, "stages": [NUMPY] * 65}, "stages has 65 items, more than 64"),
        ({**ANSWER, "stages": [{**NUMPY, "chain": ["x"] * 1000}]}, "stages[0].chain has 1000 items"),
        ({**ANSWER, "done": "yes"}, "done is a string, not true or false"),
        (
            {**ANSWER, "env": {"TF_USE_LEGACY_KERAS": 1}},
            "env.TF_USE_LEGACY_KERAS is an integer, not a string",
        ),
        ({**ANSWER, "stages": "numpy"}, "stages is a string, not a list"),
    ],
)
def test_an_answer_of_another_shape_is_refused_naming_the_place(answer: dict[str, Any], reason: str) -> None:
    with pytest.raises(WrongShape) as refused:
        read_answer(answer)
    assert reason in str(refused.value)
    read = probe(answer)
    assert read.malformed is not None and reason in read.malformed
    assert read.records == () and read.stages == {} and not read.finished


def test_runtime_import_names_a_malformed_answer_instead_of_crashing() -> None:
    hostile = {**ANSWER, "stages": [{**NUMPY, "ok": False, "chain": "ImportError: x"}]}
    result = ImportWorks().run(
        probe(hostile),
        KerasFlavour("keras3", "tf.keras", "keras", None, None, None, ""),
        Distributions(),
        "python",
        Options(python="python"),
        {},
        {},
    )
    assert result.status is Status.FAIL
    assert result.summary == (
        "python gave the import probe a malformed answer: stages[0].chain is a string, not a list"
    )


def test_no_answer_is_no_stage_not_a_refusal() -> None:
    read = probe(None)
    assert read.malformed is None and read.records == () and not read.finished


def test_the_introspections_sections_are_typed_records() -> None:
    parsed = Introspection.parse(
        {
            "schema": 1,
            "python": {"version": [3, 11, 7], "platform": "linux", "executable": "/py"},
            "ssl": {"cafile": "/ca.pem", "default_store": {"x509_ca": 140}, "x509_strict": True},
            "trust": {"hooks": [{"kind": "pth", "path": "/x.pth", "mentions": []}], "pip_config": {}},
        }
    )
    assert parsed.python == PythonInfo(executable="/py", version=(3, 11, 7), platform="linux")
    assert parsed.ssl == SslInfo(cafile="/ca.pem", x509_strict=True, store_ca_count=140)
    assert parsed.trust.hooks[0].path == "/x.pth" and parsed.trust == TrustInfo(hooks=parsed.trust.hooks)
    with pytest.raises(WrongShape, match=r"^ssl\.default_store\.x509_ca is a string, not an integer$"):
        Introspection.parse({"ssl": {"default_store": {"x509_ca": "140"}}})


@pytest.mark.parametrize(
    ("record", "shape", "read"),
    [
        (net_records.StageRecord, net_records.STAGE, {"raw"}),
        (net_records.ProbeError, net_records.ERROR, set()),
        (net_records.CertInfo, net_records.CERT, set()),
        (net_records.StrictRetry, net_records.STRICT_RETRY, set()),
        (net_records.DirectRoute, net_records.DIRECT, set()),
        (net_records.Measurement, net_records.THROUGHPUT, set()),
        (import_probe.ImportStage, import_probe.STAGE, set()),
        (import_probe.ModuleSeen, import_probe.MODULE_SEEN, set()),
        (PythonInfo, introspected.ANSWER.fields["python"].shape, set()),
        (SslInfo, introspected.ANSWER.fields["ssl"].shape, {"store_ca_count"}),
        (introspected.UrllibInfo, introspected.ANSWER.fields["urllib"].shape, set()),
        (
            TrustInfo,
            introspected.ANSWER.fields["trust"].shape,
            {"pip_system_certs_loaded", "pip_system_certs_injected"},
        ),
    ],
)
def test_every_field_a_record_fills_from_the_answer_is_vouched_for_by_its_shape(
    record: type, shape: Any, read: set[str]
) -> None:
    """``record_of`` fills a field from the key of the same name: that key must have a shape."""
    names = {f.name for f in fields(record)}
    assert names - read <= set(shape.fields), names - read - set(shape.fields)
