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

#: The house's layers, by room (a folder, or a module at the package's top): a module imports only
#: modules of its own layer or below. The rules know data, text and files, nothing of the patient;
#: probing talks to the patient and reads its answers by shape; facts are computed once from those
#: answers; causes name why something failed from that evidence; checks judge; actions and renderers
#: act on and show the results; the pipeline runs one diagnosis; the command line, the API and the
#: fleet sit on top.
LAYERS = (
    ("rules", {"text", "datasets", "files", "network", "compat", "model", "errors", "data"}),
    ("probing", {"probing"}),
    ("facts", {"facts"}),
    ("causes", {"causes"}),
    ("checks", {"checks"}),
    ("actions and renderers", {"actions", "render"}),
    ("pipeline", {"pipeline"}),
    ("entry points", {"cli", "api", "notebook", "fleet", "__main__"}),
)
#: The cause vocabulary (Diagnosis, the rule table) and the one classifier of network failure text
#: rank with the rules: facts name a missing ssl module with it, --fetch names a failed download.
RANKED_AS_RULES = {"mnist_doctor.causes", "mnist_doctor.causes.network"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: The doctor's own modules; the target scripts run in another interpreter and import none.
MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "target" not in p.parts}


def layer_of(module: str) -> int:
    """The rank of ``module``'s room (its folder, or itself at the package's top)."""
    if module in RANKED_AS_RULES:
        return 0
    room = module.split(".")[1]
    return next(rank for rank, (_, rooms) in enumerate(LAYERS) if room in rooms)


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


def test_every_module_sits_in_a_room_of_a_layer() -> None:
    """A new folder or top-level module is placed in a layer here, on purpose."""
    rooms = {room for _, members in LAYERS for room in members}
    unplaced = {n.split(".")[1] for n in MODULES if n != "mnist_doctor"} - rooms
    assert not unplaced, f"rooms with no layer: {sorted(unplaced)}"


@pytest.mark.parametrize("module", sorted(n for n in MODULES if n != "mnist_doctor"))
def test_a_module_imports_nothing_from_a_layer_above_its_own(module: str) -> None:
    mine = layer_of(module)
    above = {m: LAYERS[layer_of(m)][0] for m in imports(MODULES[module], lazy=True) if layer_of(m) > mine}
    assert not above, f"{module} ({LAYERS[mine][0]}) imports {above}, which sit above it"


def test_at_most_ten_modules_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top


def test_no_private_name_is_imported_across_modules() -> None:
    """A ``_name`` is its module's own business; another module that needs it needs a public name."""
    crossing = [
        f"{name} imports {node.module}.{alias.name}"
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mnist_doctor")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert not crossing, crossing


def test_the_facts_registry_imports_no_provider() -> None:
    """Registration is by entry point, not by importing providers (which made a cycle before)."""
    assert imports(MODULES["mnist_doctor.facts"], lazy=True) <= {"mnist_doctor.probing.budget"}


#: Every module in facts/ is a provider, except the answers' shapes (facts/answers/) they read with.
PROVIDERS = sorted(
    n
    for n in MODULES
    if n.startswith("mnist_doctor.facts.") and not n.startswith("mnist_doctor.facts.answers")
)


def test_every_provider_lives_in_the_facts_package_and_is_registered() -> None:
    registered = {ep.value for ep in metadata.entry_points(group=FACTS_GROUP)}
    assert registered == set(PROVIDERS), "a module in mnist_doctor/facts/ is a provider, registered once"


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
