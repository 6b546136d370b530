"""Buttons on the verdict message, and events the bot is subscribed to but does not act on yet."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.services import Services
from bot.slack.delivery import respond
from bot.slack.ids import ActionId


def register(app: App, services: Services) -> None:
    """Answer the verdict's buttons, and acknowledge every other event so that Slack does not redeliver it."""

    @app.action(re.compile(f"^({ActionId.EDIT_ANSWERS.value}|{ActionId.REQUEST_REREVIEW.value})$"))
    def handle_verdict_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        response_url = body.get("response_url")
        if isinstance(response_url, str):
            services.run_soon(
                respond, response_url=response_url, message=services.renderer.message("notice", kind="not-yet")
            )

    # Registered last: Bolt runs the first listener that matches, and a 404 would count as a failed delivery.
    @app.event(re.compile(".*"))
    def handle_other_event() -> None:
        return None
