"""Notebooks: the Python API, ``%mnist_doctor`` in a real Jupyter kernel, and hosted-notebook detection.

The kernel is real: jupyter_client starts ipykernel with this interpreter in its own
process, and the cells run there exactly as a user's would. The "package upgraded after
import" case is real files too: a small package on a temporary path is imported at 1.0,
then its installed metadata is rewritten to 2.0 on disk, as ``pip install -U`` would.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from mnist_doctor.facts.hosted import HOST_VARIABLES, detect_host, kaggle_datasets
from testkit.doctor import clean_env, run_doctor

pytestmark = pytest.mark.timeout(300)


def make_package(site: Path, version: str) -> None:
    """``stalepkg`` importable from ``site``, with installed metadata saying ``version``."""
    (site / "stalepkg").mkdir(parents=True, exist_ok=True)
    (site / "stalepkg" / "__init__.py").write_text(f'__version__ = "{version}"\n')
    info = site / "stalepkg-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: stalepkg\nVersion: {version}\n")
    (info / "top_level.txt").write_text("stalepkg\n")
    (info / "RECORD").write_text("stalepkg/__init__.py,,\n")


def test_introspection_reports_every_host_variable() -> None:
    """The target script lists the same variables the host detection reads (it cannot import it)."""
    target = Path(__file__).parent.parent / "mnist_doctor" / "probing" / "target"
    source = (target / "introspect.py").read_text()
    missing = [name for name in HOST_VARIABLES if f'"{name}"' not in source]
    assert not missing


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({"COLAB_RELEASE_TAG": "release-colab_20260101"}, "colab"),
        ({"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, "kaggle"),
        ({"DATABRICKS_RUNTIME_VERSION": "15.4"}, "databricks"),
        ({"SAGEMAKER_APP_TYPE": "JupyterLab"}, "sagemaker"),
        ({"JPY_PARENT_PID": "4242"}, "jupyter"),
        ({"KAGGLE_KERNEL_RUN_TYPE": ""}, "shell"),
        ({}, "shell"),
    ],
)
def test_host_detection(env: dict[str, str], kind: str) -> None:
    assert detect_host(env).kind == kind


def test_kaggle_attached_datasets_are_found(tmp_path: Path) -> None:
    (tmp_path / "mnist-ds" / "sub").mkdir(parents=True)
    (tmp_path / "mnist-ds" / "sub" / "mnist.npz").write_bytes(b"x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data.csv").write_text("1")
    assert kaggle_datasets(root=str(tmp_path)) == [str(tmp_path / "mnist-ds" / "sub" / "mnist.npz")]
    assert kaggle_datasets(root=str(tmp_path / "absent")) == []


def test_kaggle_without_internet_names_the_seed_route(doctor) -> None:  # type: ignore[no-untyped-def]
    """A real run with Kaggle's variable set and an unreachable proxy: the route is named."""
    run = doctor(
        "--format", "json", "--select", "notebook,network", "--timeout", "30",
        env_extra={
            "KAGGLE_KERNEL_RUN_TYPE": "Interactive",
            "HTTPS_PROXY": "http://127.0.0.1:9",  # discard port: refused at once
            "NO_PROXY": "",
        },
    )  # fmt: skip
    host = run.result("notebook.host")
    assert host["status"] == "warn", host
    assert "Internet is off" in host["summary"]
    assert "--seed" in host["hint"] and "/kaggle/input" in host["hint"]


def test_offline_in_a_shell_skips_the_notebook_checks(doctor) -> None:  # type: ignore[no-untyped-def]
    run = doctor("--offline", "--format", "json", "--select", "notebook")
    assert run.result("notebook.host")["status"] == "skip"
    assert run.result("notebook.stale_modules")["status"] == "skip"


