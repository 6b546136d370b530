"""What the listener modules share: who clicked which of the bot's messages, the decision it belongs to, opening
a modal with a trigger before it expires, and the decision form (for the command and the shortcuts)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.engine.answers import FACTS
from bot.services import Services
from bot.slack.api import error_code
from bot.slack.delivery import respond
from bot.slack.forms import FormMetadata
from bot.slack.prefill import command_prefill
from bot.slack.reviews import enterprise_of, from_another_organisation
from bot.store import Decision
from bot.store.base import SLACK_ID, SLACK_TS

log = logging.getLogger(__name__)

INCOMPLETE = "Slack sent this click without the message or the person it came from; please try again."

# A trigger_id works for 3 seconds from when Slack sent the request. Once this long has passed since the request
# reached the bot, views.open would most likely arrive too late (network, Slack's own answer time): under a load
# the process cannot keep up with, trying anyway only makes the next forms late too. The person is asked to run
# the command again instead.
TRIGGER_BUDGET = 2.0


def is_id(value: object) -> bool:
    """Whether a payload's field is a Slack id (team, channel, user)."""
    return isinstance(value, str) and SLACK_ID.fullmatch(value) is not None


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


def open_view(
    services: Services, *, trigger_id: str, view: Any, received: float, response_url: object, who: str
) -> None:
    """`views.open` with a trigger received at `received` (monotonic): unless the trigger has all but expired;
    when it is not opened, the person is told through `response_url`."""
    notice = services.renderer.message
    late = time.monotonic() - received
    if late > TRIGGER_BUDGET:
        log.warning("form for %s not opened: %.1f s after the request, its trigger is about to expire", who, late)
        services.metrics.form("too-late")
        if isinstance(response_url, str):  # on another thread: this one is needed for the forms queued behind
            services.respond_soon(response_url, notice("notice", kind="form-too-late"))
        return
    try:
        services.trigger_client.views_open(trigger_id=trigger_id, view=view)
    except (SlackApiError, SlackClientError, OSError) as exc:
        error = error_code(exc)
        log.warning("views.open failed for %s: %s", who, error)
        services.metrics.form("failed")
        if isinstance(response_url, str):
            respond(response_url, notice("notice", kind="form-failed", error=error))
        return
    services.metrics.form("opened")


def open_form(
    *,
    services: Services,
    trigger_id: str,
    metadata: FormMetadata,
    text: str,
    response_url: object,
    received: float,
    origin: str = "command",
) -> None:
    """Open the decision form, prefilled from `text` (the command's, or a message's for a message shortcut), asking
    for a channel when the metadata has none; if Slack refuses, tell the person through `response_url`."""
    prefill = command_prefill(text)
    view = services.renderer.view(
        "form",
        metadata=metadata.dump(),
        facts=FACTS,
        initial=prefill.initial,
        command=prefill.note,
        origin=origin,
        pick_channel=metadata.channel is None,
    )
    open_view(
        services,
        trigger_id=trigger_id,
        view=view,
        received=received,
        response_url=response_url,
        who=f"{metadata.user} in {metadata.channel or 'a channel to choose'}",
    )
