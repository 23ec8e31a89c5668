"""Test tiers, decided by what a test needs — the fixtures it uses — never by a hand-written mark.

- **unit**: in-process. No subprocess, no socket beyond loopback, no name resolves but loopback's.
  Check logic, causes, advice, rendering and the actions' decisions, fed with recorded answers of
  the target scripts (``tests/recordings/``, replayed through the facts layer). The default
  ``pytest`` runs this tier.
- **target**: the target scripts run for real in an interpreter (no TensorFlow): cheap, and run on
  every supported Python with the unit tier (``nox -s unit``).
- **e2e**: every real part for real: the CLI in a subprocess, TensorFlow's import and
  ``load_data()``, servers, proxies, TLS, venvs, other uids, signals, the notebook kernel
  (``nox -s e2e``, once, in parallel).

A test belongs to the highest tier among the fixtures in its closure (including those a module
asks for with ``pytest.mark.usefixtures``). The fixtures below name the real parts; a fixture
elsewhere joins a tier through :data:`TIER_OF_FIXTURE`. A unit test that starts a process or
connects beyond loopback anyway (in the test or in the set-up of any fixture it uses, whatever
that fixture's scope) fails, naming what it started and the fixture to ask for: a tier
can therefore not be wrong silently.

``--tier unit`` (default), ``--tier target``, ``--tier e2e``, comma-separated, or ``--tier all``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

TIERS = ("unit", "target", "e2e")
DEFAULT_TIER = "unit"

#: Fixtures that are, or need, a real part: the tier they put a test in, and what that part is.
#: ``doctor`` is conftest's CLI runner; the others are declared below or in the fixture modules.
TIER_OF_FIXTURE: dict[str, tuple[str, str]] = {
    "doctor": ("e2e", "the doctor's CLI in a subprocess"),
    "processes": ("e2e", "real processes: the CLI, the target scripts with TensorFlow, servers"),
    "target_interpreter": ("target", "the target scripts in a real interpreter, without TensorFlow"),
    "python_39": ("target", "the target scripts under Python 3.9"),
    "shared_tmp": ("e2e", "files owned by other uids, and processes run as them"),
    "standin": ("e2e", "the stand-in internet: namespaces, the real host names, a trusted private CA"),
    "ray_cluster": ("e2e", "a real multi-node Ray cluster on this machine (ray.cluster_utils.Cluster)"),
}


def tier_of(fixturenames: list[str] | tuple[str, ...]) -> str:
    """The highest tier any of these fixtures needs (``unit`` when none is a real part)."""
    rank = 0
    for name in fixturenames:
        found = TIER_OF_FIXTURE.get(name)
        if found is not None:
            rank = max(rank, TIERS.index(found[0]))
    return TIERS[rank]


@pytest.fixture
def processes() -> None:
    """This test starts real processes (the CLI, a probe with TensorFlow, a server): the e2e tier."""


@pytest.fixture
def target_interpreter() -> None:
    """This test runs the target scripts in a real interpreter (no TensorFlow): the target tier."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--tier",
        default=DEFAULT_TIER,
        help=f"test tiers to run, comma-separated: {', '.join(TIERS)} or all (default: {DEFAULT_TIER})",
    )


def pytest_configure(config: pytest.Config) -> None:
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: set by tests/tiers.py from the fixtures a test uses")


