"""Shared test fixtures: run the real doctor CLI in a subprocess with a controlled environment.

The machine running the tests may have proxy, CA-bundle and Keras variables set; every
doctor run here starts from a clean, explicit environment with a temporary HOME so that
no test reads or writes the real ``~/.keras``.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from testkit.doctor import DoctorRun, clean_env, run_doctor

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "report.schema.json"

#: The one way tests reach shared fixtures: the cache fixtures (synthetic datasets, isolated homes,
#: a folder other users can traverse) and the network ones (a trustme CA). Helpers that are not
#: fixtures live in testkit/.
pytest_plugins = [
    "tests.tiers",
    "tests.cache_fixtures",
    "tests.net_fixtures",
    "tests.replay_fixtures",
    "tests.standin_fixtures",
    "tests.fleet_fixtures",
]


@pytest.fixture(scope="session")
def validator() -> jsonschema.protocols.Validator:
    """docs/report.schema.json, itself checked: every ``--format json`` document is validated with it."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def doctor(home: Path, tmp_path: Path):
    """``doctor(*args, env_extra={...}, cwd=...)`` runs the CLI with a clean environment."""
    workdir = tmp_path / "work"
    workdir.mkdir()

    def call(
        *args: str,
        env_extra: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        timeout: float = 240,
    ) -> DoctorRun:
        return run_doctor(
            *args, env=clean_env(home, **(env_extra or {})), cwd=cwd or workdir, timeout=timeout
        )

    return call
