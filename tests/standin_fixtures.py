"""The stand-in internet as a fixture (:mod:`testkit.standin`): one per test, torn down after it.

Asking for ``standin`` puts a test in the e2e tier (tests/tiers.py). Without root (namespaces,
bind mounts) it is skipped with the reason; CI runs as root, so it runs there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.standin import StandinInternet, standin_internet, why_unavailable


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandinInternet]:
    reason = why_unavailable()
    if reason:
        pytest.skip(f"the stand-in internet {reason}")
    with standin_internet(tmp_path / "standin") as world:
        yield world
