"""Messages and mentions in a verdict's thread: questions the bot answers there."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, BoltRequest

from bot.services import Services
from bot.slack.threads import question_from


def register(app: App, services: Services) -> None:
    """Listen for thread replies (`message`) and mentions (`app_mention`); both go the same way, once per message."""

    def handle_thread_message(
        body: dict[str, Any], event: dict[str, Any], context: BoltContext, request: BoltRequest
    ) -> None:
        question = question_from(
            event,
            workspace=context.team_id or body.get("team_id"),
            bot_user_id=context.bot_user_id,
            ext_shared=body.get("is_ext_shared_channel"),
            org=context.enterprise_id,  # this installation's, from `authorizations`
            user_org=body.get("enterprise_id"),  # the author's side's, in a shared channel
        )
        if question is not None:
            event_id = body.get("event_id")
            retry = (request.headers.get("x-slack-retry-num") or ["0"])[0]
            redelivery = retry.isdigit() and int(retry) > 0  # Slack's redelivery of an event it sent before
            services.followups.receive(
                question, event_id=event_id if isinstance(event_id, str) else "", redelivery=redelivery
            )

    app.event("message")(handle_thread_message)
    app.event("app_mention")(handle_thread_message)
