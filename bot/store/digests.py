"""Which channels want the weekly digest, and who sends each channel's digest for a period: exactly one runner.

Sending is claimed per channel and period. The claim is a lock with a finite lifetime, so a runner that dies
mid-send leaves the digest to the next runner, which picks up where the first stopped (the summary message's ts and
how many messages were posted are recorded after every post). When the digest is done, a marker for the period
is written and the lock removed in one step; from then on every runner skips that channel for that period.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.store.base import (
    RedisClient,
    batch,
    channel_key,
    check_client,
    check_prefix,
    check_ts,
    raises_store_errors,
)

__all__ = ["DigestClaim", "DigestStore", "Done", "Outcome"]

_PERIOD = re.compile(r"[0-9]{4}-W[0-9]{2}|now")
# How long a period's marker is kept: past any catch-up, which only ever looks at the latest period.
MARKER_TTL = timedelta(days=60)


class Outcome(StrEnum):
    """How a channel's digest for a period ended."""

    SENT = "sent"
    QUIET = "quiet"  # nothing happened in the channel that period, and quiet weeks post nothing
    FAILED = "failed"  # Slack refused for good (the bot was removed, the channel archived): not retried


@dataclass(frozen=True)
class Done:
    """The marker of a finished digest."""

    outcome: Outcome
    at: datetime
    ts: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class DigestClaim:
    """The right to send one channel's digest for one period, and how far an earlier holder got."""

    workspace: str
    channel: str
    period: str
    token: str
    summary_ts: str | None
    posted: int
    attempts: int


# KEYS: marker, lock, progress. ARGV: token, lock ttl ms.
# Returns {"done", marker} | {"busy"} | {"held", progress field, value, ...}.
_CLAIM = """
local marker = redis.call('GET', KEYS[1])
if marker then return {'done', marker} end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'busy'} end
local reply = redis.call('HGETALL', KEYS[3])
table.insert(reply, 1, 'held')
return reply
"""

# KEYS: marker, lock, progress. ARGV: token, lock ttl ms, progress ttl ms, field, value, ... (may be none).
# Renews the lock and records progress while the claim is still this runner's; returns 1, or 0 when it is not.
_KEEP = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if #ARGV > 3 then
  redis.call('HSET', KEYS[3], unpack(ARGV, 4))
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return 1
"""

# KEYS: marker, lock, progress[, the channel's digest settings]. ARGV: token, marker JSON, marker ttl ms[, the end of
# the period in epoch ms]. Writes the marker unless one exists; drops the lock if it is still this runner's, and the
# progress; with the fourth key, records how far the channel's scheduled digests have covered. Returns 1 or 0.
_FINISH = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('DEL', KEYS[3])
if KEYS[4] then
  local covered = tonumber(redis.call('HGET', KEYS[4], 'until') or '0') or 0
  if tonumber(ARGV[4]) > covered then redis.call('HSET', KEYS[4], 'until', ARGV[4]) end
end
return 1
"""

# KEYS: lock, progress. ARGV: token, progress ttl ms, "count" or "forget". Gives the claim up: after a failure that
# may pass, counting the attempt; or when there was nothing to do, forgetting the claim's progress.
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[3] == 'forget' then
  redis.call('DEL', KEYS[2])
else
  redis.call('HINCRBY', KEYS[2], 'attempts', 1)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
