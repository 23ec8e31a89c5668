"""Scrub secrets from any text before it is shown: a password never reaches screen, JSON or Markdown.

Checks redact what they know is secret (proxy URLs) with :func:`redact_text`; the report
applies :func:`redact` to everything it renders, as the safety net, so a check that
forgets cannot leak.
"""

from __future__ import annotations

import re
from typing import Any

MASK = REDACTED = "***"

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


def redact_text(text: str | None) -> str | None:
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


def redact(value: Any) -> Any:
    """Redact every string inside ``value`` (dicts, lists, tuples), returning a copy."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
