"""TLS: a real HTTPS server on 127.0.0.1 with a trustme CA, trusted or not, plus the trust settings.

The untrusted case is what a TLS-inspecting proxy looks like to Keras: a certificate
from a CA the system store does not know. The doctor must name the issuer, call it an
an issuer this machine does not trust (inspection only on evidence), and hint ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnist_doctor.checks.network import judge_chain
from mnist_doctor.checks.tls import inspect_ca_dir, inspect_ca_file, macos_framework_without_certs
from mnist_doctor.facts.answers.introspection import PythonInfo, SslInfo
from mnist_doctor.facts.answers.network import CertInfo
from testkit.doctor import doctor_json, network_env
from testkit.loopback import DatasetServer, server_context


@pytest.mark.usefixtures("processes")
def test_server_trusted_through_ssl_cert_file_passes_tls_and_http(ca, ca_file):
    with DatasetServer("partial", tls=server_context(ca)) as server:
        results = doctor_json(
            server.url, network_env(SSL_CERT_FILE=str(ca_file), REQUESTS_CA_BUNDLE=str(ca_file))
        )
    tls = results["network.tls"]
    assert tls["status"] == "ok", tls
    assert tls["data"]["record"]["version"].startswith("TLSv1")
    assert results["network.http"]["status"] == "ok"
    assert results["network.requests"]["status"] == "ok"


@pytest.mark.usefixtures("processes")
def test_untrusted_server_is_named_unknown_issuer_with_the_issuer_and_ssl_cert_file_hint(ca):
    with DatasetServer("partial", tls=server_context(ca)) as server:
        results = doctor_json(server.url, network_env())
    tls = results["network.tls"]
    assert tls["status"] == "fail"
    assert "certificate verification failed" in tls["summary"]
    assert "Testing CA" in tls["summary"] and "trustme" in tls["summary"]  # the issuer is named
    assert "a CA this machine does not trust" in tls["summary"]
    assert "SSL_CERT_FILE=" in tls["hint"]
    assert tls["data"]["failed_stage"] == "tls"
    assert results["network.http"]["status"] == "skip"


@pytest.mark.usefixtures("processes")
def test_requests_trusting_what_urllib_does_not_gets_the_exact_ssl_cert_file_fix(ca, ca_file):
    # The classic: REQUESTS_CA_BUNDLE has the corporate CA, so requests works, Keras does not.
    with DatasetServer("partial", tls=server_context(ca)) as server:
        results = doctor_json(server.url, network_env(REQUESTS_CA_BUNDLE=str(ca_file)))
    compare = results["network.requests"]
    assert results["network.tls"]["status"] == "fail"
    assert compare["status"] == "fail"
    assert compare["data"]["requests_ok"] is True and compare["data"]["urllib_failed_stage"] == "tls"
    assert compare["hint"] == f"export SSL_CERT_FILE={ca_file}"


def test_inspection_is_named_on_evidence_never_from_an_unfamiliar_issuer_alone():
    unfamiliar = [CertInfo(issuer_cn="Corp Private CA", issuer_o="ACME", self_signed=False)]
    issuer, verdict = judge_chain(unfamiliar, "storage.googleapis.com")
    assert issuer == "Corp Private CA (ACME)"
    assert "inspection by" not in verdict and verdict.startswith("a CA this machine does not trust")
    product = [CertInfo(issuer_cn="Zscaler Intermediate Root CA", issuer_o="Zscaler Inc.", self_signed=False)]
    assert judge_chain(product, "storage.googleapis.com")[1].startswith("TLS inspection by Zscaler")


def test_ca_files_are_checked_for_existence_readability_and_pem(tmp_path: Path, ca_file):
    assert inspect_ca_file(str(ca_file)) == (True, f"{ca_file}: 1 certificate(s)")
    assert not inspect_ca_file(str(tmp_path / "missing.pem"))[0]
    garbage = tmp_path / "der.crt"
    garbage.write_bytes(b"\x30\x82\x01\x0a not pem")
    usable, text = inspect_ca_file(str(garbage))
    assert not usable and "no PEM certificate" in text
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    assert not inspect_ca_file(str(broken))[0]
    unreadable = tmp_path / "secret.pem"
    unreadable.write_text(ca_file.read_text())
    unreadable.chmod(0)
    try:
        import os

        if os.access(unreadable, os.R_OK):  # running as root: permissions do not bind
            pytest.skip("root can read mode-000 files")
        assert "not readable" in inspect_ca_file(str(unreadable))[1]
    finally:
        unreadable.chmod(0o600)


def test_ca_dir_without_hashed_names_asks_for_rehash(tmp_path: Path, ca_file):
    (tmp_path / "corp.pem").write_text(ca_file.read_text())
    usable, text = inspect_ca_dir(str(tmp_path))
    assert not usable and f"openssl rehash {tmp_path}" in text


@pytest.mark.usefixtures("processes")
def test_tls_family_through_the_cli(tmp_path: Path, ca_file):
    missing = tmp_path / "nope.pem"
    results = doctor_json(
        None,
        network_env(SSL_CERT_FILE=str(missing), REQUESTS_CA_BUNDLE=str(ca_file), PYTHONHTTPSVERIFY="0"),
        "--offline",  # tls.pip_vs_urllib is a network check: no origin here, so no connection at all
        select="tls",
    )
    assert results["tls.cert_env"]["status"] == "fail"
    assert "does not exist" in results["tls.cert_env"]["summary"]
    bundle = results["tls.requests_bundle"]
    assert bundle["status"] == "warn" and "not Keras" in bundle["summary"]
    assert bundle["hint"].endswith(f"export SSL_CERT_FILE={ca_file}")
    assert results["tls.verification_off"]["status"] == "warn"
    assert results["tls.macos_certs"]["status"] == "skip"
    assert results["tls.pip_vs_urllib"]["status"] == "skip"  # --offline


@pytest.mark.usefixtures("processes")
def test_patched_https_context_is_seen_and_called_unsafe(tmp_path: Path, ca):
    # A sitecustomize that switches verification off, as found on real machines.
    (tmp_path / "sitecustomize.py").write_text(
        "import ssl\nssl._create_default_https_context = ssl._create_unverified_context\n"
    )
    env = network_env(PYTHONPATH=str(tmp_path))
    with DatasetServer("partial", tls=server_context(ca)) as server:
        results = doctor_json(server.url, env, select="tls,network")
    off = results["tls.verification_off"]
    assert off["status"] == "warn" and "OFF" in off["summary"] and "unsafe" in off["summary"]
    # ...and the stages really use the patched factory, exactly as Keras would.
    assert results["network.tls"]["status"] == "ok"
    assert results["network.tls"]["data"]["record"]["context_factory"].endswith("_create_unverified_context")


def test_macos_python_org_without_certificates_points_to_install_certificates():
    info = {
        "platform": "darwin",
        "prefix": "/Library/Frameworks/Python.framework/Versions/3.11",
        "version": [3, 11, 4],
    }
    ssl_info = {
        "cafile": None,
        "openssl_cafile": "/nonexistent/etc/openssl/cert.pem",
        "default_store": {"x509_ca": 0},
    }
    expected = "/Applications/Python 3.11/Install Certificates.command"

    def without(info: dict[str, object], ssl_info: dict[str, object]) -> str | None:
        return macos_framework_without_certs(PythonInfo.read(info), SslInfo.read(ssl_info))

    assert without(info, ssl_info) == expected
    assert without({**info, "prefix": "/opt/homebrew"}, ssl_info) is None
    assert without(info, {**ssl_info, "default_store": {"x509_ca": 150}}) is None


@pytest.mark.usefixtures("processes")
def test_ssl_cert_file_that_is_a_fifo_is_a_tls_finding_not_a_hang(tmp_path: Path, ca):
    """OpenSSL blocks forever opening a FIFO as its CA file; the target probes check first."""
    import os
    import time

    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    with DatasetServer("partial", tls=server_context(ca)) as server:
        start = time.monotonic()
        results = doctor_json(server.url, network_env(SSL_CERT_FILE=str(fifo)), "--timeout", "10")
        elapsed = time.monotonic() - start
    tls = results["network.tls"]
    assert tls["status"] == "fail", tls
    assert "FIFO" in json.dumps(tls), tls
    assert elapsed < 10 + 2 + 3, elapsed  # --timeout + 2 s, with a margin for a loaded machine