def selected_tiers(config: pytest.Config) -> set[str]:
    raw = str(config.getoption("--tier"))
    names = {part.strip() for part in raw.split(",") if part.strip()}
    if names == {"all"}:
        return set(TIERS)
    unknown = names - set(TIERS)
    if unknown or not names:
        raise pytest.UsageError(f"--tier takes {', '.join(TIERS)} or all (comma-separated), not {raw!r}")
    return names


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier, then keep only the tiers asked for."""
    wanted = selected_tiers(config)
    kept, dropped = [], []
    for item in items:
        tier = tier_of(tuple(getattr(item, "fixturenames", ())))
        item.add_marker(getattr(pytest.mark, tier))
        (kept if tier in wanted else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# ------------------------------------------------------------------ the unit tier's guard


@dataclass
class _Breach:
    """What a unit test reached for that belongs to another tier."""

    seen: list[str] = field(default_factory=list)

    def refuse(self, what: str) -> None:
        self.seen.append(what)
        raise _RealPartInUnitTest(what)


class _RealPartInUnitTest(OSError):
    """Raised where a unit test starts a process or leaves loopback (an OSError, as a refusal is)."""


def _is_loopback(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = address[0] if isinstance(address, tuple) and address else ""
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: What the target tier may not start: the target scripts that import TensorFlow, and programs
#: that are real parts of the e2e tier (the CLI runs the probes; proxies; a notebook kernel).
TARGET_TIER_REFUSED_SCRIPTS = frozenset({"import_probe.py", "load_probe.py"})
TARGET_TIER_REFUSED_ARGV = ("mnist_doctor", "mitmdump", "pproxy", "ipykernel", "setpriv")


_BREACH = pytest.StashKey[_Breach]()


@contextlib.contextmanager
def _guarded(item: pytest.Item) -> Iterator[None]:
    """While ``item`` runs a phase (its fixtures' set-up, whatever their scope, the test, the
    teardown), what its tier does not allow is refused and kept in the item's :class:`_Breach`."""
    breach = item.stash.setdefault(_BREACH, _Breach())
    with pytest.MonkeyPatch.context() as patch:
        if item.get_closest_marker("unit") is not None:
            _guard_unit(patch, breach)
        elif item.get_closest_marker("target") is not None:
            _guard_target(patch, breach)
        yield


def _failure(item: pytest.Item, breach: _Breach) -> str:
    parts = ", ".join(sorted(TIER_OF_FIXTURE))
    return (
        f"a test of the {tier_of(tuple(getattr(item, 'fixturenames', ())))} tier reached for "
        f"{breach.seen[0]}: ask for the fixture of the real part it needs ({parts}), which puts it in "
        "its tier, or feed it recorded answers (tests/recordings/)"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """The call fails when the set-up or the test reached beyond the tier, even if the code under
    test swallowed the refusal (the doctor turns most errors into findings)."""
    with _guarded(item):
        result = yield
    breach = item.stash[_BREACH]
    if breach.seen:
        pytest.fail(_failure(item, breach), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    before = len(item.stash[_BREACH].seen) if _BREACH in item.stash else 0
    with _guarded(item):
        result = yield
    breach = item.stash[_BREACH]
    if len(breach.seen) > before:
        pytest.fail(_failure(item, breach), pytrace=False)
    return result


def _shown(args: Any) -> str:
    text = args if isinstance(args, (str, bytes)) else " ".join(str(a) for a in list(args)[:4])
    return f"{text!s:.160}"


def _guard_unit(monkeypatch: pytest.MonkeyPatch, breach: _Breach) -> None:
    """No process at all, no connection beyond loopback."""

    def popen(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        breach.refuse(f"a process ({_shown(args)})")

    def refuse_spawn(*args: Any, **kwargs: Any) -> Any:
        breach.refuse("a process (os-level spawn)")

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback(address):
            breach.refuse(f"a connection to {address!r}")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback(address):
            breach.refuse(f"a connection to {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse_spawn)
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback((host.decode() if isinstance(host, bytes) else host or "",)):
            raise socket.gaierror(
                socket.EAI_NONAME, "Name or service not known (the unit tier has no internet)"
            )
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    # The unit tier's world has no route anywhere, on every machine: a name resolves only when it
    # is loopback, so the doctor's own in-process lookups answer as the recordings' world did.
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _guard_target(monkeypatch: pytest.MonkeyPatch, breach: _Breach) -> None:
    """Interpreters running the target scripts, but not those that import TensorFlow, nor the CLI."""
    from mnist_doctor.probing import subproc

    real_source = subproc.script_source
    real_popen_init = subprocess.Popen.__init__

    def script_source(name: str) -> str:
        if name in TARGET_TIER_REFUSED_SCRIPTS:
            breach.refuse(f"the target script {name}, which imports TensorFlow")
        return real_source(name)

    def popen(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        words = [args] if isinstance(args, (str, bytes)) else [str(a) for a in args]
        if any(refused in str(word) for word in words for refused in TARGET_TIER_REFUSED_ARGV):
            breach.refuse(f"a real part of the e2e tier ({_shown(args)})")
        real_popen_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(subproc, "script_source", script_source)
    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
