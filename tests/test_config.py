"""Where the key and URL come from, and which URLs a key may travel to."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from callcov_analytics import Config, ConfigurationError, set_session_key
from callcov_analytics._config import check_base_url, origin_of


def fake_key() -> str:
    return "sk_test_" + secrets.token_hex(24)


@pytest.fixture(autouse=True)
def no_session_key():
    set_session_key(None)
    yield
    set_session_key(None)


def test_missing_key_says_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match="CALLCOV_API_KEY") as info:
        Config.resolve()
    assert "api_key=" in str(info.value)


def test_precedence_explicit_then_session_then_env_then_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    explicit, session, env, dotenv = (fake_key() for _ in range(4))
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"CALLCOV_API_KEY={dotenv}\n")
    assert Config.resolve().api_key.reveal() == dotenv
    monkeypatch.setenv("CALLCOV_API_KEY", env)
    assert Config.resolve().api_key.reveal() == env
    set_session_key(session)
    assert Config.resolve().api_key.reveal() == session
    assert Config.resolve(api_key=explicit).api_key.reveal() == explicit


def test_dotenv_never_overrides_or_exports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CALLCOV_API_URL=https://example.test/api/v1\n")
    monkeypatch.setenv("CALLCOV_API_URL", "https://env.test/api/v1")
    assert Config.resolve(api_key=fake_key()).base_url == "https://env.test/api/v1"
    import os

    assert "example.test" not in os.environ.get("CALLCOV_API_URL", "")


def test_key_is_stripped_and_never_in_repr() -> None:
    key = fake_key()
    config = Config.resolve(api_key=f"  {key}\n")
    assert config.api_key.reveal() == key
    assert key not in repr(config) and key not in str(config)
    assert key[-4:] in repr(config)  # a hint to tell keys apart


@pytest.mark.parametrize("bad", ["", "   ", "sk_test_abc def", "sk_test_\x00abc"])
def test_blank_or_garbled_key_is_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        Config.resolve(api_key=bad)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.callcov.com/api/v1",
        "https://api.callcov.com/api/v1/",
        "http://127.0.0.1:8080/api/v1",
        "http://127.0.0.2:1/api/v1",
        "http://localhost:5000/api/v1",
        "http://[::1]:5000/api/v1",
    ],
)
def test_allowed_urls(url: str) -> None:
    assert check_base_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.callcov.com/api/v1",  # plain http to a remote host
        "http://127.0.0.1.evil.example/api/v1",
        "http://127.0.0.1@evil.example/api/v1",
        "http://evil.example\\@127.0.0.1/api/v1",
        "https://user:pw@api.callcov.com/api/v1",
        "ftp://api.callcov.com/api/v1",
        "api.callcov.com/api/v1",
        "https://api.callcov.com/api/v1?api_key=x",
        "http://10.0.0.5/api/v1",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        check_base_url(url)


def test_origin_includes_default_ports() -> None:
    assert origin_of("https://API.callcov.com/api/v1") == "https://api.callcov.com:443"
    assert origin_of("https://api.callcov.com:443/x") == origin_of("https://api.callcov.com/y")
    assert origin_of("http://127.0.0.1:80/") != origin_of("https://127.0.0.1/")
