"""Events the bot is subscribed to but does not act on."""

from __future__ import annotations

import re

from slack_bolt import App

from bot.services import Services


def register(app: App, services: Services) -> None:
    """Acknowledge every event no other listener took, so that Slack does not redeliver it."""

    # Registered last: Bolt runs the first listener that matches, and a 404 would count as a failed delivery.
    @app.event(re.compile(".*"))
    def handle_other_event() -> None:
        return None
