"""Call the real ``mnist.load_data()`` in the target interpreter and describe what happened.

Run by the doctor in a subprocess that it kills on timeout (Keras' download has none).
``load_data`` is called exactly as user code calls it -- ``tf.keras.datasets.mnist.load_data()``
(so ``TF_USE_LEGACY_KERAS`` is honoured by TensorFlow itself), or ``keras.datasets.mnist.load_data()``
in ``keras`` mode (Keras 3 without TensorFlow). The only addition is a transparent
recorder around the ``get_file`` that ``load_data`` calls, so the answer can name the file
it read or the file it left behind; arguments and behaviour are untouched.

The cumulative answer is printed after every stage, so a kill during the download still
tells the doctor how far it got. Usage: ``python - [auto|tf|keras] [CONFIG_JSON]``; the config
says which cache paths Keras must not be let read (``refuse``: the doctor could not keep them
safe) and whether the network is off (``offline``: every socket connect and name lookup of
this process fails, so Keras cannot download whatever it decides).
The config also names the loaders to call (``datasets``) and ``top``, the loader whose
``load_data`` says which Keras is in use and whose record is the answer's top level when it is
called (``top_file``: its file, whose paths the target predicts by Keras' rules).
Stage names and record fields match ``import_probe.py`` (numpy, tensorflow, tf.keras or keras),
then ``load_data`` and ``preprocess`` for the top loader; every other loader runs after it in
the same process (TensorFlow imported once), one stage ``load_data:<name>`` each, its own
outcome under ``answer["loaders"][name]``; the host's ``skip`` map names loaders it must not
call (a file it could not keep safe, or a download or extraction that ``--offline``/``--dry-run``
forbids), and a loader this Keras lacks (``california_housing`` before Keras 3) is recorded as
``missing``, not called.
Standard library only (numpy is the target's own, imported by Keras anyway), Python 3.9.
"""

import hashlib
import json
import os
import sys
import tempfile
import time

from _gpu_stage import gpu_stage  # mnist-doctor: include
from _prelude import answer, emit, stage  # mnist-doctor: include


def file_state(path):
    """Size, sha256 and first bytes of a file (what Keras downloaded or left behind)."""
    if not path or not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    tail = b""
    with open(path, "rb") as handle:
        head = handle.read(256)
        digest.update(head)
        tail = head
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            tail = (tail + block)[-65558:]
    return {
        # A whole zip ends with its end-of-central-directory record; a cut one does not.
        "zip_complete": head.startswith(b"PK\x03\x04") and b"PK\x05\x06" in tail,
        "path": path,
        "size": os.path.getsize(path),
        "sha256": digest.hexdigest(),
        "head": head[:64].hex(),
        "looks_html": head.lstrip()[:15]
        .lower()
        .startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")),
    }


def predicted_paths(kind, file_name):
    """Where ``get_file`` will put ``file_name`` by Keras' own rules (Keras 3 honours KERAS_HOME)."""
    home = os.path.expanduser(os.path.join("~", ".keras"))
    base = os.environ.get("KERAS_HOME", home) if kind == "keras3" else home
    tmp = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    chosen = base if os.access(base, os.W_OK) else tmp
    return [os.path.join(p, "datasets", file_name) for p in dict.fromkeys([chosen, base, tmp])]


def proxy_route():
    """The proxy urllib will use for the dataset host, without credentials (like Keras sees it)."""
    import urllib.parse
    import urllib.request

    proxy = urllib.request.getproxies().get("https")
    if not proxy:
        return None
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
    try:
        port = parts.port
    except ValueError:
        port = None
    return {
        "scheme": parts.scheme,
        "host": parts.hostname,
        "port": port,
        "has_credentials": bool(parts.username),
        "bypassed": bool(urllib.request.proxy_bypass("storage.googleapis.com")),
    }


class OfflineGuardError(OSError):
    """What a connect or lookup raises under ``--offline``."""


def forbid_network():
    """Make every network connect and name lookup of this process fail (``--offline``)."""
    import socket

    def refuse(*args, **kwargs):
        raise OfflineGuardError("mnist-doctor --offline: the network is off for this probe")

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    local = (getattr(socket, "AF_UNIX", None),)

    def connect(self, address):
        if self.family in local:
            return real_connect(self, address)
        return refuse()

    def connect_ex(self, address):
        if self.family in local:
            return real_connect_ex(self, address)
        return refuse()

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection"):
        setattr(socket, name, refuse)


