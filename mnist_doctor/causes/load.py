"""Name the root cause of a failed ``load_data()`` from its exception chain and output.

Keras reports every download problem as a bare ``Exception("URL fetch failure on {origin}:
{errno or HTTP code} -- {reason}")`` (``keras/src/utils/file_utils.py``; the same format in
Keras 2 and tf-keras), and a bad download as ``ValueError("Incomplete or corrupted file
detected. ...")``. The probe keeps the whole ``__cause__``/``__context__`` chain, so the
original ``socket.gaierror`` or ``ssl.SSLCertVerificationError`` is still visible; the
rules below read that text (type names and messages; network causes are named by
:mod:`mnist_doctor.causes.network`), most specific first, and turn it into one line with
the exact fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from mnist_doctor.causes import (
    CACHE,
    IMPORT,
    NETWORK,
    OTHER,
    RESOURCE,
    TIMEOUT,
    Diagnosis,
    Rule,
    RuleTable,
)
from mnist_doctor.causes.http_status import fetch_again
from mnist_doctor.causes.imports import classify_import_failure
from mnist_doctor.causes.network import (
    NO_SSL,
    NO_SSL_HINT,
    NetworkCause,
    classify,
    proxy_first,
    proxy_status_meaning,
)
from mnist_doctor.causes.tls_issuer import inspection_product
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.datasets.table import table
from mnist_doctor.facts.load_probe import LoadProbe
from mnist_doctor.model import Fix, FixKind, Hint, Status
from mnist_doctor.text import hints
from mnist_doctor.text.hints import clear_cache_fix, doctor_argv, doctor_command, fetch_fix, quoted

#: What ``target/load_probe.py``'s ``--offline`` guard raises, and the cause it becomes.
OFFLINE_GUARD_TEXT = "mnist-doctor --offline: the network is off for this probe"
OFFLINE_DOWNLOAD = "offline-download"


@dataclass
class Evidence:
    """Everything the rules look at, flattened once."""

    probe: LoadProbe
    error: dict[str, Any]
    types: list[str]
    text: str  # messages of the error and its chain, then the tail of stderr
    host: str
    target_python: str
    #: The loader that failed (a :class:`~mnist_doctor.datasets.table.Dataset`); None: MNIST.
    dataset: Any = None
    #: The mirror a fetch fix downloads from (``--origin``/``MNIST_DOCTOR_ORIGIN``), if one is set.
    mirror: str | None = None

    def has_type(self, *names: str) -> bool:
        return any(t.rsplit(".", 1)[-1] in names for t in self.types)

    def search(self, pattern: str) -> re.Match[str] | None:
        return re.search(pattern, self.text, re.IGNORECASE)

    @cached_property
    def network(self) -> NetworkCause | None:
        """The network cause the text shows (the one classifier every place uses)."""
        return classify(self.text)

    def network_cause(self, *names: str) -> NetworkCause | None:
        cause = self.network
        return cause if cause is not None and cause.name in names else None

    @property
    def proxy(self) -> dict[str, Any] | None:
        route = self.probe.answer.get("proxy")
        return route if route and not route.get("bypassed") else None

    @property
    def proxy_label(self) -> str:
        route = self.proxy or {}
        return f"{route.get('scheme', 'http')}://{route.get('host')}:{route.get('port')}"

    def left_behind(self) -> list[dict[str, Any]]:
        return list(self.probe.answer.get("left_behind") or [])


def offline_route(target_python: str) -> Hint:
    """The way around a network that cannot deliver mnist.npz (:func:`text.hints.offline_route`)."""
    return hints.offline_route(target_python)


def _proxy_route(ev: Evidence) -> Hint:
    """Direct connections blocked: an office network's proxy first (none is set), then offline."""
    offline = offline_route(ev.target_python)
    return offline if ev.proxy else proxy_first(offline)


def _fetch_fix(target_python: str, mirror: str | None, reason: str) -> tuple[Fix, ...]:
    """Download from the mirror the user named; without one there is nothing ``--fix`` can fetch."""
    return (fetch_fix(target_python, mirror, reason),) if mirror else ()


