"""Describe this interpreter's environment as JSON, without importing TensorFlow or Keras.

Run by the doctor with the target interpreter (``python - ORIGIN``). Standard library
only and Python 3.9 syntax, so it works in any environment however broken. It reports
raw observations; the doctor draws the conclusions.
"""

import os
import platform
import re
import sys
import tempfile

from _prelude import emit  # mnist-doctor: include

#: A metadata header block longer than this (characters) is not a real one (a few KB): reading
#: stops there, so a hostile METADATA costs at most this much memory and time.
HEADER_CAP_CHARS = 1 << 20

ENV_NAMES = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "PYTHONHTTPSVERIFY",
    "KERAS_HOME",
    "KERAS_BACKEND",
    "TF_USE_LEGACY_KERAS",
    "REQUEST_METHOD",
    "HOME",
    "USERPROFILE",
    "TMPDIR",
    "TEMP",
    "TMP",
    "XDG_CACHE_HOME",
    "PYTHONPATH",
    "PYTHONNOUSERSITE",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "MNIST_DOCTOR_ORIGIN",
    "MNIST_DOCTOR_DATASET",
    "NO_COLOR",
    # Notebook hosts (mnist_doctor/facts/hosted.py HOST_MARKERS; a test keeps the two lists equal).
    "COLAB_RELEASE_TAG",
    "COLAB_GPU",
    "COLAB_BACKEND_VERSION",
    "KAGGLE_KERNEL_RUN_TYPE",
    "KAGGLE_URL_BASE",
    "KAGGLE_DOCKER_IMAGE",
    "DATABRICKS_RUNTIME_VERSION",
    "SAGEMAKER_INTERNAL_IMAGE_URI",
    "SAGEMAKER_APP_TYPE",
    "SAGEMAKER_SPACE_NAME",
    "JPY_PARENT_PID",
    "JPY_SESSION_NAME",
)

SHADOW_NAMES = ("tensorflow", "keras", "numpy", "tf_keras")


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def python_info():
    return {
        "executable": sys.executable,
        "version": list(sys.version_info[:3]),
        "version_str": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": sys.platform,
        "machine": platform.machine(),
        "system": platform.system(),
        "release": platform.release(),
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "in_venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix),
        "sys_path": list(sys.path),
        "cwd": os.getcwd(),
        "uid": os.getuid() if hasattr(os, "getuid") else None,
        "user": _user(),
    }


def _user():
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return None


def _metadata_headers(path):
    """Name, Version and Requires-Dist from a METADATA / PKG-INFO file, headers only.

    The header block ends at the first empty line (a line of spaces continues a folded
    header, as in a License text, and is no header of its own); the (often long) description after
    it is never read, which makes this several times faster than importlib.metadata,
    whose import and full e-mail parsing would dominate the doctor's static run. Bytes
    that are not UTF-8 are replaced (the doctor then finds such a requirement unreadable),
    and a header block past :data:`HEADER_CAP_CHARS` is cut there.
    """
    name = version = None
    requires = []
    seen = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            seen += len(line)
            if not line.rstrip("\r\n") or seen > HEADER_CAP_CHARS:
                break
            if line[0] in " \t":  # a folded header's continuation (a License text), never a key
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "name":
                name = value.strip()
            elif key == "version":
                version = value.strip()
            elif key == "requires-dist":
                requires.append(value.strip())
    return name, version, requires


def _purelib(info_dir):
    """``Root-Is-Purelib`` of a wheel's ``WHEEL`` file: False for a build with compiled code
    (whose NumPy ABI then matters), None when there is no readable ``WHEEL`` (egg-info, conda)."""
    import stat

    path = os.path.join(info_dir, "WHEEL")
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the open
            return None
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(4096)
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "root-is-purelib":
            return value.strip().lower() == "true"
    return None


def _dist_files(entry):
    """The metadata files of the distributions installed in one ``sys.path`` entry."""
    try:
        names = sorted(os.listdir(entry or "."))
    except OSError:
        return
    for child in names:
        if child.endswith(".dist-info"):
            yield os.path.join(entry, child, "METADATA"), entry
        elif child.endswith(".egg-info"):
            path = os.path.join(entry, child)
            yield (os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path), entry


