"""The diagnosis block's logic: root causes, fixes, wording; and the command layout it relies on.

The result rows below are those the doctor wrote on an offline machine (ids, statuses and the
``data`` keys the summary reads, copied from a real ``--format json`` run), so the collapse of
``network.dns`` + ``load.real`` + ``load.consistency`` into one problem is tested on the shape
the checks really produce; the end-to-end runs are in test_report_layout and test_json_contract.
"""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mnist_doctor.model import Advice, Fix, FixKind, Hint, Result, hint_parts
from mnist_doctor.pipeline.summary import summarize
from mnist_doctor.render import closing_line, fold_skips
from mnist_doctor.render.commands import shell_words, unwrap_lines, wrap_command
from mnist_doctor.text.hints import otherwise, quoted, said
from mnist_doctor.text.output import plural

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
DNS_HINT = (
    "this machine has no route to the host: use the offline route: "
    + quoted("mnist-doctor --seed FILE")
    + " with a file downloaded elsewhere, or "
    + quoted("mnist-doctor --fetch --mirror URL")
    + "; if the network needs a proxy: "
    + said("export HTTPS_PROXY=http://host:port")
)


def row(
    rid: str,
    status: str,
    summary: str = "",
    hint: str | None = None,
    *,
    links: tuple[str, ...] = (),
    advice: tuple[Advice, ...] = (),
    **data: object,
) -> dict:
    """A result row as the report holds it (``Hint`` given as ``hint``: its text and typed advice)."""
    advice = (*hint_parts(hint)[1], *advice)
    return {
        "id": rid, "family": rid.split(".")[0], "title": rid, "status": status, "summary": summary or rid,
        "details": [], "hint": hint_parts(hint)[0], "elapsed_s": 0.0, "data": dict(data),
        "explained_by": list(links), "advice": [a.to_dict() for a in advice],
    }  # fmt: skip


#: The links load.real sets for a network failure (checks.load.EXPLAINED_BY plus its own).
NETWORK_LINKS = ("network", "proxy", "tls", "network.http")


def offline_machine() -> list[dict]:
    record = {"host": "storage.googleapis.com", "ok": False}
    return [
        row("compat.numpy", "ok"),
        row("proxy.effective", "ok"),
        row("network.dns", "fail", "DNS: storage.googleapis.com does not resolve", DNS_HINT,
            stage="dns", failed_stage="dns", origin=ORIGIN, record=record),
        row("network.tcp", "skip", "not reached: the dns stage failed", stage="tcp", failed_stage="dns"),
        row("network.tls", "skip", "not reached: the dns stage failed", stage="tls", failed_stage="dns"),
        row("network.requests", "ok", "requests fails too", urllib_failed_stage="dns"),
        row("cache.integrity", "ok"),
        row("load.real", "fail", "load_data failed — DNS for storage.googleapis.com failed",
            "copy mnist.npz from a machine that has it and run " + quoted("mnist-doctor --seed FILE"),
            links=NETWORK_LINKS, succeeded=False, cause="dns", category="network",
            fix={"kind": "fetch", "reason": "dns"}),
        row("load.consistency", "ok", "agree: load_data failed on the network and network checks failed",
            load="fail", network="fail"),
    ]  # fmt: skip


def test_offline_machine_is_one_problem_with_one_fix() -> None:
    diagnosis = summarize(offline_machine())
    assert diagnosis["verdict"] == "fail"
    (problem,) = diagnosis["problems"]
    assert problem["title"] == "no route to storage.googleapis.com (DNS)"
    assert problem["checks"] == ["network.dns", "load.real", "load.consistency"]
    assert "load_data() fails the same way" in problem["explanation"]
    (fix,) = diagnosis["fixes"]
    assert fix["number"] == problem["fix"] == 1 and fix["check"] == "network.dns"
    assert [c["command"] for c in fix["commands"]] == [
        "mnist-doctor --seed FILE",
        "mnist-doctor --fetch --mirror URL",
        "export HTTPS_PROXY=http://host:port",
    ]


def test_two_independent_failures_stay_two_problems() -> None:
    rows = [*offline_machine(), row("compat.python", "fail", "Python 3.14 has no TensorFlow wheel")]
    titles = [p["title"] for p in summarize(rows)["problems"]]
    assert titles == ["no route to storage.googleapis.com (DNS)", "Python 3.14 has no TensorFlow wheel"]


