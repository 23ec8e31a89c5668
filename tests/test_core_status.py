"""One ``Status`` with one severity order: every "worst of" in the doctor reads ``model.worst``.

Two tables once ranked the statuses in opposite directions (a loader's combined result took the
minimum of one, the cache's the maximum of the other); a change to one would silently disagree
with the other. These tests pin the one order and that no module keeps a table of its own.
"""

from __future__ import annotations

import ast
from itertools import permutations
from pathlib import Path

import pytest

import mnist_doctor
from mnist_doctor.model import Status, worst

ORDER = [Status.SKIP, Status.OK, Status.WARN, Status.FAIL, Status.ERROR]


def test_the_severity_order_is_skip_ok_warn_fail_error() -> None:
    assert sorted(Status, key=lambda s: s.severity) == ORDER
    assert len({s.severity for s in Status}) == len(Status)


@pytest.mark.parametrize("statuses", list(permutations(ORDER, 3)))
def test_worst_is_the_most_severe_whatever_the_order(statuses: tuple[Status, ...]) -> None:
    assert worst(statuses) is max(statuses, key=ORDER.index)
    assert worst(iter(statuses)) is worst(reversed(statuses))


def test_worst_of_nothing_is_a_skip_or_the_default() -> None:
    assert worst([]) is Status.SKIP
    assert worst([], default=Status.OK) is Status.OK
    assert worst([Status.SKIP, Status.OK]) is Status.OK  # judged outranks not judged


def _names_a_status(key: ast.expr) -> bool:
    if isinstance(key, ast.Attribute):
        return isinstance(key.value, ast.Name) and key.value.id == "Status"
    return isinstance(key, ast.Constant) and key.value in {s.value for s in Status}


def _status_tables(tree: ast.AST) -> list[int]:
    """Lines of dict literals whose keys are all statuses, ``Status.X`` or their names as strings
    (``{"warn": 0, "fail": 1, …}``), and whose values are numbers: a private ranking of statuses."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and len(node.keys) >= 3:
            keys = [k for k in node.keys if k is not None]
            if (
                keys
                and all(_names_a_status(k) for k in keys)
                and all(isinstance(v, ast.Constant) and isinstance(v.value, int) for v in node.values)
            ):
                lines.append(node.lineno)
    return lines


def test_no_module_keeps_a_status_ranking_of_its_own() -> None:
    root = Path(mnist_doctor.__file__).parent
    found = {
        str(path.relative_to(root)): lines
        for path in root.rglob("*.py")
        if (lines := _status_tables(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}
