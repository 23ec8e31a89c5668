"""Who trusts what in the target: urllib (Keras), requests and pip, and what changes them.

Why a module of its own: "pip works, ``load_data`` fails with CERTIFICATE_VERIFY_FAILED" is
a difference between three TLS clients living in one interpreter, and users are told on
forums to switch verification off. The facts come from the target's introspection
(``introspection.trust``, ``.ssl``) and its distributions; this module draws the
picture the ``tls`` checks and the ``network.tls`` diagnosis explain from:

- urllib verifies with ``ssl.create_default_context()``: OpenSSL's files (``SSL_CERT_FILE``
  / ``SSL_CERT_DIR`` or the build's defaults; on Windows also the system store), and on
  Python >= 3.13 with ``VERIFY_X509_STRICT``. ``truststore.inject_into_ssl()`` replaces
  ``ssl.SSLContext`` and so reaches urllib too, in the process where it ran.
- pip >= 24.2 verifies with its vendored truststore (the OS store: macOS Keychain, Windows
  certificate store, OpenSSL's files on Linux) plus certifi, in a context of its own
  without ``VERIFY_X509_STRICT``; ``--cert``/``PIP_CERT``/``REQUESTS_CA_BUNDLE`` add a bundle.
- pip_system_certs >= 5 injects pip's truststore at start-up from a ``.pth`` file (all
  three clients then use the OS store); 4.x only re-pointed requests' adapters at
  ``ssl.create_default_context()``, which is what urllib uses anyway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from packaging.version import Version

from mnist_doctor.facts.answers.introspection import (
    Introspection,
    PipSetting,
    SslInfo,
    StartupHook,
    TrustInfo,
)
from mnist_doctor.facts.answers.network import StageRecord
from mnist_doctor.facts.introspection import Distributions, env_lookup
from mnist_doctor.model import Hint
from mnist_doctor.text.hints import quoted, said

#: pip's truststore became its default here (``--use-feature=truststore`` since 22.2).
PIP_TRUSTSTORE_DEFAULT = Version("24.2")
PIP_TRUSTSTORE_FEATURE = Version("22.2")

#: Files truststore falls back to on Linux when OpenSSL's compiled-in ones are missing.
LINUX_CA_CANDIDATES = (
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
)

OS_STORE = {
    "darwin": "the macOS Keychain",
    "win32": "the Windows certificate store",
}


def os_store_name(platform: str) -> str:
    return OS_STORE.get(platform, "the system CA files")


def export_hint(platform: str) -> Hint:
    """How to turn the OS store's CAs into a PEM file urllib can read, per platform."""
    if platform == "darwin":
        return Hint(
            "security find-certificate -a -p /Library/Keychains/System.keychain "
            "/System/Library/Keychains/SystemRootCertificates.keychain > ~/ca.pem && "
            "export SSL_CERT_FILE=~/ca.pem"
        )
    if platform == "win32":
        return (
            "export the corporate root CA from certmgr.msc as Base-64 (.cer), append it to a copy of "
            "certifi's bundle ("
            + quoted("python -m certifi")
            + " prints its path), and set SSL_CERT_FILE to that file"
        )
    return (
        said("export SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
        + "  (the bundle with the corporate CA)"
    )


def _truststore_module(label: str) -> str | None:
    """'truststore' or 'pip._vendor.truststore' when ``ssl.SSLContext`` comes from it."""
    module = label.rsplit(".", 2)[0] if label.count(".") >= 2 else ""
    for name in ("pip._vendor.truststore", "truststore"):
        if module == name or module.startswith(name + "."):
            return name
    return None


@dataclass
class TrustPicture:
    """The three clients' trust in the target, and the start-up hooks that shape it."""

    platform: str
    python: tuple[int, ...]
    urllib_store: str
    injected_by: str | None = None  # "truststore" / "pip._vendor.truststore": urllib uses the OS store
    foreign_context: str | None = None  # ssl.SSLContext replaced by something that is not truststore
    hooks: tuple[StartupHook, ...] = ()
    truststore_version: str | None = None
    truststore_importable: bool = False
    psc_version: Version | None = None  # pip_system_certs
    psc_loaded: bool = False
    psc_injected: bool | None = None
    pip_version: Version | None = None
    pip_truststore: bool = False
    pip_truststore_why: str = ""
    pip_bundle: str | None = None
    pip_bundle_source: str | None = None
    urllib_strict: bool = False

    @property
    def urllib_uses_os_store(self) -> bool:
        return self.injected_by is not None

    def hook_label(self) -> str:
        """Where the start-up injection comes from (a .pth or sitecustomize file), for messages."""
        for hook in self.hooks:
            return f"{hook.kind} {hook.path}"
        return "start-up code"

    def pip_description(self) -> str:
        if self.pip_version is None:
            return "pip is not installed"
        bundle = f"{self.pip_bundle} (from {self.pip_bundle_source})" if self.pip_bundle else None
        if self.pip_truststore:  # a bundle is loaded into truststore's context, on top
            trusted = f"{os_store_name(self.platform)} via truststore, plus certifi"
            trusted += f" and {bundle}" if bundle else ""
        else:  # requests' verify=<bundle> replaces certifi
            trusted = bundle or "certifi's bundle"
            trusted += f" ({self.pip_truststore_why})"
        return f"pip {self.pip_version} trusts {trusted}"

    def urllib_description(self) -> str:
        if self.injected_by:
            return f"urllib (Keras) trusts {os_store_name(self.platform)} (truststore injected at start-up)"
        return f"urllib (Keras) trusts {self.urllib_store}"

    def requests_description(self, target_env: dict[str, str]) -> str:
        base = "certifi's bundle"
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # requests reads them in this order
            if bundle := env_lookup(target_env, name):
                base = f"{bundle} ({name})"
                break
        if self.injected_by:
            return f"requests trusts {base} plus {os_store_name(self.platform)} (truststore injected)"
        if self.psc_version is not None and self.psc_version.major < 5 and self.psc_loaded:
            return "requests trusts the ssl module's default store (pip_system_certs 4.x: what urllib uses)"
        return f"requests trusts {base}"


def _urllib_store(ssl_info: SslInfo, target_env: dict[str, str], platform: str) -> str:
    cert_file = env_lookup(target_env, "SSL_CERT_FILE")
    if cert_file and os.path.isfile(cert_file):  # one that cannot be read is skipped by OpenSSL
        return f"{cert_file} (SSL_CERT_FILE)"
    windows = " and the Windows system store" if platform == "win32" else ""
    if ssl_info.cafile:
        return f"{ssl_info.cafile}{windows}"
    if ssl_info.capath:
        return f"{ssl_info.capath} (directory){windows}"
    missing = ssl_info.openssl_cafile or "OpenSSL's default CA file"
    return (
        f"the Windows system store only ({missing} is missing)"
        if windows
        else f"no CA file ({missing} is missing)"
    )


def _pip_uses_truststore(pip: Version, python: tuple[int, ...], trust: TrustInfo) -> tuple[bool, str]:
    unset = PipSetting()
    deprecated = trust.pip_config.get("use-deprecated", unset)
    feature = trust.pip_config.get("use-feature", unset).value or ""
    if python < (3, 10):
        return False, "truststore needs Python >= 3.10"
    if pip >= PIP_TRUSTSTORE_DEFAULT:
        if "legacy-certs" in (deprecated.value or ""):
            return False, f"use-deprecated=legacy-certs in {deprecated.source}"
        if not trust.pip_vendored_truststore:
            return False, "pip's vendored truststore is missing (a debundled pip)"
        return True, f"pip >= {PIP_TRUSTSTORE_DEFAULT} uses truststore by default"
    if pip >= PIP_TRUSTSTORE_FEATURE and "truststore" in feature and trust.truststore_importable:
        return True, "use-feature=truststore"
    return False, f"pip < {PIP_TRUSTSTORE_DEFAULT} uses certifi only"


def picture(
    introspection: Introspection, distributions: Distributions, target_env: dict[str, str]
) -> TrustPicture:
    """The trust picture of the target from its introspection (no import, no network)."""
    info = introspection.python
    trust = introspection.trust
    ssl_info = introspection.ssl
    python = info.version or (3, 0)
    context_class = trust.ssl_context_class or "ssl.SSLContext"
    injected = _truststore_module(context_class)
    pic = TrustPicture(
        platform=info.platform or "",
        python=python,
        urllib_store=_urllib_store(ssl_info, target_env, info.platform or ""),
        injected_by=injected,
        foreign_context=None if injected or context_class == "ssl.SSLContext" else context_class,
        hooks=trust.hooks,
        truststore_importable=trust.truststore_importable,
        urllib_strict=ssl_info.x509_strict,
    )
    dist = distributions.get("truststore")
    pic.truststore_version = dist.version_str if dist else None
    psc = distributions.get("pip-system-certs")
    pic.psc_version = psc.version if psc else None
    pic.psc_loaded, pic.psc_injected = trust.pip_system_certs_loaded, trust.pip_system_certs_injected
    pic.pip_version = distributions.version("pip")
    if pic.pip_version is not None:
        pic.pip_truststore, pic.pip_truststore_why = _pip_uses_truststore(pic.pip_version, python, trust)
        cert = trust.pip_config.get("cert")
        if cert is not None and cert.value:
            pic.pip_bundle, pic.pip_bundle_source = cert.value, str(cert.source)
        else:
            for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # pip's requests reads them too
                if value := env_lookup(target_env, name):
                    pic.pip_bundle, pic.pip_bundle_source = value, name
                    break
    return pic


def same_file(a: str | None, b: str | None) -> bool:
    return bool(a and b) and os.path.realpath(str(a)) == os.path.realpath(str(b))


def linux_fallback_bundle(ssl_info: SslInfo) -> str | None:
    """The file truststore would use on Linux when this Python's OpenSSL finds no CA file."""
    capath = ssl_info.capath
    if ssl_info.cafile or (capath and os.path.isdir(capath) and os.listdir(capath)):
        return None
    return next((c for c in LINUX_CA_CANDIDATES if os.path.isfile(c)), None)


@dataclass
class Difference:
    """One reason pip verifies a server that urllib (Keras) rejects, and its safe fix."""

    why: str
    fix: str


def pip_only_trust(
    pic: TrustPicture, record: StageRecord, ssl_info: SslInfo, target_env: dict[str, str]
) -> list[Difference]:
    """Why pip would verify the server urllib failed to verify (empty: pip would fail too)."""
    out: list[Difference] = []
    if pic.pip_version is None:
        return out
    inject = "or call `truststore.inject_into_ssl()` in your own code before load_data"
    if pic.pip_truststore and not pic.urllib_uses_os_store and pic.platform in OS_STORE:
        out.append(
            Difference(
                f"pip {pic.pip_version} verifies with {OS_STORE[pic.platform]} (truststore), where "
                "corporate CAs are installed; urllib (Keras) only reads "
                f"{pic.urllib_store}",
                export_hint(pic.platform) + "; " + inject,
            )
        )
    retry = record.strict_retry
    if pic.pip_truststore and record.x509_strict and retry is not None and retry.relaxed_verifies:
        out.append(
            Difference(
                f"pip's own TLS context does not set VERIFY_X509_STRICT; urllib's default context "
                f"does on Python {retry.python or '>= 3.13'} and rejects the non-compliant CA",
                "ask for an RFC 5280-compliant CA (Basic Constraints marked critical); see network.tls",
            )
        )
    cert_file = env_lookup(target_env, "SSL_CERT_FILE")
    urllib_file = ssl_info.cafile or cert_file
    if pic.pip_bundle and not same_file(pic.pip_bundle, urllib_file):
        out.append(
            Difference(
                f"pip also trusts {pic.pip_bundle} (from {pic.pip_bundle_source}); urllib (Keras) does "
                "not read that setting",
                said(f"export SSL_CERT_FILE={pic.pip_bundle}"),
            )
        )
    if pic.pip_truststore and pic.platform.startswith("linux") and not pic.urllib_uses_os_store:
        fallback = linux_fallback_bundle(ssl_info)
        if fallback and not cert_file:
            out.append(
                Difference(
                    f"truststore (pip) falls back to {fallback}; this Python's OpenSSL looks in "
                    f"{ssl_info.openssl_cafile} and finds nothing",
                    said(f"export SSL_CERT_FILE={fallback}"),
                )
            )
    return out


#: The safe ways out when a CA is rejected only because of VERIFY_X509_STRICT.
STRICT_HINT = (
    "ask the CA's owner (IT, the TLS-inspection appliance) for a re-issued, RFC 5280-compliant CA "
    "certificate (Basic Constraints marked critical) and point SSL_CERT_FILE at it; until then, a "
    "stopgap that weakens checks, in your own code only, before load_data: "
    "`ctx = ssl.create_default_context(cafile='corp-ca.pem'); "
    "ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT; urllib.request.install_opener("
    "urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx)))` "
    "(that CA only, verification stays on; never switch verification off)"
)


def strict_cause(record: StageRecord) -> tuple[str, list[str]] | None:
    """(summary tail, details) when the TLS stage failed only because of ``VERIFY_X509_STRICT``.

    The target retried the handshake once without the flag (same CA store, same host) to
    name the cause; that retry never turns the failure into a pass.
    """
    retry = record.strict_retry
    if not record.x509_strict or retry is None:
        return None
    version = retry.python or ">= 3.13"
    if retry.relaxed_verifies:
        return (
            f"Python {version} verifies with VERIFY_X509_STRICT and rejects it",
            [
                "the same CA store verifies the server once VERIFY_X509_STRICT is cleared: checked with one "
                "handshake only to name the cause (nothing was sent or downloaded over it; this stays a "
                "failure)",
                "Python <= 3.12, and pip (its own context, without the flag), accept this CA: that is why "
                "they work here",
            ],
        )
    return None


def strict_ruled_out(record: StageRecord) -> str | None:
    """A detail saying VERIFY_X509_STRICT is not the cause, when the retry showed that."""
    retry = record.strict_retry
    if record.x509_strict and retry is not None and retry.relaxed_verifies is False:
        return "not a VERIFY_X509_STRICT problem: the CA store rejects the server without that flag too"
    return None
