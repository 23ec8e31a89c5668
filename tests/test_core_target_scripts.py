"""Scripts run by the *target* interpreter must work in any environment: stdlib only, Python 3.9 syntax."""

from __future__ import annotations

import ast
import json
import re
import runpy
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mnist_doctor.facts.net_probe import parse_stage_lines
from mnist_doctor.probing import subproc
from mnist_doctor.probing.subproc import run_argv, run_script, script_source
from tests.fake_tf import add_keras3, add_numpy, add_tensorflow
from tests.test_core_python_flag import PYENV

TARGET = Path(__file__).resolve().parents[1] / "mnist_doctor" / "probing" / "target"
FILES = sorted(p for p in TARGET.glob("*.py") if p.name != "__init__.py")
#: What the doctor runs; the ``_name.py`` files are fragments inlined into them.
SCRIPTS = [p.name for p in FILES if not p.name.startswith("_")]
FRAGMENTS = [p.name for p in FILES if p.name.startswith("_")]
#: Imported lazily inside the probes, guarded, because they *are* the patient.
PATIENT_MODULES = {"numpy", "tensorflow", "keras", "tf_keras"}
#: What the prelude defines, once on the wire of every script.
PRELUDE_DEFINITIONS = ("MARKER = ", "STAGE_MARKER = ", "answer = ", "def emit(", "def stage(", "def redact(")
PRELUDE_DEFINITIONS += ("def describe_exception(", "def type_name(", "ERROR_ATTRS = ")
#: A line that should have been replaced by a fragment on the wire.
UNRESOLVED = re.compile(r"^\s*from _\w+ import|mnist-doctor: include\s*$", re.MULTILINE)


def wire_or_file(name: str) -> str:
    """What the target interpreter reads: a script with its fragments inlined, or a fragment."""
    return script_source(name) if name in SCRIPTS else (TARGET / name).read_text(encoding="utf-8")


def python39() -> Path | None:
    """A Python 3.9 interpreter: pyenv's, then one on PATH (None when the machine has none)."""
    candidates = [*sorted(PYENV.glob("3.9*/bin/python3.9")), *sorted(PYENV.glob("3.9*/bin/python3"))]
    on_path = shutil.which("python3.9")
    candidates += [Path(on_path)] if on_path else []
    candidates.append(Path("/usr/bin/python3.9"))
    return next((p for p in candidates if p.exists()), None)


@pytest.fixture
def python_39() -> Path:
    found = python39()
    if found is None:
        pytest.skip("no Python 3.9 on this machine (pyenv, PATH); the ast checks still apply")
    return found


@pytest.mark.parametrize("name", SCRIPTS + FRAGMENTS)
def test_target_script_uses_only_the_standard_library(name: str):
    tree = ast.parse(wire_or_file(name), feature_version=(3, 9))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    foreign = imported - set(sys.stdlib_module_names) - PATIENT_MODULES
    assert not foreign, f"{name} imports non-stdlib modules {foreign}"


