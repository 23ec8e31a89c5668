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

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

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
from mnist_doctor.datasets.table import Dataset, default_loader
from mnist_doctor.facts.answers.load import ErrorRecord, FileState, LoaderOutcome, ProxyRoute, TlsEvidence
from mnist_doctor.facts.load_probe import LoadProbe
from mnist_doctor.model import Fix, Hint, Status
from mnist_doctor.text.hints import clear_cache_fix, doctor_command, fetch_fix, offline_route, quoted

#: What ``target/load_probe.py``'s ``--offline`` guard raises, and the cause it becomes.
OFFLINE_GUARD_TEXT = "mnist-doctor --offline: the network is off for this probe"
OFFLINE_DOWNLOAD = "offline-download"


@dataclass
class Evidence:
    """Everything the rules look at, flattened once."""

    probe: LoadProbe
    #: The failing loader's own part of the probe (its files, its get_file calls, its TLS evidence).
    outcome: LoaderOutcome
    error: ErrorRecord
    types: list[str]
    text: str  # messages of the error and its chain, then the tail of stderr
    host: str
    target_python: str
    #: The loader that failed: every cause names its file, its route and its ``--dataset`` flag.
    loader: Dataset
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
    def proxy(self) -> ProxyRoute | None:
        """The proxy the target's urllib uses for the host (None: direct, or bypassed)."""
        route = self.probe.parsed.proxy
        return route if route is not None and not route.bypassed else None

    @property
    def proxy_label(self) -> str:
        return self.proxy.label if self.proxy is not None else "http://None:None"

    @property
    def tls(self) -> TlsEvidence | None:
        return self.outcome.tls

    def left_behind(self) -> tuple[FileState, ...]:
        return self.outcome.left_behind

    @property
    def file(self) -> str:
        """The file of the loader a message names (``mnist.npz``, ``cifar-10-python.tar.gz``)."""
        return self.loader.main_file.name

    @property
    def route(self) -> Hint:
        """The way around a network that cannot deliver the loader's files, from its own spec."""
        return offline_route(self.target_python, self.loader)

    def clear(self, why: str) -> Fix:
        """The clear step for the loader's files (the default loader's names no dataset)."""
        return clear_cache_fix(self.target_python, why, self.loader.name if self.loader.selection else None)


def _proxy_route(ev: Evidence) -> Hint:
    """Direct connections blocked: an office network's proxy first (none is set), then offline."""
    return ev.route if ev.proxy else proxy_first(ev.route)


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
    issuer = ev.tls.issuer if ev.tls is not None else {}
    parts = [issuer.get("organizationName"), issuer.get("commonName")]
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
    tls = ev.tls
    why = cause.verify_reason
    issuer = _issuer_name(ev)
    if tls is not None and tls.ca_count == 0:
        return Diagnosis(
            "tls-no-system-cas",
            NETWORK,
            f"TLS verification failed: this Python has no CA certificates ({why})",
            "macOS python.org builds: run `/Applications/Python 3.X/Install Certificates.command`; elsewhere "
            + quoted("export SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
            + " (or `$(python -m certifi)`)",
            details=tuple(f"default verify paths: {dict(tls.verify_paths)}" for _ in [0] if tls.verify_paths),
        )
    if cause.name == "tls-hostname":
        return Diagnosis(
            "tls-hostname",
            NETWORK,
            f"TLS verification failed: the certificate is not for {ev.host} ({why})",
            f"no CA setting cures a certificate for another name: {ev.host} leads to another server "
            "here (an /etc/hosts entry, a DNS filter, a captive portal, a proxy or VPN): check "
            f"`getent hosts {ev.host}`; meanwhile " + ev.route,
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
        + ev.route,
        details=(f"issuer: {issuer}",) if issuer else (),
    )


def _proxy(ev: Evidence) -> Diagnosis | None:
    cause = ev.network_cause("proxy-auth", "proxy-tunnel")
    if cause is None:
        return None
    status, text = cause.parts
    if status == "407":
        has_creds = ev.proxy is not None and ev.proxy.has_credentials
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
        advice + "; meanwhile, " + ev.route,
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
            f"DNS for the proxy host {ev.proxy.host} failed",
            "fix the host name in HTTPS_PROXY / https_proxy, or unset it",
        )
    return Diagnosis(
        "dns",
        NETWORK,
        f"DNS for {ev.host} failed (no internet, or the name is blocked)",
        ev.route,
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
            ev.route,
            fixes=_fetch_fix(ev.target_python, ev.mirror, "network unreachable"),
        )
    if cause == "connection-reset":
        return Diagnosis(
            "connection-reset",
            NETWORK,
            f"{to} closed the connection before answering",
            "a proxy or firewall cuts the transfer; " + ev.route,
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
        (advice + "; " if advice else "") + ev.route,
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
        "cuts long transfers: " + ev.route,
        fixes=(again,),
    )


