"""Python 3.13's VERIFY_X509_STRICT and a non-compliant corporate CA, through the real urllib stage.

Real parts: a CA built with ``cryptography`` whose Basic Constraints are present but not
critical (trustme cannot make one), a TLS server on 127.0.0.1 presenting a leaf it signed,
real Python 3.13 and 3.11 interpreters as ``--python`` targets, and the real pip of the 3.13
target. Python 3.13 sets VERIFY_X509_STRICT in ``create_default_context()``, so urllib
(Keras) rejects such a CA; 3.11 accepts it; pip (its own truststore context) accepts it.
The doctor must name the cause, keep the failure, and never advise switching verification off.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from testkit.doctor import doctor_json, network_env
from tests.tls_ca import IssuedPair, corporate_ca, tls_server

#: Every test here starts real processes (tests/tiers.py puts them in the e2e tier).
pytestmark = pytest.mark.usefixtures("processes")

UNSAFE_ADVICE = ("CERT_NONE", "_create_unverified_context", "verify=False", "PYTHONHTTPSVERIFY", "-k ")


def find_python(minor: str) -> str | None:
    """A real interpreter of version ``minor`` (pyenv's first, then PATH), or None."""
    pattern = os.path.expanduser(f"~/.pyenv/versions/{minor}.*/bin/python{minor}")
    for candidate in [*sorted(glob.glob(pattern)), shutil.which(f"python{minor}")]:
        if not candidate:
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import ssl, sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and probe.stdout.strip() == minor:
            return candidate
    return None


PY313, PY311 = find_python("3.13"), find_python("3.11")
needs_313 = pytest.mark.skipif(PY313 is None, reason="no Python 3.13 interpreter here (pyenv or PATH)")
needs_311 = pytest.mark.skipif(PY311 is None, reason="no Python 3.11 interpreter here (pyenv or PATH)")


def trust_env(ca_path: Path | str) -> dict[str, str]:
    """A child environment trusting ``ca_path`` only, with pip's own settings switched off."""
    env = {k: v for k, v in network_env().items() if not k.startswith("PIP_")}
    env.update(SSL_CERT_FILE=str(ca_path), PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


@pytest.fixture(scope="module")
def non_compliant(tmp_path_factory: pytest.TempPathFactory) -> tuple[IssuedPair, Path]:
    folder = tmp_path_factory.mktemp("corp-ca")
    pair = corporate_ca(critical_basic_constraints=False)
    (folder / "corp-ca.pem").write_bytes(pair.ca_pem)
    return pair, folder


def run(pair: IssuedPair, folder: Path, python: str, ca_path: Path | str) -> tuple[dict[str, Any], list[str]]:
    with tls_server(pair, folder) as server:
        env = trust_env(ca_path)
        results = doctor_json(server.url, env, "--python", python, select="tls,network", timeout=20)
        return results, server.paths


@needs_313
def test_non_compliant_ca_on_313_is_named_and_stays_a_failure(non_compliant):
    pair, folder = non_compliant
    results, paths = run(pair, folder, PY313, folder / "corp-ca.pem")
    tls = results["network.tls"]
    assert tls["status"] == "fail", tls
    assert "not RFC 5280-compliant" in tls["summary"]
    assert "Basic Constraints" in tls["summary"] and "not marked critical" in tls["summary"]
    assert "VERIFY_X509_STRICT" in tls["summary"] and "ACME Corp TLS Inspection CA" in tls["summary"]
    record = tls["data"]["record"]
    assert record["ok"] is False and record["x509_strict"] is True
    assert record["strict_retry"]["relaxed_verifies"] is True  # the cause, proven by one relaxed handshake
    assert record["error"]["verify_code"] == 89  # X509_V_ERR_CA_BCONS_NOT_CRITICAL
    # The relaxed handshake only named the cause: no request went over it, no download was tried.
    assert paths == []
    assert results["network.http"]["status"] == "skip"
    hint = tls["hint"]
    assert "RFC 5280-compliant" in hint and "verify_flags &= ~ssl.VERIFY_X509_STRICT" in hint
    assert "weakens checks" in hint
    assert not any(bad in hint for bad in UNSAFE_ADVICE), hint


@needs_313
def test_pip_verifies_the_ca_that_urllib_rejects_on_313_and_the_doctor_says_why(non_compliant, tmp_path):
    """The trap for real: pip (truststore context, no strict flag) works, load_data would not."""
    pair, folder = non_compliant
    env = trust_env(folder / "corp-ca.pem")
    version = subprocess.run(
        [PY313, "-c", "import importlib.metadata as m; print(m.version('pip'))"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    if version.returncode != 0:
        pytest.skip(f"the 3.13 interpreter has no pip: {version.stderr.strip()[-200:]}")
    major, minor = (int(p) for p in version.stdout.strip().split(".")[:2])
    if (major, minor) < (24, 2):
        pytest.skip(f"pip {version.stdout.strip()} < 24.2 does not use truststore")
    with tls_server(pair, folder, 404) as server:
        argv = [PY313, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--retries", "0"]
        argv += [
            "--timeout",
            "10",
            "-d",
            str(tmp_path),
            "--index-url",
            f"https://localhost:{server.port}/simple/",
        ]
        pip = subprocess.run([*argv, "nothing-here"], capture_output=True, text=True, env=env, timeout=90)
        pip_paths = server.paths
    output = pip.stdout + pip.stderr
    assert "CERTIFICATE_VERIFY_FAILED" not in output, output[-1500:]
    assert "/simple/nothing-here/" in pip_paths, (pip_paths, output[-1500:])  # pip's TLS handshake passed

    results, _ = run(pair, folder, PY313, folder / "corp-ca.pem")
    assert results["network.tls"]["status"] == "fail"
    explained = results["tls.pip_vs_urllib"]
    assert explained["status"] == "fail", explained
    assert explained["summary"].startswith("pip works here but load_data fails")
    assert "VERIFY_X509_STRICT" in explained["summary"]
    assert "never turn verification off" in explained["hint"]


@needs_311
def test_the_same_ca_passes_on_a_311_target(non_compliant):
    pair, folder = non_compliant
    results, paths = run(pair, folder, PY311, folder / "corp-ca.pem")
    tls = results["network.tls"]
    assert tls["status"] == "ok", tls
    assert tls["data"]["record"]["x509_strict"] is False and "strict_retry" not in tls["data"]["record"]
    assert results["network.http"]["status"] == "ok"
    assert paths  # the real download request reached the server
    assert results["tls.pip_vs_urllib"]["status"] == "ok"


@needs_313
def test_a_compliant_ca_passes_on_313(tmp_path):
    """Control: the same kind of CA with Basic Constraints critical verifies on 3.13."""
    pair = corporate_ca(critical_basic_constraints=True)
    (tmp_path / "ok-ca.pem").write_bytes(pair.ca_pem)
    results, _ = run(pair, tmp_path, PY313, tmp_path / "ok-ca.pem")
    tls = results["network.tls"]
    assert tls["status"] == "ok", tls
    assert tls["data"]["record"]["x509_strict"] is True  # strict, and satisfied
    assert results["network.http"]["status"] == "ok"


@needs_313
def test_an_unknown_ca_on_313_is_not_called_non_compliant(non_compliant, ca_file):
    """The relaxed retry fails too when the CA is simply not trusted: no false 'non-compliant'."""
    pair, folder = non_compliant
    results, paths = run(pair, folder, PY313, ca_file)
    tls = results["network.tls"]
    assert tls["status"] == "fail", tls
    assert "RFC 5280" not in tls["summary"] and "a CA this machine does not trust" in tls["summary"]
    assert tls["data"]["record"]["strict_retry"]["relaxed_verifies"] is False
    assert any("not a VERIFY_X509_STRICT problem" in d for d in tls["details"])
    assert paths == []
