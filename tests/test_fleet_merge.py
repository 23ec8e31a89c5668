"""``mnist-doctor fleet`` merges real reports of differing hosts into one answer (unit tier).

The reports are the real CLI's (``fleet_reports``: no route, two broken cached copies with
different bytes, a healthy machine), each then placed on its own host; the command runs in this
process on a folder of them, in every format. What is checked is what a person running a lab or
a job needs: one row per root cause with the hosts that have it and the fix once, the healthy
hosts counted, drift in versions, proxies and cache folders, shared network caches, exit codes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.test_json_contract import valid_document


def _write(folder: Path, docs: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (folder / f"{name}.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder


def _nfs(doc: dict[str, Any], mount_point: str, path: str, source: str = "fs1:/export/home") -> None:
    """Put a report's cache on NFS: ``path`` under ``mount_point``, which mounts ``source``."""
    inside = "/" + path[len(mount_point) :].lstrip("/")
    doc["environment"]["cache"] = {
        "path": path, "resolved": path, "fs_type": "nfs4", "network": True, "mount_point": mount_point,
        "source": source, "fs_path": inside, "device": "0:53", "unknown": None,
    }  # fmt: skip


def test_the_real_reports_name_their_causes(fleet_reports) -> None:
    """The single report's problems carry the cause name the fleet groups by (a new field)."""
    causes = {h: [p["cause"] for p in d["diagnosis"]["problems"]] for h, d in fleet_reports.items()}
    assert causes == {
        "gpu-01": ["network.dns"],
        "gpu-02": ["cache.integrity"],
        "gpu-03": ["cache.integrity"],
        "gpu-04": [],
    }
    titles = {fleet_reports[h]["diagnosis"]["problems"][0]["title"] for h in ("gpu-02", "gpu-03")}
    assert len(titles) == 2, "two different broken copies: the titles differ, the cause does not"


def test_four_differing_hosts_make_one_row_per_cause(fleet_cli, fleet_reports, tmp_path, validator) -> None:
    fleet_reports["gpu-03"]["environment"]["packages"].update(tensorflow="2.16.1", numpy="2.0.2")
    fleet_reports["gpu-03"]["environment"]["python_version"] = "3.12.3"
    fleet_reports["gpu-03"]["environment"]["cache"].update(path="/scratch/keras/datasets")
    run = fleet_cli(str(_write(tmp_path / "reports", fleet_reports)), "--format", "json")
    doc = valid_document(validator, run, "fleet")
    assert run.code == 1 and doc["verdict"] == "fail"
    rows = {row["cause"]: row for row in doc["causes"]}
    assert set(rows) == {"cache.integrity", "network.dns"}
    assert rows["cache.integrity"]["hosts"] == ["gpu-02", "gpu-03"]  # the largest group first
    assert doc["causes"][0]["cause"] == "cache.integrity"
    assert rows["network.dns"]["hosts"] == ["gpu-01"]
    # the fix once for both hosts: the same commands in both reports
    [fix] = rows["cache.integrity"]["fixes"]
    assert fix["hosts"] == ["gpu-02", "gpu-03"]
    assert any(c["command"].startswith("mnist-doctor --clear-cache") for c in fix["commands"])
    assert any(
        "mnist-doctor --seed FILE" in c["command"] for c in rows["network.dns"]["fixes"][0]["commands"]
    )
    assert doc["healthy"] == ["gpu-04"]
    assert doc["headline"] == "3 of 4 hosts fail (2 causes); 1 healthy"
    drift = {d["what"]: {v["value"]: v["hosts"] for v in d["values"]} for d in doc["drift"]}
    assert drift["tensorflow"] == {"2.21.0": ["gpu-01", "gpu-02", "gpu-04"], "2.16.1": ["gpu-03"]}
    assert drift["numpy"]["2.0.2"] == ["gpu-03"] and drift["python"]["3.12.3"] == ["gpu-03"]
    assert drift["cache"]["/scratch/keras/datasets"] == ["gpu-03"]
    assert "keras" not in drift, "a value every host shares is no drift"


def test_the_terminal_and_markdown_say_the_same(fleet_cli, fleet_reports, tmp_path) -> None:
    folder = str(_write(tmp_path / "reports", fleet_reports))
    rich = fleet_cli(folder)
    assert rich.code == 1, rich.stderr
    assert "Verdict: 3 of 4 hosts fail (2 causes); 1 healthy" in rich.stdout
    assert "2 hosts: gpu-02, gpu-03" in rich.stdout and "1 host: gpu-01" in rich.stdout
    assert "[✓] healthy: 1 host (gpu-04)" in rich.stdout
    assert rich.stdout.count("    mnist-doctor --clear-cache\n") == 1, "the fix once, not per host"
    markdown = fleet_cli(folder, "--format", "markdown")
    assert markdown.code == 1
    assert "| gpu-02, gpu-03 |" in markdown.stdout and "(`network.dns`)" in markdown.stdout
    assert markdown.stdout.count("```") % 2 == 0 and "```sh\nmnist-doctor --clear-cache\n" in markdown.stdout


def test_a_proxy_on_one_host_is_drift(fleet_cli, fleet_reports, tmp_path, validator) -> None:
    secret = "http://alice:hunter2@proxy.corp:3128"
    for row in fleet_reports["gpu-04"]["results"]:
        if row["id"] == "proxy.effective":
            row["data"]["proxy"] = secret  # as a report made before redaction might carry it
    run = fleet_cli(str(_write(tmp_path / "r", fleet_reports)), "--format", "json")
    doc = valid_document(validator, run, "fleet")
    [proxy] = [d for d in doc["drift"] if d["what"] == "proxy"]
    values = {v["value"]: v["hosts"] for v in proxy["values"]}
    assert values["http://alice:***@proxy.corp:3128"] == ["gpu-04"]
    assert values["direct (no proxy)"] == ["gpu-01", "gpu-02", "gpu-03"]
    assert "hunter2" not in run.stdout + run.stderr


