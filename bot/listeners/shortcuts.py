"""The shortcuts: *Should we fine-tune this?* on a message opens the form prefilled from the message's text (the
same reader as the command's), for the message's channel and linked to it; *New fine-tune decision* opens the form
with a channel to choose."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import Ack, App

from bot.listeners.common import open_form
from bot.services import Services
from bot.slack.delivery import respond
from bot.slack.forms import FormMetadata, message_link
from bot.slack.ids import CallbackId, is_trigger_id
from bot.text import readable, unescape

log = logging.getLogger(__name__)

INCOMPLETE = "Slack sent this shortcut without its message, person or trigger; please try it again."


def register(app: App, services: Services) -> None:
    """Listen for the message shortcut and the global shortcut."""

    @app.shortcut(CallbackId.MESSAGE_SHORTCUT.value)
    def handle_message_shortcut(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        start(services, body, message=True)

    @app.shortcut(CallbackId.GLOBAL_SHORTCUT.value)
    def handle_global_shortcut(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        start(services, body, message=False)


def start(services: Services, body: dict[str, Any], *, message: bool) -> None:
    """Open the form for a shortcut within its trigger's 3 seconds; a payload that lacks what that needs is told
    through its response_url when it has one (a message shortcut), and logged."""
    asked = shortcut_form(body, message=message)
    if asked is not None:
        origin = "message" if message else "command"
        services.run_now(open_form, services=services, received=time.monotonic(), origin=origin, **asked)
        return
    log.warning("shortcut %s without its team, user, channel or trigger", body.get("callback_id"))
    response_url = body.get("response_url")
    if isinstance(response_url, str):
        services.run_soon(
            respond, response_url=response_url, message={"response_type": "ephemeral", "text": INCOMPLETE}
        )


def shortcut_form(body: dict[str, Any], *, message: bool) -> dict[str, Any] | None:
    """What opening the form for a shortcut needs (trigger, metadata, text, response_url); None, logged, when the
    payload lacks any of it (there is no response_url to tell the person on a global shortcut)."""
    team, user, channel, said = (body.get(name) for name in ("team", "user", "channel", "message"))
    trigger_id = body.get("trigger_id")
    fields: dict[str, Any] = {
        "team": team.get("id") if isinstance(team, dict) else None,
        "user": user.get("id") if isinstance(user, dict) else None,
    }
    text = ""
    if message:
        fields["channel"] = channel.get("id") if isinstance(channel, dict) else None
        ts = said.get("ts") if isinstance(said, dict) else None
        raw = said.get("text") if isinstance(said, dict) else None
        text = unescape(readable(raw)) if isinstance(raw, str) else ""
        if isinstance(ts, str) and isinstance(fields["channel"], str):
            fields["source"] = message_link(
                team.get("domain") if isinstance(team, dict) else None, fields["channel"], ts
            )
    metadata = FormMetadata.of(**fields)
    if metadata is None or not is_trigger_id(trigger_id) or (message and metadata.channel is None):
        return None
    return {"trigger_id": trigger_id, "metadata": metadata, "text": text, "response_url": body.get("response_url")}
