"""Where Keras will look: our prediction against the rules read in the Keras sources, and against
the real Keras 3 installed here (its ``get_file`` is the oracle, run in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from mnist_doctor.facts.cache import predict_keras_cache
from mnist_doctor.facts.flavour import KerasFlavour
from tests.cache_fixtures import OTHER_UID, can_switch_user, make_facts, run_as


def flavour(kind: str, version: str | None = "3.15.1") -> KerasFlavour:
    return KerasFlavour(
        kind, "tf.keras", "keras", Version(version) if version else None, Version("2.21"), None, "test"
    )


def paths(home: Path, keras_home: str | None = None, tmp_is_dir: bool | None = None) -> dict:
    out: dict = {"home": str(home), "keras_home": keras_home, "tempdir": "/var/tmp", "states": []}
    if tmp_is_dir is not None:  # what the target interpreter reported about /tmp
        out["states"].append(
            {"path": "/tmp", "exists": tmp_is_dir, "is_dir": tmp_is_dir, "writable": tmp_is_dir}
        )
    return out


def test_keras3_default_is_home_keras_even_before_it_exists(tmp_path: Path) -> None:
    cache = predict_keras_cache(flavour("keras3"), paths(tmp_path))
    assert cache.dataset_path == tmp_path / ".keras" / "datasets" / "mnist.npz"
    assert not cache.fallback and "creates it on first import" in cache.reason
    assert cache.candidates[0] == tmp_path / ".keras" / "datasets"
    assert Path("/tmp/.keras/datasets") in cache.candidates


def test_keras3_honours_keras_home(tmp_path: Path) -> None:
    target = tmp_path / "kh"
    cache = predict_keras_cache(flavour("keras3"), paths(tmp_path, str(target)))
    assert cache.dataset_path == target / "datasets" / "mnist.npz"
    assert not cache.keras_home_ignored and "KERAS_HOME" in cache.reason


def test_keras3_falls_back_when_keras_home_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cache = predict_keras_cache(flavour("keras3"), paths(tmp_path, str(blocker / "sub")))
    assert cache.fallback and cache.base == Path("/tmp/.keras")
    assert cache.dataset_path == Path("/tmp/.keras/datasets/mnist.npz")
    assert f"KERAS_HOME={blocker / 'sub'} cannot be used: {blocker} is a file, not a folder" in cache.reason
    assert cache.fallback_cause is not None and cache.fallback_cause.variable == "KERAS_HOME"


def test_keras3_empty_keras_home_falls_back(tmp_path: Path) -> None:
    cache = predict_keras_cache(flavour("keras3"), paths(tmp_path, ""))
    assert cache.fallback and "KERAS_HOME is empty" in cache.reason


def test_keras_home_pointing_at_a_file_is_a_problem(tmp_path: Path) -> None:
    file = tmp_path / "keras-home-file"
    file.write_text("oops")
    cache = predict_keras_cache(flavour("keras3"), paths(tmp_path, str(file)))
    assert cache.problems and "NotADirectoryError" in cache.problems[0]


@pytest.mark.parametrize(("version", "expected"), [("3.15.1", "/var/tmp/.keras"), ("3.11.3", "/tmp/.keras")])
def test_tempdir_rule_only_from_keras_3_12(tmp_path: Path, version: str, expected: str) -> None:
    """Keras ≥ 3.12 uses tempfile.gettempdir() when /tmp is not a folder; 3.11 always /tmp/.keras."""
    blocker = tmp_path / "f"
    blocker.write_text("x")
    cache = predict_keras_cache(
        flavour("keras3", version), paths(tmp_path, str(blocker / "x"), tmp_is_dir=False)
    )
    assert cache.base == Path(expected)


def test_keras2_ignores_keras_home_and_falls_back_without_home_keras(tmp_path: Path) -> None:
    """tf-keras creates KERAS_HOME at import, not ~/.keras, so get_file's os.access fails → /tmp/.keras."""
    kh = tmp_path / "kh"
    kh.mkdir()
    cache = predict_keras_cache(flavour("tf_keras", "2.21.0"), paths(tmp_path, str(kh)))
    assert cache.rules == "keras2" and cache.keras_home_ignored
    assert cache.fallback and cache.dataset_path == Path("/tmp/.keras/datasets/mnist.npz")
    assert kh / "datasets" in cache.candidates  # where the user may have put a copy, listed but not read
    (tmp_path / ".keras").mkdir()
    cache = predict_keras_cache(flavour("keras2", "2.15.0"), paths(tmp_path, str(kh)))
    assert not cache.fallback and cache.dataset_path == tmp_path / ".keras" / "datasets" / "mnist.npz"


def test_keras2_without_keras_home_uses_home_keras(tmp_path: Path) -> None:
    cache = predict_keras_cache(flavour("keras2", "2.15.0"), paths(tmp_path))
    assert not cache.fallback and not cache.keras_home_ignored
    assert cache.dataset_path == tmp_path / ".keras" / "datasets" / "mnist.npz"


@pytest.mark.skipif(can_switch_user() is not None, reason=str(can_switch_user()))
def test_unwritable_home_as_another_user_falls_back_to_tmp(shared_tmp: Path) -> None:
    """Real permissions: a root-owned 0755 home is not writable for uid 23456 → Keras 3 uses /tmp/.keras."""
    home = shared_tmp / "home"
    home.mkdir(mode=0o755)
    paths_json = {"home": str(home), "keras_home": None, "tempdir": "/tmp", "states": []}
    code = (
        "import json; from mnist_doctor.facts.cache import predict_keras_cache;"
        f"c = predict_keras_cache(None, {paths_json!r});"
        "print(json.dumps(c.to_dict()))"
    )
    run = run_as(OTHER_UID, code, {"HOME": str(home)})
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["fallback"] is True and got["dataset_path"] == "/tmp/.keras/datasets/mnist.npz"
    assert "not writable" in got["reason"]


@pytest.mark.usefixtures("processes")
def test_fact_uses_the_target_interpreters_view(
    keras_home: Path, spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: the introspection subprocess reports HOME/KERAS_HOME; Keras 3.15 is installed here."""
    target = keras_home / "elsewhere"
    monkeypatch.setenv("KERAS_HOME", str(target))
    cache = make_facts(spec).get("keras_cache")
    assert cache.rules == "keras3"
    assert cache.dataset_path == target / "datasets" / "mnist.npz"


def _keras_get_file(env: dict[str, str]) -> str:
    """Ask the real Keras 3 where it reads mnist.npz: get_file returns a cached file without downloading."""
    code = (
        "import keras; from keras.utils import get_file;"
        "print(get_file(fname='mnist.npz', origin='http://127.0.0.1:9/mnist.npz'))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd="/"
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("use_keras_home", [False, True])
@pytest.mark.usefixtures("processes")
def test_prediction_matches_real_keras3(tmp_path: Path, use_keras_home: bool) -> None:
    pytest.importorskip("keras")
    home = tmp_path / "home"
    home.mkdir()
    keras_home = str(tmp_path / "kh") if use_keras_home else None
    cache = predict_keras_cache(flavour("keras3"), paths(home, keras_home))
    cache.datasets_dir.mkdir(parents=True)
    cache.dataset_path.write_bytes(b"placeholder")  # present → get_file returns its path, no download
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY") and k != "KERAS_HOME"}
    env.update(HOME=str(home), KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    if keras_home:
        env["KERAS_HOME"] = keras_home
    assert _keras_get_file(env) == str(cache.dataset_path)
