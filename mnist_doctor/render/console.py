"""The rich Console every renderer, progress line and action prints through.

:class:`SafeConsole` applies :func:`mnist_doctor.text.output.safe_text` to every string and
``Text`` before layout (so columns fit what is shown), and escapes any control character
still inside a rendered segment; styling escape codes (control segments) pass. Its size
never comes from rich's own reading of ``COLUMNS``/``LINES`` (``COLUMNS=0`` rendered an
empty report): :func:`make_console` passes a sane, clamped width and height.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any

from rich.console import Console
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from mnist_doctor.text.output import CONTROL_CHARS, Sink, escape_controls, safe_text, sink_of

DEFAULT_WIDTH, MIN_WIDTH, MAX_WIDTH = 140, 40, 500
DEFAULT_HEIGHT, MIN_HEIGHT, MAX_HEIGHT = 25, 10, 1000


def safe_rich_text(text: Text) -> Text:
    """``text`` made safe; styles inside a changed text are dropped (the base style stays)."""
    plain = text.plain
    safe = safe_text(plain)
    if safe == plain:
        return text
    return Text(
        safe,
        style=text.style,
        justify=text.justify,
        overflow=text.overflow,
        no_wrap=text.no_wrap,
        end=text.end,
        tab_size=text.tab_size,
    )


def _prepare(renderable: Any) -> Any:
    """Make a table's cells safe before rich measures them (so columns fit the shown text)."""
    if isinstance(renderable, Text):
        return safe_rich_text(renderable)
    if isinstance(renderable, Table):
        for column in renderable.columns:
            cells = getattr(column, "_cells", None)
            if isinstance(cells, list):
                cells[:] = [
                    safe_text(c) if isinstance(c, str) else safe_rich_text(c) if isinstance(c, Text) else c
                    for c in cells
                ]
    return renderable


class SafeConsole(Console):
    """A rich Console whose every printed string, ``Text`` and segment is safe to show."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(safe_text(text), **kwargs)

    def render(self, renderable: Any, options: Any = None) -> Any:
        if isinstance(renderable, Text):
            renderable = safe_rich_text(renderable)
        for segment in super().render(renderable, options):
            if segment.control or not CONTROL_CHARS.search(segment.text):
                yield segment
            else:
                yield Segment(escape_controls(segment.text), segment.style)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(_prepare(o) for o in objects), **kwargs)


def _env_int(name: str) -> int | None:
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return None


def _terminal_size(sink: Sink) -> tuple[int, int]:
    """Width and height: ``COLUMNS``/``LINES`` if they are sane numbers, else the terminal's, clamped."""
    width, height = _env_int("COLUMNS"), _env_int("LINES")
    term = None
    if sink.isatty():
        try:
            term = os.get_terminal_size(sink.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            term = None
    if width is None or width <= 0:
        width = term.columns if term and term.columns > 0 else DEFAULT_WIDTH
    if height is None or height <= 0:
        height = term.lines if term and term.lines > 0 else DEFAULT_HEIGHT
    return min(max(width, MIN_WIDTH), MAX_WIDTH), min(max(height, MIN_HEIGHT), MAX_HEIGHT)


def colour_wanted(sink: Sink) -> bool:
    """Colour by the conventions users set, strongest first.

    ``NO_COLOR`` (any non-empty value, no-color.org) turns it off; ``FORCE_COLOR`` (any
    non-empty value) or ``CLICOLOR_FORCE`` (not ``0``) turns it on even when piped;
    ``CLICOLOR=0`` or ``TERM=dumb`` turns it off; otherwise colour only on a terminal.
    """
    env = os.environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR") or env.get("CLICOLOR_FORCE", "0") not in ("", "0"):
        return True
    if env.get("CLICOLOR") == "0" or env.get("TERM") == "dumb":
        return False
    return sink.isatty()


def spinner_wanted(stderr: Any = None) -> bool:
    """A live spinner only on an interactive stderr, never under ``NO_COLOR`` or ``TERM=dumb``."""
    sink = sink_of(sys.stderr if stderr is None else stderr, "stderr")
    env = os.environ
    return sink.isatty() and not env.get("NO_COLOR") and env.get("TERM") != "dumb"


def make_console(stderr: bool = False, live: bool = False) -> SafeConsole:
    """The console every renderer, progress line and action prints through.

    ``live`` makes a console for the spinner (cursor movement allowed: call only when
    :func:`spinner_wanted`); otherwise it is a terminal for rich only when colour is wanted,
    so plain output has no escape codes at all.
    """
    stream = sys.stderr if stderr else sys.stdout
    sink = sink_of(stream, "stderr" if stderr else "stdout")
    width, height = _terminal_size(sink)
    colour = colour_wanted(sink)
    dumb = os.environ.get("TERM") == "dumb"
    return SafeConsole(
        file=sink,  # type: ignore[arg-type]  # rich only calls write/flush/isatty/fileno, which Sink has
        force_terminal=colour or live,
        color_system=("standard" if dumb else "auto") if colour else None,
        no_color=not colour,
        highlight=False,
        width=width,
        height=height,
        soft_wrap=False,
        emoji=False,
        markup=False,
    )
