"""Fix commands laid out for a terminal: broken only between shell words, with `` \\`` continuations.

A command in a narrow table cell breaks mid-token and cannot be pasted; the rich renderer prints
each command on lines of its own and, when it is longer than the line, breaks it here. Pasted
into a shell, the broken lines are the same command (:func:`unwrap_lines` is the inverse the
tests use on the captured screen).
"""

from __future__ import annotations


def shell_words(text: str) -> list[str] | None:
    """``text`` split at the spaces a shell would split at (quotes respected), or None if unbalanced.

    Joining the pieces with single spaces gives ``text`` back (runs of spaces collapse), so a
    line broken between two pieces with `` \\`` is the same command.
    """
    words: list[str] = []
    current: list[str] = []
    quote: str | None = None
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quote != "'":
            current.append(char)
            escaped = True
        elif quote:
            current.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            current.append(char)
            quote = char
        elif char == " ":
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(char)
    if quote or escaped:
        return None
    if current:
        words.append("".join(current))
    return words


def wrap_command(text: str, width: int, indent: str = "", continuation: str = "  ") -> list[str]:
    """Lines for ``text`` within ``width``, broken only between shell words, each but the last ending ``\\``.

    A word longer than the line stays whole (the terminal may run it past the edge); a text
    the shell would not split safely (unbalanced quotes) stays one line.
    """
    words = shell_words(text)
    if words is None or len(indent) + len(text) <= width:
        return [indent + text]
    lines: list[str] = []
    line = indent + words[0]
    for word in words[1:]:
        if len(line) + 1 + len(word) + 2 <= width:
            line += " " + word
        else:
            lines.append(line + " \\")
            line = indent + continuation + word
    lines.append(line)
    return lines


def unwrap_lines(lines: list[str]) -> list[str]:
    """The inverse of :func:`wrap_command` on screen text: continuation lines joined back."""
    out: list[str] = []
    pending: str | None = None
    for raw in lines:
        line = raw.rstrip()
        piece = line.strip() if pending is not None else line
        joined = piece if pending is None else pending + " " + piece
        if joined.endswith(" \\"):
            pending = joined[:-2]
        else:
            out.append(joined)
            pending = None
    if pending is not None:
        out.append(pending)
    return out
