"""Each channel's own settings: when its weekly digest is due, and who its reviewers are.

One hash per channel, `{prefix}:{T123:C456}:settings`. A field that is absent means "the default from the bot's
settings" (`SHOULD_FINETUNE_DIGEST_*`, `SHOULD_FINETUNE_REVIEWERS`); `reviewers` present and empty means the channel
chose to have none. Who changed each setting, and when, is kept next to it (`*_by`, `*_at`).

The store keeps the schedule as text ("friday 16:00 Europe/Berlin") and checks only its shape; `bot.schedule` reads
it. Reviewers are member ids (`U…`, `W…`) and user group ids (`S…`), space-separated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.store.base import RedisClient, batch, channel_key, check_client, check_prefix, raises_store_errors

__all__ = ["REVIEWER_ID", "ChannelSettings", "ChannelSettingsStore", "ReviewersChanged"]

REVIEWER_ID = re.compile(r"[UWS][A-Z0-9]{2,40}")
_SCHEDULE = re.compile(r"[a-z]+ [0-9]{2}:[0-9]{2} [A-Za-z0-9_+/-]{1,64}")
MAX_REVIEWERS = 50

# KEYS: the settings hash. ARGV: expected reviewers ("\0" when the field is absent), new value ("\0": remove the
# field), who, when. Changes the reviewers only if they are still what the caller saw; 1 when changed, else 0.
_SET_REVIEWERS = """
local current = redis.call('HGET', KEYS[1], 'reviewers')
if current == false then current = '\\0' end
if current ~= ARGV[1] then return 0 end
if ARGV[2] == '\\0' then
  redis.call('HDEL', KEYS[1], 'reviewers')
else
  redis.call('HSET', KEYS[1], 'reviewers', ARGV[2])
end
redis.call('HSET', KEYS[1], 'reviewers_by', ARGV[3], 'reviewers_at', ARGV[4])
return 1
"""
_ABSENT = "\0"


class ReviewersChanged(Exception):
    """Someone changed the channel's reviewers between reading them and writing new ones."""


@dataclass(frozen=True)
class ChannelSettings:
    """One channel's own settings; None where it uses the default."""

    schedule: str | None = None  # "friday 16:00 Europe/Berlin"
    schedule_by: str | None = None
    schedule_at: datetime | None = None  # when the schedule was last set or put back to the default
    reviewers: tuple[str, ...] | None = None  # () when the channel has none
    reviewers_by: str | None = None


@raises_store_errors
class ChannelSettingsStore:
    """Per-channel settings in Redis."""

    def __init__(self, redis: RedisClient, *, prefix: str = "should-finetune") -> None:
        client = check_client(redis)
        self._redis = client
        self._prefix = check_prefix(prefix)
        self._set_reviewers = client.register_script(_SET_REVIEWERS)

    def _key(self, workspace: str, channel: str) -> str:
        return f"{channel_key(self._prefix, workspace, channel)}:settings"

    def get(self, *, workspace: str, channel: str) -> ChannelSettings:
        """The channel's own settings (all None when it has none)."""
        return _settings(self._redis.hgetall(self._key(workspace, channel)))

    def get_many(self, channels: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ChannelSettings]:
        """The settings of each of `channels`, in one round trip."""
        with batch(self._redis) as pipe:
            for workspace, channel in channels:
                pipe.hgetall(self._key(workspace, channel))
            replies = pipe.execute()
        return {pair: _settings(reply) for pair, reply in zip(channels, replies, strict=True)}

    def set_schedule(
        self, *, workspace: str, channel: str, schedule: str | None, by: str, now: datetime | None = None
    ) -> None:
        """Set the channel's digest schedule ("friday 16:00 Europe/Berlin"), or go back to the default (None), at
        `now` (default: the clock's time; the scheduler sends no period that ended before it)."""
        if schedule is not None and not _SCHEDULE.fullmatch(schedule):
            raise ValueError(f"invalid schedule {schedule!r}: expected 'weekday HH:MM Zone/Name'")
        key = self._key(workspace, channel)
        with batch(self._redis) as pipe:
            if schedule is None:
                pipe.hdel(key, "schedule")
            else:
                pipe.hset(key, "schedule", schedule)
            at = (now or datetime.now(UTC)).astimezone(UTC)
            pipe.hset(key, mapping={"schedule_by": by, "schedule_at": at.isoformat()})
            pipe.execute()

    def set_reviewers(
        self,
        *,
        workspace: str,
        channel: str,
        reviewers: Sequence[str] | None,
        by: str,
        expected: tuple[str, ...] | None,
    ) -> None:
        """Make `reviewers` the channel's (an empty list: none; None: back to the default), provided its own
        reviewers are still `expected` (as `get` returned them); `ReviewersChanged` otherwise."""
        if reviewers is not None:
            if len(reviewers) > MAX_REVIEWERS:
                raise ValueError(f"at most {MAX_REVIEWERS} reviewers")
            for reviewer in reviewers:
                if not REVIEWER_ID.fullmatch(reviewer):
                    raise ValueError(f"invalid reviewer id {reviewer!r}")
        args = [
            _ABSENT if expected is None else " ".join(expected),
            _ABSENT if reviewers is None else " ".join(dict.fromkeys(reviewers)),
            by,
            datetime.now(UTC).isoformat(),
        ]
        if not self._set_reviewers(keys=[self._key(workspace, channel)], args=args):
            raise ReviewersChanged(f"the reviewers of {channel} changed meanwhile")


def _settings(raw: dict[Any, Any]) -> ChannelSettings:
    schedule = raw.get("schedule")
    at = raw.get("schedule_at")
    reviewers = raw.get("reviewers")
    return ChannelSettings(
        schedule=schedule if schedule and _SCHEDULE.fullmatch(schedule) else None,
        schedule_by=raw.get("schedule_by"),
        schedule_at=datetime.fromisoformat(at) if at else None,
        reviewers=None if reviewers is None else tuple(r for r in reviewers.split() if REVIEWER_ID.fullmatch(r)),
        reviewers_by=raw.get("reviewers_by"),
    )
