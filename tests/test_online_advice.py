"""The advice for what the host answers, and for a Python without ssl, in-process (unit tier).

tests/test_online_standin.py proves the same advice online, applying each fix; these pin the
rules for every status and header form without a process.
"""

from __future__ import annotations

import email.utils
import sys

import pytest

from mnist_doctor.causes import http_status
from mnist_doctor.causes.network import NO_SSL_SKIP, classify, missing_ssl, proxy_status_meaning
from mnist_doctor.checks.cache import replaced_online
from mnist_doctor.checks.load import slow_link_result
from mnist_doctor.checks.network import unfollowed_redirect, without_proxy
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.datasets.table import default_loader
from mnist_doctor.facts import Facts, FactUnavailable, Options, fact
from mnist_doctor.facts.answers.network import DirectRoute, StageRecord
from mnist_doctor.facts.net_probe import UrllibProbe
from mnist_doctor.facts.proxies import ProxyView
from mnist_doctor.model import BaseCheck, CheckResult, FixKind, Result, Status
from mnist_doctor.pipeline.engine import Engine

PY = sys.executable


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusal_offers_the_offline_route_with_the_exact_url_and_hash(status: int) -> None:
    advice = http_status.advise(status, None, MNIST, PY)
    assert "refuses this machine" in advice.meaning and not advice.fixes
    assert MNIST.origin in advice.hint and MNIST.sha256 in advice.hint and "--seed FILE" in advice.hint
    assert "no route" not in advice.hint


def test_a_missing_file_at_keras_url_points_to_a_mirror_and_at_a_given_url_to_that_url() -> None:
    own = http_status.advise(404, None, MNIST, PY)
    assert "Keras' own URL" in own.meaning and "--fetch --mirror URL" in own.hint
    mirror = MNIST.with_origin("https://mirror.example/data/mnist.npz")
    given = http_status.advise(404, None, mirror, PY)
    assert "https://mirror.example/data/mnist.npz" in given.meaning and "check the URL" in given.hint


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_busy_or_failing_host_gets_a_fetch_from_the_same_origin(status: int) -> None:
    advice = http_status.advise(status, None, MNIST, PY)
    [fix] = advice.fixes
    assert fix.kind is FixKind.FETCH and fix.url == MNIST.origin and fix.argv[-1] == "--fetch"
    assert not fix.needs_confirmation and fix.command in advice.hint
    mirrored = http_status.advise(status, None, MNIST.with_origin("https://m.example/mnist.npz"), PY)
    assert mirrored.fixes[0].argv[-2:] == ("--mirror", "https://m.example/mnist.npz")


def test_retry_after_in_seconds_and_as_a_date_is_relayed() -> None:
    assert http_status.advise(503, "120", MNIST, PY).wait_s == 120.0
    assert "wait ~2 min (Retry-After)" in http_status.advise(429, "120", MNIST, PY).meaning
    later = email.utils.formatdate(1_000_000_090.0, usegmt=True)
    assert http_status.retry_after_seconds(later, now=1_000_000_000.0) == pytest.approx(90.0)
    far = email.utils.formatdate(2_000_000_000.0, usegmt=True)
    assert f"until {far}" in http_status.advise(503, far, MNIST, PY).meaning


@pytest.mark.parametrize("value", ["", "soon", "-5", "Mon, 99 Foo 2026", "9" * 40])
def test_an_unreadable_retry_after_is_ignored_or_bounded(value: str) -> None:
    wait = http_status.retry_after_seconds(value)
    assert wait is None or wait >= 0
    assert http_status.advise(503, value, MNIST, PY).meaning  # never raises


@pytest.mark.parametrize(
    "text",
    [
        "ModuleNotFoundError: No module named '_ssl'",
        "ModuleNotFoundError: No module named 'ssl'",
        "urllib.error.URLError: <urlopen error unknown url type: https>",
    ],
)
def test_a_missing_ssl_module_is_its_own_cause_before_any_network_cause(text: str) -> None:
    assert (
        missing_ssl(text) and classify(text + "\nsocket.gaierror: Name or service not known").name == "no-ssl"
    )


def test_a_network_failure_is_not_mistaken_for_a_missing_ssl_module() -> None:
    assert not missing_ssl("socket.gaierror: [Errno -2] Name or service not known")
    assert not missing_ssl(None)


class _NeedsTls(BaseCheck):
    id = "demo.tls"
    title = "needs TLS"

    def run(self, tls_context: str) -> Result:
        return Result.ok(tls_context)


def test_an_unavailable_fact_skips_every_check_that_needs_it_with_its_reason() -> None:
    @fact
    def tls_context() -> str:
        raise FactUnavailable(NO_SSL_SKIP)

    facts = Facts(Options(python=PY), providers=[tls_context])
    first, second = Engine(facts).run_one(_NeedsTls()), Engine(facts).run_one(_NeedsTls())
    assert first.status is second.status is Status.SKIP
    assert first.summary == second.summary == NO_SSL_SKIP


def _throughput(projected_s: float | None) -> CheckResult:
    host = {"host": "storage.googleapis.com", "datasets": ["mnist"], "rate_bps": 60_000.0}
    host["projected_s"] = projected_s
    return CheckResult(
        Status.OK, "", data={"hosts": [host]}, id="network.throughput", family="network", title=""
    )


