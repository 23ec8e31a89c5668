"""Proxy facts: which proxy urllib (hence Keras) really uses for the dataset origin.

The decision is made by the *target* interpreter (``target/net_probe.py proxy``): it
builds the same ``urllib.request.Request`` Keras' ``urlretrieve`` builds and applies
``getproxies()`` and ``proxy_bypass(req.host)`` exactly as ``ProxyHandler`` does, so
macOS/Windows system settings and the ``REQUEST_METHOD`` rule are honoured for free.

:func:`redact_url` lives here because proxy URLs are where secrets hide; every module
that prints a URL or an error message that may quote one passes it through it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mnist_doctor.dataset import DatasetSpec
from mnist_doctor.facts import FactError, Options, fact
from mnist_doctor.subproc import run_script

PROXY_VIEW_TIMEOUT_S = 20.0
REDACTED = "***"

# scheme://userinfo@ — userinfo may itself contain ':' (user:password) but not '/' or '@'.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s\"'<>]+)@")
# user:password@host:port without a scheme (a proxy value missing its http://).
_BARE_USERINFO = re.compile(r"(?P<pre>(?<![/\w@])[\w.%~+-]+:)(?P<secret>[^\s@/:]+)(?P<at>@[\w.-]+(?::\d+)?)")
# Query parameters that carry secrets in signed or tokenised URLs.
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;](?:access_token|token|auth|key|api_key|apikey|password|passwd|pwd|secret|sig|signature|"
    r"x-goog-signature|x-amz-signature|x-amz-security-token|x-amz-credential|client_secret)=)(?P<value>[^&;#\s\"'<>]+)",
    re.IGNORECASE,
)
# Basic / Bearer credentials quoted in an error or header dump.
_AUTH_HEADER = re.compile(
    r"(?P<key>(?:Proxy-)?Authorization:\s*(?:Basic|Bearer|Digest|Negotiate)\s+)(?P<value>\S+)", re.IGNORECASE
)


def _redact_userinfo(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    if ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        return f"{match.group('scheme')}{user}:{REDACTED}@"
    # A lone user part is often a token (https://TOKEN@host): hide it entirely.
    return f"{match.group('scheme')}{REDACTED}@"


def redact_url(text: str | None) -> str | None:
    """``text`` with every password, token and signature removed.

    Works on a bare URL or on any text that quotes URLs (error messages, details):
    ``http://user:secret@proxy:3128`` becomes ``http://user:***@proxy:3128``, a lone
    token in the user part becomes ``***``, and secret query parameters
    (``?token=…``, ``X-Goog-Signature=…``) and ``Authorization`` values are masked.
    """
    if not text:
        return text
    out = _USERINFO.sub(_redact_userinfo, text)
    out = _BARE_USERINFO.sub(lambda m: m.group("pre") + REDACTED + m.group("at"), out)
    out = _SECRET_PARAM.sub(lambda m: m.group("key") + REDACTED, out)
    return _AUTH_HEADER.sub(lambda m: m.group("key") + REDACTED, out)


def redact_data(value: Any) -> Any:
    """:func:`redact_url` applied to every string inside nested dicts/lists (result ``data``)."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value


@dataclass(frozen=True)
class ProxyURL:
    """A proxy setting split the way urllib reads it, with its problems named."""

    raw: str
    scheme: str | None
    host: str | None
    port: int | None
    has_credentials: bool
    problem: str | None = None

    @property
    def redacted(self) -> str:
        return redact_url(self.raw) or ""

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}" if self.port else (self.host or "")

    @property
    def is_socks(self) -> bool:
        return bool(self.scheme and self.scheme.startswith("socks"))