def distributions():
    """Installed distributions, found like importlib.metadata does (``*.dist-info`` and
    ``*.egg-info`` in every ``sys.path`` entry, in order)."""
    out = []
    for entry in sys.path:
        for path, location in _dist_files(entry):
            try:
                name, version, requires = _metadata_headers(path)
            except OSError as exc:  # a broken dist-info is itself worth reporting
                out.append({"name": None, "key": None, "version": None, "error": repr(exc), "path": path})
                continue
            if not name:
                continue
            row = {
                "name": name,
                "key": _norm(name),
                "version": version,
                "location": location or os.getcwd(),
                # Every distribution's, so the doctor can walk what TensorFlow pulls in (pip check).
                "requires": requires,
                "purelib": _purelib(os.path.dirname(path)) if path.endswith("METADATA") else None,
            }
            out.append(row)
    return out


def module_origins():
    """Where ``import X`` would load X from, found without importing X."""
    import importlib.util

    out = {}
    for name in SHADOW_NAMES:
        try:
            spec = importlib.util.find_spec(name)
        except Exception as exc:
            out[name] = {"error": repr(exc)}
            continue
        if spec is None:
            out[name] = None
            continue
        out[name] = {
            "origin": spec.origin,
            "locations": list(spec.submodule_search_locations or []),
        }
    return out


def shadow_candidates():
    """Files or folders named like the packages, in the places searched before site-packages."""
    places = [os.getcwd()]
    if sys.path and sys.path[0]:
        places.append(os.path.abspath(sys.path[0]))
    found = []
    seen = set()
    for place in places:
        if place in seen:
            continue
        seen.add(place)
        for name in SHADOW_NAMES:
            for candidate in (name + ".py", name):
                path = os.path.join(place, candidate)
                if os.path.exists(path):
                    found.append({"name": name, "path": path, "is_dir": os.path.isdir(path)})
    return found


def environment():
    env = {}
    for key, value in os.environ.items():
        upper = key.upper()
        if (
            upper in ENV_NAMES
            or upper.endswith("_PROXY")
            or upper.startswith(("KERAS", "TF_", "CUDA", "XLA_"))
        ):
            env[key] = value
    return env


def urllib_view(origin):
    """The proxies urllib will really use for ``origin`` (system settings included)."""
    out = {"getproxies": {}, "bypass": None, "error": None}
    try:
        import urllib.parse
        import urllib.request

        out["getproxies"] = dict(urllib.request.getproxies())
        host = urllib.parse.urlsplit(origin).hostname or ""
        out["host"] = host
        out["bypass"] = bool(urllib.request.proxy_bypass(host)) if host else None
    except Exception as exc:
        out["error"] = repr(exc)
    return out


