"""The Python API: ``mnist_doctor.diagnose()`` from a script, a notebook cell or another tool.

It runs exactly what the command line runs (:mod:`mnist_doctor.pipeline.run`) and returns a
:class:`Report`: the JSON document of ``--format json`` (same schema), which a notebook
displays as the rich table. Called inside a Jupyter/IPython kernel, it also compares the
versions the kernel has already imported with the installed ones (``notebook.stale_modules``).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mnist_doctor.probing.budget import DEFAULT_TIMEOUT_S


class Report(Mapping[str, Any]):
    """The report of one run: a read-only mapping with the JSON document's keys.

    ``report["results"]``, ``report["exit_code"]`` and ``report.result("load.real")`` read it;
    Jupyter shows it as the same table the terminal shows.
    """

    def __init__(self, document: dict[str, Any], verbose: bool = False) -> None:
        self._document = document
        self._verbose = verbose

    def __getitem__(self, key: str) -> Any:
        return self._document[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._document)

    def __len__(self) -> int:
        return len(self._document)

    @property
    def exit_code(self) -> int:
        return int(self._document["exit_code"])

    @property
    def ok(self) -> bool:
        """No failure (warnings allowed): ``load_data()`` is expected to work here."""
        return self.exit_code == 0

    def result(self, check_id: str) -> dict[str, Any]:
        for row in self._document["results"]:
            if row["id"] == check_id:
                return dict(row)
        raise KeyError(check_id)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._document)

    def render(self, width: int = 120, html: bool = False) -> str:
        """The rich report as plain text (or HTML with inline styles)."""
        from rich.console import Console

        from mnist_doctor.render.rich import render_rich

        console = Console(
            file=io.StringIO(), width=width, record=True, color_system="truecolor" if html else None,
            highlight=False, emoji=False, markup=False,
        )  # fmt: skip
        render_rich(self._document, console, verbose=self._verbose)
        return console.export_html(inline_styles=True) if html else console.export_text()

    def _repr_html_(self) -> str:
        return self.render(html=True)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        c = self._document["counts"]
        return (
            f"<mnist-doctor Report exit_code={self.exit_code} ok={c['ok']} warn={c['warn']} fail={c['fail']}>"
        )


def diagnose(
    *,
    python: str | None = None,
    select: Iterable[str] | str | None = None,
    ignore: Iterable[str] | str | None = None,
    offline: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    origin: str | None = None,
    dataset: Iterable[str] | str | None = None,
    strict: bool = False,
    verbose: bool = False,
) -> Report:
    """Examine ``python`` (default: this interpreter — in a notebook, the kernel's) and return the report.

    Arguments mirror the command-line flags (``select``/``ignore``/``dataset`` take ids, families
    or loader names, as a list or one comma-separated string). Bad arguments raise
    ``ValueError``; nothing is printed.
    """
    from mnist_doctor.compat.source import table_problem
    from mnist_doctor.datasets.table import origin_problem, parse_selection
    from mnist_doctor.errors import UsageError
    from mnist_doctor.facts import Options
    from mnist_doctor.facts.hosted import running_in_kernel
    from mnist_doctor.network.urlcheck import url_problem
    from mnist_doctor.pipeline.run import new_facts, run_checks
    from mnist_doctor.probing.interpreter import resolve_python
    from mnist_doctor.text.redact import redact_text

    def names(value: Iterable[str] | str | None) -> list[str] | None:
        if value is None:
            return None
        return [value] if isinstance(value, str) else list(value)

    try:
        datasets = parse_selection(
            dataset if dataset is None or isinstance(dataset, str) else ",".join(dataset)
        )
        problem = (url_problem(origin) if origin is not None else None) or origin_problem(origin, datasets)
        if problem:
            raise UsageError(f"origin {redact_text(repr(origin))} {problem}")
        table = table_problem()
        if table:
            raise UsageError(table)
        options = Options(
            python=resolve_python(python),
            offline=offline,
            timeout=float(timeout),
            datasets=datasets,
            origin=origin,
            verbose=verbose,
            strict=strict,
            in_kernel=running_in_kernel(),
        )
        outcome = run_checks(new_facts(options), names(select), names(ignore))
    except UsageError as exc:
        raise ValueError(f"{exc}" + (f" ({exc.hint})" if exc.hint else "")) from None
    except BaseException:
        from mnist_doctor.probing.subproc import kill_all

        kill_all()  # an interrupted cell leaves no probe running
        raise
    finally:
        restore = sys.modules.get("mnist_doctor.probing.safekeeping")
        if restore is not None:
            restore.restore_all()
    return Report(outcome.report, verbose=verbose)
