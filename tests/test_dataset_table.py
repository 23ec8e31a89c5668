"""The loader table: every row complete and consistent, --dataset parsed strictly, the test hook guarded."""

from __future__ import annotations

import hashlib
import json

import pytest

from mnist_doctor.datasets.spec import MNIST
from mnist_doctor.datasets.table import (
    PINS_ENV,
    origin_problem,
    parse_selection,
    pins_from_env,
    table,
    with_pins,
)
from mnist_doctor.errors import UsageError
from mnist_doctor.facts import Facts, Options

KERAS_LOADERS = (
    "mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters",
    "boston_housing", "california_housing",
)  # fmt: skip


def test_every_keras_loader_has_a_row_with_complete_files() -> None:
    assert tuple(table()) == KERAS_LOADERS
    for loader in table().values():
        assert loader.files, loader.name
        assert loader.call == f"{loader.name}.load_data()"
        for data_file in loader.files:
            spec = data_file.spec
            assert spec.origin.startswith("https://") and spec.origin.endswith("/" + data_file.name)
            assert spec.size > 0
            assert data_file.kind in {"npz", "idx-gz", "json", "tar-gz"}
            if data_file.keras_pin == "md5":
                assert len(data_file.md5) == 32 and not spec.sha256
            else:
                assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert (loader.archive is not None) == any(f.kind == "tar-gz" for f in loader.files)


def test_mnist_row_is_the_mnist_spec() -> None:
    assert table()["mnist"].files[0].spec == MNIST


def test_fashion_mnist_is_the_loader_keras_cannot_check() -> None:
    fashion = table()["fashion_mnist"]
    assert fashion.cache_subdir == "datasets/fashion-mnist"
    assert [f.keras_detects_corruption for f in fashion.files] == [False] * 4
    assert all(
        f.keras_detects_corruption for n, r in table().items() if n != "fashion_mnist" for f in r.files
    )


def test_cifar_layouts_differ_between_keras_lines() -> None:
    archive = table()["cifar10"].archive
    assert archive is not None
    legacy = archive.layout("tf_keras", None)
    assert legacy == archive.layout("keras2", (2, 15)) == archive.layout("keras3", (3, 5))
    assert (legacy.archive, legacy.members_dir, legacy.extracts_every_call) == (
        "cifar-10-batches-py.tar.gz", "cifar-10-batches-py", False,
    )  # fmt: skip
    new = archive.layout("keras3", (3, 15))
    assert (new.archive, new.members_dir, new.extracts_every_call) == (
        "cifar-10-batches-py-target_archive", "cifar-10-batches-py-target/cifar-10-batches-py", True,
    )  # fmt: skip
    assert "data_batch_1" in archive.members and "test_batch" in archive.members


def test_hosts_are_the_two_keras_uses() -> None:
    hosts = {h for loader in table().values() for h in loader.hosts}
    assert hosts == {"storage.googleapis.com", "www.cs.toronto.edu"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("mnist",)),
        ("mnist", ("mnist",)),
        ("cifar10,mnist", ("mnist", "cifar10")),
        ("Fashion-MNIST, mnist,mnist", ("mnist", "fashion_mnist")),
        ("all", KERAS_LOADERS),
        ("all,mnist", KERAS_LOADERS),
    ],
)
def test_selection_in_table_order_each_once(value: str | None, expected: tuple[str, ...]) -> None:
    assert parse_selection(value) == expected


@pytest.mark.parametrize(
    "value", ["", ",", "mnist,", "emnist", "x" * 10_000, "mni\x1bst", "../mnist", "ALL!"]
)
def test_bad_selection_is_a_usage_error_naming_the_choices(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_selection(value)
    assert "fashion_mnist" in (caught.value.hint or "")
    assert len(str(caught.value)) < 120


def test_a_file_url_cannot_serve_several_files() -> None:
    assert origin_problem("https://m/mnist.npz", ("mnist",)) is None
    assert origin_problem("https://m/d/", ("mnist", "cifar10")) is None
    assert "folder URL" in (origin_problem("https://m/mnist.npz", ("mnist", "cifar10")) or "")
    assert "folder URL" in (origin_problem("https://m/x.gz", ("fashion_mnist",)) or "")


def test_folder_origin_serves_every_file_by_name() -> None:
    fashion = table()["fashion_mnist"].with_origin("http://127.0.0.1:9/m/")
    assert [f.spec.origin for f in fashion.files] == [f"http://127.0.0.1:9/m/{f.name}" for f in fashion.files]
    assert [f.spec.sha256 for f in fashion.files] == [f.spec.sha256 for f in table()["fashion_mnist"].files]


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        "[]",
        '{"a": 1}',
        '{"a": ["zz", 1]}',
        '{"a": ["' + "0" * 64 + '", -1]}',
        '{"a": ["' + "0" * 64 + '", true]}',
    ],
)
def test_pins_hook_rejects_malformed_values(raw: str) -> None:
    with pytest.raises(UsageError):
        pins_from_env({PINS_ENV: raw})


def test_pins_hook_replaces_hash_and_size_of_named_files() -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    pins = pins_from_env({PINS_ENV: json.dumps({"cifar-10-python.tar.gz": [sha.upper(), 1]})})
    cifar = with_pins(table()["cifar10"], pins)
    assert (cifar.files[0].spec.sha256, cifar.files[0].spec.size) == (sha, 1)
    assert with_pins(table()["mnist"], pins) == table()["mnist"]


def test_the_datasets_fact_follows_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PINS_ENV, raising=False)
    monkeypatch.delenv("MNIST_DOCTOR_ORIGIN", raising=False)
    facts = Facts(Options(python="python", datasets=("mnist", "cifar10"), origin="http://127.0.0.1:9/m/"))
    mnist, cifar = facts.get("datasets")
    assert mnist.files[0].spec == facts.get("dataset")
    assert mnist.files[0].spec.origin == "http://127.0.0.1:9/m/mnist.npz"
    assert cifar.files[0].spec.origin == "http://127.0.0.1:9/m/cifar-10-python.tar.gz"
    assert Facts(Options(python="python")).get("datasets")[0].name == "mnist"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--dataset", "emnist"], "unknown dataset 'emnist'"),
        (["--dataset", ""], "unknown dataset '(empty)'"),
        (["--dataset", "all", "--origin", "https://127.0.0.1:9/mnist.npz"], "give a folder URL"),
        (
            ["--dataset", "fashion_mnist", "--fetch", "--mirror", "https://127.0.0.1:9/x.gz"],
            "give a folder URL",
        ),
    ],
)
@pytest.mark.usefixtures("processes")
def test_cli_refuses_a_bad_selection_with_a_usage_error(tmp_path, args: list[str], said: str) -> None:
    from testkit.doctor import clean_env, run_doctor

    run = run_doctor(*args, env=clean_env(tmp_path), timeout=60)
    assert run.code == 2, run.stderr
    assert said in run.stderr and "Traceback" not in run.stderr + run.stdout