def parse_proxy(raw: str) -> ProxyURL:
    """Split a proxy value; ``problem`` names what urllib or requests would trip over."""
    value = raw.strip()
    has_scheme = "://" in value
    parts = urlsplit(value if has_scheme else "//" + value)
    scheme = parts.scheme.lower() if has_scheme else None
    creds = bool(parts.username or parts.password)
    problem = None
    try:
        port = parts.port
    except ValueError:
        port = None
        problem = "bad port"
    if not parts.hostname:
        problem = "no host"
    elif problem is None and not has_scheme:
        problem = "no scheme"
    elif problem is None and port is None and scheme in ("http", "https"):
        # urllib then connects to port 80/443 of the proxy: rarely what a proxy listens on.
        problem = "no port"
    return ProxyURL(value, scheme, parts.hostname, port, creds, problem)


@dataclass
class ProxyView:
    """What the target interpreter's urllib does with proxies for the dataset origin."""

    origin: str
    request_type: str
    request_host: str
    getproxies: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    proxy: str | None = None  # the proxy urllib would use (None: direct)
    bypassed: bool = False  # a proxy is configured for the scheme but proxy_bypass says no
    request_method_set: bool = False
    platform: str = ""

    @property
    def configured(self) -> str | None:
        """The proxy configured for the origin's scheme, bypassed or not."""
        return self.getproxies.get(self.request_type)

    @property
    def proxy_url(self) -> ProxyURL | None:
        return parse_proxy(self.proxy) if self.proxy else None

    def proxy_vars(self) -> dict[str, str]:
        """``*_proxy`` variables of the target environment (any case), values raw."""
        return {k: v for k, v in self.env.items() if k.lower().endswith("_proxy")}

    def no_proxy(self) -> str | None:
        """The ``no_proxy`` value urllib reads (lower case wins, like getproxies)."""
        for name in ("no_proxy", "NO_PROXY"):
            if name in self.env:
                return self.env[name]
        for key, value in self.env.items():
            if key.lower() == "no_proxy":
                return value
        return None


def no_proxy_entries(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def urllib_bypass_entry(entry: str, host: str, hostport: str) -> bool:
    """Whether one NO_PROXY entry makes urllib bypass the proxy (``proxy_bypass_environment``)."""
    if entry == "*":
        return True
    name = entry.lstrip(".").lower()
    host, hostport = host.lower(), hostport.lower()
    return host == name or hostport == name or host.endswith("." + name) or hostport.endswith("." + name)


def entry_problem(entry: str) -> str | None:
    """Why urllib would not understand a NO_PROXY entry the way its author meant it."""
    if entry == "*":
        return None
    if "/" in entry:
        try:
            ipaddress.ip_network(entry, strict=False)
            return "a CIDR range: requests honours it for IP addresses, urllib (Keras) never does"
        except ValueError:
            return "contains '/': urllib compares it as a plain name"
    if "*" in entry:
        return f"wildcard: urllib compares '{entry}' literally; write '{entry.lstrip('*')}' instead"
    if "://" in entry:
        return "contains a scheme: urllib compares it as a plain name and never matches"
    return None


@fact
def proxy_view(target_python: str, dataset: DatasetSpec, options: Options) -> ProxyView:
    """urllib's proxy decision for the dataset origin, made by the target interpreter."""
    run = run_script(
        target_python,
        "net_probe.py",
        ["proxy", dataset.origin, "{}"],
        timeout=min(PROXY_VIEW_TIMEOUT_S, options.remaining()),
    )
    answer = run.answer
    if answer is None:
        reason = run.launch_error or (
            "timed out" if run.timed_out else (run.stderr.strip().splitlines() or ["no answer"])[-1]
        )
        raise FactError(f"could not ask {target_python} about proxies: {redact_url(reason)}")
    view = answer.get("proxy_view") or {}
    return ProxyView(
        origin=dataset.origin,
        request_type=view.get("request_type") or dataset.scheme,
        request_host=view.get("request_host") or dataset.host,
        getproxies=dict(view.get("getproxies") or {}),
        env=dict(view.get("env") or {}),
        proxy=view.get("proxy"),
        bypassed=bool(view.get("bypassed")),
        request_method_set=bool(view.get("request_method_set")),
        platform=view.get("platform") or "",
    )
