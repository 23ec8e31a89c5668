"""Name the reason an ``import tensorflow`` (or tf.keras) failed, from its error text and stderr.

TensorFlow's failures rarely have a telling exception type: NumPy 2 against a TF built
for NumPy 1 surfaces as ImportError, AttributeError or SystemError depending on the
release, so the diagnosis matches the *text* (banner on stderr, message, chain).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mnist_doctor.hints import pip_install, pip_uninstall


@dataclass(frozen=True)
class Diagnosis:
    """A named root cause with the exact fix."""

    name: str
    summary: str
    hint: str


@dataclass(frozen=True)
class _Rule:
    name: str
    pattern: re.Pattern[str]
    summary: str
    hint: str  # may contain {pip} placeholders filled by :func:`classify_import_failure`


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(alternatives), re.IGNORECASE)


_RULES = (
    _Rule(
        "numpy-abi",
        _rx(
            r"compiled using NumPy 1\.x cannot be run in\s+NumPy 2",
            r"_ARRAY_API not found",
            r"numpy\.core\.multiarray failed to import",
            r"numpy\.dtype size changed",
            r"module compiled against (ABI|API) version",
        ),
        "NumPy 2 with a TensorFlow built for NumPy 1.x",
        "{pip_numpy1}  (or upgrade TensorFlow: {pip_tf})",
    ),
    _Rule(
        "protobuf",
        _rx(
            r"Descriptors cannot be created directly",
            r"cannot import name 'builder' from 'google\.protobuf",
            r"google\.protobuf\.runtime_version",
            r"Detected mismatched Protobuf Gencode/Runtime",
        ),
        "protobuf does not match what this TensorFlow was generated with",
        "{pip_protobuf}  (the version TensorFlow declares; see compat.requirements)",
    ),
    _Rule(
        "tf-keras-missing",
        _rx(r"Keras cannot be imported", r"No module named 'tf_keras'"),
        "TF_USE_LEGACY_KERAS asks for tf-keras, which is not installed",
        "{pip_tf_keras}  (or unset TF_USE_LEGACY_KERAS)",
    ),
    _Rule(
        "mixed-install",
        _rx(r"tensorflow[\w/.-]*\.so: undefined symbol", r"undefined symbol: \w*(PyInit|pywrap)"),
        "TensorFlow's files come from two different builds (two TF distributions, or one over another)",
        "{pip_reinstall_tf}",
    ),
    _Rule(
        "keras-mismatch",
        _rx(
            r"Keras 3 only supports",
            r"keras\.src",
            r"module 'keras\.\w+' has no attribute",
            r"cannot import name '[\w]+' from 'keras",
            # Keras 2 / tf-keras of another minor calling TensorFlow's private API
            r"module 'tensorflow\._api\.[\w.]+' has no attribute",
        ),
        "the installed Keras does not match this TensorFlow",
        "{pip_keras}",
    ),
    _Rule(
        "cpu-instructions",
        # Not a bare "AVX": every TF import prints "optimized to use available CPU instructions ... AVX2".
        _rx(
            r"Illegal instruction", r"SIGILL", r"compiled to use AVX instructions, but these aren't available"
        ),
        "this CPU lacks instructions (AVX) the TensorFlow wheel was compiled for",
        "use a TensorFlow build for this CPU (e.g. conda-forge's tensorflow, or build from source)",
    ),
    _Rule(
        "dll",
        _rx(r"DLL load failed", r"msvcp140", r"vcruntime140"),
        "a native library TensorFlow needs could not be loaded (Windows DLL)",
        "install the Microsoft Visual C++ Redistributable (x64) and restart the shell",
    ),
    _Rule(
        "glibc",
        _rx(r"GLIBC_[\d.]+' not found", r"GLIBCXX_[\d.]+' not found"),
        "this system's C library is older than the TensorFlow wheel needs",
        "use a newer OS image, or an older TensorFlow built for this glibc",
    ),
    _Rule(
        "shadowed",
        _rx(
            r"partially initialized module '(tensorflow|keras|numpy)'",
            r"module '(tensorflow|keras|numpy)' has no attribute '(__version__|keras|datasets)'",
        ),
        "a file or folder in the working directory shadows the real package",
        "rename the file named like the package (see env.shadowing), and remove its __pycache__",
    ),
    _Rule(
        "memory",
        _rx(r"MemoryError", r"std::bad_alloc", r"Cannot allocate memory"),
        "out of memory while importing",
        "close other programs or raise the memory limit (container/ulimit)",
    ),
    _Rule(
        "not-installed",
        _rx(r"No module named '(tensorflow|keras|numpy)'"),
        "{missing} is not installed in this environment",
        "{pip_missing}",
    ),
    _Rule(
        "missing-module",
        _rx(r"No module named '([\w.]+)'"),
        "a module TensorFlow needs is not installed",
        "{pip_missing}",
    ),
)


def classify_import_failure(
    text: str, *, target_python: str, signal_name: str | None = None, tf_minor: str | None = None
) -> Diagnosis:
    """The first rule whose pattern appears in ``text`` (error + chain + stderr)."""
    if signal_name == "SIGILL":
        text = text + "\nSIGILL"
    missing = re.search(r"No module named '([\w]+)", text)
    tf_pin = f"tf-keras~={tf_minor}.0" if tf_minor else "tf-keras"
    fills = {
        "pip_numpy1": pip_install(target_python, "numpy<2"),
        "pip_tf": pip_install(target_python, "tensorflow>=2.18"),
        "pip_protobuf": pip_install(target_python, "tensorflow", "protobuf") + " --upgrade",
        "pip_tf_keras": pip_install(target_python, tf_pin),
        "pip_keras": pip_install(target_python, "tensorflow", "keras") + " --upgrade",
        "pip_reinstall_tf": pip_uninstall(target_python, "tensorflow", "tensorflow-cpu", "tensorflow-intel")
        + " && "
        + pip_install(target_python, "tensorflow")
        + " --force-reinstall",
        "missing": missing.group(1) if missing else "a module",
        "pip_missing": pip_install(target_python, missing.group(1) if missing else "tensorflow"),
    }
    for rule in _RULES:
        if rule.pattern.search(text):
            return Diagnosis(rule.name, rule.summary.format(**fills), rule.hint.format(**fills))
    if signal_name:
        return Diagnosis(
            "crash",
            f"the interpreter crashed ({signal_name}) while importing",
            'run python -X faulthandler -c "import tensorflow" to see where; reinstall TensorFlow',
        )
    return Diagnosis("unknown", "import failed", "run with --verbose for the full traceback")
