"""Dataset URLs the doctor cannot use are named as what they are: exit 2 for a flag, a finding for
``MNIST_DOCTOR_ORIGIN`` (set aside: Keras never reads it, so the checks test Keras' own URL).

Unit tier: the rule (``urlcheck``), the choice of origin, the ``network.origin`` check, and the
command line's usage errors run in this process (they stop before any interpreter is started).
The CLI in a subprocess against a host that answers is in ``test_hostile_validation.py``.
"""

from __future__ import annotations

import sys

import pytest

from mnist_doctor.checks.network import OriginCheck
from mnist_doctor.cli import main as cli
from mnist_doctor.datasets.spec import DEFAULT_ORIGIN, MNIST, ORIGIN_ENV, choose_origin, dataset_spec
from mnist_doctor.facts import Options
from mnist_doctor.network.urlcheck import https_form, url_problem

#: (URL, the words its problem must contain). Each is something a user has typed or pasted.
UNUSABLE = [
    ("ftp://files.example/mnist.npz", "not an http(s) URL (scheme 'ftp')"),
    ("file:///home/me/mnist.npz", "not an http(s) URL (scheme 'file')"),
    ("gopher://h.example/1", "not an http(s) URL (scheme 'gopher')"),
    ("data:application/octet-stream;base64,UEsDBA==", "not an http(s) URL (scheme 'data')"),
    ("", "is empty"),
    ("storage.googleapis.com/tensorflow/mnist.npz", "has no scheme"),
    ("mirror.example:8080/mnist.npz", "has no scheme"),
    ("http:/mirror.example/mnist.npz", "must be followed by '//'"),
    ("https:mirror.example/mnist.npz", "must be followed by '//'"),
    ("https://" + "ü" * 70 + ".example/mnist.npz", "DNS cannot carry"),
    ("https://a..example/mnist.npz", "DNS cannot carry"),
    ("https://mirror.example/" + "a" * 9000, "longer than 8192"),
    ("https://bob:s3cret@mirror.example/mnist.npz", "user name or password"),
    ("https://bob@mirror.example/mnist.npz", "user name or password"),
    ("https://[::1/mnist.npz", "bad IPv6 brackets"),
]


@pytest.mark.parametrize(("url", "words"), UNUSABLE)
def test_each_unusable_url_is_named_for_what_it_is(url: str, words: str) -> None:
    assert words in (url_problem(url) or "")


@pytest.mark.parametrize(
    "url",
    [
        "https://bücher.example/mnist.npz",
        "HTTPS://Mirror.Example/mnist.npz",
        "http://[::1]:8080/d/",
        DEFAULT_ORIGIN,
    ],
)
def test_usable_urls_pass_including_a_host_idna_can_encode(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "form"),
    [
        ("ftp://files.example:21/pub/mnist.npz", "https://files.example/pub/mnist.npz"),
        ("https://bob:pw@mirror.example:8443/d/mnist.npz", "https://mirror.example:8443/d/mnist.npz"),
        ("http:/mirror.example/mnist.npz", None),
        ("https://[::1/x", None),
    ],
)
def test_the_https_form_offered_as_a_fix_is_itself_usable(url: str, form: str | None) -> None:
    assert https_form(url) == form
    assert form is None or url_problem(form) is None


def test_the_flag_beats_the_variable_and_a_bad_variable_is_set_aside() -> None:
    bad = {ORIGIN_ENV: "ftp://files.example/mnist.npz"}
    assert choose_origin("https://m.example/mnist.npz", bad).source == "--origin"
    aside = choose_origin(None, bad)
    assert aside.url is None and aside.rejected == bad[ORIGIN_ENV] and "scheme 'ftp'" in (aside.problem or "")
    assert dataset_spec(aside.url) == MNIST  # Keras' own URL is what the checks test
    good = choose_origin(None, {ORIGIN_ENV: "https://m.example/d/"})
    assert good.url == "https://m.example/d/" and good.source == ORIGIN_ENV
    assert choose_origin(None, {ORIGIN_ENV: ""}) == choose_origin(None, {})  # empty counts as unset


def test_the_finding_names_the_variable_the_url_tested_and_the_fix() -> None:
    choice = choose_origin(None, {ORIGIN_ENV: "ftp://bob:Hunter2@files.example/pub/mnist.npz"})
    online = Options(python=sys.executable)
    result = OriginCheck().run(choice, dataset_spec(choice.url), online)
    assert result.status.value == "warn"
    assert result.summary.startswith(f"{ORIGIN_ENV}='ftp://bob:***@files.example/pub/mnist.npz' is not")
    assert DEFAULT_ORIGIN in result.summary and "Hunter2" not in str(result)
    assert any("Keras never reads" in line for line in result.details)
    assert result.hint == (
        f"unset {ORIGIN_ENV}   # or, if that mirror serves https: "
        f"export {ORIGIN_ENV}=https://files.example/pub/mnist.npz"
    )
    ok = OriginCheck().run(choose_origin(None, {}), MNIST, online)
    assert ok.status.value == "ok" and ok.summary == f"Keras' own URL: {DEFAULT_ORIGIN}"
    offline = OriginCheck().run(choice, MNIST, Options(python=sys.executable, offline=True))
    assert offline.status.value == "skip"  # nothing uses the origin then, as for the whole family


@pytest.mark.parametrize(("url", "words"), UNUSABLE)
@pytest.mark.parametrize("flag", ["--origin", "--mirror"])
def test_a_flag_with_an_unusable_url_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], flag: str, url: str, words: str
) -> None:
    extra = ["--fetch"] if flag == "--mirror" else []
    assert cli.main([flag, url, *extra, "--offline"]) == 2
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if line.startswith("mnist-doctor: error:")]
    assert words in line and flag in line and "s3cret" not in err


def test_fetch_refuses_to_start_from_a_variable_set_aside(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ORIGIN_ENV, "gopher://files.example/mnist.npz")
    assert cli.main(["--fetch"]) == 2
    err = capsys.readouterr().err
    assert f"{ORIGIN_ENV} 'gopher://files.example/mnist.npz' is not an http(s) URL" in err
    assert f"unset {ORIGIN_ENV}" in err