def _fetch_again(ev: Evidence, why: str) -> Fix:
    """``mnist-doctor --fetch`` for the loader that failed, from where it failed (its mirror, or
    Keras' own origin): the host works, only the transfer broke, so the same source again."""
    spec = ev.loader.main_file.spec
    return fetch_again(spec.with_origin(ev.mirror) if ev.mirror else spec, ev.target_python, why, ev.loader)


def _bad_file(ev: Evidence) -> Diagnosis | None:
    hash_mismatch = ev.search(r"Incomplete or corrupted file detected")
    bad_zip = ev.has_type("BadZipFile", "EOFError", "UnpicklingError") or ev.search(
        r"File is not a zip file|Failed to interpret file|Cannot load file containing pickled data|"
        r"No data left in file|Ran out of input"
    )
    if not (hash_mismatch or bad_zip):
        return None
    files = ev.left_behind()
    html = next((f for f in files if f.looks_html), None)
    details = tuple(
        f"{f.path}: {f.size:,} bytes, sha256 {f.sha256[:16]}…, starts {_head(f)!r}" for f in files
    )
    if html:
        clear = ev.clear(f"an HTML page sits where {ev.file} should be")
        return Diagnosis(
            "html-instead-of-data",
            NETWORK,
            f"the download is an HTML page ({html.size:,} bytes), not {ev.file}: "
            "a proxy or captive portal answered instead of the dataset host",
            f"remove it with `{clear.command}`, then get through the proxy or " + ev.route,
            details=details,
            fixes=(clear,),
        )
    if hash_mismatch:
        zipped = any(f.head.startswith("504b0304") for f in files)
        size = ev.loader.main_file.spec.size
        short = next((f for f in files if not f.zip_complete and f.size < size), None)
        if zipped and short:
            # Keras 2 / tf-keras do not check Content-Length: a cut transfer surfaces here.
            shape = f"cut short ({short.size:,} of {size:,} bytes): the transfer was interrupted"
        elif zipped:
            shape = "a zip archive with other content (a modified mirror or a rewriting proxy)"
        else:
            shape = "incomplete or not the dataset"
        clear = ev.clear(f"the downloaded {ev.file} fails Keras' sha256 check")
        return Diagnosis(
            "hash-mismatch",
            CACHE,
            f"Keras' sha256 check failed (Incomplete or corrupted file detected): the file is {shape}",
            f"remove it with `{clear.command}`, then download again or " + ev.route,
            details=details,
            fixes=(clear,),
        )
    clear = ev.clear(f"{ev.file} is not a readable npz")
    return Diagnosis(
        "bad-zip",
        CACHE,
        f"the cached {ev.file} cannot be read by numpy ({ev.types[0].rsplit('.', 1)[-1]})",
        f"remove it with `{clear.command}` and download again",
        details=details,
        fixes=(clear,),
    )


def _need(loader: Dataset) -> str:
    """`` (it needs about N MB as uint8)`` when the table knows the loader's arrays."""
    arrays = loader.main_file.spec.arrays
    total = sum(math.prod(a.shape) for a in arrays)
    return f" (it needs about {total / 1e6:.0f} MB as uint8)" if total else ""


