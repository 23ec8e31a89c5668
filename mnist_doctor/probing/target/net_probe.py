"""Walk the road Keras' ``urlretrieve`` takes to the dataset, one timed stage at a time.

Run by the doctor with the TARGET interpreter: ``python - MODE ORIGIN CONFIG_JSON``.
Standard library only, Python 3.9 syntax. Everything here uses what urllib itself uses:
``urllib.request.getproxies()`` and ``proxy_bypass(req.host)`` (as ``ProxyHandler``),
``ssl._create_default_https_context`` (as ``http.client.HTTPSConnection`` with no
context, i.e. a patched factory is honoured), the CONNECT request ``http.client`` sends,
and finally ``urllib.request.urlopen`` through the default opener for the HTTP stage.

Modes: ``proxy`` reports the proxy decision only; ``stages`` runs dns, tcp, connect,
tls and http, stopping at the first failure. Every stage runs in a worker thread joined
with a timeout (``getaddrinfo`` cannot be interrupted otherwise), and each stage's
begin and end are printed at once (``@@MNIST_DOCTOR_STAGE@@``) so the doctor still
knows where a run that it had to kill was stuck. Passwords are never printed.

Each stage has its own cap (the doctor passes them as ``stage_timeouts``): the time a remote
may stay silent before its silence is a finding. A stage gets its whole cap, or what is left
of the probe's deadline when that is less; its record says which (``deadline_limited``), with
the seconds it had (``timeout_s``) and its cap (``cap_s``), because only a remote that stayed
silent for the whole cap is held against the network.
"""

import base64
import contextlib
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from _prelude import MARKER, STAGE_MARKER, describe_exception, emit, redact  # mnist-doctor: include

READ_BYTES = 1024

#: Caps used when the doctor passes none (the script run on its own); the doctor's are in
#: ``mnist_doctor/facts/net_probe.py`` (``STAGE_CAPS_S``).
STAGE_TIMEOUTS = {"dns": 5.0, "tcp": 5.0, "connect": 5.0, "tls": 5.0, "http": 10.0}
#: How long the direct route may take to show itself when the proxy failed (resolve, connect,
#: handshake together): a firewall that drops direct traffic costs no more than this.
DIRECT_CAP_S = 3.0


def proxy_env():
    return {
        k: redact(v)
        for k, v in os.environ.items()
        if k.lower().endswith("_proxy") or k.upper() == "REQUEST_METHOD"
    }


def proxy_view(origin):
    """The proxy urllib's ProxyHandler picks for ``origin`` (None: a direct connection)."""
    req = urllib.request.Request(origin)
    proxies = urllib.request.getproxies()
    configured = proxies.get(req.type)
    bypassed = False
    if configured and req.host:
        bypassed = bool(urllib.request.proxy_bypass(req.host))
    return {
        "request_type": req.type,
        "request_host": req.host,
        "getproxies": dict((k, redact(v)) for k, v in proxies.items()),
        "env": proxy_env(),
        "proxy_raw": None if bypassed else configured,
        "proxy": None if bypassed or not configured else redact(configured),
        "bypassed": bypassed,
        "request_method_set": "REQUEST_METHOD" in os.environ,
        "platform": sys.platform,
    }


def split_proxy(proxy):
    """(type, user, password, host, port) as urllib's ``_parse_proxy`` reads it."""
    parse = getattr(urllib.request, "_parse_proxy", None)
    if parse is not None:
        ptype, user, password, hostport = parse(proxy)
    else:  # pragma: no cover - every CPython 3.x has it
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else "//" + proxy)
        ptype, user, password, hostport = parts.scheme or None, parts.username, parts.password, parts.netloc
    hostport = urllib.parse.unquote(hostport.rsplit("@", 1)[-1])
    if hostport.startswith("["):
        host, _, port = hostport[1:].partition("]")
        port = port.lstrip(":")
    elif hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
    else:
        host, port = hostport, ""
    return ptype, user, password, host, port


class Timeout(Exception):
    pass


