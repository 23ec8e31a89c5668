"""From parsed flags to the run's :class:`~mnist_doctor.facts.Options`, each value resolved once.

Flags that mean nothing together, malformed URLs, a bad table or ``--seed`` file are usage
errors here, before any check runs (the modes then read only ``Options`` and the flags).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mnist_doctor.cli.parser import one_line

if TYPE_CHECKING:
    from mnist_doctor.facts import Options


def check_combinations(args: argparse.Namespace) -> None:
    """Flags that mean nothing together are usage errors, not silently ignored."""
    from mnist_doctor.errors import UsageError

    action = (
        "--clear-cache" if args.clear_cache else "--seed" if args.seed else "--fetch" if args.fetch else None
    )
    asks = args.clear_cache or args.fix  # the modes that ask before changing anything
    if args.mirror and not args.fetch:
        raise UsageError("--mirror goes with --fetch", hint="mnist-doctor --fetch --mirror URL")
    for flag, given in (("--dry-run", args.dry_run), ("--yes", args.yes)):
        if given and not asks:
            where = f", not to {action}" if action else ""
            raise UsageError(
                f"{flag} only applies to --clear-cache and --fix{where}",
                hint=f"mnist-doctor --clear-cache {flag}",
            )
    if args.list_checks and (action or args.fix):
        raise UsageError(
            f"--list-checks does not go with {action or '--fix'}", hint="mnist-doctor --list-checks"
        )
    if action:
        for flag, given in (
            ("--select", args.select), ("--ignore", args.ignore), ("--expect-gpu", args.expect_gpu),
        ):  # fmt: skip
            if given:
                raise UsageError(
                    f"{flag} does not go with {action} (an action re-runs only the cache checks)",
                    hint=f"run the action, then: mnist-doctor {flag} ...",
                )
    if args.fetch and args.offline:
        raise UsageError("--fetch needs the network; --offline forbids it", hint="mnist-doctor --seed FILE")
    if args.seed:
        from mnist_doctor.actions.install import open_source

        source, why = open_source(args.seed)
        if source is None:
            example = "~/Downloads/mnist.npz" if args.dataset is None else "~/Downloads/FILE"
            raise UsageError(
                f"--seed {one_line(args.seed, 200)}: {why}",
                hint=f"give the path of a downloaded dataset file: mnist-doctor --seed {example}",
            )
        source.close()


def options_from(args: argparse.Namespace) -> Options:
    """The run's :class:`Options`, each value resolved once; a :class:`UsageError` names what is wrong."""
    from mnist_doctor.compat.source import TABLE_ENV, table_problem
    from mnist_doctor.datasets.spec import ORIGIN_ENV, choose_origin
    from mnist_doctor.datasets.table import DEFAULT_DATASETS, origin_problem, parse_selection
    from mnist_doctor.errors import UsageError
    from mnist_doctor.facts import Options
    from mnist_doctor.network.urlcheck import url_problem
    from mnist_doctor.probing.interpreter import resolve_python

    for flag, url in (("--origin", args.origin), ("--mirror", args.mirror)):
        problem = url_problem(url) if url is not None else None
        if problem:
            raise UsageError(
                f"{flag} '{one_line(url, 200)}' {problem}", hint=f"{flag} https://host/path/mnist.npz"
            )
    check_combinations(args)  # after the URLs: a malformed URL is named first, whatever it came with
    chosen = choose_origin(args.origin)
    if args.fetch and not args.mirror and chosen.rejected is not None:
        # A diagnosis reports a bad variable as a finding; a download from it cannot even start.
        raise UsageError(
            f"{ORIGIN_ENV} '{one_line(chosen.rejected, 200)}' {chosen.problem}",
            hint=f"unset {ORIGIN_ENV}   # or pass --mirror https://host/path/mnist.npz",
        )
    table = table_problem()
    if table:
        raise UsageError(table, hint=f"unset {TABLE_ENV}   # the table shipped with mnist-doctor")
    datasets = parse_selection(args.dataset)
    origin = args.origin or args.mirror
    problem = origin_problem(origin, datasets)
    if problem:
        flag = "--origin" if args.origin else "--mirror"
        raise UsageError(f"{flag} '{one_line(origin, 200)}' {problem}", hint=f"{flag} https://host/path/")
    return Options(
        python=resolve_python(args.python),
        offline=args.offline,
        timeout=args.timeout,
        datasets=datasets,
        # One file (MNIST alone): a folder URL names the file in it. Several: each file's own name.
        origin=file_url_of(origin) if datasets == DEFAULT_DATASETS else origin,
        verbose=args.verbose,
        strict=args.strict,
        dry_run=args.dry_run,
        expect_gpu=args.expect_gpu,
    )


def file_url_of(url: str | None) -> str | None:
    """A folder URL given to ``--origin``/``--mirror`` names the file in it (one rule: dataset.file_url)."""
    if not url:
        return url
    from mnist_doctor.datasets.spec import file_url

    return file_url(url)
