"""The introspection's answer is read by shape: the real answers fit, every value of another kind is refused.

Unit tier, on the recorded answers of the real ``target/introspect.py`` (``tests/recordings``): each
parses, and replacing *any* value the shape declares with a value of another kind makes the whole
answer refused with the place named — the generic form of ``{"env": [1]}``, which crashed the doctor.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from mnist_doctor.facts.answers.introspection import (
    ANSWER,
    ANY,
    Introspection,
    ListOf,
    MapOf,
    Obj,
    Opt,
    SslInfo,
    WrongShape,
    problem,
)
from testkit import recordings

ANSWERS = {name: recordings.Recording.load(name).answer("introspect.py") for name in recordings.names()}


def _declared(value: Any, shape: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (place, shape) of ``value`` whose shape is declared (not :data:`ANY`)."""
    while isinstance(shape, Opt):
        shape = shape.shape
    if shape is ANY or value is None:
        return
    if path:
        yield path, shape
    if isinstance(shape, ListOf):
        for index, item in enumerate(value[:3]):  # a few items of each list are enough
            yield from _declared(item, shape.shape, (*path, index))
    elif isinstance(shape, (MapOf, Obj)):
        for key, item in value.items():
            inner = shape.shape if isinstance(shape, MapOf) else shape.fields.get(key, ANY)
            yield from _declared(item, inner, (*path, key))


def _other_kind(shape: Any) -> Any:
    """A JSON value that does not fit ``shape`` (nor ``None`` unless the shape allows it)."""
    if isinstance(shape, (ListOf,)):
        return {"not": "a list"}
    if isinstance(shape, (MapOf, Obj)):
        return [1]
    return [] if shape in (str, int, float, bool) else 0


def _places() -> list[tuple[str, tuple[Any, ...], Any]]:
    """Every declared place of one recorded answer (the recordings share one shape)."""
    name = min(ANSWERS)
    return [(name, path, shape) for path, shape in _declared(ANSWERS[name], ANSWER)]


def test_every_recorded_answer_fits_the_shape() -> None:
    assert ANSWERS and all(answer is not None for answer in ANSWERS.values())
    for name, answer in ANSWERS.items():
        assert problem(answer, ANSWER) is None, name
        parsed = Introspection.parse(answer)
        assert parsed.version is not None and len(parsed.version) == 3, name
        assert parsed.env and parsed.distributions, name


@pytest.mark.parametrize(
    "name, path, shape", _places(), ids=lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else None
)
def test_any_declared_value_of_another_kind_refuses_the_answer(
    name: str, path: tuple[Any, ...], shape: Any
) -> None:
    answer = copy.deepcopy(ANSWERS[name])
    holder = answer
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = _other_kind(shape)
    with pytest.raises(WrongShape) as refused:
        Introspection.parse(answer)
    place = ".".join(str(p) for p in path if not isinstance(p, int))
    assert str(refused.value).startswith(place.split(".")[0]), (place, str(refused.value))


@pytest.mark.parametrize(
    "answer, named",
    [
        ({"env": [1]}, "env is a list, not an object"),  # the one seen: a TypeError in redact.register_env
        ({"env": {"HOME": 1}}, "env.HOME is an integer, not a string"),
        ({"python": {"version": ["3", 11, 7]}}, "python.version[0] is a string, not an integer"),
        ({"python": {"version": [3, 11]}}, "python.version has 2 numbers"),
        ({"python": {"in_venv": 1}}, "python.in_venv is an integer, not true or false"),
        ({"schema": True}, "schema is true or false, not an integer"),
        ({"distributions": {"numpy": "1.26"}}, "distributions is an object, not a list"),
        ({"distributions": [{"name": "numpy", "requires": "numpy<2"}]}, "distributions[0].requires"),
        ({"urllib": {"getproxies": {"https": ["x"]}}}, "urllib.getproxies.https is a list"),
        ({"keras_paths": {"states": [{"path": None}]}}, "keras_paths.states[0].path is null"),
        ([], "the answer is a list, not an object"),
        ("text", "the answer is a string, not an object"),
    ],
)
def test_the_first_value_that_departs_is_named(answer: object, named: str) -> None:
    with pytest.raises(WrongShape, match=named.replace("[", r"\[").replace("]", r"\]")):
        Introspection.parse(answer)


def test_a_section_the_script_could_not_compute_is_read_as_empty() -> None:
    parsed = Introspection.parse({"schema": 1, "errors": {"ssl": "ImportError('no ssl')"}, "ssl": None})
    assert parsed.ssl == SslInfo() and parsed.env == {} and parsed.version is None
    assert parsed.errors == {"ssl": "ImportError('no ssl')"}
