"""The handshake's answer: installed as ``sitecustomize.py`` for one start-up of ``--python``, nothing else.

Not a script and not a fragment that is inlined: :mod:`mnist_doctor.probing.handshake` copies this file
into a private empty folder as ``sitecustomize.py``, puts that folder alone on ``PYTHONPATH`` and
starts the interpreter with no argument and an empty stdin. A Python's ``site`` module imports
``sitecustomize`` at start-up; this one answers with one marked JSON line and ends the process at
once, so the (empty) stdin is never read as a program. It acts only when the doctor's token is in
the environment, and it stays valid Python 2 as well as 3, so an old interpreter says what it is
instead of failing on syntax. Standard library only.
"""

import json
import os
import sys

#: The line prefix of every answer (``_prelude.MARKER``; a test keeps the two equal).
MARKER = "@@MNIST_DOCTOR_JSON@@"
#: The variable carrying the doctor's token (``handshake.TOKEN_VAR``; a test keeps the two equal).
TOKEN_VAR = "MNIST_DOCTOR_HELLO"


def _answer():
    token = os.environ.get(TOKEN_VAR)
    if not token:
        return
    implementation = getattr(sys, "implementation", None)
    payload = {
        # Reversed: a program that merely echoes its environment cannot pass for a Python.
        "hello": token[::-1],
        "version": [int(part) for part in sys.version_info[:3]],
        "implementation": implementation.name if implementation is not None else "unknown",
    }
    sys.stdout.write("\n" + MARKER + json.dumps(payload) + "\n")
    sys.stdout.flush()
    os._exit(0)


_answer()