"""


def _ms(delta: timedelta) -> int:
    return max(1, int(delta / timedelta(milliseconds=1)))


@raises_store_errors
class DigestStore:
    """Digest settings per channel, and claims and markers per channel and period."""

    def __init__(self, redis: RedisClient, *, prefix: str = "should-finetune") -> None:
        client = check_client(redis)
        self._redis = client
        self._prefix = check_prefix(prefix)
        self._claim = client.register_script(_CLAIM)
        self._keep = client.register_script(_KEEP)
        self._finish = client.register_script(_FINISH)
        self._release = client.register_script(_RELEASE)

    def _keys(self, workspace: str, channel: str, period: str) -> list[str]:
        if not _PERIOD.fullmatch(period):
            raise ValueError(f"invalid digest period {period!r}")
        base = f"{channel_key(self._prefix, workspace, channel)}:digest:{period}"
        return [base, f"{base}:lock", f"{base}:progress"]

    def _settings_key(self, workspace: str, channel: str) -> str:
        return f"{channel_key(self._prefix, workspace, channel)}:digest"

    # Per-channel setting

    def set_enabled(self, *, workspace: str, channel: str, enabled: bool, by: str) -> None:
        """Turn the channel's weekly digest on or off, remembering who did."""
        self._redis.hset(
            self._settings_key(workspace, channel),
            mapping={"enabled": "on" if enabled else "off", "by": by, "at": datetime.now(UTC).isoformat()},
        )

    def enabled(self, *, workspace: str, channel: str) -> bool:
        """Whether the channel gets the weekly digest: yes unless someone turned it off."""
        return self._redis.hget(self._settings_key(workspace, channel), "enabled") != "off"

    def pending(self, channels: list[tuple[str, str]], period: str) -> list[tuple[str, str]]:
        """Of `channels`, those with the digest on and no marker for `period`, in one round trip."""
        with batch(self._redis) as pipe:
            for workspace, channel in channels:
                pipe.hget(self._settings_key(workspace, channel), "enabled")
                pipe.exists(self._keys(workspace, channel, period)[0])
            replies = pipe.execute()
        return [
            pair
            for pair, enabled, marked in zip(channels, replies[::2], replies[1::2], strict=True)
            if enabled != "off" and not marked
        ]

    def pending_each(self, due: dict[tuple[str, str], str]) -> dict[tuple[str, str], datetime | None]:
        """Of the channels in `due` (each with the key of its own due period), those with the digest on and no marker
        for that period, each with the end of the last period its scheduled digests covered (None: not known), in one
        round trip."""
        pairs = list(due)
        with batch(self._redis) as pipe:
            for workspace, channel in pairs:
                pipe.hmget(self._settings_key(workspace, channel), ["enabled", "until"])
                pipe.exists(self._keys(workspace, channel, due[(workspace, channel)])[0])
            replies = pipe.execute()
        found: dict[tuple[str, str], datetime | None] = {}
        for pair, (enabled, until), marked in zip(pairs, replies[::2], replies[1::2], strict=True):
            if enabled != "off" and not marked:
                found[pair] = datetime.fromtimestamp(int(until) / 1000, UTC) if until and until.isdigit() else None
        return found

    # Claims

    def claim(self, *, workspace: str, channel: str, period: str, ttl: timedelta) -> DigestClaim | Done | None:
        """The claim on the channel's digest for `period`; its marker when it is done; None while another runner
        holds it."""
        token = os.urandom(12).hex()
        reply = self._claim(keys=self._keys(workspace, channel, period), args=[token, _ms(ttl)])
        if reply[0] == "done":
            return _done(reply[1])
        if reply[0] == "busy":
            return None
        progress: dict[str, Any] = dict(zip(reply[1::2], reply[2::2], strict=True))
        summary_ts = progress.get("summary_ts")
        return DigestClaim(
            workspace=workspace,
            channel=channel,
            period=period,
            token=token,
            summary_ts=check_ts(summary_ts) if summary_ts else None,
            posted=int(progress.get("posted", 0)),
            attempts=int(progress.get("attempts", 0)),
        )

    def keep(
        self, claim: DigestClaim, *, ttl: timedelta, summary_ts: str | None = None, posted: int | None = None
    ) -> bool:
        """Renew the claim for `ttl` and record progress; False when the claim is no longer this runner's."""
        fields: list[str] = []
        if summary_ts is not None:
            fields += ["summary_ts", check_ts(summary_ts)]
        if posted is not None:
            fields += ["posted", str(posted)]
        keys = self._keys(claim.workspace, claim.channel, claim.period)
        return bool(self._keep(keys=keys, args=[claim.token, _ms(ttl), _ms(MARKER_TTL), *fields]))

    def finish(
        self,
        claim: DigestClaim,
        outcome: Outcome,
        *,
        ts: str | None = None,
        error: str | None = None,
        ttl: timedelta | None = None,
        until: datetime | None = None,
    ) -> bool:
        """Mark the period done for the channel, for `ttl` (default `MARKER_TTL`); False when another runner marked
        it first. `until`: the end of the scheduled period it covered, recorded in the same step, so that the
        channel's next scheduled digest can start there (`covered_until`)."""
        marker = json.dumps({"outcome": outcome.value, "at": datetime.now(UTC).isoformat(), "ts": ts, "error": error})
        keys = self._keys(claim.workspace, claim.channel, claim.period)
        args: list[str | int] = [claim.token, marker, _ms(ttl or MARKER_TTL)]
        if until is not None:
            keys.append(self._settings_key(claim.workspace, claim.channel))
            args.append(int(until.timestamp() * 1000))
        return bool(self._finish(keys=keys, args=args))

    def covered_until(self, *, workspace: str, channel: str) -> datetime | None:
        """The end of the last period the channel's scheduled digests covered, or None."""
        until = self._redis.hget(self._settings_key(workspace, channel), "until")
        return datetime.fromtimestamp(int(until) / 1000, UTC) if until and str(until).isdigit() else None

    def release(self, claim: DigestClaim, *, count: bool = True) -> bool:
        """Give the claim up so that a later run tries again: after a failure that may pass, counting the attempt
        (`count`), or when there was nothing to send, leaving no trace."""
        keys = self._keys(claim.workspace, claim.channel, claim.period)
        mode = "count" if count else "forget"
        return bool(self._release(keys=keys[1:], args=[claim.token, _ms(MARKER_TTL), mode]))

    def done(self, *, workspace: str, channel: str, period: str) -> Done | None:
        """The marker of the channel's digest for `period`, or None when it is not done."""
        raw = self._redis.get(self._keys(workspace, channel, period)[0])
        return _done(str(raw)) if raw is not None else None


def _done(raw: str) -> Done:
    data = json.loads(raw)
    return Done(
        outcome=Outcome(data["outcome"]),
        at=datetime.fromisoformat(data["at"]),
        ts=data.get("ts"),
        error=data.get("error"),
    )
