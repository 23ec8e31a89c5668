"""Fragment, not a script: the GPU query shared by ``import_probe.py`` and ``load_probe.py``.

:func:`mnist_doctor.probing.subproc.script_source` inlines this file where a target script says
``from _gpu_stage import gpu_stage  # mnist-doctor: include``, so each script still travels
as one file on the wire. The script passes its ``answer`` dict and ``emit`` function in.
Standard library only, Python 3.9.
"""

import sys
import time

#: Seconds the GPU query may take before the probe moves on without it (a first CUDA
#: initialisation or a wedged driver can take minutes; the query thread is then left behind).
GPU_QUERY_CAP_S = 10.0
GPU_BUILD_KEYS = (
    "is_cuda_build",
    "is_rocm_build",
    "cuda_version",
    "cudnn_version",
    "cuda_compute_capabilities",
)


def gpu_stage(answer, emit):
    """Record what TensorFlow sees of the GPU under ``answer["gpu"]``; never fails the probe.

    Kept out of ``answer["stages"]`` so that the doctor's stage logic (failed or unfinished
    stage, the import stages the load probe shares) is unchanged by it. The query runs in a
    daemon thread joined with a cap, so a slow CUDA start cannot hold the probe. Returns
    whether that thread is still stuck: a probe that then ends should leave with ``os._exit``
    rather than wait for it at interpreter exit.
    """
    import threading

    start = time.monotonic()
    record = {"name": "gpu", "ok": False}
    tf = sys.modules.get("tensorflow")
    if tf is None:
        record["skipped"] = "TensorFlow was not imported"
        answer["gpu"] = record
        emit()
        return False
    box = {}

    def plain(value):
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value][:32]
        return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)[:200]

    def query():
        try:
            found = tf.config.list_physical_devices("GPU")
            box["devices"] = [str(getattr(d, "name", d))[:200] for d in found]
        except BaseException as exc:
            box["devices_error"] = type(exc).__name__ + ": " + str(exc)[:500]
        try:
            info = dict(tf.sysconfig.get_build_info())
            box["build"] = dict((k, plain(info.get(k))) for k in GPU_BUILD_KEYS if k in info)
        except BaseException as exc:
            box["build_error"] = type(exc).__name__ + ": " + str(exc)[:500]

    worker = threading.Thread(target=query, name="mnist-doctor-gpu-query", daemon=True)
    try:
        worker.start()
        worker.join(GPU_QUERY_CAP_S)
    except BaseException as exc:
        record["error"] = type(exc).__name__ + ": " + str(exc)[:500]
    if worker.is_alive():
        record["timed_out"] = True
        record["error"] = "no answer within %gs" % GPU_QUERY_CAP_S
    elif "error" not in record:
        record["value"] = dict(box)
        record["ok"] = True
    record["elapsed_s"] = round(time.monotonic() - start, 3)
    answer["gpu"] = record
    emit()
    return worker.is_alive()
