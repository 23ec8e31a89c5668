"""The house plan holds: no import cycle, rule modules below the facts, facts registered explicitly.

Read from the source with ``ast`` (nothing is imported), so a violation is reported with the
module and the import that breaks the rule.
"""

from __future__ import annotations

import ast
import graphlib
from importlib import metadata
from pathlib import Path

import pytest

from mnist_doctor.facts import BUILT_IN, FACTS_GROUP, Facts, Options, registry, wanted_facts
from mnist_doctor.pipeline.engine import discover

PACKAGE = Path(__file__).resolve().parent.parent / "mnist_doctor"
#: Pure rules: they know data and files, nothing of facts, checks, rendering or the CLI.
#: ``diagnoses`` (the Diagnosis type and the rule table) and ``diagnoses.network`` (the one
#: classifier of network failure text) are rules too, so any layer may name a cause with them.
RULE_MODULES = (
    "pipeline.budget", "datasets.layout", "checks._cache_verdicts", "compat.table", "datasets.spec",
    "datasets.table", "causes", "causes.network", "errors", "datasets.file_kinds", "text.hints", "model",
    "datasets.verification", "datasets.npz_reading", "text.output", "files.own_link", "network.pem_guard",
    "text.redact", "files.safe_dir", "text.units", "network.urlcheck", "probing.introspected",
    "probing.load_answer",
    "files.env_paths", "compat.source",
)  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: The doctor's own modules; the target scripts run in another interpreter and import none.
MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "target" not in p.parts}


def imports(path: Path, *, lazy: bool) -> set[str]:
    """Modules of the package ``path`` imports: at module level, or anywhere when ``lazy``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = list(ast.walk(tree)) if lazy else tree.body
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & MODULES.keys()
            # ``from room import module`` imports the module; the room's __init__ only for names from it.
            found |= submodules if len(submodules) == len(node.names) else {node.module, *submodules}
    # The package root only holds __version__ and lazy entry points: not a layer.
    return {m for m in found if m in MODULES and m != "mnist_doctor"}


@pytest.mark.parametrize("lazy", [False, True], ids=["module-level", "with-lazy-imports"])
def test_no_import_cycle(lazy: bool) -> None:
    graph = {name: imports(path, lazy=lazy) - {name} for name, path in MODULES.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize("rule_module", RULE_MODULES)
def test_rule_modules_import_only_rule_modules(rule_module: str) -> None:
    name = f"mnist_doctor.{rule_module}"
    above = imports(MODULES[name], lazy=True) - {f"mnist_doctor.{m}" for m in RULE_MODULES}
    assert not above, f"{name} imports {sorted(above)}, which sit above the rules"


def test_the_facts_registry_imports_no_provider() -> None:
    """Registration is by entry point, not by importing providers (which made a cycle before)."""
    assert imports(MODULES["mnist_doctor.facts"], lazy=True) <= {"mnist_doctor.pipeline.budget"}


#: Layers above the facts: a provider never reaches up into them.
ABOVE_FACTS = ("mnist_doctor.checks", "mnist_doctor.render", "mnist_doctor.actions", "mnist_doctor.cli",
               "mnist_doctor.pipeline.engine", "mnist_doctor.pipeline.run", "mnist_doctor.pipeline.report",
               "mnist_doctor.api", "mnist_doctor.notebook")  # fmt: skip
PROVIDERS = sorted(n for n in MODULES if n.startswith("mnist_doctor.facts."))


#: The cause tables read the evidence the facts define (LoadProbe, GpuBuild): they sit between the
#: facts and the checks.
CAUSE_TABLES = sorted(
    n for n in MODULES if n.startswith("mnist_doctor.causes.") and n != "mnist_doctor.causes.network"
)


@pytest.mark.parametrize("table", CAUSE_TABLES)
def test_cause_tables_import_nothing_above_the_facts(table: str) -> None:
    above = {m for m in imports(MODULES[table], lazy=True) if m.startswith(ABOVE_FACTS)}
    assert not above, f"{table} imports {sorted(above)}, which sit above the cause tables"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_providers_do_not_reach_up_into_the_cause_tables(provider: str) -> None:
    up = {m for m in imports(MODULES[provider], lazy=True) if m.startswith(tuple(CAUSE_TABLES))}
    assert not up, f"{provider} imports {sorted(up)}: a fact gathers evidence, a check names its cause"


def test_every_provider_lives_in_the_facts_package_and_is_registered() -> None:
    registered = {ep.value for ep in metadata.entry_points(group=FACTS_GROUP)}
    assert registered == set(PROVIDERS), "a module in mnist_doctor/facts/ is a provider, registered once"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_providers_import_nothing_above_the_facts(provider: str) -> None:
    above = {m for m in imports(MODULES[provider], lazy=True) if m.startswith(ABOVE_FACTS)}
    assert not above, f"{provider} imports {sorted(above)}, which sit above the facts"


def test_every_fact_a_check_asks_for_is_registered() -> None:
    checks, errors = discover()
    assert not errors, [e.error for e in errors]
    known = registry().known()
    for check in checks:
        assert set(wanted_facts(check.run)) <= known, check.id
    # A check asking for an unregistered fact is caught at discovery: tests/test_core_plugin.py.


def test_every_registered_provider_asks_only_for_known_facts() -> None:
    known = registry().known()
    for name, provider in registry().providers.items():
        assert set(wanted_facts(provider)) <= known, name
    assert not registry().errors


def test_a_run_may_add_providers_of_its_own() -> None:
    def answer() -> int:
        return 42

    facts = Facts(Options(python="python"), providers=[answer])
    assert facts.get("answer") == 42
    assert "answer" not in registry().providers and "options" in BUILT_IN


@pytest.mark.parametrize("folder", ["matrix", "benchmarks", "testkit"])
def test_tooling_does_not_import_the_tests(folder: str) -> None:
    """Shared helpers live in testkit/; the tooling never reaches into tests/."""
    for path in (PACKAGE.parent / folder).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n == "tests" or n.startswith("tests.") for n in names), f"{path}: imports {names}"


def test_families_are_stated_once_and_ordered_by_their_modules() -> None:
    checks, _ = discover()
    assert all(c.family == c.id.split(".")[0] for c in checks)
    families = list(dict.fromkeys(c.family for c in checks))
    assert families[:8] == ["env", "compat", "runtime", "proxy", "tls", "network", "cache", "load"]
