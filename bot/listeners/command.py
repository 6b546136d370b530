"""`/should-finetune [use case]`: open the decision form at once, prefilled with the answers the text gives
(`bot.slack.prefill`); `history` lists the channel's decisions; `digest` controls its weekly digest and its schedule;
`reviewers` shows or names the channel's reviewers; `help`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.commands.channel import CLEAR_WORDS, DEFAULT_WORDS, reviewers_command
from bot.commands.digest import ACTIONS as DIGEST_ACTIONS
from bot.commands.digest import digest_command, looks_like_schedule
from bot.engine.ruleset import RuleSet
from bot.followups.history import decided_under_older_rules, history_rows
from bot.listeners.common import is_id, open_form
from bot.services import Services
from bot.slack.api import error_code
from bot.slack.delivery import respond
from bot.slack.forms import FormMetadata
from bot.slack.ids import COMMAND, is_trigger_id
from bot.store import Decision, StoreUnavailable
from bot.text import readable, unescape

log = logging.getLogger(__name__)

HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
# Sub-commands the bot has, and other words that read as one rather than as a use case (those get the usage).
SUBCOMMANDS = frozenset({"history", "digest", "reviewers"})
SUBCOMMAND_WORDS = frozenset({"status", "settings", "config", "version", "list", "rereview", "re-review", "edit"})
INCOMPLETE = "Slack sent this command without its channel, user or trigger; please run it again."
# How many of the channel's decisions `history` lists.
HISTORY_LIMIT = 10


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
    if first == "digest" and looks_like_schedule(words[1:]):
        return "digest", True  # "digest friday 16:00 Europe/Berlin", or a mistyped one, answered as such
    if first == "reviewers" and _names_reviewers(words[1:]):
        return "reviewers", True  # "reviewers @ana @ml-leads", "reviewers none"; "reviewers of pull requests" is not
    if first.startswith("-") or (len(words) == 1 and first in SUBCOMMAND_WORDS):
        return words[0], False
    return None, True


def register(app: App, services: Services) -> None:
    """Listen for the slash command."""

    @app.command(COMMAND)
    def handle_command(ack: Ack, command: dict[str, Any]) -> None:
        raw = command.get("text")
        raw = raw if isinstance(raw, str) else ""
        text = unescape(raw)  # "R&amp;D" is what the person typed as "R&D"; mentions stay markup for `reviewers`
        word, known = subcommand(text)
        if word is None:  # a use case: mentions, channels and links as the person saw them
            ask_with_the_form(ack, services, command, unescape(readable(raw)))
        elif known and word in ROUTES:
            ROUTES[word](ack, services, command, text)
        else:
            ack(**services.renderer.message("help", command=COMMAND, unknown=None if known else word))


def history(ack: Ack, services: Services, command: dict[str, Any], text: str) -> None:
    """`history`: the channel's recent decisions, to the person who asked."""
    del text
    workspace, channel, response_url = (command.get(k) for k in ("team_id", "channel_id", "response_url"))
    if not (is_id(workspace) and is_id(channel) and isinstance(response_url, str)):
        ack(text=INCOMPLETE)
        return
    ack()
    services.run_soon(show_history, services=services, workspace=workspace, channel=channel, response_url=response_url)


def digest(ack: Ack, services: Services, command: dict[str, Any], text: str) -> None:
    """`digest [on|off|now|preview]`: the channel's weekly digest."""
    ids = [command.get(k) for k in ("team_id", "channel_id", "user_id")]
    response_url = command.get("response_url")
    if not (all(is_id(value) for value in ids) and isinstance(response_url, str)):
        ack(text=INCOMPLETE)
        return
    words = text.split()
    action = words[1].lower() if len(words) > 1 else "status"
    if action not in DIGEST_ACTIONS:
        action = "schedule"  # "digest friday 16:00 Europe/Berlin"
    ack()
    workspace, channel, user = ids
    services.run_soon(
        digest_command,
        services=services,
        workspace=workspace,
        channel=channel,
        user=user,
        action=action,
        response_url=response_url,
        words=words[1:] if action == "schedule" else (),
    )


def reviewers(ack: Ack, services: Services, command: dict[str, Any], text: str) -> None:
    """`reviewers [@person|@group ...|none|default]`: show or name the channel's reviewers."""
    del text  # mentions are read from the text as Slack sent it: a typed "&lt;@U1&gt;" is no mention
    ids = [command.get(k) for k in ("team_id", "channel_id", "user_id")]
    response_url, raw = command.get("response_url"), command.get("text")
    if not (all(is_id(value) for value in ids) and isinstance(response_url, str) and isinstance(raw, str)):
        ack(text=INCOMPLETE)
        return
    ack()
    workspace, channel, user = ids
    after = raw.strip()[len("reviewers") :]
    services.run_soon(
        reviewers_command,
        services=services,
        workspace=workspace,
        channel=channel,
        user=user,
        raw=after,
        response_url=response_url,
    )


ROUTES: dict[str, Callable[[Ack, Services, dict[str, Any], str], None]] = {
    "history": history,
    "digest": digest,
    "reviewers": reviewers,
}


def _names_reviewers(words: list[str]) -> bool:
    """Whether the words after `reviewers` name reviewers (mentions, or an @name Slack did not turn into one) or
    are `none` / `default`."""
    if len(words) == 1 and words[0].lower() in CLEAR_WORDS | DEFAULT_WORDS:
        return True
    return any(word.startswith(("<", "@")) for word in words)


def ask_with_the_form(ack: Ack, services: Services, command: dict[str, Any], text: str) -> None:
    """A use case (or nothing): open the decision form, prefilled from the text."""
    trigger_id = command.get("trigger_id")
    metadata = FormMetadata.of(
        team=command.get("team_id"), channel=command.get("channel_id"), user=command.get("user_id")
    )
    if metadata is None or metadata.channel is None or not is_trigger_id(trigger_id):  # a command is in a channel
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
