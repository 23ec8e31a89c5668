"""Family ``proxy``: the proxy settings exactly as urllib (hence Keras) reads them.

All checks read :func:`mnist_doctor.facts.proxies.proxy_view` (the target interpreter's own
``getproxies()`` / ``proxy_bypass``). Values shown are always redacted.
"""

from __future__ import annotations

from mnist_doctor.facts.proxies import (
    ProxyView,
    entry_problem,
    no_proxy_entries,
    parse_proxy,
    urllib_bypass_entry,
)
from mnist_doctor.model import BaseCheck, Hint, Result
from mnist_doctor.text.hints import pip_install, quoted, said
from mnist_doctor.text.redact import redact_text


#: urllib speaks no socks: a local HTTP proxy that forwards to the socks one bridges the gap.
def _bridge(socks: str, variable: str) -> Hint:
    """A local HTTP bridge in front of a socks proxy, and the setting that points urllib at it."""
    return f"bridge it to HTTP, e.g. `pproxy -l http://127.0.0.1:8080 -r {socks}` then " + quoted(
        f"export {variable}=http://127.0.0.1:8080"
    )


def _var_for(view: ProxyView, scheme: str) -> str:
    """The variable name that set ``scheme``'s proxy (lower case wins, as in getproxies)."""
    names = [k for k in view.proxy_vars() if k.lower() == f"{scheme}_proxy"]
    return next((n for n in names if n.islower()), names[0] if names else f"{scheme}_proxy (system settings)")


class EffectiveProxy(BaseCheck):
    """Which proxy urllib uses for the dataset origin, and where that choice comes from."""

    id = "proxy.effective"
    title = "proxy urllib uses for the dataset"

    def run(self, proxy_view: ProxyView) -> Result:
        view = proxy_view
        if view.origin_problem:
            return Result.fail(
                f"the dataset origin {redact_text(view.origin)} {view.origin_problem}: "
                "urllib (Keras) cannot download from it",
                data={"origin_problem": view.origin_problem},
                hint="give a well-formed URL (--origin https://host/path/mnist.npz) or "
                + said("unset MNIST_DOCTOR_ORIGIN"),
            )
        data = {
            "getproxies": {k: redact_text(v) for k, v in view.getproxies.items()},
            "proxy": redact_text(view.proxy),
            "bypassed": view.bypassed,
            "request_host": view.request_host,
        }
        if view.proxy:
            return Result.ok(
                f"{view.request_type}:// requests go through {redact_text(view.proxy)} "
                f"(from {_var_for(view, view.request_type)})",
                data=data,
            )
        if view.bypassed:
            return Result.ok(
                f"direct: NO_PROXY exempts {view.request_host} from {redact_text(view.configured)}", data=data
            )
        if "all" in view.getproxies:
            every = parse_proxy(view.getproxies["all"])
            variable = f"{view.request_type.upper()}_PROXY"
            hint = (
                _bridge(every.redacted, variable)
                if every.is_socks
                else said(f"export {variable}=http://{every.hostport}")
            )
            return Result.warn(
                f"ALL_PROXY={redact_text(view.getproxies['all'])} is set but urllib (Keras) ignores it: "
                "the download goes direct (requests and curl do use it)",
                data=data,
                hint=hint,
            )
        others = ", ".join(sorted(view.getproxies))
        tail = f" (proxies are set for {others} only)" if others else ""
        return Result.ok(f"direct connection: no proxy for {view.request_type}://{tail}", data=data)


