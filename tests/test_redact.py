"""The key never shows: Secret, text and URL redaction, the logging filter."""

from __future__ import annotations

import logging
import pickle
import secrets

import pytest

from callcov_analytics._secrets import Secret, guard_logging, redact_text, sanitize_url


def test_secret_masks_itself_everywhere() -> None:
    key = "sk_test_" + secrets.token_hex(24)
    secret = Secret(key)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret}"):
        assert key not in shown
    assert secret.reveal() == key
    assert key not in secret.fingerprint and len(secret.fingerprint) == 16
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(secret)


def test_redact_text_masks_given_and_key_shaped_values() -> None:
    mine, other = "sk_live_" + secrets.token_hex(20), "sk_test_" + secrets.token_hex(20)
    text = f"echo {mine} and {other} and custom-secret"
    clean = redact_text(text, "custom-secret")
    assert mine not in clean and other not in clean and "custom-secret" not in clean


def test_sanitize_url_drops_credentials_and_sensitive_query_values() -> None:
    url = "https://user:pw@api.callcov.com:8443/api/v1/calls?api_key=abc&offset=10"
    clean = sanitize_url(url)
    assert "pw" not in clean and "abc" not in clean and "user" not in clean
    assert "offset=10" in clean and clean.startswith("https://api.callcov.com:8443/")


def test_logging_filter_masks_records(caplog: pytest.LogCaptureFixture) -> None:
    key = "sk_test_" + secrets.token_hex(24)
    guard_logging(Secret(key))
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("callcov_analytics").debug("header was %s", key)
        logging.getLogger("urllib3.connectionpool").debug("url had %s", key)
    assert caplog.records and key not in caplog.text
