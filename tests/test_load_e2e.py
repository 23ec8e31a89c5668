"""End-to-end faults through the REAL ``tf.keras.datasets.mnist.load_data()``.

Each test runs the real probe (TensorFlow 2.21 + Keras 3 in this venv) once, with a
temporary HOME/KERAS_HOME and an explicit environment, behind a real TLS-intercepting
mitmdump on 127.0.0.1 that answers for storage.googleapis.com. The assertion is the
*named cause* the doctor derives from what the real call raised.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from mnist_doctor.causes import Diagnosis
from mnist_doctor.causes.load import diagnose
from mnist_doctor.checks.load import failure_result, success_result
from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.datasets.table import default_loader, table, with_pins
from mnist_doctor.facts import Options
from mnist_doctor.facts.answers.load import LoaderOutcome
from mnist_doctor.facts.import_probe import ImportProbe
from mnist_doctor.facts.load_probe import LoadProbe, run_load_probe
from mnist_doctor.model import FixKind
from testkit.datasets import pins_json, write_fashion_mnist
from testkit.doctor import clean_env, run_doctor
from tests.load_fixtures import (
    HANG_TIMEOUT_S,
    PROBE_TIMEOUT_S,
    mitm_proxy,
    needs_mitmdump,
    probe_env,
    synthetic_npz,
)

pytestmark = pytest.mark.timeout(240)
HOST = MNIST.host


def probe(
    env: dict[str, str], cwd: Path, timeout: float = PROBE_TIMEOUT_S
) -> tuple[LoadProbe, Diagnosis | None]:
    run = run_load_probe(sys.executable, "tf", timeout, env=env, cwd=str(cwd))
    if mnist(run).succeeded:
        return run, None
    return run, diagnose(run, host=HOST, target_python=sys.executable)


def mnist(run: LoadProbe) -> LoaderOutcome:
    """The default loader's outcome (MNIST: the only loader these runs call)."""
    return run.outcome("mnist")


def raised(run: LoadProbe) -> str:
    """The exception load_data (or, before it, an import) raised, with its chain, as text."""
    stage = mnist(run).stage
    error = stage.exception if stage is not None and stage.exception else run.import_error
    return json.dumps(dataclasses.asdict(error)) if error is not None else ""


def assert_real_keras_call(run: LoadProbe) -> None:
    """The probe really got to Keras' get_file with load_data's own arguments."""
    args = (run.run.answer or {})["get_file"]["args"]
    assert args["origin"] == MNIST.origin, run.run.stderr[-2000:]
    assert args["file_hash"] == MNIST.sha256
    assert [c.origin for c in mnist(run).calls] == [MNIST.origin]


@needs_mitmdump
@pytest.mark.usefixtures("processes")
def test_html_block_page_is_named(tmp_path: Path) -> None:
    with mitm_proxy(tmp_path, "html") as mitm:
        run, diag = probe(probe_env(tmp_path / "home", proxy=mitm.url(), ca_file=mitm.ca_file), tmp_path)
    assert_real_keras_call(run)
    assert diag is not None and diag.name == "html-instead-of-data", diag
    assert "Incomplete or corrupted file detected" in raised(run)  # Keras' own words
    (clear,) = diag.fixes
    assert clear.kind is FixKind.CLEAR_CACHE and clear.why == "an HTML page sits where mnist.npz should be"
    assert "HTML page" in diag.summary and f"`{clear.command}`" in diag.hint


@needs_mitmdump
@pytest.mark.usefixtures("processes")
def test_truncated_transfer_is_named(tmp_path: Path) -> None:
    with mitm_proxy(tmp_path, "truncated") as mitm:
        run, diag = probe(probe_env(tmp_path / "home", proxy=mitm.url(), ca_file=mitm.ca_file), tmp_path)
    assert_real_keras_call(run)
    assert diag is not None and diag.name == "truncated", diag
    assert "retrieval incomplete" in raised(run)
    assert "4,096 of 11,490,434 bytes" in diag.summary


@needs_mitmdump
@pytest.mark.usefixtures("processes")
def test_synthetic_npz_fails_the_hash(tmp_path: Path) -> None:
    fake = synthetic_npz(tmp_path / "fake.npz")
    with mitm_proxy(tmp_path, "file", fault_file=fake) as mitm:
        run, diag = probe(probe_env(tmp_path / "home", proxy=mitm.url(), ca_file=mitm.ca_file), tmp_path)
    assert_real_keras_call(run)
    assert diag is not None and diag.name == "hash-mismatch", diag
    assert "Incomplete or corrupted file detected" in diag.summary
    assert "zip archive with other content" in diag.summary
    left = mnist(run).left_behind
    assert left and left[0].size == fake.stat().st_size  # Keras 3 leaves the bad file in place
    assert [f.kind for f in diag.fixes] == [FixKind.CLEAR_CACHE]


