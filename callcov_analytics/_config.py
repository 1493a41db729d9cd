"""Where the key and base URL come from, and which URLs the key may travel to.

One precedence rule: an explicit argument wins, then this session's choice (the key typed into
the notebook's key entry, or the sandbox asked for by ``notebook.connect(sandbox=True)``; see
`Session`), then the environment (CALLCOV_API_KEY, CALLCOV_API_URL), then a `.env` file in the
working directory (read, never exported, and never overriding a variable that is already set),
then the sandbox `notebook.connect()` started because nothing was configured (its own URL with
its own key), then the default URL. There is no default key. Nothing here writes to
``os.environ``.

Behind a corporate proxy: CALLCOV_PROXY (``http://[user:password@]host:port``) carries https
traffic to the API through a CONNECT tunnel, and CALLCOV_CA_BUNDLE names a PEM file of the
certificate authorities to trust instead of certifi's (for proxies that inspect TLS). Both are
explicit opt-ins: the generic HTTP(S)_PROXY, REQUESTS_CA_BUNDLE and .netrc are never read, and
a plain-http loopback API (the sandbox) never goes through the proxy.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from dotenv import dotenv_values
from urllib3.util import parse_url

from ._errors import ConfigurationError
from ._secrets import Secret

DEFAULT_BASE_URL = "https://api.callcov.com/api/v1"
KEY_ENV = "CALLCOV_API_KEY"
URL_ENV = "CALLCOV_API_URL"
PROXY_ENV = "CALLCOV_PROXY"
CA_BUNDLE_ENV = "CALLCOV_CA_BUNDLE"


@dataclass(frozen=True)
class SessionDefault:
    """A key (and where it goes) that this Python session uses when none is passed."""

    api_key: Secret
    base_url: str | None = None  # None: CALLCOV_API_URL, then .env, then the default
    cache_dir: str | None = None  # a store that ends with the session (the sandbox's)
    sandbox: bool = False  # the key and URL are a sandbox's (made-up data)


class Session:
    """This Python session's default connection; the one place it lives, in memory only.

    Two slots, because they rank differently: what the analyst chose just now (a key typed into
    the key entry, or ``connect(sandbox=True)``) wins over the environment, while the sandbox
    that `notebook.connect()` starts because nothing is configured is used only when no key is
    configured at all, so a real key set later is never sent to that sandbox and never answered
    with its made-up data. A sandbox's URL and key travel together: neither is used with the
    other half of another configuration.
    """

    def __init__(self) -> None:
        self.entered: SessionDefault | None = None
        self.sandbox: SessionDefault | None = None

    def use_key(self, api_key: str | Secret | None, base_url: str | None = None) -> None:
        """The key entry's key (None forgets it), with the URL it was checked against."""
        self.entered = None if api_key is None else SessionDefault(_as_secret(api_key), base_url)

    def use_sandbox(
        self, api_key: Secret, base_url: str, cache_dir: str | None, *, chosen: bool = False
    ) -> None:
        """connect()'s sandbox: chosen, it wins over the environment; else only the fallback."""
        default = SessionDefault(api_key, base_url, cache_dir, sandbox=True)
        if chosen:
            self.entered = default
        else:
            self.sandbox = default

    def forget_chosen_sandbox(self) -> None:
        """Back to the configured key (connect() without sandbox=True decides again)."""
        if self.entered is not None and self.entered.sandbox:
            self.entered = None

    def clear(self) -> None:
        """Forget both (the sandbox stopped, or a test ends)."""
        self.entered = self.sandbox = None


SESSION = Session()


def set_session_key(api_key: str | Secret | None) -> None:
    """Remember a key in memory for this Python session (never written anywhere)."""
    SESSION.use_key(api_key)


def session_key() -> Secret | None:
    """The in-memory session key, if one was set."""
    return None if SESSION.entered is None else SESSION.entered.api_key


@dataclass(frozen=True)
class Account:
    """Whose data a store holds, without the key: the API, the key's fingerprint and hint."""

    base_url: str
    fingerprint: str  # names the account's folder; the key cannot be read back from it
    hint: str  # the key's last characters, shown to say which key a store was filled with

    @property
    def host(self) -> str:
        """The API's host and port as a folder name's first part."""
        return self.base_url.split("://", 1)[-1].split("/", 1)[0].replace(":", "_")

    @property
    def folder(self) -> str:
        """``<api host>-<key fingerprint>``: the account's folder in the cache."""
        return f"{self.host}-{self.fingerprint}"