class CaseDisagreement(BaseCheck):
    """Upper- and lower-case variables with different values: urllib takes the lower-case one."""

    id = "proxy.case"
    title = "upper/lower-case proxy variables agree"

    def run(self, proxy_view: ProxyView) -> Result:
        groups: dict[str, dict[str, str]] = {}
        for name, value in proxy_view.proxy_vars().items():
            groups.setdefault(name.lower(), {})[name] = value
        clashes = {low: names for low, names in groups.items() if len(set(names.values())) > 1}
        if not clashes:
            return Result.ok("no conflicting upper/lower-case proxy variables")
        details = [
            ", ".join(f"{n}={redact_text(v) or '(empty)'}" for n, v in sorted(names.items()))
            for names in clashes.values()
        ]
        first = next(iter(clashes))
        winner = groups[first].get(first)
        return Result.warn(
            f"{len(clashes)} proxy variable(s) differ between upper and lower case; "
            "urllib uses the lower-case "
            "one, other tools (curl ignores HTTP_PROXY) may not",
            details=details,
            data={"conflicts": sorted(clashes)},
            hint="give both the same value, e.g. "
            + said(f'export {first.upper()}="${first}"')
            + ("" if winner else " or " + said(f"unset {first.upper()}")),
        )


class ProxySyntax(BaseCheck):
    """Proxy values without a scheme, without a host, or with a port that is not a number."""

    id = "proxy.syntax"
    title = "proxy values are well-formed URLs"

    def run(self, proxy_view: ProxyView) -> Result:
        failures: list[str] = []
        warnings: list[str] = []
        for name, value in sorted(proxy_view.proxy_vars().items()):
            if name.lower() == "no_proxy" or not value:
                continue
            parsed = parse_proxy(value)
            if not parsed.problem:
                continue
            used = proxy_view.proxy is not None and proxy_view.proxy.strip() == redact_text(value.strip())
            line = f"{name}={parsed.redacted}: {parsed.problem}"
            serious = parsed.problem in ("bad port", "no host") or parsed.problem.startswith("malformed")
            (failures if used and serious else warnings).append(line)
        if not failures and not warnings:
            return Result.ok("every proxy value has a scheme, a host and a numeric port")
        example = said("export HTTPS_PROXY=http://host:port")
        if failures:
            return Result.fail(
                f"the proxy for the dataset is malformed: {failures[0]}",
                details=failures + warnings,
                hint=example,
            )
        return Result.warn(
            f"{len(warnings)} proxy value(s) are incomplete: {warnings[0]}",
            details=warnings,
            hint=example + " (urllib guesses a missing scheme from the URL, requests assumes "
            "http://; a missing port means 80)",
        )


class HttpsSchemeTrap(BaseCheck):
    """An ``https://`` proxy URL: right only for a proxy that itself speaks TLS."""

    id = "proxy.scheme"
    title = "proxy URL scheme (the WRONG_VERSION_NUMBER trap)"

    def run(self, proxy_view: ProxyView) -> Result:
        bad = {
            n: parse_proxy(v)
            for n, v in proxy_view.proxy_vars().items()
            if n.lower() != "no_proxy" and v and v.strip().lower().startswith("https://")
        }
        if not bad:
            return Result.ok("no proxy is given with an https:// URL")
        name, parsed = sorted(bad.items())[0]
        return Result.warn(
            f"{name}={parsed.redacted} uses https://: if it is an ordinary HTTP proxy, "
            "requests/pip (and urllib "
            "for http:// URLs) speak TLS to it and fail with WRONG_VERSION_NUMBER",
            details=[
                "urllib tunnels https:// downloads in plain text whatever the proxy scheme; "
                "urllib3 >= 1.26 honours the https:// scheme"
            ],
            data={"variables": sorted(bad)},
            hint=said(f"export {name}=http://{parsed.hostport}"),
        )


