"""The one classifier of network failure text: DNS, TCP, proxy, TLS, HTTP → a stable cause name.

Every host-side place that meets a failed connection — the real ``load_data()`` probe, the
network stages, ``--fetch`` — names its cause here, so one failure never gets two names. What
each place *says* about it stays with that place: Keras' user needs the offline route, the
network stage names the stage, ``--fetch`` speaks of its own download.

The input is text: an exception chain flattened as ``type: message`` lines (as the probes record
it, or as :func:`describe_exception` writes it for a live one), plus whatever output came with
it. The target side (``target/net_probe.py``) stays standard-library-only and reports raw error
kinds; it does not import this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from mnist_doctor.causes import Rule, RuleTable, rx
from mnist_doctor.model import Hint
from mnist_doctor.text.hints import quoted


@dataclass(frozen=True)
class FailureText:
    """What the classifier reads: messages and type names of an error chain, then any output."""

    text: str


@dataclass(frozen=True)
class NetworkCause:
    """A classification, not yet a diagnosis: the cause's name and what the text showed.

    Each caller words the diagnosis for its own audience from ``name`` and ``parts`` (the
    pattern's captured groups: ``proxy-*`` status and reason, ``truncated`` bytes got and
    expected, ``http-status`` (Keras' wording) and ``http-error`` (urllib's) code and reason;
    empty for the other causes).
    """

    name: str
    parts: tuple[str, ...]
    text: str

    @property
    def verify_reason(self) -> str:
        """OpenSSL's reason for a failed certificate verification, as the message spells it."""
        found = VERIFY_REASON.search(self.text)
        return found.group(1) if found else "certificate verify failed"


#: The reason inside ``[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: … (_ssl.c:…)``.
VERIFY_REASON = re.compile(r"certificate verify failed: ([^(]+?)\s*\(_ssl", re.IGNORECASE)
#: OpenSSL's reason code in a message, ``[SSL: WRONG_VERSION_NUMBER]``.
SSL_REASON = re.compile(r"\[SSL: ([A-Z_]+)\]")


def _cause(name: str, match: re.Match[str], text: str) -> NetworkCause:
    return NetworkCause(name, tuple((g or "").strip() for g in match.groups()), text)


def _seen(name: str, pattern: re.Pattern[str]) -> Rule[FailureText, NetworkCause]:
    """A cause recognised by its pattern alone."""

    def judge(evidence: FailureText, match: re.Match[str] | None) -> NetworkCause | None:
        return _cause(name, match, evidence.text) if match is not None else None

    return Rule(name, judge, pattern)


def _first_of(name: str, *patterns: re.Pattern[str]) -> Rule[FailureText, NetworkCause]:
    """A cause spelt in several ways with different groups: the first spelling found decides."""

    def judge(evidence: FailureText, match: re.Match[str] | None) -> NetworkCause | None:
        found = next((m for m in (p.search(evidence.text) for p in patterns) if m), None)
        return _cause(name, found, evidence.text) if found is not None else None

    return Rule(name, judge, None)


_VERIFY_FAILED = rx(r"SSLCertVerificationError", r"CERTIFICATE_VERIFY_FAILED")
_HOSTNAME = rx(r"Hostname mismatch", r"doesn't match", r"IP address mismatch")


def _hostname(evidence: FailureText, match: re.Match[str] | None) -> NetworkCause | None:
    """Verification failed because the certificate names another host (often interception)."""
    if match is None or not _HOSTNAME.search(evidence.text):
        return None
    return NetworkCause("tls-hostname", (), evidence.text)


_TUNNEL = re.compile(r"Tunnel connection failed: (\d{3})\s*([^'\"\n]*)", re.IGNORECASE)


def _tunnel(name: str, wants_auth: bool) -> Rule[FailureText, NetworkCause]:
    """The proxy answered CONNECT with an error: 407 wants credentials, anything else refuses."""

    def judge(evidence: FailureText, match: re.Match[str] | None) -> NetworkCause | None:
        if match is None or (match.group(1) == "407") != wants_auth:
            return None
        return _cause(name, match, evidence.text)

    return Rule(name, judge, _TUNNEL)


#: Most specific first: the order is the precedence (a TLS failure through a proxy is a TLS
#: cause; a refused tunnel is the proxy's, not the host's).
RULES: RuleTable[FailureText, NetworkCause] = RuleTable(
    (
        # No ssl module at all comes first: every https failure after it is only a consequence.
        _seen(
            "no-ssl",
            rx(r"No module named '_?ssl'", r"import of _?ssl halted", r"unknown url type: https"),
        ),
        _seen("tls-wrong-version", rx(r"WRONG_VERSION_NUMBER", r"wrong version number")),
        Rule("tls-hostname", _hostname, _VERIFY_FAILED),
        _seen("tls-verify", _VERIFY_FAILED),
        _tunnel("proxy-auth", wants_auth=True),
        _tunnel("proxy-tunnel", wants_auth=False),
        _seen(
            "dns",
            rx(
                r"gaierror",
                r"Name or service not known",
                r"Temporary failure in name resolution",
                r"nodename nor servname",
                r"getaddrinfo failed",
                r"No address associated with hostname",
            ),
        ),
        _seen("truncated", rx(r"retrieval incomplete: got only (\d+) out of (\d+) bytes")),
        _seen("http-status", rx(r"URL fetch failure on \S+: (\d{3}) -- ([^\n]*)")),
        _seen(
            "connection-refused",
            rx(r"ConnectionRefusedError", r"\[Errno 111\]", r"Connection refused", r"ECONNREFUSED"),
        ),
        _first_of(
            "connect-timeout",
            # The type name at the start of a ``type: message`` line (``socket.timeout: …``).
            re.compile(r"^(?:[\w.]+\.)?(?:TimeoutError|timeout):", re.MULTILINE),
            rx(r"\[Errno 110\]", r"timed out"),
        ),
        _seen(
            "unreachable",
            rx(r"Network is unreachable", r"No route to host", r"\[Errno 10[13]\]", r"\[Errno 113\]"),
        ),
        _seen(
            "connection-reset",
            rx(
                r"Connection reset by peer",
                r"Remote end closed connection",
                r"RemoteDisconnected",
                r"EOF occurred in violation",
            ),
        ),
        # urllib's own HTTPError, met without Keras' wording around it (``--fetch``): last, so a
        # transport cause in the same chain names the failure first.
        _seen("http-error", rx(r"HTTP Error (\d{3}): ([^\n]*)")),
    )
)


