"""Exceptions that carry a message meant for the user, never a traceback."""

from __future__ import annotations


class UsageError(Exception):
    """Bad command-line input: printed with a hint, exit code 2."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