def refusal(path, refused):
    """Why ``load_data`` must not run when Keras would read ``path`` (None: it may)."""
    for entry in refused:
        if os.path.normpath(entry) == os.path.normpath(path):
            return "the doctor could not keep " + path + " safe"
    return None


def choose_mode(requested):
    """``auto``: ``keras`` when TensorFlow is absent but Keras is importable from here, else ``tf``."""
    if requested in ("tf", "keras"):
        return requested
    import importlib.util

    try:
        no_tf = importlib.util.find_spec("tensorflow") is None
        has_keras = importlib.util.find_spec("keras") is not None
    except (ImportError, ValueError):
        return "tf"
    return "keras" if no_tf and has_keras else "tf"


def import_numpy():
    import numpy

    return {"version": numpy.__version__, "file": getattr(numpy, "__file__", None)}


def import_tensorflow():
    import tensorflow as tf

    return {"version": getattr(tf, "__version__", None), "file": getattr(tf, "__file__", None)}


def describe_keras(module, load):
    """What ``load_data`` resolved to: import_probe.py's tf.keras/keras stage value."""
    name = getattr(load, "__module__", "") or ""
    kind = "tf_keras" if name.startswith("tf_keras") else ("keras3" if ".src." in name else "keras2")
    out = {
        "module": getattr(module, "__name__", None),
        "api": "keras" if module.__name__ == "keras" else "tf.keras",
        "version": getattr(module, "__version__", None),
        "load_data_module": name,
        "kind": kind,
        "file": getattr(sys.modules.get(name), "__file__", None),
    }
    if kind == "keras3":
        try:
            import keras

            out["version"] = out["version"] or getattr(keras, "__version__", None)
            out["backend"] = keras.backend.backend()
        except Exception:
            pass
    return out


def install_recorder(load_data):
    """Wrap the module-level ``get_file`` that ``load_data`` looks up, only to record its answer."""
    module = sys.modules.get(getattr(load_data, "__module__", ""), None)
    real = getattr(module, "get_file", None) if module is not None else None
    calls = answer.setdefault("get_file", {})
    if real is None:
        return
    calls["module"] = module.__name__

    def recording_get_file(*args, **kwargs):
        calls["args"] = {
            "fname": kwargs.get("fname", args[0] if args else None),
            "origin": kwargs.get("origin"),
            "file_hash": kwargs.get("file_hash"),
        }
        emit()
        path = real(*args, **kwargs)
        calls["returned"] = str(path)
        return path

    module.get_file = recording_get_file


def read_config():
    try:
        config = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    except ValueError:
        config = {}
    return config if isinstance(config, dict) else {}


def main():
    mode = choose_mode(sys.argv[1] if len(sys.argv) > 1 else "auto")
    config = read_config()
    answer["mode"] = mode
    answer["offline"] = bool(config.get("offline"))
    if answer["offline"]:
        forbid_network()
    answer["env"] = {
        k: os.environ.get(k)
        for k in ("TF_USE_LEGACY_KERAS", "KERAS_BACKEND", "KERAS_HOME", "HOME", "HTTPS_PROXY", "https_proxy")
    }
    for key in ("HTTPS_PROXY", "https_proxy"):
        if answer["env"].get(key):
            answer["env"][key] = "(set)"  # never echo proxy credentials
    answer["proxy"] = proxy_route()
    found = {}
    top = str(config.get("top") or "")
    selected = [str(n) for n in (config.get("datasets") or [])]
    # The loader whose load_data says which Keras is in use (the top one, else the first asked).
    resolver = top or (selected[0] if selected else "")

    def resolve_tf_keras():
        import tensorflow as tf

        found["load"] = getattr(tf.keras.datasets, resolver).load_data  # TF honours TF_USE_LEGACY_KERAS
        found["api"], found["label"] = tf.keras, "tf.keras"
        return describe_keras(tf.keras, found["load"])

    def resolve_keras():
        import keras

        found["load"] = getattr(keras.datasets, resolver).load_data
        found["api"], found["label"] = keras, "keras"
        return describe_keras(keras, found["load"])

    stage("numpy", import_numpy)
    if mode == "keras":
        imported = stage("keras", resolve_keras)
    else:
        imported = stage("tensorflow", import_tensorflow) and stage("tf.keras", resolve_tf_keras)
    gpu_stage(answer, emit)
    if not imported:
        answer["done"] = True
        emit()
        return
    kind = answer["stages"][-1]["value"]["kind"]
    answer["predicted_paths"] = predicted_paths(kind, str(config.get("top_file") or ""))
    if top in selected:
        load_top(found, config)
    skip = config.get("skip") or {}
    for name in selected:
        if name != top:
            load_other(found["api"], found["label"], name, skip.get(name))
    answer["done"] = True
    emit()