def bounded(func, timeout):
    """Run ``func`` in a daemon thread; raise :class:`Timeout` if it outlives ``timeout``."""
    box = {}

    def target():
        try:
            box["value"] = func()
        except BaseException as exc:  # handed back to the caller
            box["error"] = exc

    worker = threading.Thread(target=target)
    worker.daemon = True
    worker.start()
    worker.join(max(timeout, 0.01))
    if worker.is_alive():
        raise Timeout("no answer within %.1f s" % timeout) from None
    if "error" in box:
        raise box["error"]
    return box.get("value")


def describe_error(exc):
    """The prelude's description of ``exc`` alone, as the network checks read it: types by their
    bare names, the symbolic name of an error number, no ``reason`` for an HTTP status."""
    out = describe_exception(exc, chain=False, qualified=False)
    errno_ = out.get("errno")
    if isinstance(errno_, int):
        try:
            import errno as errno_mod

            out["errno_name"] = errno_mod.errorcode.get(errno_)
        except Exception:
            pass
    if isinstance(exc, socket.gaierror):
        out["errno_name"] = next(
            (n for n in dir(socket) if n.startswith("EAI_") and getattr(socket, n) == exc.errno), None
        )
    if isinstance(exc, urllib.error.HTTPError):
        out.pop("reason", None)
    return out


def cert_info(decoded):
    """Subject and issuer (common name, organisation) of a decoded certificate."""

    def names(seq):
        out = {}
        for rdn in seq or ():
            for key, value in rdn:
                out.setdefault(key, value)
        return out

    subject, issuer = names(decoded.get("subject")), names(decoded.get("issuer"))
    return {
        "subject_cn": subject.get("commonName"),
        "subject_o": subject.get("organizationName"),
        "issuer_cn": issuer.get("commonName"),
        "issuer_o": issuer.get("organizationName"),
        "issuer_ou": issuer.get("organizationalUnitName"),
        "self_signed": subject == issuer and bool(subject),
        "not_after": decoded.get("notAfter"),
    }


def decode_der(der):
    """Decode a DER certificate with the ssl module's own (private, long-lived) decoder."""
    import tempfile

    decoder = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decoder is None:
        return {}
    handle, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(ssl.DER_cert_to_PEM_cert(der))
        return decoder(path)
    finally:
        os.unlink(path)


def presented_chain(sock):
    """The certificates the server presented (leaf first), read without verifying them."""
    getter = getattr(sock, "get_unverified_chain", None) or getattr(
        getattr(sock, "_sslobj", None), "get_unverified_chain", None
    )
    chain = []
    if getter is not None:
        try:
            for cert in getter() or ():
                info = cert.get_info() if hasattr(cert, "get_info") else decode_der(cert)
                chain.append(cert_info(info))
        except Exception:
            chain = []
    if not chain:
        der = sock.getpeercert(binary_form=True)
        if der:
            chain.append(cert_info(decode_der(der)))
    return chain


class Road(object):
    """The state shared by consecutive stages: where to connect, and the open socket."""

    def __init__(self, origin, deadline, caps=None):
        self.origin = origin
        self.deadline = deadline
        self.caps = dict(STAGE_TIMEOUTS, **(caps or {}))
        #: The current stage's own end and the seconds it was given (see :meth:`begin`).
        self.stage_end = deadline
        self.given = 0.0
        parts = urllib.parse.urlsplit(origin)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        view = proxy_view(origin)
        self.view = view
        self.proxy = view["proxy_raw"]
        self.proxy_parts = split_proxy(self.proxy) if self.proxy else None
        self.addresses = []
        self.sock = None

    def begin(self, stage):
        """Start ``stage``: its own cap, or what is left of the probe's time when that is less.

        Returns ``(cap, limited)``; ``limited`` is True when the probe's deadline (the doctor's
        slice), not the stage's own cap, set the time: a timeout then says nothing about the
        remote. Everything the stage waits for afterwards ends at the one ``stage_end``.
        """
        now = time.monotonic()
        cap = float(self.caps.get(stage, 10.0))
        self.given = max(min(cap, self.deadline - now), 0.05)
        self.stage_end = now + self.given
        return cap, self.given < cap

    def left(self, stage=None):
        """Seconds left of the current stage (``stage`` names it for the reader only)."""
        return max(self.stage_end - time.monotonic(), 0.05)

    @property
    def peer(self):
        """(host, port) the TCP connection goes to: the proxy when one is used."""
        if self.proxy_parts:
            ptype, _, _, host, port = self.proxy_parts
            default = 443 if ptype == "https" else 80
            try:
                return host, int(port) if port else default
            except ValueError:
                return host, port
        return self.host, self.port


