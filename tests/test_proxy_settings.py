"""Proxy family: urllib's own decision (target interpreter) and the traps around it, via the CLI."""

from __future__ import annotations

import pytest

from mnist_doctor.facts.proxies import entry_problem, parse_proxy, urllib_bypass_entry
from mnist_doctor.text.redact import redact, redact_text
from testkit.doctor import doctor_json, network_env
from testkit.loopback import closed_port

ORIGIN = "https://127.0.0.1:9/mnist.npz"


def proxy_results(**env: str) -> dict:
    return doctor_json(ORIGIN, network_env(**env), select="proxy")


def test_redact_text_removes_passwords_tokens_and_signatures():
    assert redact_text("http://alice:s3cr3t@proxy:3128") == "http://alice:***@proxy:3128"
    assert redact_text("https://ghp_TOKEN123@host/x") == "https://***@host/x"
    text = redact_text(
        "fetch https://h/f.npz?X-Goog-Signature=abcdef&x=1 via socks5://u:p%40ss@s:1080 failed"
    )
    assert "abcdef" not in text and "p%40ss" not in text and "x=1" in text
    assert redact_text("Proxy-Authorization: Basic dXNlcjpwYXNz") == "Proxy-Authorization: Basic ***"
    assert redact({"a": ["http://u:pw@h:1"], "n": 2}) == {"a": ["http://u:***@h:1"], "n": 2}


def test_parse_proxy_names_missing_scheme_and_bad_port():
    assert parse_proxy("proxy.corp:3128").problem == "no scheme"
    assert parse_proxy("http://proxy.corp:31x8").problem == "bad port"
    good = parse_proxy("http://u:p@proxy.corp:3128")
    assert good.problem is None and good.has_credentials and good.hostport == "proxy.corp:3128"
    assert "p@" not in good.redacted


def test_no_proxy_entries_as_urllib_reads_them():
    assert urllib_bypass_entry(".example.com", "dl.example.com", "dl.example.com")
    assert urllib_bypass_entry("*", "anything", "anything:1")
    assert urllib_bypass_entry("127.0.0.1:8443", "127.0.0.1", "127.0.0.1:8443")
    assert not urllib_bypass_entry("127.0.0.1:8443", "127.0.0.1", "127.0.0.1")
    assert "CIDR" in entry_problem("10.0.0.0/8")
    assert "wildcard" in entry_problem("*.example.com")
    assert entry_problem(".example.com") is None


@pytest.mark.usefixtures("processes")
def test_no_proxy_is_a_direct_connection():
    results = proxy_results()
    assert results["proxy.effective"]["status"] == "ok"
    assert "direct connection" in results["proxy.effective"]["summary"]


@pytest.mark.usefixtures("processes")
def test_upper_and_lower_case_disagreement_warns_and_lower_case_wins():
    results = proxy_results(HTTPS_PROXY="http://upper.invalid:3128", https_proxy="http://127.0.0.1:3128")
    assert results["proxy.case"]["status"] == "warn"
    assert (
        "http://127.0.0.1:3128" in results["proxy.effective"]["summary"]
    )  # urllib's choice, from the target


@pytest.mark.usefixtures("processes")
def test_missing_scheme_warns_and_bad_port_fails():
    assert proxy_results(HTTPS_PROXY="127.0.0.1:3128")["proxy.syntax"]["status"] == "warn"
    bad = proxy_results(HTTPS_PROXY="http://127.0.0.1:31x8")["proxy.syntax"]
    assert bad["status"] == "fail" and "bad port" in bad["summary"]
    assert bad["hint"] == "export HTTPS_PROXY=http://host:port"


@pytest.mark.usefixtures("processes")
def test_https_proxy_url_warns_about_wrong_version_number():
    scheme = proxy_results(HTTPS_PROXY="https://127.0.0.1:3128")["proxy.scheme"]
    assert scheme["status"] == "warn" and "WRONG_VERSION_NUMBER" in scheme["summary"]
    assert scheme["hint"] == "export HTTPS_PROXY=http://127.0.0.1:3128"


@pytest.mark.usefixtures("processes")
def test_socks_proxy_for_the_origin_fails_with_a_bridge_command():
    socks = proxy_results(HTTPS_PROXY="socks5://127.0.0.1:1080")["proxy.socks"]
    assert socks["status"] == "fail" and "cannot speak" in socks["summary"]
    assert "pproxy -l http://127.0.0.1:8080 -r socks5://127.0.0.1:1080" in socks["hint"]


@pytest.mark.usefixtures("processes")
def test_http_proxy_is_dropped_when_request_method_is_set():
    results = doctor_json(
        "http://127.0.0.1:9/mnist.npz",
        network_env(HTTP_PROXY="http://127.0.0.1:3128", REQUEST_METHOD="GET"),
        select="proxy",
    )
    assert results["proxy.cgi"]["status"] == "fail"
    assert "direct connection" in results["proxy.effective"]["summary"]  # the target's getproxies() agrees


@pytest.mark.usefixtures("processes")
def test_all_proxy_is_ignored_by_urllib():
    effective = proxy_results(ALL_PROXY="http://127.0.0.1:3128")["proxy.effective"]
    assert effective["status"] == "warn" and "ignores it" in effective["summary"]


@pytest.mark.parametrize(
    ("entry", "status"), [("127.0.0.1", "warn"), ("10.0.0.0/8", "warn"), ("other.host", "ok")]
)
@pytest.mark.usefixtures("processes")
def test_no_proxy_coverage(entry, status):
    results = proxy_results(HTTPS_PROXY=f"http://127.0.0.1:{closed_port()}", NO_PROXY=entry)
    assert results["proxy.no_proxy"]["status"] == status
    if entry == "127.0.0.1":
        assert "NO_PROXY exempts" in results["proxy.effective"]["summary"]
