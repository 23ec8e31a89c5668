"""The one vocabulary of causes: the rule table itself, and the network classifier every place uses.

The mechanism is tested on its own (order is precedence, the first verdict wins, a judge may
decline, no match is None). The network classifier is tested on real failures made on
127.0.0.1 — a closed port, a server that never answers, HTTP errors, an untrusted trustme
certificate, a certificate for another name, TLS spoken to plain HTTP — and the places that
name network causes (the real ``load_data()`` rules, ``--fetch``, the network stages) must give
the same failure the same name.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trustme

from mnist_doctor.actions.fetch import _explain
from mnist_doctor.causes import NETWORK, Diagnosis, Rule, RuleTable
from mnist_doctor.causes.load import RULES as LOAD_RULES
from mnist_doctor.causes.load import diagnose
from mnist_doctor.causes.network import RULES as NETWORK_RULES
from mnist_doctor.causes.network import classify, describe_exception, describe_record
from mnist_doctor.facts.answers.network import ProbeError
from mnist_doctor.facts.load_probe import LoadProbe
from mnist_doctor.model import FixKind, Status
from mnist_doctor.probing.subproc import ScriptRun
from testkit.loopback import DatasetServer, closed_port, server_context, silent_server


@dataclass(frozen=True)
class Said:
    text: str


def cause(name: str, pattern: str | None, accept: bool = True) -> Rule[Said, Diagnosis]:
    def judge(evidence: Said, match: re.Match[str] | None) -> Diagnosis | None:
        seen = match.group(0) if match else "-"
        return Diagnosis(name, "other", f"{name} saw {seen}", "fix it") if accept else None

    return Rule(name, judge, re.compile(pattern) if pattern else None)


# -- the mechanism ---------------------------------------------------------------------------


def test_the_first_matching_rule_wins_and_order_is_precedence() -> None:
    broad, narrow = cause("broad", r"refused"), cause("narrow", r"Connection refused")
    text = Said("ConnectionRefusedError: [Errno 111] Connection refused")
    first = RuleTable((narrow, broad)).first(text)
    assert first is not None and first.name == "narrow" and first.summary == "narrow saw Connection refused"
    swapped = RuleTable((broad, narrow)).first(text)
    assert swapped is not None and swapped.name == "broad"


def test_a_judge_may_decline_and_the_next_rule_is_tried() -> None:
    table = RuleTable((cause("picky", r"refused", accept=False), cause("fallback", r"refused")))
    found = table.first(Said("refused"))
    assert found is not None and found.name == "fallback"


def test_no_match_is_none_and_all_lists_every_verdict_in_order() -> None:
    table = RuleTable((cause("a", r"alpha"), cause("b", r"beta"), cause("any", None)))
    assert RuleTable((cause("a", r"alpha"),)).first(Said("gamma")) is None
    assert [d.name for d in table.all(Said("beta and alpha"))] == ["a", "b", "any"]
    assert [d.name for d in table.all(Said("gamma"))] == ["any"]  # a rule without pattern always judges
    assert table.names == ("a", "b", "any")


def test_a_table_refuses_two_rules_of_one_name() -> None:
    with pytest.raises(ValueError, match="unique"):
        RuleTable((cause("dns", r"x"), cause("dns", r"y")))


def test_the_tables_of_the_doctor_are_well_formed() -> None:
    # no ssl module first (every https failure follows from it), then the TLS causes
    assert NETWORK_RULES.names[:4] == ("no-ssl", "tls-wrong-version", "tls-hostname", "tls-verify")
    # load's network rules sit together, in the classifier's order, between the cache and file rules
    assert LOAD_RULES.names.index("permission") < LOAD_RULES.names.index("tls")
    assert LOAD_RULES.names.index("connection") < LOAD_RULES.names.index("bad-file")


def test_a_diagnosis_is_frozen_and_fails_by_default() -> None:
    diagnosis = Diagnosis("dns", NETWORK, "DNS failed", "use --seed")
    assert diagnosis.status is Status.FAIL and diagnosis.details == () and diagnosis.fixes == ()
    with pytest.raises(AttributeError):
        diagnosis.name = "other"  # type: ignore[misc]  # frozen: what was diagnosed stays diagnosed


# -- real failures on loopback -----------------------------------------------------------------


def failure(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> BaseException:
    try:
        urllib.request.urlopen(url, timeout=timeout, context=context).close()
    except Exception as exc:
        return exc
    raise AssertionError(f"{url} did not fail")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def https_server(ca: trustme.CA) -> Iterator[DatasetServer]:
    with DatasetServer(tls=server_context(ca)) as server:
        yield server


def test_a_closed_port_is_connection_refused() -> None:
    exc = failure(f"http://127.0.0.1:{closed_port()}/mnist.npz")
    found = classify(describe_exception(exc))
    assert found is not None and found.name == "connection-refused"


def test_a_server_that_never_answers_is_a_timeout() -> None:
    with silent_server() as port:
        exc = failure(f"http://127.0.0.1:{port}/mnist.npz", timeout=0.3)
    found = classify(describe_exception(exc))
    assert found is not None and found.name == "connect-timeout"


@pytest.mark.parametrize(("status", "reason"), [(403, "Forbidden"), (407, "Proxy Authentication Required")])
def test_an_http_error_keeps_its_code_and_reason(status: int, reason: str) -> None:
    with DatasetServer(status) as server:
        exc = failure(server.url)
    found = classify(describe_exception(exc))
    assert found is not None and found.name == "http-error" and found.parts == (str(status), reason)


def test_an_untrusted_certificate_is_a_verification_failure(https_server: DatasetServer) -> None:
    exc = failure(https_server.url, context=ssl.create_default_context())
    found = classify(describe_exception(exc))
    assert found is not None and found.name == "tls-verify"
    assert "certificate" in found.verify_reason and "(_ssl" not in found.verify_reason


@contextlib.contextmanager
def tls_server_for(ca: trustme.CA, name: str) -> Iterator[int]:
    """A loopback TLS server whose certificate names ``name``: it completes handshakes, then closes."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = listener.accept()
                with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(1)
        listener.close()