def is_ip(host):
    for family in (socket.AF_INET, getattr(socket, "AF_INET6", None)):
        if family is None:
            continue
        try:
            socket.inet_pton(family, host)
            return True
        except (OSError, ValueError):
            continue
    return False


def stage_dns(road, record):
    host, port = road.peer
    record.update({"host": host, "via_proxy": bool(road.proxy)})
    if road.proxy and is_ip(host):
        record["note"] = "the proxy resolves %s for us; the proxy address is an IP" % road.host
        road.addresses = [(socket.AF_INET6 if ":" in host else socket.AF_INET, (host, port))]
        return record
    if not isinstance(port, int):
        raise ValueError("bad port %r in the proxy setting" % port)
    infos = bounded(lambda: socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM), road.left("dns"))
    road.addresses = [(info[0], info[4]) for info in infos]
    record["addresses"] = sorted(set(str(addr[0]) for _, addr in road.addresses))
    return record


def stage_tcp(road, record=None):
    host, port = road.peer
    record = record if record is not None else {}
    record.update({"host": host, "port": port, "via_proxy": bool(road.proxy)})
    last = None
    for family, address in road.addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(road.left("tcp"))
        try:
            sock.connect(address)
        except socket.timeout:
            sock.close()
            raise Timeout("connect to %s:%s: no answer within %.1f s" % (host, port, road.given)) from None
        except OSError as exc:
            sock.close()
            last = exc
            continue
        road.sock = sock
        record["address"] = str(address[0])
        return record
    raise last or OSError("no address to connect to")


