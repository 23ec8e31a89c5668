"""The network probe's answer is read by shape at the boundary (unit tier, no subprocess).

The walk's answer comes from the examined interpreter: a value of another kind (a string where
the script prints true/false, a number where it prints a list, a stage name it never emits, a
list no script prints) is refused as a whole with its place named, and the checks say the probe
gave no verdict, never a traceback. Free text (an exception's message) is kept whatever its
characters: the one exit for text escapes it.
"""

from __future__ import annotations

from typing import Any

import pytest

from mnist_doctor.checks.network import StageCheck
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.facts import Options
from mnist_doctor.facts.answers.introspection import WrongShape
from mnist_doctor.facts.answers.network import MAX_ITEMS, STAGE_NAMES, Measurement, ProbeError, StageRecord
from mnist_doctor.facts.net_probe import (
    NetworkProbes,
    RequestsProbe,
    UrllibProbe,
    read_measurements,
    read_walk,
)
from mnist_doctor.facts.proxies import ProxyView
from mnist_doctor.model import Status

DNS = {
    "name": "dns",
    "ok": True,
    "host": "storage.googleapis.com",
    "addresses": ["127.0.0.1"],
    "elapsed_s": 0.01,
}
TLS_FAILED = {
    "name": "tls",
    "ok": False,
    "x509_strict": True,
    "strict_retry": {"relaxed_verifies": True, "python": "3.13.1"},
    "chain": [{"subject_cn": "storage.googleapis.com", "issuer_cn": "Corp CA", "self_signed": False}],
    "error": {"type": "SSLCertVerificationError", "message": "certificate verify failed", "verify_code": 89},
}
VIEW = {"request_type": "https", "env": {"HTTPS_PROXY": "http://p:3128"}, "proxy": "http://p:3128"}


def answer(*stages: dict[str, Any], **more: Any) -> dict[str, Any]:
    planned = [s["name"] for s in stages if s.get("name") in STAGE_NAMES]
    return {"stages": list(stages), "planned": planned, "proxy_view": VIEW, **more}


def test_a_well_formed_walk_is_read_into_typed_records() -> None:
    stages, planned, view, direct, problem = read_walk(answer(DNS, TLS_FAILED), "", MNIST)
    assert problem is None and planned == ("dns", "tls")
    dns, tls = stages
    assert dns.addresses == ("127.0.0.1",) and dns.ok and dns.error is None
    assert tls.err.verify_code == 89 and tls.chain[0].issuer_cn == "Corp CA"
    assert tls.strict_retry is not None and tls.strict_retry.relaxed_verifies is True
    assert view.proxy == "http://p:3128" and view.env == {"HTTPS_PROXY": "http://p:3128"}
    assert not direct.tried
    assert tls.to_dict() == TLS_FAILED  # the report's data.record is what the target printed


@pytest.mark.parametrize(
    ("walk", "reason"),
    [
        (answer({"ok": True}), "stages[0] has no name"),
        (answer({**DNS, "ok": "yes"}), "stages[0].ok is a string, not true or false"),
        (answer(DNS, {**TLS_FAILED, "chain": 5}), "stages[1].chain is an integer, not a list"),
        (answer({**TLS_FAILED, "error": "boom"}), "stages[0].error is a string, not an object"),
        (answer({**TLS_FAILED, "error": {"type": 1}}), "stages[0].error.type is an integer, not a string"),
        (answer({**DNS, "port": "443"}), "stages[0].port is a string, not an integer"),
        (
            answer({**DNS, "elapsed_s": None, "timeout_s": "5"}),
            "stages[0].timeout_s is a string, not a number",
        ),
        (answer({**DNS, "name": "ftp"}), "stages[0].name is 'ftp', not one of dns, tcp, connect, tls, http"),
        # A name that is not UTF-8 text (a lone surrogate from a \\udcxx escape) is no stage name.
        (answer({**DNS, "name": "dns\udcff"}), "stages[0].name is 'dns\\udcff', not one of"),
        (answer({**DNS, "name": ["dns"]}), "stages[0].name is a list, not one of"),
        ({"stages": {"dns": DNS}}, "stages is an object, not a list"),
        ({"stages": [DNS] * (MAX_ITEMS + 1)}, f"stages has {MAX_ITEMS + 1} items, more than {MAX_ITEMS}"),
        (answer({**TLS_FAILED, "chain": [{}] * 10_000}), "stages[0].chain has 10000 items, more than 64"),
        (answer({**DNS, "addresses": ["1.2.3.4"] * 100_000}), "stages[0].addresses has 100000 items"),
        ({**answer(DNS), "planned": ["dns", "gopher"]}, "planned[1] is 'gopher', not one of"),
        (
            {**answer(DNS), "proxy_view": {"env": {"HTTPS_PROXY": 3128}}},
            "proxy_view.env.HTTPS_PROXY is an integer",
        ),
        ({**answer(DNS), "direct": {"tried": "yes"}}, "direct.tried is a string, not true or false"),
    ],
)
def test_a_walk_of_another_shape_is_refused_naming_the_place(walk: dict[str, Any], reason: str) -> None:
    stages, planned, _, _, problem = read_walk(walk, "", MNIST)
    assert stages == () and planned == ()
    assert problem is not None and problem.startswith("the walk's answer is malformed: ")
    assert reason in problem


