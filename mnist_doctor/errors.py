"""Exceptions that carry a message meant for the user, never a traceback, and the exit codes they end in.

The exit codes are defined here once, for the command line and the actions alike; this module
imports nothing (not even ``__future__``), so ``--version`` and ``--help`` can read them.
"""

#: No failure (warnings allowed); a failure, a crashed check or an output that could not be
#: written; a usage error. (130/143 after a signal: :mod:`mnist_doctor.probing.signals`; 141 after
#: a broken pipe: :mod:`mnist_doctor.text.output`.)
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line input: printed with a hint, exit code 2 (:data:`EXIT_USAGE`)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