def _resources(ev: Evidence) -> Diagnosis | None:
    if ev.has_type("MemoryError") or ev.search(r"Unable to allocate|std::bad_alloc"):
        return Diagnosis(
            "memory",
            RESOURCE,
            f"out of memory while loading {ev.loader.name}{_need(ev.loader)}",
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
    """Keras tried to download under ``--offline`` and the probe's own guard stopped it: name the
    file it asked for (the loader's last ``get_file`` call) and the loader's own route."""
    if not ev.search(re.escape(OFFLINE_GUARD_TEXT)):
        return None
    origin = ev.outcome.calls[-1].origin if ev.outcome.calls else None
    wanted = (origin or "").rsplit("/", 1)[-1] or ev.file
    return Diagnosis(
        OFFLINE_DOWNLOAD,
        NETWORK,
        f"Keras wanted to download {wanted} for {ev.loader.name} (no cached copy it accepts); "
        "--offline kept the probe off the network",
        "with a network, run "
        + quoted(doctor_command(ev.target_python, *ev.loader.selection))
        + "; offline: "
        + ev.route,
        status=Status.SKIP,  # not a fault of this machine: the test was not possible offline
    )


def _head(state: FileState) -> bytes:
    """The first bytes of a file as the probe recorded them (hex), for a detail line."""
    try:
        return bytes.fromhex(state.head[:16])
    except ValueError:
        return b""


def _chain_text(error: ErrorRecord) -> tuple[list[str], str]:
    records = [error, *error.chain]
    types = [r.type for r in records]
    text = "\n".join(f"{r.type}: {r.message}" for r in records)
    return types, text


def _timeout(
    probe: LoadProbe, host: str, target_python: str, mirror: str | None, loader: Dataset
) -> Diagnosis:
    own = probe.outcome(loader.name).unfinished
    stage = "load_data" if own else (probe.unfinished_stage() or "start-up")
    waited = f"{probe.run.elapsed_s:.0f}s"
    if stage == "load_data":
        partial = probe.partial_files(loader.name)
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
            f"the connection to {host} (or the proxy) hangs; " + offline_route(target_python, loader),
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
    dataset: Dataset | None = None,
    mirror: str | None = None,
) -> Diagnosis:
    """The named root cause of a loader's failure in the probe (call only when it did not succeed).

    ``dataset`` is the loader (None: the default one): its outcome in ``probe`` is the evidence,
    and every cause is worded for it. ``mirror`` is where a fetch fix may download from
    (None: no mirror was named). ``declared`` maps distributions to the specifiers TensorFlow
    declares for them, so an import failure's fix installs what TensorFlow asks for (see
    ``classify_import_failure``).
    """
    loader = dataset if dataset is not None else default_loader()
    run = probe.run
    if run.launch_error:
        return Diagnosis(
            "launch", OTHER, f"could not start {target_python}: {run.launch_error}", "check --python PATH"
        )
    if probe.killed_during(loader.name):
        return _timeout(probe, host, target_python, mirror, loader)
    stderr_tail = run.stderr[-4000:]
    outcome = probe.outcome(loader.name)
    if outcome.stage is None:  # load_data never started: the imports failed, or the probe died in them
        found = classify_import_failure(
            probe.import_text() + "\n" + stderr_tail,
            target_python=target_python,
            signal_name=run.signal_name,
            tf_minor=tf_minor,
            # TF_USE_LEGACY_KERAS as the probe's own process saw it (None: unset there).
            legacy_keras=probe.parsed.env.get("TF_USE_LEGACY_KERAS"),
            declared=declared,
        )
        return Diagnosis(
            f"import-{found.name}",
            IMPORT,
            f"{found.summary} (while importing, before load_data)",
            found.said,
            fixes=found.fixes,
        )
    error = outcome.stage.exception
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
    ev = Evidence(
        probe, outcome, error, types, text + "\n" + stderr_tail, host, target_python, loader, mirror
    )
    found_cause = RULES.first(ev)
    if found_cause is not None:
        return found_cause
    return Diagnosis(
        "unknown",
        OTHER,
        f"{error.short_type}: {error.message[:200]}",
        "rerun with --verbose for the full traceback, and include it in a bug report",
    )