def _unsafe_ca_file(path, cap=16 << 20):
    """Why OpenSSL must not load the CA file ``path`` (a FIFO, device or > 16 MB), else None."""
    import stat

    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    if st is None:
        return None
    if not stat.S_ISREG(st.st_mode):
        return "%s is not a regular file (a FIFO or a device)" % path
    if st.st_size > cap:
        return "%s is %d MB, far larger than any CA bundle" % (path, st.st_size // 1000000)
    return None


def ssl_view():
    out = {"error": None}
    try:
        import ssl

        paths = ssl.get_default_verify_paths()
        out.update(
            openssl_version=ssl.OPENSSL_VERSION,
            cafile=paths.cafile,
            capath=paths.capath,
            openssl_cafile_env=paths.openssl_cafile_env,
            openssl_cafile=paths.openssl_cafile,
            openssl_capath_env=paths.openssl_capath_env,
            openssl_capath=paths.openssl_capath,
        )
        factory = getattr(ssl, "_create_default_https_context", None)
        if factory is ssl.create_default_context:
            out["https_context"] = "default"
        elif factory is getattr(ssl, "_create_unverified_context", object()):
            out["https_context"] = "unverified"
        else:
            out["https_context"] = (
                "patched:"
                + getattr(factory, "__module__", "?")
                + "."
                + getattr(factory, "__qualname__", repr(factory))
            )
        try:
            unsafe = _unsafe_ca_file(os.environ.get(paths.openssl_cafile_env or "SSL_CERT_FILE"))
            if unsafe:  # a FIFO would block OpenSSL's load forever, a huge file cost its size in RAM
                raise OSError(unsafe)
            ctx = ssl.create_default_context()
            strict = getattr(ssl, "VERIFY_X509_STRICT", 0)  # set by create_default_context on 3.13+
            out["x509_strict"] = bool(strict and ctx.verify_flags & strict)
            stats = ctx.cert_store_stats()  # truststore's context has none: NotImplementedError
            out["default_store"] = {"x509_ca": stats.get("x509_ca", 0), "x509": stats.get("x509", 0)}
        except Exception as exc:
            out["default_store"] = {"error": repr(exc)}
    except Exception as exc:
        out["error"] = repr(exc)
    return out


#: Words in a start-up hook (``*.pth``, sitecustomize) that mean it changes what ssl trusts.
TRUST_WORDS = ("truststore", "pip_system_certs", "inject_into_ssl", "_create_default_https_context")

#: pip configuration keys that change what pip trusts (``cert``) or whether it uses truststore.
PIP_TRUST_KEYS = ("cert", "use-deprecated", "use-feature")


def _head(path, limit=65536):
    """The first ``limit`` bytes of a small text file, decoded (never a hang: regular files only)."""
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return ""
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _site_dirs():
    import site

    dirs = []
    try:
        dirs.extend(site.getsitepackages())
    except Exception:
        pass
    try:
        if site.ENABLE_USER_SITE:
            dirs.append(site.getusersitepackages())
    except Exception:
        pass
    return [d for i, d in enumerate(dirs) if d and d not in dirs[:i] and os.path.isdir(d)]


def startup_hooks():
    """``*.pth`` files and sitecustomize/usercustomize modules whose code touches ssl trust."""
    found = []
    for folder in _site_dirs():
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".pth"))
        except OSError:
            continue
        for name in names[:500]:
            path = os.path.join(folder, name)
            text = _head(path, 16384)  # .pth files are a few lines
            words = [w for w in TRUST_WORDS if w in text]
            if words:
                found.append({"kind": "pth", "path": path, "mentions": words})
    for name in ("sitecustomize", "usercustomize"):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None) if module is not None else None
        if path:
            words = [w for w in TRUST_WORDS if w in _head(path)]
            if words:
                found.append({"kind": name, "path": path, "mentions": words})
    return found


def pip_trust_config():
    """pip's settings that decide what pip trusts, with where each came from (later wins).

    Only these keys are read (an index URL may hold a password): config files in pip's
    order (global, user, site, then ``PIP_CONFIG_FILE``), then ``PIP_*`` variables.
    """
    import configparser

    home = os.path.expanduser("~")
    xdg_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    xdg_dirs = (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep)
    name = "pip.ini" if sys.platform == "win32" else "pip.conf"
    files = []
    if sys.platform == "win32":
        files.append(os.path.join(os.environ.get("PROGRAMDATA") or "C:\\ProgramData", "pip", name))
    else:
        files.extend(os.path.join(d, "pip", name) for d in xdg_dirs if d)
        files.append("/etc/" + name)
    env_file = os.environ.get("PIP_CONFIG_FILE")
    if not (env_file and os.path.exists(env_file)):  # pip skips the user's files then
        files.append(os.path.join(home, ".pip", name))
        if sys.platform == "darwin":
            files.append(os.path.join(home, "Library", "Application Support", "pip", name))
        elif sys.platform == "win32":
            files.append(os.path.join(os.environ.get("APPDATA") or home, "pip", name))
        else:
            files.append(os.path.join(xdg_home, "pip", name))
    files.append(os.path.join(sys.prefix, name))
    if env_file == os.devnull:  # pip then reads no configuration file at all
        files = []
    elif env_file:
        files.append(env_file)
    out = {}
    for path in files:
        text = _head(path)
        if not text:
            continue
        parser = configparser.RawConfigParser()
        try:
            parser.read_string(text, source=path)
        except configparser.Error:
            continue
        for section in ("global", "download", "install"):
            for key in PIP_TRUST_KEYS:
                if parser.has_option(section, key):
                    out[key] = {"value": parser.get(section, key).strip(), "source": path}
    for key in PIP_TRUST_KEYS:
        variable = "PIP_" + key.upper().replace("-", "_")
        if os.environ.get(variable):
            out[key] = {"value": os.environ[variable], "source": variable}
    return out


