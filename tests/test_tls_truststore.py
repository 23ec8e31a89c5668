"""truststore and pip_system_certs in real environments, and "pip works, Keras doesn't".

Real parts: venvs made with ``uv venv`` holding the real ``truststore`` and
``pip-system-certs`` packages (from the warm uv cache, PyPI otherwise), a sitecustomize
that calls ``truststore.inject_into_ssl()``, a trustme TLS server on 127.0.0.1, and the
real pip of the test environment verifying with ``PIP_CERT`` where urllib cannot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mnist_doctor.causes.trust_stores import picture, pip_only_trust
from mnist_doctor.facts.answers.introspection import Introspection, SslInfo
from mnist_doctor.facts.answers.network import StageRecord
from mnist_doctor.facts.introspection import Distributions
from testkit.doctor import doctor_json, network_env
from testkit.loopback import DatasetServer, server_context

UV = shutil.which("uv")


def plain_env(**extra: str) -> dict[str, str]:
    """No proxy, CA or pip settings from the machine running the tests (pip.conf included)."""
    env = {k: v for k, v in network_env().items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(extra)
    return env


def uv_venv(folder: Path, *requirements: str, no_deps: bool = False) -> str:
    """A venv with ``requirements`` installed by uv (cache first); its python, or skip with the reason."""
    if UV is None:
        pytest.skip("uv is not on PATH")
    subprocess.run([UV, "venv", "-q", "-p", sys.executable, str(folder)], check=True, capture_output=True)
    python = str(folder / "bin" / "python")
    argv = [
        UV,
        "pip",
        "install",
        "-q",
        "--python",
        python,
        *(["--no-deps"] if no_deps else []),
        *requirements,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_FIND_LINKS"))}
    for offline in ("1", ""):  # the warm cache first; PyPI only when the cache lacks a file
        done = subprocess.run(argv, capture_output=True, text=True, env={**env, "UV_OFFLINE": offline})
        if done.returncode == 0:
            return python
    pytest.skip(f"cannot install {requirements} with uv: {done.stderr.strip()[-300:]}")


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("trust-venvs")
    return {
        "truststore": uv_venv(root / "ts", "truststore"),
        "psc5": uv_venv(root / "psc5", "pip-system-certs>=5"),
        "psc5_alone": uv_venv(root / "psc5-alone", "pip-system-certs>=5", no_deps=True),
        "psc4": uv_venv(root / "psc4", "pip-system-certs<5"),
    }


def tls_results(python: str, env: dict[str, str], origin: str | None = None) -> dict[str, dict[str, Any]]:
    if origin is None:  # tls only, and --offline: no connection leaves this machine
        return doctor_json(None, env, "--python", python, "--offline", select="tls", timeout=20)
    return doctor_json(origin, env, "--python", python, select="tls,network", timeout=20)


@pytest.mark.usefixtures("processes")
def test_truststore_installed_but_not_injected_changes_nothing_for_keras(venvs):
    results = tls_results(venvs["truststore"], plain_env())
    found = results["tls.truststore"]
    assert found["status"] == "ok", found
    assert "installed but not injected" in found["summary"]
    assert "truststore.inject_into_ssl()" in found["summary"]
    assert found["data"]["truststore"] and found["data"]["injected_by"] is None


@pytest.mark.usefixtures("processes")
def test_truststore_injected_by_sitecustomize_is_what_urllib_really_uses(venvs, ca, ca_file, tmp_path):
    (tmp_path / "sitecustomize.py").write_text("import truststore\ntruststore.inject_into_ssl()\n")
    env = plain_env(PYTHONPATH=str(tmp_path), SSL_CERT_FILE=str(ca_file))
    with DatasetServer("partial", tls=server_context(ca)) as server:
        results = tls_results(venvs["truststore"], env, server.url)
    found = results["tls.truststore"]
    assert found["status"] == "ok", found
    assert "injected at start-up" in found["summary"] and "sitecustomize" in found["summary"]
    assert found["data"]["injected_by"] == "truststore"
    assert "OS trust store" in results["tls.verify_paths"]["summary"]  # no false "trusts no CA at all"
    assert results["tls.verification_off"]["status"] == "ok"
    # The urllib stage really ran through truststore's SSLContext, as Keras would.
    tls = results["network.tls"]
    assert tls["status"] == "ok", tls
    assert tls["data"]["record"]["context_class"].startswith("truststore.")


@pytest.mark.usefixtures("processes")
def test_pip_system_certs_5_injects_pips_truststore_for_urllib_too(venvs):
    found = tls_results(venvs["psc5"], plain_env())["tls.truststore"]
    assert found["status"] == "ok", found
    assert "pip_system_certs 5" in found["summary"] and "injected at start-up" in found["summary"]
    assert found["data"]["injected_by"] == "pip._vendor.truststore"
    assert found["data"]["ssl_context_class"].startswith("pip._vendor.truststore.")


@pytest.mark.usefixtures("processes")
def test_pip_system_certs_without_pip_or_truststore_is_a_warning(venvs):
    found = tls_results(venvs["psc5_alone"], plain_env())["tls.truststore"]
    assert found["status"] == "warn", found
    assert "did not inject truststore" in found["summary"]
    assert found["data"]["injected_by"] is None
    assert "install" in found["hint"] and "truststore" in found["hint"]
    assert " -m pip " not in found["hint"]  # this venv has no pip: the hint must not rely on it
    steps = found["fixes"]  # what --fix would run is the hint's command, word for word
    assert steps and found["hint"].startswith(" && ".join(step["command"] for step in steps) + "  (")


@pytest.mark.usefixtures("processes")
def test_pip_system_certs_4_changes_nothing_for_keras(venvs):
    found = tls_results(venvs["psc4"], plain_env())["tls.truststore"]
    assert found["status"] == "ok", found
    assert "changes nothing for Keras" in found["summary"] and "pip_system_certs 4" in found["summary"]


@pytest.mark.usefixtures("processes")
def test_pip_cert_makes_pip_work_where_urllib_fails_and_the_fix_is_ssl_cert_file(ca, ca_file, tmp_path):
    """Real pip (PIP_CERT) reaches the trustme server; urllib does not; the doctor names why."""
    env = plain_env(PIP_CERT=str(ca_file))
    with DatasetServer(404, tls=server_context(ca)) as server:
        argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--retries", "0"]
        argv += ["--timeout", "10", "-d", str(tmp_path), "--index-url", f"https://localhost:{server.port}/s/"]
        pip = subprocess.run([*argv, "nothing-here"], capture_output=True, text=True, env=env, timeout=90)
        results = tls_results(sys.executable, env, server.url)
    output = pip.stdout + pip.stderr
    assert "CERTIFICATE_VERIFY_FAILED" not in output and "No matching distribution" in output, output[-1500:]
    assert results["network.tls"]["status"] == "fail"
    explained = results["tls.pip_vs_urllib"]
    assert explained["status"] == "fail", explained
    assert f"pip also trusts {ca_file} (from PIP_CERT)" in explained["summary"]
    assert explained["hint"].startswith(f"export SSL_CERT_FILE={ca_file}")


@pytest.mark.usefixtures("processes")
def test_pip_config_file_cert_and_legacy_certs_are_read(ca, ca_file, tmp_path):
    config = tmp_path / "pip.conf"
    config.write_text(
        f"[global]\ncert = {ca_file}\nuse-deprecated = legacy-certs\nindex-url = https://u:p@x/\n"
    )
    env = plain_env(PIP_CONFIG_FILE=str(config))
    with DatasetServer("partial", tls=server_context(ca)) as server:
        results = tls_results(sys.executable, env, server.url)
    assert results["tls.truststore"]["data"]["pip_uses_truststore"] is False  # legacy-certs
    explained = results["tls.pip_vs_urllib"]
    assert explained["status"] == "fail" and f"(from {config})" in explained["summary"], explained
    assert "u:p@" not in str(results)  # only the trust keys are read from pip's config


@pytest.mark.usefixtures("processes")
def test_when_urllib_verifies_there_is_nothing_to_explain(ca, ca_file):
    with DatasetServer("partial", tls=server_context(ca)) as server:
        results = tls_results(sys.executable, plain_env(SSL_CERT_FILE=str(ca_file)), server.url)
    assert results["network.tls"]["status"] == "ok"
    found = results["tls.pip_vs_urllib"]
    assert found["status"] == "ok" and "verified the server" in found["summary"], found


def _introspection(platform: str, context_class: str = "ssl.SSLContext") -> dict[str, Any]:
    return {
        "python": {"platform": platform, "version": [3, 12, 4]},
        "ssl": {"cafile": "/Library/Frameworks/Python.framework/Versions/3.12/etc/openssl/cert.pem"},
        "trust": {"ssl_context_class": context_class, "pip_vendored_truststore": True, "pip_config": {}},
    }


DISTS = Distributions.from_introspection([{"name": "pip", "version": "25.1"}])
VERIFY_FAILED = StageRecord.parse(
    {"name": "tls", "ok": False, "error": {"type": "SSLCertVerificationError", "verify_code": 20}}
)


def test_macos_pip_uses_the_keychain_and_urllib_does_not():
    """macOS cannot run here: the rule itself, on introspection shaped like a python.org build's."""
    pic = picture(Introspection.parse(_introspection("darwin")), DISTS, {})
    found = pip_only_trust(pic, VERIFY_FAILED, SslInfo.read(_introspection("darwin")["ssl"]), {})
    assert len(found) == 1 and "macOS Keychain" in found[0].why
    assert "security find-certificate -a -p" in found[0].fix and "SSL_CERT_FILE" in found[0].fix
    assert "truststore.inject_into_ssl()" in found[0].fix
    # With truststore injected, urllib uses the Keychain too: no difference left to explain.
    injected = _introspection("darwin", "truststore._api.SSLContext")
    assert (
        pip_only_trust(
            picture(Introspection.parse(injected), DISTS, {}),
            VERIFY_FAILED,
            SslInfo.read(injected["ssl"]),
            {},
        )
        == []
    )


@pytest.mark.usefixtures("processes")
def test_truststore_injected_at_run_time_in_the_api_callers_process_is_said(tmp_path):
    """A notebook cell ran inject_into_ssl(), then the Python API: the probes cannot see it, the check can."""
    script = (
        "from pip._vendor import truststore\n"
        "truststore.inject_into_ssl()\n"
        "import json, mnist_doctor\n"
        "report = mnist_doctor.diagnose(select='tls.truststore', offline=True)\n"
        "print(json.dumps(report.result('tls.truststore')))\n"
    )
    argv = [sys.executable, "-c", script]
    done = subprocess.run(argv, capture_output=True, text=True, env=plain_env(), timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-1500:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["status"] == "ok" and "injected in this process, not at start-up" in found["summary"], found
    assert found["data"]["injected_here"] == "pip._vendor.truststore"