def _quoted_path(ev: Evidence, error: str) -> str:
    """The path an OSError message quotes after ``error`` (``[Errno N] error: 'path'``)."""
    match = ev.search(re.escape(error) + r": '([^']+)'")
    return match.group(1) if match else "the Keras cache"


def _permission(ev: Evidence) -> Diagnosis | None:
    if not (ev.has_type("PermissionError") or ev.search(r"\[Errno 13\]|Permission denied")):
        return None
    path = _quoted_path(ev, "Permission denied")
    return Diagnosis(
        "permission",
        CACHE,
        f"PermissionError on {path}",
        "make it writable ("
        + quoted(f"chmod -R u+rwX {path}")
        + " or "
        + quoted(f"sudo chown -R $USER {path}")
        + "), or point Keras elsewhere: "
        + quoted("export KERAS_HOME=$HOME/.keras")
        + " (Keras 3)",
    )


def _read_only(ev: Evidence) -> Diagnosis | None:
    """EROFS: the cache is on a read-only volume, which no chmod changes (cache.permissions says
    which folder Keras can use instead)."""
    if not ev.search(r"\[Errno 30\]|Read-only file system"):
        return None
    path = _quoted_path(ev, "Read-only file system")
    return Diagnosis(
        "read-only-cache",
        CACHE,
        f"{path} is on a read-only file system",
        "point Keras at a folder on a writable disk ("
        + quoted("export KERAS_HOME=…")
        + ", Keras 3); chmod cannot change a read-only volume",
    )


def _path_rejected(ev: Evidence) -> Diagnosis | None:
    if not ev.search(r"Paths are no longer accepted as the `fname` argument"):
        return None
    return Diagnosis(
        "path-rejected",
        OTHER,
        "Keras ≥ 3.6 rejects a path in load_data(path=...)/get_file(fname=...)",
        'pass a bare file name (`load_data(path="mnist.npz")`) and choose the folder with '
        "`KERAS_HOME` (or get_file's `cache_dir=`)",
    )


def _issuer_name(ev: Evidence) -> str | None:
    peer = ((ev.probe.answer.get("tls") or {}).get("peer") or {}).get("issuer") or {}
    parts = [peer.get("organizationName"), peer.get("commonName")]
    named = [p for p in parts if p]
    return " / ".join(dict.fromkeys(named)) if named else None


