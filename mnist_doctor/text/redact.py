"""Scrub secrets from any text before it is shown: a password never reaches screen, JSON or Markdown.

This is the one redaction of the doctor. :func:`mnist_doctor.text.output.safe_text` runs it on
everything that leaves the process (see that module); checks may also call
:func:`redact_text` on values they know to be secret, which is harmless twice over.

Three layers, because no single one can be complete:

* **Known secrets, literally.** The values of the proxy variables (doctor's and target's
  environment), ``MNIST_DOCTOR_ORIGIN`` and every URL given on the command line are
  registered; their password parts (as urllib reads them *and* the conservative reading:
  first ``:`` to last ``@``), percent-encoded or decoded, are masked wherever they appear —
  even when a space or a ``/`` in the password would stop any pattern.
* **URL userinfo by shape**, the way urllib splits it: the password runs from the first
  ``:`` to the *last* ``@`` of the authority; when a ``/``, ``?`` or ``#`` inside the
  password ends urllib's authority early, the conservative reading masks up to the last
  ``@`` anyway.
* **Credential-like query parameters** (any name containing ``token``, ``key``, ``secret``,
  ``pass``, ``pwd``, ``sig``, ``auth``, ``cred``, ``session``, …, any case) and
  ``Authorization`` header values.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

MASK = REDACTED = "***"

#: Shorter literals would mask ordinary words; their URL forms are still caught by shape.
MIN_SECRET_LEN = 3
#: A user part without a password is masked literally only when it is long enough to be a token.
MIN_TOKEN_LEN = 12

#: Variables whose values are proxy URLs (any case); ``no_proxy`` holds no secret.
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "socks_proxy", "rsync_proxy")
#: Other variables of the doctor that hold a URL which may carry credentials.
URL_VARS = ("MNIST_DOCTOR_ORIGIN",)

# Every pattern is bounded (no unbounded run before a possible failure): text from outside may be
# a 100 KB line, and an unbounded pattern would take minutes on it.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,30}://")
#: A URL quoted in free text: up to a character that ends it, at most a generous URL length.
_URL_CHUNK = re.compile(r"[^\s\"'<>`]{0,1024}")
#: Characters that end a URL quoted in free text (and never occur unescaped in a JSON string).
_WINDOW_END = re.compile(r"[\n\"'<>`]")
_PORT = re.compile(r"\d{0,5}")
#: The characters besides white space that end :data:`_URL_CHUNK`, and the end of a word.
_QUOTES = frozenset("\"'<>`")
_WORD_END = re.compile(r"\s")
# user:password@host:port without a scheme (a proxy value missing its http://), token by token.
_TOKEN = re.compile(r"[^\s\"'<>`]{1,8192}")
_BARE_USER = re.compile(r"[\w.%~+-]{1,128}")
_HOSTPORT = re.compile(r"[\w.-]{1,255}(?::\d{1,5})?")
_CREDENTIAL_WORDS = (
    "token|key|secret|pass|pwd|sig|auth|cred|session|cookie|jwt|bearer|otp|private|ticket|nonce"
)
# A query parameter; its name is tested for a credential word, its value may hold JSON escapes (\").
_PARAM = re.compile(
    r"(?P<key>[?&;](?P<name>[^=&;#?\s\"'<>\\]{1,128})=)(?P<value>(?:\\.|[^&;#\s\"'<>\\]){1,8192})"
)
_CREDENTIAL_NAME = re.compile(_CREDENTIAL_WORDS, re.IGNORECASE)
# Basic / Bearer credentials quoted in an error or header dump.
_AUTH_HEADER = re.compile(
    r"(?P<key>(?:Proxy-)?Authorization:\s*(?:Basic|Bearer|Digest|Negotiate|Token)\s+)"
    r"(?P<value>(?:\\.|[^\s\"'\\])+)",
    re.IGNORECASE,
)

_lock = threading.Lock()
_env_lock = threading.Lock()
_secrets: set[str] = set()
_literal_re: dict[bool, re.Pattern[str]] = {}
_env_loaded = False


# --------------------------------------------------------------------------- known secrets


def password_parts(url: str) -> list[str]:
    """Every string that could be the password (or a lone token) of ``url``.

    urllib's reading (``urlsplit``: the authority ends at the first ``/?#``, the password
    runs to its last ``@``) and the conservative one (first ``:`` after the scheme to the
    last ``@`` of the whole value), so a ``/`` or ``?`` inside a password cannot hide it.
    """
    parts: list[str] = []
    value = url.strip()
    rest = value.split("://", 1)[1] if "://" in value else value
    for candidate in (_authority(rest), rest):
        if "@" not in candidate:
            continue
        userinfo = candidate.rpartition("@")[0]
        if ":" in userinfo:
            parts.append(userinfo.split(":", 1)[1])
        elif len(userinfo) >= MIN_TOKEN_LEN:  # a lone token; a short user name ("jdoe") is no secret
            parts.append(userinfo)
    try:
        split = urlsplit(value if "://" in value else "//" + value)
        parts += [p for p in (split.password,) if p]
    except ValueError:  # bad IPv6 brackets: the conservative readings above still apply
        pass
    return [p for p in parts if p]


def _authority(rest: str) -> str:
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    return rest[:cut]


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its percent-encoded and decoded forms) in every later output."""
    if not value:
        return
    raw = value.encode("utf-8", "surrogateescape")  # undecodable bytes from the environment
    forms = {value, unquote(value), quote(raw, safe=""), quote(raw)}
    # As it appears inside a repr() (argparse quotes values so) or a JSON string.
    quoted = [repr(f)[1:-1] for f in forms]
    quoted += [json.dumps(f, ensure_ascii=ascii_only)[1:-1] for f in forms for ascii_only in (False, True)]
    forms.update(quoted)
    with _lock:
        before = len(_secrets)
        _secrets.update(f for f in forms if len(f) >= MIN_SECRET_LEN and f != MASK)
        if len(_secrets) != before:
            _literal_re.clear()