@needs_mitmdump
@pytest.mark.usefixtures("processes")
def test_close_delimited_cut_is_seen_through_the_hash(tmp_path: Path) -> None:
    """No Content-Length, connection closed half-way: urllib cannot tell, Keras' hash check can."""
    fake = synthetic_npz(tmp_path / "fake.npz")
    with mitm_proxy(tmp_path, "cut", fault_file=fake) as mitm:
        run, diag = probe(probe_env(tmp_path / "home", proxy=mitm.url(), ca_file=mitm.ca_file), tmp_path)
    assert_real_keras_call(run)
    assert diag is not None and diag.name == "hash-mismatch", diag
    half = fake.stat().st_size // 2
    assert f"cut short ({half:,} of {MNIST.size:,} bytes)" in diag.summary


@needs_mitmdump
@pytest.mark.usefixtures("processes")
def test_proxy_407_is_named_and_password_never_shown(tmp_path: Path) -> None:
    secret = "s3cret-Wrong"
    with mitm_proxy(tmp_path, "html", proxyauth="user:right") as mitm:
        env = probe_env(tmp_path / "home", proxy=mitm.url(f"user:{secret}"), ca_file=mitm.ca_file)
        run, diag = probe(env, tmp_path)
    assert_real_keras_call(run)
    assert diag is not None and diag.name == "proxy-auth", diag
    assert "407" in diag.summary and "credentials in HTTPS_PROXY were refused" in diag.summary
    rendered = json.dumps(
        failure_result(
            diag, run, mnist(run), default_loader(), Options(python=sys.executable, verbose=True)
        ).__dict__,
        default=str,
    )
    assert secret not in rendered and secret not in json.dumps(run.run.answer)


@needs_mitmdump
@pytest.mark.usefixtures("processes")
def test_untrusted_interception_names_the_issuer(tmp_path: Path) -> None:
    with mitm_proxy(tmp_path, "html") as mitm:  # its CA is NOT in SSL_CERT_FILE
        run, diag = probe(probe_env(tmp_path / "home", proxy=mitm.url()), tmp_path)
    assert_real_keras_call(run)
    assert diag is not None and diag.name == "tls-interception", diag
    assert "CERTIFICATE_VERIFY_FAILED" in raised(run)
    assert "mitmproxy" in diag.summary  # the issuer of the forged certificate, read from the wire
    assert "SSL_CERT_FILE" in diag.hint


@needs_mitmdump
@pytest.mark.usefixtures("processes")
def test_upstream_that_never_answers_is_killed_by_us(tmp_path: Path) -> None:
    with mitm_proxy(tmp_path, "hang") as mitm:
        env = probe_env(tmp_path / "home", proxy=mitm.url(), ca_file=mitm.ca_file)
        run, diag = probe(env, tmp_path, timeout=HANG_TIMEOUT_S)
    assert run.run.timed_out
    assert_real_keras_call(run)  # it was inside Keras' download when killed
    assert diag is not None and diag.name == "stalled", diag
    assert "killed by the doctor" in diag.summary and "no timeout" in diag.summary
    assert run.run.elapsed_s < HANG_TIMEOUT_S + 10
    # The same run, seen as the import probe's, is a healthy import (the hang came later).
    view = ImportProbe(run.import_view(), run.mode)
    assert view.finished and view.failed_stage() is None and not view.run.timed_out
    keras = view.stage("tf.keras")
    assert keras is not None and keras.value.kind == "keras3"


@pytest.mark.usefixtures("processes")
def test_closed_proxy_port_is_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        run, diag = probe(probe_env(tmp_path / "home", proxy=f"http://127.0.0.1:{port}"), tmp_path)
    assert_real_keras_call(run)
    assert diag is not None and diag.name == "connection-refused", diag
    assert f"127.0.0.1:{port}" in diag.summary


