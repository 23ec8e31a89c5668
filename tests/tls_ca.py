"""Certificate authorities trustme cannot make, built with ``cryptography`` for the TLS tests.

Why: corporate TLS-inspection CAs are often minted by appliances that mark the CA's Basic
Constraints extension *not critical*. RFC 5280 (4.2.1.9) requires it critical in CA
certificates; OpenSSL only enforces that under ``VERIFY_X509_STRICT``, which Python 3.13
sets in ``ssl.create_default_context()``. So the same CA works on 3.12 and fails on 3.13
("Basic Constraints of CA cert not marked critical"). trustme always marks it critical.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from testkit.loopback import DatasetServer


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass
class IssuedPair:
    """A CA (PEM) and a leaf for ``localhost``/127.0.0.1 signed by it, with its key (PEM)."""

    ca_pem: bytes
    leaf_pem: bytes
    leaf_key_pem: bytes

    def server_context(self, folder: Path) -> ssl.SSLContext:
        """A server-side context presenting the leaf (files written to ``folder``)."""
        cert, key = folder / "leaf.pem", folder / "leaf.key"
        cert.write_bytes(self.leaf_pem)
        key.write_bytes(self.leaf_key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        return context


def corporate_ca(critical_basic_constraints: bool = False, org: str = "ACME Corp") -> IssuedPair:
    """A CA like a TLS-inspection appliance's, and a leaf it signs for 127.0.0.1.

    With ``critical_basic_constraints=False`` the CA is otherwise well formed (key usage,
    subject and authority key identifiers), so the *only* strict-mode violation is the
    non-critical Basic Constraints: a test proves the doctor names that cause precisely.
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{org} TLS Inspection CA", org)
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=critical_basic_constraints)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost", org))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return IssuedPair(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        leaf_pem=leaf_cert.public_bytes(serialization.Encoding.PEM),
        leaf_key_pem=leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@contextlib.contextmanager
def tls_server(pair: IssuedPair, folder: Path, mode: str | int = "partial") -> Iterator[DatasetServer]:
    """A dataset server on 127.0.0.1 presenting ``pair``'s leaf; its ``paths`` prove a handshake passed."""
    with DatasetServer(mode, tls=pair.server_context(folder)) as server:
        yield server
