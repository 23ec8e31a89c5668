"""``mnist-doctor fleet``'s inputs: hostile files named and skipped, usage errors in one line (unit tier).

Reports travel through copies, pipes and shared folders: every kind of broken or hostile input —
empty, binary, not UTF-8, huge, a FIFO nobody writes to, a link loop, JSON nested beyond the
parser, a number too long to read, a newer schema, another mode, secrets and control characters
in the values — must end as a named, skipped input or a safe line, never a traceback or a hang.
Also here: what a Ray node's answer becomes (read back from the driver's folder, no Ray needed).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from mnist_doctor.fleet import ray_runner, reports, sources
from mnist_doctor.fleet.model import HostReport, Unanswered
from mnist_doctor.fleet.ray_runner import _read_answers, node_result
from mnist_doctor.fleet.reports import read_input
from tests.test_json_contract import valid_document


def _json(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def test_hostile_files_are_named_and_skipped(
    fleet_cli, fleet_reports, tmp_path, monkeypatch, validator
) -> None:
    monkeypatch.setattr(sources, "FILE_CAP_BYTES", 512 * 1024)
    monkeypatch.setattr(reports, "MAX_VALUES", 100_000)
    folder = tmp_path / "in"
    folder.mkdir()
    _json(folder / "good.json", fleet_reports["gpu-04"])
    (folder / "empty.json").write_bytes(b"")
    (folder / "blank.json").write_bytes(b" \n\t ")
    (folder / "binary.json").write_bytes(b"\x00\x01\x02\xff" * 100)
    (folder / "latin1.json").write_bytes('{"host": "café"}'.encode("latin-1"))
    (folder / "huge.json").write_bytes(b" " * (512 * 1024 + 1))
    (folder / "deep.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    (folder / "many.json").write_bytes(b"[" + b"[]," * 150_000 + b"[]]")  # 150,001 lists
    (folder / "bignum.json").write_bytes(b'{"schema": ' + b"9" * 5000 + b"}")
    (folder / "array.json").write_text("[1, 2]")
    newer = dict(fleet_reports["gpu-04"], schema=3)
    _json(folder / "newer.json", newer)
    _json(folder / "older.json", dict(fleet_reports["gpu-04"], schema=1))
    _json(folder / "usage.json", {"schema": 2, "mode": "usage-error", "tool": {"name": "mnist-doctor"}})
    _json(folder / "other.json", {"schema": 2, "mode": "diagnose", "tool": {"name": "other-doctor"}})
    broken = json.loads(json.dumps(fleet_reports["gpu-02"]))
    broken["diagnosis"]["problems"] = "none"
    _json(folder / "typed.json", broken)
    os.mkfifo(folder / "fifo.json")
    (folder / "loop").symlink_to(folder)  # a folder that contains itself: not followed
    (folder / "notes.txt").write_text("not a .json file: not read")
    started = time.monotonic()
    run = fleet_cli(str(folder), "--format", "json")
    assert time.monotonic() - started < 10, "a FIFO or a loop must not hang the run"
    doc = valid_document(validator, run, "fleet")
    assert run.code == 0 and [h["host"] for h in doc["hosts"]] == ["gpu-04"]
    reasons = {Path(s["source"]).name: s["reason"] for s in doc["skipped"]}
    assert reasons == {
        "array.json": "is not a report (a JSON list)",
        "bignum.json": reasons["bignum.json"],
        "binary.json": "is not UTF-8 text (byte 0xff at offset 3)",
        "blank.json": "is empty",
        "deep.json": "is not JSON (nested too deeply to be a report)",
        "empty.json": "is empty",
        "fifo.json": "is a FIFO, not a report file",
        "huge.json": "is larger than 0.5 MB: not a report",
        "latin1.json": "is not UTF-8 text (byte 0xe9 at offset 13)",
        "many.json": "holds more than 100000 values: not reports",
        "newer.json": "has schema 3, newer than this mnist-doctor reads (2): upgrade mnist-doctor here",
        "older.json": "has schema 1 (an older mnist-doctor, no diagnosis): run it again there",
        "other.json": "is not an mnist-doctor report (no tool.name mnist-doctor)",
        "typed.json": "is not a report this version reads: diagnosis.problems is not a list",
        "usage.json": "is not a diagnosis (mode usage-error): run mnist-doctor --format json",
    }
    assert reasons["bignum.json"].startswith("is not JSON ("), reasons["bignum.json"]
    assert "Traceback" not in run.stderr


def test_values_in_a_report_are_redacted_and_escaped(fleet_cli, fleet_reports, tmp_path) -> None:
    doc = fleet_reports["gpu-02"]
    doc["environment"]["host"] = "evil\x1b[2J\x07host"
    doc["diagnosis"]["problems"][0]["title"] = "see https://bob:s3cret@mirror.corp/x?token=abc123 |pipe|"
    _json(tmp_path / "evil.json", doc)
    for fmt in ("rich", "markdown", "json"):
        run = fleet_cli(str(tmp_path / "evil.json"), "--format", fmt)
        out = run.stdout + run.stderr
        assert run.code == 1
        assert "s3cret" not in out and "abc123" not in out, fmt
        assert "\x1b" not in out and "\x07" not in out, fmt
    markdown = fleet_cli(str(tmp_path / "evil.json"), "--format", "markdown").stdout
    assert "\\|pipe\\|" in markdown  # a value cannot open a table column


def test_concatenated_reports_on_stdin(fleet_cli, fleet_reports, tmp_path) -> None:
    """``for h in …; do ssh $h mnist-doctor --format json; done | mnist-doctor fleet -``."""
    stream = tmp_path / "stdin"
    stream.write_text("".join(json.dumps(d, indent=2) + "\n" for d in fleet_reports.values()) + "{oops")
    run = fleet_cli("-", "--format", "json", stdin=stream)
    doc = json.loads(run.stdout)
    assert run.code == 1 and len(doc["hosts"]) == 4
    assert [h["source"] for h in doc["hosts"]] == ["-#1", "-#2", "-#3", "-#4"]
    [skipped] = doc["skipped"]
    assert skipped["source"] == "-#5" and skipped["reason"].startswith("then not JSON")


def test_powershell_utf16_reports_are_read(fleet_cli, fleet_reports, tmp_path) -> None:
    (tmp_path / "win.json").write_bytes(b"\xff\xfe" + json.dumps(fleet_reports["gpu-04"]).encode("utf-16-le"))
    run = fleet_cli(str(tmp_path / "win.json"), "--format", "json")
    assert run.code == 0 and json.loads(run.stdout)["healthy"] == ["gpu-04"]


def test_the_same_file_twice_counts_once(fleet_cli, fleet_reports, tmp_path) -> None:
    path = _json(tmp_path / "a.json", fleet_reports["gpu-04"])
    (tmp_path / "link.json").symlink_to(path)
    doc = json.loads(fleet_cli(str(path), str(tmp_path), "--format", "json").stdout)
    assert len(doc["hosts"]) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing to merge: give report files or folders, - for standard input, or --ray"),
        (
            ("r.json", "--offline"),
            "--offline goes with --ray (a report file was made with the flags of its own run)",
        ),
        (("r.json", "--ray"), "report files do not go with --ray"),
        (("--ray", "reports/"), "--ray 'reports/' is not a Ray address (HOST:PORT, ray://HOST:PORT or auto)"),
        (("r.json", "--timeout", "nan"), "argument --timeout: must be more than 0 and at most 3600 seconds"),
        (("--format", "xml", "r.json"), "argument --format: invalid choice: 'xml'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(fleet_cli, args, message) -> None:
    run = fleet_cli(*args)
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.startswith(f"mnist-doctor fleet: error: {message}"), run.stderr
    assert run.stderr.count("\n") == 1


def test_nothing_readable_is_a_usage_error_that_says_why(fleet_cli, tmp_path, validator) -> None:
    (tmp_path / "a.json").write_text("hello")
    run = fleet_cli(str(tmp_path / "a.json"), str(tmp_path / "missing.json"), "--format", "json")
    doc = valid_document(validator, run, "usage-error")
    assert run.code == 2
    assert doc["error"]["message"] == (
        f"no report among the inputs: {tmp_path / 'a.json'} is not JSON (Expecting value: line 1 column 1 "
        f"(char 0)); {tmp_path / 'missing.json'} cannot be opened: No such file or directory"
    )


def test_ray_mode_without_ray_is_a_clean_usage_error(fleet_cli, monkeypatch) -> None:
    monkeypatch.setattr(ray_runner, "ray_installed", lambda: False)
    run = fleet_cli("--ray", "--offline")
    assert run.code == 2
    assert run.stderr == (
        "mnist-doctor fleet: error: --ray needs the ray package, which this Python does not have "
        "(hint: pip install ray # into the Python that runs mnist-doctor (pipx inject mnist-doctor ray))\n"
    )


def test_help_lists_fleet(capsys) -> None:
    from mnist_doctor.cli.parser import build_parser

    assert "mnist-doctor fleet reports/" in build_parser().format_help()


# ----------------------------------------------------------------------------- a Ray node's answer

NODE = {"id": "a1b2c3d4e5f6a7b8", "name": "10.0.0.7", "address": "10.0.0.7"}


def test_a_node_report_is_a_host_named_by_its_node(fleet_reports) -> None:
    found = node_result(NODE, {"stdout": json.dumps(fleet_reports["gpu-02"]), "returncode": 1})
    assert isinstance(found, HostReport)
    assert (found.host, found.node, found.source) == (
        "gpu-02",
        "10.0.0.7",
        "ray node 10.0.0.7 (a1b2c3d4e5f6)",
    )
    assert [p.cause for p in found.problems] == ["cache.integrity"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            {"stdout": json.dumps({"schema": 2, "mode": "usage-error", "tool": {"name": "mnist-doctor"},
                                   "error": {"message": "--python /opt/py: no such file", "hint": None}})},
            "mnist-doctor there refused: --python /opt/py: no such file",
        ),
        (
            {"stdout": "", "stderr": "/usr/bin/python3: No module named mnist_doctor\n", "returncode": 1,
             "python": "/usr/bin/python3"},
            "mnist-doctor is not installed in /usr/bin/python3 there",
        ),
        ({"stdout": "", "timed_out": True, "returncode": -9},
         "its diagnosis did not end within its --timeout (killed)"),
        ({"error": "NodeDiedError: the node died"}, "the Ray task failed: NodeDiedError: the node died"),
        ({"stdout": "garbage", "stderr": "Segmentation fault", "returncode": -11},
         "gave no report (exit code -11): Segmentation fault"),
    ],
)  # fmt: skip
def test_a_node_without_a_report_says_why(answer, reason) -> None:
    found = node_result(NODE, answer)
    assert isinstance(found, Unanswered) and found.reason == reason and found.name == "10.0.0.7"


def test_nodes_that_wrote_nothing_did_not_answer(fleet_reports, tmp_path) -> None:
    nodes = [NODE, dict(NODE, id="ffff0000", name="10.0.0.8")]
    _json(tmp_path / "nodes.json", nodes)
    _json(tmp_path / "node-0.json", {"node": NODE, "answer": {"stdout": json.dumps(fleet_reports["gpu-04"])}})
    collected = _read_answers(str(tmp_path), 30.0)
    assert [r.node for r in collected.reports] == ["10.0.0.7"]
    assert [(u.name, u.reason) for u in collected.unanswered] == [
        ("10.0.0.8", "did not answer within --timeout (30 s)")
    ]


def test_a_driver_that_listed_no_node_is_a_usage_error(tmp_path) -> None:
    from mnist_doctor.errors import UsageError

    with pytest.raises(UsageError, match="no Ray cluster at auto listed its nodes within --timeout"):
        _read_answers(str(tmp_path), 5.0)


def test_many_documents_in_one_input_are_numbered(fleet_reports) -> None:
    data = (json.dumps(fleet_reports["gpu-01"]) + json.dumps([1])).encode()
    found = read_input("all.json", data)
    assert [getattr(f, "source", None) for f in found] == ["all.json#1", "all.json#2"]


def test_a_node_doctor_sees_the_gpus_the_node_has_not_what_ray_left_the_task(monkeypatch) -> None:
    """Ray may set CUDA_VISIBLE_DEVICES="" in a task that asked for no GPU; the doctor gets the node's own."""
    from types import SimpleNamespace

    from mnist_doctor.fleet.node_task import node_environment

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # what Ray set for this task
    for original, expected in ((["3", "5"], "3,5"), (None, None)):
        worker = SimpleNamespace(original_visible_accelerator_ids={"GPU": original})
        monkeypatch.setitem(sys.modules, "ray._private.worker", SimpleNamespace(global_worker=worker))
        assert node_environment().get("CUDA_VISIBLE_DEVICES") == expected
    monkeypatch.delitem(sys.modules, "ray._private.worker")
    assert node_environment()["CUDA_VISIBLE_DEVICES"] == "", "no Ray worker here: the environment as it is"


