"""Silence is a finding: the verdict logic, in-process (unit tier).

A stage that ends without an answer is one of two things, kept apart by what the target script
records (``timeout_s`` given, ``cap_s`` its own cap, ``deadline_limited``): the doctor's budget
ended it before its own cap (no verdict, more time is the cure), or the remote stayed silent for
the whole cap (a fail, naming who). The real walks against silent servers are in
``test_proxy_connect.py``, ``test_network_stages.py`` and ``test_online_standin.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from mnist_doctor.checks.network import StageCheck
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.facts import Options
from mnist_doctor.facts.answers.network import DirectRoute, StageRecord
from mnist_doctor.facts.net_probe import NetworkProbes, RequestsProbe, UrllibProbe
from mnist_doctor.facts.proxies import ProxyView
from mnist_doctor.pipeline.fix_outcome import reconcile
from mnist_doctor.pipeline.summary import summarize

PROXY = "http://127.0.0.1:3129"


def record(name: str, **fields: Any) -> StageRecord:
    """A stage record shaped like the target script's (see target/net_probe.py run_stages)."""
    base = {"name": name, "ok": True, "timeout_s": 5.0, "cap_s": 5.0, "deadline_limited": False}
    return StageRecord.parse({**base, **fields})


def timed_out(name: str, given: float, cap: float = 5.0, **fields: Any) -> StageRecord:
    error = {"type": "Timeout", "message": f"no answer within {given:.1f} s"}
    return record(
        name, ok=False, timed_out=True, timeout_s=given, cap_s=cap, deadline_limited=given < cap, error=error,
        **fields,
    )  # fmt: skip


def walk(
    *stages: StageRecord,
    proxy: str | None = PROXY,
    scheme: str = "https",
    killed: bool = False,
    limited: bool = True,
    direct: dict[str, Any] | None = None,
) -> UrllibProbe:
    planned = ["dns", "tcp", *(["connect"] if proxy and scheme == "https" else []), "tls", "http"]
    view = {"proxy": proxy, "request_type": scheme, "env": {"HTTPS_PROXY": proxy} if proxy else {}}
    return UrllibProbe(
        stages,
        tuple(planned),
        ProxyView.parse(view, MNIST),
        9.0,
        5.0,
        killed=killed,
        limited_by_budget=limited,
        direct=DirectRoute.parse(direct or {}),
    )


ROAD = (record("dns"), record("tcp", host="127.0.0.1", port=3129, via_proxy=True))


# ---------------------------------------------------------------- who stayed silent, and for how long


def test_silence_for_the_whole_cap_is_the_proxys_even_when_the_run_budget_was_tight() -> None:
    stage = timed_out("connect", given=5.0, reply_bytes=0)
    probe = walk(*ROAD, stage, limited=True)  # --timeout 10: the slice was the budget's, the cap was whole
    assert probe.silent(stage) and not probe.cut_by_budget(stage)
    assert probe.silent_party(stage) == "proxy"


def test_a_stage_the_budget_ended_before_its_cap_blames_nobody() -> None:
    stage = timed_out("connect", given=1.4)
    probe = walk(*ROAD, stage)
    assert probe.cut_by_budget(stage) and not probe.silent(stage)
    assert probe.silent_party(stage) is None


def test_a_slow_answer_within_the_cap_is_not_silence() -> None:
    stage = record("connect", elapsed_s=4.9, status=200)
    probe = walk(*ROAD, stage, record("tls"), record("http", status=206))
    assert probe.ok and not probe.silent(stage) and probe.silent_party(stage) is None


@pytest.mark.parametrize(
    ("stage", "scheme", "proxy", "party"),
    [
        ("connect", "https", PROXY, "proxy"),
        ("tls", "https", PROXY, "host"),  # through the tunnel: the host's handshake
        ("tls", "https", None, "host"),
        ("http", "https", PROXY, "host"),  # inside the tunnel
        ("http", "http", PROXY, "proxy"),  # a plain GET is sent to the proxy itself
        ("http", "http", None, "host"),
        ("dns", "https", None, None),  # a resolver accepts no connection: dns words its own
        ("tcp", "https", None, None),  # nor does a dropped connection attempt
    ],
)
def test_who_stayed_silent_follows_the_road(
    stage: str, scheme: str, proxy: str | None, party: str | None
) -> None:
    silent = timed_out(stage, given=5.0)
    assert walk(silent, proxy=proxy, scheme=scheme).silent_party(silent) == party


def test_a_probe_killed_mid_stage_by_the_runs_budget_is_ours_and_by_its_own_cap_is_not() -> None:
    stuck = record("tls", ok=False, stuck=True)
    assert walk(stuck, killed=True, limited=True).cut_by_budget(stuck)
    assert not walk(stuck, killed=True, limited=False).cut_by_budget(stuck)
    assert not walk(stuck).silent(stuck)  # no timeout was seen: "did not finish", not "silent"


# ---------------------------------------------------------------- what the check says


def connect_result(probe: UrllibProbe, timeout: float = 10.0) -> Any:
    probes = NetworkProbes(probe, RequestsProbe(ok=False), 9.0)
    return StageCheck("connect", "CONNECT").run(
        probes, MNIST, "python", Options(python="python", timeout=timeout)
    )


