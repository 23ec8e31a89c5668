"""A ``tensorflow.py`` in the working directory: named from metadata, confirmed by the real import."""

from __future__ import annotations

from tests.marks import needs_tf


def test_shadowing_file_fails_with_rename_hint(doctor, tmp_path):
    work = tmp_path / "proj"
    work.mkdir()
    (work / "tensorflow.py").write_text("print('my experiments')\n")
    run = doctor("--offline", "--format", "json", "--select", "env", cwd=work)
    r = run.result("env.shadowing")
    assert r["status"] == "fail"
    assert str(work / "tensorflow.py") in r["summary"]
    assert "mv tensorflow.py my_tensorflow.py" in r["hint"]
    assert run.code == 1


def test_folder_without_init_does_not_shadow(doctor, tmp_path):
    work = tmp_path / "proj"
    (work / "keras").mkdir(parents=True)
    r = doctor("--offline", "--format", "json", "--select", "env", cwd=work).result("env.shadowing")
    assert r["status"] in ("warn", "ok")
    if r["status"] == "warn":  # keras installed: the folder is only a namespace portion
        assert "not imported" in r["summary"]


@needs_tf
def test_import_probe_confirms_shadowing(doctor, tmp_path):
    work = tmp_path / "proj"
    work.mkdir()
    (work / "tensorflow.py").write_text("x = 1\n")
    run = doctor("--offline", "--format", "json", "--select", "runtime", cwd=work)
    r = run.result("runtime.import")
    assert r["status"] == "fail"
    assert "shadows" in r["summary"], r
