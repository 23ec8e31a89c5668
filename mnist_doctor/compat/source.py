"""Where the compatibility table comes from, and whether it can be read: no ``packaging`` here.

The command line asks :func:`table_problem` before a run starts (a usage error), so this part of
the table stays cheap to import; the rows are read into versions and specifiers by
:mod:`mnist_doctor.compat.table`.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TABLE_ENV = "MNIST_DOCTOR_COMPAT_TABLE"


def table_problem() -> str | None:
    """Why the table ``MNIST_DOCTOR_COMPAT_TABLE`` names cannot be used, or None (unset, or fine).

    Asked once before a run (a usage error then), so no check meets a half-read table: a path too
    long, behind a link loop or a folder this user may not search, missing, or not TOML.
    """
    import os

    chosen = os.environ.get(TABLE_ENV)
    if not chosen:
        return None
    from mnist_doctor.files.env_paths import examine

    trouble = examine(TABLE_ENV, chosen)
    if trouble is not None and trouble.breaks:
        return trouble.sentence
    try:
        read_table(chosen)
    except OSError as exc:
        return f"{TABLE_ENV}={chosen} cannot be read: {exc.strerror or exc}"
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return f"{TABLE_ENV}={chosen} is not a TOML table: {exc}"
    return None


def read_table(path: str | Path | None = None) -> dict[str, Any]:
    """The table as TOML data: ``path``, else ``MNIST_DOCTOR_COMPAT_TABLE``, else the shipped file."""
    import os

    chosen = path or os.environ.get(TABLE_ENV)
    if chosen:
        text = Path(chosen).read_text(encoding="utf-8")
    else:
        text = resources.files("mnist_doctor.data").joinpath("compat.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)
