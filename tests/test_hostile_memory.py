"""Hostile inputs that used to cost gigabytes or minutes: zip bombs, a sparse 20 GB file, a CA
"bundle" that is /dev/urandom, a FIFO or a huge junk file, and downloads that trickle, flood or
reset. Each run ends with a finding, within its bound, leaving no partial file.

Real parts: the real CLI in subprocesses (peak RSS read from ``wait4``), real files (sparse, a
FIFO, a character device), loopback HTTP servers on 127.0.0.1 that misbehave, a real SIGINT.
RSS and time bounds are the promises themselves (≤ 500 MB, ≤ --timeout + 2 s), asserted with
margins for machine noise; the measured numbers come from benchmarks/bench_memory.py.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from mnist_doctor.checks.tls import inspect_ca_file
from mnist_doctor.datasets import verification
from testkit.doctor import clean_env
from testkit.hostile import (
    doctor_argv,
    make_sparse,
    make_zip_bomb,
    misbehaving_server,
    run_measured,
)

#: The memory promise for the doctor's own processes (TensorFlow's import aside).
RSS_LIMIT_MB = 500
#: Slack on top of --timeout + 2 s for a loaded 2-core machine.
NOISE_S = 3.0


@pytest.fixture(scope="session")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    return {
        "declared": make_zip_bomb(folder / "declared.npz", 512 << 20),
        "lying": make_zip_bomb(folder / "lying.npz", 512 << 20, honest=False),
    }


def synthetic_env(home: Path, good_npz: Path, **extra: str) -> dict[str, str]:
    data = good_npz.read_bytes()
    return clean_env(
        home,
        MNIST_DOCTOR_SHA256=hashlib.sha256(data).hexdigest(),
        MNIST_DOCTOR_SIZE=str(len(data)),
        **extra,
    )


# ---------------------------------------------------------------- zip bombs and giant files


@pytest.mark.parametrize("kind", ["declared", "lying"])
@pytest.mark.usefixtures("processes")
def test_zip_bomb_given_to_seed_is_refused_in_bounded_memory(
    bombs: dict[str, Path], home: Path, tmp_path: Path, kind: str
) -> None:
    run = run_measured(doctor_argv("--seed", str(bombs[kind])), clean_env(home), cwd=tmp_path)
    assert run.code == 1, run.output
    assert "refused" in run.output and ("zip bomb" if kind == "declared" else "corrupt") in run.output
    assert run.max_rss_mb < RSS_LIMIT_MB, run.max_rss_mb
    assert not (home / ".keras" / "datasets" / "mnist.npz").exists()


@pytest.mark.parametrize("kind", ["declared", "lying"])
@pytest.mark.usefixtures("processes")
def test_zip_bomb_in_the_cache_is_a_finding(
    bombs: dict[str, Path], home: Path, tmp_path: Path, kind: str
) -> None:
    folder = home / ".keras" / "datasets"
    folder.mkdir(parents=True)
    (folder / "mnist.npz").write_bytes(bombs[kind].read_bytes())
    run = run_measured(
        doctor_argv("--select", "cache.integrity", "--offline", "--format", "json"),
        clean_env(home),
        cwd=tmp_path,
    )
    assert run.code == 1, run.output
    assert run.max_rss_mb < RSS_LIMIT_MB, run.max_rss_mb
    import json

    result = next(r for r in json.loads(run.stdout)["results"] if r["id"] == "cache.integrity")
    assert result["status"] == "fail"
    assert ("zip bomb" if kind == "declared" else "corrupt") in result["summary"]
    assert (folder / "mnist.npz").read_bytes() == bombs[kind].read_bytes()  # a diagnosis changes nothing


def test_stream_reader_stops_a_bomb_without_inflating(bombs: dict[str, Path], spec) -> None:
    """The declared bomb is judged from the zip directory alone; the lying one stops at its declared size."""
    declared = verification.read_content(bombs["declared"], spec)
    assert declared.bomb and declared.inflated == 0
    lying = verification.read_content(bombs["lying"], spec)
    assert lying.error and lying.inflated <= spec.unpacked_limit()


@pytest.mark.usefixtures("processes")
def test_sparse_20_gb_file_is_refused_by_size_without_reading(home: Path, tmp_path: Path, spec) -> None:
    sparse = make_sparse(tmp_path / "mnist.npz")
    report = verification.inspect_file(sparse, spec)
    assert report.verdict == verification.TOO_LARGE and report.sha256 is None  # never hashed
    run = run_measured(doctor_argv("--seed", str(sparse)), clean_env(home), cwd=tmp_path, timeout=60)
    assert run.code == 1 and "far larger than the dataset" in run.output, run.output
    assert run.seconds < 20, run.seconds  # hashing 20 GB took 43 s; refusing by size takes ~1 s
    folder = home / ".keras" / "datasets"
    folder.mkdir(parents=True)
    os.link(sparse, folder / "mnist.npz")
    run = run_measured(doctor_argv("--select", "cache.integrity", "--offline"), clean_env(home), cwd=tmp_path)
    assert run.code == 1 and "far larger" in run.output and run.seconds < 20, run.output


@pytest.mark.usefixtures("processes")
def test_seed_of_a_fifo_or_device_is_a_usage_error_not_a_hang(home: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "mnist.npz"
    os.mkfifo(fifo)
    for source in (fifo, Path("/dev/zero")):
        run = run_measured(doctor_argv("--seed", str(source)), clean_env(home), cwd=tmp_path, timeout=60)
        assert run.code == 2 and "not a regular file" in run.output, run.output


# ---------------------------------------------------------------- CA files


@pytest.mark.parametrize("kind", ["urandom", "fifo", "junk"])
@pytest.mark.usefixtures("processes")
def test_hostile_ssl_cert_file_is_a_finding(home: Path, tmp_path: Path, kind: str) -> None:
    if kind == "urandom":
        path = "/dev/urandom"
    elif kind == "fifo":
        path = str(tmp_path / "ca.pem")
        os.mkfifo(path)
    else:
        path = str(tmp_path / "junk.pem")
        with open(path, "wb") as handle:  # 1 GB of "text", sparse: costs no disk
            handle.write(b"-----BEGIN CERTIFICATE-----\n")
            handle.truncate(1 << 30)
    usable, why = inspect_ca_file(path)
    assert not usable and ("device" in why or "FIFO" in why or "far larger" in why), why
    env = clean_env(home, SSL_CERT_FILE=path)
    run = run_measured(
        doctor_argv("--select", "tls.cert_env", "--offline", "--timeout", "10"), env, cwd=tmp_path, timeout=60
    )
    assert run.code == 1 and "SSL_CERT_FILE is set but unusable" in run.output, run.output
    assert run.max_rss_mb < RSS_LIMIT_MB and run.seconds < 10 + 2 + NOISE_S, (run.max_rss_mb, run.seconds)


@pytest.mark.parametrize("kind", ["urandom", "fifo"])
@pytest.mark.usefixtures("processes")
def test_hostile_requests_ca_bundle_is_never_loaded(home: Path, tmp_path: Path, kind: str) -> None:
    """requests runs in the doctor's own process: OpenSSL must never be handed a CA file without end."""
    path = "/dev/urandom"
    if kind == "fifo":
        path = str(tmp_path / "bundle.pem")
        os.mkfifo(path)
    env = clean_env(home, REQUESTS_CA_BUNDLE=path, HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="")
    run = run_measured(
        doctor_argv("--select", "network.requests", "--format", "json", "--timeout", "10"),
        env,
        cwd=tmp_path,
        timeout=60,
    )
    assert "UnsafeCABundle" in run.output, run.output[-2000:]
    assert run.max_rss_mb < RSS_LIMIT_MB and run.seconds < 10 + 2 + NOISE_S, (run.max_rss_mb, run.seconds)