@pytest.mark.usefixtures("processes")
def test_python_api_returns_the_json_report(tmp_path: Path) -> None:
    """``mnist_doctor.diagnose()`` in a fresh interpreter: the same document as --format json."""
    home = tmp_path / "home"
    home.mkdir()
    code = textwrap.dedent(
        """
        import json, mnist_doctor
        report = mnist_doctor.diagnose(offline=True, select="cache,notebook")
        print(json.dumps({"schema": report["schema"], "ids": [r["id"] for r in report["results"]],
                          "ok": report.ok, "text": str(report)[:4000], "html": report._repr_html_()[:200]}))
        try:
            mnist_doctor.diagnose(timeout=float("nan"))
        except ValueError as exc:
            print("VALUE_ERROR", exc)
        """
    )
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=clean_env(home),
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    first = json.loads(done.stdout.splitlines()[0])
    cli = run_doctor("--offline", "--format", "json", "--select", "cache", env=clean_env(home), cwd=tmp_path)
    assert first["schema"] == cli.json["schema"]
    assert "cache.integrity" in first["ids"] and "notebook.host" in first["ids"]
    assert "passed" in first["text"] and "cache" in first["text"]
    assert first["html"].lstrip().startswith("<!DOCTYPE html>")
    assert "VALUE_ERROR" in done.stdout


def _kernel(tmp_path: Path, env: dict[str, str]):  # type: ignore[no-untyped-def]
    jupyter_client = pytest.importorskip("jupyter_client")
    pytest.importorskip("ipykernel")
    from jupyter_client.manager import KernelManager

    spec_dir = tmp_path / "kernels" / "doctor-test"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "doctor test", "language": "python"}  # fmt: skip
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    env = {**env, "JUPYTER_PATH": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    manager = KernelManager(kernel_name="doctor-test")
    manager.kernel_spec_manager.kernel_dirs = [str(tmp_path / "kernels")]
    manager.start_kernel(env=env, cwd=str(tmp_path))
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    del jupyter_client
    return manager, client


def _run_cell(client, code: str, timeout: float = 200) -> tuple[str, list[dict]]:  # type: ignore[no-untyped-def]
    """Execute ``code``; return the text printed and the display data the cell produced."""
    msg_id = client.execute(code)
    printed, shown = [], []
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            printed.append(content["text"])
        elif kind in ("execute_result", "display_data"):
            shown.append(content["data"])
        elif kind == "error":
            printed.append("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(printed), shown


@pytest.mark.usefixtures("processes")
def test_magic_in_a_real_kernel_renders_and_flags_an_upgrade_after_import(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    site = tmp_path / "site"
    make_package(site, "1.0")
    env = clean_env(home, PYTHONPATH=str(site))
    manager, client = _kernel(tmp_path, env)
    try:
        printed, _ = _run_cell(client, "import stalepkg; print(stalepkg.__version__)")
        assert printed.strip() == "1.0", printed
        make_package(site, "2.0")  # "pip install -U stalepkg" while the kernel keeps 1.0 loaded
        printed, _ = _run_cell(client, "%load_ext mnist_doctor")
        assert "Error" not in printed, printed
        printed, shown = _run_cell(client, "%mnist_doctor --offline --select notebook,cache")
        assert "Traceback" not in printed, printed
        assert shown, printed
        html = shown[-1].get("text/html", "")
        assert "notebook.stale_modules" in html and "stalepkg" in html  # the table, shown by Jupyter
        printed, _ = _run_cell(
            client,
            "r = %mnist_doctor --offline --select notebook\n"
            "s = r.result('notebook.stale_modules')\n"
            "print(s['status'], s['summary'])",
        )
        assert printed.strip() == "warn restart the kernel: stalepkg 1.0 is loaded, 2.0 is installed", printed
        printed, _ = _run_cell(client, "%mnist_doctor --fetch")
        assert "changes files" in printed
        printed, _ = _run_cell(client, "%mnist_doctor --timeout nan")
        assert "error" in printed and "Traceback" not in printed
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