def read_head(sock, limit=65536, got=None):
    """Read up to the end of a response head; ``got`` (a list) counts the bytes as they come,
    so a caller that gave up waiting knows whether the remote said anything at all."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if got is not None:
            got.append(len(chunk))
    return data


def stage_connect(road, record=None):
    """The CONNECT request http.client sends for an https URL through a proxy."""
    ptype, user, password, _, _ = road.proxy_parts
    target = "%s:%d" % (road.host, road.port)
    lines = ["CONNECT %s HTTP/1.1" % target, "Host: %s" % target]
    sent_credentials = bool(user and password)
    if sent_credentials:
        token = "%s:%s" % (urllib.parse.unquote(user), urllib.parse.unquote(password))
        lines.append("Proxy-Authorization: Basic " + base64.b64encode(token.encode()).decode("ascii"))
    record = record if record is not None else {}
    road.sock.settimeout(road.left("connect"))
    road.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    got = []
    try:
        head = bounded(lambda: read_head(road.sock, got=got), road.left("connect"))
    except (socket.timeout, Timeout):
        record["reply_bytes"] = sum(got)  # 0: not one byte back, the proxy stayed silent
        raise Timeout("the proxy did not answer CONNECT within %.1f s" % road.given) from None
    first = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    record.update(
        {"proxy_type": ptype, "target": target, "sent_credentials": sent_credentials, "status_line": first}
    )
    match = re.match(r"HTTP/\d(?:\.\d)?\s+(\d{3})\s*(.*)", first)
    if not match:
        record["status"] = None
        raise ProxyStatus(
            record,
            "the proxy answered CONNECT with %r, not an HTTP status"
            % (first[:60] or "nothing (connection closed)"),
        )
    record["status"] = int(match.group(1))
    record["reason"] = match.group(2)
    if record["status"] != 200:
        raise ProxyStatus(record, "proxy answered CONNECT with %s %s" % (record["status"], record["reason"]))
    return record


class ProxyStatus(Exception):
    def __init__(self, record, message):
        Exception.__init__(self, message)
        self.record = record


def unverified_chain(road):
    """Connect again (through the same proxy) without verifying, to see who signs the server."""
    saved = road.sock
    try:
        stage_tcp(road)
        if road.proxy and road.scheme == "https":
            stage_connect(road)
        ctx = ssl._create_unverified_context()
        ctx.check_hostname = False
        road.sock.settimeout(road.left("tls"))
        tls = ctx.wrap_socket(road.sock, server_hostname=road.host)
        try:
            return presented_chain(tls)
        finally:
            tls.close()
    finally:
        road.sock = saved


#: Largest CA file handed to OpenSSL (real bundles are < 1 MB); see mnist_doctor/network/pem_guard.py.
MAX_CA_BYTES = 16 << 20


class UnsafeCAFile(Exception):
    """SSL_CERT_FILE names a FIFO, a device or a huge file: OpenSSL would block or read without end."""


def unsafe_ca_file():
    """Why the CA file OpenSSL would load must not be loaded (None when it is fine or absent)."""
    import stat

    name = ssl.get_default_verify_paths().openssl_cafile_env or "SSL_CERT_FILE"
    path = os.environ.get(name)
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # missing: OpenSSL skips it quickly
    if not stat.S_ISREG(st.st_mode):
        return (
            "%s=%s is not a regular file (a FIFO or a device): OpenSSL would block on it or read it "
            "without end" % (name, path)
        )
    if st.st_size > MAX_CA_BYTES:
        return "%s=%s is %d MB, far larger than any CA bundle" % (name, path, st.st_size // 1000000)
    return None


#: Python 3.13+ sets this in ``create_default_context()``; 0 where the ssl module lacks it (3.9).
X509_STRICT = getattr(ssl, "VERIFY_X509_STRICT", 0)


def strict_retry(road, factory):
    """Whether the same CA store verifies the server once ``VERIFY_X509_STRICT`` is cleared.

    Asked once, after a verification failure, ONLY to name its cause: a CA certificate that
    is not RFC 5280-compliant (e.g. Basic Constraints not marked critical) fails on 3.13+ and
    passes on 3.12. The relaxed connection is closed at once; nothing is sent or read over
    it, and the stage stays a failure whatever it says.
    """
    import copy

    version = "%d.%d.%d" % sys.version_info[:3]
    side = copy.copy(road)  # its own socket: a retry cut short by the timeout touches nothing shared
    side.sock = None
    try:
        stage_tcp(side)
        if side.proxy and side.scheme == "https":
            stage_connect(side)
        ctx = factory()
        ctx.verify_flags = ctx.verify_flags & ~X509_STRICT
        side.sock.settimeout(side.left("tls"))
        try:
            tls = ctx.wrap_socket(side.sock, server_hostname=side.host)
        except ssl.SSLCertVerificationError as exc:
            return {"relaxed_verifies": False, "relaxed_error": describe_error(exc), "python": version}
        tls.close()
        side.sock = None
        return {"relaxed_verifies": True, "python": version}
    finally:
        if side.sock is not None:
            side.sock.close()


def stage_tls(road, record):
    problem = unsafe_ca_file()
    if problem:
        exc = UnsafeCAFile(problem)
        record["error"] = describe_error(exc)
        raise StageFailure(record, exc)
    factory = ssl._create_default_https_context
    record["server_hostname"] = road.host
    if factory is not ssl.create_default_context:
        record["context_factory"] = (
            getattr(factory, "__module__", "?") + "." + getattr(factory, "__qualname__", repr(factory))
        )
    ctx = factory()
    record["verify_mode"] = str(ctx.verify_mode).split(".")[-1]
    record["check_hostname"] = ctx.check_hostname
    record["x509_strict"] = bool(X509_STRICT and ctx.verify_flags & X509_STRICT)
    if type(ctx).__module__ != "ssl":  # e.g. truststore.inject_into_ssl() replaced ssl.SSLContext
        record["context_class"] = type(ctx).__module__ + "." + type(ctx).__qualname__
    with contextlib.suppress(Exception):  # truststore's context keeps no store of its own
        record["store_ca_count"] = ctx.cert_store_stats().get("x509_ca")
    road.sock.settimeout(road.left("tls"))
    try:
        # bounded: a server trickling its handshake a byte at a time resets the socket timeout
        tls = bounded(lambda: ctx.wrap_socket(road.sock, server_hostname=road.host), road.left("tls"))
    except socket.timeout:
        raise Timeout("TLS handshake with %s: no answer within %.1f s" % (road.host, road.given)) from None
    except ssl.SSLCertVerificationError as exc:
        record["error"] = describe_error(exc)
        try:
            record["chain"] = bounded(lambda: unverified_chain(road), road.left("tls"))
        except Exception as chain_exc:
            record["chain_error"] = describe_error(chain_exc)
        if record["x509_strict"] and exc.verify_code != 62:  # a hostname mismatch is its own cause
            try:
                record["strict_retry"] = bounded(lambda: strict_retry(road, factory), road.left("tls"))
            except Exception as retry_exc:
                record["strict_retry"] = {"relaxed_verifies": None, "retry_error": describe_error(retry_exc)}
        raise StageFailure(record, exc) from exc
    record["version"] = tls.version()
    record["cipher"] = (tls.cipher() or [None])[0]
    peer = tls.getpeercert() or {}
    if peer:
        record["chain"] = [cert_info(peer)]
    tls.close()
    road.sock = None
    return record


class StageFailure(Exception):
    def __init__(self, record, cause):
        Exception.__init__(self, str(cause))
        self.record = record
        self.cause = cause


def stage_http(road, record, expected_size):
    """The request itself through urllib's default opener, as ``urlretrieve`` makes it."""
    request = urllib.request.Request(road.origin, headers={"Range": "bytes=0-%d" % (READ_BYTES - 1)})
    timeout = road.left("http")
    record.update({"method": "GET", "range": "bytes=0-%d" % (READ_BYTES - 1), "expected_size": expected_size})

    def fetch():
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            body = b""
            with contextlib.suppress(Exception):
                body = exc.read(512)
            return exc.code, exc.reason, exc.headers, body, exc.geturl(), True
        with response:
            return (
                response.status,
                response.reason,
                response.headers,
                response.read(READ_BYTES),
                response.geturl(),
                False,
            )

    try:
        status, reason, headers, body, final_url, is_error = bounded(fetch, timeout)
    except socket.timeout:
        raise Timeout("no HTTP answer within %.1f s" % timeout) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, socket.timeout):
            raise Timeout("no HTTP answer within %.1f s" % timeout) from None
        raise
    headers = headers or {}
    record.update(
        {
            "status": status,
            "reason": str(reason),
            "final_url": redact(final_url),
            "content_type": headers.get("Content-Type"),
            "content_length": headers.get("Content-Length"),
            "content_range": headers.get("Content-Range"),
            "proxy_authenticate": headers.get("Proxy-Authenticate"),
            "retry_after": headers.get("Retry-After"),
            "content_encoding": headers.get("Content-Encoding"),
            "location": redact(headers.get("Location") or "") or None,
            "first_bytes": body[:8].hex(),
            "is_zip": body[:4] == b"PK\x03\x04",
            "looks_html": body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html", b"<head", b"<body")),
            "body_start": redact(body[:160].decode("utf-8", "replace"))
            if is_error or body[:1] == b"<"
            else None,
        }
    )
    total = None
    if record["content_range"]:
        match = re.search(r"/(\d+)\s*$", record["content_range"])
        total = int(match.group(1)) if match else None
    elif status == 200 and record["content_length"] and record["content_length"].isdigit():
        total = int(record["content_length"])
    record["total_size"] = total
    return record


