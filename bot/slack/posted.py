"""What the bot already posted, found by the Slack message metadata it tags its messages with: a worker taking
over unfinished work (a verdict, an answer in a thread) looks before it posts, so nothing is posted twice."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.api import error_code

log = logging.getLogger(__name__)

VERDICT_EVENT = "should_finetune_verdict"
EXPLANATION_EVENT = "should_finetune_explanation"
REPLY_EVENT = "should_finetune_reply"
# How far back from a given time the channel's history is searched (clocks differ a little).
_LOOKBACK_SECONDS = 60
_HISTORY_PAGES = 5


def tag(event_type: str, **payload: str) -> dict[str, Any]:
    """The metadata a message is posted with: its kind and what it is for (a decision id, a piece of work)."""
    return {"event_type": event_type, "event_payload": payload}


def is_tagged(message: object, event_type: str, **payload: str) -> bool:
    """Whether `message` carries the metadata `tag(event_type, **payload)`."""
    if not isinstance(message, dict):
        return False
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != event_type:
        return False
    found = metadata.get("event_payload")
    return isinstance(found, dict) and all(found.get(name) == value for name, value in payload.items())


def find_posted(
    client: WebClient,
    channel: str,
    event_type: str,
    *,
    thread_ts: str | None = None,
    oldest: float | None = None,
    **payload: str,
) -> str | None:
    """The ts of the bot's message tagged `event_type` with `payload` in the channel (from `oldest` on) or in the
    thread at `thread_ts`, or None; None too when Slack cannot be asked, so a message is rather posted twice than
    lost."""
    args: dict[str, Any] = {"channel": channel, "include_all_metadata": True, "limit": 200}
    if thread_ts is not None:
        method = client.conversations_replies
        args["ts"] = thread_ts
    else:
        method = client.conversations_history
        args["oldest"] = f"{(oldest or 0) - _LOOKBACK_SECONDS:.6f}"
    try:
        for _ in range(_HISTORY_PAGES):
            response = method(**args)
            for message in response.get("messages") or []:
                if is_tagged(message, event_type, **payload):
                    return str(message.get("ts"))
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not response.get("has_more") or not cursor:
                return None
            args["cursor"] = cursor
    except (SlackApiError, SlackClientError, OSError) as exc:
        what = f"{event_type} of {', '.join(payload.values())} in {channel}"
        error = error_code(exc)
        if error == "missing_scope" and isinstance(exc, SlackApiError):
            # Posting again may repeat the message: the installed app predates a scope the manifest asks for.
            needed = exc.response.get("needed")
            log.error(
                "cannot look for %s: the app lacks the scope %s; reinstall it from the manifest "
                "(`should-finetune manifest`) so that a restart does not post twice",
                what,
                needed if isinstance(needed, str) and len(needed) < 100 else "?",
            )
        else:
            log.warning("cannot look for %s: %s", what, error)
    return None
