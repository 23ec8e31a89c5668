"""The redaction safety net: secrets never survive into a report."""

from mnist_doctor.text.redact import redact, redact_text


def test_userinfo_password_is_masked_but_user_and_host_stay():
    out = redact_text("proxy http://alice:s3cr3t@proxy.corp:3128 refused")
    assert "s3cr3t" not in out
    assert "http://alice:***@proxy.corp:3128" in out


def test_bare_user_password_host_port_and_tokens():
    out = redact_text("bob:hunter2@10.0.0.1:8080 and https://x/y?token=abc123&v=1")
    assert "hunter2" not in out and "abc123" not in out
    assert "v=1" in out


def test_nested_structures_are_redacted():
    data = {"a": ["https://u:pw@h/"], "b": {"c": ("socks5://u:pw@h:1080",)}, "n": 3}
    out = redact(data)
    assert "pw" not in str(out)
    assert out["n"] == 3


def test_password_runs_to_the_last_at_as_urllib_reads_it():
    for url, shown in [
        ("http://user:p@ss@proxy:3128", "http://user:***@proxy:3128"),
        ("http://user:p%40ss@proxy:3128", "http://user:***@proxy:3128"),
        ("http://user:pa/ss@proxy:3128", "http://user:***@proxy:3128"),  # '/' ends urllib's authority early
        ("http://user:p ss@proxy:3128", "http://user:***@proxy:3128"),
        ("http://user:p<ss@proxy:3128", "http://user:***@proxy:3128"),  # urllib takes '<' as it is
        ("http://user:p>ss@proxy:3128", "http://user:***@proxy:3128"),
        ('http://user:p"ss@proxy:3128', "http://user:***@proxy:3128"),
        ("http://user:p'ss@proxy:3128", "http://user:***@proxy:3128"),
        ("user:p@ss@proxy:3128", "user:***@proxy:3128"),
    ]:
        assert redact_text(f"via {url} refused") == f"via {shown} refused"


def test_a_fill_in_template_and_quoted_urls_stay_as_they_are():
    """``<password>`` cannot be a password in a URL (unencoded '<'): the fix template stays readable;
    a URL in angle brackets or quotes next to an address is not taken for credentials."""
    for text in (
        "export HTTPS_PROXY=http://<user>:<password>@proxy:3128",
        "see <http://proxy:3128> or <me@x.example>",
        "'http://user:x' and 'a@b'",
    ):
        assert redact_text(text) == text


def test_ports_and_paths_with_at_are_not_mistaken_for_passwords():
    for text in ("see http://proxy:3128 or mail me@x.example", "https://h:8443/p?email=a@b.example"):
        assert redact_text(text) == text


def test_registered_proxy_values_are_masked_even_outside_urls():
    from mnist_doctor.text.redact import register_env

    register_env({"https_proxy": "http://u:Odd Pass/Word@p:3128", "NO_PROXY": "Odd Pass"})
    out = redact_text("the password Odd Pass/Word or Odd%20Pass%2FWord leaked?")
    assert "Odd Pass/Word" not in out and "Odd%20Pass%2FWord" not in out
