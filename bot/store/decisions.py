"""Decisions, their versions and where their verdicts were posted."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from typing import cast

import redis
from pydantic import BaseModel, ConfigDict, TypeAdapter

from bot.store.activity import RULESET_CHARS, VersionRow, parse_rows, version_row
from bot.store.base import (
    RedisClient,
    batch,
    channel_key,
    check_aware,
    check_client,
    check_id,
    check_prefix,
    check_ts,
    raises_store_errors,
)
from bot.store.models import (
    Decision,
    DecisionExists,
    DecisionNotFound,
    Delivery,
    DeliveryStatus,
    NewVersion,
    Trigger,
    Version,
    _Meta,
)
from bot.store.people import People

__all__ = [
    "DEFAULT_RETENTION",
    "Decision",
    "DecisionExists",
    "DecisionNotFound",
    "DecisionStore",
    "Delivery",
    "DeliveryStatus",
    "NewVersion",
    "Trigger",
    "Version",
    "new_decision_id",
]


_DECISIONS = TypeAdapter(list[Decision | None])


class _ThreadRef(BaseModel):
    """A thread index entry: the decision whose verdict message is the thread's parent."""

    model_config = ConfigDict(frozen=True)

    channel: str
    decision: str


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def new_decision_id(now: datetime | None = None) -> str:
    """A 26-character ULID: millisecond time then 80 random bits in Crockford base32, so ids sort by creation time."""
    millis = (now - _EPOCH) // timedelta(milliseconds=1) if now is not None else time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


DEFAULT_RETENTION = timedelta(days=365)

