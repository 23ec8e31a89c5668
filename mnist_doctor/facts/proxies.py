"""Proxy facts: which proxy urllib (hence Keras) really uses for the dataset origin.

The decision is made by the *target* interpreter (``target/net_probe.py proxy``): it
builds the same ``urllib.request.Request`` Keras' ``urlretrieve`` builds and applies
``getproxies()`` and ``proxy_bypass(req.host)`` exactly as ``ProxyHandler`` does, so
macOS/Windows system settings and the ``REQUEST_METHOD`` rule are honoured for free.

Proxy URLs are where secrets hide: every URL or error message shown passes through
:func:`mnist_doctor.text.redact.redact_text`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mnist_doctor.causes.network import NO_SSL_SKIP, missing_ssl
from mnist_doctor.datasets.spec import DatasetSpec
from mnist_doctor.facts import FactError, FactUnavailable, Options, fact
from mnist_doctor.facts.answers.introspection import WrongShape
from mnist_doctor.facts.answers.network import PROXY_VIEW, check
from mnist_doctor.network.urlcheck import url_problem
from mnist_doctor.probing.subproc import VerifiedPython, run_script
from mnist_doctor.text.redact import redact_text

PROXY_VIEW_TIMEOUT_S = 20.0


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
        return redact_text(self.raw) or ""

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
    try:
        parts = urlsplit(value if has_scheme else "//" + value)
    except ValueError:  # e.g. http://[::1 — urllib itself would fail on it
        scheme = value.split("://", 1)[0].lower() if has_scheme else None
        return ProxyURL(value, scheme, None, None, "@" in value, "malformed URL (bad IPv6 brackets)")
    scheme = parts.scheme.lower() if has_scheme else None
    creds = "@" in parts.netloc
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
    origin_problem: str | None = None  # the origin is malformed: urllib was not asked

    @classmethod
    def parse(cls, view: object, dataset: DatasetSpec) -> ProxyView:
        """The target's ``proxy_view`` for ``dataset``'s origin, by shape (:data:`PROXY_VIEW`)."""
        record = check(view, PROXY_VIEW, "proxy_view")
        return cls(
            origin=dataset.origin,
            request_type=record.get("request_type") or dataset.scheme,
            request_host=record.get("request_host") or _host(dataset),
            getproxies=dict(record.get("getproxies") or {}),
            env=dict(record.get("env") or {}),
            proxy=record.get("proxy"),
            bypassed=record.get("bypassed", False),
            request_method_set=record.get("request_method_set", False),
            platform=record.get("platform") or "",
        )

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


def _host(dataset: DatasetSpec) -> str:
    try:
        return dataset.host
    except ValueError:  # a malformed origin (http://[::1): the target was not asked about it
        return ""


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
def proxy_view(target_python: VerifiedPython, network_target: DatasetSpec, options: Options) -> ProxyView:
    """urllib's proxy decision for the origin the network stages test, made by the target interpreter.

    A malformed origin (``MNIST_DOCTOR_ORIGIN=http://[::1``) is not a crash: the view says
    so, and ``proxy.effective`` turns it into a finding.
    """
    dataset = network_target
    problem = url_problem(dataset.origin, ("http", "https", "ftp"))
    if problem:
        return ProxyView(origin=dataset.origin, request_type="", request_host="", origin_problem=problem)
    run = run_script(
        target_python,
        "net_probe.py",
        ["proxy", dataset.origin, "{}"],
        timeout=options.budget.slice(cap=PROXY_VIEW_TIMEOUT_S),
    )
    answer = run.answer
    if answer is None:
        reason = run.launch_error or (
            "timed out" if run.timed_out else (run.stderr.strip().splitlines() or ["no answer"])[-1]
        )
        if missing_ssl(reason) or missing_ssl(run.stderr):
            raise FactUnavailable(NO_SSL_SKIP)
        raise FactError(f"could not ask {target_python} about proxies: {redact_text(reason)}")
    try:
        return ProxyView.parse(answer.get("proxy_view") or {}, dataset)
    except WrongShape as exc:
        raise FactError(f"{target_python} gave a malformed answer about proxies: {exc}") from None
