"""Import failures are named from their text (real messages seen in the TensorFlow matrix)."""

from __future__ import annotations

import pytest

from mnist_doctor.causes.imports import classify_import_failure, raising_module
from mnist_doctor.model import shell_line

TF_BANNER = (
    "I0000 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions "
    "in performance-critical operations.\nTo enable the following instructions: AVX2 AVX512F FMA, in other "
    "operations, rebuild TensorFlow with the appropriate compiler flags."
)


@pytest.mark.parametrize(
    ("text", "name", "hint_part"),
    [
        (
            "A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.0.2 as it may crash.\n"
            "AttributeError: _ARRAY_API not found",
            "numpy-abi",
            '"numpy<2"',
        ),
        (
            # TF_USE_LEGACY_KERAS=1: the chain names tf_keras (the probe records the chain)
            "ImportError: Keras cannot be imported. Check that it is installed.\n"
            "ModuleNotFoundError: No module named 'tf_keras'",
            "tf-keras-missing",
            "tf-keras~=2.16.0",
        ),
        (
            "ImportError: Keras cannot be imported. Check that it is installed.\n"
            "ModuleNotFoundError: No module named 'keras'",
            "keras-missing",
            '"keras>=3"',
        ),
        (
            "AttributeError: module 'tensorflow._api.v2.compat.v2.__internal__' has no attribute "
            "'register_load_context_function'",
            "keras-mismatch",
            "keras",
        ),
        (
            "ImportError: /v/site-packages/tensorflow/lite/python/metrics/_pywrap_metrics_wrapper.so"
            ": undefined symbol: Wrapped_PyInit__pywrap_tensorflow_lite_metrics_wrapper",
            "mixed-install",
            "--force-reinstall",
        ),
        ("TypeError: Descriptors cannot be created directly.", "protobuf", "protobuf"),
        ("ModuleNotFoundError: No module named 'tensorflow'", "not-installed", "pip install tensorflow"),
        ("ModuleNotFoundError: No module named 'ml_dtypes'", "missing-module", "pip install ml_dtypes"),
    ],
)
def test_named_causes(text, name, hint_part):
    diagnosis = classify_import_failure(text + "\n" + TF_BANNER, target_python="python", tf_minor="2.16")
    assert diagnosis.name == name
    assert hint_part in diagnosis.hint


def test_tensorflow_cpu_banner_alone_is_not_a_cpu_problem():
    assert (
        classify_import_failure("RuntimeError: boom\n" + TF_BANNER, target_python="python").name == "unknown"
    )


def test_sigill_names_missing_cpu_instructions():
    diagnosis = classify_import_failure("", target_python="python", signal_name="SIGILL")
    assert diagnosis.name == "cpu-instructions"


KERAS_MESSAGE = "ImportError: Keras cannot be imported. Check that it is installed."


@pytest.mark.parametrize(
    ("legacy", "name", "hint_part"),
    [
        (None, "keras-missing", '"keras>=3.12.0"'),
        ("0", "keras-missing", '"keras>=3.12.0"'),
        ("yes", "keras-missing", '"keras>=3.12.0"'),
        ("True", "tf-keras-missing", '"tf-keras~=2.21.0"'),
        ("1", "tf-keras-missing", '"tf-keras~=2.21.0"'),
    ],
)
def test_legacy_keras_is_blamed_only_when_tensorflow_honours_its_value(legacy, name, hint_part):
    diagnosis = classify_import_failure(
        KERAS_MESSAGE,
        target_python="python",
        tf_minor="2.21",
        legacy_keras=legacy,
        declared={"keras": ">=3.12.0", "numpy": ">=1.26.0"},
    )
    assert diagnosis.name == name
    assert hint_part in diagnosis.hint
    assert diagnosis.fixes and shell_line(diagnosis.fixes) in diagnosis.hint