@dataclass(frozen=True)
class Config:
    """Resolved connection settings. ``repr`` never shows the key."""

    api_key: Secret
    base_url: str = DEFAULT_BASE_URL
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    deadline: float = 900.0  # one request, retries and rate-limit waits included
    max_retries: int = 6
    proxy: Secret | None = None  # its URL may hold a password; see the module docstring
    ca_bundle: str | None = None
    cache_dir: str | None = None  # where the local store lives, when the session says

    @classmethod
    def resolve(
        cls,
        api_key: str | Secret | None = None,
        base_url: str | None = None,
        *,
        proxy: str | None = None,
        ca_bundle: str | Path | None = None,
    ) -> Config:
        """Explicit args win, then the key entry's key, then CALLCOV_* env vars, then .env, then
        the sandbox connect() started.

        Raises ConfigurationError when no key is found, the URL is not safe for a key, the
        proxy URL is not http(s)://host:port, or the CA bundle is not a file.
        """
        dotenv = _dotenv()
        key, url, cache_dir = _key_and_url(api_key, base_url, dotenv)
        if proxy is None:  # proxy="" turns off a proxy set in the environment or .env
            proxy = os.environ.get(PROXY_ENV) or dotenv.get(PROXY_ENV)
        ca_bundle = ca_bundle or os.environ.get(CA_BUNDLE_ENV) or dotenv.get(CA_BUNDLE_ENV)
        return cls(
            api_key=key,
            base_url=check_base_url(url),
            cache_dir=cache_dir,
            proxy=check_proxy(proxy) if proxy else None,
            ca_bundle=check_ca_bundle(ca_bundle) if ca_bundle else None,
        )

    def store_root(self, cache_dir: str | Path | None = None) -> Path | None:
        """Where this load's store lives: the caller's folder, else the session's (the
        sandbox's), else None for the user cache. The one rule for every entry point."""
        folder = cache_dir or self.cache_dir
        return Path(folder) if folder else None

    @property
    def account(self) -> Account:
        """The store's view of this key: who it is, never the key itself."""
        return Account(self.base_url, self.api_key.fingerprint, self.api_key.hint)

    @property
    def origin(self) -> str:
        """scheme://host:port of the API: the only place the key is ever sent."""
        return origin_of(self.base_url)

    @property
    def proxy_origin(self) -> str | None:
        """scheme://host:port of the proxy (never its user name or password), or None."""
        return None if self.proxy is None else origin_of(self.proxy.reveal())


class KeySource(NamedTuple):
    """Where the key was found (``where``), the key, the URL that goes with it, and the cache
    folder the session gives it (the sandbox's)."""

    where: str  # "argument", "session key", "environment", ".env file" or "sandbox"
    api_key: Secret
    base_url: str
    cache_dir: str | None


def key_source(
    api_key: str | Secret | None = None,
    base_url: str | None = None,
    dotenv: Mapping[str, str | None] | None = None,
) -> KeySource | None:
    """The key by precedence (see the module docstring), or None when none is configured."""
    dotenv = _dotenv() if dotenv is None else dotenv
    env_url = configured_url(dotenv)
    if api_key is not None:
        url = base_url or env_url or DEFAULT_BASE_URL
        return KeySource("argument", _as_secret(api_key), url, None)
    if SESSION.entered is not None:
        url = base_url or SESSION.entered.base_url or env_url or DEFAULT_BASE_URL
        return KeySource("session key", SESSION.entered.api_key, url, SESSION.entered.cache_dir)
    for where, value in (
        ("environment", os.environ.get(KEY_ENV)),
        (".env file", dotenv.get(KEY_ENV)),
    ):
        key = _as_secret_or_none(value)
        if key is not None:
            return KeySource(where, key, base_url or env_url or DEFAULT_BASE_URL, None)
    sandbox = SESSION.sandbox
    if sandbox is not None and sandbox.base_url and base_url in (None, sandbox.base_url):
        return KeySource("sandbox", sandbox.api_key, sandbox.base_url, sandbox.cache_dir)
    return None


def configured_url(dotenv: Mapping[str, str | None] | None = None) -> str | None:
    """CALLCOV_API_URL from the environment, else from the .env file; None if neither."""
    dotenv = _dotenv() if dotenv is None else dotenv
    return (os.environ.get(URL_ENV) or dotenv.get(URL_ENV) or "").strip() or None


def _key_and_url(
    api_key: str | Secret | None, base_url: str | None, dotenv: Mapping[str, str | None]
) -> tuple[Secret, str, str | None]:
    """The configured key, its URL and the session's cache folder; or how to configure one."""
    found = key_source(api_key, base_url, dotenv)
    if found is not None:
        return found.api_key, found.base_url, found.cache_dir
    raise ConfigurationError(
        "No CallCov API key. Pass api_key=..., set the CALLCOV_API_KEY environment "
        "variable (or put it in a .env file), or use callcov_analytics.widgets.key_entry() "
        "in a notebook. To try the package without a key, run `callcov-analytics demo`."
    )


