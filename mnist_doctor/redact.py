"""Scrub secrets from any text before it is shown: a password never reaches screen, JSON or Markdown.

Checks redact what they know is secret (proxy URLs); this is the safety net applied to
the whole report, so a check that forgets cannot leak.
"""

from __future__ import annotations

import re
from typing import Any

# scheme://user:password@host → scheme://user:***@host (also bare user:password@host:port)
_USERINFO = re.compile(
    r"(?P<pre>\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)(?P<secret>[^\s@/]+)(?P<at>@)", re.IGNORECASE
)
_BARE = re.compile(r"(?P<pre>(?<![/\w])[\w.-]+:)(?P<secret>[^\s@/:]+)(?P<at>@[\w.-]+:\d+)")
_TOKENS = re.compile(
    r"(?P<pre>[?&](?:token|access_token|key|api_key|apikey|sig|signature|password)=)(?P<secret>[^&\s]+)",
    re.IGNORECASE,
)

MASK = "***"


def redact_text(text: str) -> str:
    text = _USERINFO.sub(lambda m: m["pre"] + MASK + m["at"], text)
    text = _BARE.sub(lambda m: m["pre"] + MASK + m["at"], text)
    return _TOKENS.sub(lambda m: m["pre"] + MASK, text)


def redact(value: Any) -> Any:
    """Redact every string inside ``value`` (dicts, lists, tuples), returning a copy."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