def load_top(found, config):
    """The loader named ``top`` (the default one), as before ``--dataset``: its fields stay at the
    top of the answer, with its labels' range and class counts and the tutorial's first step."""
    reason = refusal(answer["predicted_paths"][0], config.get("refuse") or [])
    if reason:
        answer["refused"] = {"path": answer["predicted_paths"][0], "reason": reason}
        return
    install_recorder(found["load"])
    data = {}

    def do_load():
        start = time.monotonic()
        (x_train, y_train), (x_test, y_test) = found["load"]()
        data.update(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
        import numpy as np

        arrays = {}
        for name, arr in sorted(data.items()):
            arrays[name] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}
        for name in ("y_train", "y_test"):
            labels = data[name]
            arrays[name]["min"] = int(labels.min())
            arrays[name]["max"] = int(labels.max())
            arrays[name]["class_counts"] = [int(c) for c in np.bincount(labels.astype("int64"), minlength=10)]
        return {
            "arrays": arrays,
            "elapsed_s": round(time.monotonic() - start, 3),
            "file": file_state(answer.get("get_file", {}).get("returned")),
        }

    if not stage("load_data", do_load):
        answer["left_behind"] = [s for s in (file_state(p) for p in answer["predicted_paths"]) if s]
        error = answer["stages"][-1].get("exception") or {}
        if any(
            "CertificateVerify" in c.get("type", "") or "CERTIFICATE_VERIFY_FAILED" in c.get("message", "")
            for c in [error, *error.get("chain", [])]
        ):
            answer["tls"] = tls_evidence()
    else:

        def do_sanity():
            # The tutorial's first step (x / 255 as float32, a channel axis), judged without
            # materialising it: two float copies of 60000 images cost 375 MB and most of the
            # probe's time. One image goes through the real conversion; min and max of the
            # whole array are taken on the uint8 values, which scale the same way.
            raw = data["x_train"]
            sample = raw[:1].astype("float32") / 255.0
            return {
                "min": float(raw.min()) / 255.0,
                "max": float(raw.max()) / 255.0,
                "shape": [*raw.shape, 1],
                "dtype": str(sample[..., None].dtype),
            }

        stage("preprocess", do_sanity)


def summarize(value):
    """Shape and dtype of each array ``load_data`` returned ((x_train, y_train), (x_test, y_test))."""
    names = ("x_train", "y_train", "x_test", "y_test")
    arrays = {}
    try:
        (x_train, y_train), (x_test, y_test) = value
    except (TypeError, ValueError):
        return {"unexpected": type(value).__name__}
    values = (x_train, y_train, x_test, y_test)
    for index, name in enumerate(names):
        arr = values[index]
        arrays[name] = {"shape": list(getattr(arr, "shape", ())), "dtype": str(getattr(arr, "dtype", ""))}
    return arrays


def path_state(path):
    """``file_state`` for a file; a folder (an extracted archive) is named as one."""
    if path and os.path.isdir(path):
        return {"path": path, "dir": True, "entries": sorted(os.listdir(path))[:50]}
    return file_state(path)