def test_a_certificate_for_another_name_is_a_hostname_mismatch(ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with tls_server_for(ca, "mirror.example") as port:
        exc = failure(f"https://127.0.0.1:{port}/mnist.npz", context=context)
    found = classify(describe_exception(exc))
    assert found is not None and found.name == "tls-hostname"


def test_tls_spoken_to_a_plain_http_port_is_wrong_version() -> None:
    with DatasetServer() as server:
        exc = failure(server.url.replace("http://", "https://"), context=ssl.create_default_context())
    found = classify(describe_exception(exc))
    assert found is not None and found.name == "tls-wrong-version"


def test_text_that_shows_no_network_cause_is_none() -> None:
    assert classify("ValueError: Incomplete or corrupted file detected.") is None


def test_keras_wording_wins_over_the_urllib_error_it_wraps() -> None:
    text = (
        "builtins.Exception: URL fetch failure on https://h/mnist.npz: 503 -- Service Unavailable\n"
        "urllib.error.HTTPError: HTTP Error 503: Service Unavailable"
    )
    found = classify(text)
    assert found is not None and found.name == "http-status" and found.parts == ("503", "Service Unavailable")


def test_a_transport_cause_in_the_chain_comes_before_a_bare_http_error() -> None:
    found = classify("urllib.error.HTTPError: HTTP Error 404: Not Found\nbuiltins.TimeoutError: timed out")
    assert found is not None and found.name == "connect-timeout"


# -- one name for one failure, wherever it is met ------------------------------------------------


def keras_probe(exc: BaseException, url: str) -> LoadProbe:
    """A load probe whose ``load_data`` failed as Keras fails: ``URL fetch failure`` over the cause."""

    def record(e: BaseException) -> dict[str, Any]:
        return {"type": f"{type(e).__module__}.{type(e).__qualname__}", "message": str(e)}

    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    outer = {"type": "builtins.Exception", "message": f"URL fetch failure on {url}: None -- {reason}"}
    chain = [record(exc)] + ([record(reason)] if isinstance(reason, BaseException) else [])
    stages = [
        {"name": "tensorflow", "ok": True},
        {"name": "load_data", "ok": False, "exception": {**outer, "chain": chain}},
    ]
    run = ScriptRun(["python"], 1, "", "", 0.5, answer={"stages": stages, "mode": "tf"})
    return LoadProbe(run, "tf")


def test_load_data_and_fetch_name_a_refused_connection_alike() -> None:
    url = f"http://127.0.0.1:{closed_port()}/mnist.npz"
    exc = failure(url)
    diag = diagnose(keras_probe(exc, url), host="127.0.0.1", target_python="python")
    assert diag.name == "connection-refused" and diag.category == NETWORK
    assert diag.fixes == ()  # no mirror named: there is nowhere --fix could download from
    mirror = "http://127.0.0.1:9/mirror/"  # named, never contacted
    mirrored = diagnose(keras_probe(exc, url), host="127.0.0.1", target_python="python", mirror=mirror)
    [step] = mirrored.fixes
    assert (step.kind, step.url, step.why) == (FixKind.FETCH, mirror, "connection refused")
    # --fetch words it its own way (no special wording for a refusal), from the same classifier
    found = classify(describe_exception(exc))
    assert found is not None and found.name == "connection-refused"
    assert _explain(exc, url)[0].startswith("ConnectionRefusedError")


def test_load_data_and_fetch_name_an_untrusted_certificate_alike(https_server: DatasetServer) -> None:
    exc = failure(https_server.url, context=ssl.create_default_context())
    diag = diagnose(keras_probe(exc, https_server.url), host="127.0.0.1", target_python="python")
    # a CA nobody here trusts, and no inspection product named: untrusted, not an accusation
    assert diag.name == "tls-untrusted" and "SSL_CERT_FILE" in diag.hint
    message, hint = _explain(exc, https_server.url)
    assert message.startswith("TLS certificate of 127.0.0.1 not trusted") and "SSL_CERT_FILE" in hint


def test_the_network_stage_record_is_read_by_the_same_classifier() -> None:
    """The shape ``target/net_probe.py`` reports a refused TCP connect in."""
    with socket.socket() as sock:
        try:
            sock.connect(("127.0.0.1", closed_port()))
        except ConnectionRefusedError as exc:
            record = {"type": type(exc).__name__, "errno": exc.errno, "errno_name": "ECONNREFUSED"}
            record["message"] = str(exc)
    found = classify(describe_record(ProbeError.parse(record)))
    assert found is not None and found.name == "connection-refused"
