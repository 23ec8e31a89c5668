"""Import failures are named from their text (real messages seen in the TensorFlow matrix)."""

from __future__ import annotations

import pytest

from mnist_doctor.import_failures import classify_import_failure

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
            "ImportError: Keras cannot be imported. Check that it is installed.",
            "tf-keras-missing",
            "tf-keras~=2.16.0",
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