#: Bytes asked for per read while measuring throughput: one bounded read between deadline checks.
THROUGHPUT_READ = 65536
#: How often the measuring thread looks at the reader's progress (stall and deadline checks).
THROUGHPUT_POLL_S = 0.05


def measure_throughput(url, config, deadline):
    """One ranged GET through urllib's default opener, timed from the response headers on.

    ``urlretrieve`` reads the same way (default opener: proxies, default ssl context). The
    body is read in a worker thread, ``THROUGHPUT_READ`` bytes at a time, and discarded; this
    thread watches the clock, because a socket timeout is no deadline (a server sending one
    byte a second resets it). The measurement ends at the first of: ``cap_bytes`` read, end
    of body, ``window_s`` after the headers, no byte for ``stall_s``, or ``deadline`` (the
    doctor's slice). A server that ignores Range (200, whole body) is read up to the cap.
    """
    cap = int(config["cap_bytes"])
    window, stall, head = float(config["window_s"]), float(config["stall_s"]), float(config["head_s"])
    record = {"url": redact(url), "range": "bytes=0-%d" % (cap - 1), "cap_bytes": cap, "bytes": 0}
    began = time.monotonic()
    head_left = min(head, deadline - began)
    record["deadline_limited"] = deadline - began < head + window
    if head_left <= 0:
        record["ended"] = "deadline"
        return record
    request = urllib.request.Request(url, headers={"Range": record["range"]})
    try:
        # The socket timeout only frees the reader thread of a dead connection; the clock here decides.
        response = bounded(lambda: urllib.request.urlopen(request, timeout=head + window), head_left)
    except urllib.error.HTTPError as exc:
        record.update({"ended": "http-error", "status": exc.code, "reason": str(exc.reason)})
        with contextlib.suppress(Exception):
            exc.close()
        return record
    except Timeout:
        record["ended"] = "deadline" if deadline - began < head else "no-answer"
        record["waited_s"] = round(time.monotonic() - began, 4)
        return record
    except Exception as exc:
        record.update({"ended": "error", "error": describe_error(exc)})
        return record
    start = time.monotonic()
    headers = response.headers or {}
    record.update(
        {
            "status": getattr(response, "status", None),
            "headers_s": round(start - began, 4),
            "content_range": headers.get("Content-Range"),
            "content_length": headers.get("Content-Length"),
        }
    )
    progress = {"bytes": 0, "last": start, "end": None, "error": None}
    stop = threading.Event()
    read = getattr(response, "read1", None) or response.read

    def reader():
        try:
            while not stop.is_set():
                if time.monotonic() >= deadline:
                    progress["end"] = "deadline"
                    return
                want = min(THROUGHPUT_READ, cap - progress["bytes"])
                if want <= 0:
                    progress["end"] = "cap"
                    return
                chunk = read(want)
                if not chunk:
                    progress["end"] = "eof"
                    return
                progress["bytes"] += len(chunk)
                progress["last"] = time.monotonic()
        except Exception as exc:  # a reset or a truncated body: the bytes so far still count
            progress["error"] = describe_error(exc)
            progress["end"] = "error"

    worker = threading.Thread(target=reader)
    worker.daemon = True
    worker.start()
    window_end = min(start + window, deadline)
    record["deadline_limited"] = record["deadline_limited"] or deadline < start + window
    while True:
        worker.join(THROUGHPUT_POLL_S)
        now = time.monotonic()
        if progress["end"] is not None or not worker.is_alive():
            ended = progress["end"] or "eof"
            stopped = progress["last"] if ended in ("cap", "eof") else now
            break
        if now - progress["last"] >= stall:
            ended, stopped = "stall", now
            break
        if now >= window_end:
            ended, stopped = ("window" if window_end < deadline else "deadline"), now
            break
    count, error, last = progress["bytes"], progress["error"], progress["last"]
    stop.set()
    release(response)
    elapsed = max(stopped - start, 1e-3)
    record.update(
        {
            "ended": ended,
            "bytes": count,
            "elapsed_s": round(elapsed, 4),
            "rate_bps": round(count / elapsed, 1),
            "idle_s": round(max(now - last, 0.0), 4),
        }
    )
    if ended == "error" and error:
        record["error"] = error
    return record