#: Observed in the matrix (ml-dtypes-numpy1-tf2.21): the banner's traceback on stderr, then the error.
ML_DTYPES_STDERR = """
A module that was compiled using NumPy 1.x cannot be run in
NumPy 2.4.6 as it may crash.

Traceback (most recent call last):  File "<stdin>", line 127, in <module>
  File "/v/lib/python3.11/site-packages/tensorflow/__init__.py", line 40, in <module>
    from tensorflow.python import pywrap_tensorflow  # pylint: disable=unused-import
  File "/v/lib/python3.11/site-packages/tensorflow/python/framework/dtypes.py", line 21, in <module>
    import ml_dtypes
  File "/v/lib/python3.11/site-packages/ml_dtypes/__init__.py", line 32, in <module>
    from ml_dtypes._finfo import finfo
  File "/v/lib/python3.11/site-packages/ml_dtypes/_finfo.py", line 19, in <module>
    from ml_dtypes._ml_dtypes_ext import bfloat16
AttributeError: _ARRAY_API not found
"""


def test_the_module_whose_import_raised_is_read_from_the_traceback():
    assert raising_module(ML_DTYPES_STDERR) == "ml_dtypes"
    text = "ImportError: numpy.core.umath failed to import\n" + ML_DTYPES_STDERR
    diagnosis = classify_import_failure(
        text, target_python="python", tf_minor="2.21", declared={"ml-dtypes": "<1.0.0,>=0.5.1"}
    )
    assert (diagnosis.name, diagnosis.module) == ("numpy-abi", "ml_dtypes")
    (step,) = diagnosis.fixes
    assert step.argv == ("python", "-m", "pip", "install", "ml_dtypes<1.0.0,>=0.5.1")
    assert diagnosis.hint.startswith('python -m pip install "ml_dtypes<1.0.0,>=0.5.1"')
    assert "tensorflow>=2.18" not in diagnosis.hint
    # numpy's own frames only report the mismatch: the package that imported numpy is blamed
    numpy_frames = ML_DTYPES_STDERR.replace(
        "AttributeError",
        '  File "/v/lib/python3.11/site-packages/numpy/core/_x.py", line 1, in <module>\nAttributeError',
    )
    assert raising_module(numpy_frames) == "ml_dtypes"
    assert raising_module("no traceback at all") is None


def test_tensorflows_own_legacy_warning_names_tf_keras_when_the_value_is_not_passed():
    # Real TF 2.21 with TF_USE_LEGACY_KERAS=1 and no tf_keras: a warning on stderr, then an unchained error.
    text = (
        "WARNING:tensorflow:Your environment has TF_USE_LEGACY_KERAS set to True, but you do not have the "
        "tf_keras package installed. You must install it in order to use the legacy tf.keras.\n"
        + KERAS_MESSAGE
    )
    diagnosis = classify_import_failure(text, target_python="python", tf_minor="2.21")
    assert diagnosis.name == "tf-keras-missing" and '"tf-keras~=2.21.0"' in diagnosis.hint


def test_on_a_tensorflow_built_for_numpy1_the_first_failing_extension_is_a_symptom():
    """numpy2-tf2.16 (matrix): ml_dtypes fails first, but TensorFlow 2.16 itself needs NumPy 1.x."""
    text = "ImportError: numpy.core.umath failed to import\n" + ML_DTYPES_STDERR
    for tf_minor, declared in (("2.16", {"numpy": "<2.0.0,>=1.23.5"}), ("2.14", {"numpy": ">=1.23.5"})):
        diagnosis = classify_import_failure(
            text, target_python="python", tf_minor=tf_minor, declared=declared
        )
        assert diagnosis.name == "numpy-abi"
        assert diagnosis.summary == "NumPy 2 with a TensorFlow built for NumPy 1.x (ml_dtypes failed first)"
        assert diagnosis.hint.startswith('python -m pip install "numpy<2"'), diagnosis.hint
        assert "tensorflow>=2.18" in diagnosis.hint