def test_an_import_failure_folds_into_the_compat_failure_it_names() -> None:
    rows = [
        row(
            "compat.numpy",
            "fail",
            "NumPy 2.1.0 with TensorFlow 2.16.1",
            said("python -m pip install 'numpy<2'"),
        ),
        row(
            "runtime.import",
            "fail",
            "import tensorflow failed: numpy 2 ABI (_ARRAY_API not found)",
            links=("env.shadowing", "compat.numpy", "compat.tensorflow"),
        ),
        row(
            "load.real",
            "fail",
            "load_data failed — import failed",
            category="import",
            links=("env", "compat", "runtime", "network.http"),
        ),
    ]
    (problem,) = summarize(rows)["problems"]
    assert problem["checks"] == ["compat.numpy", "runtime.import", "load.real"]


def test_consequences_follow_explained_by_and_never_the_text() -> None:
    compat = row("compat.numpy", "fail", "NumPy 2.1.0 with TensorFlow 2.16.1")
    # The import's summary names numpy, but it links nothing: two problems (the summary once
    # folded these by finding "numpy" in the text).
    named = row("runtime.import", "fail", "import tensorflow failed: numpy 2 ABI (_ARRAY_API not found)")
    assert [p["checks"] for p in summarize([compat, named])["problems"]] == [
        ["compat.numpy"],
        ["runtime.import"],
    ]
    # A link by id folds it, whatever the text says.
    linked = row("runtime.import", "fail", "import failed", links=("env.shadowing", "compat.numpy"))
    (problem,) = summarize([compat, linked])["problems"]
    assert problem["checks"] == ["compat.numpy", "runtime.import"]
    # A link to a check that did not fail leaves a root cause.
    assert len(summarize([row("compat.numpy", "ok"), linked])["problems"]) == 1
    assert summarize([row("compat.numpy", "ok"), linked])["problems"][0]["checks"] == ["runtime.import"]


def test_a_family_link_takes_the_first_failing_check_of_the_first_family_named() -> None:
    rows = [
        row("network.http", "fail", "HTTP 403"),
        row("proxy.scheme", "fail", "HTTPS_PROXY uses https://"),
        row("tls.cert_env", "fail", "SSL_CERT_FILE unreadable"),
        row("load.real", "fail", "load_data failed", links=("proxy", "network")),
    ]
    problems = summarize(rows)["problems"]
    assert [p["checks"] for p in problems] == [
        ["network.http"],
        ["proxy.scheme", "load.real"],
        ["tls.cert_env"],
    ]


def test_the_import_check_links_to_the_compat_check_its_cause_is_about() -> None:
    from mnist_doctor.causes.imports import classify_import_failure

    cause = classify_import_failure(
        "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.0.0\n"
        "ImportError: numpy.core._multiarray_umath failed to import",
        target_python="python",
        tf_minor="2.16",
        legacy_keras=None,
    )
    assert cause.name == "numpy-abi" and cause.explained_by == ("compat.numpy",)


def test_healthy_machine_one_line_with_the_timing() -> None:
    rows = [
        row("compat.numpy", "ok"),
        row("load.real", "ok", "load_data works", succeeded=True, elapsed_s=1.25),
    ]
    diagnosis = summarize(rows)
    assert diagnosis["verdict"] == "ok" and diagnosis["problems"] == [] and diagnosis["fixes"] == []
    assert diagnosis["headline"] == "`load_data()` works here (it took 1.2 s)"


def test_offline_without_the_file_says_it_will_download_and_how_to_seed() -> None:
    rows = [
        row("load.real", "skip", "--offline: load_data not run: load_data would download mnist.npz",
            said("mnist-doctor --seed FILE") + otherwise("or, with a network", "mnist-doctor --fetch"),
            read_only=True, verdict="missing"),
    ]  # fmt: skip
    diagnosis = summarize(rows)
    assert diagnosis["verdict"] == "ok" and diagnosis["load_data"]["state"] == "needs-download"
    assert "will need to download mnist.npz (11.5 MB)" in diagnosis["headline"]
    commands = [(c["command"], c["comment"]) for c in diagnosis["fixes"][0]["commands"]]
    assert commands == [("mnist-doctor --seed FILE", None), ("mnist-doctor --fetch", "or, with a network")]


def test_warnings_are_listed_after_problems_with_their_own_fix_numbers() -> None:
    rows = [
        *offline_machine(),
        row("proxy.scheme", "warn", "HTTPS_PROXY uses https://", said("export HTTPS_PROXY=x")),
    ]
    diagnosis = summarize(rows)
    assert [w["fix"] for w in diagnosis["warnings"]] == [2]
    assert "1 warning" not in diagnosis["headline"]  # problems lead; warnings are listed below them


