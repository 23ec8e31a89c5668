"""Import numpy, TensorFlow and tf.keras for real, in the target interpreter, and say what happened.

Run by the doctor in a subprocess with a timeout: a crash, a hang or a NumPy ABI
banner here is evidence, not a problem. After each stage the cumulative answer is
printed again, so a segfault half-way still leaves the stages that finished.
Usage: ``python - [tf|keras]``. Standard library only, Python 3.9 syntax.
"""

import os
import sys

from _gpu_stage import gpu_stage  # mnist-doctor: include
from _prelude import answer, emit, stage  # mnist-doctor: include


def import_numpy():
    import numpy

    return {"version": numpy.__version__, "file": getattr(numpy, "__file__", None)}


def import_tensorflow():
    import tensorflow as tf

    return {"version": getattr(tf, "__version__", None), "file": getattr(tf, "__file__", None)}


def _keras_description(module, datasets):
    load = datasets.mnist.load_data
    return {
        "module": getattr(module, "__name__", type(module).__name__),
        "version": getattr(module, "__version__", None),
        "load_data_module": getattr(load, "__module__", None),
        "file": getattr(sys.modules.get(load.__module__), "__file__", None),
    }


def resolve_tf_keras():
    import tensorflow as tf

    keras = tf.keras
    out = _keras_description(keras, keras.datasets)
    mod = out["load_data_module"] or ""
    if mod.startswith("tf_keras"):
        import tf_keras

        out["kind"] = "tf_keras"
        out["version"] = out["version"] or getattr(tf_keras, "__version__", None)
        return out
    # Keras 2.13-2.15 also keep their code under keras.src: only the version tells 2 from 3.
    import keras as k

    out["version"] = out["version"] or getattr(k, "__version__", None)
    out["kind"] = "keras3" if str(out["version"] or "").startswith("3") else "keras2"
    if out["kind"] == "keras3":
        out["backend"] = k.backend.backend()
    return out


def resolve_keras():
    import keras

    out = _keras_description(keras, keras.datasets)
    out["kind"] = "keras3" if str(out.get("version", "")).startswith("3") else "keras2"
    try:
        out["backend"] = keras.backend.backend()
    except Exception:
        pass
    return out


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "tf"
    answer["mode"] = mode
    answer["env"] = {k: os.environ.get(k) for k in ("TF_USE_LEGACY_KERAS", "KERAS_BACKEND")}
    stage("numpy", import_numpy)
    if mode == "keras":
        stage("keras", resolve_keras)
    elif stage("tensorflow", import_tensorflow):
        stage("tf.keras", resolve_tf_keras)
    # Before "done": the doctor stops listening soon after the probe's last word.
    stuck = gpu_stage(answer, emit)
    answer["done"] = True
    emit()
    if stuck:
        os._exit(0)  # a wedged CUDA query thread must not hold the probe at interpreter exit


main()
