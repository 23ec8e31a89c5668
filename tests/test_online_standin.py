"""Online, as a user is: the real host name, the default trust store, no flags (tests/standin_fixtures.py).

Each test scripts what ``storage.googleapis.com`` answers, runs the doctor inside the stand-in
internet, checks the exit code, the cause named and that no finding contradicts another, then
applies the fix the report prints — the exact command — and runs the user's own line,
``tf.keras.datasets.mnist.load_data()``, which must now work.
"""

from __future__ import annotations

import gzip
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mnist_doctor.datasets.spec import MNIST
from testkit.doctor import DoctorRun
from testkit.npz import write_synthetic_mnist
from testkit.standin import PROXY_PORT, USER_LINE, Reply, StandinInternet
from tests.marks import needs_tf

pytestmark = needs_tf

SEED = "mnist-doctor --seed FILE"
#: The families a healthy online machine must pass without a single warning.
ONLINE_FAMILIES = ("network", "cache", "load", "tls", "proxy")


def diagnose(world: StandinInternet, home: Path, *args: str) -> tuple[DoctorRun, dict]:
    run = world.doctor("--format", "json", *args, env=world.env(home), cwd=home)
    return run, json.loads(run.stdout)


def statuses(document: dict) -> dict[str, str]:
    return {r["id"]: r["status"] for r in document["results"]}


def fix_commands(document: dict) -> list[str]:
    return [c["command"] for f in document["diagnosis"]["fixes"] for c in f["commands"]]


def apply(world: StandinInternet, home: Path, command: str) -> None:
    """Run a printed fix exactly as printed (``mnist-doctor`` is the installed console script)."""
    done = world.run(shlex.split(command), world.env(home), cwd=home)
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])


def assert_user_line_works(world: StandinInternet, home: Path, **variables: str) -> None:
    """The user's own load_data() line, inside, with ``variables`` set (a fix's), loads the data."""
    done = world.user_line(world.env(home, **variables), cwd=home)
    assert done.returncode == 0 and "(60000, 28, 28)" in done.stdout, done.stderr[-2000:]


def no_contradiction(document: dict) -> None:
    """Never "Keras is fine" beside a load_data() that failed, nor a disagreement warning."""
    failed = statuses(document).get("load.real") == "fail"
    for result in document["results"]:
        if failed:
            assert "is fine but" not in result["summary"], result
        assert not (result["id"] == "load.consistency" and result["status"] == "warn"), result


@pytest.mark.parametrize("strict", [False, True], ids=["plain", "strict"])
def test_a_healthy_host_is_all_clear_in_the_online_families(standin, tmp_path, strict) -> None:
    run, document = diagnose(standin, tmp_path, *(["--strict"] if strict else []))
    assert run.code == 0, run.stderr[-2000:]
    noisy = {i: s for i, s in statuses(document).items() if i.split(".")[0] in ONLINE_FAMILIES}
    assert not {i: s for i, s in noisy.items() if s in ("warn", "fail", "error")}, noisy
    assert document["diagnosis"]["load_data"]["state"] == "works"
    assert [r.target for r in standin.requests if r.tls]  # the direct path, over TLS, was taken
    tls = next(r for r in document["results"] if r["id"] == "network.tls")
    assert "None" not in tls["summary"], tls  # an issuer is named only when one was recorded
    if not strict:
        assert_user_line_works(standin, tmp_path)


