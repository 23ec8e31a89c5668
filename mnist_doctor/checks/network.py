"""Family ``network``: each stage of Keras' download road as its own timed result.

The stages come from one walk (``network_probes``: urllib in the target interpreter,
requests in the doctor, concurrently, bounded by ``--timeout``). A stage that was not
reached is skipped naming the stage that failed first; every result's ``data`` carries
``stage`` and, once something failed, ``failed_stage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin

from mnist_doctor.causes import http_status
from mnist_doctor.causes.network import (
    PROXY_SETTING,
    SSL_REASON,
    classify,
    describe_record,
    proxy_first,
    proxy_status_meaning,
)
from mnist_doctor.causes.tls_issuer import untrusted_reason
from mnist_doctor.causes.trust_stores import STRICT_HINT, strict_cause, strict_ruled_out
from mnist_doctor.datasets.spec import ORIGIN_ENV, ZIP_MAGIC, DatasetSpec, OriginChoice
from mnist_doctor.datasets.table import DEFAULT_DATASETS, Dataset, is_keras_origin
from mnist_doctor.facts import Options
from mnist_doctor.facts.answers.introspection import Introspection
from mnist_doctor.facts.answers.network import CertInfo, Measurement, StageRecord
from mnist_doctor.facts.net_probe import (
    THROUGHPUT_STALL_S,
    NetworkProbes,
    ThroughputSample,
    UrllibProbe,
    host_key,
    host_label,
)
from mnist_doctor.facts.proxies import parse_proxy
from mnist_doctor.model import OFFLINE_SKIP, Advice, BaseCheck, Hint, Result, Status, shell_quote
from mnist_doctor.network.urlcheck import https_form
from mnist_doctor.text.hints import doctor_command, offline_route, otherwise, quoted, said
from mnist_doctor.text.redact import redact, redact_text
from mnist_doctor.text.units import human_bytes, human_duration

PROXY_HINT = said(PROXY_SETTING)
CA_HINT = said("export SSL_CERT_FILE=/path/ca.pem") + (
    "  (a PEM bundle of the system CAs plus the CA named above, "
    "if it is your organisation's TLS inspection or your mirror's: "
    "`cat /etc/ssl/certs/ca-certificates.crt corp-ca.pem > ~/ca.pem`; "
    "REQUESTS_CA_BUNDLE does not reach Keras)"
)


def offline_hint(target_python: str) -> Hint:
    return "this machine has no route to the host: " + offline_route(target_python)


def _secs(record: StageRecord) -> str:
    return f"{record.elapsed_s or 0:.2f} s"


def _cause(record: StageRecord) -> str | None:
    """The network cause of a failed stage, named by the one classifier (None: none known)."""
    found = classify(describe_record(record.err))
    return found.name if found is not None else None


def _proxy_label(probe: UrllibProbe) -> str | None:
    return redact_text(probe.proxy) if probe.proxy else None


def credentials_hint(variable: str, probe: UrllibProbe) -> Hint:
    """The proxy setting with credentials, as a command to fill in (only the user knows them).

    ``<password>`` cannot be a real password in a URL (``<`` must be percent-encoded there), so it
    is a placeholder no redaction needs to hide."""
    hostport = parse_proxy(probe.proxy).hostport if probe.proxy else "host:port"
    return said(
        f"export {variable}=http://<user>:<password>@{hostport}",
        "fill in your proxy account, URL-encoded (urllib speaks Basic auth only)",
    )


def diagnose_dns(record: StageRecord, dataset: DatasetSpec, probe: UrllibProbe, tp: str) -> Result:
    host = record.host or dataset.host
    if record.ok:
        summary = (
            f"{record.note} ({_secs(record)})"
            if record.note
            else f"{host} resolves to {', '.join(record.addresses or [])} ({_secs(record)})"
        )
        return Result.ok(summary)
    err = record.err
    why = "no answer from the resolver" if record.timed_out else err.message
    if record.via_proxy:
        return Result.fail(
            f"the proxy host {host} does not resolve: {why}",
            hint=without_proxy(
                probe, dataset, f"fix the proxy setting ({_proxy_label(probe)}): " + PROXY_HINT
            ),
        )
    return Result.fail(
        f"DNS: {host} does not resolve: {why}",
        details=["Keras' urlretrieve fails here with 'URL fetch failure ... [Errno -2]' or -3"],
        hint=offline_hint(tp) + "; if the network needs a proxy: " + PROXY_HINT,
    )


def diagnose_tcp(record: StageRecord, dataset: DatasetSpec, probe: UrllibProbe, tp: str) -> Result:
    where = f"{record.host}:{record.port}"
    if record.ok:
        via = " (the proxy)" if record.via_proxy else ""
        return Result.ok(f"TCP connect to {where}{via} ({_secs(record)})")
    err = record.err
    refused = _cause(record) == "connection-refused"
    if record.via_proxy and record.timed_out:
        return Result.fail(
            f"the proxy {where} does not answer connection attempts: nothing within "
            f"{_waited(record):g} s (a wrong address, or a firewall dropping the traffic)",
            details=direct_lines(probe, dataset),
            hint=silent_proxy_hint(probe, dataset, where, tp),
        )
    if record.via_proxy:
        what = "refuses connections: is the proxy running?" if refused else err.message
        return Result.fail(
            f"the proxy {where} {what}",
            hint=without_proxy(
                probe, dataset, f"check the proxy setting ({_proxy_label(probe)}): " + PROXY_HINT
            ),
        )
    if refused:
        keras_own = is_keras_origin(dataset.origin)
        return Result.fail(
            f"connection refused by {where}: "
            + ("a firewall rejects direct connections" if keras_own else "nothing listens there"),
            hint=("" if keras_own else f"check the URL ({redact_text(dataset.origin)}); ")
            + proxy_route_hint(tp),
        )
    if record.timed_out:
        summary = f"no answer from {where} within the timeout: a firewall drops the traffic"
    else:
        summary = f"cannot connect to {where}: {err.message}"
    return Result.fail(summary, hint=proxy_route_hint(tp))


def proxy_route_hint(tp: str) -> Hint:
    """Direct connections blocked and no proxy set: the proxy route, then the offline one."""
    return proxy_first(offline_route(tp))


def without_proxy(probe: UrllibProbe, dataset: DatasetSpec, instead: Hint) -> Hint:
    """The proxy failed: when the host answers without it, dropping the proxy variable is the fix
    that works here (urllib, and so Keras, goes direct); else ``instead``."""
    if not probe.direct_works:
        return instead
    names = " ".join(probe.proxy_variables) or "HTTPS_PROXY"
    return (
        f"this machine reaches {dataset.host} without the proxy: " + quoted(f"unset {names}") + "; otherwise "
    ) + instead


def diagnose_connect(record: StageRecord, dataset: DatasetSpec, probe: UrllibProbe, tp: str) -> Result:
    proxy = _proxy_label(probe)
    target = record.target
    if record.ok:
        return Result.ok(f"proxy {proxy} opened a tunnel to {target} ({_secs(record)})")
    status = record.status
    if status == 407:
        hint = credentials_hint("HTTPS_PROXY", probe)
        if record.sent_credentials:
            return Result.fail(
                f"the proxy {proxy} rejected the credentials in the proxy setting (407)", hint=hint
            )
        return Result.fail(
            f"the proxy {proxy} demands credentials (407 Proxy Authentication Required)", hint=hint
        )
    if isinstance(status, int):
        meaning, advice = proxy_status_meaning(status, str(record.reason or ""), str(target), dataset.host)
        return Result.fail(
            f"the proxy {proxy} {meaning}",
            hint=without_proxy(probe, dataset, advice + "; meanwhile, " + offline_route(tp)),
        )
    return Result.fail(
        f"proxy CONNECT failed: {record.err.message}",
        hint=without_proxy(probe, dataset, f"check that {proxy} is an HTTP proxy: " + PROXY_HINT),
    )


def judge_chain(chain: Sequence[CertInfo], host: str) -> tuple[str, str]:
    """(issuer label, why the chain is not trusted) for a chain a server presented.

    Inspection is named only on evidence (an inspection product's CA); a name alone (an issuer
    that is not the one the real host uses) accuses nobody: see :mod:`~mnist_doctor.causes.tls_issuer`.
    """
    leaf = chain[0] if chain else CertInfo()
    issuer = leaf.issuer_cn or leaf.issuer_ou or "an unnamed issuer"
    if leaf.issuer_o:
        issuer += f" ({leaf.issuer_o})"
    names = [name or "" for c in chain for name in (c.issuer_cn, c.issuer_o, c.issuer_ou)]
    return issuer, untrusted_reason(names, any(c.self_signed for c in chain))


def wrong_name_hint(host: str, tp: str) -> Hint:
    """No CA bundle cures a certificate for another name: where the name leads is what is wrong."""
    return (
        f"no CA setting cures a certificate for another name: {host} leads to a server that is not "
        f"{host} here: check where the name resolves (`getent hosts {host}`: an /etc/hosts entry, a DNS "
        "filter, a captive portal to log in to) and whether this network needs a proxy ("
        + quoted(PROXY_SETTING)
        + "); a mirror given with --origin must be named as on its certificate; meanwhile, "
        + offline_route(tp)
    )


def diagnose_tls(record: StageRecord, dataset: DatasetSpec, probe: UrllibProbe, tp: str) -> Result:
    if record.ok:
        issuer = record.chain[0].issuer_cn if record.chain else None  # recorded when verification failed
        by = f", issued by {issuer}" if issuer else ""
        return Result.ok(f"TLS {record.version} with {dataset.host}{by} ({_secs(record)})")
    err = record.err
    cause = _cause(record)
    if cause in ("tls-verify", "tls-hostname"):
        chain = record.chain
        issuer, verdict = judge_chain(chain, dataset.host)
        reason = err.verify_message or err.message
        details = [
            f"presented: {c.subject_cn} issued by {c.issuer_cn or c.issuer_ou} ({c.issuer_o})" for c in chain
        ]
        strict = strict_cause(record)
        if strict:
            return Result.fail(
                f"TLS: your CA certificate is not RFC 5280-compliant ({reason}): {strict[0]}; "
                f"issued by {issuer}",
                details=details + strict[1],
                hint=STRICT_HINT,
            )
        details += [d for d in (strict_ruled_out(record),) if d]
        if record.store_ca_count == 0 and not (record.context_class or ""):
            return Result.fail(
                f"TLS: certificate verification failed ({reason}): this Python trusts no CA at all "
                "(its default store is empty, see tls.verify_paths)",
                details=details,
                hint="point Python at a CA bundle: "
                + quoted("export SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
                + " (or unset an SSL_CERT_FILE / SSL_CERT_DIR that names an empty or wrong one)",
            )
        if cause == "tls-hostname" or err.verify_code == 62:
            return Result.fail(
                f"TLS: the certificate is not for {dataset.host} ({reason}); issued by {issuer}",
                details=details,
                hint=wrong_name_hint(dataset.host, tp),
            )
        if err.verify_code == 10:
            return Result.fail(
                f"TLS: the server's certificate has expired; issued by {issuer}",
                details=details,
                hint="check the system clock (" + quoted("date") + "), or ask the mirror's owner",
            )
        return Result.fail(
            f"TLS: certificate verification failed ({reason}); issued by {issuer}: {verdict}",
            details=details,
            hint=CA_HINT,
        )
    message = err.message
    if cause == "tls-wrong-version":
        return Result.fail(
            f"TLS: {dataset.host}:{dataset.port} did not answer in TLS (WRONG_VERSION_NUMBER)",
            hint="the origin's port speaks plain HTTP: use http:// in the URL, or the TLS port",
        )
    return Result.fail(f"TLS handshake failed: {message}", hint=CA_HINT)


def unfollowed_redirect(record: StageRecord, status: int, dataset: DatasetSpec, url: str, tp: str) -> Result:
    """A redirect urllib stopped at without a loop: a 308, which urllib follows only from Python
    3.11 on (Keras fails the same way on 3.10), or a redirect that names no new place.

    The new place is known, so the fix is concrete: the doctor downloads from there itself and
    installs the file where Keras reads it, after checking its sha256.
    """
    location = record.location
    if not location:
        return Result.fail(
            f"HTTP {status}: {dataset.host} redirects without saying where to (no Location header)",
            details=[f"URL: {url}"],
            hint=offline_route(tp),
        )
    moved = urljoin(str(record.final_url or url), str(location))
    fetch = doctor_command(tp, "--fetch --mirror " + shell_quote(moved))
    return Result.fail(
        f"HTTP {status} {record.reason}: {dataset.host} moved the file to {moved}, and this "
        "Python's urllib does not follow that redirect (308 only from Python 3.11 on): Keras fails here",
        details=[f"URL: {url}", f"Location: {location}"],
        hint=quoted(fetch) + f" (it checks sha256 {dataset.sha256} and installs the file where Keras reads "
        "it); or use Python 3.11 or later",
    )


def diagnose_http(record: StageRecord, dataset: DatasetSpec, probe: UrllibProbe, tp: str) -> Result:
    url = redact_text(dataset.origin)
    err = record.err
    status = record.status
    if status is None:
        return Result.fail(
            f"HTTP request failed: {err.message} (the connection was made, no answer came)",
            hint=proxy_route_hint(tp),
        )
    ctype = record.content_type or "?"
    if status == 407:
        return Result.fail(
            f"the proxy {_proxy_label(probe)} demands credentials (407)",
            hint=credentials_hint("HTTP_PROXY", probe),
        )
    if 300 <= status < 400 and "infinite loop" not in str(record.reason):
        return unfollowed_redirect(record, status, dataset, url or dataset.origin, tp)
    if 300 <= status < 400:  # urlopen follows redirects: one left over means it gave up
        return Result.fail(
            f"HTTP {status}: {dataset.host} redirects in a loop or too often ({record.reason}): "
            "a login wall or a captive portal on the way",
            details=[f"URL: {url}", f"Location: {record.location or '?'}"],
            hint="pass the portal: load the URL in a browser on this machine; otherwise " + offline_route(tp),
        )
    if status >= 400:
        advice = http_status.advise(status, record.retry_after, dataset, tp)
        details = [f"Content-Type: {ctype}", f"URL: {url}"]
        if record.retry_after:
            details.append(f"Retry-After: {record.retry_after}")
        return Result.fail(
            f"HTTP {status} {record.reason}: {advice.meaning}",
            details=details,
            hint=advice.hint,
            fixes=advice.fixes,
        )
    if "text/html" in ctype.lower() or record.looks_html:
        return Result.fail(
            f"the server answered with an HTML page ({ctype}), not the dataset: a login or "
            "block page (proxy, captive portal)",
            details=[
                f"starts with: {record.body_start!r}",
                "Keras would save it as mnist.npz and fail with a hash mismatch or BadZipFile",
            ],
            hint="pass the portal: load the URL in a browser on this machine; otherwise " + offline_route(tp),
        )
    encoding = str(record.content_encoding or "").strip().lower()
    if encoding not in ("", "identity"):
        return Result.fail(
            f"{dataset.host} sends the file {encoding}-encoded (Content-Encoding: {encoding}), which "
            "urllib does not decode: Keras would save the encoded bytes and reject them (sha256)",
            details=[f"Content-Length: {record.content_length}", f"URL: {url}"],
            hint="a proxy or the server compresses it on the way: ask for the URL to be exempted; "
            "otherwise " + offline_route(tp),
        )
    total = record.total_size
    if total is not None and total != dataset.size:
        return Result.fail(
            f"the server announces {total} bytes, the dataset has {dataset.size}",
            details=[
                f"Content-Length: {record.content_length}",
                f"Content-Range: {record.content_range}",
                "Keras would reject the file as 'Incomplete or corrupted'",
            ],
            hint="the URL serves another file: point --origin/--mirror at a real copy of "
            f"{dataset.file_name}",
        )
    magic, kind = expected_start(dataset.file_name)
    try:
        first = bytes.fromhex(str(record.first_bytes or ""))
    except ValueError:
        first = b""
    if not first.startswith(magic):
        return Result.fail(
            f"the file does not start like {kind} (first bytes {record.first_bytes})",
            hint="the URL serves another file: " + offline_hint(tp),
        )
    size_note = f"{total} bytes" if total is not None else "size not announced"
    return Result.ok(f"HTTP {status} via urllib: {ctype}, {size_note}, starts like {kind} ({_secs(record)})")


def expected_start(file_name: str) -> tuple[bytes, str]:
    """The first bytes a dataset file starts with, by its kind: the datasets' ``.gz`` archives and
    IDX files are gzip, the word indexes JSON, everything else an ``.npz`` (a zip)."""
    if file_name.endswith(".gz"):
        return b"\x1f\x8b", "a gzip file"
    if file_name.endswith(".json"):
        return b"{", "a JSON document"
    return ZIP_MAGIC, "an npz"


DIAGNOSES = {
    "dns": diagnose_dns,
    "tcp": diagnose_tcp,
    "connect": diagnose_connect,
    "tls": diagnose_tls,
    "http": diagnose_http,
}

#: What a silent remote left unanswered, by stage.
UNANSWERED = {"connect": "no reply to CONNECT", "tls": "no TLS handshake", "http": "no answer to the request"}


def _waited(record: StageRecord) -> float:
    """The seconds the stage waited in silence: its whole own cap (``timeout_s`` is what it had)."""
    return float(record.timeout_s or record.cap_s or 0.0)


def _proxy_address(probe: UrllibProbe) -> str:
    return parse_proxy(probe.proxy).hostport if probe.proxy else "the proxy"


def direct_lines(probe: UrllibProbe, dataset: DatasetSpec) -> list[str]:
    """What the try without the proxy showed (``direct_route`` in target/net_probe.py), as a detail."""
    direct = probe.direct
    if not direct.tried:
        return []
    where = f"{direct.host}:{direct.port}"
    how = "TCP and a verified TLS handshake" if dataset.scheme == "https" else "TCP"
    if direct.ok:
        return [f"without the proxy, {where} answers ({how}; no request sent)"]
    message = redact_text((direct.error.message if direct.error else "") or "failed")
    return [f"without the proxy, {where} does not answer either: {message}"]


def silent_proxy_hint(probe: UrllibProbe, dataset: DatasetSpec, where: str, tp: str) -> Hint:
    """Past a proxy that never answers: dropping its variable when the host answers without it
    (:func:`without_proxy`), else the setting to check, then the offline route."""
    setting = " / ".join(probe.proxy_variables) or _proxy_label(probe) or "the proxy setting"
    return without_proxy(
        probe,
        dataset,
        f"check {setting}: is {where} the proxy this network uses? (the browser's or the system's "
        "proxy settings say, or the network's admin): "
        + quoted(PROXY_SETTING)
        + "; otherwise "
        + offline_route(tp),
    )


def diagnose_silence(record: StageRecord, dataset: DatasetSpec, probe: UrllibProbe, tp: str) -> Result:
    """A proxy or host that accepted the connection and said nothing for the stage's whole own cap.

    A finding whatever the run's budget (promise 3 holds: the stage had its own full cap); past a
    silent proxy, dropping its variable is the fix when the host answered without it.
    """
    party = probe.silent_party(record)
    waited = _waited(record)
    stage = str(record.name)
    if party == "proxy":
        where = _proxy_address(probe)
        who, hint = f"the proxy at {where}", silent_proxy_hint(probe, dataset, where, tp)
        details = direct_lines(probe, dataset)
    else:
        where = host_label(dataset)
        who, details = f"the dataset host {where}", []
        hint = offline_hint(tp) if probe.proxy else proxy_route_hint(tp)
    if record.reply_bytes:
        summary = f"{who} started answering CONNECT but did not finish its answer within {waited:g} s"
    else:
        summary = (
            f"{who} accepts connections and never answers: {UNANSWERED.get(stage, 'no answer')} within "
            f"{waited:g} s (Keras would hang here: urlretrieve has no timeout)"
        )
    data = {"silent": {"party": party, "address": where, "stage": stage, "waited_s": waited}}
    return Result.fail(summary, details=details, hint=hint, data=data)


def diagnose_stage(record: StageRecord, dataset: DatasetSpec, probe: UrllibProbe, tp: str) -> Result:
    """The finding for a stage record (not cut by the doctor's budget): a silence, or the stage's own."""
    if probe.silent_party(record) is not None:
        return diagnose_silence(record, dataset, probe, tp)
    return DIAGNOSES[record.name](record, dataset, probe, tp)


def not_on_this_road(stage: str, dataset: DatasetSpec, probe: UrllibProbe) -> str:
    """Why a stage does not happen for this origin (so it is skipped, not passed)."""
    if stage == "tls":
        return "plain http origin: no TLS handshake"
    if stage == "connect" and probe.proxy:
        return "plain http through a proxy: the proxy receives the GET itself, no CONNECT"
    if stage == "connect":
        return "direct connection: no proxy, so no CONNECT"
    return "stage not on this road"


def timeout_hint(options: Options) -> Hint:
    return said(f"mnist-doctor --timeout {max(300, int(options.timeout * 3))}", "give the probes more time")


class StageCheck(BaseCheck):
    """One stage of urllib's road to the dataset, read from the shared walk."""

    network = True
    slow = True

    def __init__(self, stage: str, title: str) -> None:
        self.stage = stage
        self.id = f"network.{stage}"
        self.title = title
        # An unusable SSL_CERT_FILE empties the store the handshake verifies with: one trust problem.
        self.explained_by = ("tls.cert_env", "tls.verify_paths") if stage == "tls" else ()

    def run(
        self, network_probes: NetworkProbes, network_target: DatasetSpec, target_python: str, options: Options
    ) -> Result:
        result = self._judge(network_probes, network_target, target_python, options)
        failed = network_probes.urllib.failed()
        if failed and failed.name != self.stage:  # explained by the stage that failed first
            result.explained_by = (f"network.{failed.name}",)
        return result

    def _judge(
        self, network_probes: NetworkProbes, network_target: DatasetSpec, target_python: str, options: Options
    ) -> Result:
        dataset = network_target
        probe = network_probes.urllib
        failed = probe.failed()
        data: dict[str, Any] = {"stage": self.stage, "origin": redact_text(dataset.origin)}
        if failed:
            data["failed_stage"] = failed.name
        if self.stage not in probe.planned and probe.stages:
            return Result.skip(not_on_this_road(self.stage, dataset, probe), data=data)
        record = probe.stage(self.stage)
        if record is None:
            if failed:
                return Result.skip(f"not reached: the {failed.name} stage failed first", data=data)
            why = probe.error or "the probe gave no answer"
            if probe.cut_by_budget(None):
                data["cut_by_budget"] = True
                return Result.skip(
                    f"not tested: the doctor's --timeout ran out before this stage ({why})",
                    data=data,
                    hint=timeout_hint(options),
                )
            return Result.fail(
                f"the network probe did not run: {why}", data=data, hint="rerun with a larger --timeout"
            )
        data.update({"ok": bool(record.ok), "elapsed_s": record.elapsed_s})
        data["record"] = redact({k: v for k, v in record.to_dict().items() if k not in ("event", "name")})
        if probe.cut_by_budget(record):
            # The doctor's time ended it before the stage's own cap did: a silent remote cannot be
            # told from a slow one, so this is no verdict on the network, and more time is the cure.
            data["cut_by_budget"] = True
            allowed = float(record.timeout_s or 0.0)
            cap = float(record.cap_s or 0.0)
            own = f", before its own {cap:g} s limit" if cap else ""
            return Result.warn(
                f"the {self.stage} stage was cut short by the doctor's --timeout after {allowed:.1f} s{own}: "
                "a silent remote cannot be told from a slow one here; not a verdict on the network",
                data=data,
                hint=timeout_hint(options),
            )
        if record.stuck:
            return Result.fail(
                f"the {self.stage} stage did not finish within its {_waited(record):.1f} s",
                data=data,
                hint=offline_hint(target_python),
            )
        result = diagnose_stage(record, dataset, probe, target_python)
        result.data = {**result.data, **data}
        result.summary = redact_text(result.summary) or ""
        result.details = [redact_text(d) or "" for d in result.details]
        return result


def _http_status(probe: UrllibProbe) -> int | None:
    """The HTTP status urllib's own request got (None: the http stage did not answer)."""
    http = probe.stage("http")
    return http.status if http else None


def _proxy_explain(probe: UrllibProbe, requests_proxy: str | None) -> str | None:
    urllib_proxy = probe.proxy
    if (urllib_proxy or None) == (requests_proxy or None):
        return None
    return (
        f"requests used proxy {requests_proxy or 'none'}, urllib (Keras) used {urllib_proxy or 'none'} "
        "(urllib ignores ALL_PROXY and CIDR entries in NO_PROXY)"
    )


class CompareCheck(BaseCheck):
    """The same request through requests/certifi, and why it differs from urllib's."""

    id = "network.requests"
    title = "requests/certifi compared with urllib"
    network = True
    slow = True

    def run(self, network_probes: NetworkProbes, introspection: Introspection) -> Result:
        result = self._compare(network_probes, introspection)
        failed = network_probes.urllib.failed()
        if failed:  # requests failing where urllib did is explained by urllib's failed stage
            result.explained_by = (f"network.{failed.name}",)
        return result

    def _compare(self, network_probes: NetworkProbes, introspection: Introspection) -> Result:
        probe, other = network_probes.urllib, network_probes.requests
        failed = probe.failed()
        data: dict[str, Any] = {
            "stage": "requests",
            "urllib_ok": probe.ok,
            "urllib_failed_stage": failed.name if failed else None,
            "requests_ok": other.ok,
            "requests_status": other.status,
            "requests_error": redact_text(other.error),
            "requests_verify": other.verify,
            "requests_proxy": other.proxy,
        }
        if not other.available:
            return Result.skip(f"requests is not importable here: {other.error}", data=data)
        if not probe.ok and probe.cut_by_budget(failed):
            # urllib's walk has no verdict: there is nothing to compare requests' answer with.
            data["cut_by_budget"] = True
            return Result.skip("not compared: the doctor's --timeout ended urllib's walk first", data=data)
        bundle = other.verify if isinstance(other.verify, str) else None
        proxy_note = _proxy_explain(probe, other.proxy)
        details = [d for d in (proxy_note,) if d]
        details.append(
            f"requests trusts: {bundle or other.verify}; urllib trusts: "
            f"{introspection.ssl.cafile or 'the OpenSSL default store'}"
        )
        urllib_status = _http_status(probe)
        if urllib_status is not None and urllib_status >= 300:
            # urllib reached the host and got an error (or a redirect it gave up on): its answer.
            if other.status == urllib_status:
                return Result.ok(
                    f"requests gets the same answer (HTTP {urllib_status}): not a difference between "
                    "the two clients",
                    details=details,
                    data=data,
                )
            if not other.ok:
                return Result.ok(
                    f"requests fails too ({other.error_type or other.status}), urllib got HTTP "
                    f"{urllib_status}: not a difference that changes the cause",
                    details=[*details, f"requests: {redact_text(other.error)}"],
                    data=data,
                )
        if other.ok and probe.ok and (urllib_status is None or urllib_status < 300):
            return Result.ok(
                f"requests agrees: HTTP {other.status} ({other.elapsed_s:.2f} s)", details=details, data=data
            )
        if other.ok and (failed or (urllib_status or 0) >= 300):
            if failed and failed.name == "tls" and failed.err.verify_message:
                return Result.fail(
                    "requests trusts the server but urllib (Keras) does not: the CA is in "
                    f"requests' bundle ({bundle}), not in the store Python's ssl uses",
                    details=details,
                    data=data,
                    hint=said(f"export SSL_CERT_FILE={bundle}") if bundle else CA_HINT,
                )
            return Result.fail(
                f"requests reaches the file (HTTP {other.status}) but urllib (Keras) fails at "
                + (failed.name if failed else f"http (HTTP {urllib_status})"),
                details=details,
                data=data,
                hint=(
                    PROXY_HINT + " (the proxy requests used)"
                    if proxy_note
                    else "compare the two settings listed above"
                ),
            )
        if not other.ok and probe.ok:
            reason = other.error or f"HTTP {other.status}"
            hint: Hint | None = None
            ssl_reason = SSL_REASON.search(reason)
            if ssl_reason and other.proxy and other.proxy.startswith("https://"):
                parsed = parse_proxy(other.proxy)
                hint = said(f"export HTTPS_PROXY=http://{parsed.hostport}") + " (not https://)"
                reason = (
                    f"requests speaks TLS to the https:// proxy {other.proxy}, which answers in plain "
                    f"HTTP ({ssl_reason.group(1)}: the WRONG_VERSION_NUMBER trap); urllib ignores that "
                    "scheme for https downloads"
                )
            return Result.warn(
                f"urllib (Keras) is fine but requests fails: {reason}", details=details, data=data, hint=hint
            )
        if other.timed_out:
            return Result.ok(
                "requests did not answer within the timeout either: same road, same block",
                details=details,
                data=data,
            )
        return Result.ok(
            f"requests fails too ({other.error_type or other.status}): not a difference between "
            "the two clients",
            details=[*details, f"requests: {redact_text(other.error)}"],
            data=data,
        )


#: A whole download projected to take longer than this is a warning: Keras' ``urlretrieve`` has
#: no timeout, and a tutorial's first cell that runs for more than five minutes is taken for a
#: hang (cifar10, 170 MB, from a host throttled to tens of kB/s takes most of an hour).
PROJECTED_LIMIT_S = 300.0
#: A body that ended before this many bytes (and before the whole file) arrived in one or two
#: packets: its timing measures the round trip, not the line, so it gives no rate.
MIN_SAMPLE_BYTES = 64 << 10


def throughput_remedies(target_python: str, datasets: list[str]) -> Hint:
    """The two routes around a slow host, for the datasets it serves (``--dataset`` unless the default)."""
    default = not datasets or tuple(datasets) == DEFAULT_DATASETS
    selection = [] if default else ["--dataset", ",".join(datasets)]
    fetch = doctor_command(target_python, *selection, "--fetch --mirror URL")
    seed = doctor_command(target_python, *selection, "--seed FILE")
    return (
        "download from a faster mirror: "
        + quoted(fetch)
        + " (safe: Keras checks the sha256 where it pins one), or install a copy downloaded elsewhere: "
        + quoted(seed)
    )


def _what(sample: ThroughputSample) -> str:
    load = sample.load
    return f"{', '.join(load.datasets)} ({human_bytes(load.total_bytes)})"


def judge_throughput(sample: ThroughputSample) -> tuple[Status, str, dict[str, Any]]:
    """(status, one line, data) for one host's measurement."""
    load, record = sample.load, sample.record or Measurement()
    data: dict[str, Any] = {
        "host": load.host,
        "datasets": list(load.datasets),
        "files": list(load.files),
        "total_bytes": load.total_bytes,
        "ended": record.ended,
        "bytes": record.bytes,
        "elapsed_s": record.elapsed_s,
        "rate_bps": record.rate_bps,
        "status_code": record.status,
    }
    ended = record.ended
    got = int(record.bytes or 0)
    if sample.cut_by_budget:
        data["cut_by_budget"] = True
        so_far = f" ({human_bytes(got)} in {record.elapsed_s or 0:.1f} s so far)" if got else ""
        return Status.SKIP, f"{load.host}: cut by the doctor's budget{so_far}, use --timeout", data
    if sample.record is None:
        return Status.SKIP, f"{load.host}: not measured: {sample.error}", data
    if ended == "http-error":
        return (
            Status.SKIP,
            f"{load.host}: not measured: HTTP {record.status} {record.reason}",
            data,
        )
    if ended == "error" and not got:
        message = record.error.message if record.error else None
        return Status.SKIP, f"{load.host}: unreachable, not measured: {message}", data
    if ended == "no-answer":
        waited = float(record.waited_s or 0)
        return Status.WARN, f"{load.host}: stalled: no answer to the ranged GET within {waited:.1f} s", data
    if ended == "stall":
        return (
            Status.WARN,
            f"{load.host}: the transfer stalled: no byte for {THROUGHPUT_STALL_S:.0f} s after "
            f"{human_bytes(got)} (Keras would hang here: urlretrieve has no timeout)",
            data,
        )
    if ended == "error":
        message = record.error.message if record.error else None
        return Status.WARN, f"{load.host}: the connection broke after {human_bytes(got)}: {message}", data
    if ended == "eof" and got < min(MIN_SAMPLE_BYTES, load.total_bytes):
        return Status.SKIP, f"{load.host}: not measured: the body ended after {human_bytes(got)}", data
    rate = float(record.rate_bps or 0.0)
    projected = load.total_bytes / rate if rate > 0 else float("inf")
    data["projected_s"] = round(projected, 1) if rate > 0 else None
    speed = f"{human_bytes(rate)}/s"
    if projected > PROJECTED_LIMIT_S:
        return (
            Status.WARN,
            f"{load.host} delivers {speed}: {_what(sample)} would take {human_duration(projected)} "
            f"(over {PROJECTED_LIMIT_S / 60:.0f} min; Keras has no timeout, so it looks hung)",
            data,
        )
    return Status.OK, f"{load.host}: {speed}, {_what(sample)} in {human_duration(projected)}", data


class ThroughputCheck(BaseCheck):
    """A bounded ranged download from each dataset host: its speed and the whole download's time."""

    id = "network.throughput"
    title = "download speed (ranged GET via urllib)"
    requires = ("network.http",)
    #: After the walks to the other hosts: a dead host is not tried again, and no walk shares the line.
    after = ("network.hosts",)
    network = True
    slow = True

    def run(self, network_throughput: list[ThroughputSample], target_python: str, options: Options) -> Result:
        judged = [judge_throughput(sample) for sample in network_throughput]
        data: dict[str, Any] = {"stage": "throughput", "hosts": [d for _, _, d in judged]}
        if any(d.get("cut_by_budget") for _, _, d in judged):
            data["cut_by_budget"] = True
        details = [redact_text(line) or "" for _, line, _ in judged] if len(judged) > 1 else []

        def joined(wanted: Status) -> str:
            return "; ".join(redact_text(line) or "" for status, line, _ in judged if status is wanted)

        if any(status is Status.WARN for status, _, _ in judged):
            slow = [name for status, _, d in judged if status is Status.WARN for name in d["datasets"]]
            remedies = throughput_remedies(target_python, list(dict.fromkeys(slow)))
            return Result.warn(joined(Status.WARN), details=details, data=data, hint=remedies)
        if judged and all(status is Status.OK for status, _, _ in judged):
            return Result.ok(joined(Status.OK), details=details, data=data)
        hint = timeout_hint(options) if data.get("cut_by_budget") else None
        summary = joined(Status.SKIP) or "no dataset host to measure"
        return Result.skip(summary, details=details, data=data, hint=hint)


#: ``network.hosts``' word in the report for a host's status (a skip there: its walk was cut).
HOST_VERDICTS = {Status.OK: "ok", Status.FAIL: "fail", Status.SKIP: "cut"}


def host_verdict(
    spec: DatasetSpec, probe: UrllibProbe, target_python: str, options: Options
) -> tuple[Status, Result | None]:
    """``(OK | FAIL | SKIP, finding)`` for urllib's walk to one host (SKIP: the doctor's budget
    cut the walk, :data:`HOST_VERDICTS` words it "cut").

    A failure is named by the same stage diagnoses the ``network.*`` checks use.
    """
    failed = probe.failed()
    if failed is None and probe.ok:
        return Status.OK, None
    if probe.cut_by_budget(failed):
        return Status.SKIP, Result.skip(
            f"{host_label(spec)}: not tested to the end — the doctor's --timeout ran out",
            hint=timeout_hint(options),
        )
    if failed is None:
        return Status.FAIL, Result.fail(
            f"{host_label(spec)}: the network probe did not run: {probe.error or 'no answer'}"
        )
    if failed.stuck:
        return Status.FAIL, Result.fail(
            f"{host_label(spec)}: the {failed.name} stage did not finish", hint=offline_hint(target_python)
        )
    finding = diagnose_stage(failed, spec, probe, target_python)
    return (Status.OK if finding.status.passed else Status.FAIL), finding


def _same_host(one: DatasetSpec, other: DatasetSpec) -> bool:
    return bool(host_key(one) == host_key(other))


class OriginCheck(BaseCheck):
    """Which URL the network checks test, and where it comes from (Keras' own, ``--origin``, the
    variable). An unusable ``MNIST_DOCTOR_ORIGIN`` is set aside and named here with its fix."""

    id = "network.origin"
    title = "dataset URL the network checks test"
    # Not a ``network`` check: it opens no connection, so load.consistency does not count it as a
    # witness of the network, and it needs no ssl module. It skips itself under --offline with the
    # rest of the family, as then nothing uses the origin.

    def run(self, origin_choice: OriginChoice, network_target: DatasetSpec, options: Options) -> Result:
        if options.offline:
            return Result.skip(OFFLINE_SKIP)
        choice = origin_choice
        data = {"source": choice.source or "keras", "url": redact_text(network_target.origin)}
        shown = redact_text(network_target.origin)
        if choice.rejected is not None:
            value = redact_text(choice.rejected) or ""
            fix = Hint(f"unset {ORIGIN_ENV}", (Advice(f"unset {ORIGIN_ENV}"),))
            https = https_form(choice.rejected)
            if https is not None:
                fix += otherwise(
                    "or, if that mirror serves https", f"export {ORIGIN_ENV}={redact_text(https)}"
                )
            return Result.warn(
                f"{ORIGIN_ENV}='{value}' {choice.problem}: set aside, the network checks test Keras' own "
                f"URL {shown}",
                details=[
                    f"Keras never reads {ORIGIN_ENV}: load_data() downloads from its own URL",
                    "the doctor uses it as the mirror its network checks test and --fetch downloads from, "
                    "over http(s) only; --fetch without --mirror refuses to start while it is set like this",
                ],
                hint=fix,
                data={**data, "rejected": value, "problem": choice.problem},
            )
        if choice.source == "--origin":
            return Result.ok(f"--origin {shown}: Keras' load_data() itself keeps its own URL", data=data)
        if choice.source:
            return Result.ok(
                f"{ORIGIN_ENV}={shown}: Keras' load_data() itself never reads this variable", data=data
            )
        return Result.ok(f"Keras' own URL: {shown}", data=data)


class HostsCheck(BaseCheck):
    """Every distinct host the selected datasets download from, walked the way Keras downloads.

    The stage checks above detail the first host; cifar10/cifar100 come from another one
    (www.cs.toronto.edu), which can be down or blocked while the storage host is fine.
    """

    id = "network.hosts"
    title = "every dataset host reachable"
    network = True
    slow = True
    after = ("network.http",)

    def run(
        self,
        network_targets: tuple[DatasetSpec, ...],
        network_probes: NetworkProbes,
        other_hosts_probes: list[UrllibProbe],
        datasets: tuple[Dataset, ...],
        target_python: str,
        options: Options,
    ) -> Result:
        if len(network_targets) < 2:
            host = network_targets[0].host if network_targets else "the dataset host"
            return Result.skip(f"one host ({host}): the stage checks above test it")
        probes = [network_probes.urllib, *other_hosts_probes]
        lines: list[str] = []
        first_line = ""
        hosts: list[dict[str, Any]] = []
        worst = Status.OK
        hint: Hint | None = None
        for index, (spec, probe) in enumerate(zip(network_targets, probes, strict=True)):
            verdict, finding = host_verdict(spec, probe, target_python, options)
            users = [d.name for d in datasets if any(_same_host(f.spec, spec) for f in d.files)]
            said = "reachable" if finding is None else (redact_text(finding.summary) or "")
            label = host_label(spec)
            hosts.append({"host": label, "datasets": users, "verdict": HOST_VERDICTS[verdict]})
            if index == 0:
                # The stage checks above judge the first host (and name its fix): not counted twice.
                first_line = f"{label} ({', '.join(users)}): {said} — judged by the network stage checks"
                hosts[-1]["judged_by"] = "network stages"
                continue
            lines.append(f"{label} ({', '.join(users)}): {said}")
            if verdict is not Status.OK and worst is not Status.FAIL:
                worst, hint = verdict, _host_route(users, finding, target_python)
        lines.append(first_line)
        data = {"hosts": hosts}
        failing = [h for h in hosts[1:] if h["verdict"] == "fail"]
        if failing:
            names = ", ".join(f"{h['host']} ({', '.join(h['datasets'])})" for h in failing)
            return Result.fail(
                f"not reachable as Keras downloads: {names}", details=lines, data=data, hint=hint
            )
        if worst is Status.SKIP:
            return Result.skip(
                "not every host was tested to the end: the doctor's --timeout ran out",
                details=lines,
                data={**data, "cut_by_budget": True},
                hint=hint,
            )
        others = ", ".join(h["host"] for h in hosts[1:])
        return Result.ok(f"reachable as Keras downloads: {others}", details=lines, data=data)


def _host_route(users: list[str], finding: Result | None, target_python: str) -> Hint | None:
    """The offline route for the datasets one host serves, or the finding's own hint (a proxy, a CA)."""
    if finding is None:
        return None
    own = Hint(finding.hint or "", finding.advice)
    if finding.status is Status.SKIP:  # cut by our budget: more time, not another route
        return own
    selection = ",".join(users)
    seed = doctor_command(target_python, f"--dataset {selection} --seed FILE")
    fetch = doctor_command(target_python, f"--dataset {selection} --fetch --mirror URL")
    route = (
        "copy the files from a machine that can reach the host and run "
        + quoted(seed)
        + ", or "
        + quoted(fetch)
    )
    if not finding.hint or "offline route" in finding.hint:
        return "no route to this host: " + route
    return own + f"; for {selection}: " + route


#: Where this family stands in the report (lower first; plugins without one come last).
REPORT_ORDER = 60

CHECKS = [
    OriginCheck(),
    StageCheck("dns", "DNS lookup (getaddrinfo)"),
    StageCheck("tcp", "TCP connect (host or proxy)"),
    StageCheck("connect", "proxy CONNECT tunnel"),
    StageCheck("tls", "TLS handshake (default ssl context)"),
    StageCheck("http", "HTTP request via urllib"),
    ThroughputCheck(),
    CompareCheck(),
    HostsCheck(),
]
