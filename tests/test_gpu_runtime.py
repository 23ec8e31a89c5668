"""TensorFlow's own view of the GPU: the probes' ``gpu`` record, bounded and never breaking a stage,
and TensorFlow's log lines classified. Real TensorFlow where marked, real fake packages otherwise."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from mnist_doctor.facts.gpu_runtime import classify_stderr, from_probe
from mnist_doctor.facts.load_probe import run_load_probe
from mnist_doctor.probing.subproc import run_script
from testkit.doctor import clean_env
from tests.gpu_fixtures import path_with
from tests.marks import needs_tf

#: Lines as TensorFlow prints them (the first two captured from TF 2.21 on this machine, no GPU).
TF_LINES = {
    "no-cuda-driver": "I0000 00:00:1795591631.134574    1348 cudart_stub.cc:31] Could not find cuda drivers "
    "on your machine, GPU will not be used.",
    "cuinit-failed": "E0000 00:00:1795591632.047205    1348 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "missing-library": "W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load "
    "dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: cannot open shared object file",
    "missing-gpu-libraries": "W tensorflow/core/common_runtime/gpu/gpu_device.cc:1850] Cannot dlopen some "
    "GPU libraries. Please make sure the missing libraries mentioned above are installed properly",
    "cudnn-mismatch": "E tensorflow/compiler/xla/stream_executor/cuda/cuda_dnn.cc:425] Loaded runtime CuDNN "
    "library: 8.1.0 but source was compiled with: 8.6.0.  CuDNN library needs to have matching major version",
    "driver-too-old": "E cuda_driver.cc:1] failed call to cuInit: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: "
    "system has unsupported display driver / cuda driver combination",
    "no-device": "E cuda_driver.cc:282] failed call to cuInit: CUDA_ERROR_NO_DEVICE: "
    "no CUDA-capable device is detected",
}


@pytest.mark.parametrize("name", sorted(TF_LINES))
def test_each_tf_line_is_named(name):
    found = [f.name for f in classify_stderr("noise\n" + TF_LINES[name] + "\nmore noise")]
    assert name in found


def test_classification_keeps_the_message_without_the_log_prefix():
    (first, *_) = classify_stderr(TF_LINES["no-cuda-driver"])
    assert first.line == "Could not find cuda drivers on your machine, GPU will not be used."


def test_old_style_log_prefix_is_stripped_too():
    (first, *_) = classify_stderr(TF_LINES["missing-gpu-libraries"])
    assert first.line.startswith("Cannot dlopen some GPU libraries.")


def test_unrelated_stderr_names_nothing():
    assert classify_stderr("oneDNN custom operations are on.\nThis TensorFlow binary is optimized") == []


def fake_tensorflow(where: Path, body: str) -> Path:
    """A real package named ``tensorflow`` in ``where`` (the probe's working directory)."""
    pkg = where / "tensorflow"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return where


HANGING = """
    import time
    __version__ = "0.0.fake"
    class config:
        @staticmethod
        def list_physical_devices(kind):
            time.sleep(600)
    class sysconfig:
        @staticmethod
        def get_build_info():
            return {"is_cuda_build": True, "cuda_version": "12.5.1", "cudnn_version": "9"}
"""

RAISING = """
    __version__ = "0.0.fake"
    class config:
        @staticmethod
        def list_physical_devices(kind):
            raise RuntimeError("CUDA exploded")
    class sysconfig:
        @staticmethod
        def get_build_info():
            return {"is_cuda_build": False, "cuda_version": None, "odd": object()}
"""


@pytest.mark.usefixtures("processes")
def test_hanging_gpu_query_is_cut_at_its_cap_and_the_probe_still_ends(tmp_path):
    cwd = fake_tensorflow(tmp_path, HANGING)
    start = time.monotonic()
    run = run_script(sys.executable, "import_probe.py", ["tf"], timeout=60, cwd=str(cwd))
    elapsed = time.monotonic() - start
    assert not run.timed_out and run.returncode == 0, run.stderr[-2000:]
    assert elapsed < 10 + 10, elapsed  # the 10 s cap plus numpy's import, with a margin
    answer = run.answer or {}
    assert answer["done"] is True
    assert answer["gpu"]["timed_out"] is True
    assert [s["name"] for s in answer["stages"]] == ["numpy", "tensorflow", "tf.keras"]
    assert from_probe(answer, run.stderr).state == "timed_out"


@pytest.mark.usefixtures("processes")
def test_raising_gpu_query_is_recorded_and_breaks_no_stage(tmp_path):
    cwd = fake_tensorflow(tmp_path, RAISING)
    run = run_script(sys.executable, "import_probe.py", ["tf"], timeout=60, cwd=str(cwd))
    answer = run.answer or {}
    assert answer["done"] is True
    assert answer["stages"][1] == {**answer["stages"][1], "name": "tensorflow", "ok": True}
    record = answer["gpu"]
    assert record["ok"] is True
    assert record["value"]["devices_error"] == "RuntimeError: CUDA exploded"
    assert record["value"]["build"] == {"is_cuda_build": False, "cuda_version": None}
    rt = from_probe(answer, run.stderr)
    assert rt.state == "error" and "CUDA exploded" in rt.error


@pytest.mark.usefixtures("processes")
def test_tensorflow_that_fails_to_import_means_a_skipped_record(tmp_path):
    cwd = fake_tensorflow(tmp_path, 'raise ImportError("DLL load failed")\n')
    run = run_script(sys.executable, "import_probe.py", ["tf"], timeout=60, cwd=str(cwd))
    answer = run.answer or {}
    assert answer["stages"][1]["name"] == "tensorflow" and answer["stages"][1]["ok"] is False
    assert answer["gpu"]["skipped"] == "TensorFlow was not imported"
    assert from_probe(answer, "").state == "absent"


@needs_tf
def test_real_tensorflow_without_gpu_is_ok_and_names_tf_own_reason(doctor):
    env = {"TF_CPP_MIN_LOG_LEVEL": "0", "PATH": path_with(None)}
    run = doctor("--offline", "--format", "json", "--select", "gpu.tensorflow,runtime.import", env_extra=env)
    assert run.code == 0, run.stdout[-3000:]
    r = run.result("gpu.tensorflow")
    assert r["status"] == "ok"
    assert r["summary"].startswith("no GPU visible to TensorFlow: no NVIDIA driver")
    assert r["data"]["devices"] == []
    assert r["data"]["build_info"]["is_cuda_build"] is True
    assert str(r["data"]["build_info"]["cuda_version"]).startswith("12.5")
    assert "no-cuda-driver" in r["data"]["stderr"]
    assert any("Could not find cuda drivers" in d for d in r["details"])
    assert run.result("runtime.import")["status"] == "ok"  # the gpu record changes no import verdict
    expected = doctor(
        "--offline", "--format", "json", "--select", "gpu.tensorflow", "--expect-gpu", env_extra=env
    )
    assert expected.code == 1
    failed = expected.result("gpu.tensorflow")
    assert failed["status"] == "fail" and failed["summary"].startswith("no GPU visible to TensorFlow")
    assert "install the NVIDIA driver" in failed["hint"]


@needs_tf
@pytest.mark.usefixtures("processes")
def test_load_probe_records_gpu_and_import_view_carries_it(tmp_path):
    """runtime.import reuses the load probe's imports: the gpu record must travel with them."""
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home)
    probe = run_load_probe(sys.executable, "tf", 120, env=env, cwd=str(tmp_path), offline=True)
    answer = probe.run.answer or {}
    assert answer["gpu"]["ok"] is True, answer.get("gpu")
    assert answer["gpu"]["value"]["devices"] == []
    view = probe.import_view()
    assert view.answer is not None and view.answer["gpu"] == answer["gpu"]
    assert from_probe(view.answer, view.stderr).state == "ok"