def record_get_file(load, record):
    """Like ``install_recorder``, for one loader: every ``get_file`` call it makes, in order."""
    module = sys.modules.get(getattr(load, "__module__", ""), None)
    real = getattr(module, "get_file", None) if module is not None else None
    calls = record.setdefault("get_file", [])
    if real is None:
        return
    if getattr(real, "mnist_doctor_real", None) is not None:
        real = real.mnist_doctor_real  # already wrapped: record into this loader only, never twice

    def recording_get_file(*args, **kwargs):
        call = {
            "fname": kwargs.get("fname", args[0] if args else None),
            "origin": kwargs.get("origin"),
            "file_hash": kwargs.get("file_hash"),
        }
        calls.append(call)
        emit()
        path = real(*args, **kwargs)
        call["returned"] = str(path)
        return path

    recording_get_file.mnist_doctor_real = real
    module.get_file = recording_get_file


def load_other(api, label, name, skip_reason):
    """Call ``<api>.datasets.<name>.load_data()`` as user code does; record its own outcome."""
    record = {"call": label + ".datasets." + name + ".load_data()"}
    answer.setdefault("loaders", {})[name] = record
    if skip_reason:
        record["status"] = "refused"
        record["reason"] = str(skip_reason)
        emit()
        return
    try:
        load = getattr(api.datasets, name).load_data
    except AttributeError as exc:
        record["status"] = "missing"
        record["reason"] = type(exc).__name__ + ": " + str(exc)[:300]
        emit()
        return
    record["status"] = "started"
    record_get_file(load, record)

    def do_load():
        start = time.monotonic()
        value = load()
        return {
            "arrays": summarize(value),
            "elapsed_s": round(time.monotonic() - start, 3),
            "files": [path_state(c.get("returned")) for c in record["get_file"]],
        }

    ok = stage("load_data:" + name, do_load)
    record["status"] = "ok" if ok else "failed"
    if not ok:
        record["left_behind"] = [s for s in (path_state(c.get("returned")) for c in record["get_file"]) if s]
        error = answer["stages"][-1].get("exception") or {}
        if any(
            "CertificateVerify" in c.get("type", "") or "CERTIFICATE_VERIFY_FAILED" in c.get("message", "")
            for c in [error, *error.get("chain", [])]
        ):
            calls = record["get_file"]
            record["tls"] = tls_evidence(calls[-1].get("origin") if calls else None)
    emit()


def tls_evidence(origin=None):
    """What the target's trust store holds and who issued the certificate it was shown."""
    import ssl

    out = {}
    try:
        paths = ssl.get_default_verify_paths()
        out["verify_paths"] = {
            "cafile": paths.cafile,
            "capath": paths.capath,
            "openssl_cafile_env": paths.openssl_cafile_env,
            "env_cafile": os.environ.get(paths.openssl_cafile_env),
        }
        out["ca_count"] = ssl.create_default_context().cert_store_stats().get("x509_ca")
    except Exception as exc:
        out["store_error"] = repr(exc)
    origin = origin or (answer.get("get_file", {}).get("args") or {}).get("origin") or ""
    try:
        out["peer"] = peer_certificate(origin)
    except Exception as exc:
        out["peer_error"] = type(exc).__name__ + ": " + str(exc)[:300]
    return out


def peer_certificate(origin):
    """Subject and issuer of the certificate presented for ``origin``, via the same proxy as urllib."""
    import base64
    import http.client
    import ssl
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(origin)
    host, port = parts.hostname, parts.port or 443
    proxy = urllib.request.getproxies().get("https")
    if proxy and urllib.request.proxy_bypass(host):
        proxy = None
    context = ssl._create_unverified_context()
    if proxy:
        pp = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
        headers = {}
        if pp.username:
            creds = urllib.parse.unquote(pp.username) + ":" + urllib.parse.unquote(pp.password or "")
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
        conn = http.client.HTTPSConnection(pp.hostname, pp.port or 8080, context=context, timeout=5)
        conn.set_tunnel(host, port, headers=headers)
    else:
        conn = http.client.HTTPSConnection(host, port, context=context, timeout=5)
    try:
        conn.connect()
        der = conn.sock.getpeercert(True)
    finally:
        conn.close()
    pem = ssl.DER_cert_to_PEM_cert(der)
    handle, name = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(pem)
        decoded = ssl._ssl._test_decode_cert(name)
    finally:
        os.unlink(name)

    def flat(rdns):
        return {k: v for rdn in rdns for (k, v) in rdn}

    return {
        "subject": flat(decoded.get("subject", ())),
        "issuer": flat(decoded.get("issuer", ())),
        "via_proxy": bool(proxy),
    }


main()
