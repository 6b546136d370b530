"""The Web API clients. Every call goes to `SLACK_API_URL` with bounded timeouts and retries.

Slack's answers decide the retries: a 429 waits for `Retry-After` (up to three times), a 5xx or a dropped
connection is retried once. The client used with a `trigger_id` gets a short timeout and no rate-limit waits,
because the trigger is dead three seconds after Slack sent it.

With metrics, every request and every failed one (each retry included) is counted by method and error, by a retry
handler placed first that looks at each answer and never asks for a retry itself.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import threading
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryState,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from bot.metrics import Metrics
from bot.settings import Settings, SettingsError
from bot.slots import ComputeSlots

JSON = dict[str, Any]
_ERROR_CODE = re.compile(r"[a-z0-9_.]{1,80}")
POST_TIMEOUT = 10
TRIGGER_TIMEOUT = 2
RATE_LIMIT_RETRIES = 3
# The start-up check: how long one socket operation of its auth.test may take, and the whole check at most.
CHECK_TIMEOUT = 5.0
CHECK_DEADLINE = 10.0

_QUIET = logging.getLogger("bot.slack.check")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False

# What Slack's errors for a bot token it refuses mean, and what to do about each.
_REFUSED_TOKEN = {
    "invalid_auth": "not a token of any app: copy the Bot User OAuth Token from OAuth & Permissions",
    "not_authed": "Slack received no token",
    "account_inactive": "its workspace, or the user it belongs to, was deactivated: install the app again",
    "token_revoked": "it was revoked (the app was uninstalled, or its token regenerated): copy the new one",
    "token_expired": "it expired (token rotation is on for this app): turn rotation off, or use a fresh token",
    "invalid_token": "it is not a token: copy the Bot User OAuth Token from OAuth & Permissions",
}


class SlackClient(WebClient):
    """A WebClient that gives back the calling thread's compute slot (`bot.slots`) while a call is in flight,
    retries and their waits included."""

    def __init__(self, *args: Any, slots: ComputeSlots | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots = slots

    def api_call(self, *args: Any, **kwargs: Any) -> Any:
        if self.slots is None:
            return super().api_call(*args, **kwargs)
        with self.slots.waiting():
            return super().api_call(*args, **kwargs)


def build_client(
    settings: Settings,
    *,
    for_triggers: bool = False,
    metrics: Metrics | None = None,
    slots: ComputeSlots | None = None,
) -> WebClient:
    """A client for the bot token at `settings.slack_api_url`; with `metrics`, its requests and errors are counted;
    with `slots`, a thread computing in one gives it back during each call."""
    settings.require("slack_bot_token")
    assert settings.slack_bot_token is not None
    handlers: list[RetryHandler] = [] if metrics is None else [CountingHandler(metrics)]
    handlers.append(ConnectionErrorRetryHandler(max_retry_count=1))
    if not for_triggers:
        handlers += [
            RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
            ServerErrorRetryHandler(max_retry_count=1),
        ]
    return SlackClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=TRIGGER_TIMEOUT if for_triggers else POST_TIMEOUT,
        retry_handlers=handlers,
        slots=slots,
    )


def check_slack(settings: Settings, *, timeout: float = CHECK_TIMEOUT, deadline: float = CHECK_DEADLINE) -> JSON:
    """Slack's `auth.test` answer for the bot token, asked once before anything else starts: a `SettingsError` that
    names the setting to fix and what failed otherwise (Slack unreachable, not Slack, or the token refused, with
    Slack's own error code), within `deadline` seconds whatever the network does."""
    settings.require("slack_bot_token")
    assert settings.slack_bot_token is not None
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=int(max(1, timeout)),
        retry_handlers=[],
        logger=_QUIET,  # its failure is told once, as the message below, not also as slack_sdk's log line
    )
    outcome: list[JSON | SettingsError] = []

    def ask() -> None:
        try:
            data = client.auth_test().data
            outcome.append(data if isinstance(data, dict) else {})
        except Exception as exc:  # every failure becomes a message; none may escape as a traceback
            outcome.append(_check_failure(exc, settings.slack_api_url, timeout))

    # A thread, because a name lookup is not bound by the socket timeout: a resolver that hangs must not hang start-up.
    asker = threading.Thread(target=ask, name="slack-check", daemon=True)
    asker.start()
    asker.join(deadline)
    if not outcome:
        raise SettingsError(f"setting SLACK_API_URL: {settings.slack_api_url} did not answer within {deadline:g} s")
    if isinstance(outcome[0], SettingsError):
        raise outcome[0]
    return outcome[0]


