"""Re-review on a reaction or the "Request re-review" button, and the "Edit answers" button that opens the form (on the
verdict message, and on an open question about a number in its thread)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.engine.answers import FACTS, Answers
from bot.listeners.command import open_view
from bot.services import Services
from bot.slack.api import error_code
from bot.slack.delivery import respond
from bot.slack.forms import FormMetadata, form_initial
from bot.slack.ids import ActionId, is_trigger_id
from bot.slack.reviews import enterprise_of, from_another_organisation, reaction_from, review_of
from bot.store import Decision, StoreUnavailable, Trigger
from bot.store.base import SLACK_ID, SLACK_TS

log = logging.getLogger(__name__)

INCOMPLETE = "Slack sent this click without the message or the person it came from; please try again."


def register(app: App, services: Services) -> None:
    """Listen for `reaction_added` and the verdict message's two buttons."""

    @app.event("reaction_added")
    def handle_reaction(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
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


def tell_unavailable(*, services: Services, channel: str, user: str) -> None:
    """Tell the person who reacted, and only them, that the re-review did not happen."""
    message = services.renderer.message("notice", kind="unavailable")
    try:
        services.client.chat_postEphemeral(channel=channel, user=user, text=message["text"])
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("could not tell %s that the re-review failed: %s", user, error_code(exc))


@dataclass(frozen=True, slots=True)
class Click:
    """Who clicked which message of the bot."""

    workspace: str  # the workspace whose message it is (the decision's)
    channel: str
    user: str
    ts: str  # the clicked message
    action_ts: str
    response_url: str
    thread_ts: str | None  # the thread the message is in (None for a verdict message, or when Slack did not say)
    external: bool  # the clicker is from another organisation (see `from_another_organisation`)


def clicked(body: dict[str, Any]) -> Click | None:
    """The click in a `block_actions` payload; None when the payload lacks any of it."""
    user, team, channel, message = (body.get(name) for name in ("user", "team", "channel", "message"))
    actions = body.get("actions")
    action = actions[0] if isinstance(actions, list) and actions else None
    fields: dict[str, Any] = {
        # The bot's message says which workspace posted it: in a Slack Connect channel, `team` is the clicker's.
        "workspace": _posted_by(message) or (team.get("id") if isinstance(team, dict) else None),
        "channel": channel.get("id") if isinstance(channel, dict) else None,
        "user": user.get("id") if isinstance(user, dict) else None,
        "ts": message.get("ts") if isinstance(message, dict) else None,
        "action_ts": action.get("action_ts") if isinstance(action, dict) else None,
    }
    response_url = body.get("response_url")
    patterns = {"workspace": SLACK_ID, "channel": SLACK_ID, "user": SLACK_ID, "ts": SLACK_TS, "action_ts": SLACK_TS}
    if not isinstance(response_url, str) or not all(
        isinstance(value := fields[name], str) and pattern.fullmatch(value) for name, pattern in patterns.items()
    ):
        return None
    thread_ts = message.get("thread_ts") if isinstance(message, dict) else None
    if thread_ts is None and isinstance(container := body.get("container"), dict):
        thread_ts = container.get("thread_ts")
    if not (isinstance(thread_ts, str) and SLACK_TS.fullmatch(thread_ts)):
        thread_ts = None
    external = from_another_organisation(
        user_team=user.get("team_id") if isinstance(user, dict) else None,
        workspace=fields["workspace"],
        user_org=enterprise_of(body),
    )
    return Click(**fields, response_url=response_url, thread_ts=thread_ts, external=external)


def _posted_by(message: object) -> str | None:
    team = message.get("team") if isinstance(message, dict) else None
    return team if isinstance(team, str) and SLACK_ID.fullmatch(team) else None


def clicked_decision(services: Services, click: Click) -> Decision | None:
    """The decision whose verdict message or explanation was clicked, or in whose thread the clicked message is (a
    reply that asks the open questions again), or None."""
    where = {"workspace": click.workspace, "channel": click.channel}
    decision = services.store.decision_for_message(**where, ts=click.ts)
    if decision is None and click.thread_ts is not None and click.thread_ts != click.ts:
        decision = services.store.decision_for_thread(**where, thread_ts=click.thread_ts)
    return decision


def incomplete(services: Services, body: dict[str, Any]) -> None:
    """Tell the clicker, after the response, that the click could not be used (when Slack said where to answer)."""
    response_url = body.get("response_url")
    if isinstance(response_url, str):
        services.run_soon(
            respond, response_url=response_url, message={"response_type": "ephemeral", "text": INCOMPLETE}
        )


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
    except StoreUnavailable as exc:
        log.error("edit button on %s in %s: Redis: %s", ts, channel, exc.kind)
        respond(response_url, notice("notice", kind="unavailable"))
        return
    if decision is None:
        respond(response_url, notice("notice", kind="gone"))
        return
    if not services.reviews.may_edit(user, decision, external=click.external):
        log.info("edit of %s by %s refused: may not change it (external: %s)", decision.id, user, click.external)
        respond(response_url, services.reviews.refusal(decision, user, action="edit", external=click.external))
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
