"""Is a URL usable as a dataset origin, mirror or proxy? One answer for flags and variables.

``urlsplit`` raises on some malformed URLs (``http://[::1``) and ``.port`` on others
(``http://h:99999/``); code that reads a URL's parts without asking first crashed. The
command line turns a problem into exit 2, a check turns it into a finding.

What the dataset URLs are for: the doctor's network checks walk DNS, TCP, TLS and HTTP to the
origin, and ``--fetch`` downloads from it with urllib, as Keras would. So only ``http(s)`` is
usable, although urllib itself also opens ``ftp:``, ``file:`` and ``data:`` URLs (Keras never
sees the doctor's origin: ``load_data()`` always downloads from its own https URL). Each
problem is named as what it is: another scheme by its name, ``http:/x`` as a missing ``//``,
a user name or password (urllib never sends them: it takes the part before ``@`` for part of
the host name and fails to resolve it), a host name DNS cannot carry (IDNA refuses an empty label or one
longer than 63 characters — urllib raises ``UnicodeError`` on it, not a download error).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

#: Longer than any real URL; also bounds the work spent on a hostile one.
MAX_URL_CHARS = 8192
DATASET_SCHEMES = ("http", "https")

_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]")
#: RFC 3986's scheme: a letter, then letters, digits, ``+``, ``-`` or ``.``, then ``:``.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")


def url_problem(url: str, schemes: tuple[str, ...] = DATASET_SCHEMES) -> str | None:
    """Why ``url`` cannot be used (a short phrase), or None when it can."""
    if not url:
        return "is empty"
    if len(url) > MAX_URL_CHARS:
        return f"is longer than {MAX_URL_CHARS} characters"
    if _BAD_CHARS.search(url):
        return "contains spaces or control characters (percent-encode them)"
    scheme = _scheme(url)
    wanted = "an http(s)" if schemes == DATASET_SCHEMES else f"a {'/'.join(schemes)}"
    if scheme is None:
        return f"has no scheme (write {'https' if 'https' in schemes else schemes[0]}://host/path)"
    if scheme not in schemes:
        return f"is not {wanted} URL (scheme '{scheme[:20]}')"
    if not url[len(scheme) + 1 :].startswith("//"):
        return f"is malformed: '{scheme}:' must be followed by '//' and a host ({scheme}://host/path)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is malformed ({_reason(exc)})"
    if not parts.hostname:
        return "has no host"
    if port == 0:
        return "has port 0"
    if "@" in parts.netloc:
        return (
            "carries a user name or password: urllib, which downloads it, never sends them (it takes "
            "everything before the '@' for part of the host name, and fails)"
        )
    try:
        parts.hostname.encode("idna")
    except UnicodeError as exc:
        return f"has a host name DNS cannot carry (IDNA: {exc.__cause__ or exc})"
    return None


def https_form(url: str) -> str | None:
    """The https URL of the same host and path (another scheme, a user name or password dropped),
    when it is a usable one: a suggestion for a fix, to try only if that host serves https."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not host or not parts.path or _BAD_CHARS.search(url):
        return None
    if ":" in host:
        host = f"[{host}]"
    keep_port = port is not None and parts.scheme.lower() in DATASET_SCHEMES
    candidate = urlunsplit(("https", f"{host}:{port}" if keep_port else host, parts.path, parts.query, ""))
    return candidate if url_problem(candidate) is None else None


def _scheme(url: str) -> str | None:
    """The URL's scheme in lower case, or None; ``host:8080/x`` is a host and a port, not a scheme."""
    match = _SCHEME.match(url)
    if match is None:
        return None
    rest = url[match.end() :]
    if rest[:1].isdigit() and "//" not in url[: match.end() + 2]:
        return None
    return match.group(1).lower()


def _reason(exc: ValueError) -> str:
    text = str(exc)
    if "IPv6" in text or "[" in text:
        return "bad IPv6 brackets"
    if "port" in text.lower():
        return "bad port"
    return "cannot be split into host and path"
