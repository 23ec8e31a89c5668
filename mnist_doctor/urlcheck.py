"""Is a URL usable as a dataset origin, mirror or proxy? One answer for flags and variables.

``urlsplit`` raises on some malformed URLs (``http://[::1``) and ``.port`` on others
(``http://h:99999/``); code that reads a URL's parts without asking first crashed. The
command line turns a problem into exit 2, a check turns it into a finding.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

#: Longer than any real URL; also bounds the work spent on a hostile one.
MAX_URL_CHARS = 8192
DATASET_SCHEMES = ("http", "https")

_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]")


def url_problem(url: str, schemes: tuple[str, ...] = DATASET_SCHEMES) -> str | None:
    """Why ``url`` cannot be used (a short phrase), or None when it can."""
    if len(url) > MAX_URL_CHARS:
        return f"is longer than {MAX_URL_CHARS} characters"
    if _BAD_CHARS.search(url):
        return "contains spaces or control characters (percent-encode them)"
    if "://" not in url:
        return "has no scheme (write http:// or https://)"
    scheme = url.split("://", 1)[0].lower()
    if scheme not in schemes:
        wanted = "an http(s)" if schemes == DATASET_SCHEMES else f"a {'/'.join(schemes)}"
        return f"is not {wanted} URL (scheme '{scheme[:20]}')"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is malformed ({_reason(exc)})"
    if not parts.hostname:
        return "has no host"
    if port == 0:
        return "has port 0"
    return None


def _reason(exc: ValueError) -> str:
    text = str(exc)
    if "IPv6" in text or "[" in text:
        return "bad IPv6 brackets"
    if "port" in text.lower():
        return "bad port"
    return "cannot be split into host and path"