def _tls(ev: Evidence) -> Diagnosis | None:
    cause = ev.network_cause("tls-wrong-version", "tls-hostname", "tls-verify")
    if cause is None:
        return None
    if cause.name == "tls-wrong-version":
        where = f"the proxy {ev.proxy_label}" if ev.proxy else ev.host
        return Diagnosis(
            "tls-wrong-version",
            NETWORK,
            f"TLS handshake with {where} got plain HTTP (WRONG_VERSION_NUMBER)",
            "an HTTP proxy written as https:// — use " + quoted("export HTTPS_PROXY=http://HOST:PORT")
            if ev.proxy
            else "something on port 443 does not speak TLS; check the network checks",
        )
    tls = ev.probe.answer.get("tls") or {}
    why = cause.verify_reason
    issuer = _issuer_name(ev)
    if tls.get("ca_count") == 0:
        return Diagnosis(
            "tls-no-system-cas",
            NETWORK,
            f"TLS verification failed: this Python has no CA certificates ({why})",
            "macOS python.org builds: run `/Applications/Python 3.X/Install Certificates.command`; elsewhere "
            + quoted("export SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
            + " (or `$(python -m certifi)`)",
            details=tuple(
                f"default verify paths: {tls.get('verify_paths')}" for _ in [0] if tls.get("verify_paths")
            ),
        )
    if cause.name == "tls-hostname":
        return Diagnosis(
            "tls-hostname",
            NETWORK,
            f"TLS verification failed: the certificate is not for {ev.host} ({why})",
            f"no CA setting cures a certificate for another name: {ev.host} leads to another server "
            "here (an /etc/hosts entry, a DNS filter, a captive portal, a proxy or VPN): check "
            f"`getent hosts {ev.host}`; meanwhile " + offline_route(ev.target_python),
        )
    by = f"issued by {issuer!r}" if issuer else "from an issuer this Python does not trust"
    product = inspection_product([issuer])
    trust = (
        "get its root CA as PEM and "
        + quoted("export SSL_CERT_FILE=/path/to/ca.pem")
        + " (a bundle of the system CAs plus that CA; urllib ignores REQUESTS_CA_BUNDLE)"
    )
    return Diagnosis(
        "tls-interception" if product else "tls-untrusted",
        NETWORK,
        f"TLS verification failed: {ev.host} presented a certificate {by} ({why})",
        (f"TLS inspection by {product}: " if product else "if this CA is one you trust: ")
        + trust
        + "; or avoid the network: "
        + offline_route(ev.target_python),
        details=(f"issuer: {issuer}",) if issuer else (),
    )


def _proxy(ev: Evidence) -> Diagnosis | None:
    cause = ev.network_cause("proxy-auth", "proxy-tunnel")
    if cause is None:
        return None
    status, text = cause.parts
    if status == "407":
        has_creds = bool((ev.proxy or {}).get("has_credentials"))
        return Diagnosis(
            "proxy-auth",
            NETWORK,
            f"proxy {ev.proxy_label} wants authentication (407 {text or 'Proxy Authentication Required'})"
            + ("; the credentials in HTTPS_PROXY were refused" if has_creds else ""),
            "put the credentials in the proxy URL, percent-encoded: "
            + quoted("export HTTPS_PROXY=http://<user>:<password>@HOST:PORT")
            + " (urllib supports Basic auth only)",
        )
    meaning, advice = proxy_status_meaning(int(status), text or "", f"{ev.host}:443", ev.host)
    return Diagnosis(
        "proxy-tunnel",
        NETWORK,
        f"proxy {ev.proxy_label} {meaning}",
        advice + "; meanwhile, " + offline_route(ev.target_python),
    )


def _no_ssl(ev: Evidence) -> Diagnosis | None:
    if ev.network_cause("no-ssl") is None:
        return None
    return Diagnosis("no-ssl", NETWORK, NO_SSL, NO_SSL_HINT)


def _dns(ev: Evidence) -> Diagnosis | None:
    if ev.network_cause("dns") is None:
        return None
    if ev.proxy:
        return Diagnosis(
            "dns-proxy",
            NETWORK,
            f"DNS for the proxy host {ev.proxy.get('host')} failed",
            "fix the host name in HTTPS_PROXY / https_proxy, or unset it",
        )
    return Diagnosis(
        "dns",
        NETWORK,
        f"DNS for {ev.host} failed (no internet, or the name is blocked)",
        offline_route(ev.target_python),
        fixes=_fetch_fix(ev.target_python, ev.mirror, "the dataset host cannot be resolved"),
    )


def _connect(ev: Evidence) -> Diagnosis | None:
    to = f"the proxy {ev.proxy_label}" if ev.proxy else f"{ev.host}:443"
    cause = ev.network.name if ev.network is not None else None
    if cause == "connection-refused":
        return Diagnosis(
            "connection-refused",
            NETWORK,
            f"connection refused by {to}",
            (
                "the proxy in HTTPS_PROXY is not listening: fix or unset it"
                if ev.proxy
                else f"a firewall rejects direct connections to {ev.host}; " + _proxy_route(ev)
            ),
            fixes=() if ev.proxy else _fetch_fix(ev.target_python, ev.mirror, "connection refused"),
        )
    if cause == "connect-timeout":
        return Diagnosis(
            "connect-timeout",
            NETWORK,
            f"connection to {to} timed out",
            "a firewall drops the traffic; " + _proxy_route(ev),
            fixes=_fetch_fix(ev.target_python, ev.mirror, "connection timed out"),
        )
    if cause == "unreachable":
        return Diagnosis(
            "unreachable",
            NETWORK,
            f"no route to {to}",
            offline_route(ev.target_python),
            fixes=_fetch_fix(ev.target_python, ev.mirror, "network unreachable"),
        )
    if cause == "connection-reset":
        return Diagnosis(
            "connection-reset",
            NETWORK,
            f"{to} closed the connection before answering",
            "a proxy or firewall cuts the transfer; " + offline_route(ev.target_python),
            fixes=_fetch_fix(ev.target_python, ev.mirror, "connection reset"),
        )
    return None


_HTTP_HINTS: dict[str, Hint | str] = {
    "403": "the host or a proxy forbids the download (a corporate policy?)",
    "404": "the file is not at this URL: the origin moved, or a mirror lacks it",
    "407": "the proxy wants credentials: " + quoted("export HTTPS_PROXY=http://<user>:<password>@HOST:PORT"),
    "429": "rate limited: wait and retry",
}


def _http(ev: Evidence) -> Diagnosis | None:
    cause = ev.network_cause("http-status")
    if cause is None:
        return None
    code, text = cause.parts
    advice = _HTTP_HINTS.get(code, "the server failed; retry later" if code.startswith("5") else "")
    return Diagnosis(
        "http-status",
        NETWORK,
        f"HTTP {code} {text} from {ev.proxy_label if ev.proxy else ev.host}".strip(),
        (advice + "; " if advice else "") + offline_route(ev.target_python),
        fixes=_fetch_fix(ev.target_python, ev.mirror, f"HTTP {code}"),
    )


def _truncated(ev: Evidence) -> Diagnosis | None:
    cause = ev.network_cause("truncated")
    if cause is None:
        return None
    got, total = (int(part) for part in cause.parts)
    again = _fetch_again(ev, "download again, with timeouts and retries (the last one broke mid-way)")
    return Diagnosis(
        "truncated",
        NETWORK,
        f"transfer truncated: got {got:,} of {total:,} bytes (retrieval incomplete)",
        "the host answered and the connection broke mid-download (Keras removed the partial file): "
        f"download again with retries, `{again.command}`; if it breaks again, a proxy or firewall "
        "cuts long transfers: " + offline_route(ev.target_python),
        fixes=(again,),
    )


def _fetch_again(ev: Evidence, why: str) -> Fix:
    """``mnist-doctor --fetch`` for the loader that failed, from where it failed (its mirror, or
    Keras' own origin): the host works, only the transfer broke, so the same source again."""
    name = getattr(ev.dataset, "name", "mnist")
    if name == "mnist":
        return fetch_again(MNIST.with_origin(ev.mirror) if ev.mirror else MNIST, ev.target_python, why)
    origin = ev.dataset.files[0].spec.origin
    argv = doctor_argv(ev.target_python, "--fetch", "--dataset", name)
    return Fix(FixKind.FETCH, argv, why, False, url=origin, dataset=name)


def _bad_file(ev: Evidence) -> Diagnosis | None:
    hash_mismatch = ev.search(r"Incomplete or corrupted file detected")
    bad_zip = ev.has_type("BadZipFile", "EOFError", "UnpicklingError") or ev.search(
        r"File is not a zip file|Failed to interpret file|Cannot load file containing pickled data|"
        r"No data left in file|Ran out of input"
    )
    if not (hash_mismatch or bad_zip):
        return None
    files = ev.left_behind()
    html = next((f for f in files if f.get("looks_html")), None)
    details = tuple(
        f"{f['path']}: {f['size']:,} bytes, sha256 {f['sha256'][:16]}…, "
        f"starts {bytes.fromhex(f['head'][:16])!r}"
        for f in files
    )
    if html:
        clear = clear_cache_fix(ev.target_python, "an HTML page sits where mnist.npz should be")
        return Diagnosis(
            "html-instead-of-data",
            NETWORK,
            f"the download is an HTML page ({html['size']:,} bytes), not mnist.npz: "
            "a proxy or captive portal answered instead of the dataset host",
            f"remove it with `{clear.command}`, then get through the proxy or "
            + offline_route(ev.target_python),
            details=details,
            fixes=(clear,),
        )
    if hash_mismatch:
        zipped = any(f.get("head", "").startswith("504b0304") for f in files)
        short = next((f for f in files if not f.get("zip_complete") and f.get("size", 0) < MNIST.size), None)
        if zipped and short:
            # Keras 2 / tf-keras do not check Content-Length: a cut transfer surfaces here.
            shape = f"cut short ({short['size']:,} of {MNIST.size:,} bytes): the transfer was interrupted"
        elif zipped:
            shape = "a zip archive with other content (a modified mirror or a rewriting proxy)"
        else:
            shape = "incomplete or not the dataset"
        clear = clear_cache_fix(ev.target_python, "the downloaded mnist.npz fails Keras' sha256 check")
        return Diagnosis(
            "hash-mismatch",
            CACHE,
            f"Keras' sha256 check failed (Incomplete or corrupted file detected): the file is {shape}",
            f"remove it with `{clear.command}`, then download again or " + offline_route(ev.target_python),
            details=details,
            fixes=(clear,),
        )
    clear = clear_cache_fix(ev.target_python, "mnist.npz is not a readable npz")
    return Diagnosis(
        "bad-zip",
        CACHE,
        f"the cached mnist.npz cannot be read by numpy ({ev.types[0].rsplit('.', 1)[-1]})",
        f"remove it with `{clear.command}` and download again",
        details=details,
        fixes=(clear,),
    )


def _resources(ev: Evidence) -> Diagnosis | None:
    if ev.has_type("MemoryError") or ev.search(r"Unable to allocate|std::bad_alloc"):
        return Diagnosis(
            "memory",
            RESOURCE,
            "out of memory while loading MNIST (it needs about 55 MB as uint8)",
            "free memory or raise the container/ulimit memory limit",
        )
    if ev.search(r"No space left on device|\[Errno 28\]"):
        return Diagnosis(
            "disk-full",
            RESOURCE,
            "no space left on the device holding the Keras cache",
            "free disk space, or " + quoted("export KERAS_HOME=/a/larger/disk/.keras") + " (Keras 3)",
        )
    return None


def _offline_guard(ev: Evidence) -> Diagnosis | None:
    """Keras tried to download under ``--offline`` and the probe's own guard stopped it."""
    if not ev.search(re.escape(OFFLINE_GUARD_TEXT)):
        return None
    return Diagnosis(
        OFFLINE_DOWNLOAD,
        NETWORK,
        "Keras wanted to download mnist.npz (it does not accept the cached copy); "
        "--offline kept the probe off the network",
        "with a network, run "
        + quoted(doctor_command(ev.target_python))
        + "; offline: "
        + quoted(doctor_command(ev.target_python, "--seed FILE"))
        + " with the original file",
        status=Status.SKIP,  # not a fault of this machine: the test was not possible offline
    )


def _rule(name: str, judge: Callable[[Evidence], Diagnosis | None]) -> Rule[Evidence, Diagnosis]:
    return Rule(name, lambda ev, _match: judge(ev))


#: Most specific first: the first rule that recognises the evidence names the cause. The network
#: rules follow the order of :data:`mnist_doctor.causes.network.RULES`, which picks the cause.
RULES: RuleTable[Evidence, Diagnosis] = RuleTable(
    (
        _rule(OFFLINE_DOWNLOAD, _offline_guard),
        _rule("path-rejected", _path_rejected),
        _rule("read-only-cache", _read_only),
        _rule("permission", _permission),
        _rule("no-ssl", _no_ssl),
        _rule("tls", _tls),
        _rule("proxy", _proxy),
        _rule("dns", _dns),
        _rule("truncated", _truncated),
        _rule("http-status", _http),
        _rule("connection", _connect),
        _rule("bad-file", _bad_file),
        _rule("resources", _resources),
    )
)


def _chain_text(error: dict[str, Any]) -> tuple[list[str], str]:
    records = [error, *(error.get("chain") or [])]
    types = [str(r.get("type", "")) for r in records]
    text = "\n".join(f"{r.get('type')}: {r.get('message')}" for r in records)
    return types, text


def _timeout(probe: LoadProbe, host: str, target_python: str, mirror: str | None) -> Diagnosis:
    stage = probe.unfinished_stage() or "start-up"
    waited = f"{probe.run.elapsed_s:.0f}s"
    if stage == "load_data":
        partial = probe.partial_files()
        got = (
            f"; {partial[0]['size']:,} bytes arrived ({partial[0]['path']})"
            if partial
            else "; no byte arrived"
        )
        return Diagnosis(
            "stalled",
            TIMEOUT,
            f"load_data did not finish in {waited}: killed by the doctor "
            f"(Keras' download has no timeout){got}",
            f"the connection to {host} (or the proxy) hangs; " + offline_route(target_python),
            details=tuple(
                f"partial file left by the kill: {p['path']} ({p['size']:,} bytes) — "
                + ("the doctor removed it" if p["outcome"].endswith("removed") else p["outcome"])
                for p in partial
            ),
            fixes=_fetch_fix(target_python, mirror, "the download stalls"),
        )
    return Diagnosis(
        "import-hang",
        TIMEOUT,
        f"importing {'Keras' if probe.mode == 'keras' else 'TensorFlow'} did not finish in {waited}: "
        "killed by the doctor",
        "rerun with a larger --timeout; on a slow disk the first TensorFlow import can take a minute",
    )


def diagnose(
    probe: LoadProbe,
    *,
    host: str,
    target_python: str,
    tf_minor: str | None = None,
    declared: dict[str, str] | None = None,
    dataset: Any = None,
    mirror: str | None = None,
) -> Diagnosis:
    """The named root cause of a failed probe (call only when ``probe.succeeded`` is false).

    ``mirror`` is where a fetch fix may download from (None: no mirror was named).

    ``declared`` maps distributions to the specifiers TensorFlow declares for them, so an
    import failure's fix installs what TensorFlow asks for (see ``classify_import_failure``).
    ``dataset`` is the loader whose view ``probe`` is (:meth:`LoadProbe.view`); None is MNIST.
    """
    found = _diagnose(
        probe,
        host=host,
        target_python=target_python,
        tf_minor=tf_minor,
        declared=declared,
        dataset=dataset,
        mirror=mirror,
    )
    return for_dataset(found, dataset, target_python)


def _diagnose(
    probe: LoadProbe,
    *,
    host: str,
    target_python: str,
    tf_minor: str | None,
    declared: dict[str, str] | None,
    dataset: Any,
    mirror: str | None,
) -> Diagnosis:
    run = probe.run
    if run.launch_error:
        return Diagnosis(
            "launch", OTHER, f"could not start {target_python}: {run.launch_error}", "check --python PATH"
        )
    if run.timed_out:
        return _timeout(probe, host, target_python, mirror)
    stderr_tail = run.stderr[-4000:]
    error = probe.error
    if probe.import_failed or (error is None and not probe.stage("load_data")):
        seen = probe.answer.get("env")
        found = classify_import_failure(
            probe.import_text() + "\n" + stderr_tail,
            target_python=target_python,
            signal_name=run.signal_name,
            tf_minor=tf_minor,
            # TF_USE_LEGACY_KERAS as the probe's own process saw it (None: unset there).
            legacy_keras=seen.get("TF_USE_LEGACY_KERAS") if isinstance(seen, dict) else None,
            declared=declared,
        )
        return Diagnosis(
            f"import-{found.name}",
            IMPORT,
            f"{found.summary} (while importing, before load_data)",
            found.said,
            fixes=found.fixes,
        )
    if error is None:
        how = (
            f"was killed by {run.signal_name}" if run.signal_name else f"exited with status {run.returncode}"
        )
        return Diagnosis(
            "crash",
            OTHER,
            f"the process running load_data {how} without an answer",
            "rerun with --verbose for the probe's stderr",
        )
    types, text = _chain_text(error)
    ev = Evidence(probe, error, types, text + "\n" + stderr_tail, host, target_python, dataset, mirror)
    found_cause = DATASET_RULES.first(ev) or RULES.first(ev)
    if found_cause is not None:
        return found_cause
    return Diagnosis(
        "unknown",
        OTHER,
        f"{types[0].rsplit('.', 1)[-1]}: {str(error.get('message'))[:200]}",
        "rerun with --verbose for the full traceback, and include it in a bug report",
    )


# -- Rules for every keras.datasets loader (--dataset) -------------------------------------------
# Tried before RULES. They match the texts the real loaders raise (gzip, open, numpy.load),
# never bare exception types, and name the loader and its file.


def _loader(ev: Evidence) -> Any:
    """The failing loader (MNIST's row of the table when none was given)."""
    return ev.dataset if ev.dataset is not None else table()["mnist"]


def dataset_route(target_python: str, dataset: Any) -> Hint:
    """The way around a host that cannot be reached (or is too slow), for one loader's files."""
    files = " and ".join(f.name for f in dataset.files if f.kind != "json")
    flag = f"--dataset {dataset.name}"
    return (
        f"copy {files} from a machine that has it and run "
        + quoted(doctor_command(target_python, f"--seed FILE {flag}"))
        + ", or "
        + quoted(doctor_command(target_python, f"--fetch --mirror URL {flag}"))
    )


def for_dataset(found: Diagnosis, dataset: Any, target_python: str) -> Diagnosis:
    """A generic (MNIST-worded) cause retold for another loader: its file, its offline route.

    Its fixes too: a clear step clears that loader's files; a fetch step is dropped (the mirror
    was named for ``mnist.npz``); package commands stay as they are.
    """
    if dataset is None or dataset.name == "mnist":
        return found
    main_file = next((f.name for f in dataset.files if f.kind != "json"), dataset.name)
    fixes = tuple(
        clear_cache_fix(target_python, fix.why.replace("mnist.npz", main_file), dataset.name)
        if fix.kind is FixKind.CLEAR_CACHE
        else fix
        for fix in found.fixes
        if fix.kind is not FixKind.FETCH
    )
    mnist_route, route = offline_route(target_python), dataset_route(target_python, dataset)
    rerouted = mnist_route.text in found.hint
    advice = tuple(
        new
        for old in found.advice
        for new in (route.advice if rerouted and old in mnist_route.advice else (old,))
    )
    return replace(
        found,
        summary=found.summary.replace("mnist.npz", main_file).replace(
            "loading MNIST", f"loading {dataset.name}"
        ),
        hint=found.hint.replace(mnist_route.text, route.text).replace(
            "--clear-cache`", f"--clear-cache --dataset {dataset.name}`"
        ),
        fixes=fixes,
        advice=advice,
    )


def _clear(ev: Evidence, loader: Any, why: str) -> Fix:
    """The clear step for ``loader``'s files (MNIST's names no dataset: it is the default)."""
    return clear_cache_fix(ev.target_python, why, None if loader.name == "mnist" else loader.name)


def _left_file(ev: Evidence, name: str) -> dict[str, Any] | None:
    return next((f for f in ev.left_behind() if str(f.get("path", "")).endswith("/" + name)), None)


def _gzip_problem(path: str) -> str | None:
    """Read a cached ``.gz`` through (in blocks, nothing kept): None when whole, else what is wrong."""
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except EOFError:
        return "truncated"
    except (OSError, zlib.error) as exc:
        return f"not a valid gzip file ({str(exc)[:80]})"
    return None


def _bad_gzip(ev: Evidence) -> Diagnosis | None:
    """Fashion-MNIST's ``.gz`` files carry no hash in Keras: an HTML page or a cut file is read as is."""
    loader = _loader(ev)
    gz = [f for f in loader.files if f.kind == "idx-gz"]
    if not gz or not ev.search(
        r"Not a gzipped file|Compressed file ended before the end-of-stream marker|BadGzipFile|"
        r"CRC check failed|Incorrect length of data produced"
    ):
        return None
    bad = None
    what = "not a valid gzip file"
    for data_file in gz:
        state = _left_file(ev, data_file.name)
        if state is None:
            continue
        if state.get("looks_html"):
            bad, what = state, f"an HTML page ({state.get('size', 0):,} bytes), not the gzip file"
            break
        problem = _gzip_problem(str(state.get("path")))
        if problem is not None:
            got, want = state.get("size", 0), data_file.spec.size
            bad = state
            what = f"truncated ({got:,} of {want:,} bytes)" if problem == "truncated" else problem
            break
    path = str(bad["path"]) if bad else f"{loader.cache_subdir}/<one of its .gz files>"
    name = path.rsplit("/", 1)[-1]
    clear = _clear(ev, loader, f"the cached {name} is {what}")
    fetch = doctor_command(ev.target_python, f"--fetch --dataset {loader.name}")
    return Diagnosis(
        "bad-gzip",
        CACHE,
        f"Keras does not check {loader.name}'s files; the cached {name} is {what}",
        f"remove them with `{clear.command}`, then re-run your code or " + quoted(fetch),
        details=(f"{path}: {what}",),
        fixes=(clear,),
    )


def _half_extracted(ev: Evidence) -> Diagnosis | None:
    """An extraction folder that lacks a member: Keras 2/tf-keras never extract over an existing folder."""
    loader = _loader(ev)
    archive = loader.archive
    if archive is None:
        return None
    match = ev.search(rf"No such file or directory: '([^']*{re.escape(archive.inner)}[^']*)'")
    if not match:
        return None
    missing = match.group(1)
    folder, member = missing.rsplit("/", 1) if "/" in missing else (missing, missing)
    archive_name = loader.files[0].name
    clear = _clear(ev, loader, f"{folder} is half-extracted")
    return Diagnosis(
        "half-extracted",
        CACHE,
        f"{loader.name}: the extracted folder {folder} lacks {member} — a half-extracted "
        f"{archive_name} (Keras before 3.6 never re-extracts a folder that exists)",
        f"remove the folder and its archive with `{clear.command}`, then re-run your code (or "
        + quoted(doctor_command(ev.target_python, f"--fetch --dataset {loader.name}"))
        + ")",
        details=(f"missing: {missing}",),
        fixes=(clear,),
    )


def _pickle_refused(ev: Evidence) -> Diagnosis | None:
    """Keras 3.15 loads mnist/boston/california with ``allow_pickle=False``; an old copy holds objects."""
    if not ev.search(r"Object arrays cannot be loaded when allow_pickle=False"):
        return None
    loader = _loader(ev)
    name = next((f.name for f in loader.files if f.kind == "npz"), loader.files[0].name)
    clear = _clear(ev, loader, f"{name} holds pickled object arrays")
    fetch = doctor_command(ev.target_python, f"--fetch --dataset {loader.name}")
    return Diagnosis(
        "pickled-npz",
        CACHE,
        f"the cached {name} of {loader.name} holds object arrays, which this Keras refuses to unpickle "
        "(allow_pickle=False): an old or foreign copy",
        f"remove it with `{clear.command}`, then re-run your code or " + quoted(fetch),
        fixes=(clear,),
    )


def _dataset_offline_guard(ev: Evidence) -> Diagnosis | None:
    """Another loader wanted the network under ``--offline``: name its file and its own route."""
    loader = _loader(ev)
    if loader.name == "mnist" or not ev.search(re.escape(OFFLINE_GUARD_TEXT)):
        return None
    call = ev.probe.answer.get("get_file") or {}
    wanted = str((call.get("args") or {}).get("origin") or "").rsplit("/", 1)[-1] or loader.files[0].name
    return Diagnosis(
        OFFLINE_DOWNLOAD,
        NETWORK,
        f"Keras wanted to download {wanted} for {loader.name} (no cached copy it accepts); "
        "--offline kept the probe off the network",
        "with a network, run "
        + quoted(doctor_command(ev.target_python, f"--dataset {loader.name}"))
        + "; offline: "
        + dataset_route(ev.target_python, loader),
        status=Status.SKIP,  # not a fault of this machine: the test was not possible offline
    )


DATASET_RULES: RuleTable[Evidence, Diagnosis] = RuleTable(
    (
        _rule("dataset-offline-download", _dataset_offline_guard),
        _rule("pickled-npz", _pickle_refused),
        _rule("bad-gzip", _bad_gzip),
        _rule("half-extracted", _half_extracted),
    )
)
