"""`/should-finetune digest [on|off|now|preview|default|<weekday> <HH:MM> [<time zone>]]`: the channel's weekly
digest, as the people in it control it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.commands.channel import announce
from bot.digest.messages import preview
from bot.digest.runner import Result
from bot.schedule import Schedule, parse_time, parse_weekday, parse_zone, rolling_week
from bot.services import Services
from bot.slack.delivery import respond
from bot.store import StoreUnavailable

__all__ = ["ACTIONS", "digest_command", "looks_like_schedule", "read_schedule"]

log = logging.getLogger(__name__)

# What `digest` takes after it; nothing is "status". A weekday starts a schedule (`looks_like_schedule`).
ACTIONS = frozenset({"on", "off", "now", "preview", "status", "default"})


class ScheduleProblem(ValueError):
    """Which part of a typed schedule was not understood: `part` is weekday, time, zone, missing or extra."""

    def __init__(self, part: str, bad: str = "") -> None:
        super().__init__(f"{part}: {bad}")
        self.part = part
        self.bad = bad


def looks_like_schedule(words: Sequence[str]) -> bool:
    """Whether the words after `digest` are meant as a schedule ("friday 16:00 Europe/Berlin"), even a mistyped one:
    a weekday first, or a time second. "digest summaries of the news" stays a use case."""
    if not 1 <= len(words) <= 4:
        return False
    try:
        parse_weekday(words[0])
        return True
    except ValueError:
        pass
    return len(words) >= 2 and any(c.isdigit() for c in words[1]) and ":" in words[1]


def read_schedule(words: Sequence[str], zone_now: Schedule) -> Schedule:
    """The schedule typed as weekday, HH:MM and an optional time zone (left out: the one of `zone_now`);
    `ScheduleProblem` naming the first part that is not understood."""
    if len(words) < 2:
        raise ScheduleProblem("missing")
    if len(words) > 3:
        raise ScheduleProblem("extra", " ".join(words[3:]))
    try:
        weekday = parse_weekday(words[0])
    except ValueError:
        raise ScheduleProblem("weekday", words[0]) from None
    try:
        at = parse_time(words[1])
    except ValueError:
        raise ScheduleProblem("time", words[1]) from None
    try:
        zone = parse_zone(words[2]) if len(words) == 3 else zone_now.zone
    except ValueError:
        raise ScheduleProblem("zone", words[2]) from None
    return Schedule(weekday=weekday, at=at, zone=zone)


def digest_command(
    *,
    services: Services,
    workspace: str,
    channel: str,
    user: str,
    action: str,
    response_url: str,
    words: Sequence[str] = (),
) -> None:
    """Do what `/should-finetune digest <action>` asks and answer through the command's response_url; `words` are
    the schedule typed after `digest` when `action` is "schedule"."""
    runner = services.digest
    now = runner.clock()
    context: dict[str, Any] = {"user": user, "quiet_weeks": runner.quiet_weeks, "default": runner.schedule.describe()}
    try:
        own = runner.channels.get(workspace=workspace, channel=channel) if runner.channels is not None else None
        schedule = runner.own_schedule(own) or runner.schedule
        context |= _when(services, workspace, channel, schedule, now, own=runner.own_schedule(own) is not None)
        if action in {"schedule", "default"}:
            _set_schedule(
                services,
                workspace=workspace,
                channel=channel,
                user=user,
                words=words,
                response_url=response_url,
                context=context,
            )
            return
        message = _act(
            services,
            workspace=workspace,
            channel=channel,
            user=user,
            action=action,
            now=now,
            schedule=schedule,
            context=context,
        )
        if message is None:
            return  # posted: the digest in the channel is the answer
    except StoreUnavailable as exc:
        log.error("digest %s in %s: Redis: %s", action, channel, exc.kind)
        message = _notice(services, "unavailable", **context)
    respond(response_url, message)


def _act(
    services: Services,
    *,
    workspace: str,
    channel: str,
    user: str,
    action: str,
    now: datetime,
    schedule: Schedule,
    context: dict[str, Any],
) -> dict[str, Any] | None:
    runner = services.digest
    if action in {"on", "off"}:
        runner.digests.set_enabled(workspace=workspace, channel=channel, enabled=action == "on", by=user)
        services.store.add_channel(workspace=workspace, channel=channel)
        log.info("digest turned %s in %s:%s by %s", action, workspace, channel, user)
        return _notice(services, "turned", enabled=action == "on", **context)
    if action == "status":
        enabled = runner.digests.enabled(workspace=workspace, channel=channel)
        return _notice(services, "status", enabled=enabled, **context)
    if action == "preview":
        digest = runner.build(workspace=workspace, channel=channel, period=rolling_week(now, schedule.zone))
        if digest.quiet:
            return _notice(services, "quiet", **context)
        return preview(services.renderer, digest, schedule=None)
    period = rolling_week(now, schedule.zone)
    sent = runner.send(workspace=workspace, channel=channel, period=period, on_demand=True)
    return _sent_notice(services, sent.result, sent.error, context)


def _set_schedule(
    services: Services,
    *,
    workspace: str,
    channel: str,
    user: str,
    words: Sequence[str],
    response_url: str,
    context: dict[str, Any],
) -> None:
    """Set the channel's own schedule from `words` (none: back to the default), and say so in the channel."""
    runner = services.digest
    schedule = runner.schedule
    if words:
        try:
            schedule = read_schedule(words, runner.schedule_of(workspace, channel))
        except ScheduleProblem as problem:
            respond(response_url, _notice(services, "schedule-invalid", part=problem.part, bad=problem.bad, **context))
            return
    if runner.channels is None:  # a runner without per-channel settings (never in the bot itself)
        respond(response_url, _notice(services, "unavailable", **context))
        return
    runner.channels.set_schedule(
        workspace=workspace, channel=channel, schedule=schedule.spec() if words else None, by=user, now=runner.clock()
    )
    services.store.add_channel(workspace=workspace, channel=channel)
    log.info("digest schedule of %s:%s set to %s by %s", workspace, channel, schedule.describe(), user)
    context |= _when(services, workspace, channel, schedule, runner.clock(), own=bool(words))
    announce(services, channel, _notice(services, "scheduled" if words else "defaulted", **context), response_url)


def _when(
    services: Services, workspace: str, channel: str, schedule: Schedule, now: datetime, *, own: bool
) -> dict[str, Any]:
    upcoming = services.digest.next_due(workspace, channel, schedule, now)
    return {
        "schedule": schedule.describe(),
        "own": own,
        "next": int(upcoming.timestamp()),
        "next_text": upcoming.strftime("%Y-%m-%d %H:%M UTC"),
    }


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