class SocksProxy(BaseCheck):
    """A socks proxy: urllib cannot use one at all; requests only with PySocks."""

    id = "proxy.socks"
    title = "socks proxies"

    def run(self, proxy_view: ProxyView, target_python: str) -> Result:
        socks = {
            n: parse_proxy(v)
            for n, v in proxy_view.proxy_vars().items()
            if n.lower() != "no_proxy" and v and v.strip().lower().startswith("socks")
        }
        if not socks:
            return Result.ok("no socks proxy configured")
        chosen = proxy_view.proxy_url
        if chosen and chosen.is_socks:
            return Result.fail(
                f"urllib (Keras) is told to use the socks proxy {chosen.redacted}, which it cannot speak",
                details=[f"requests needs PySocks for it: {pip_install(target_python, 'requests[socks]')}"],
                hint=_bridge(chosen.redacted, "HTTPS_PROXY"),
            )
        name, parsed = sorted(socks.items())[0]
        return Result.warn(
            f"{name}={parsed.redacted} is a socks proxy: urllib ignores it for the dataset, "
            "requests needs PySocks",
            hint=_bridge(parsed.redacted, "HTTPS_PROXY"),
        )


class CgiRequestMethod(BaseCheck):
    """``REQUEST_METHOD`` set (a CGI context): urllib drops HTTP_PROXY (httpoxy defence)."""

    id = "proxy.cgi"
    title = "HTTP_PROXY under REQUEST_METHOD"

    def run(self, proxy_view: ProxyView) -> Result:
        http_vars = [n for n in proxy_view.proxy_vars() if n.lower() == "http_proxy" and proxy_view.env[n]]
        if not (proxy_view.request_method_set and http_vars):
            return Result.ok("HTTP_PROXY is not being ignored")
        severity = Result.fail if proxy_view.request_type == "http" else Result.warn
        return severity(
            "REQUEST_METHOD is set, so urllib ignores HTTP_PROXY (httpoxy defence)"
            + (": the http:// dataset URL goes direct" if proxy_view.request_type == "http" else ""),
            hint=said("unset REQUEST_METHOD")
            + " outside a CGI script, or use an https:// origin with HTTPS_PROXY",
        )


class NoProxyCoverage(BaseCheck):
    """Which NO_PROXY entry exempts the dataset host, and entries urllib misreads."""

    id = "proxy.no_proxy"
    title = "NO_PROXY coverage of the dataset host"

    def run(self, proxy_view: ProxyView) -> Result:
        value = proxy_view.no_proxy()
        entries = no_proxy_entries(value)
        host_port = proxy_view.request_host
        host = host_port.rsplit(":", 1)[0] if host_port.count(":") == 1 else host_port
        matching = [e for e in entries if urllib_bypass_entry(e, host, host_port)]
        problems = [f"'{e}': {p}" for e in entries if (p := entry_problem(e))]
        data = {"entries": entries, "matching": matching, "bypassed": proxy_view.bypassed}
        if not entries:
            return Result.ok("NO_PROXY is not set", data=data)
        details = [f"entries: {', '.join(entries)}", *problems]
        if proxy_view.configured and matching:
            return Result.warn(
                f"NO_PROXY entry '{matching[0]}' sends {host_port} direct, past the proxy "
                f"{redact_text(proxy_view.configured)}",
                details=details,
                data=data,
                hint=f"remove '{matching[0]}' from NO_PROXY if this network only reaches the internet "
                "via the proxy",
            )
        if problems:
            return Result.warn(
                f"{len(problems)} NO_PROXY entr{'y' if len(problems) == 1 else 'ies'} "
                f"urllib does not read as intended: {problems[0]}",
                details=details,
                data=data,
                hint="use plain names or leading-dot domains in NO_PROXY, e.g. .example.com",
            )
        status = "is exempt" if matching else "is not exempt"
        return Result.ok(
            f"{host_port} {status} ({len(entries)} NO_PROXY entries)", details=details, data=data
        )


#: Where this family stands in the report (lower first; plugins without one come last).
REPORT_ORDER = 40

CHECKS = [
    EffectiveProxy(),
    CaseDisagreement(),
    ProxySyntax(),
    HttpsSchemeTrap(),
    SocksProxy(),
    CgiRequestMethod(),
    NoProxyCoverage(),
]
