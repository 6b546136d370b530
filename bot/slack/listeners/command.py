"""`/should-finetune [use case]`: open the decision form at once, or answer `help` with usage."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.engine.answers import FACTS
from bot.services import Services
from bot.slack.api import error_code
from bot.slack.delivery import respond
from bot.slack.forms import FormMetadata, form_initial
from bot.slack.ids import COMMAND

log = logging.getLogger(__name__)

HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
# Words that read as a sub-command rather than a use case. None of them is one yet, so each gets the usage.
SUBCOMMAND_WORDS = frozenset(
    {"history", "digest", "status", "settings", "config", "version", "list", "rereview", "re-review", "edit"}
)


def subcommand(text: str) -> tuple[str | None, bool]:
    """(the sub-command word, whether it is known) for command text; (None, True) when the text is a use case."""
    words = text.split()
    if not words:
        return None, True
    first = words[0].lower()
    if first in HELP_WORDS:
        return "help", True
    if first.startswith("-") or (len(words) == 1 and first in SUBCOMMAND_WORDS):
        return words[0], False
    return None, True


def register(app: App, services: Services) -> None:
    """Listen for the slash command."""

    @app.command(COMMAND)
    def handle_command(ack: Ack, command: dict[str, Any]) -> None:
        text = command.get("text")
        text = text if isinstance(text, str) else ""
        word, known = subcommand(text)
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
        if metadata is None or not isinstance(trigger_id, str):
            ack(text="Slack sent this command without its channel, user or trigger; please run it again.")
            return
        ack()  # the HTTP response goes out now; the form opens on a worker thread within the trigger's 3 seconds
        services.run_now(
            open_form,
            services=services,
            trigger_id=trigger_id,
            metadata=metadata,
            use_case=text,
            response_url=command.get("response_url"),
        )


def open_form(
    *, services: Services, trigger_id: str, metadata: FormMetadata, use_case: str, response_url: object
) -> None:
    """Open the decision form; if Slack refuses, tell the person through the command's response_url."""
    view = services.renderer.view(
        "form", metadata=metadata.dump(), facts=FACTS, initial=form_initial(use_case=use_case)
    )
    try:
        services.trigger_client.views_open(trigger_id=trigger_id, view=view)
    except (SlackApiError, SlackClientError, OSError) as exc:
        error = error_code(exc)
        log.warning("views.open failed for %s in %s: %s", metadata.user, metadata.channel, error)
        if isinstance(response_url, str):
            respond(response_url, services.renderer.message("notice", kind="form-failed", error=error))