def release(response):
    """End a response another thread may be blocked reading, without waiting for it.

    Closing the response itself would wait for the reader (the buffered reader's lock) until
    its socket timeout; shutting the socket down wakes the reader at once and frees the line.
    """
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(Exception):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def close():
        with contextlib.suppress(Exception):
            response.close()

    closer = threading.Thread(target=close)
    closer.daemon = True
    closer.start()


def run_throughput(config):
    """The ``throughput`` mode: measure each target URL in turn (one host at a time, so they do
    not share the line), printing each record as it ends."""
    deadline = time.monotonic() + float(config.get("budget", 10))
    records = []
    for index, url in enumerate(config.get("urls") or []):
        name = "throughput:%d" % index
        emit({"name": name, "event": "begin", "timeout_s": max(deadline - time.monotonic(), 0)}, STAGE_MARKER)
        record = measure_throughput(url, config, deadline)
        record.update({"name": name, "event": "end", "ok": record.get("ended") in ("cap", "eof", "window")})
        emit(record, STAGE_MARKER)
        records.append(record)
    return {"throughput": records}


def run_stages(origin, config):
    deadline = time.monotonic() + float(config.get("budget", 30))
    caps = dict((name, float(value)) for name, value in (config.get("stage_timeouts") or {}).items())
    road = Road(origin, deadline, caps)
    stages = [("dns", stage_dns), ("tcp", stage_tcp)]
    if road.proxy and road.scheme == "https":
        stages.append(("connect", stage_connect))
    if road.scheme == "https":
        stages.append(("tls", stage_tls))
    stages.append(("http", lambda r, rec: stage_http(r, rec, config.get("expected_size"))))
    records = []
    for name, func in stages:
        cap, limited = road.begin(name)
        timing = {"timeout_s": round(road.given, 3), "cap_s": cap, "deadline_limited": limited}
        emit(dict({"name": name, "event": "begin"}, **timing), STAGE_MARKER)
        started = time.monotonic()
        record = dict({"name": name, "ok": True}, **timing)
        try:
            func(road, record)
        except (StageFailure, ProxyStatus) as exc:
            record.update(exc.record)
            record["ok"] = False
            record.setdefault("error", describe_error(getattr(exc, "cause", exc)))
        except Timeout as exc:
            record.update({"ok": False, "timed_out": True, "error": {"type": "Timeout", "message": str(exc)}})
        except Exception as exc:
            record.update({"ok": False, "error": describe_error(exc)})
        record["elapsed_s"] = round(time.monotonic() - started, 4)
        record["event"] = "end"
        emit(record, STAGE_MARKER)
        records.append(record)
        if not record["ok"]:
            break
    if road.sock is not None:
        road.sock.close()
    view = dict(road.view)
    view.pop("proxy_raw", None)
    answer = {"proxy_view": view, "stages": records, "planned": [n for n, _ in stages]}
    if road.proxy and records and not records[-1]["ok"] and records[-1]["name"] != "http":
        answer["direct"] = direct_route(road)
    return answer


