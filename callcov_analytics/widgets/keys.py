"""The key entry: a masked field that never leaves the key in the notebook (see the package)."""

from __future__ import annotations

import getpass
import html
from dataclasses import dataclass, replace
from typing import Any

from .._config import SESSION, Config
from .._errors import (
    APIConnectionError,
    AuthenticationError,
    CallCovError,
    PermissionDeniedError,
    ProxyAuthenticationError,
    QuotaExhaustedError,
    RateLimitError,
    TLSVerificationError,
)
from .._http.client import CallCovClient
from .._secrets import Secret, redact_text
from ._ipy import has_ipywidgets as _has_ipywidgets
from ._ipy import ipywidgets as _ipywidgets

_CODE = '<code style="font-size:inherit">{}</code>'  # notebooks draw code larger than text
OTHER_WAYS = (
    "Your key is in the CallCov dashboard under Settings → API Keys. Other ways to give it: "
    f"the {_CODE.format('CALLCOV_API_KEY')} environment variable, a {_CODE.format('.env')} file "
    "beside the notebook (keep it out of git), or "
    f"{_CODE.format('key_entry(use_widgets=False)')} for a hidden text prompt."
)
# Why a key check failed, most specific first (TLS and proxy errors are connection errors).
_REFUSED: tuple[tuple[type[Exception], str], ...] = (
    (
        AuthenticationError,
        "✗ invalid key: the API does not know this key (401). Copy it again from the CallCov "
        "dashboard (Settings → API Keys).",
    ),
    (
        PermissionDeniedError,
        "✗ no permission: the key is valid but may not read call analyses (403). Ask your "
        "CallCov admin for a key with read access.",
    ),
    (QuotaExhaustedError, "✗ the key's daily quota is used up (429); it resets at 00:00 UTC."),
    (RateLimitError, "✗ rate limited (429): try again in a minute."),
    (
        TLSVerificationError,
        "✗ the API's certificate at {url} is not trusted: if your network inspects TLS, set "
        "CALLCOV_CA_BUNDLE to your organisation's root certificate.",
    ),
    (ProxyAuthenticationError, "✗ the proxy refused the user name and password in CALLCOV_PROXY."),
    (
        APIConnectionError,
        "✗ cannot reach the API at {url}: check the network, VPN, CALLCOV_API_URL and "
        "CALLCOV_PROXY.",
    ),
)


# -- checking a key -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyCheck:
    """The outcome of checking a key: ``ok`` and a message that never contains the key."""

    ok: bool
    message: str
    base_url: str | None = None

    def __str__(self) -> str:
        return self.message


def _check(key: Secret, base_url: str | None) -> tuple[KeyCheck, Secret | None]:
    """Check a key against /health and one list request; return the result and the Secret.

    The key arrives as a `Secret`, so even a ``%xmode Verbose`` traceback through here shows
    only its mask; nothing escapes: every failure becomes a `KeyCheck`.
    """
    value = key.reveal()
    if not value or any(ch.isspace() or not ch.isprintable() for ch in value):
        return KeyCheck(
            False,
            "✗ The API key contains spaces or control characters; copy it "
            "again from the CallCov dashboard.",
            base_url,
        ), None
    try:
        config = Config.resolve(key, base_url)
    except CallCovError as exc:
        return KeyCheck(False, f"✗ {_safe(exc, key)}", base_url), None
    # A key check must answer in seconds, not ride out a long rate-limit wait.
    config = replace(config, connect_timeout=3.0, read_timeout=10.0, deadline=20.0, max_retries=1)
    url = config.base_url
    client = CallCovClient(config=config)
    try:
        client.health()
        # /health accepts any valid key; a key without read access is only refused on data.
        client.list_raw(offset=0, limit=1, params=None, parse=lambda body: None)
    except Exception as exc:  # a widget callback must not raise: tracebacks show locals
        message = next(
            (text.format(url=url) for kind, text in _REFUSED if isinstance(exc, kind)),
            f"✗ {type(exc).__name__}: {_safe(exc, key)}",
        )
        return KeyCheck(False, message, url), None
    finally:
        client.close()
    limit = client.limiter.limit
    plan = f" ({limit} request{'s' if limit != 1 else ''} per rate-limit window)" if limit else ""
    return KeyCheck(
        True, f"✓ connected to {url}{plan}. The key is kept in memory for this session only.", url
    ), config.api_key


def _safe(exc: BaseException, key: Secret) -> str:
    return redact_text(str(exc), key.reveal())


def _secret(value: str | Secret) -> Secret:
    """Wrap a typed key at once (surrounding spaces and newlines from pasting dropped)."""
    return value if isinstance(value, Secret) else Secret(value.strip())


def _use(secret: Secret, base_url: str | None) -> None:
    """Make the key, with the URL it was checked against, this session's default."""
    SESSION.use_key(secret, base_url)


