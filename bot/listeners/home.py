"""The Home tab: published when a person opens it; its *New decision* button opens the form with a channel to choose
(the Home tab is in no channel)."""

from __future__ import annotations

import time
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.listeners.common import is_id, open_form
from bot.services import Services
from bot.slack.forms import FormMetadata
from bot.slack.ids import ActionId, is_trigger_id


def register(app: App, services: Services) -> None:
    """Listen for the Home tab being opened, and for its button."""

    @app.event("app_home_opened")
    def handle_home_opened(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        user, workspace = event.get("user"), context.team_id or body.get("team_id")
        if event.get("tab") == "home" and is_id(user) and is_id(workspace):  # the Messages tab has nothing to show
            services.run_soon(services.home.opened, workspace=workspace, user=user)

    @app.action(ActionId.HOME_NEW_DECISION.value)
    def handle_new_decision(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        asked = new_decision(body)
        if asked is not None:
            services.run_now(open_form, services=services, received=time.monotonic(), **asked)


def new_decision(body: dict[str, Any]) -> dict[str, Any] | None:
    """What opening the form from the Home tab needs: its trigger and metadata without a channel; None when the click
    lacks them (a Home tab has no response_url to tell the person through: logged by the caller's absence of a form)."""
    team, user = body.get("team"), body.get("user")
    metadata = FormMetadata.of(
        team=team.get("id") if isinstance(team, dict) else None,
        user=user.get("id") if isinstance(user, dict) else None,
    )
    trigger_id = body.get("trigger_id")
    if metadata is None or not is_trigger_id(trigger_id):
        return None
    return {"trigger_id": trigger_id, "metadata": metadata, "text": "", "response_url": None}