@pytest.mark.parametrize("name", SCRIPTS + FRAGMENTS)
def test_target_script_compiles_on_the_oldest_supported_python(name: str, python_39: Path, tmp_path: Path):
    source = tmp_path / name
    source.write_text(wire_or_file(name), encoding="utf-8")
    proc = subprocess.run(
        [str(python_39), "-m", "py_compile", str(source)],
        capture_output=True,
        text=True,
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr


# --- the prelude: one definition of what every script shares ---------------------------------------------


def prelude() -> dict[str, Any]:
    """The prelude's names, run here as the target would run them (it is stdlib-only and side-effect free)."""
    return runpy.run_path(str(TARGET / subproc.PRELUDE))


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_script_on_the_wire_is_one_file_with_the_prelude_defined_once_and_first(name: str):
    raw = (TARGET / name).read_text(encoding="utf-8")
    assert re.search(r"^from _prelude import .*# mnist-doctor: include$", raw, re.MULTILINE), name
    wire = script_source(name)
    assert not UNRESOLVED.search(wire), f"{name}: an include line is left on the wire"
    for definition in PRELUDE_DEFINITIONS:
        assert len(re.findall("^" + re.escape(definition), wire, re.MULTILINE)) == 1, (name, definition)
    # The prelude comes before the other fragments and the script's own code.
    first = wire.index("\ndef emit(")
    later = [wire.index(d) for d in ("\ndef main(", "\ndef gpu_stage(") if d in wire]
    assert later and all(first < at for at in later), name
    compile(wire, name, "exec")


@pytest.mark.parametrize("name", SCRIPTS + FRAGMENTS)
def test_emit_is_called_with_the_payload_first(name: str):
    """``emit(payload, marker)``: the network probe's former ``emit(MARKER, payload)`` order would
    print a marker as the answer, so a call written the old way fails here, before it runs."""
    tree = ast.parse((TARGET / name).read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    for call in (c for c in calls if getattr(c.func, "id", None) == "emit" and c.args):
        first = call.args[0]
        assert not (isinstance(first, ast.Name) and first.id.endswith("MARKER")), f"{name}:{call.lineno}"


def test_the_doctor_reads_its_markers_from_the_prelude():
    names = prelude()
    assert (names["MARKER"], names["STAGE_MARKER"]) == (subproc.JSON_MARKER, subproc.STAGE_MARKER)
    assert subproc.JSON_MARKER != subproc.STAGE_MARKER


@pytest.mark.usefixtures("target_interpreter")
def test_what_the_prelude_emits_is_the_answer_subproc_parses(tmp_path: Path):
    """Library noise around it, stage lines and a stale answer before it: the last marked line wins."""
    program = (TARGET / subproc.PRELUDE).read_text(encoding="utf-8") + (
        'print(\'TensorFlow noise {"not": "it"}\')\n'
        "emit({'x': 0})\n"
        "emit({'name': 'dns', 'event': 'begin'}, STAGE_MARKER)\n"
        "emit({'name': 'dns', 'event': 'end', 'ok': True}, STAGE_MARKER)\n"
        "answer['done'] = True\n"
        "emit()\n"
    )
    run = run_argv([sys.executable, "-"], stdin=program, timeout=30, cwd=str(tmp_path))
    assert run.answer == {"schema": 1, "stages": [], "python": sys.executable, "done": True}, run.stderr
    assert parse_stage_lines(run.stdout) == [{"name": "dns", "event": "end", "ok": True}]


SECRETS = [
    # (text, what must vanish, what must stay)
    ("http://alice:p@ss@proxy.corp:3128", "p@ss", "http://alice:***@proxy.corp:3128"),
    ("alice:s3cr3t@proxy.corp:3128", "s3cr3t", "alice:***@proxy.corp:3128"),
    ("http://u:with space@proxy:8080", "with space", "http://u:***@proxy:8080"),
    (
        "URL fetch failure on https://bob:pa@ss/w:rd@mirror.example/mnist.npz: 403 -- Forbidden",
        "pa@ss/w:rd",
        "@mirror.example/mnist.npz: 403 -- Forbidden",
    ),
    (
        "proxy http://carol:hunter2@10.0.0.1:3128 refused",
        "hunter2",
        "proxy http://carol:***@10.0.0.1:3128 refused",
    ),
]


@pytest.mark.parametrize(("text", "secret", "kept"), SECRETS)
def test_the_prelude_masks_passwords(text: str, secret: str, kept: str):
    out = prelude()["redact"](text)
    assert secret not in out and kept in out


def test_the_prelude_leaves_text_without_a_password_alone():
    redact = prelude()["redact"]
    for text in (
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        "",
        "mail bob@example.com now",
    ):
        assert redact(text) == text


def test_an_exception_is_described_with_its_chain_and_no_password():
    names = prelude()
    url = "https://dave:t0p@secret@mirror.example/mnist.npz"
    try:
        try:
            raise ConnectionRefusedError(111, "refused by " + url)
        except OSError as inner:
            raise RuntimeError("URL fetch failure on " + url) from inner
    except RuntimeError as exc:
        described = names["describe_exception"](exc)
        bare = names["describe_exception"](exc, chain=False, qualified=False)
    assert described["type"] == "builtins.RuntimeError" and bare["type"] == "RuntimeError"
    assert [c["type"] for c in described["chain"]] == ["builtins.ConnectionRefusedError"]
    assert described["chain"][0]["errno"] == 111 and "chain" not in bare
    assert "RuntimeError: URL fetch failure on https://dave:***@mirror.example" in described["traceback"]
    assert "t0p@secret" not in json.dumps([described, bare])


def test_a_failed_stage_keeps_the_structured_exception_and_its_summary(capsys: pytest.CaptureFixture[str]):
    names = prelude()

    def broken() -> None:
        raise ImportError("numpy.core._multiarray_umath failed to import")

    assert names["stage"]("numpy", broken) is False
    record = names["answer"]["stages"][-1]
    assert record["error_type"] == "builtins.ImportError" and record["error"].startswith("numpy.core")
    assert record["exception"]["type"] == record["error_type"] and record["chain"] == []
    assert record["started"] and not record["ok"] and "elapsed_s" in record
    printed = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(printed) == 2 and subproc.parse_answer(printed[-1]) == names["answer"]


# --- every script, sent as the doctor sends it, to a Python 3.9 ------------------------------------------


def fake_patient(root: Path) -> Path:
    """Tiny importable numpy, Keras 3 and TensorFlow (tests/fake_tf.py): no real TF import."""
    site = root / "site"
    add_numpy(site)
    add_keras3(site)
    add_tensorflow(site)
    return site


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: What the host sends for a run of the default loader alone (``facts/load_probe.run_load_probe``).
LOAD_CONFIG = {"offline": True, "datasets": ["mnist"], "top": "mnist", "top_file": "mnist.npz"}


@pytest.mark.usefixtures("processes")  # runs the TensorFlow probes too (which answer "not installed" there)
def test_every_script_answers_on_python_39(python_39: Path, tmp_path: Path):
    """Each script in its cheapest mode, offline or against 127.0.0.1 only; every answer parses."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "PYTHONNOUSERSITE": "1"}
    patient = {**env, "PYTHONPATH": str(fake_patient(tmp_path))}
    origin = f"http://127.0.0.1:{closed_port()}/mnist.npz"
    calls = {
        "introspect.py": ([origin], env),
        "import_probe.py": (["tf"], patient),
        "load_probe.py": (["tf", json.dumps(LOAD_CONFIG)], patient),
        "net_probe.py": (["stages", origin, json.dumps({"budget": 10})], env),
        "numpy_builds.py": (["numpy", "tensorflow", "absent"], patient),
    }
    runs = {
        name: run_script(str(python_39), name, args, timeout=60, env=environ, cwd=str(tmp_path))
        for name, (args, environ) in calls.items()
    }
    assert set(runs) == set(SCRIPTS), "a new target script needs its run here"
    answers = {}
    for name, run in runs.items():
        assert run.answer is not None and run.returncode == 0, (name, run.stderr[-2000:])
        answers[name] = run.answer
    assert answers["introspect.py"]["python"]["version"][:2] == [3, 9]
    builds = {b["name"]: b for b in answers["numpy_builds.py"]["builds"]}
    assert builds["numpy"]["found"] and not builds["absent"]["found"] and builds["absent"]["files"] == 0
    imported = answers["import_probe.py"]
    assert imported["done"] and [(s["name"], s["ok"]) for s in imported["stages"]] == [
        ("numpy", True),
        ("tensorflow", True),
        ("tf.keras", True),
    ]
    loaded = answers["load_probe.py"]
    assert loaded["done"] and loaded["offline"]
    failed = loaded["stages"][-1]
    assert failed["name"] == "load_data" and not failed["ok"]  # the fake load_data raises
    assert failed["error_type"] == "builtins.RuntimeError" and "Traceback" in failed["exception"]["traceback"]
    stages = parse_stage_lines(runs["net_probe.py"].stdout)
    assert [(s["name"], s["ok"]) for s in stages] == [("dns", True), ("tcp", False)]
    assert stages[-1]["error"]["errno_name"] == "ECONNREFUSED"
    assert answers["net_probe.py"]["python"][:2] == [3, 9]


def test_the_network_probe_masks_the_proxy_password_on_python_39(python_39: Path, tmp_path: Path):
    proxy = f"http://alice:p@ss w0rd@127.0.0.1:{closed_port()}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "http_proxy": proxy, "HTTPS_PROXY": proxy}
    run = run_script(
        str(python_39), "net_probe.py", ["proxy", "https://example.invalid/mnist.npz"], timeout=60, env=env
    )
    assert run.answer is not None, run.stderr
    view = run.answer["proxy_view"]
    assert view["proxy"] == proxy.replace("p@ss w0rd", "***")
    assert "w0rd" not in run.stdout and "proxy_raw" not in view


def test_introspection_runs_under_python_39_and_answers(doctor, python_39: Path):
    run = doctor("--python", str(python_39), "--offline", "--format", "json", "--select", "env,compat")
    assert run.code in (0, 1), run.stderr
    assert run.json["environment"]["python_version"].startswith("3.9")


@pytest.mark.usefixtures("target_interpreter")
def test_introspection_finds_the_same_distributions_as_importlib_metadata(tmp_path):
    """The fast header-only scan must agree with importlib.metadata, names, versions and requirements."""
    from importlib import metadata

    run = run_script(
        sys.executable, "introspect.py", ["https://example.invalid/mnist.npz"], timeout=60, cwd=str(tmp_path)
    )
    assert run.answer is not None, run.stderr
    ours = sorted((d["key"], d["version"]) for d in run.answer["distributions"])

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    theirs = sorted((norm(d.metadata["Name"]), d.version) for d in metadata.distributions())
    assert ours == theirs
    for row in run.answer["distributions"]:
        if "requires" in row:
            assert sorted(row["requires"]) == sorted(metadata.requires(row["name"]) or []), row["name"]
    json.dumps(run.answer)  # plain JSON all the way down
