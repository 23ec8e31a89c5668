"""The commands inside a hint, as lines a person can paste into a shell.

A check's hint is one string written for people: sometimes only a command (``rm PATH   # why``),
sometimes prose that quotes commands in backticks or after a colon (``fix the proxy setting
(HTTPS_PROXY): export HTTPS_PROXY=http://host:port``). The report prints commands on lines of
their own, outside any table cell, so they can be copied whole; this module finds them
(:mod:`mnist_doctor.render.commands` lays them out).

Where a result carries typed fixes (``Result.fixes``, in the report as the row's ``fixes``: each
step's exact ``argv``), those are the command, each argv quoted by
:func:`~mnist_doctor.model.shell_join` and joined by ``&&``: exactly what ``--fix`` runs, and
the very text the hint was rendered from.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from mnist_doctor.model import shell_join

#: First words that make a piece of a hint a shell command rather than prose.
COMMAND_WORDS = frozenset(
    {
        "mnist-doctor", "python", "python3", "pip", "pip3", "uv", "pipx", "conda", "export", "unset",
        "sudo", "rm", "rmdir", "mv", "cp", "cd", "chmod", "chown", "mkdir", "df", "open", "ls", "date",
    }
)  # fmt: skip
#: Where a command may start inside prose: the start, or after one of these.
_STARTS = re.compile(r"(?:^|: |; |, or |\bor: |\(or: |\be\.g\. |\bor |\bthen )")
#: Where an unquoted command ends and a comment or more prose begins.
_ENDS = re.compile(r"\s{2,}|;\s|,\s(?=or\b)|\s\((?=or\b|repeat\b)")
_BACKTICKS = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class FixCommand:
    """One line to paste (``text``) and an optional comment shown beside it."""

    text: str
    comment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.text, "comment": self.comment}


def looks_like_command(text: str) -> bool:
    """A command word first, an interpreter path, or an assignment-free ``NAME=value cmd``."""
    words = text.split()
    if not words:
        return False
    first = words[0]
    if first in COMMAND_WORDS:
        return True
    # an interpreter path: /path/to/python -m pip ...
    return first.startswith(("/", "~/", "./")) and len(words) > 1 and words[1] == "-m"


def _split_comment(text: str) -> tuple[str, str | None]:
    """``cmd   # why`` → (``cmd``, ``why``); a ``#`` inside a word (``a#b``) is not a comment."""
    match = re.search(r"\s+#\s", text)
    if not match:
        return text.strip(), None
    return text[: match.start()].strip(), text[match.end() :].strip() or None


def fixes_command(fixes: Any) -> FixCommand | None:
    """A row's ``fixes`` (the report form of ``Result.fixes``) as one line, or None if it has none."""
    if not isinstance(fixes, list) or not fixes:
        return None
    argvs = [fix.get("argv") if isinstance(fix, dict) else None for fix in fixes]
    if not all(isinstance(a, list) and a and all(isinstance(w, str) for w in a) for a in argvs):
        return None
    return FixCommand(" && ".join(shell_join(argv) for argv in argvs if argv))


def hint_commands(hint: str | None) -> list[FixCommand]:
    """Every command a hint names, in order, without duplicates (prose yields none)."""
    if not hint:
        return []
    found: list[FixCommand] = []
    quoted = [m.group(1).strip() for m in _BACKTICKS.finditer(hint)]
    found += [FixCommand(*_split_comment(q)) for q in quoted if looks_like_command(q)]
    rest = _BACKTICKS.sub("\x00", hint)
    whole, comment = _split_comment(rest)
    if "\x00" not in whole and looks_like_command(whole) and not _ENDS.search(whole):
        more = _scan(comment or "")
        if more:  # "cmd   # or, with a network: other-cmd": both are commands, the prose stays a comment
            found.append(FixCommand(whole))
            lead = (comment or "")[: (comment or "").find(more[0].text)]
            found += [FixCommand(m.text, m.comment or lead.strip(" :,") or None) for m in more]
        else:
            found.append(FixCommand(whole, comment))
    else:
        found += _scan(rest)
    unique: dict[str, FixCommand] = {}
    for command in found:
        unique.setdefault(command.text, command)
    return list(unique.values())


def _scan(rest: str) -> list[FixCommand]:
    """Commands that start after a separator in prose (backtick spans masked as ``\x00``)."""
    found: list[FixCommand] = []
    for start in _STARTS.finditer(rest):
        piece = rest[start.end() :]
        if "\x00" in piece[:1] or not looks_like_command(piece):
            continue
        end = _ENDS.search(piece)
        command = piece[: end.start()] if end else piece
        after = piece[end.start() :] if end else ""
        note = _split_comment(after)[1] if after.lstrip().startswith("#") else None
        command = command.strip().rstrip(".,")
        while command.endswith(")") and command.count(")") > command.count("("):
            command = command[:-1]  # the end of a parenthesis the command sat in
        if "\x00" not in command:
            found.append(FixCommand(command, note))
    return found


def result_commands(result: dict[str, Any]) -> list[FixCommand]:
    """The commands that fix one result: its typed ``fixes`` first (what ``--fix`` runs), then the
    other commands its hint names (an alternative: "or upgrade: ..."); without fixes, the hint's."""
    named = hint_commands(result.get("hint"))
    from_fixes = fixes_command(result.get("fixes"))
    if from_fixes is None:
        return named
    return [from_fixes, *(c for c in named if not same_command(c.text, from_fixes.text))]


def same_command(a: str, b: str) -> bool:
    """The same argv however quoted (``"numpy<2"`` and ``'numpy<2'``)."""
    try:
        return shlex.split(a) == shlex.split(b)
    except ValueError:
        return a == b
