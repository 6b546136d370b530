"""Re-review on a reaction or the "Request re-review" button, and the "Edit answers" button that opens the form (on the
verdict message, and on an open question about a number in its thread)."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.engine.answers import FACTS, Answers
from bot.listeners.common import Click, clicked, clicked_decision, incomplete, open_view
from bot.services import Services
from bot.slack.api import error_code
from bot.slack.delivery import respond
from bot.slack.forms import FormMetadata, form_initial
from bot.slack.ids import ActionId, is_trigger_id
from bot.slack.reviews import reaction_from, review_of
from bot.store import StoreUnavailable, Trigger

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    """Listen for `reaction_added` and the verdict message's two buttons."""

    @app.event("reaction_added")
    def handle_reaction(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        rereview_on_reaction(services, body, event, context)

    @app.action(ActionId.REQUEST_REREVIEW.value)
    def handle_rereview_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        click = clicked(body)
        if click is not None:
            services.run_soon(request_rereview, services=services, click=click)
        else:
            incomplete(services, body)

    @app.action(ActionId.EDIT_ANSWERS.value)
    def handle_edit_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        click = clicked(body)
        trigger_id = body.get("trigger_id")
        if click is not None and is_trigger_id(trigger_id):
            received = time.monotonic()
            services.run_now(open_edit_form, services=services, click=click, trigger_id=trigger_id, received=received)
        else:
            incomplete(services, body)


def rereview_on_reaction(services: Services, body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    """Submit the re-review a reaction on a verdict (or its explanation) asks for."""
    reaction = reaction_from(
        event,
        workspace=context.team_id or body.get("team_id"),
        bot_user_id=context.bot_user_id,
        emoji=services.reviews.emoji,
    )
    if reaction is None:
        return
    try:
        decision = services.store.decision_for_message(
            workspace=reaction.workspace, channel=reaction.channel, ts=reaction.ts
        )
        if decision is None:
            return  # a reaction on some other message
        # Keyed on the reaction event itself: Slack's redeliveries of it are one request.
        key = f"rereview.{reaction.ts}.{reaction.user}.{reaction.event_ts}"
        review = review_of(decision, user=reaction.user, trigger=Trigger.RE_REVIEW, source="reaction", key=key)
        if review is None:
            return
        services.worker.submit(review, event_id=str(body.get("event_id") or ""))
    except StoreUnavailable as exc:
        log.error("re-review on %s in %s not taken: Redis: %s", reaction.ts, reaction.channel, exc.kind)
        if event.get("item_user") == context.bot_user_id:  # on one of the bot's messages: say it did not happen
            services.run_soon(tell_unavailable, services=services, channel=reaction.channel, user=reaction.user)


def tell_unavailable(*, services: Services, channel: str, user: str) -> None:
    """Tell the person who reacted, and only them, that the re-review did not happen."""
    message = services.renderer.message("notice", kind="unavailable")
    try:
        services.client.chat_postEphemeral(channel=channel, user=user, text=message["text"])
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("could not tell %s that the re-review failed: %s", user, error_code(exc))


def request_rereview(*, services: Services, click: Click) -> None:
    """Claim the re-review a button asked for and do it; the clicker hears only when it cannot happen (anyone in
    the channel may ask for one, people from another organisation too)."""
    user, ts, channel, response_url = click.user, click.ts, click.channel, click.response_url
    try:
        decision = clicked_decision(services, click)
        review = None
        if decision is not None:
            key = f"rereview.{ts}.{user}.{click.action_ts}"
            review = review_of(
                decision, user=user, trigger=Trigger.RE_REVIEW, source="button", key=key, response_url=response_url
            )
        if review is None:
            respond(response_url, services.renderer.message("notice", kind="gone"))
            return
        claim = services.worker.claim(review)
    except StoreUnavailable as exc:
        log.error("re-review button on %s in %s: Redis: %s", ts, channel, exc.kind)
        respond(response_url, services.renderer.message("notice", kind="unavailable"))
        return
    if claim.held:  # already on a worker thread: done here
        services.worker.run(claim)


def open_edit_form(*, services: Services, click: Click, trigger_id: str, received: float) -> None:
    """Open the form prefilled with the decision's latest answers, for its requester and the reviewers only (from
    the verdict message, or from an open question about a number in its thread)."""
    # A form opened twice is harmless (only a submission records anything): the click's action_ts is not needed.
    user, ts, channel, response_url = click.user, click.ts, click.channel, click.response_url
    notice = services.renderer.message
    try:
        decision = clicked_decision(services, click)
        refusal = None
        if decision is not None and not services.reviews.may_edit(user, decision, external=click.external):
            refusal = services.reviews.refusal(decision, user, action="edit", external=click.external)
    except StoreUnavailable as exc:  # the decision, or its channel's reviewers
        log.error("edit button on %s in %s: Redis: %s", ts, channel, exc.kind)
        respond(response_url, notice("notice", kind="unavailable"))
        return
    if decision is None:
        respond(response_url, notice("notice", kind="gone"))
        return
    if refusal is not None:
        log.info("edit of %s by %s refused: may not change it (external: %s)", decision.id, user, click.external)
        respond(response_url, refusal)
        return
    latest = decision.latest
    metadata = FormMetadata(team=decision.workspace, channel=decision.channel, user=user, decision=decision.id)
    view = services.renderer.view(
        "form",
        metadata=metadata.dump(),
        facts=FACTS,
        initial=form_initial(Answers.model_validate(latest.answers)),
        editing={"number": latest.number},
    )
    who = f"{user} (an edit) in {channel}"
    open_view(services, trigger_id=trigger_id, view=view, received=received, response_url=response_url, who=who)