# Appends only to a decision that exists, atomically, restarts its retention and logs the version in the channel's
# activity log with the verdict and next step it replaces; returns the new length (the version's number) or 0.
# KEYS: decision, versions, activity log, rules hash. ARGV: version JSON, retention in milliseconds, the version's
# log row without its number (a JSON object), the version's time in epoch seconds.
# A Lua function both version-appending scripts share: the row of version `number` in a channel's activity log, with
# the verdict and next step of the version it replaces (`previous`, its JSON, or false for the first); and the rule
# set that decided the version, as the decision's entry in the channel's rules hash (see `DecisionStore.stale`).
LOG_VERSION_LUA = """
local function log_version(log_key, rules_key, number, previous, row, at, retention_ms)
  local before = ''
  if previous then
    local old = cjson.decode(previous)
    before = '"pv":' .. cjson.encode(old.verdict) .. ',"ps":' .. cjson.encode(old.next_step) .. ','
  end
  redis.call('ZADD', log_key, at, '{"n":' .. number .. ',' .. before .. string.sub(row, 2))
  local fields = cjson.decode(row)
  redis.call('HSET', rules_key, fields.d, fields.h)
  redis.call('PEXPIRE', rules_key, retention_ms)
end
"""
# Creates a decision unless one with its id exists; returns 1, or 0 when it exists. One script rather than a WATCHed
# transaction: one round trip, and on a Redis Cluster a single command, which the client's per-node breaker covers.
# KEYS: decision, versions, the channel's index, activity log, rules hash. ARGV: meta JSON, delivery JSON, the first
# version's log row, version JSON, retention in milliseconds, created_at in epoch seconds, the decision id, the
# horizon of index entries to drop (an exclusive score: entries from before the retention period), the rule set's
# sha256 prefix.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'meta', ARGV[1], 'delivery', ARGV[2], 'row', ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7])
-- A channel without a log has no decisions that the rules hash could lack: it is complete from the start.
if redis.call('EXISTS', KEYS[4]) == 0 then redis.call('HSET', KEYS[5], '~', '1') end
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[3])
redis.call('HSET', KEYS[5], ARGV[7], ARGV[9])
redis.call('PEXPIRE', KEYS[5], ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[8])
return 1
"""
# Loads decisions as one JSON array, each element shaped like `Decision` (or null where the decision expired), so that
# pydantic parses the lot in one call. KEYS: decision, versions, decision, versions, ... (one channel: one slot).
_LOAD = """
local out = {}
for i = 1, #KEYS, 2 do
  local fields = redis.call('HMGET', KEYS[i], 'meta', 'delivery')
  local versions = redis.call('LRANGE', KEYS[i + 1], 0, -1)
  if fields[1] and fields[2] and #versions > 0 then
    for n = 1, #versions do versions[n] = '{"number":' .. n .. ',' .. string.sub(versions[n], 2) end
    out[#out + 1] = string.sub(fields[1], 1, -2) .. ',"delivery":' .. fields[2] .. ',"versions":[' ..
      table.concat(versions, ',') .. ']}'
  else
    out[#out + 1] = 'null'
  end
end
return '[' .. table.concat(out, ',') .. ']'
"""
# The rules hash's field saying that every decision of the channel has its entry (see `DecisionStore.stale`); no
# decision id has this form. The log is read this many rows at a time to fill it, each read overlapping the last.
_RULES_COMPLETE = "~"
_INDEX_CHUNK = 5000
_INDEX_OVERLAP = 500
# How many decisions one load script reads: Redis serves nothing else while a script runs, so long ranges are cut up.
_LOAD_BATCH = 500

# Records a decision's delivery only if the decision exists; returns 1 or 0. A posted verdict's place is also written
# into the first version's row of the activity log (replacing the row), so the digest links to it without a lookup.
# KEYS: decision, activity log. ARGV: delivery JSON, the verdict's channel and ts ("" when not posted).
_RECORD_DELIVERY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'delivery', ARGV[1])
if ARGV[2] == '' then return 1 end
local fields = redis.call('HMGET', KEYS[1], 'row', 'logged')
local base, current = fields[1], fields[2] or fields[1]
if not base then return 1 end
local score = redis.call('ZSCORE', KEYS[2], current)
if not score then return 1 end
local posted = string.sub(base, 1, -2) .. ',"c":' .. cjson.encode(ARGV[2]) .. ',"ts":' .. cjson.encode(ARGV[3]) .. '}'
redis.call('ZREM', KEYS[2], current)
redis.call('ZADD', KEYS[2], score, posted)
redis.call('HSET', KEYS[1], 'logged', posted)
return 1
"""


@raises_store_errors
class DecisionStore:
    """Decisions, their versions and where their verdicts were posted, kept in Redis.

    A decision expires `retention` after its last version was written; the index entries and thread references
    it leaves behind are dropped when next met.
    """

    def __init__(
        self, redis: RedisClient, *, prefix: str = "should-finetune", retention: timedelta = DEFAULT_RETENTION
    ) -> None:
        client = check_client(redis)  # the parameter shadows the module in this method
        if retention < timedelta(seconds=1):
            raise ValueError("retention must be at least one second")
        self._redis = client
        self._prefix = check_prefix(prefix)
        self.retention = retention
        self._create = client.register_script(_CREATE)
        self._record_delivery = client.register_script(_RECORD_DELIVERY)
        self._load_script = client.register_script(_LOAD)
        self.people = People(client, prefix=prefix, retention=retention)

    # Keys

    def _channel_key(self, workspace: str, channel: str) -> str:
        return channel_key(self._prefix, workspace, channel)

    def _rules_key(self, workspace: str, channel: str) -> str:
        return f"{self._channel_key(workspace, channel)}:rules"

    def _decision_key(self, workspace: str, channel: str, decision_id: str) -> str:
        return f"{self._channel_key(workspace, channel)}:decision:{check_id('decision', decision_id)}"

    # Verbs

    def create_decision(
        self,
        *,
        workspace: str,
        channel: str,
        requester: str,
        version: NewVersion,
        decision_id: str | None = None,
        now: datetime | None = None,
        source: str | None = None,
    ) -> Decision:
        """Store a new decision with its first version; its delivery starts PENDING. `source` links to the message
        it was asked about, if any."""
        created_at = check_aware("now", now) if now is not None else datetime.now(UTC)
        decision_id = decision_id if decision_id is not None else new_decision_id(created_at)
        key = self._decision_key(workspace, channel, decision_id)
        first = _stamp(version, number=1, at=created_at)
        meta = _Meta(
            id=decision_id,
            workspace=workspace,
            channel=channel,
            requester=requester,
            created_at=created_at,
            source=source,
        )
        delivery = Delivery(status=DeliveryStatus.PENDING)
        # The channel set is in another Cluster slot, so it is written first and outside the script: a listed channel
        # with no decision is harmless, a decision in an unlisted channel would be missed by the digest.
        with batch(self._redis) as pipe:  # with the requester's index (their slot too): one round trip
            pipe.sadd(f"{self._prefix}:channels", f"{workspace}:{channel}")
            self.people.add(
                pipe, workspace=workspace, user=requester, channel=channel, decision_id=decision_id, at=created_at
            )
            pipe.execute()
        index_key = f"{self._channel_key(workspace, channel)}:decisions"
        activity_key = f"{self._channel_key(workspace, channel)}:activity"
        first_row = (
            '{"n":1,'
            + version_row(
                decision=decision_id,
                version=version.model_dump(mode="json"),
                requester=requester,
                at=created_at.timestamp(),
            )[1:]
        )

        # Index entries from before the retention period: the decisions they point at expire on their own.
        horizon = f"({(created_at - self.retention).timestamp()!r}"
        created = self._create(
            keys=[key, f"{key}:versions", index_key, activity_key, self._rules_key(workspace, channel)],
            args=[
                meta.model_dump_json(exclude_none=True),
                delivery.model_dump_json(),
                first_row,
                _version_json(first),
                int(self.retention / timedelta(milliseconds=1)),
                repr(created_at.timestamp()),
                decision_id,
                horizon,
                version.ruleset_sha256[:RULESET_CHARS],
            ],
        )
        if not created:
            raise DecisionExists(f"decision {decision_id} already exists in {workspace}:{channel}")
        return Decision(**meta.model_dump(), delivery=delivery, versions=[first])

    def record_delivery(self, *, workspace: str, channel: str, decision_id: str, delivery: Delivery) -> None:
        """Store where the verdict was posted (or why not); a POSTED delivery also indexes its thread."""
        key = self._decision_key(workspace, channel, decision_id)
        thread_key = None
        if delivery.status is DeliveryStatus.POSTED:
            if not delivery.channel or not delivery.ts:
                raise ValueError("a POSTED delivery needs the channel and ts of the verdict message")
            thread_key = f"{self._channel_key(workspace, delivery.channel)}:threads"
            check_ts(delivery.ts)
        posted = [delivery.channel or "", delivery.ts or ""] if thread_key is not None else ["", ""]
        activity = f"{self._channel_key(workspace, channel)}:activity"
        if not self._record_delivery(keys=[key, activity], args=[delivery.model_dump_json(), *posted]):
            raise DecisionNotFound(f"no decision {decision_id} in {workspace}:{channel}")
        if thread_key is not None and delivery.ts is not None:
            # A DM's thread index is in the DM's slot, apart from the decision: written second, and idempotent, so a
            # caller that sees an error here simply records the delivery again.
            ref = _ThreadRef(channel=channel, decision=decision_id)
            self._redis.hset(thread_key, delivery.ts, ref.model_dump_json())

    def decision(self, *, workspace: str, channel: str, decision_id: str) -> Decision | None:
        """The decision with that id in that channel, or None."""
        # The load script reads the hash and the list atomically in one command: on a Redis Cluster a MULTI pipeline
        # would go around the client's per-node breaker.
        [found] = self._load(workspace, channel, [decision_id])
        return found

    def record_explanation(
        self, *, workspace: str, channel: str, decision_id: str, delivery: Delivery, ts: str
    ) -> None:
        """Remember the bot's explanation in the verdict's thread (at `ts`), so a reaction on it finds the decision."""
        if delivery.status is not DeliveryStatus.POSTED or not delivery.channel:
            raise ValueError("an explanation is only posted in the thread of a POSTED verdict")
        ref = _ThreadRef(channel=channel, decision=check_id("decision", decision_id))
        key = f"{self._channel_key(workspace, delivery.channel)}:explanations"
        self._redis.hset(key, check_ts(ts), ref.model_dump_json())

    def decision_for_message(self, *, workspace: str, channel: str, ts: str) -> Decision | None:
        """The decision whose verdict message, or whose explanation in the verdict's thread, is at `ts`, or None."""
        key = self._channel_key(workspace, channel)
        with batch(self._redis) as pipe:
            pipe.hget(f"{key}:threads", check_ts(ts))
            pipe.hget(f"{key}:explanations", ts)
            verdict_ref, explanation_ref = pipe.execute()
        raw = verdict_ref or explanation_ref
        if raw is None:
            return None
        ref = _ThreadRef.model_validate_json(raw)
        found = self.decision(workspace=workspace, channel=ref.channel, decision_id=ref.decision)
        if found is None:  # expired: the message is an ordinary one again
            self._redis.hdel(f"{key}:threads" if verdict_ref else f"{key}:explanations", ts)
        return found

    def recent_decisions(self, *, workspace: str, channel: str, limit: int) -> list[Decision]:
        """The channel's newest `limit` decisions, newest first."""
        ids = self._redis.zrevrange(f"{self._channel_key(workspace, channel)}:decisions", 0, max(0, limit - 1))
        return [d for d in self._load(workspace, channel, [str(i) for i in ids]) if d is not None]

    def remember_ruleset(self, sha256: str, snapshot: str) -> None:
        """Keep the snapshot of a rule set (see `bot.engine.rulediff`) for comparing it with later ones."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("expected a sha256 in hex")
        self._redis.hsetnx(f"{self._prefix}:rulesets", sha256, snapshot)

    def ruleset_snapshot(self, sha256: str) -> str | None:
        """The snapshot kept for a rule set, or None when it was never seen (or its hash is malformed)."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            return None
        raw = self._redis.hget(f"{self._prefix}:rulesets", sha256)
        return str(raw) if raw is not None else None

    def decision_for_thread(self, *, workspace: str, channel: str, thread_ts: str) -> Decision | None:
        """The decision whose verdict message starts that thread in that channel (maybe a DM), or None."""
        thread_key = f"{self._channel_key(workspace, channel)}:threads"
        raw = self._redis.hget(thread_key, check_ts(thread_ts))
        if raw is None:
            return None
        ref = _ThreadRef.model_validate_json(raw)
        found = self.decision(workspace=workspace, channel=ref.channel, decision_id=ref.decision)
        if found is None:  # the decision outlived its retention: its thread is an ordinary thread again
            self._redis.hdel(thread_key, thread_ts)
        return found

    def decisions_between(self, *, workspace: str, channel: str, start: datetime, end: datetime) -> list[Decision]:
        """Decisions created in [start, end) in one channel, oldest first: start inclusive, end exclusive."""
        low = check_aware("start", start).timestamp()
        high = check_aware("end", end).timestamp()
        ids = self._redis.zrangebyscore(f"{self._channel_key(workspace, channel)}:decisions", low, f"({high!r}")
        return [d for d in self._load(workspace, channel, [str(i) for i in ids]) if d is not None]

    def activity_between(self, *, workspace: str, channel: str, start: datetime, end: datetime) -> list[VersionRow]:
        """The channel's activity log in [start, end), oldest first: the versions written then."""
        low = check_aware("start", start).timestamp()
        high = f"({check_aware('end', end).timestamp()!r}"
        key = f"{self._channel_key(workspace, channel)}:activity"
        return parse_rows(cast(list[str], self._redis.zrangebyscore(key, low, high)))

    def stale(self, *, workspace: str, channel: str, ruleset_sha256: str) -> list[Decision]:
        """The channel's kept decisions whose latest version was decided under a rule set other than `ruleset_sha256`,
        oldest first: one read of the channel's rules hash, then only those decisions are loaded."""
        key = self._rules_key(workspace, channel)
        current = ruleset_sha256[:RULESET_CHARS]
        entries = cast(dict[str, str], self._redis.hgetall(key))
        if _RULES_COMPLETE not in entries:
            entries = self._index_rules(workspace, channel)
        ids = sorted(decision for decision, sha in entries.items() if sha != current and decision != _RULES_COMPLETE)
        loaded = self._load(workspace, channel, ids)
        expired = [decision for decision, found in zip(ids, loaded, strict=True) if found is None]
        if expired:  # past their retention: their entries go too
            self._redis.hdel(key, *expired)
        return [found for found in loaded if found is not None]

    def _index_rules(self, workspace: str, channel: str) -> dict[str, str]:
        """Fill the channel's rules hash from its activity log, for decisions written before the hash was kept, and
        mark it complete. An entry written meanwhile is newer than the log's and stays (HSETNX)."""
        channel_prefix = self._channel_key(workspace, channel)
        latest: dict[str, tuple[int, str]] = {}
        start = 0
        while True:
            members = cast(list[str], self._redis.zrange(f"{channel_prefix}:activity", start, start + _INDEX_CHUNK - 1))
            for row in parse_rows(members):
                if row.decision not in latest or row.number > latest[row.decision][0]:
                    latest[row.decision] = (row.number, row.ruleset_sha256)
            if len(members) < _INDEX_CHUNK:
                break
            # Overlapping reads: the log's oldest rows may be trimmed meanwhile, moving the others down.
            start += _INDEX_CHUNK - _INDEX_OVERLAP
        key = self._rules_key(workspace, channel)
        with batch(self._redis) as pipe:
            for decision, (_, sha) in latest.items():
                pipe.hsetnx(key, decision, sha)
            pipe.hset(key, _RULES_COMPLETE, "1")
            pipe.pexpire(key, self.retention)
            pipe.hgetall(key)
            return cast(dict[str, str], pipe.execute()[-1])

    def decisions(self, *, workspace: str, channel: str, decision_ids: list[str]) -> list[Decision]:
        """These decisions, those still kept, in the order given."""
        return [d for d in self._load(workspace, channel, decision_ids) if d is not None]

    def deliveries(self, *, workspace: str, channel: str, decision_ids: list[str]) -> dict[str, Delivery]:
        """The deliveries of these decisions (those still kept), in one round trip."""
        with batch(self._redis) as pipe:
            for decision_id in decision_ids:
                pipe.hget(self._decision_key(workspace, channel, decision_id), "delivery")
            replies = pipe.execute()
        return {
            decision_id: Delivery.model_validate_json(raw)
            for decision_id, raw in zip(decision_ids, replies, strict=True)
            if raw is not None
        }

    def count_created(self, *, workspace: str, channel: str, periods: list[tuple[datetime, datetime]]) -> list[int]:
        """How many decisions were created in each [start, end) of `periods`, in one round trip (as the channel's
        index says: a deleted decision counts until the index drops it, past the retention)."""
        key = f"{self._channel_key(workspace, channel)}:decisions"
        with batch(self._redis) as pipe:
            for start, end in periods:
                pipe.zcount(key, check_aware("start", start).timestamp(), f"({check_aware('end', end).timestamp()!r}")
            return [int(count) for count in pipe.execute()]

    def add_channel(self, *, workspace: str, channel: str) -> None:
        """List a channel among those with decisions (the digest's round), before it has any."""
        check_id("workspace", workspace)
        check_id("channel", channel)
        self._redis.sadd(f"{self._prefix}:channels", f"{workspace}:{channel}")

    def _load(self, workspace: str, channel: str, ids: list[str]) -> list[Decision | None]:
        """Decisions by id, a few hundred per round trip, parsed by pydantic in one call each; None for each that
        expired."""
        found: list[Decision | None] = []
        channel_prefix = f"{self._channel_key(workspace, channel)}:decision:"
        for first in range(0, len(ids), _LOAD_BATCH):
            keys = []
            for decision_id in ids[first : first + _LOAD_BATCH]:
                key = f"{channel_prefix}{check_id('decision', decision_id)}"
                keys += [key, f"{key}:versions"]
            found += _DECISIONS.validate_json(self._load_script(keys=keys))
        return found

    def channels_with_decisions(self) -> list[tuple[str, str]]:
        """Every (workspace, channel) that has at least one decision, sorted."""
        members = self._redis.smembers(f"{self._prefix}:channels")
        pairs = (str(member).split(":", 1) for member in members)
        return sorted((workspace, channel) for workspace, channel in pairs)

    def ping(self) -> bool:
        """Whether Redis answers; False instead of an exception when it does not."""
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def unwritable(self) -> str:
        """Why the bot cannot write now, or "" when it can: the node it talks to is a primary (ROLE) and takes a
        write (it refuses one while `min-replicas-to-write` is unmet, read-only or out of memory, and through
        Sentinel while a failover leaves the write unconfirmed). Never raises."""
        try:
            if not isinstance(self._redis, redis.RedisCluster):
                role = self._redis.execute_command("ROLE")  # type: ignore[no-untyped-call]
                if role and str(role[0]) != "master":
                    kind = "replica" if str(role[0]) == "slave" else str(role[0])
                    return f"the Redis node is a {kind}, not the primary"
            self._redis.set(f"{self._prefix}:ready", "1", px=10_000)
        except redis.RedisError as exc:
            return f"{type(exc).__name__}: {exc}"
        return ""


def _stamp(version: NewVersion, *, number: int, at: datetime) -> Version:
    fields = {name: getattr(version, name) for name in NewVersion.model_fields}
    return Version(**fields, number=number, at=at)


def _version_json(version: Version) -> str:
    # The number is the list position, known only once pushed, so it is not stored.
    return version.model_dump_json(exclude={"number"})
