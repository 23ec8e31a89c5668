"""One exit for text: everything that reaches stdout or stderr passes through here.

The doctor prints text that came from outside — proxy URLs, server status lines and
headers, a target interpreter's stderr, file names — so one place makes it safe to show:

* :func:`safe_text` redacts credentials (:func:`mnist_doctor.text.redact.redact_text`) and
  escapes control characters (ESC, CR, BEL, C1, bidi overrides, lone surrogates from
  undecodable bytes, shown as ``\\xff``); newlines and tabs stay.
* :func:`emit` writes one safe text to a stream as bytes (JSON always UTF-8), and turns a
  failed write into :class:`OutputError`.
* :class:`mnist_doctor.render.console.SafeConsole` (rich, imported only when needed) applies
  :func:`safe_text` to every string and ``Text`` it prints; action code prints through it.
* :func:`run_cli` wraps the whole command: closed standard streams are plugged with
  ``/dev/null``, ``sys.stdout``/``sys.stderr`` become :class:`SafeTextStream` (so even a
  stray ``print`` or argparse's help is redacted), and output failures end in a documented
  exit code instead of a traceback: broken pipe → 141 quietly (what a shell reports for a
  SIGPIPE death), any other failure to write stdout (``/dev/full``, stdout closed) → one
  line on stderr and 1. Failures to write stderr are ignored: progress is not the product.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from mnist_doctor.text.redact import redact_text, register_url

EXIT_OUTPUT_FAILED = 1
EXIT_BROKEN_PIPE = 141

CONTROL_CHARS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff"
    "\ud800-\udfff]"
)
_NAMED = {"\r": "\\r", "\x1b": "\\x1b"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # a byte Python could not decode (surrogateescape): show the byte
        return f"\\x{code - 0xDC00:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return f"\\U{code:08x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character shown as an escape; ``\\n`` and ``\\t`` stay."""
    return CONTROL_CHARS.sub(_escape, text)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 warning``, ``2 warnings`` (``many`` for irregular plurals): every count the doctor prints."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def safe_text(text: Any, *, json_escaped: bool = False) -> str:
    """The only form in which text may leave the doctor: redacted, control characters escaped."""
    if not isinstance(text, str):
        text = str(text)
    return escape_controls(redact_text(text, json_escaped=json_escaped) or "")