@pytest.mark.usefixtures("processes")
def test_fetch_refuses_a_hostile_ssl_cert_file_before_connecting(home: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    env = clean_env(home, SSL_CERT_FILE=str(fifo))
    run = run_measured(
        doctor_argv("--fetch", "--mirror", "https://127.0.0.1:9/mnist.npz", "--timeout", "10"),
        env,
        cwd=tmp_path,
    )
    assert run.code == 1 and "SSL_CERT_FILE" in run.output and "FIFO" in run.output, run.output
    assert run.seconds < 10 + 2 + NOISE_S


# ---------------------------------------------------------------- downloads that never end well

FETCH_TIMEOUT = 5


@pytest.mark.parametrize("mode", ["trickle-headers", "trickle-body", "endless", "endless-declared", "reset"])
@pytest.mark.usefixtures("processes")
def test_misbehaving_mirror_ends_within_the_budget(
    home: Path, tmp_path: Path, good_npz: Path, mode: str
) -> None:
    env = synthetic_env(home, good_npz)
    with misbehaving_server(mode, good_npz.read_bytes()) as (url, stats):
        run = run_measured(
            doctor_argv("--fetch", "--mirror", url, "--timeout", str(FETCH_TIMEOUT)),
            env,
            cwd=tmp_path,
            timeout=60,
        )
    assert run.code == 1, run.output
    assert run.seconds < FETCH_TIMEOUT + 2 + NOISE_S, run.seconds
    assert run.max_rss_mb < RSS_LIMIT_MB, run.max_rss_mb
    folder = home / ".keras" / "datasets"
    assert not folder.exists() or list(folder.iterdir()) == []  # no .part, no mnist.npz
    assert stats.connections >= 1 and "Traceback" not in run.output
    expected = {
        "trickle-headers": "--timeout reached",
        "trickle-body": "--timeout reached",
        "endless": "cut off",
        "endless-declared": "announces",
        "reset": "ConnectionResetError",
    }[mode]
    assert expected in run.output, run.output


@pytest.mark.usefixtures("processes")
def test_sigint_during_fetch_exits_130_and_removes_the_partial_file(
    home: Path, tmp_path: Path, good_npz: Path
) -> None:
    """A real SIGINT to the real process while the body trickles in: exit 130 at once, no .part."""
    env = synthetic_env(home, good_npz)
    folder = home / ".keras" / "datasets"
    seen: dict[str, object] = {}

    def interrupt_mid_download(proc: object) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if folder.exists() and any(p.name.endswith(".part") for p in folder.iterdir()):
                break
            time.sleep(0.05)
        seen["partials"] = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
        time.sleep(0.3)  # a few body bytes are in the temp file now
        seen["signalled"] = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)  # type: ignore[attr-defined]

    with misbehaving_server("trickle-body", good_npz.read_bytes(), interval=0.05) as (url, _):
        run = run_measured(
            doctor_argv("--fetch", "--mirror", url, "--timeout", "60"),
            env,
            cwd=tmp_path,
            timeout=60,
            on_start=interrupt_mid_download,
        )
    latency = time.monotonic() - float(seen["signalled"])  # type: ignore[arg-type]
    assert seen["partials"], "the download never started"
    assert run.code == 130, run.output
    assert latency < 2 + NOISE_S, latency
    assert "Traceback" not in run.output
    # the temp file is gone, nothing installed, and the folders made for it are removed again
    assert not folder.exists() or list(folder.iterdir()) == []
    assert not (home / ".keras").exists()