def test_a_download_cut_by_our_timeout_on_a_measured_slow_link_names_the_link() -> None:
    cut = Result.warn(
        "load_data did not finish", data={"cut_by_budget": True, "unfinished_stage": "load_data"}
    )
    options = Options(python=PY, timeout=120)
    slow = slow_link_result(cut, _throughput(191.5), options, default_loader(), PY)
    assert slow.status is Status.WARN and slow.summary.startswith("load_data() needs ~3 min here")
    assert "60.0 kB/s (measured)" in slow.summary and "--timeout 120s" in slow.summary
    [fix] = slow.fixes
    assert fix.argv[-3:] == ("--fetch", "--timeout", "350") and fix.url == MNIST.origin


@pytest.mark.parametrize(
    ("data", "projected"),
    [
        ({"cut_by_budget": True, "unfinished_stage": "tensorflow"}, 191.5),  # cut before the download
        ({"cut_by_budget": False}, 191.5),  # not cut at all
        ({"cut_by_budget": True, "unfinished_stage": "load_data"}, None),  # no measurement
    ],
)
def test_without_a_measured_slow_download_the_result_stays_as_it_was(data: dict, projected) -> None:
    before = Result.warn("as it was", data=data)
    assert (
        slow_link_result(before, _throughput(projected), Options(python=PY), default_loader(), PY) is before
    )
    assert slow_link_result(before, None, Options(python=PY), default_loader(), PY) is before


def _real(succeeded: bool) -> CheckResult:
    status = Status.OK if succeeded else Status.FAIL
    return CheckResult(status, "", data={"succeeded": succeeded}, id="load.real", family="load", title="")


@pytest.mark.parametrize("verdict", ["truncated", "html", "empty"])
def test_a_broken_copy_is_a_warning_only_where_this_runs_load_data_replaced_it(verdict: str) -> None:
    broken = Result.fail(
        f"the copy Keras reads is {verdict}: Keras discards it and must download again",
        data={"verdict": verdict, "state": verdict},
    )
    replaced = replaced_online(broken, _real(succeeded=True))
    assert replaced.status is Status.WARN and replaced.summary.endswith(
        "(it did in this run: the host answers)"
    )
    assert replaced_online(broken, _real(succeeded=False)) is broken  # offline, or the host fails
    assert replaced_online(broken, None) is broken  # load.real not run: no witness


@pytest.mark.parametrize(
    ("status", "meaning", "advice"),
    [
        (403, "blocks h:443 by its policy (403 Forbidden)", "ask the proxy's admin to allow h"),
        (502, "could not reach h:443 itself (502 Bad Gateway)", "try again later"),
        (504, "got no answer from h:443 in time", "try again later"),
        (503, "is unavailable or overloaded", "try again later"),
        (405, "probably not an HTTP proxy", "check the proxy setting"),
        (418, "refused to tunnel to h:443 (418 Forbidden)", "ask its admin"),
    ],
)
def test_a_proxy_status_is_worded_by_what_it_means(status: int, meaning: str, advice: str) -> None:
    reasons = {403: "Forbidden", 502: "Bad Gateway", 418: "Forbidden"}
    said, todo = proxy_status_meaning(status, reasons.get(status, ""), "h:443", "h")
    assert meaning in said and advice in todo and "no route" not in said + todo


def test_the_direct_route_is_offered_only_when_it_was_seen_to_work() -> None:
    def probe(direct: dict[str, object]) -> UrllibProbe:
        view = {"request_type": "https", "env": {"https_proxy": "x", "HTTPS_PROXY": "x", "no_proxy": "y"}}
        return UrllibProbe((), (), ProxyView.parse(view, MNIST), 10.0, 1.0, direct=DirectRoute.parse(direct))

    works = without_proxy(probe({"tried": True, "ok": True}), MNIST, "ask")
    assert works.startswith("this machine reaches storage.googleapis.com without the proxy")
    assert "`unset HTTPS_PROXY https_proxy`" in works and works.endswith("otherwise ask")
    for direct in ({}, {"tried": False}, {"tried": True, "ok": False, "error": {"type": "Timeout"}}):
        assert without_proxy(probe(direct), MNIST, "ask") == "ask"


def test_a_308_that_this_python_does_not_follow_gets_the_new_place_fetched_not_a_portal() -> None:
    """urllib follows 308 only from Python 3.11 on: on 3.10 Keras stops at it. Not a loop, not a
    portal: the file moved, and the doctor can fetch it from there."""
    url = MNIST.origin
    record = {"status": 308, "reason": "Permanent Redirect", "final_url": url, "location": "/moved/mnist.npz"}
    result = unfollowed_redirect(StageRecord.parse({"name": "http", **record}), 308, MNIST, url, PY)
    assert result.status is Status.FAIL and "does not follow that redirect" in result.summary
    assert "`mnist-doctor --fetch --mirror https://storage.googleapis.com/moved/mnist.npz`" in result.hint
    assert "portal" not in result.hint and MNIST.sha256 in result.hint
    moved_nowhere = StageRecord.parse({"name": "http", **record, "location": None})
    nowhere = unfollowed_redirect(moved_nowhere, 302, MNIST, url, PY)
    assert "no Location header" in nowhere.summary and "--seed FILE" in nowhere.hint
