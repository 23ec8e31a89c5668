"""The redaction safety net: secrets never survive into a report."""

from mnist_doctor.redact import redact, redact_text


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
