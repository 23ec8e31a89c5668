"""Fragment, not a script: what every target script shares, inlined first on the wire.

A target script says ``from _prelude import ...  # mnist-doctor: include`` and
:func:`mnist_doctor.probing.subproc.script_source` replaces that line with this file, so the script
still travels as one self-contained program (nothing of the doctor is importable in the
examined interpreter) while the answer's marker, its printing, the stage records, the
description of an exception and the masking of passwords are written once. The doctor reads
:data:`MARKER` and :data:`STAGE_MARKER` from this file too, so both ends agree by construction.
Standard library only, Python 3.9, no side effect beyond defining names.
"""

import json
import re
import sys
import time
import traceback

#: Line prefix of a script's JSON answer, so that what a library prints on stdout
#: (TensorFlow does) cannot corrupt it. The doctor keeps the last such line.
MARKER = "@@MNIST_DOCTOR_JSON@@"
#: Line prefix of the network probe's begin/end records of each stage, printed at once.
STAGE_MARKER = "@@MNIST_DOCTOR_STAGE@@"

#: The answer a probe grows stage by stage (``stage`` appends to it, ``emit()`` prints it
#: whole again), so a crash or a kill half-way still leaves the stages that finished.
answer = {"schema": 1, "stages": [], "python": sys.executable}

#: Attributes of an exception worth keeping (OSError, URLError, SSLCertVerificationError...).
ERROR_ATTRS = ("errno", "strerror", "code", "reason", "verify_code", "verify_message", "library", "filename")


def emit(payload=None, marker=MARKER):
    """Print ``payload`` (default: :data:`answer`) as one marked JSON line, flushed at once."""
    text = json.dumps(answer if payload is None else payload, default=str)
    sys.stdout.write("\n" + marker + text + "\n")
    sys.stdout.flush()


# Conservative on purpose: the userinfo runs to the *last* '@' (urllib's reading), and past a
# '/' too, so a password holding '@', '/' or ':' is masked whole, never in part. The lookbehind
# starts a scheme only where a run of scheme characters starts, and the userinfo is bounded:
# without both, a long origin (120 KB) is re-scanned from every position, quadratically.
USERINFO = re.compile(r"((?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://)([^\s\"'<>]{0,4096})@")
BARE_USERINFO = re.compile(r"((?<![/\w@])[\w.%~+-]{1,256}:)(?!//)([^\s\"'<>]{1,4096})(@[\w.-]+(?::\d+)?)")


def _mask_userinfo(match):
    userinfo = match.group(2)
    masked = userinfo.split(":", 1)[0] + ":***" if ":" in userinfo else "***"
    return match.group(1) + masked + "@"


def redact(text):
    """Mask passwords in URLs (with or without a scheme) and proxy values before they are printed.

    The doctor masks everything it prints again (``mnist_doctor/text/output.py``); this keeps the
    secrets out of the answer itself.
    """
    if not text:
        return text
    text = str(text)
    if "://" not in text and " " not in text.strip() and "@" in text:  # a bare user:password@host value
        user_info, _, host = text.rpartition("@")
        return (user_info.split(":", 1)[0] + ":***" if ":" in user_info else "***") + "@" + host
    if text.count("://") == 1 and text.split("://", 1)[0].isalnum() and "@" in text and "\n" not in text:
        # A whole proxy value: everything up to its last '@' is userinfo, spaces included.
        scheme, rest = text.split("://", 1)
        user_info, _, host = rest.rpartition("@")
        masked = user_info.split(":", 1)[0] + ":***" if ":" in user_info else "***"
        if "/" not in host and " " not in host:
            return scheme + "://" + masked + "@" + host
    text = USERINFO.sub(_mask_userinfo, text)
    return BARE_USERINFO.sub(lambda m: m.group(1) + "***" + m.group(3), text)


def type_name(exc, qualified=True):
    """``module.QualName`` of an exception's type (or its bare name)."""
    kind = type(exc)
    return kind.__module__ + "." + kind.__qualname__ if qualified else kind.__name__


def describe_exception(exc, chain=True, qualified=True):
    """Type, message and notable attributes of ``exc``, passwords masked.

    With ``chain``, also the ``__cause__``/``__context__`` chain (each link described alike)
    and the traceback; ``qualified`` names types with their module.
    """

    def one(e):
        record = {"type": type_name(e, qualified), "message": redact(str(e))[:2000]}
        for attr in ERROR_ATTRS:
            value = getattr(e, attr, None)
            if value is not None:
                record[attr] = value if isinstance(value, (int, float, bool)) else redact(str(value))[:500]
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            record["reason_type"] = type_name(reason, qualified)
        return record

    out = one(exc)
    if not chain:
        return out
    links, seen, cur = [], {id(exc)}, exc.__cause__ or exc.__context__
    while cur is not None and id(cur) not in seen and len(links) < 8:
        seen.add(id(cur))
        links.append(one(cur))
        cur = cur.__cause__ or cur.__context__
    out["chain"] = links
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    out["traceback"] = redact(text)[-8000:]
    return out


def stage(name, func):
    """Run one stage of :data:`answer`, printing the answer before and after it; True if it worked.

    The record says it started before ``func`` runs, so a crash inside leaves an unfinished
    stage; a failure keeps the structured ``exception`` and its flat summary
    (``error_type``, ``error``, ``chain`` as "Type: message" lines, ``traceback``).
    """
    start = time.monotonic()
    record = {"name": name, "ok": False, "started": True}
    answer["stages"].append(record)
    emit()
    try:
        record["value"] = func()
        record["ok"] = True
    except BaseException as exc:  # SystemExit from a broken import is evidence too
        detail = describe_exception(exc)
        record["exception"] = detail
        record["error_type"] = detail["type"]
        record["error"] = detail["message"]
        record["chain"] = [c["type"].rsplit(".", 1)[-1] + ": " + c["message"][:500] for c in detail["chain"]]
        record["traceback"] = detail["traceback"]
    record["elapsed_s"] = round(time.monotonic() - start, 3)
    emit()
    return record["ok"]