def direct_route(road):
    """The proxy failed before the host could answer: would the host answer without it?

    Resolve, connect and (for https) a verified TLS handshake, within :data:`DIRECT_CAP_S` and
    the probe's deadline; no request is sent. When it works, dropping the proxy variable is a fix
    that works; when it does not, the proxy is the only way out and the advice says so.
    """
    cap = min(DIRECT_CAP_S, road.deadline - time.monotonic())
    if cap < 0.5:
        return {"tried": False}
    ends = time.monotonic() + cap
    out = {"tried": True, "ok": False, "host": road.host, "port": road.port}
    sock = None
    try:
        infos = bounded(lambda: socket.getaddrinfo(road.host, road.port, 0, socket.SOCK_STREAM), cap)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(max(ends - time.monotonic(), 0.05))
        sock.connect(address)
        if road.scheme == "https":
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=road.host)
        out["ok"] = True
    except (Timeout, socket.timeout):
        out["error"] = {"type": "Timeout", "message": "no answer within %.1f s" % cap}
    except Exception as exc:
        out["error"] = describe_error(exc)
    finally:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
    out["elapsed_s"] = round(cap - max(ends - time.monotonic(), 0.0), 4)
    return out


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "proxy"
    origin = sys.argv[2] if len(sys.argv) > 2 else ""
    config = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    answer = {"schema": 1, "mode": mode, "python": list(sys.version_info[:3])}
    try:
        if mode == "proxy":
            view = proxy_view(origin)
            view.pop("proxy_raw", None)
            answer["proxy_view"] = view
        elif mode == "throughput":
            answer.update(run_throughput(config))
        else:
            answer.update(run_stages(origin, config))
    except Exception as exc:
        answer["error"] = describe_error(exc)
    emit(answer, MARKER)
    sys.stdout.flush()
    # Hung worker threads (a stuck getaddrinfo) must not keep the process alive.
    os._exit(0)


main()