#: The one root cause of an interpreter built without the ``ssl`` module, worded once.
NO_SSL = (
    "this Python was built without SSL support (no ssl module): https downloads cannot work, "
    "load_data() included"
)
NO_SSL_HINT = (
    "reinstall Python with OpenSSL: rebuild it with the OpenSSL headers installed (Debian/Ubuntu: "
    "the libssl-dev package; pyenv then rebuilds with pyenv install --force VERSION), or use a "
    "python.org, conda or distribution Python, and recreate the environment with it"
)
#: The proxy setting urllib reads for https downloads; ``host:port`` only the network knows.
PROXY_SETTING = "export HTTPS_PROXY=http://host:port"


def proxy_first(otherwise: Hint) -> Hint:
    """Direct connections blocked and no proxy set: an office network's proxy is the usual way out,
    so it comes before ``otherwise`` (each caller's own offline route)."""
    return (
        "if this network reaches the internet through a proxy (an office or campus network), set it "
        "for this shell: "
        + quoted(PROXY_SETTING)
        + " (its address is in the browser's or the system's proxy settings, or ask the network's "
        "admin); otherwise " + otherwise
    )


#: What a status a proxy answers to CONNECT means, and what the user can do about it.
PROXY_STATUSES: dict[int, tuple[str, str]] = {
    403: ("blocks {target} by its policy ({status})", "ask the proxy's admin to allow {host}"),
    401: ("blocks {target} by its policy ({status})", "ask the proxy's admin to allow {host}"),
    502: (
        "could not reach {target} itself ({status}): the failure lies beyond the proxy",
        "try again later; if it lasts, tell the proxy's admin",
    ),
    504: (
        "got no answer from {target} in time ({status}): the failure lies beyond the proxy",
        "try again later; if it lasts, tell the proxy's admin",
    ),
    503: ("is unavailable or overloaded ({status})", "try again later; if it lasts, tell the proxy's admin"),
}
#: Statuses that say the server does not tunnel at all: it is probably not an HTTP proxy.
NOT_A_TUNNEL = frozenset({400, 404, 405, 501})


def proxy_status_meaning(status: int, reason: str, target: str, host: str) -> tuple[str, Hint]:
    """(what the proxy's answer to CONNECT means, what the user can do): one wording for the
    network stage and for the real load_data() alike."""
    said = f"{status} {reason}".rstrip()
    if status in NOT_A_TUNNEL:
        return (
            f"does not open tunnels (CONNECT answered {said}): it is probably not an HTTP proxy",
            "check the proxy setting: " + quoted(PROXY_SETTING),
        )
    meaning, advice = PROXY_STATUSES.get(
        status, ("refused to tunnel to {target} ({status})", "ask its admin")
    )
    words = {"target": target, "status": said, "host": host}
    return meaning.format(**words), Hint(advice.format(**words))


#: Why the checks that go through TLS are not run on such an interpreter.
NO_SSL_SKIP = "skipped: this Python has no ssl module (see tls.verify_paths)"


def missing_ssl(text: str | None) -> bool:
    """Whether ``text`` (an error, a stderr tail) says the interpreter has no ssl module."""
    found = classify(text or "")
    return found is not None and found.name == "no-ssl"


def classify(text: str) -> NetworkCause | None:
    """The network cause ``text`` shows, or None when it shows none of them."""
    return RULES.first(FailureText(text))


def describe_exception(exc: BaseException) -> str:
    """A live exception and what it wraps, as ``module.Type: message`` lines (the probes' shape).

    Follows ``URLError.reason``, ``__cause__`` and ``__context__``, so the innermost socket or
    TLS error is in the text too.
    """
    lines: list[str] = []
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        kind = type(item)
        module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
        lines.append(f"{module}{kind.__name__}: {item}")
        todo += [getattr(item, "reason", None), item.__cause__, item.__context__]
    return "\n".join(lines)


class RecordedError(Protocol):
    """An error as a probe recorded it (``facts.net_records.ProbeError`` is one)."""

    @property
    def type(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def errno_name(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def reason_type(self) -> str | None: ...
    @property
    def verify_message(self) -> str | None: ...


def describe_record(error: RecordedError) -> str:
    """An error as a probe recorded it (``type``, ``errno_name``, ``message``, ``reason``…) as text."""
    kind = error.type or "Error"
    errno_name = f"[{error.errno_name}] " if error.errno_name else ""
    lines = [f"{kind}: {errno_name}{error.message}"]
    if error.reason:
        lines.append(f"{error.reason_type or 'reason'}: {error.reason}")
    if error.verify_message:
        lines.append(f"verify: {error.verify_message}")
    return "\n".join(lines)