def trust_view():
    """What replaces or extends the ssl module's trust here: truststore, pip_system_certs.

    Nothing is imported for this: ``truststore.inject_into_ssl()`` replaces ``ssl.SSLContext``
    (which ``create_default_context`` and so urllib use), so the class's module tells whether
    an injection ran at start-up; packages are found with ``find_spec`` on top-level names.
    """
    import importlib.util
    import ssl

    def label(obj):
        return getattr(obj, "__module__", "?") + "." + getattr(obj, "__qualname__", repr(obj))

    out = {
        "ssl_context_class": label(ssl.SSLContext),
        "create_default_context": label(ssl.create_default_context),
        "truststore_importable": importlib.util.find_spec("truststore") is not None,
        "pip_vendored_truststore": False,
        "hooks": startup_hooks(),
        "pip_config": pip_trust_config(),
    }
    pip_spec = importlib.util.find_spec("pip")
    for location in (pip_spec.submodule_search_locations or []) if pip_spec else []:
        if os.path.isdir(os.path.join(location, "_vendor", "truststore")):
            out["pip_vendored_truststore"] = True
    helper = sys.modules.get("pip_system_certs.wrapt_requests")
    out["pip_system_certs"] = {
        "loaded": "pip_system_certs.bootstrap" in sys.modules,
        "injected": getattr(helper, "_injected", None) if helper is not None else None,
    }
    return out


def _path_state(path):
    return {
        "path": path,
        "exists": os.path.exists(path),
        "is_dir": os.path.isdir(path),
        "is_link": os.path.islink(path),
        "writable": os.access(path, os.W_OK),
    }


def keras_paths():
    """Raw inputs of Keras' cache-dir rules (see mnist_doctor.facts.cache)."""
    home = os.path.expanduser("~")
    keras_home = os.environ.get("KERAS_HOME")
    bases = [os.path.join(home, ".keras"), "/tmp", os.path.join("/tmp", ".keras")]
    if keras_home:
        bases.insert(0, keras_home)
    return {
        "home": home,
        "keras_home": keras_home,
        "tempdir": tempfile.gettempdir(),
        "states": [_path_state(p) for p in bases],
    }


def installers():
    """Whether ``python -m pip`` can work here (uv and pipx make environments without pip)."""
    import importlib.util

    return {"pip": importlib.util.find_spec("pip") is not None}


def marker_env():
    """PEP 508 marker variables of this interpreter, to evaluate declared requirements here."""
    impl = sys.implementation
    version = "%d.%d.%d" % impl.version[:3]
    if impl.version.releaselevel != "final":
        version += impl.version.releaselevel[0] + str(impl.version.serial)
    return {
        "implementation_name": impl.name,
        "implementation_version": version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def main():
    origin = sys.argv[1] if len(sys.argv) > 1 else ""
    sections = {
        "python": python_info,
        "distributions": distributions,
        "modules": module_origins,
        "shadows": shadow_candidates,
        "env": environment,
        "urllib": lambda: urllib_view(origin),
        "ssl": ssl_view,
        "keras_paths": keras_paths,
        "markers": marker_env,
        "installers": installers,
        "trust": trust_view,
    }
    answer = {"schema": 1, "errors": {}}
    for key, func in sections.items():
        try:
            answer[key] = func()
        except Exception as exc:
            answer[key] = None
            answer["errors"][key] = repr(exc)
    emit(answer)


main()