def sanitize(value: Any) -> Any:
    """A copy of ``value`` (dicts, lists, scalars) fit for JSON: safe strings, keys included.

    Non-finite floats become strings (``NaN`` is not JSON); unknown objects their safe ``str``.
    """
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {safe_text(k) if isinstance(k, str) else sanitize(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [sanitize(v) for v in value]
    return safe_text(value)


def sanitize_document(document: dict[str, Any]) -> dict[str, Any]:
    """:func:`sanitize` for a JSON document: a dict comes back as a dict (typed as one)."""
    safe: dict[str, Any] = sanitize(document)
    return safe


def to_json(value: Any) -> str:
    """``value`` sanitized and dumped: always valid JSON (no NaN, no lone surrogates)."""
    return json.dumps(sanitize(value), indent=2, ensure_ascii=False, allow_nan=False)


# --------------------------------------------------------------------------- streams


class OutputError(Exception):
    """Writing to stdout failed (broken pipe, disk full, closed): the report cannot be delivered."""

    def __init__(self, stream: str, error: BaseException) -> None:
        super().__init__(f"cannot write to {stream}: {getattr(error, 'strerror', None) or error}")
        self.stream = stream
        self.broken_pipe = isinstance(error, BrokenPipeError)


class Sink:
    """Writes already-safe text to one standard stream as bytes, flushing each time.

    For stdout (``strict``) a failed write raises :class:`OutputError`; for stderr it is
    dropped, and so is everything after it.
    """

    def __init__(self, target: TextIO | None, name: str, *, strict: bool) -> None:
        self.target = target
        self.name = name
        self.strict = strict
        self.dead = target is None

    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", None) or "utf-8"

    def write(self, text: str, encoding: str | None = None) -> int:
        target = self.target
        if self.dead or target is None or not text:
            return len(text)
        data = text.encode(encoding or self.encoding, "backslashreplace")
        try:
            buffer = getattr(target, "buffer", None)
            if buffer is not None:
                target.flush()
                buffer.write(data)
                buffer.flush()
            else:
                target.write(data.decode(encoding or self.encoding))
                target.flush()
        except (OSError, ValueError) as exc:  # ValueError: I/O operation on closed file
            self.dead = True
            if self.strict:
                raise OutputError(self.name, exc) from None
        return len(text)

    def flush(self) -> None:
        if not self.dead and self.target is not None:
            try:
                self.target.flush()
            except (OSError, ValueError) as exc:
                self.dead = True
                if self.strict:
                    raise OutputError(self.name, exc) from None

    def isatty(self) -> bool:
        try:
            return bool(self.target is not None and self.target.isatty())
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self.target is None:
            raise io.UnsupportedOperation("no stream")
        return self.target.fileno()


class SafeTextStream(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: every ``write`` passes :func:`safe_text`."""

    def __init__(self, sink: Sink) -> None:
        super().__init__()
        self.sink = sink

    @property
    def encoding(self) -> str:  # type: ignore[override]  # read-only on purpose: the sink's encoding
        return self.sink.encoding

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.sink.write(safe_text(text))
        return len(text)

    def flush(self) -> None:
        self.sink.flush()

    def isatty(self) -> bool:
        return self.sink.isatty()

    def fileno(self) -> int:
        return self.sink.fileno()


def sink_of(stream: Any, name: str = "stdout") -> Sink:
    if isinstance(stream, SafeTextStream):
        return stream.sink
    if isinstance(stream, Sink):
        return stream
    return Sink(stream, name, strict=name == "stdout")


def emit(
    text: Any, stream: Any = None, *, end: str = "\n", encoding: str | None = None, json_escaped: bool = False
) -> None:
    """Write ``text`` (made safe) and ``end`` to ``stream`` (default: the current ``sys.stdout``).

    ``encoding`` forces the bytes' encoding (``"utf-8"`` for JSON); otherwise the stream's
    own, with unencodable characters written as backslash escapes rather than failing.
    ``json_escaped`` says ``text`` is a JSON document (its escape pairs are kept whole).
    """
    target = sys.stdout if stream is None else stream
    name = "stderr" if target is sys.stderr else "stdout"
    sink_of(target, name).write(safe_text(text, json_escaped=json_escaped) + end, encoding)


def emit_json(value: Any, stream: Any = None) -> None:
    """``value`` as JSON on ``stream``: sanitized, valid, UTF-8 whatever the locale."""
    emit(to_json(value), stream, encoding="utf-8", json_escaped=True)


# --------------------------------------------------------------------------- the command's frame


def _plug_closed_fds() -> set[int]:
    """Open ``/dev/null`` on any closed fd 0-2, so no file the doctor opens later lands there."""
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
    for fd in sorted(closed):
        new = os.open(os.devnull, os.O_RDWR)
        if new != fd:
            os.dup2(new, fd)
            os.close(new)
    return closed


def _silence(fd: int) -> None:
    """Point ``fd`` at ``/dev/null``: the interpreter's last flush then cannot fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except OSError:
        pass


def _thread_failed(args: threading.ExceptHookArgs) -> None:
    """A helper thread that dies prints one line, not a traceback (its check reports the failure)."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread else "?"
    error = " ".join(f"{args.exc_type.__name__}: {args.exc_value}".split())
    emit(f"mnist-doctor: internal error in thread {name}: {error}", sys.stderr)


def register_argv_secrets(argv: list[str]) -> None:
    """Every URL-looking argument's password is a secret, before argparse may echo it."""
    for arg in argv:
        if "@" in arg:
            register_url(arg)
            if "=" in arg:
                register_url(arg.split("=", 1)[1])


def run_cli(main: Callable[[list[str]], int], argv: list[str] | None = None) -> int:
    """Run ``main(argv)`` with safe standard streams; output failures become exit codes."""
    argv = sys.argv[1:] if argv is None else list(argv)
    register_argv_secrets(argv)
    closed = _plug_closed_fds()
    saved = sys.stdin, sys.stdout, sys.stderr
    if sys.stdin is None or 0 in closed:
        sys.stdin = open(os.devnull)  # noqa: SIM115 (lives as long as the process)
    out_target = None if 1 in closed else saved[1]
    err_target = None if 2 in closed else saved[2]
    sys.stdout = SafeTextStream(Sink(out_target, "stdout", strict=True))
    sys.stderr = SafeTextStream(Sink(err_target, "stderr", strict=False))
    saved_hook = threading.excepthook
    threading.excepthook = _thread_failed
    try:
        if out_target is None:
            emit("mnist-doctor: error: standard output is closed: nothing could be reported", sys.stderr)
            return EXIT_OUTPUT_FAILED
        return main(argv)
    except OutputError as exc:
        _silence(1)
        if exc.broken_pipe:
            return EXIT_BROKEN_PIPE
        emit(f"mnist-doctor: error: {exc}", sys.stderr)
        return EXIT_OUTPUT_FAILED
    finally:
        threading.excepthook = saved_hook
        sys.stdin, sys.stdout, sys.stderr = saved
