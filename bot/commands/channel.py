"""A channel's own settings, as people change them with the slash command: `/should-finetune reviewers …`, and
`announce`, which says a change in the channel (`digest friday 16:00 …` uses it too).

Who may change a channel's reviewers: its current reviewers (a member listed, or a member of a listed user group),
or anyone while it has none. The default from `SHOULD_FINETUNE_REVIEWERS` counts as the channel's reviewers until
someone changes them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.services import Services
from bot.slack.api import error_code
from bot.slack.delivery import respond
from bot.slack.reviews import as_mentions
from bot.store import StoreUnavailable
from bot.store.channels import MAX_REVIEWERS, ReviewersChanged

__all__ = ["CLEAR_WORDS", "DEFAULT_WORDS", "announce", "read_reviewers", "reviewers_command"]

log = logging.getLogger(__name__)

CLEAR_WORDS = frozenset({"none", "nobody", "clear"})
DEFAULT_WORDS = frozenset({"default"})
# One piece of what follows `reviewers`: a piece of Slack markup (a mention), or a word.
_TOKEN = re.compile(r"<[^<>]*>|[^\s<]+|<")
_PERSON = re.compile(r"<@([UW][A-Z0-9]{2,40})(?:\|[^<>]*)?>")
_GROUP = re.compile(r"<!subteam\^(S[A-Z0-9]{2,40})(?:\|[^<>]*)?>")


class Unreadable(ValueError):
    """A word after `reviewers` that is neither a mention nor `none`/`default`."""

    def __init__(self, bad: str) -> None:
        super().__init__(bad)
        self.bad = bad


def read_reviewers(raw: str) -> list[str] | None:
    """What the raw text after `reviewers` asks for (as Slack sent it, mentions escaped as `<@U…|name>` and
    `<!subteam^S…|@name>`): the ids named ([] for `none`: clear them), or None for `default`. `Unreadable` for
    anything else."""
    tokens = _TOKEN.findall(raw)
    if len(tokens) == 1 and tokens[0].lower() in CLEAR_WORDS:
        return []
    if len(tokens) == 1 and tokens[0].lower() in DEFAULT_WORDS:
        return None
    if not tokens:
        raise Unreadable("")
    ids = []
    for token in tokens:
        found = _PERSON.fullmatch(token) or _GROUP.fullmatch(token)
        if found is None:
            raise Unreadable(token)
        ids.append(found[1])
    return list(dict.fromkeys(ids))


def reviewers_command(
    *, services: Services, workspace: str, channel: str, user: str, raw: str, response_url: str
) -> None:
    """Show or change the channel's reviewers, answering through the command's response_url; a change is said in the
    channel."""
    showing = not raw.strip()
    try:
        new = None if showing else read_reviewers(raw)
    except Unreadable as exc:
        respond(response_url, _notice(services, "unreadable", bad=exc.bad))
        return
    if new is not None and len(new) > MAX_REVIEWERS:
        respond(response_url, _notice(services, "too-many", limit=MAX_REVIEWERS))
        return
    reviews = services.reviews
    try:
        own = reviews.channels.get(workspace=workspace, channel=channel).reviewers if reviews.channels else None
        current = reviews.reviewers if own is None else own
        if showing:
            respond(response_url, _notice(services, "show", reviewers=as_mentions(current), own=own is not None))
            return
        if current and not reviews.is_among(user, current):
            log.info("reviewers of %s:%s: %s may not change them", workspace, channel, user)
            respond(response_url, _notice(services, "refused", reviewers=as_mentions(current)))
            return
        if reviews.channels is None:  # Reviews without per-channel settings (never in the bot itself)
            respond(response_url, _notice(services, "unavailable"))
            return
        reviews.channels.set_reviewers(workspace=workspace, channel=channel, reviewers=new, by=user, expected=own)
    except StoreUnavailable as exc:
        log.error("reviewers of %s:%s: Redis: %s", workspace, channel, exc.kind)
        respond(response_url, _notice(services, "unavailable"))
        return
    except ReviewersChanged:
        respond(response_url, _notice(services, "raced"))
        return
    now = reviews.reviewers if new is None else tuple(new)
    kind = "defaulted" if new is None else "changed" if new else "cleared"
    log.info("reviewers of %s:%s set to %s by %s", workspace, channel, ",".join(now) or "none", user)
    announce(services, channel, _notice(services, kind, user=user, reviewers=as_mentions(now)), response_url)


def announce(services: Services, channel: str, message: dict[str, Any], response_url: str) -> None:
    """Say `message` in `channel` as a normal message; when the bot cannot post there (not invited, say), through
    the command's response_url, still in the channel."""
    try:
        services.client.chat_postMessage(channel=channel, text=message["text"])
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.info("could not say a settings change in %s (%s): said through the command", channel, error_code(exc))
        respond(response_url, message)


def _notice(services: Services, kind: str, **context: Any) -> dict[str, Any]:
    return services.renderer.message("reviewers-notice", kind=kind, **context)
