"""The key never shows: Secret, text and URL redaction, the logging filter."""

from __future__ import annotations

import gc
import logging
import pickle
import secrets

import pytest

from callcov_analytics import CallCovClient
from callcov_analytics._secrets import Secret, guard_logging, hold_secret, redact_text, sanitize_url


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
    with hold_secret(Secret(key)), caplog.at_level(logging.DEBUG):
        logging.getLogger("callcov_analytics").debug("header was %s", key)
        logging.getLogger("urllib3.connectionpool").debug("url had %s", key)
    assert caplog.records and key not in caplog.text


def _shown(caplog: pytest.LogCaptureFixture, value: str) -> bool:
    """Whether ``value`` reaches the log when the package logs it."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("callcov_analytics").debug("sent %s", value)
    return value in caplog.text


def test_the_log_filter_holds_the_keys_of_live_clients_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Not key-shaped, so that only the filter's hold can mask them (the sk_ pattern cannot).
    live, closed, dropped = (f"custom-{secrets.token_hex(16)}" for _ in range(3))
    url = "https://api.callcov.example/api/v1"
    held = guard_logging()
    first, gone = CallCovClient(live, url), CallCovClient(closed, url)
    assert {live, closed} <= held.secrets and not _shown(caplog, live)
    gone.close()
    assert closed not in held.secrets and _shown(caplog, closed)  # forgotten, as decided
    assert live in held.secrets and not _shown(caplog, live)
    twin = CallCovClient(live, url)  # a second client of the same key
    view = first.for_load(None)
    twin.close()
    assert live in held.secrets, "closing one client of a key unmasked the other's"
    del first
    gc.collect()
    assert live in held.secrets, "a per-load view's key was unmasked while the view lives"
    del view
    gc.collect()
    assert live not in held.secrets
    CallCovClient(dropped, url)  # never closed: collected at once
    gc.collect()
    assert dropped not in held.secrets
