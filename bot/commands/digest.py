"""`/should-finetune digest [on|off|now|preview]`: the channel's weekly digest, as the people in it control it."""

from __future__ import annotations

import logging
from typing import Any

from bot.digest.messages import preview
from bot.digest.runner import Result
from bot.schedule import rolling_week
from bot.services import Services
from bot.slack.delivery import respond
from bot.store import StoreUnavailable

__all__ = ["ACTIONS", "digest_command"]

log = logging.getLogger(__name__)

# What `digest` takes after it; nothing is "status".
ACTIONS = frozenset({"on", "off", "now", "preview", "status"})


def digest_command(
    *, services: Services, workspace: str, channel: str, user: str, action: str, response_url: str
) -> None:
    """Do what `/should-finetune digest <action>` asks and answer through the command's response_url."""
    runner = services.digest
    schedule = runner.schedule
    now = runner.clock()
    upcoming = schedule.next_due(now)
    context: dict[str, Any] = {
        "user": user,
        "schedule": schedule.describe(),
        "next": int(upcoming.timestamp()),
        "next_text": upcoming.strftime("%Y-%m-%d %H:%M UTC"),
        "quiet_weeks": runner.quiet_weeks,
    }
    try:
        if action in {"on", "off"}:
            runner.digests.set_enabled(workspace=workspace, channel=channel, enabled=action == "on", by=user)
            services.store.add_channel(workspace=workspace, channel=channel)
            log.info("digest turned %s in %s:%s by %s", action, workspace, channel, user)
            message = _notice(services, "turned", enabled=action == "on", **context)
        elif action == "status":
            enabled = runner.digests.enabled(workspace=workspace, channel=channel)
            message = _notice(services, "status", enabled=enabled, **context)
        elif action == "preview":
            digest = runner.build(workspace=workspace, channel=channel, period=rolling_week(now, schedule.zone))
            if digest.quiet:
                message = _notice(services, "quiet", **context)
            else:
                message = preview(services.renderer, digest, schedule=None)
        else:
            period = rolling_week(now, schedule.zone)
            sent = runner.send(workspace=workspace, channel=channel, period=period, on_demand=True)
            notice = _sent_notice(services, sent.result, sent.error, context)
            if notice is None:
                return  # posted: the digest in the channel is the answer
            message = notice
    except StoreUnavailable as exc:
        log.error("digest %s in %s: Redis: %s", action, channel, exc.kind)
        message = _notice(services, "unavailable", **context)
    respond(response_url, message)


def _sent_notice(
    services: Services, result: Result, error: str | None, context: dict[str, Any]
) -> dict[str, Any] | None:
    if result is Result.SENT:
        return None
    kind = {
        Result.QUIET: "quiet",
        Result.BUSY: "busy",
        Result.ALREADY: "recent",
        Result.FAILED: "failed",
        Result.RETRY: "failed" if error != "redis" else "unavailable",
    }[result]
    return _notice(services, kind, error=error or "unknown", **context)


def _notice(services: Services, kind: str, **context: Any) -> dict[str, Any]:
    return services.renderer.message("digest-notice", kind=kind, **{"enabled": False, "error": "", **context})
