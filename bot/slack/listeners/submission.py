"""The decision form's submission: inline errors, or a stored decision whose verdict is posted right after."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, App

from bot.services import Services
from bot.slack.delivery import deliver_verdict
from bot.slack.forms import FormMetadata, parse_form
from bot.slack.ids import COMMAND, BlockId, CallbackId

log = logging.getLogger(__name__)

STALE_FORM = f"This form cannot be read any more. Close it and run {COMMAND} again."
NOT_SAVED = "Your answers could not be saved just now, so nothing was posted. Press the button again in a minute."


def register(app: App, services: Services) -> None:
    """Listen for submissions of the decision form."""

    @app.view(CallbackId.DECISION_FORM.value)
    def handle_form_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        metadata = FormMetadata.load(view.get("private_metadata"))
        user = body.get("user")
        submitter = user.get("id") if isinstance(user, dict) else None
        if metadata is None or submitter != metadata.user:
            ack(response_action="errors", errors={BlockId.USE_CASE.value: STALE_FORM})
            return
        state = view.get("state")
        result = parse_form(state.get("values") if isinstance(state, dict) else None)
        if result.answers is None:
            ack(response_action="errors", errors=result.errors)
            return
        try:
            decided = services.decisions.decide(
                workspace=metadata.team, channel=metadata.channel, requester=metadata.user, answers=result.answers
            )
        except RedisError as exc:
            log.error("decision for %s in %s not saved: %s", metadata.user, metadata.channel, type(exc).__name__)
            ack(response_action="errors", errors={BlockId.USE_CASE.value: NOT_SAVED})
            return
        ack()  # closes the form; the decision is stored, so whatever happens to the post, it is not lost
        services.run_soon(
            deliver_verdict,
            client=services.client,
            renderer=services.renderer,
            store=services.store,
            decided=decided,
        )