# -- Causes of the loaders' own files (gzip'd IDX arrays, archives, pickled npz) ------------------
# They match the texts the real loaders raise (gzip, open, numpy.load), never bare exception types.


def _left_file(ev: Evidence, name: str) -> FileState | None:
    return next((f for f in ev.left_behind() if f.path.endswith("/" + name)), None)


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
    loader = ev.loader
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
        if state.looks_html:
            bad, what = state, f"an HTML page ({state.size:,} bytes), not the gzip file"
            break
        problem = _gzip_problem(state.path)
        if problem is not None:
            got, want = state.size, data_file.spec.size
            bad = state
            what = f"truncated ({got:,} of {want:,} bytes)" if problem == "truncated" else problem
            break
    path = bad.path if bad else f"{loader.cache_subdir}/<one of its .gz files>"
    name = path.rsplit("/", 1)[-1]
    clear = ev.clear(f"the cached {name} is {what}")
    fetch = doctor_command(ev.target_python, "--fetch", *loader.selection)
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
    loader = ev.loader
    archive = loader.archive
    if archive is None:
        return None
    match = ev.search(rf"No such file or directory: '([^']*{re.escape(archive.inner)}[^']*)'")
    if not match:
        return None
    missing = match.group(1)
    folder, member = missing.rsplit("/", 1) if "/" in missing else (missing, missing)
    archive_name = loader.files[0].name
    clear = ev.clear(f"{folder} is half-extracted")
    return Diagnosis(
        "half-extracted",
        CACHE,
        f"{loader.name}: the extracted folder {folder} lacks {member} — a half-extracted "
        f"{archive_name} (Keras before 3.6 never re-extracts a folder that exists)",
        f"remove the folder and its archive with `{clear.command}`, then re-run your code (or "
        + quoted(doctor_command(ev.target_python, "--fetch", *loader.selection))
        + ")",
        details=(f"missing: {missing}",),
        fixes=(clear,),
    )


def _pickle_refused(ev: Evidence) -> Diagnosis | None:
    """Keras 3.15 loads mnist/boston/california with ``allow_pickle=False``; an old copy holds objects."""
    if not ev.search(r"Object arrays cannot be loaded when allow_pickle=False"):
        return None
    loader = ev.loader
    name = next((f.name for f in loader.files if f.kind == "npz"), loader.files[0].name)
    clear = ev.clear(f"{name} holds pickled object arrays")
    fetch = doctor_command(ev.target_python, "--fetch", *loader.selection)
    return Diagnosis(
        "pickled-npz",
        CACHE,
        f"the cached {name} of {loader.name} holds object arrays, which this Keras refuses to unpickle "
        "(allow_pickle=False): an old or foreign copy",
        f"remove it with `{clear.command}`, then re-run your code or " + quoted(fetch),
        fixes=(clear,),
    )


def _rule(name: str, judge: Callable[[Evidence], Diagnosis | None]) -> Rule[Evidence, Diagnosis]:
    return Rule(name, lambda ev, _match: judge(ev))


#: Most specific first: the first rule that recognises the evidence names the cause. The network
#: rules follow the order of :data:`mnist_doctor.causes.network.RULES`, which picks the cause.
RULES: RuleTable[Evidence, Diagnosis] = RuleTable(
    (
        _rule(OFFLINE_DOWNLOAD, _offline_guard),
        # The texts the other loaders' files raise (gzip, a half-extracted archive, numpy.load)
        # before the generic ones: they name the loader and its file.
        _rule("pickled-npz", _pickle_refused),
        _rule("bad-gzip", _bad_gzip),
        _rule("half-extracted", _half_extracted),
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