@pytest.mark.usefixtures("processes")
def test_missing_tf_keras_under_legacy_flag_is_an_import_cause(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    if any(Path(p, "tf_keras").is_dir() for p in sys.path if p):
        pytest.skip("tf-keras is installed here; the failure needs it absent")
    run, diag = probe(probe_env(tmp_path / "home", TF_USE_LEGACY_KERAS="1"), tmp_path)
    assert diag is not None and diag.name == "import-tf-keras-missing", diag
    assert "Keras cannot be imported" in raised(run)
    assert "tf-keras" in diag.hint
    view = ImportProbe(run.import_view(), run.mode)
    failed = view.failed_stage()
    assert failed is not None and failed.name == "tf.keras"  # what runtime.import would report from it


@pytest.mark.usefixtures("processes")
def test_this_machine_without_dns_through_the_cli(tmp_path: Path) -> None:
    """The issue's acceptance line: the real run says DNS, with the offline route, within the timeout."""
    try:
        socket.getaddrinfo(HOST, 443)
    except OSError:
        pass
    else:
        pytest.skip(f"{HOST} resolves here; this test is about a machine without DNS for it")
    env = clean_env(tmp_path, KERAS_HOME=str(tmp_path / ".keras"))
    done = run_doctor("--select", "load", "--format", "json", "--timeout", "90", env=env, cwd=tmp_path)
    real = done.result("load.real")
    assert done.code == 1
    assert real["status"] == "fail"
    assert real["summary"].startswith(f"load_data failed — DNS for {HOST}"), real
    assert "--seed FILE" in real["hint"] and "sha256 " in real["hint"]  # with where to get the file
    assert real["data"]["cause"] == "dns" and real["elapsed_s"] < 90


def _dataset_source() -> tuple[str, str | None]:
    path = os.environ.get("MNIST_DOCTOR_DATASET")
    if path:
        return "file", path
    if os.environ.get("MNIST_DOCTOR_INTERNET") == "1":
        try:
            socket.create_connection((HOST, 443), timeout=3).close()
            return "internet", None
        except OSError as exc:
            pytest.skip(f"MNIST_DOCTOR_INTERNET=1 but {HOST} is unreachable: {exc}")
    pytest.skip(
        "success path needs the real file (MNIST_DOCTOR_DATASET=/path/mnist.npz) "
        f"or the real host (MNIST_DOCTOR_INTERNET=1 with {HOST} reachable)"
    )
    raise AssertionError("unreachable")


def test_success_path_with_the_real_dataset(tmp_path: Path) -> None:
    kind, path = _dataset_source()
    home = tmp_path / "home"
    env = probe_env(home)
    if kind == "file":
        datasets = home / ".keras" / "datasets"
        datasets.mkdir(parents=True)
        shutil.copyfile(path, datasets / "mnist.npz")
    run, diag = probe(env, tmp_path)
    assert diag is None, diag
    result = success_result(run, mnist(run), MNIST)
    assert result.status.value == "ok", result
    arrays = result.data["arrays"]
    assert arrays["x_train"]["shape"] == [60000, 28, 28] and arrays["y_test"]["shape"] == [10000]
    assert sum(arrays["y_train"]["class_counts"]) == 60000
    preprocess = mnist(run).preprocess
    assert preprocess is not None and preprocess.shape == (60000, 28, 28, 1)
    assert preprocess.high is not None and preprocess.high <= 1.0
    if kind == "file":
        assert result.data["file"] == str(home / ".keras" / "datasets" / "mnist.npz")


@pytest.mark.usefixtures("processes")
def test_keras_mode_calls_keras_datasets_directly(tmp_path: Path) -> None:
    """``keras`` mode (Keras 3 without tf.keras) reaches the same real get_file; no DNS here → named."""
    run = run_load_probe(
        sys.executable, "keras", PROBE_TIMEOUT_S, env=probe_env(tmp_path / "home"), cwd=str(tmp_path)
    )
    (keras,) = [s for s in run.parsed.imports if s.name == "keras"]
    assert run.mode == "keras" and keras.value["api"] == "keras"
    assert_real_keras_call(run)
    diag = diagnose(run, host=HOST, target_python=sys.executable)
    try:
        socket.getaddrinfo(HOST, 443)
    except OSError:
        assert diag.name == "dns" and diag.summary.startswith(f"DNS for {HOST} failed")
    else:
        assert diag.name != "unknown", diag  # resolvable here: whatever failed must still be named


@needs_mitmdump
@pytest.mark.usefixtures("processes")
def test_full_run_says_when_network_checks_pass_but_load_data_fails(tmp_path: Path) -> None:
    """The whole doctor behind a trusted proxy that truncates the body: the HTTP stage sees a good start,
    the real load_data sees the cut, and load.consistency reports the disagreement."""
    with mitm_proxy(tmp_path, "truncated") as mitm:
        env = clean_env(
            tmp_path,
            KERAS_HOME=str(tmp_path / ".keras"),
            HTTPS_PROXY=mitm.url(),
            SSL_CERT_FILE=str(mitm.ca_file),
        )
        env.pop("REQUESTS_CA_BUNDLE", None)
        done = run_doctor("--format", "json", "--timeout", "120", env=env, cwd=tmp_path)
    ids = {r["id"]: r for r in done.json["results"]}
    if "network.http" not in ids:
        pytest.skip("the network family is not installed in this tree")
    assert ids["network.http"]["status"] == "ok", ids["network.http"]
    assert ids["load.real"]["data"]["cause"] == "truncated"
    consistency = ids["load.consistency"]  # the stages read the first bytes; the cut came later
    assert consistency["status"] == "ok"
    assert consistency["summary"].startswith("agree: the host answers")
    assert ids["load.real"]["fixes"][0]["argv"][-1] == "--fetch"  # the host works: download again


# -- other keras.datasets loaders through the same intercepting proxy (issue 14) -----------------


@needs_mitmdump
@pytest.mark.usefixtures("processes")
def test_fashion_html_download_is_named_and_removed(tmp_path: Path) -> None:
    """Keras downloads Fashion-MNIST's four files without any hash: a block page lands as the .gz."""
    loader = table()["fashion_mnist"]
    home = tmp_path / "home"
    with mitm_proxy(tmp_path, "html") as mitm:
        env = probe_env(home, proxy=mitm.url(), ca_file=mitm.ca_file)
        run = run_load_probe(
            sys.executable, "tf", PROBE_TIMEOUT_S, env=env, cwd=str(tmp_path), datasets=(loader,)
        )
    calls = run.run.answer["loaders"]["fashion_mnist"]["get_file"]
    assert [c.origin for c in run.outcome("fashion_mnist").calls] == [f.spec.origin for f in loader.files]
    assert all(c["file_hash"] is None for c in calls)  # Keras pins nothing for these
    stage = run.outcome("fashion_mnist").stage
    assert stage and stage.exception and "Not a gzipped file (b'<!')" in stage.exception.message
    diag = diagnose(run, host=HOST, target_python=sys.executable, dataset=loader)
    assert diag.name == "bad-gzip", diag
    assert "the cached train-labels-idx1-ubyte.gz is an HTML page" in diag.summary
    assert "--clear-cache --dataset fashion_mnist" in diag.hint
    new = run.others_safekeeping["fashion_mnist"]["new"]
    assert {n["outcome"] for n in new} == {"partial download, removed"} and len(new) == 4
    assert not list((home / ".keras" / "datasets" / "fashion-mnist").iterdir())  # nothing left behind


@needs_mitmdump
@pytest.mark.usefixtures("processes")
def test_fashion_synthetic_download_loads_and_verified_files_stay(tmp_path: Path) -> None:
    served = write_fashion_mnist(tmp_path / "served")
    pins = json.loads(pins_json(list(served.values())))
    loader = with_pins(table()["fashion_mnist"], {k: (v[0], v[1]) for k, v in pins.items()})
    home = tmp_path / "home"
    with mitm_proxy(tmp_path, "dir", fault_dir=tmp_path / "served") as mitm:
        env = probe_env(home, proxy=mitm.url(), ca_file=mitm.ca_file)
        run = run_load_probe(
            sys.executable, "tf", PROBE_TIMEOUT_S, env=env, cwd=str(tmp_path), datasets=(loader,)
        )
    assert run.outcome("fashion_mnist").status == "ok", run.run.stderr[-2000:]
    arrays = run.outcome("fashion_mnist").arrays
    assert arrays["x_train"].shape == (12, 28, 28) and arrays["x_test"].shape == (6, 28, 28)
    new = run.others_safekeeping["fashion_mnist"]["new"]
    assert {n["outcome"] for n in new} == {"verified download, kept"} and len(new) == 4
    cached = home / ".keras" / "datasets" / "fashion-mnist"
    assert {p.name: p.read_bytes() for p in cached.iterdir()} == {
        n: p.read_bytes() for n, p in served.items()
    }


@needs_mitmdump
@pytest.mark.usefixtures("processes")
def test_cifar_download_cut_by_our_budget_is_a_skip(tmp_path: Path) -> None:
    """cifar10's host never answers: the doctor's --timeout ends it; never a fail, nothing left behind."""
    keras_home = tmp_path / ".keras"
    with mitm_proxy(tmp_path, "hang", hosts=("www.cs.toronto.edu",)) as mitm:
        env = clean_env(
            tmp_path,
            KERAS_HOME=str(keras_home),
            HTTPS_PROXY=mitm.url(),
            SSL_CERT_FILE=str(mitm.ca_file),
            PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        )
        env.pop("REQUESTS_CA_BUNDLE", None)
        started = time.monotonic()
        done = run_doctor(
            "--select", "load", "--format", "json", "--timeout", "30", "--dataset", "cifar10",
            env=env, cwd=tmp_path,
        )  # fmt: skip
        took = time.monotonic() - started
    real = done.result("load.real")
    assert real["status"] == "skip", real
    assert (
        "cifar10: skip — load_data did not finish: cut by the doctor's budget (--timeout 30s)"
        in real["summary"]
    )
    assert real["data"]["datasets"]["cifar10"]["cut_by_budget"] is True
    assert took <= 30 + 2 + 3, took  # --timeout + 2 s, plus the doctor's own interpreter start-up
    left = [p.name for p in (keras_home / "datasets").iterdir()] if (keras_home / "datasets").exists() else []
    assert left == [], left