def register_url(url: str | None) -> None:
    """Register the password parts of ``url``; its host stays visible."""
    if not url:
        return
    for part in password_parts(url):
        register_secret(part)


def register_env(env: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
    """Register the proxy variables (any case) and URL variables found in ``env``."""
    items = env.items() if isinstance(env, Mapping) else env
    for name, value in items:
        if isinstance(name, str) and isinstance(value, str):
            low = name.lower()
            proxy = low in PROXY_VARS or (low.endswith("_proxy") and low != "no_proxy")
            if proxy or name.upper() in URL_VARS:
                register_url(value)


def _load_environment() -> None:
    """Register the doctor's own proxy variables once, before any text is redacted (thread-safe)."""
    global _env_loaded
    if _env_loaded:
        return
    with _env_lock:
        if not _env_loaded:
            register_env(dict(os.environ))
            _env_loaded = True


def _literals(json_escaped: bool) -> re.Pattern[str] | None:
    _load_environment()
    with _lock:
        if not _secrets:
            return None
        if json_escaped not in _literal_re:
            alternatives = "|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True))
            # In JSON text an escape pair (``\\n``) is stepped over whole, so masking never splits one.
            step = "|\\\\." if json_escaped else ""
            _literal_re[json_escaped] = re.compile(f"(?P<s>{alternatives}){step}", re.DOTALL)
        return _literal_re[json_escaped]


def _mask_literals(text: str, json_escaped: bool) -> str:
    pattern = _literals(json_escaped)
    if pattern is None:
        return text
    return pattern.sub(lambda m: MASK if m.group("s") is not None else m.group(0), text)


# --------------------------------------------------------------------------- secrets by shape


def _mask_userinfo(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _SCHEME.finditer(text):
        start = match.end()
        if start < pos:
            continue
        chunk = _URL_CHUNK.match(text, start)  # matches the empty string too: never None
        end = chunk.end() if chunk else start
        cut = _userinfo_end(text, start, end)
        if cut is None:
            continue
        userinfo = text[start:cut]
        user, colon, _ = userinfo.partition(":")
        out.append(text[pos:start])
        out.append(f"{user}:{MASK}" if colon else MASK)
        pos = cut
    out.append(text[pos:])
    return "".join(out)


def _userinfo_end(text: str, start: int, end: int) -> int | None:
    """Index of the ``@`` that ends the userinfo of the URL whose authority starts at ``start``."""
    chunk = text[start:end]
    authority = _authority(chunk)
    if "@" in authority:  # urllib's own reading: up to the last '@' of the authority
        return start + authority.rfind("@")
    _host, colon, after = authority.partition(":")
    if not colon or _PORT.fullmatch(after):
        return None  # no password, or host:port
    if "@" in chunk:  # a '/', '?' or '#' inside the password ended urllib's authority early
        return start + chunk.rfind("@")
    if end >= len(text):
        return None
    if text[end].isspace():
        # A space inside the password ended the chunk: look on along the same line, conservatively.
        window = text[end : end + 512]
        stop = _WINDOW_END.search(window)
    elif text[end] in _QUOTES:
        # A quote or angle bracket inside the password (urllib takes ``a<b`` as it is) ended the
        # chunk: look on to the end of that word.
        window = text[end : end + 512]
        stop = _WORD_END.search(window)
    else:
        return None
    window = window[: stop.start()] if stop else window
    if "@" in window and "://" not in window:
        return end + window.rfind("@")
    return None


def _mask_param(match: re.Match[str]) -> str:
    if _CREDENTIAL_NAME.search(match.group("name")):
        return match.group("key") + MASK
    return match.group(0)


def _mask_bare_token(match: re.Match[str]) -> str:
    token = match.group()
    if "@" not in token or ":" not in token or "://" in token:
        return token
    colon, at = token.find(":"), token.rfind("@")
    head = token[:colon]  # the user name runs back from the *first* ':' to the token's start or a '='
    user_start = max(head.rfind(c) for c in "=([{,;|") + 1
    if not _BARE_USER.fullmatch(head[user_start:]) or at < colon or not _HOSTPORT.match(token, at + 1):
        return token
    return token[: colon + 1] + MASK + token[at:]


def _mask_bare(text: str) -> str:
    """``user:password@host`` without a scheme: the password runs to the token's last ``@``."""
    return _TOKEN.sub(_mask_bare_token, text) if "@" in text else text


def redact_text(text: str | None, *, json_escaped: bool = False) -> str | None:
    """``text`` with every password, token and signature removed.

    Works on a bare URL or on any text that quotes URLs (error messages, details, a whole
    rendered JSON document): ``http://user:secret@proxy:3128`` becomes
    ``http://user:***@proxy:3128``, a lone token in the user part becomes ``***``, and
    credential-like query parameters and ``Authorization`` values are masked.
    ``json_escaped`` says ``text`` is JSON, whose escape pairs must stay whole.
    """
    if not text or not isinstance(text, str):
        return text
    out = _mask_literals(text, json_escaped)
    if "@" in out:
        out = _mask_userinfo(out)
    out = _mask_bare(out)
    if "=" in out:
        out = _PARAM.sub(_mask_param, out)
    return _AUTH_HEADER.sub(lambda m: m.group("key") + MASK, out)


def redact(value: Any) -> Any:
    """Redact every string inside ``value`` (dict keys and values, lists, tuples), returning a copy."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact(k): redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
