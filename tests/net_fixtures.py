"""Fixtures for the network, proxy and TLS tests: one trustme CA per session and its PEM file.

Loaded for every test module through ``pytest_plugins`` in ``conftest.py``; a test asks for
``ca``/``ca_file`` by parameter name. The servers, ports, pproxy and the doctor runs these
tests use are plain helpers in ``testkit/`` (``testkit.loopback``, ``testkit.doctor``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path