def test_hosts_sharing_one_nfs_cache_get_the_seed_once_advice(fleet_cli, fleet_reports, tmp_path) -> None:
    """Same export, same folder in it — mounted at different points — is one cache; another export is not."""
    _nfs(fleet_reports["gpu-02"], "/home", "/home/alice/.keras/datasets")
    _nfs(fleet_reports["gpu-03"], "/mnt/home", "/mnt/home/alice/.keras/datasets")
    _nfs(fleet_reports["gpu-04"], "/home", "/home/alice/.keras/datasets", source="fs2:/export/home")
    run = fleet_cli(str(_write(tmp_path / "r", fleet_reports)), "--format", "json")
    doc = json.loads(run.stdout)
    [shared] = doc["shared_caches"]
    assert shared["hosts"] == ["gpu-02", "gpu-03"] and shared["network"] is True
    assert shared["location"] == "fs1:/export/home:/alice/.keras/datasets"
    assert shared["advice"].startswith("these 2 hosts share one cache (nfs4 fs1:/export/home:")
    assert "seed it once (`mnist-doctor --seed FILE` on one host) before the job starts" in shared["advice"]
    assert "give each worker its own `KERAS_HOME`" in shared["advice"]
    rich = fleet_cli(str(tmp_path / "r"))
    assert "Shared caches" in rich.stdout and "[!] gpu-02, gpu-03" in rich.stdout


def test_the_same_local_path_on_different_hosts_is_not_shared(fleet_cli, fleet_reports, tmp_path) -> None:
    for host in ("gpu-02", "gpu-03"):
        fleet_reports[host]["environment"]["cache"].update(
            path="/root/.keras/datasets", resolved="/root/.keras/datasets", fs_type="ext4", network=False
        )
    doc = json.loads(fleet_cli(str(_write(tmp_path / "r", fleet_reports)), "--format", "json").stdout)
    assert doc["shared_caches"] == []


def test_one_machine_running_several_environments_shares_its_cache(
    fleet_cli, fleet_reports, tmp_path
) -> None:
    """Two reports of one host with one cache folder (two venvs, two workers): one cache, on one machine."""
    twin = json.loads(json.dumps(fleet_reports["gpu-04"]))
    twin["environment"]["target_python"] = "/opt/other/bin/python"
    docs = {"gpu-04": fleet_reports["gpu-04"], "gpu-04-other-venv": twin}
    doc = json.loads(fleet_cli(str(_write(tmp_path / "r", docs)), "--format", "json").stdout)
    [shared] = doc["shared_caches"]
    assert shared["network"] is False and "runs on one machine share one cache folder" in shared["advice"]
    # one host name twice: each is told apart by where its report came from
    assert [h["name"] for h in doc["hosts"]] == [
        f"gpu-04 [{tmp_path / 'r' / 'gpu-04-other-venv.json'}]",
        f"gpu-04 [{tmp_path / 'r' / 'gpu-04.json'}]",
    ]


def test_all_healthy_exits_0(fleet_cli, fleet_reports, tmp_path) -> None:
    docs = {}
    for n in range(3):
        doc = json.loads(json.dumps(fleet_reports["gpu-04"]))
        doc["environment"]["host"] = f"laptop-{n}"
        docs[f"laptop-{n}"] = doc
    run = fleet_cli(str(_write(tmp_path / "r", docs)), "--format", "json")
    doc = json.loads(run.stdout)
    assert run.code == 0 and doc["exit_code"] == 0 and doc["verdict"] == "ok"
    assert doc["headline"] == "all 3 hosts healthy" and doc["causes"] == []


def test_fix_wordings_that_differ_are_each_shown_with_their_hosts(fleet_cli, fleet_reports, tmp_path) -> None:
    fix = fleet_reports["gpu-03"]["diagnosis"]["fixes"][0]
    fix["commands"] = [{"command": "mnist-doctor --python /opt/py/bin/python --clear-cache", "comment": None}]
    doc = json.loads(fleet_cli(str(_write(tmp_path / "r", fleet_reports)), "--format", "json").stdout)
    row = next(r for r in doc["causes"] if r["cause"] == "cache.integrity")
    assert sorted(f["hosts"] for f in row["fixes"]) == [["gpu-02"], ["gpu-03"]]


def test_a_report_made_before_causes_were_named_still_groups(fleet_cli, fleet_reports, tmp_path) -> None:
    for doc in fleet_reports.values():
        for problem in doc["diagnosis"]["problems"]:
            del problem["cause"]
    doc = json.loads(fleet_cli(str(_write(tmp_path / "r", fleet_reports)), "--format", "json").stdout)
    assert {r["cause"]: r["hosts"] for r in doc["causes"]} == {
        "cache.integrity": ["gpu-02", "gpu-03"],
        "network.dns": ["gpu-01"],
    }


def test_a_fix_run_counts_as_its_re_run(fleet_cli, fleet_reports, tmp_path) -> None:
    """A ``--fix`` document describes the host after the fix: its ``after`` report is what counts."""
    before = fleet_reports["gpu-02"]
    after = json.loads(json.dumps(fleet_reports["gpu-04"]))
    after["environment"]["host"] = "gpu-02"
    fixed = dict(before, mode="fix", actions=[], after=after, exit_code=0)
    doc = json.loads(fleet_cli(str(_write(tmp_path / "r", {"gpu-02": fixed})), "--format", "json").stdout)
    assert doc["healthy"] == ["gpu-02"] and doc["causes"] == []