def test_free_text_is_kept_whatever_its_characters() -> None:
    """An OSError naming a non-UTF-8 file: its message is evidence, escaped later, not refused."""
    odd = {**TLS_FAILED, "error": {"type": "FileNotFoundError", "message": "No such file: '/ca/\udcff.pem'"}}
    (tls,), _, _, _, problem = read_walk(answer(odd), "", MNIST)
    assert problem is None and tls.err.message.endswith("\udcff.pem'")


def test_stage_lines_of_a_killed_walk_are_read_by_shape_too() -> None:
    """Lines printed before a kill: a begin without its end is a stuck stage; junk lines are none."""
    from mnist_doctor.probing.subproc import STAGE_MARKER

    lines = [
        STAGE_MARKER + '{"name": "dns", "event": "end", "ok": true}',
        STAGE_MARKER + '["not", "a", "stage"]',
        STAGE_MARKER + '{"event": "end"}',
        STAGE_MARKER
        + '{"name": "tcp", "event": "begin", "timeout_s": 1.5, "cap_s": 5.0, "deadline_limited": true}',
    ]
    (dns, tcp), planned, _, _, problem = read_walk({}, "\n".join(lines), MNIST)
    assert problem is None and planned == ("dns", "tcp")
    assert dns.ok and tcp.stuck and tcp.deadline_limited and tcp.timeout_s == 1.5
    junk = STAGE_MARKER + '{"name": "tcp", "event": "end", "ok": 1}'
    assert (
        read_walk({}, junk, MNIST)[4]
        == "the walk's answer is malformed: stages[0].ok is an integer, not true or false"
    )


def test_the_checks_say_a_malformed_walk_gave_no_verdict() -> None:
    _, _, view, direct, problem = read_walk(answer({**DNS, "ok": "yes"}), "", MNIST)
    probe = UrllibProbe((), (), view, 9.0, 1.0, error=problem, direct=direct)
    result = StageCheck("dns", "DNS").run(
        NetworkProbes(probe, RequestsProbe(ok=False), 9.0), MNIST, "python", Options(python="python")
    )
    assert result.status is Status.FAIL
    assert result.summary == (
        "the network probe did not run: the walk's answer is malformed: "
        "stages[0].ok is a string, not true or false"
    )


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (
            [{"name": "throughput:0", "ended": "teleported"}],
            "throughput[0].ended is 'teleported', not one of",
        ),
        ([{"name": "throughput:0", "ended": "eof", "bytes": "many"}], "throughput[0].bytes is a string"),
        ([{"ended": "eof"}], "throughput[0] has no name"),
        ([{"name": "throughput:0", "stuck": "no"}], "throughput[0].stuck is a string, not true or false"),
        ([{"name": f"throughput:{i}"} for i in range(1000)], "throughput has 1000 items, more than 64"),
        ({"throughput:0": {}}, "throughput is an object, not a list"),
    ],
)
def test_a_measurement_of_another_shape_is_refused_naming_the_place(values: object, reason: str) -> None:
    with pytest.raises(WrongShape) as refused:
        read_measurements(values)
    assert reason in str(refused.value)


def test_measurements_are_typed_and_a_stuck_one_is_none() -> None:
    found = read_measurements(
        [
            {"name": "throughput:0", "ended": "window", "bytes": 4096, "rate_bps": 2048.0, "elapsed_s": 2},
            {"name": "throughput:1", "stuck": True},
        ]
    )
    assert found == {"throughput:0": Measurement(ended="window", bytes=4096, elapsed_s=2, rate_bps=2048.0)}


def test_records_parse_alone_with_named_reasons() -> None:
    with pytest.raises(WrongShape, match=r"^error\.verify_code is a string, not an integer$"):
        ProbeError.parse({"type": "SSLError", "message": "x", "verify_code": "20"})
    with pytest.raises(WrongShape, match=r"^stage is a list, not an object$"):
        StageRecord.parse([])
    with pytest.raises(WrongShape, match=r"^proxy_view is a string, not an object$"):
        ProxyView.parse("http://p:3128", MNIST)
