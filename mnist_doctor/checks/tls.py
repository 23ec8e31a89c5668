"""Family ``tls``: the trust settings urllib's default ssl context really uses.

The verify paths and the https-context factory come from the target interpreter
(``introspection.ssl``); files named by variables are inspected here (they only
depend on the filesystem). Keras downloads with urllib, so ``SSL_CERT_FILE`` /
``SSL_CERT_DIR`` matter and ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` do not.
"""

from __future__ import annotations

import os
import sys

from mnist_doctor.causes.network import NO_SSL, NO_SSL_HINT, missing_ssl
from mnist_doctor.causes.trust_stores import TrustPicture, picture, pip_only_trust
from mnist_doctor.facts.answers.introspection import Introspection, PythonInfo, SslInfo
from mnist_doctor.facts.introspection import Distributions, env_lookup
from mnist_doctor.facts.net_probe import NetworkProbes
from mnist_doctor.files.env_paths import examine
from mnist_doctor.model import BaseCheck, Result
from mnist_doctor.network.pem_guard import read_ca_file
from mnist_doctor.text.hints import Installer, otherwise, quoted, said

PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


def inspect_ca_file(path: str) -> tuple[bool, str]:
    """(usable, description) of a CA bundle file: a regular, readable PEM file OpenSSL loads.

    Read once, bounded (:mod:`mnist_doctor.network.pem_guard`): a FIFO, a device such as
    ``/dev/urandom`` or a huge junk file is a finding, never a hang or gigabytes of RAM;
    OpenSSL parses the very bytes that were read (``cadata``), not the path a second time.
    """
    data, problem = read_ca_file(path)
    if data is None:
        return False, problem
    text = data.decode("ascii", errors="replace")
    count = text.count(PEM_BEGIN)
    if count == 0:
        return (
            False,
            f"{path} holds no PEM certificate "
            "(DER? convert with `openssl x509 -inform der -in FILE -out FILE.pem`)",
        )
    try:
        import ssl  # here, not at the top: the doctor must load on a Python built without ssl
    except ImportError as exc:
        return False, f"{path}: cannot be parsed here ({exc})"
    try:
        ssl.create_default_context(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return False, f"{path} does not parse as PEM certificates: {reason}"
    return True, f"{path}: {count} certificate(s)"


def inspect_ca_dir(path: str) -> tuple[bool, str]:
    """(usable, description) of a CA directory: OpenSSL needs hashed names (``abcd1234.0``)."""
    if not os.path.isdir(path):
        return False, f"{path} is not a directory"
    if not os.access(path, os.R_OK | os.X_OK):
        return False, f"{path} is not readable by this user"
    names = os.listdir(path)
    hashed = [n for n in names if len(n) >= 10 and n[8] == "." and n[9:].isdigit()]
    if not hashed:
        return False, f"{path} has no hashed certificate names: run `openssl rehash {path}`"
    return True, f"{path}: {len(hashed)} hashed certificate link(s)"


def _ssl(introspection: Introspection) -> SslInfo:
    return introspection.ssl


class VerifyPaths(BaseCheck):
    """Where the default context looks for trusted CAs, and whether anything is there."""

    id = "tls.verify_paths"
    #: An unusable SSL_CERT_FILE empties the store urllib verifies with: one trust problem.
    explained_by = ("tls.cert_env",)
    title = "default CA store of the ssl module"

    def run(self, introspection: Introspection) -> Result:
        info = _ssl(introspection)
        if info.error and missing_ssl(info.error):
            return Result.fail(NO_SSL, details=[f"import ssl: {info.error}"], hint=NO_SSL_HINT)
        if info.error:
            return Result.fail(
                f"the ssl module is broken in the target: {info.error}",
                hint="reinstall Python with OpenSSL support",
            )
        cafile, capath = info.cafile, info.capath
        data = {
            "cafile": cafile,
            "capath": capath,
            "openssl_cafile": info.openssl_cafile,
            "openssl_capath": info.openssl_capath,
            "x509_ca": info.store_ca_count,
            "openssl": info.openssl_version,
        }
        has_dir = bool(capath and os.path.isdir(capath) and os.listdir(capath))
        injected = introspection.trust.ssl_context_class or ""
        if "truststore" in injected:  # its context has no cert_store_stats(): the OS store decides
            return Result.ok(
                f"urllib trusts the OS trust store ({injected} replaces ssl.SSLContext)", data=data
            )
        if info.store_ca_count or has_dir:
            where = f"{cafile} ({info.store_ca_count or 0} CAs)" if cafile else f"{capath} (directory)"
            return Result.ok(f"urllib trusts the CAs in {where}", data=data)
        return Result.fail(
            "the default ssl context trusts no CA at all: "
            "every https download fails with CERTIFICATE_VERIFY_FAILED",
            details=[f"OpenSSL looks in {info.openssl_cafile} and {info.openssl_capath}"],
            data=data,
            hint="point Python at a CA bundle: "
            + quoted("export SSL_CERT_FILE=/path/ca.pem")
            + " (Debian/Ubuntu: "
            + quoted("sudo apt-get install ca-certificates")
            + "; macOS python.org: run Install Certificates.command)",
        )


class CertEnvironment(BaseCheck):
    """``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` (they replace the default store): usable?"""

    id = "tls.cert_env"
    title = "SSL_CERT_FILE / SSL_CERT_DIR"

    def run(self, target_env: dict[str, str], ssl_module: str) -> Result:
        cert_file, cert_dir = env_lookup(target_env, "SSL_CERT_FILE"), env_lookup(target_env, "SSL_CERT_DIR")
        if not cert_file and not cert_dir:
            return Result.ok("SSL_CERT_FILE and SSL_CERT_DIR are not set: the default store is used")
        problems: list[tuple[str, str]] = []
        good: list[str] = []
        for name, value, inspect in (
            ("SSL_CERT_FILE", cert_file, inspect_ca_file),
            ("SSL_CERT_DIR", cert_dir, inspect_ca_dir),
        ):
            if not value:
                continue
            trouble = examine(name, value)
            if trouble is not None and trouble.breaks:  # too long, a link loop, behind a closed folder
                problems.append((name, f"{trouble.shown}: {trouble.detail}"))
                continue
            usable, text = inspect(value)
            if usable:
                good.append(text)
            else:
                problems.append((name, text))
        data = {"SSL_CERT_FILE": cert_file, "SSL_CERT_DIR": cert_dir}
        if problems:
            name = problems[0][0]
            also = f" (also {problems[1][0]}: see details)" if len(problems) > 1 else ""
            return Result.fail(
                f"{name} is set but unusable: {problems[0][1]}{also}",
                details=[text for _, text in problems] + good,
                data=data,
                hint=said(" && ".join(f"unset {n}" for n, _ in problems))
                + otherwise("or point it at a readable PEM bundle", "export SSL_CERT_FILE=/path/ca.pem"),
            )
        return Result.ok("; ".join(good), data=data)


class RequestsBundles(BaseCheck):
    """``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` steer requests and curl, never Keras."""

    id = "tls.requests_bundle"
    title = "REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE"

    def run(self, target_env: dict[str, str], ssl_module: str) -> Result:
        bundles = {n: v for n in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if (v := env_lookup(target_env, n))}
        if not bundles:
            return Result.ok("REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE are not set")
        cert_file = env_lookup(target_env, "SSL_CERT_FILE")
        details = [f"{n}={v}" for n, v in bundles.items()] + [f"SSL_CERT_FILE={cert_file or '(unset)'}"]
        unusable = [problem for n, v in bundles.items() if (problem := _bundle_problem(n, v))]
        if unusable:  # requests and curl fail with it; never offered to urllib as SSL_CERT_FILE
            also = f" (also {unusable[1][0]}: see details)" if len(unusable) > 1 else ""
            return Result.warn(
                f"{unusable[0][1]}: requests and curl cannot verify any server with it (Keras ignores it)"
                + also,
                details=[text for _, text in unusable] + details,
                data={"bundles": bundles},
                hint=said(" && ".join(f"unset {n}" for n, _ in unusable)),
            )
        name, path = next(iter(bundles.items()))
        if cert_file and all(os.path.realpath(v) == os.path.realpath(cert_file) for v in bundles.values()):
            return Result.ok(
                f"{name} affects requests, not Keras; SSL_CERT_FILE names the same bundle for urllib",
                details=details,
            )
        return Result.warn(
            f"{name} affects requests and curl, not Keras (urllib ignores it)",
            details=details,
            data={"bundles": bundles},
            hint="to make Keras trust the same CAs: " + said(f"export SSL_CERT_FILE={path}"),
        )


def _bundle_problem(name: str, path: str) -> tuple[str, str] | None:
    """Why the CA bundle ``path`` in ``name`` cannot be used (or named in a command), or None."""
    trouble = examine(name, path)
    if trouble is not None:
        return name, trouble.sentence
    if not os.path.isfile(path) and not os.path.isdir(path):
        return name, f"{name}={path} names no file"
    return None


class VerificationOff(BaseCheck):
    """Verification switched off: ``PYTHONHTTPSVERIFY=0`` or a patched https-context factory."""

    id = "tls.verification_off"
    title = "certificate verification is on"

    def run(self, introspection: Introspection, target_env: dict[str, str], ssl_module: str) -> Result:
        factory = _ssl(introspection).https_context or "default"
        flag = env_lookup(target_env, "PYTHONHTTPSVERIFY")
        data = {"https_context": factory, "PYTHONHTTPSVERIFY": flag}
        if factory == "unverified":
            cause = (
                "PYTHONHTTPSVERIFY=0"
                if flag == "0"
                else "ssl._create_default_https_context = _create_unverified_context"
            )
            return Result.warn(
                f"certificate verification is OFF for urllib ({cause}): unsafe, any "
                "interceptor can feed Keras a forged file",
                data=data,
                hint=said("unset PYTHONHTTPSVERIFY")
                + " and remove the ssl patch; trust a CA instead: "
                + said("export SSL_CERT_FILE=/path/ca.pem"),
            )
        if factory.startswith("patched:"):
            return Result.warn(
                f"ssl._create_default_https_context is replaced by {factory[8:]} at start-up "
                "(sitecustomize or a .pth file): verification may be off, which is unsafe",
                data=data,
                hint="remove the patch; trust a CA instead: " + said("export SSL_CERT_FILE=/path/ca.pem"),
            )
        if flag == "0":
            return Result.warn(
                "PYTHONHTTPSVERIFY=0 is set (this Python ignores it, but it signals a verification "
                "hack that others honour)",
                data=data,
                hint=said("unset PYTHONHTTPSVERIFY"),
            )
        return Result.ok("urllib verifies certificates (default https context)", data=data)


def macos_framework_without_certs(info: PythonInfo, ssl_info: SslInfo) -> str | None:
    """The ``Install Certificates.command`` path when this is a python.org macOS build lacking certs."""
    if info.platform != "darwin" or not (info.prefix or "").startswith(
        "/Library/Frameworks/Python.framework"
    ):
        return None
    cafile = ssl_info.openssl_cafile or ""
    if ssl_info.cafile or ssl_info.store_ca_count:
        return None
    if cafile and os.path.exists(cafile):
        return None
    major_minor = ".".join(str(p) for p in (info.version or (3, 0))[:2])
    return f"/Applications/Python {major_minor}/Install Certificates.command"


class MacosCertificates(BaseCheck):
    """python.org's macOS installer ships no CA certificates until a script is run."""

    id = "tls.macos_certs"
    title = "macOS python.org certificates"

    def run(self, introspection: Introspection, ssl_module: str) -> Result:
        info = introspection.python
        if info.platform != "darwin":
            return Result.skip(f"not macOS ({info.platform})")
        command = macos_framework_without_certs(info, _ssl(introspection))
        if command:
            return Result.fail(
                "this python.org macOS Python has no CA certificates installed",
                hint=said(f'open "{command}"')
                + "  (or: "
                + said(
                    f"{info.executable or 'python3'} -m pip install certifi && "
                    "export SSL_CERT_FILE=$(python3 -m certifi)"
                )
                + ")",
            )
        return Result.ok("CA certificates are present for this macOS Python")


def _clients(pic: TrustPicture, target_env: dict[str, str]) -> list[str]:
    return [pic.urllib_description(), pic.requests_description(target_env), pic.pip_description()]


def injected_in_this_process(target_python: str) -> str | None:
    """truststore's module when it was injected into the doctor's own process at run time.

    That happens through the Python API or ``%mnist_doctor`` after a cell ran
    ``truststore.inject_into_ssl()``: this process is then the one that calls ``load_data``,
    and only when it is the examined interpreter does its state speak for the patient.
    """
    ssl = sys.modules.get("ssl")  # only a process that imported ssl can have truststore in it
    module = getattr(getattr(ssl, "SSLContext", None), "__module__", "ssl")
    if "truststore" not in module:
        return None
    try:
        same = os.path.samefile(target_python, sys.executable)
    except OSError:
        same = False
    return module.rsplit("._", 1)[0] if same else None


class Truststore(BaseCheck):
    """truststore / pip_system_certs: installed, injected at start-up, and what that changes.

    ``truststore.inject_into_ssl()`` replaces ``ssl.SSLContext``, so urllib (Keras),
    requests and pip then verify with the OS store, but only in a process where it ran:
    at start-up (a ``.pth`` file such as pip_system_certs', or sitecustomize) or in the
    user's own code before ``load_data``.
    """

    id = "tls.truststore"
    title = "truststore / pip_system_certs"

    def run(
        self,
        introspection: Introspection,
        ssl_module: str,
        distributions: Distributions,
        target_env: dict[str, str],
        installer: Installer,
        target_python: str,
    ) -> Result:
        pic = picture(introspection, distributions, target_env)
        details = _clients(pic, target_env) + [f"start-up hook: {h.path}" for h in pic.hooks]
        data = {
            "ssl_context_class": introspection.trust.ssl_context_class,
            "injected_by": pic.injected_by,
            "truststore": pic.truststore_version,
            "pip_system_certs": str(pic.psc_version) if pic.psc_version else None,
            "pip": str(pic.pip_version) if pic.pip_version else None,
            "pip_uses_truststore": pic.pip_truststore,
        }
        psc = f"pip_system_certs {pic.psc_version}" if pic.psc_version else None
        if pic.foreign_context:
            return Result.warn(
                f"ssl.SSLContext is replaced at start-up by {pic.foreign_context}: every https client "
                "here (Keras included) verifies through it",
                details=details,
                data=data,
                hint="find the .pth file or sitecustomize that patches ssl and make sure it keeps "
                "verification on (truststore.inject_into_ssl() is the safe way to use the OS store)",
            )
        here = injected_in_this_process(target_python)
        if here and not pic.injected_by:
            data["injected_here"] = here
            return Result.ok(
                f"truststore ({here}) is injected in this process, not at start-up: load_data called "
                "here verifies with the OS trust store, but the doctor's probes run in fresh processes "
                "without it (so network.tls may fail where load_data here works)",
                details=details,
                data=data,
            )
        if pic.injected_by:
            by = psc if psc and pic.psc_loaded else pic.hook_label()
            return Result.ok(
                f"truststore is injected at start-up (by {by}): urllib (Keras), requests and pip verify "
                "with the OS trust store",
                details=details,
                data=data,
            )
        if psc and pic.psc_version is not None and pic.psc_version.major >= 5:
            why = (
                "it did not load (its .pth file is not processed: python -S, or not in site-packages)"
                if not pic.psc_loaded
                else "it found no truststore (it needs pip >= 24.2 or the truststore package)"
            )
            install = installer.install("truststore")
            return Result.warn(
                f"{psc} is installed but did not inject truststore: {why}; urllib (Keras) still "
                f"trusts {pic.urllib_store}",
                details=details,
                data=data,
                hint=f"{install}  (pip_system_certs then injects it at start-up; or "
                "uninstall pip_system_certs and set SSL_CERT_FILE to your CA bundle)",
                fixes=install.steps,
            )
        if psc:
            return Result.ok(
                f"{psc} points requests and pip at the ssl module's default store, which urllib (Keras) "
                "already uses: it changes nothing for Keras",
                details=details,
                data=data,
            )
        if pic.truststore_version:
            return Result.ok(
                f"truststore {pic.truststore_version} is installed but not injected at start-up: it "
                "changes nothing for Keras unless your code calls truststore.inject_into_ssl() before "
                "load_data",
                details=details,
                data=data,
            )
        return Result.ok(f"no truststore injection: {pic.urllib_description()}", details=details, data=data)


class PipVersusUrllib(BaseCheck):
    """Explains "pip works, load_data fails": a trust difference between pip and urllib, named.

    Read only when urllib's TLS stage failed verification: each difference found is one
    reason pip verifies the server anyway (its OS store via truststore, its own bundle,
    no VERIFY_X509_STRICT), with the fix that keeps verification on.
    """

    id = "tls.pip_vs_urllib"
    #: An unusable SSL_CERT_FILE empties the store urllib verifies with: one trust problem.
    explained_by = ("tls.cert_env", "tls.verify_paths", "network.tls")
    title = "pip and urllib trust the same CAs"
    network = True
    slow = True

    def run(
        self,
        network_probes: NetworkProbes,
        introspection: Introspection,
        distributions: Distributions,
        target_env: dict[str, str],
    ) -> Result:
        pic = picture(introspection, distributions, target_env)
        details = _clients(pic, target_env)
        probe = network_probes.urllib
        record = probe.stage("tls")
        if record is None:
            failed = probe.failed()
            why = f"the {failed.name} stage failed first" if failed else "no TLS stage on this road"
            return Result.skip(f"urllib's TLS stage did not run: {why}", details=details)
        error = record.err
        verify_failed = not record.ok and (error.verify_message or error.type == "SSLCertVerificationError")
        if record.ok:
            return Result.ok(f"urllib (Keras) verified the server; {pic.pip_description()}", details=details)
        if not verify_failed:
            return Result.skip(
                "urllib's TLS stage failed before any certificate was judged (see network.tls)",
                details=details,
            )
        if pic.pip_version is None:
            return Result.skip("pip is not installed in the target: nothing to compare", details=details)
        differences = pip_only_trust(pic, record, introspection.ssl, target_env)
        if not differences:
            return Result.ok(
                "pip trusts the same CAs as urllib here: pip would fail the same way (see network.tls)",
                details=details,
            )
        return Result.fail(
            "pip works here but load_data fails with CERTIFICATE_VERIFY_FAILED: " + differences[0].why,
            details=details + [f"also: {d.why} (fix: {d.fix!s})" for d in differences[1:]],
            data={"differences": [d.why for d in differences]},
            hint=differences[0].fix + "  (never turn verification off)",
        )


#: Where this family stands in the report (lower first; plugins without one come last).
REPORT_ORDER = 50

CHECKS = [
    VerifyPaths(),
    CertEnvironment(),
    RequestsBundles(),
    VerificationOff(),
    MacosCertificates(),
    Truststore(),
    PipVersusUrllib(),
]
