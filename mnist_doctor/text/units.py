"""Sizes and durations as the report prints them: decimal units, as download tools show them.

One spelling everywhere (the cache checks, the load gates, the actions and the network stages
say "11.5 MB" alike), so a size in a summary matches the same size in a hint.
"""

from __future__ import annotations


def human_bytes(count: float) -> str:
    """``11.5 MB``, ``48.0 kB``, ``512 B`` (decimal units, as download tools print them)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count:.0f} B"


def human_duration(seconds: float) -> str:
    """``under 1 s``, ``~40 s``, ``~12 min``, ``~3.2 h``."""
    if seconds < 1:
        return "under 1 s"
    if seconds < 90:
        return f"~{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"~{seconds / 60:.0f} min"
    return f"~{seconds / 3600:.1f} h"
