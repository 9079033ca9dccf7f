"""Redaction: every credential shape is caught, in plain text and inside
payloads, and ordinary text and code are left alone."""

from __future__ import annotations

import pytest

from overseer.redact import Redactor

SECRETS = {
    "anthropic_key": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
    "openai_key": "sk-proj-abcdefghijklmnopqrstuvwxyz0123",
    "github_token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "gitlab_token": "glpat-abcdefghijklmnopqrstuv",
    "slack_token": "xoxb-1234567890-abcdefghij",
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "google_api_key": "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "huggingface_token": "hf_abcdefghijklmnopqrstuvwxyzABCDEFG",
    "stripe_key": "sk_live_abcdefghijklmnop1234",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----",
    "bearer_token": "Bearer abcdefghijklmnopqrstuvwxyz012345",
}


@pytest.mark.parametrize("name,secret", SECRETS.items(), ids=list(SECRETS))
def test_every_credential_shape_is_redacted(name, secret):
    r = Redactor(env={})
    out = r.text(f"the value is {secret} right here")
    core = secret.removeprefix("Bearer ")
    assert core not in out and "[REDACTED:" in out
    nested = r.value({"output": f"x {secret}", "lines": [secret]})
    assert core not in str(nested)


@pytest.mark.parametrize(
    "text",
    [
        "lorem ipsum dolor sit amet " * 40,
        "def test_discount_rounds_to_nearest_cent():\n    assert apply_discount(999, 15) == 849",
        "sorted(items, key=lambda item: item.name)",
        "git log --since=2026-01-01 --format=%H",
        "timeout=120 retries=3",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert Redactor(env={}).text(text) == text


def test_short_and_long_strings_are_redacted_alike_and_repeats_stay_redacted():
    # Short strings take a cached road, long ones do not: same answers, and a
    # cached answer never outlives a secret added later.
    r = Redactor(env={"SERVICE_TOKEN": "tok-123456789"})
    short = "export SERVICE_TOKEN=tok-123456789"
    long = short + " " + "x" * 400
    for _ in range(3):
        assert "tok-123456789" not in r.text(short)
        assert "tok-123456789" not in r.text(long)
    plain = "the build id is build-00042"
    assert r.text(plain) == plain
    r.add_secret("BUILD_ID", "build-00042")
    assert r.text(plain) == "the build id is [REDACTED:BUILD_ID]"


def test_empty_containers_and_scalars_pass_through_unchanged():
    r = Redactor(env={})
    value = {"reads": [], "facts": {}, "n": 3, "ok": True, "none": None, "f": 0.5}
    assert r.value(value) == {
        "reads": [],
        "facts": {},
        "n": 3,
        "ok": True,
        "none": None,
        "f": "0.5",
    }


def test_long_keys_are_judged_but_not_kept():
    from overseer import redact

    r = Redactor(env={})
    before = redact._secret_name_short.cache_info().currsize  # noqa: SLF001
    payload = {("k" * 300) + str(i): "some value here" for i in range(200)}
    payload["x" * 300 + "_password"] = "hunter22"
    out = r.value(payload)
    assert out["x" * 300 + "_password"].startswith("[REDACTED")
    assert redact._secret_name_short.cache_info().currsize == before  # noqa: SLF001


def test_pathological_text_cannot_stall_redaction():
    """An unbounded assignment pattern once took 13 s on 32 KB of word
    characters followed by a colon (tried at every position, each attempt
    scanning to the end): 1 MB would have taken hours. Each shape below, a
    megabyte long, must be redacted well inside the timeout (it takes
    milliseconds); a hang, not a speed, is what this catches."""
    import subprocess
    import sys

    code = (
        "from overseer.redact import Redactor\n"
        "r = Redactor(env={})\n"
        "n = 1 << 20\n"
        "for text in ('A' * n + ' key: v', 'a_' * (n // 2) + '=1',\n"
        "             '-----BEGIN RSA PRIVATE KEY-----x' * (n // 32), 'k' * n + ' ' * 64 + '= v',\n"
        "             'eyJ' * (n // 3)):\n"
        "    r.text(text)\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-500:]


def test_names_after_digits_and_very_long_names_are_still_judged():
    r = Redactor(env={})
    assert "abcdef1234" not in r.text("2FA_TOKEN=abcdef1234")
    long_name = "SOME_" + "VERY_" * 20 + "LONG_API_KEY"
    assert "abcdef123456" not in r.text(f"export {long_name}=abcdef123456")
    assert r.text("x = 12; y: 3") == "x = 12; y: 3"
