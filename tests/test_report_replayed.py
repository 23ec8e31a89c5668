"""The whole report, in-process, on answers the real target scripts gave (tests/recordings/).

These are the unit tier's view of what the e2e tier proves with real processes: the verdict, the
one root cause with its fix as whole commands, every format, and the flags that change the report
(``--strict``, ``--select``/``--ignore``, ``--verbose``) — with TensorFlow's import, the real
``load_data()`` and the network stages replayed, so each run costs milliseconds, not seconds.
"""

from __future__ import annotations

import json
import re

from mnist_doctor.datasets.spec import MNIST
from tests.test_json_contract import valid_document

NO_ROUTE_HEADLINE = "1 problem to fix: load_data() fails here"


def test_no_route_is_one_root_cause_seen_by_three_checks(replayed, validator) -> None:
    run = replayed("no-route", "--format", "json")
    document = valid_document(validator, run, "diagnose")
    diagnosis = document["diagnosis"]
    assert run.code == 1 and diagnosis["verdict"] == "fail" and diagnosis["headline"] == NO_ROUTE_HEADLINE
    [problem] = diagnosis["problems"]
    assert problem["checks"] == ["network.dns", "load.real", "load.consistency"]
    assert "storage.googleapis.com" in problem["title"]
    fix = diagnosis["fixes"][problem["fix"] - 1]
    commands = [c["command"] for c in fix["commands"]]
    assert "mnist-doctor --seed FILE" in commands
    # the one placeholder comes with where to get the file: the exact URL and its sha256
    assert MNIST.origin in fix["advice"] and MNIST.sha256 in fix["advice"], fix["advice"]
    assert diagnosis["load_data"]["state"] == "fail"


def test_no_route_in_the_terminal_gives_the_diagnosis_first_then_the_evidence(replayed) -> None:
    run = replayed("no-route")
    text = run.stdout
    assert run.code == 1
    assert text.index(f"Diagnosis: {NO_ROUTE_HEADLINE}") < text.index("network.dns") < text.index("load.real")
    assert "[✗] no route to storage.googleapis.com (DNS)" in text
    assert "    mnist-doctor --seed FILE\n" in text  # a fix is a whole command on its own line
    # the counts: the two failures; a warning may come from the machine's own /tmp/.keras, which
    # the doctor reads for real (Keras' shared fallback), so the warning count is not pinned here
    assert re.search(r"\n\d+ passed, \d+ warnings?, 2 failed, 11 skipped\n", text), text[-300:]


def test_no_route_in_markdown_puts_each_fix_in_an_sh_block(replayed) -> None:
    run = replayed("no-route", "--format", "markdown")
    assert run.code == 1
    blocks = run.stdout.split("```sh\n")[1:]
    assert blocks and any(b.startswith("mnist-doctor --seed FILE\n") for b in blocks), run.stdout
    assert run.stdout.count("```") % 2 == 0


def test_verbose_adds_the_details_and_timings_of_every_check(replayed) -> None:
    plain, verbose = replayed("no-route"), replayed("no-route", "--verbose")
    assert len(verbose.stdout) > len(plain.stdout)
    assert "network.tcp" in verbose.stdout and "network.* (2)" not in verbose.stdout  # unfolded
    assert "--verbose shows" not in verbose.stdout


def test_ignoring_the_network_leaves_load_data_as_the_witness(replayed) -> None:
    document = json.loads(replayed("no-route", "--format", "json", "--ignore", "network").stdout)
    ids = {r["id"] for r in document["results"]}
    assert not any(i.startswith("network.") for i in ids)
    statuses = {r["id"]: r["status"] for r in document["results"]}
    assert statuses["load.real"] == "fail" and document["exit_code"] == 1


def test_offline_with_an_empty_cache_passes_and_says_what_load_data_will_need(replayed, validator) -> None:
    run = replayed("offline", "--offline", "--format", "json")
    document = valid_document(validator, run, "diagnose")
    assert run.code == 0 and document["diagnosis"]["verdict"] in ("ok", "warn")
    statuses = {r["id"]: r["status"] for r in document["results"]}
    assert statuses["runtime.import"] == "ok"
    assert all(statuses[i] == "skip" for i in statuses if i.startswith("network."))
    text = replayed("offline", "--offline").stdout
    assert "will need to download mnist.npz (11.5 MB)" in " ".join(text.split())


def test_strict_turns_the_offline_warnings_into_the_exit_code(replayed) -> None:
    lenient = json.loads(replayed("offline", "--offline", "--format", "json").stdout)
    strict = replayed("offline", "--offline", "--format", "json", "--strict")
    warned = any(r["status"] == "warn" for r in lenient["results"])
    assert strict.code == (1 if warned else 0) == json.loads(strict.stdout)["exit_code"]


def test_selecting_the_static_checks_needs_only_the_introspection(replayed) -> None:
    document = json.loads(
        replayed("offline", "--offline", "--format", "json", "--select", "compat,env").stdout
    )
    assert {r["id"].split(".")[0] for r in document["results"]} == {"compat", "env"}
    assert document["exit_code"] == 0
