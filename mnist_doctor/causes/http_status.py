"""What an HTTP error status from the dataset host means, and the fix that works for it.

The host answered, so "no route to the host" is never the advice: a 403 is a refusal (a filtering
proxy or a firewall on the way, or the host), a 404 a file that is not at that URL, a 429 or a 5xx
a host that is busy or failing for now — which a later download with retries gets past
(``mnist-doctor --fetch``), after the wait the host asked for in ``Retry-After``. Placeholders
(``FILE``, ``URL``) appear only where the doctor cannot know the value, and then with where to get
it: the exact origin URL and its sha256.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass

from mnist_doctor.datasets.spec import DatasetSpec
from mnist_doctor.datasets.table import Dataset, is_keras_origin
from mnist_doctor.model import Fix, FixKind, Hint
from mnist_doctor.text.hints import doctor_argv, doctor_command, offline_route, quoted
from mnist_doctor.text.redact import redact_text
from mnist_doctor.text.units import human_duration

#: Statuses a later try gets past: the host is busy, failing, or timed the request out.
TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})
#: A Retry-After beyond this is shown as a date, not as a wait to sit through.
LONGEST_WAIT_S = 24 * 3600.0


@dataclass(frozen=True)
class StatusAdvice:
    """The meaning of one status for this dataset, the hint for a person (its commands typed as
    advice), and the typed fixes."""

    meaning: str
    hint: Hint
    fixes: tuple[Fix, ...] = ()
    #: Seconds the host asked to wait (``Retry-After``), when it said so in a form we understand.
    wait_s: float | None = None


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date (None: absent or unreadable)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text[:12]))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _elsewhere(dataset: DatasetSpec, target_python: str) -> Hint:
    return offline_route(target_python, dataset)


def fetch_again(
    dataset: DatasetSpec, target_python: str, why: str, loader: Dataset | None = None, *more: str
) -> Fix:
    """``mnist-doctor --fetch [--dataset NAME] [MORE]``: download from the very origin again, with
    timeouts and retries (``--mirror ORIGIN`` when the origin is not Keras' own); ``loader`` is the
    loader whose file ``dataset`` is (None: the default one)."""
    extra = () if is_keras_origin(dataset.origin) else ("--mirror", dataset.origin)
    selection = loader.selection if loader is not None else ()
    argv = doctor_argv(target_python, "--fetch", *selection, *extra, *more)
    name = loader.name if selection and loader is not None else None
    return Fix(FixKind.FETCH, argv, why, needs_confirmation=False, url=dataset.origin, dataset=name)


def advise(status: int, retry_after: str | None, dataset: DatasetSpec, target_python: str) -> StatusAdvice:
    """What ``status`` from the dataset host means here, and what fixes it."""
    host = dataset.host
    if status in (401, 403):
        return StatusAdvice(
            f"{host} refuses this machine (a filtering proxy or firewall on the way, or the host itself)",
            f"ask for {host} to be allowed on this network; meanwhile " + _elsewhere(dataset, target_python),
        )
    if status in (404, 410):
        if not is_keras_origin(dataset.origin):
            return StatusAdvice(
                f"the file is not at {redact_text(dataset.origin)}",
                Hint(
                    "check the URL given to --origin / MNIST_DOCTOR_ORIGIN / the mirror (the path must end "
                    f"in {dataset.file_name})"
                ),
            )
        mirror = doctor_command(target_python, "--fetch --mirror URL")
        return StatusAdvice(
            f"the file is no longer at Keras' own URL on {host}",
            "fetch it from a mirror you trust: "
            + quoted(mirror)
            + f" (it checks sha256 {dataset.sha256}), or "
            + _elsewhere(dataset, target_python),
        )
    if status in TRANSIENT or status >= 500:
        wait = retry_after_seconds(retry_after)
        fix = fetch_again(dataset, target_python, "download again, with timeouts and retries")
        if wait is not None and wait > LONGEST_WAIT_S:
            when = f"the host asks to wait until {retry_after} (Retry-After)"
        elif wait is not None:
            when = f"the host asks to wait {human_duration(wait)} (Retry-After)"
        else:
            when = "it is usually temporary"
        busy = "is rate-limiting this machine" if status == 429 else "is failing or busy for now"
        return StatusAdvice(
            f"{host} {busy}; {when}",
            f"{'wait as asked, then' if wait is not None else 'try again in a few minutes:'} "
            f"`{fix.command}` (or simply run your code again); if it persists, "
            + _elsewhere(dataset, target_python),
            (fix,),
            wait,
        )
    return StatusAdvice(
        f"{host} refuses the request", _elsewhere(dataset, target_python) + ", or use a mirror you trust"
    )