#: What the target's try without the proxy recorded (``direct_route`` in target/net_probe.py).
DIRECT_WORKS = {"tried": True, "ok": True, "host": "storage.googleapis.com", "port": 443}
DIRECT_FAILS = {
    **DIRECT_WORKS,
    "ok": False,
    "error": {"type": "gaierror", "message": "Name or service not known"},
}


def test_a_silent_proxy_fails_naming_its_address_and_dropping_it_when_the_host_answers_without() -> None:
    result = connect_result(walk(*ROAD, timed_out("connect", given=5.0, reply_bytes=0), direct=DIRECT_WORKS))
    assert result.status.value == "fail"
    assert result.summary.startswith("the proxy at 127.0.0.1:3129 accepts connections and never answers")
    assert "no reply to CONNECT within 5 s" in result.summary
    assert result.hint.startswith(
        "this machine reaches storage.googleapis.com without the proxy: `unset HTTPS_PROXY`; otherwise check"
    )
    assert "--timeout" not in result.hint and not result.data.get("cut_by_budget")
    silent = {"party": "proxy", "address": "127.0.0.1:3129", "stage": "connect", "waited_s": 5.0}
    assert result.data["silent"] == silent
    assert result.details == [
        "without the proxy, storage.googleapis.com:443 answers "
        "(TCP and a verified TLS handshake; no request sent)"
    ]


def test_a_silent_proxy_with_no_road_around_it_points_at_the_setting_and_the_offline_route() -> None:
    result = connect_result(walk(*ROAD, timed_out("connect", given=5.0), direct=DIRECT_FAILS))
    assert result.status.value == "fail" and "unset" not in result.hint
    assert result.hint.startswith("check HTTPS_PROXY: is 127.0.0.1:3129 the proxy this network uses?")
    assert "--seed FILE" in result.hint
    assert result.details == [
        "without the proxy, storage.googleapis.com:443 does not answer either: Name or service not known"
    ]


def test_a_proxy_that_started_answering_is_not_called_silent() -> None:
    result = connect_result(walk(*ROAD, timed_out("connect", given=5.0, reply_bytes=12)))
    assert result.status.value == "fail" and "never answers" not in result.summary
    assert "started answering CONNECT but did not finish its answer within 5 s" in result.summary


def test_a_tight_budget_says_so_with_the_seconds_the_stage_had_and_its_own_cap() -> None:
    result = connect_result(walk(*ROAD, timed_out("connect", given=1.4)), timeout=3)
    assert result.status.value == "warn" and result.data["cut_by_budget"]
    assert "after 1.4 s, before its own 5 s limit" in result.summary and "never answers" not in result.summary
    assert result.hint.startswith("mnist-doctor --timeout ")


def test_the_diagnosis_names_the_silent_proxy_as_the_problem() -> None:
    result = connect_result(walk(*ROAD, timed_out("connect", given=5.0)))
    row = {"id": "network.connect", "family": "network", "status": "fail", "summary": result.summary,
           "hint": result.hint, "details": result.details, "data": result.data}  # fmt: skip
    problem = summarize([row])["problems"][0]
    assert problem["title"] == "the proxy at 127.0.0.1:3129 accepts connections and never answers"


# ---------------------------------------------------------------- after --fix


def row(check_id: str, status: str, **data: Any) -> dict[str, Any]:
    return {"id": check_id, "status": status, "data": data}


def test_a_failure_the_recheck_did_not_judge_stays_a_failure() -> None:
    """The issue's run: the cache fix verified, the silent proxy cut from the re-check by the budget."""
    before = [row("network.connect", "fail"), row("cache.integrity", "fail"), row("env.shadowing", "ok")]
    after = [
        row("network.connect", "warn", cut_by_budget=True),
        row("cache.integrity", "ok"),
        row("env.shadowing", "ok"),
    ]
    outcome = reconcile(before, after)
    assert outcome.fixed == ("cache.integrity",) and outcome.not_rechecked == ("network.connect",)
    assert outcome.exit_code == 1
    assert any("network.connect" in line and "still counted as failing" in line for line in outcome.lines())


@pytest.mark.parametrize(
    "again",
    [
        row("network.connect", "skip"),
        row("runtime.import", "warn", budget_limited=True),
        None,  # the re-check could not run at all, or did not select it
    ],
)
def test_skipped_cut_or_absent_is_not_rechecked(again: dict[str, Any] | None) -> None:
    check_id = again["id"] if again else "network.connect"
    outcome = reconcile([row(check_id, "fail")], [again] if again else [])
    assert outcome.not_rechecked == (check_id,) and outcome.exit_code == 1


def test_fixed_still_failing_and_new_failures_are_told_apart() -> None:
    before = [row("a.x", "fail"), row("b.y", "error"), row("c.z", "fail"), row("d.w", "ok")]
    after = [row("a.x", "ok"), row("b.y", "fail"), row("c.z", "warn"), row("d.w", "fail")]
    outcome = reconcile(before, after)
    assert outcome.fixed == ("a.x", "c.z") and outcome.still_failing == ("b.y",) and outcome.new == ("d.w",)
    assert reconcile(before[:1], after[:1]).exit_code == 0
    strict = reconcile(before, after, strict=True)  # --strict: a warning is a failure
    assert "c.z" in strict.still_failing