def _check_failure(exc: Exception, url: str, timeout: float) -> SettingsError:
    """What a failed start-up `auth.test` means, in the words of the setting to fix."""
    if isinstance(exc, SlackApiError):
        status, code = exc.response.status_code, error_code(exc)
        if code in _REFUSED_TOKEN:
            return SettingsError(f"setting SLACK_BOT_TOKEN: Slack refused it: {code} ({_REFUSED_TOKEN[code]})")
        if status == 429:
            wait = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after") or "a few"
            return SettingsError(f"Slack is rate-limiting this app (HTTP 429): start it again in {wait} s")
        if status >= 500:
            said = "" if code.startswith("http_") else f" ({code})"
            return SettingsError(
                f"Slack answered HTTP {status}{said} at {url}: it may be having trouble (https://slack-status.com); "
                "start the bot again in a minute"
            )
        if code.startswith("http_"):
            return SettingsError(
                f"setting SLACK_API_URL: {url} answered HTTP {status} without Slack's JSON: is it Slack's Web API? "
                "(the default is https://slack.com/api/)"
            )
        return SettingsError(f"setting SLACK_BOT_TOKEN: Slack refused it: {code}")
    reason: object = exc.reason if isinstance(exc, URLError) else exc
    host = urlsplit(url).hostname or url
    if isinstance(reason, TimeoutError | socket.timeout):
        what = f"no answer within {timeout:g} s"
    elif isinstance(reason, ConnectionRefusedError):
        what = f"{host} refused the connection"
    elif isinstance(reason, socket.gaierror):
        what = f"cannot find the host {host} ({reason.strerror or reason})"
    elif isinstance(reason, ssl.SSLError):
        what = f"TLS failed ({reason.reason or reason})"
    elif isinstance(reason, OSError):
        what = f"cannot connect ({reason.strerror or reason})"
    else:
        what = f"{type(exc).__name__}: {exc}"[:200]
    proxy = " or the proxy (HTTPS_PROXY)" if host == "slack.com" else ""
    return SettingsError(f"setting SLACK_API_URL: cannot reach {url}: {what}; check the address{proxy}")


def error_code(exc: Exception) -> str:
    """Slack's error code for a failed call (`not_in_channel`, `ratelimited`, ...), or a code of our own."""
    response = getattr(exc, "response", None)
    if response is not None:
        error = response.get("error") if isinstance(response.data, dict) else None
        # slack_sdk puts its own sentence in `error` when the body is not JSON (a 503 page, say); keep Slack's codes.
        if isinstance(error, str) and _ERROR_CODE.fullmatch(error):
            return error
        return f"http_{response.status_code}"
    return "connection_failed"


class CountingHandler(RetryHandler):
    """Counts each Web API answer (and each failure to get one) by method and error; never retries."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(max_retry_count=0)
        self.metrics = metrics

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        """Count the attempt; always False, so that the handlers after this one decide about retrying."""
        method = api_method(request.url)
        self.metrics.slack_api_request(method)
        code = attempt_error(response, error)
        if code is not None:
            self.metrics.slack_api_error(method, code)
        return False


def api_method(url: str) -> str:
    """The Web API method a request URL calls (`.../api/chat.postMessage?x=1` gives `chat.postMessage`)."""
    return url.partition("?")[0].rpartition("/")[2]


def attempt_error(response: HttpResponse | None, error: Exception | None) -> str | None:
    """What went wrong with one attempt, as a metric label; None when Slack answered `ok`."""
    if response is None:
        reason = error.reason if isinstance(error, URLError) else error
        return "timeout" if isinstance(reason, TimeoutError) else "connection_error"
    if response.status_code == 429:
        return "ratelimited"
    body = response.body
    if body is None and response.data and response.data[:1] == b"{":
        try:
            body = json.loads(response.data)
        except ValueError:
            body = None
    code = body.get("error") if isinstance(body, dict) and body.get("ok") is False else None
    if response.status_code >= 400:
        return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else f"http_{response.status_code}"
    if isinstance(code, str):
        return code if _ERROR_CODE.fullmatch(code) else "unknown_error"
    return None