def test_typed_fixes_are_the_command_and_hint_alternatives_follow() -> None:
    pip = ("/venv/bin/python", "-m", "pip", "install")
    install = Fix(FixKind.COMMAND, (*pip, "numpy<2"), "install numpy<2")
    upgrade = Fix(FixKind.COMMAND, (*pip, "tensorflow>=2.18"), "upgrade TensorFlow")
    hint = install.command + "  (or upgrade: " + said(upgrade.command) + ")"
    fixed = row("compat.numpy", "fail", "NumPy 2 on TF 2.16", hint)
    fixed["fixes"] = [install.to_dict()]
    (fix,) = summarize([fixed])["fixes"]
    assert [c["command"] for c in fix["commands"]] == [install.command, upgrade.command]
    assert shlex.split(fix["commands"][0]["command"]) == list(install.argv) and fix["runs_with_fix"] is True
    assert fix["advice"] == f"{install.command}  (or upgrade: {upgrade.command})"  # the prose, as written
    # Without the typed fix only the typed alternative is a command, and nothing --fix can run.
    (plain,) = summarize([row("compat.numpy", "fail", "NumPy 2 on TF 2.16", hint)])["fixes"]
    assert [c["command"] for c in plain["commands"]] == [upgrade.command]
    assert plain["runs_with_fix"] is False


def test_singular_and_plural() -> None:
    counts = {"ok": 1, "warn": 1, "fail": 0, "skip": 2, "error": 0}
    assert closing_line({"counts": counts}) == "1 passed, 1 warning, 0 failed, 2 skipped"
    assert plural(2, "problem") == "2 problems" and plural(1, "problem") == "1 problem"


def test_identical_skips_fold_into_one_group() -> None:
    rows = [row(f"network.{s}", "skip", "--offline: network checks are not run") for s in "abcdef"]
    rows.append(row("network.z", "skip", "something else"))
    folded = fold_skips(rows)
    assert len(folded) == 2 and isinstance(folded[0], tuple) and len(folded[0][1]) == 6


def test_every_command_printed_comes_from_typed_data_never_from_the_hint_text() -> None:
    # Prose that quotes command-looking words, with nothing typed: no command at all (the deleted
    # parser read "export FOO=1" and "unset it" out of such sentences).
    prose = "rerun with a larger --timeout, or unset it; e.g. `export FOO=1` then rm the file"
    (fix,) = summarize([row("env.paths", "fail", "bad", prose)])["fixes"]
    assert fix["commands"] == [] and fix["advice"] == prose
    # The same words built with the typed helpers: exactly the typed commands, with their comments.
    typed = said("rm /x/keras.json", "Keras writes a fresh one on import")
    assert typed == "rm /x/keras.json   # Keras writes a fresh one on import"
    both = said('sudo chown "$(id -un)" /p && chmod u+rw /p') + otherwise("or", "rm /p")
    assert both == 'sudo chown "$(id -un)" /p && chmod u+rw /p   # or: rm /p'
    rows = [row("cache.config", "fail", "unreadable", typed), row("cache.other", "fail", "x", both)]
    fixes = summarize(rows)["fixes"]
    assert [[(c["command"], c["comment"]) for c in f["commands"]] for f in fixes] == [
        [("rm /x/keras.json", "Keras writes a fresh one on import")],
        [('sudo chown "$(id -un)" /p && chmod u+rw /p', None), ("rm /p", "or")],
    ]


def test_a_hint_keeps_its_commands_through_composition_and_refuses_an_f_string() -> None:
    built = "a " + quoted("mnist-doctor --seed FILE") + "; b " + said("unset X") + "."
    assert built == "a `mnist-doctor --seed FILE`; b unset X." and isinstance(built, Hint)
    assert [a.line for a in built.advice] == ["mnist-doctor --seed FILE", "unset X"]
    result = Result.fail("s", hint=built)
    assert type(result.hint) is str and result.advice == built.advice
    with pytest.raises(TypeError):
        f"{built}"


WORD = st.text(alphabet="abcXYZ019-_./=<>:~", min_size=1, max_size=70)


@given(st.lists(WORD, min_size=1, max_size=12), st.integers(min_value=20, max_value=200))
def test_wrapped_commands_unwrap_to_the_same_words(words: list[str], width: int) -> None:
    command = " ".join(shlex.quote(w) for w in words)
    lines = wrap_command(command, width, indent="    ")
    assert unwrap_lines(lines) == ["    " + command]
    assert shlex.split(" ".join(line.removesuffix(" \\") for line in lines)) == words
    for line in lines:
        pieces = shell_words(line.strip().removesuffix(" \\")) or []
        assert len(line) <= width or len(pieces) == 1  # only a single over-long word runs past the edge
