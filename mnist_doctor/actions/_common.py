"""What the cache actions share: exit codes, sizes, plain-text messages, the cache facts."""

from __future__ import annotations

from rich.console import Console

from mnist_doctor.dataset import DatasetSpec
from mnist_doctor.facts import Facts
from mnist_doctor.facts.cache import KerasCache
from mnist_doctor.redact import redact_text

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
COPY_CHUNK = 1 << 20
NET_CHUNK = 1 << 16
ATTEMPTS = 3
BACKOFF_S = 1.0  # waits 1 s, then 2 s, ... between attempts
SOCKET_TIMEOUT_S = 30.0


def _mb(size: int) -> str:
    if size < 10_000:
        return f"{size} B"
    return f"{size / 1e3:.1f} kB" if size < 1_000_000 else f"{size / 1e6:.1f} MB"


def _say(console: Console, label: str, message: str = "", style: str | None = None) -> None:
    """Print ``label`` styled and ``message`` plain: no markup parsing, so paths print as they are."""
    from rich.text import Text

    text = Text(redact_text(label) or "", style=style or "")
    if message:
        text.append(" " + (redact_text(message) or ""))
    console.print(text)


def _plain(console: Console, message: str) -> None:
    """Print ``message`` as it is: no markup parsing (a path may hold ``[...]``), credentials redacted."""
    from rich.text import Text

    console.print(Text(redact_text(message) or ""))


def _context(facts: Facts, console: Console) -> tuple[KerasCache, DatasetSpec] | None:

    try:
        return facts.get("keras_cache"), facts.get("dataset")
    except Exception as exc:  # FactError or the provider's own error: a message, not a traceback
        _say(console, "cannot work out where Keras keeps its cache:", f"{redact_text(str(exc))}", "red")
        console.print("hint: run `mnist-doctor --select cache --verbose` to see why")
        return None
