"""`/should-finetune [use case]`: open the decision form at once, prefilled with the answers the text gives
(`bot.slack.prefill`); `history` lists the channel's decisions; `digest` controls its weekly digest; `help`."""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.commands.digest import ACTIONS as DIGEST_ACTIONS
from bot.commands.digest import digest_command
from bot.engine.answers import FACTS
from bot.engine.ruleset import RuleSet
from bot.followups.history import decided_under_older_rules, history_rows
from bot.services import Services
from bot.slack.api import error_code
from bot.slack.delivery import respond
from bot.slack.forms import FormMetadata
from bot.slack.ids import COMMAND, is_trigger_id
from bot.slack.prefill import command_prefill
from bot.store import Decision, StoreUnavailable
from bot.store.base import SLACK_ID
from bot.text import unescape

log = logging.getLogger(__name__)

HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
# Sub-commands the bot has, and other words that read as one rather than as a use case (those get the usage).
SUBCOMMANDS = frozenset({"history", "digest"})
SUBCOMMAND_WORDS = frozenset({"status", "settings", "config", "version", "list", "rereview", "re-review", "edit"})
INCOMPLETE = "Slack sent this command without its channel, user or trigger; please run it again."
# How many of the channel's decisions `history` lists.
HISTORY_LIMIT = 10
# A trigger_id works for 3 seconds from when Slack sent the request. Once this long has passed since the request
# reached the bot, views.open would most likely arrive too late (network, Slack's own answer time): under a load
# the process cannot keep up with, trying anyway only makes the next forms late too. The person is asked to run
# the command again instead.
TRIGGER_BUDGET = 2.0


def subcommand(text: str) -> tuple[str | None, bool]:
    """(the sub-command word, whether it is known) for command text; (None, True) when the text is a use case."""
    words = text.split()
    if not words:
        return None, True
    first = words[0].lower()
    if len(words) == 1 and first in HELP_WORDS:
        return "help", True  # "help desk ticket routing" and "usage forecasting" are use cases
    if len(words) == 1 and first in SUBCOMMANDS:
        return first, True
    if first == "digest" and len(words) == 2 and words[1].lower() in DIGEST_ACTIONS:
        return "digest", True  # "digest now"; "digest summaries of news" is a use case
    if first.startswith("-") or (len(words) == 1 and first in SUBCOMMAND_WORDS):
        return words[0], False
    return None, True


def register(app: App, services: Services) -> None:
    """Listen for the slash command."""

    @app.command(COMMAND)
    def handle_command(ack: Ack, command: dict[str, Any]) -> None:
        text = command.get("text")
        text = unescape(text) if isinstance(text, str) else ""  # "R&amp;D" is what the person typed as "R&D"
        word, known = subcommand(text)
        if word == "history":
            workspace, channel, response_url = (command.get(k) for k in ("team_id", "channel_id", "response_url"))
            if not (_is_id(workspace) and _is_id(channel) and isinstance(response_url, str)):
                ack(text=INCOMPLETE)
                return
            ack()
            services.run_soon(
                show_history, services=services, workspace=workspace, channel=channel, response_url=response_url
            )
            return
        if word == "digest" and known:
            ids = [command.get(k) for k in ("team_id", "channel_id", "user_id")]
            response_url = command.get("response_url")
            if not (all(_is_id(value) for value in ids) and isinstance(response_url, str)):
                ack(text=INCOMPLETE)
                return
            words = text.split()
            action = words[1].lower() if len(words) > 1 else "status"
            ack()
            services.run_soon(
                digest_command,
                services=services,
                workspace=ids[0],
                channel=ids[1],
                user=ids[2],
                action=action,
                response_url=response_url,
            )
            return
        if word is not None:
            ack(**services.renderer.message("help", command=COMMAND, unknown=None if known else word))
            return
        trigger_id = command.get("trigger_id")
        try:
            metadata = FormMetadata(
                team=command.get("team_id"), channel=command.get("channel_id"), user=command.get("user_id")
            )
        except ValidationError:
            metadata = None
        if metadata is None or not is_trigger_id(trigger_id):
            ack(text=INCOMPLETE)
            return
        ack()  # the HTTP response goes out now; the form opens on a worker thread within the trigger's 3 seconds
        services.run_now(
            open_form,
            services=services,
            trigger_id=trigger_id,
            metadata=metadata,
            text=text,
            response_url=command.get("response_url"),
            received=time.monotonic(),
        )


def open_form(
    *,
    services: Services,
    trigger_id: str,
    metadata: FormMetadata,
    text: str,
    response_url: object,
    received: float,
) -> None:
    """Open the decision form, prefilled from the command's `text`; if Slack refuses, tell the person through the
    command's response_url."""
    prefill = command_prefill(text)
    view = services.renderer.view(
        "form", metadata=metadata.dump(), facts=FACTS, initial=prefill.initial, command=prefill.note
    )
    open_view(
        services,
        trigger_id=trigger_id,
        view=view,
        received=received,
        response_url=response_url,
        who=f"{metadata.user} in {metadata.channel}",
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


def _is_id(value: object) -> bool:
    return isinstance(value, str) and SLACK_ID.fullmatch(value) is not None


def show_history(*, services: Services, workspace: str, channel: str, response_url: str) -> None:
    """The channel's recent decisions, to the person who asked (ephemeral), each with a link to its verdict."""
    ruleset = services.decisions.ruleset
    try:
        decisions = services.store.recent_decisions(workspace=workspace, channel=channel, limit=HISTORY_LIMIT)
    except StoreUnavailable as exc:
        log.error("history of %s: Redis: %s", channel, exc.kind)
        respond(response_url, services.renderer.message("notice", kind="unavailable"))
        return
    rows = [_history_row(services, decision, ruleset) for decision in decisions]
    respond(response_url, services.renderer.message("history", decisions=rows, current=ruleset.version))


def _history_row(services: Services, decision: Decision, ruleset: RuleSet) -> dict[str, Any]:
    latest = decision.latest
    row = history_rows(decision, ruleset)[-1]  # the latest version's row
    delivery = decision.delivery
    permalink = None
    if delivery.channel and delivery.ts:
        try:
            found = services.client.chat_getPermalink(channel=delivery.channel, message_ts=delivery.ts)
            permalink = found.get("permalink")
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.info("no permalink for %s: %s", decision.id, error_code(exc))
    return {
        **row,
        "use_case": latest.answers.get("use_case") or "(no use case given)",
        "requester": decision.requester,
        "versions": len(decision.versions),
        "created": int(decision.created_at.timestamp()),
        "created_text": decision.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        "permalink": permalink if isinstance(permalink, str) and permalink.startswith("https://") else None,
        "older_rules": decided_under_older_rules(decision, ruleset),
    }
