"""The Slack app manifest: paste it at api.slack.com/apps ("From an app manifest") to create the app in one step."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bot.server import EVENTS_PATH
from bot.slack.ids import COMMAND, CallbackId

# Each scope is explained in the README ("Installing it in Slack"); a call or an event that needs none of these is not
# made. `channels:read` and `groups:read` are not asked for: channels are named with `<#C…>`, which Slack renders.
BOT_SCOPES = (
    "commands",  # the slash command
    "chat:write",  # verdicts, thread replies, private notices, digests, DMs when a channel is out of reach
    "channels:history",  # follow-up questions in verdict threads (public channels); finding a post a worker made
    "groups:history",  # ... and in private channels the bot was invited to
    "im:history",  # finding a verdict already posted in the bot's DM with someone, so a restart does not repeat it
    "reactions:read",  # re-review on a reaction
    "usergroups:read",  # who is in a reviewers' user group (they may edit answers)
    "app_mentions:read",  # @should-finetune in a thread
)
BOT_EVENTS = ("message.channels", "message.groups", "reaction_added", "app_mention", "app_home_opened")


def request_url(url: str) -> str:
    """The events URL for a public base URL (`https://bot.example.com` gives `.../slack/events`)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError("the URL must be public https://, e.g. https://bot.example.com (Slack refuses http)")
    path = parts.path.rstrip("/")
    return f"https://{parts.netloc}{path if path.endswith(EVENTS_PATH) else path + EVENTS_PATH}"


def build_manifest(*, socket_mode: bool, url: str | None = None) -> dict[str, Any]:
    """The manifest for Socket Mode, or for HTTP mode at `url` (a placeholder to edit when not given)."""
    events_url = request_url(url) if url else f"https://bot.example.com{EVENTS_PATH}"
    command: dict[str, Any] = {
        "command": COMMAND,
        "description": "Decide whether to fine-tune a model, or what to try first",
        "usage_hint": "[use case] | history | digest [on|off|now|preview] | help",
        # Mentions arrive as `<@U…|name>` (for `reviewers @a @b`); a use case shows them as typed (bot.text.readable).
        "should_escape": True,
    }
    events: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if not socket_mode:
        command["url"] = events_url
        events["request_url"] = events_url
        interactivity["request_url"] = events_url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": "should-finetune",
            "description": "Tells your team whether to fine-tune a model, or what cheaper thing to try first.",
            "background_color": "#2c2d30",
        },
        "features": {
            # The Messages tab is where a verdict goes when its channel is out of reach. It is read-only: the bot
            # answers follow-up questions in channel threads only, and reads its DMs only for its own posts.
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": "should-finetune", "always_online": True},
            "slash_commands": [command],
            "shortcuts": [
                {
                    "name": "Should we fine-tune this?",
                    "type": "message",
                    "callback_id": CallbackId.MESSAGE_SHORTCUT.value,
                    "description": "Ask for a fine-tune decision about this message, its answers read from it",
                },
                {
                    "name": "New fine-tune decision",
                    "type": "global",
                    "callback_id": CallbackId.GLOBAL_SHORTCUT.value,
                    "description": "Ask whether to fine-tune a model, or what to try first, in a channel you choose",
                },
            ],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