@pytest.mark.parametrize(
    ("status", "meaning", "commands"),
    [
        (403, "refuses this machine", [SEED]),
        (
            404,
            "no longer at Keras' own URL",
            ["mnist-doctor --fetch --mirror URL", "mnist-doctor --seed FILE"],
        ),
    ],
)
def test_a_refusing_host_is_named_by_its_status_and_never_called_unreachable(
    standin, tmp_path, status, meaning, commands
) -> None:
    """The host answered: the advice is the offline route with the exact URL and hash, not "no route".

    Its fix cannot be applied here (a file from another machine, a mirror the user trusts): the
    placeholder says where to get the file.
    """
    standin.answer(
        MNIST.origin, Reply(status, b"<html><body>denied</body></html>", (("Content-Type", "text/html"),))
    )
    run, document = diagnose(standin, tmp_path)
    assert run.code == 1
    http = next(r for r in document["results"] if r["id"] == "network.http")
    assert http["status"] == "fail" and f"HTTP {status}" in http["summary"] and meaning in http["summary"]
    assert statuses(document)["network.requests"] == "ok"  # requests gets the same answer: no finding
    [problem] = document["diagnosis"]["problems"]
    assert {"network.http", "load.real"} <= set(problem["checks"])
    assert fix_commands(document) == commands
    assert "no route" not in json.dumps(document["diagnosis"])
    assert MNIST.origin in http["hint"] and standin.sha256 in http["hint"]  # where to get FILE
    no_contradiction(document)


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_host_relays_retry_after_and_fetch_works_after_the_wait(standin, tmp_path, status) -> None:
    standin.answer(MNIST.origin, Reply(status, b"busy", (("Retry-After", "120"),)))
    run, document = diagnose(standin, tmp_path)
    assert run.code == 1
    http = next(r for r in document["results"] if r["id"] == "network.http")
    assert f"HTTP {status}" in http["summary"] and "wait ~2 min (Retry-After)" in http["summary"]
    no_contradiction(document)
    commands = fix_commands(document)
    assert commands[0] == "mnist-doctor --fetch", commands
    standin.serve_dataset()  # the wait the host asked for is over
    apply(standin, tmp_path, commands[0])
    assert_user_line_works(standin, tmp_path)


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_transfer_broken_mid_body_offers_fetch_and_fetch_gets_past_a_flaky_host(
    standin, tmp_path, how
) -> None:
    """The host answers and the body breaks off (a clean close, or a TCP reset, which reaches urllib
    inside TLS as an early end of the body): what the client observes, a truncated transfer, is
    named, and fixed by fetching again."""
    data = standin.dataset.read_bytes()
    broken = (
        Reply(200, data, cut_after=len(data) // 2)
        if how == "close"
        else Reply(200, data, reset_after=len(data) // 3)
    )
    standin.answer(MNIST.origin, broken)
    run, document = diagnose(standin, tmp_path)
    assert run.code == 1
    assert statuses(document)["network.http"] == "ok"  # the stages read the first bytes only
    assert "transfer truncated" in document["diagnosis"]["problems"][0]["title"]
    no_contradiction(document)
    commands = fix_commands(document)
    assert commands[0] == "mnist-doctor --fetch", commands
    # The host stays flaky: the next transfer breaks again, the one after completes. --fetch
    # retries where the user's own line would fail again.
    standin.answer(MNIST.origin, broken, Reply(200, data))
    apply(standin, tmp_path, commands[0])
    assert_user_line_works(standin, tmp_path)


def test_a_python_without_ssl_is_one_root_cause_and_every_network_check_says_why_it_skipped(
    standin, tmp_path
) -> None:
    """Its fix is a rebuilt Python, which a test cannot apply; the same line on the same host with
    an ssl module (what the rebuilt interpreter is) loads the data."""
    run = standin.doctor("--format", "json", env=standin.env(tmp_path, without_ssl=True), cwd=tmp_path)
    document = json.loads(run.stdout)
    assert run.code == 1, run.stderr[-2000:]
    [problem] = document["diagnosis"]["problems"]
    assert problem["title"].startswith("this Python was built without SSL support")
    assert set(problem["checks"]) >= {"tls.verify_paths", "load.real"}
    by_id = {r["id"]: r for r in document["results"]}
    assert not [i for i, r in by_id.items() if r["status"] == "error"], by_id
    for check_id, result in by_id.items():
        # network.origin only says which URL is tested (no ssl needed for that); throughput has its own skip
        if check_id.split(".")[0] in ("proxy", "network") and check_id not in (
            "network.throughput",
            "network.origin",
        ):
            assert result["status"] == "skip" and "no ssl module" in result["summary"], result
    no_contradiction(document)
    assert_user_line_works(standin, tmp_path)


def test_a_slow_link_is_the_headline_with_its_rate_and_a_fetch_given_the_time_it_needs(
    standin, tmp_path
) -> None:
    """12 kB/s for the 372 kB stand-in file: ~30 s, more than the probe has under --timeout 30.

    It works, slowly (a warn, exit 0); the printed fix gives the download its time, and then the
    user's line reads the cached copy.
    """
    standin.answer(MNIST.origin, Reply(200, standin.dataset.read_bytes(), rate=12_000))
    run, document = diagnose(standin, tmp_path, "--timeout", "30")
    assert run.code == 0, run.stderr[-2000:]
    headline = document["diagnosis"]["headline"]
    assert headline.startswith("load_data() needs ~") and "kB/s (measured)" in headline, headline
    real = next(r for r in document["results"] if r["id"] == "load.real")
    assert real["status"] == "warn" and real["data"]["slow_link"]["rate_bps"] < 20_000
    [command] = [c["command"] for c in document["diagnosis"]["fixes"][0]["commands"]]
    assert command.startswith("mnist-doctor --fetch --timeout "), command
    no_contradiction(document)
    apply(standin, tmp_path, command)
    assert_user_line_works(standin, tmp_path)


@pytest.mark.parametrize("broken", ["truncated", "html"])
def test_a_broken_cached_copy_while_the_host_answers_is_a_warning_not_a_failure(
    standin, tmp_path, broken
) -> None:
    """Keras discards the copy and downloads again, and load_data() works: crying wolf would be a
    fail. The copy is kept as it was (a diagnosis changes nothing). The warning's claim is that the
    user's line works as it is, and replaces the copy: that is what is applied here (the optional
    clean-up it prints asks for a 'y' at a terminal, tested with the cache actions)."""
    data = standin.dataset.read_bytes()
    copy = tmp_path / ".keras" / "datasets" / "mnist.npz"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(data[: len(data) // 2] if broken == "truncated" else b"<html><body>login</body></html>")
    before = copy.read_bytes()
    run, document = diagnose(standin, tmp_path)
    assert run.code == 0, run.stderr[-2000:]
    integrity = next(r for r in document["results"] if r["id"] == "cache.integrity")
    assert integrity["status"] == "warn" and "it did in this run" in integrity["summary"], integrity
    assert copy.read_bytes() == before
    no_contradiction(document)
    assert_user_line_works(standin, tmp_path)
    assert copy.read_bytes() == data  # Keras replaced it, as the warning says


def test_a_certificate_for_another_name_is_never_cured_with_a_ca_bundle(standin, tmp_path) -> None:
    """What cures it is the network's (a hosts entry, a DNS filter, a portal, a proxy): nothing a
    test can apply; the test holds the advice to that, and to no CA setting."""
    standin.present("other-name")
    run, document = diagnose(standin, tmp_path)
    assert run.code == 1
    tls = next(r for r in document["results"] if r["id"] == "network.tls")
    assert tls["status"] == "fail" and "not for storage.googleapis.com" in tls["summary"]
    assert "getent hosts storage.googleapis.com" in tls["hint"]
    assert not any("SSL_CERT_FILE" in c for c in fix_commands(document)), fix_commands(document)
    no_contradiction(document)


def test_a_chain_nobody_here_trusts_is_named_without_accusing_and_its_ca_bundle_fix_works(
    standin, tmp_path
) -> None:
    standin.present("untrusted")
    run, document = diagnose(standin, tmp_path)
    assert run.code == 1
    tls = next(r for r in document["results"] if r["id"] == "network.tls")
    assert "a CA this machine does not trust" in tls["summary"] and "inspection by" not in tls["summary"]
    assert fix_commands(document) == ["export SSL_CERT_FILE=/path/ca.pem"]
    no_contradiction(document)
    # The hint's recipe, as printed: the system CAs plus the CA named, then SSL_CERT_FILE.
    assert "`cat /etc/ssl/certs/ca-certificates.crt corp-ca.pem > ~/ca.pem`" in tls["hint"]
    assert standin.untrusted_ca is not None
    standin.untrusted_ca.cert_pem.write_to_path(str(tmp_path / "corp-ca.pem"))
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(
        Path("/etc/ssl/certs/ca-certificates.crt").read_bytes() + (tmp_path / "corp-ca.pem").read_bytes()
    )
    done = standin.user_line(standin.env(tmp_path, SSL_CERT_FILE=str(bundle)), cwd=tmp_path)
    assert done.returncode == 0 and "(60000, 28, 28)" in done.stdout, done.stderr[-2000:]


def test_direct_connections_refused_point_to_the_proxy_route_which_works(standin, tmp_path) -> None:
    """The office network: the firewall refuses direct connections; a proxy is the way out. The
    printed fix names the variable with a placeholder address (only the network knows it): the
    test fills in this network's proxy, as the hint says to."""
    standin.refuse(443)
    run, document = diagnose(standin, tmp_path)
    assert run.code == 1
    tcp = next(r for r in document["results"] if r["id"] == "network.tcp")
    assert tcp["status"] == "fail" and "a firewall rejects direct connections" in tcp["summary"]
    commands = fix_commands(document)
    assert commands[0] == "export HTTPS_PROXY=http://host:port", commands
    no_contradiction(document)
    proxy = f"http://127.0.0.1:{PROXY_PORT}"
    assert_user_line_works(standin, tmp_path, HTTPS_PROXY=proxy)
    assert [r.target for r in standin.proxied] == ["storage.googleapis.com:443"]


def test_a_download_in_progress_is_named_and_left_alone(standin, tmp_path) -> None:
    """Another process is still writing mnist.npz (Keras writes straight to the final name): the
    diagnosis names it, copies and replaces nothing, and every byte the writer writes after the
    diagnosis lands in the same file, which the user's line then loads."""
    data = standin.dataset.read_bytes()
    copy = tmp_path / ".keras" / "datasets" / "mnist.npz"
    copy.parent.mkdir(parents=True)
    go_on = tmp_path / "go-on"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(copy), str(standin.dataset), str(go_on)],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (copy.exists() and copy.stat().st_size == len(data) // 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        inode = copy.stat().st_ino
        run, document = diagnose(standin, tmp_path)
        by_id = {r["id"]: r for r in document["results"]}
        assert "a download is in progress" in by_id["cache.integrity"]["summary"], by_id["cache.integrity"]
        assert f"process {writer.pid}" in by_id["cache.integrity"]["summary"]
        assert by_id["load.real"]["status"] == "skip" and "in progress" in by_id["load.real"]["summary"]
        assert not any("--clear-cache" in c for c in fix_commands(document)), fix_commands(document)
        assert run.code == 0 and copy.stat().st_ino == inode
        go_on.touch()  # the download goes on to its end
        assert writer.wait(30) == 0
    finally:
        writer.kill()
    assert copy.read_bytes() == data and copy.stat().st_ino == inode
    assert_user_line_works(standin, tmp_path)


#: A download in progress: half the file, a pause until told to go on, then the rest.
WRITER = """
import os, sys, time
target, source, go_on = sys.argv[1:]
data = open(source, "rb").read()
with open(target, "wb") as out:
    out.write(data[: len(data) // 2]); out.flush()
    end = time.monotonic() + 120
    while not os.path.exists(go_on) and time.monotonic() < end:
        time.sleep(0.05)
    out.write(data[len(data) // 2 :])
"""


def test_a_host_that_never_answers_is_a_finding_and_never_called_unreachable(standin, tmp_path) -> None:
    """Silence for the stage's whole own limit is a fail (the run's budget had time to spare); its
    cure is the network's (a proxy) or the offline route, which a test cannot apply."""
    standin.answer(MNIST.origin, Reply(stall=True))
    run, document = diagnose(standin, tmp_path, "--timeout", "45")
    assert run.code == 1
    http = next(r for r in document["results"] if r["id"] == "network.http")
    assert http["status"] == "fail" and "accepts connections and never answers" in http["summary"], http
    assert not http["data"].get("cut_by_budget")
    assert "no route" not in http["hint"] and "HTTPS_PROXY" in http["hint"]
    no_contradiction(document)


def test_an_empty_ssl_cert_file_is_one_root_cause_and_unsetting_it_works(standin, tmp_path) -> None:
    """SSL_CERT_FILE names an empty file: the store urllib verifies with is empty. Every TLS
    finding follows from that one setting, nothing accuses the network, and the printed
    ``unset SSL_CERT_FILE`` brings the default store back."""
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    env = standin.env(tmp_path, SSL_CERT_FILE=str(empty))
    run = standin.doctor("--format", "json", env=env, cwd=tmp_path)
    document = json.loads(run.stdout)
    assert run.code == 1
    [problem] = document["diagnosis"]["problems"]
    assert problem["checks"][0] == "tls.cert_env" and "network.tls" in problem["checks"], problem
    tls = next(r for r in document["results"] if r["id"] == "network.tls")
    assert "trusts no CA at all" in tls["summary"] and "inspection" not in tls["summary"]
    assert "unset SSL_CERT_FILE" in fix_commands(document)
    no_contradiction(document)
    assert_user_line_works(standin, tmp_path)  # the same environment without SSL_CERT_FILE


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_the_file_is_followed_without_a_word(standin, tmp_path, status) -> None:
    """Hosts move files: urllib (and Keras) follow every redirect kind on Python ≥ 3.11 (308 since
    3.11), and so does the verdict."""
    standin.answer(MNIST.origin, Reply(status, b"", (("Location", "/moved/mnist.npz"),)))
    standin.answer("/moved/mnist.npz", Reply(200, standin.dataset.read_bytes()))
    run, document = diagnose(standin, tmp_path)
    assert run.code == 0, run.stderr[-2000:]
    noisy = {i: s for i, s in statuses(document).items() if i.split(".")[0] in ONLINE_FAMILIES}
    assert not {i: s for i, s in noisy.items() if s in ("warn", "fail", "error")}, noisy


@pytest.mark.parametrize("where", ["loop", "login"])
def test_a_redirect_loop_or_a_login_wall_is_named_as_such(standin, tmp_path, where) -> None:
    """A portal's redirects: a loop urllib gives up on, or a plain-HTTP login page. Passing the
    portal is the user's (a browser), not something a test can apply."""
    if where == "loop":
        standin.answer(MNIST.origin, Reply(302, b"", (("Location", urlsplit(MNIST.origin).path),)))
    else:
        standin.answer(MNIST.origin, Reply(302, b"", (("Location", "http://storage.googleapis.com/login"),)))
        standin.answer(
            "/login", Reply(200, b"<html><body>Sign in</body></html>", (("Content-Type", "text/html"),))
        )
    run, document = diagnose(standin, tmp_path)
    assert run.code == 1
    http = next(r for r in document["results"] if r["id"] == "network.http")
    said = "redirects in a loop" if where == "loop" else "HTML page"
    assert http["status"] == "fail" and said in http["summary"], http
    assert "pass the portal" in http["hint"] and "no route" not in http["hint"]
    assert not any(c.startswith("open ") or c.startswith("pass ") for c in fix_commands(document))
    no_contradiction(document)


def test_a_compressed_body_is_named_and_is_one_problem_with_what_keras_rejected(standin, tmp_path) -> None:
    """Content-Encoding: gzip, which urllib does not undo: Keras saves the compressed bytes and
    its sha256 check rejects them. One cause, said by network.http; the rest agrees."""
    data = standin.dataset.read_bytes()
    standin.answer(MNIST.origin, Reply(200, gzip.compress(data), (("Content-Encoding", "gzip"),)))
    run, document = diagnose(standin, tmp_path)
    assert run.code == 1
    [problem] = document["diagnosis"]["problems"]
    assert problem["checks"][0] == "network.http" and "load.real" in problem["checks"], problem
    http = next(r for r in document["results"] if r["id"] == "network.http")
    assert "gzip-encoded" in http["summary"]
    no_contradiction(document)


def test_a_proxy_asking_for_credentials_gets_a_command_to_fill_in_which_works(standin, tmp_path) -> None:
    """407 from the office proxy: the printed command has placeholders only the user can fill
    (and never shows a password); filled in, it works."""
    standin.refuse(443)
    standin.proxy_credentials = "alice:s3cret"
    proxy = f"http://127.0.0.1:{PROXY_PORT}"
    env = standin.env(tmp_path, HTTPS_PROXY=proxy)
    run = standin.doctor("--format", "json", env=env, cwd=tmp_path)
    document = json.loads(run.stdout)
    assert run.code == 1
    connect = next(r for r in document["results"] if r["id"] == "network.connect")
    assert connect["status"] == "fail" and "demands credentials" in connect["summary"]
    template = f"export HTTPS_PROXY=http://<user>:<password>@127.0.0.1:{PROXY_PORT}"
    assert template in fix_commands(document), fix_commands(document)
    no_contradiction(document)
    filled = template.replace("<user>", "alice").replace("<password>", "s3cret")
    assert_user_line_works(standin, tmp_path, HTTPS_PROXY=filled.split("=", 1)[1])


#: A port of the stand-in network that accepts connections and never answers: a dead proxy's.
SILENT_PORT = 3129


def test_fix_behind_a_silent_proxy_keeps_it_failing_and_the_road_around_it_works(standin, tmp_path) -> None:
    """The run from issue 21: a broken cached copy, HTTPS_PROXY at a port that accepts and never
    answers, ``--fix --yes --timeout 10``. The fix removes the copy; the proxy, silent for the
    CONNECT stage's whole own cap, is a failure naming its address (not "cut by the budget"), and
    it stays one after the fix, which did not cure it: exit 1. The printed fix for it (going
    direct, which the doctor walked here) is applied as printed, in a shell; the user's line works."""
    standin.listen(SILENT_PORT, "silent")
    copy = tmp_path / ".keras" / "datasets" / "mnist.npz"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"<html><body>login</body></html>")
    env = standin.env(tmp_path, HTTPS_PROXY=f"http://127.0.0.1:{SILENT_PORT}")
    run = standin.doctor("--fix", "--yes", "--timeout", "10", "--format", "json", env=env, cwd=tmp_path)
    assert run.code == 1, run.stdout[-3000:] + run.stderr[-2000:]
    document = run.json
    connect = run.result("network.connect")
    assert connect["status"] == "fail" and not connect["data"].get("cut_by_budget"), connect
    assert f"the proxy at 127.0.0.1:{SILENT_PORT} accepts connections and never answers" in connect["summary"]
    step = document["actions"][0]
    assert step["changed"] and not copy.exists(), step["messages"]  # the cache fix was carried out
    outcome = step["outcome"]
    assert "network.connect" in outcome["still_failing"] + outcome["not_rechecked"], outcome
    assert "network.connect" not in outcome["fixed"]
    command = fix_commands(document)[0]
    assert command == "unset HTTPS_PROXY", fix_commands(document)
    in_a_shell = ["sh", "-c", command + ' && exec "$0" -c "$1"', sys.executable, USER_LINE]
    done = standin.run(in_a_shell, env, cwd=tmp_path)
    assert done.returncode == 0 and "(60000, 28, 28)" in done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("certificate", "said"),
    [("expired", "has expired"), ("incomplete", "does not send its intermediate certificate")],
)
def test_other_certificate_failures_are_named_by_what_failed(standin, tmp_path, certificate, said) -> None:
    """An expired certificate (the clock, or the host) and a server that omits its intermediate:
    named, never called inspection; their cures are the clock's or the server's, not a test's."""
    standin.present(certificate)
    run, document = diagnose(standin, tmp_path)
    assert run.code == 1
    tls = next(r for r in document["results"] if r["id"] == "network.tls")
    assert tls["status"] == "fail" and said in tls["summary"] and "inspection by" not in tls["summary"], tls
    no_contradiction(document)


def test_a_stale_but_valid_cached_copy_while_online_is_a_warning_and_keras_replaces_it(
    standin, tmp_path
) -> None:
    """A valid MNIST that is not the pinned file (an older copy): Keras replaces it on first use."""
    copy = tmp_path / ".keras" / "datasets" / "mnist.npz"
    copy.parent.mkdir(parents=True)
    write_synthetic_mnist(copy, seed=3)
    run, document = diagnose(standin, tmp_path)
    assert run.code == 0, run.stderr[-2000:]
    assert statuses(document)["cache.integrity"] == "warn"
    no_contradiction(document)
    assert_user_line_works(standin, tmp_path)
    assert copy.read_bytes() == standin.dataset.read_bytes()


@pytest.mark.parametrize("folder", [".keras", ".keras/datasets"], ids=["keras-dir", "datasets-dir"])
def test_a_cache_on_a_read_only_volume_gets_another_folder_not_chmod(standin, tmp_path, folder) -> None:
    """A read-only volume (EROFS, root's writes too): ``~/.keras`` read-only makes Keras 3 fall
    back to /tmp/.keras (works, fragile: warn); only ``datasets/`` read-only breaks the download
    (fail, one problem). No chmod cures either: the fix is a folder on a writable disk."""
    standin.private_tmp(tmp_path)  # Keras' fallback is /tmp/.keras: never the machine's own
    (tmp_path / ".keras" / "datasets").mkdir(parents=True)
    standin.read_only(tmp_path / folder)
    run, document = diagnose(standin, tmp_path)
    commands = fix_commands(document)
    assert not any("chmod" in c for c in commands), commands
    if folder == ".keras":
        assert run.code == 0, run.stderr[-2000:]
        location = next(r for r in document["results"] if r["id"] == "cache.location")
        assert location["status"] == "warn" and "read-only file system" in location["summary"], location
    else:
        assert run.code == 1
        [problem] = document["diagnosis"]["problems"]
        assert problem["checks"][:2] == ["cache.permissions", "load.real"], problem
        assert "read-only file system" in problem["title"], problem
    no_contradiction(document)
    [export] = [c for c in commands if c.startswith("export KERAS_HOME=")]
    keras_home = shlex.split(export.split("=", 1)[1])[0]
    assert_user_line_works(standin, tmp_path, KERAS_HOME=keras_home)
    assert (Path(keras_home) / "datasets" / "mnist.npz").read_bytes() == standin.dataset.read_bytes()


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (403, "blocks storage.googleapis.com:443 by its policy"),
        (502, "could not reach storage.googleapis.com:443 itself"),
        (503, "is unavailable or overloaded"),
        (405, "it is probably not an HTTP proxy"),
    ],
)
def test_a_proxy_answering_connect_with_an_error_is_named_by_what_the_status_means(
    standin, tmp_path, status, said
) -> None:
    """The office proxy answers CONNECT with an error and direct connections are refused: the
    status's meaning (policy, the host beyond it, overload, not a proxy), never "no route"; the
    cure is the proxy admin's or another machine's, which a test cannot apply."""
    standin.refuse(443)
    standin.proxy_status = status
    env = standin.env(tmp_path, HTTPS_PROXY=f"http://127.0.0.1:{PROXY_PORT}")
    run = standin.doctor("--format", "json", env=env, cwd=tmp_path)
    document = json.loads(run.stdout)
    assert run.code == 1
    [problem] = document["diagnosis"]["problems"]
    assert problem["checks"][:2] == ["network.connect", "load.real"], problem
    connect = next(r for r in document["results"] if r["id"] == "network.connect")
    assert said in connect["summary"], connect
    fix = document["diagnosis"]["fixes"][problem["fix"] - 1]
    assert "no route" not in fix["advice"] and MNIST.sha256 in fix["advice"], fix
    assert not any(c.startswith("unset") for c in fix_commands(document))  # direct is refused here
    no_contradiction(document)


def test_a_proxy_that_blocks_the_host_when_the_direct_route_works_is_dropped_and_that_works(
    standin, tmp_path
) -> None:
    """A proxy variable left from another network (the office's, at home): the proxy refuses,
    the host answers directly; the fix is to drop the variable, and then load_data() works."""
    standin.proxy_status = 403
    env = standin.env(tmp_path, HTTPS_PROXY=f"http://127.0.0.1:{PROXY_PORT}")
    run = standin.doctor("--format", "json", env=env, cwd=tmp_path)
    document = json.loads(run.stdout)
    assert run.code == 1
    assert "unset HTTPS_PROXY" in fix_commands(document), fix_commands(document)
    no_contradiction(document)
    assert_user_line_works(standin, tmp_path)  # the same environment, HTTPS_PROXY unset