def check_key(api_key: str | Secret, base_url: str | None = None) -> KeyCheck:
    """Check a key against the API without storing it anywhere.

    Returns a `KeyCheck`; ``ok`` is False for an invalid key, a key without permission or an
    unreachable API, and the message says which (it never contains the key).
    """
    return _check(_secret(api_key), base_url)[0]


# -- key entry ----------------------------------------------------------------------------------


class KeyEntry:
    """A masked key field and a Connect button; display it as a cell's last expression.

    Attributes:
        password, button, status: the ipywidgets (tests drive them like a person would).
        result: the last `KeyCheck`, or None before the first Connect.
    """

    def __init__(self, base_url: str | None = None) -> None:
        w = _ipywidgets()
        self.base_url = base_url
        self.result: KeyCheck | None = None
        self.password = w.Password(
            description="API key",
            placeholder="sk_live_… or sk_test_…",
            continuous_update=False,  # the value syncs once, on Connect, not per keystroke
            layout=w.Layout(width="26em"),
        )
        self.button = w.Button(
            description="Connect",
            button_style="primary",
            icon="plug",
            tooltip="Check the key against the CallCov API",
        )
        self.status = w.HTML(
            value=_html_status("Paste your CallCov API key and press Enter (or Connect).")
        )
        self.row = w.HBox([self.password, self.button])
        self.box = w.VBox(
            [
                w.HTML(
                    value="<b>CallCov API key</b> (checked against the API, kept in memory "
                    "only, never saved in the notebook)"
                ),
                self.row,
                self.status,
                w.HTML(value=f"<small>{OTHER_WAYS}</small>"),
            ]
        )
        self.button.on_click(lambda _button: self.submit())
        # continuous_update=False: the value arrives once, on Enter (or leaving the field).
        self.password.observe(self._typed, names="value")

    @property
    def connected(self) -> bool:
        """True once a key was accepted."""
        return self.result is not None and self.result.ok

    @property
    def status_text(self) -> str:
        """The status line as plain text."""
        return self.result.message if self.result else "waiting for a key"

    def _typed(self, change: dict[str, Any]) -> None:
        if change["new"]:  # blanking the field after a check is not a new key
            self.submit()

    def submit(self) -> KeyCheck:
        """What Enter and Connect do: take the typed key, blank the field, check it, use it."""
        typed = _secret(self.password.value)  # never a plain str in a local variable
        self.password.value = ""  # before anything else, so no saved state can hold the key
        if not typed.reveal() and self.result is not None and self.result.base_url is not None:
            # Enter (or leaving the field) already checked the key: Connect has nothing to add.
            return self.result
        if not typed.reveal():
            self.result = KeyCheck(False, "Type or paste your key first.")
            self.status.value = _html_status(self.result.message)
            return self.result
        self.button.disabled = True
        self.status.value = _html_status("checking the key…")
        result, secret = _check(typed, self.base_url)
        self.result = result
        self.status.value = _html_status(result.message, ok=result.ok)
        if secret is None:
            self.button.disabled = False
            return result
        _use(secret, self.base_url)
        # The field and button are done: take them out of the view, then close them.
        self.row.children = ()
        self.password.close()
        self.button.close()
        return result

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.box._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"KeyEntry({self.status_text})"


def _html_status(message: str, ok: bool | None = None) -> str:
    colour = {True: "#009E73", False: "#D55E00", None: "inherit"}[ok]
    return f'<span style="color:{colour}">{html.escape(message)}</span>'


def key_entry(base_url: str | None = None, *, use_widgets: bool | None = None) -> Any:
    """Ask for the CallCov key in a notebook; the key becomes this session's default.

    Args:
        base_url: the API to check against; default CALLCOV_API_URL, then the real API.
        use_widgets: None uses ipywidgets when installed, else a hidden ``getpass`` prompt;
            False always prompts with ``getpass`` (for frontends without widgets).

    Returns:
        A `KeyEntry` to display (widgets), or the `KeyCheck` of the prompted key.

    Example::

        from callcov_analytics.widgets import key_entry
        key_entry()          # type the key, press Connect, see ✓
        df = load_calls()    # uses the key
    """
    if use_widgets is None:
        use_widgets = _has_ipywidgets()
    if use_widgets:
        return KeyEntry(base_url)
    try:
        typed = _secret(getpass.getpass("CallCov API key (input hidden): "))
    except Exception:  # StdinNotImplementedError, EOFError: this frontend has no prompt
        return KeyCheck(
            False,
            "✗ this frontend cannot prompt for input: set the "
            "CALLCOV_API_KEY environment variable or put it in a .env file.",
        )
    if not typed.reveal():
        return KeyCheck(False, "No key typed.")
    result, secret = _check(typed, base_url)
    if secret is not None:
        _use(secret, base_url)
    return result