def test_long_lists_are_counted_not_printed_unless_verbose(fleet_cli, fleet_reports, tmp_path) -> None:
    """A folder of 40 broken files and 12 hosts on 12 cache folders stays readable; JSON keeps all."""
    for n in range(40):
        (tmp_path / f"junk-{n:02}.json").write_text("junk")
    for n in range(12):
        doc = json.loads(json.dumps(fleet_reports["gpu-04"]))
        doc["environment"]["host"] = f"node-{n:02}"
        doc["environment"]["cache"].update(path=f"/scratch/u{n:02}/datasets")
        _json(tmp_path / f"node-{n:02}.json", doc)
    rich = " ".join(
        fleet_cli(str(tmp_path)).stdout.split()
    )  # the terminal wraps where the paths' lengths fall
    assert "… and 30 more inputs (--verbose lists them)" in rich and "junk-39.json" not in rich
    assert "… and 6 other values" in rich and "node-00, node-01" in rich
    assert "junk-39.json" in fleet_cli(str(tmp_path), "--verbose").stdout
    markdown = fleet_cli(str(tmp_path), "--format", "markdown").stdout
    assert "_… and 10 more (`--verbose` lists them all)_" in markdown
    doc = json.loads(fleet_cli(str(tmp_path), "--format", "json").stdout)
    assert len(doc["skipped"]) == 40 and len(doc["drift"][0]["values"]) == 12