def _dotenv() -> dict[str, str | None]:
    path = Path.cwd() / ".env"
    return dict(dotenv_values(path)) if path.is_file() else {}


def _as_secret(value: str | Secret) -> Secret:
    if isinstance(value, Secret):
        return value
    secret = _as_secret_or_none(value)
    if secret is None:
        raise ConfigurationError("The API key is empty; pass the key CallCov gave you.")
    return secret


def _as_secret_or_none(value: str | None) -> Secret | None:
    # People paste keys with a trailing newline or spaces; the key itself never contains them.
    value = (value or "").strip()
    if not value:
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ConfigurationError(
            "The API key contains spaces or control characters; "
            "copy it again from the CallCov dashboard."
        )
    return Secret(value)


def origin_of(url: str) -> str:
    """The origin (scheme, host, effective port) of a URL, as urllib3 parses it."""
    parsed = parse_url(url)
    scheme = (parsed.scheme or "").lower()
    port = parsed.port or {"https": 443, "http": 80}.get(scheme)
    return f"{scheme}://{(parsed.host or '').lower()}:{port}"


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """Return the URL without a trailing slash, or raise if a key must not go there.

    Validated with urllib3's parser, the one requests uses to send, because urllib.parse and
    urllib3 disagree on tricks like ``http://evil\\@127.0.0.1/``.
    """
    if "\\" in url or any(ch.isspace() for ch in url):
        raise ConfigurationError(f"The API URL {url!r} contains a backslash or spaces.")
    try:
        parsed = parse_url(url)
    except Exception as exc:  # urllib3 raises LocationParseError and friends
        raise ConfigurationError(f"The API URL {url!r} cannot be parsed.") from exc
    scheme = (parsed.scheme or "").lower()
    if parsed.auth:
        raise ConfigurationError("The API URL must not contain a user name or password.")
    if not parsed.host:
        raise ConfigurationError(f"The API URL {url!r} has no host.")
    if scheme == "https":
        pass
    elif scheme == "http" and is_loopback(parsed.host):
        pass  # the sandbox and tests run on loopback without TLS
    elif scheme == "http":
        raise ConfigurationError(
            f"Refusing plain http:// to {parsed.host}: the API key would travel unencrypted. "
            "Use https:// (plain http is allowed only for 127.0.0.1/localhost)."
        )
    else:
        raise ConfigurationError(f"The API URL must start with https:// (got {url!r}).")
    if parsed.query or parsed.fragment:
        raise ConfigurationError("The API URL must not contain a query string or fragment.")
    return url.rstrip("/")


_ENCODE = (
    "Percent-encode special characters in its user name and password "
    "(for example %40 for @, %2F for /, %23 for #, %5B and %5D for [ and ])."
)


def check_proxy(url: str) -> Secret:
    """The proxy URL, held as a Secret (it may carry a password), or ConfigurationError.

    Messages name the proxy by scheme, host and port only.
    """
    try:
        parsed = parse_url(url.strip())
    except Exception:  # urllib3 raises LocationParseError and friends
        # from None: urllib3's error quotes the URL, password and all, into tracebacks.
        raise ConfigurationError(f"{PROXY_ENV} cannot be parsed as a URL. {_ENCODE}") from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in ("http", "https") or not parsed.host or not parsed.port:
        raise ConfigurationError(
            f"{PROXY_ENV} must look like http://host:port or http://user:password@host:port "
            f"(got a URL for {scheme or 'no scheme'}://{parsed.host or '?'}:{parsed.port or '?'})."
        )
    if parsed.path not in (None, "", "/") or parsed.query or parsed.fragment:
        raise ConfigurationError(f"{PROXY_ENV} must not have a path, query or fragment.")
    try:  # requests reads it again with urllib.parse, which must see the same host and port
        split = urlsplit(url.strip())
        same = (split.hostname, split.port) == (parsed.host.lower().strip("[]"), parsed.port)
    except ValueError:
        same = False
    if not same:
        raise ConfigurationError(f"{PROXY_ENV} is ambiguous. {_ENCODE}")
    return Secret(url.strip())


def check_ca_bundle(path: str | Path) -> str:
    """The CA bundle as an absolute path, if it is a file (PEM) or a directory of them."""
    bundle = Path(path).expanduser().resolve()
    if not bundle.exists():
        raise ConfigurationError(
            f"{CA_BUNDLE_ENV} names {str(bundle)!r}, which does not exist: give the PEM file of "
            "the certificate authorities your network uses (ask IT for the root certificate)."
        )
    return str(bundle)
