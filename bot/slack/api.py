"""The Web API clients. Every call goes to `SLACK_API_URL` with bounded timeouts and retries.

Slack's answers decide the retries: a 429 waits for `Retry-After` (up to three times), a 5xx or a dropped
connection is retried once. The client used with a `trigger_id` gets a short timeout and no rate-limit waits,
because the trigger is dead three seconds after Slack sent it.
"""

from __future__ import annotations

import re

from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler, RetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from bot.settings import Settings

_ERROR_CODE = re.compile(r"[a-z0-9_.]{1,80}")
POST_TIMEOUT = 10
TRIGGER_TIMEOUT = 2
RATE_LIMIT_RETRIES = 3


def build_client(settings: Settings, *, for_triggers: bool = False) -> WebClient:
    """A client for the bot token at `settings.slack_api_url`."""
    settings.require("slack_bot_token")
    assert settings.slack_bot_token is not None
    handlers: list[RetryHandler] = [ConnectionErrorRetryHandler(max_retry_count=1)]
    if not for_triggers:
        handlers += [
            RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
            ServerErrorRetryHandler(max_retry_count=1),
        ]
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=TRIGGER_TIMEOUT if for_triggers else POST_TIMEOUT,
        retry_handlers=handlers,
    )


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
