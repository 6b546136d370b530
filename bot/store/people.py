"""Each person's decisions across channels, for their Home tab: `{prefix}:person:{T…:U…}:decisions`, a sorted set of
`channel:decision id` by creation time, written when a decision is created; and `…:home`, set while a person who
opened their Home tab should see it kept up to date.

It is in another Redis Cluster slot than the channel's keys, so it is written before the decision, outside its
script: an entry whose decision is missing (not created after all, or expired) is skipped when read. Entries older
than the retention period are dropped when the person's next decision is written, and the set expires with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.store.base import RedisClient, batch, check_id, check_prefix, raises_store_errors


@dataclass(frozen=True, slots=True)
class DecisionRef:
    """Where one of a person's decisions is."""

    channel: str
    decision: str


@raises_store_errors
class People:
    """The index of each person's decisions."""

    def __init__(self, redis: RedisClient, *, prefix: str, retention: timedelta) -> None:
        self._redis = redis
        self._prefix = check_prefix(prefix)
        self.retention = retention

    def _key(self, workspace: str, user: str) -> str:
        return f"{self._prefix}:person:{{{check_id('workspace', workspace)}:{check_id('user', user)}}}:decisions"

    def add(self, pipe: Any, *, workspace: str, user: str, channel: str, decision_id: str, at: datetime) -> None:
        """Queue on `pipe` (a `batch`) the note that `user` asked for decision `decision_id` in `channel` at `at`:
        the caller sends it with its own commands, in one round trip."""
        key = self._key(workspace, user)
        member = f"{check_id('channel', channel)}:{check_id('decision', decision_id)}"
        pipe.zadd(key, {member: at.timestamp()})
        pipe.zremrangebyscore(key, "-inf", f"({(at - self.retention).timestamp()!r}")
        pipe.expire(key, int(self.retention.total_seconds()) + 1)

    def opened_home(self, *, workspace: str, user: str, ttl: timedelta) -> None:
        """Note that `user` opened their Home tab: for `ttl`, changes to their decisions publish it again."""
        self._redis.set(self._home_key(workspace, user), "1", ex=max(1, int(ttl.total_seconds())))

    def has_home(self, *, workspace: str, user: str) -> bool:
        """Whether `user` opened their Home tab within the `ttl` given then."""
        return bool(self._redis.exists(self._home_key(workspace, user)))

    def _home_key(self, workspace: str, user: str) -> str:
        return f"{self._prefix}:person:{{{check_id('workspace', workspace)}:{check_id('user', user)}}}:home"

    def recent(self, *, workspace: str, user: str, limit: int) -> tuple[list[DecisionRef], int]:
        """The person's newest `limit` decisions, newest first, and how many are on record in all."""
        key = self._key(workspace, user)
        with batch(self._redis) as pipe:
            pipe.zrevrange(key, 0, max(0, limit - 1))
            pipe.zcard(key)
            members, total = pipe.execute()
        refs = []
        for member in members:
            channel, _, decision = str(member).partition(":")
            refs.append(DecisionRef(channel, decision))
        return refs, int(total)
