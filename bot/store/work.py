"""The work queue's storage: claims that make each piece of background work (a verdict's post, a question, a
re-review, an edit, an answered question) happen once across retries, duplicate events and replicas.

A job is done in two steps. First, one atomic script records everything its answer changes in Redis (a thread's
conversation, a new decision version) together with the messages to send, the "outbox", on the job's claim. Then
the messages are sent and the claim marked done. A worker that dies between the steps leaves a claim whose lease
runs out; whoever takes it over next (a redelivery of the event, or the sweeper of any replica) finds the outbox
and only sends it, so nothing is computed or written twice.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.store.activity import version_row
from bot.store.base import (
    RedisClient,
    StoreError,
    channel_key,
    check_aware,
    check_client,
    check_id,
    check_prefix,
    check_ts,
    raises_store_errors,
)
from bot.store.decisions import (
    DEFAULT_RETENTION,
    LOG_VERSION_LUA,
    DecisionNotFound,
    NewVersion,
    Version,
    _stamp,
    _version_json,
)
from bot.store.threads import DEFAULT_CONVERSATION_TTL, Conversation, conversation_key

__all__ = [
    "DEFAULT_CLAIM_TTL",
    "DEFAULT_LEASE",
    "Claim",
    "ClaimLost",
    "ClaimStatus",
    "ThreadChanged",
    "WorkQueue",
    "WorkRef",
]

# Long enough to outlast Slack's last redelivery (about 5 minutes after the first) and a few leases, with a margin.
DEFAULT_CLAIM_TTL = timedelta(hours=1)
# How long a worker may hold a claim before another may take it over: far above an answer's usual 10 ms, and above
# a 429's Retry-After, so a slow but healthy worker is not doubled.
DEFAULT_LEASE = timedelta(seconds=60)


class ClaimStatus(StrEnum):
    """What a claim attempt found."""

    NEW = "new"  # first sight of this work: do it
    RETAKEN = "retaken"  # an earlier holder's lease ran out before it finished: do it (or send its outbox)
    BUSY = "busy"  # someone holds it now
    DONE = "done"  # finished already
    MISSING = "missing"  # nothing to take over (only when taking over, never when claiming)
    NOT_A_VERDICT_THREAD = "not-a-verdict-thread"  # asked to claim only in a verdict's thread, and it is not one


@dataclass(frozen=True, slots=True)
class WorkRef:
    """Where a piece of claimed work lives: the workspace and channel of its thread, and its key there."""

    workspace: str
    channel: str
    key: str


@dataclass(frozen=True, slots=True)
class Claim:
    """The result of a claim. With NEW or RETAKEN, `token` proves the claim is held; `outbox` is a reply that was
    recorded but maybe not sent, with the decision version it created, if any."""

    status: ClaimStatus
    ref: WorkRef
    token: str = ""
    attempts: int = 0
    payload: dict[str, Any] | None = None
    outbox: dict[str, Any] | None = None
    version: int | None = None

    @property
    def held(self) -> bool:
        """Whether this caller now holds the work."""
        return self.status in {ClaimStatus.NEW, ClaimStatus.RETAKEN}


class ClaimLost(StoreError):
    """The claim's lease ran out and another worker took the work over; this worker must drop it."""


class ThreadChanged(StoreError):
    """The conversation, or the decision's versions, changed since they were read: read again and recompute."""


_WORK_KEY = re.compile(r"[A-Za-z0-9._:-]{1,100}")

# KEYS: claim, the channel's verdict threads (hash). ARGV: token, lease ms, claim TTL ms, event id, payload JSON
# ("" = take over only, never create), thread ts ("" = anywhere; else the thread must start at a verdict).
# Returns {status, attempts, lease deadline ms, payload, outbox, version}. The server's clock decides leases, so
# replicas with different clocks agree.
_CLAIM = """
if ARGV[6] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[6]) == 0 then return {'not-a-verdict-thread'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[2])
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  if ARGV[5] == '' then return {'missing'} end
  redis.call('HSET', KEYS[1], 'state', 'claimed', 'token', ARGV[1], 'attempts', 1, 'lease', deadline,
             'payload', ARGV[5], 'events', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'new', 1, deadline, ARGV[5], false, false}
end
if ARGV[4] ~= '' then
  local events = redis.call('HGET', KEYS[1], 'events') or ''
  if not string.find(',' .. events .. ',', ',' .. ARGV[4] .. ',', 1, true) and #events < 400 then
    redis.call('HSET', KEYS[1], 'events', events .. ',' .. ARGV[4])
  end
end
if state == 'done' then return {'done'} end
if tonumber(redis.call('HGET', KEYS[1], 'lease')) > now then return {'busy'} end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'lease', deadline)
local rest = redis.call('HMGET', KEYS[1], 'payload', 'outbox', 'version')
return {'retaken', attempts, deadline, rest[1], rest[2], rest[3]}
"""

# KEYS: claim. ARGV: token, lease ms. Moves the lease deadline on while the claim is this worker's and not done;
# returns the new deadline (ms), or 0.
_EXTEND = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') == 'done' then
  return 0
end
local t = redis.call('TIME')
local deadline = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'lease', deadline)
return deadline
"""

# KEYS: claim, conversation, decision, versions, the channel's activity log and rules hash. ARGV: token, expected
# conversation revision, conversation JSON, conversation TTL ms, outbox JSON, expected number of versions, version
# JSON ("" = none), retention ms, the version's log row without its number, the version's time in epoch seconds.
# Returns {'ok', version number or 0}, {'lost'}, {'conflict'} or {'gone'}.
_RECORD = (
    LOG_VERSION_LUA
    + """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= 'claimed' then
  return {'lost'}
end
local revision = tonumber(redis.call('HGET', KEYS[2], 'revision') or '0')
if revision ~= tonumber(ARGV[2]) then return {'conflict'} end
local number = 0
if ARGV[7] ~= '' then
  if redis.call('EXISTS', KEYS[3]) == 0 then return {'gone'} end
  if redis.call('LLEN', KEYS[4]) ~= tonumber(ARGV[6]) then return {'conflict'} end
  local previous = redis.call('LINDEX', KEYS[4], -1)
  number = redis.call('RPUSH', KEYS[4], ARGV[7])
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
  redis.call('PEXPIRE', KEYS[4], ARGV[8])
  log_version(KEYS[5], KEYS[6], number, previous, ARGV[9], ARGV[10], ARGV[8])
end
redis.call('HSET', KEYS[2], 'data', ARGV[3], 'revision', revision + 1)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[1], 'state', 'answered', 'outbox', ARGV[5], 'version', number)
return {'ok', number}
"""
)

# KEYS: claim. ARGV: token. Marks the work done, keeping only what recognises a late redelivery; 0 if the claim was
# lost. The hash is written anew rather than trimmed: once a long payload made Redis switch it to its large
# encoding it stays there, about three times the size of a fresh small hash.
_FINISH = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
local kept = redis.call('HMGET', KEYS[1], 'attempts', 'events')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'state', 'done', 'attempts', kept[1] or 1, 'events', kept[2] or '')
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""


@raises_store_errors
class WorkQueue:
    """Claims on background work: claim, record, finish, extend, and the overdue ones for the sweeper.

    Keys, in the work's channel slot: `{prefix}:{T:C}:work:<key>` (hash: the claim), and one `{prefix}:work:pending`
    sorted set of claims not yet done, scored by lease deadline (ms), which the sweeper reads.
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        prefix: str = "should-finetune",
        conversation_ttl: timedelta = DEFAULT_CONVERSATION_TTL,
        retention: timedelta = DEFAULT_RETENTION,
        claim_ttl: timedelta = DEFAULT_CLAIM_TTL,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        client = check_client(redis)
        if min(conversation_ttl, retention, claim_ttl, lease) < timedelta(milliseconds=1):
            raise ValueError("every duration must be at least a millisecond")
        if claim_ttl <= lease:
            raise ValueError("a claim must outlive its lease")
        self._redis = client
        self._prefix = check_prefix(prefix)
        self.conversation_ttl = conversation_ttl
        self.retention = retention
        self.claim_ttl = claim_ttl
        self.lease = lease
        self._claim = client.register_script(_CLAIM)
        self._record = client.register_script(_RECORD)
        self._finish = client.register_script(_FINISH)
        self._extend = client.register_script(_EXTEND)

    def _work_key(self, ref: WorkRef) -> str:
        if not isinstance(ref.key, str) or not _WORK_KEY.fullmatch(ref.key):
            raise ValueError(f"invalid work key {ref.key!r}")
        return f"{channel_key(self._prefix, ref.workspace, ref.channel)}:work:{ref.key}"

    @property
    def _pending_key(self) -> str:
        return f"{self._prefix}:work:pending"

    @staticmethod
    def _member(ref: WorkRef) -> str:
        return f"{ref.workspace}:{ref.channel}:{ref.key}"

    def claim(
        self, ref: WorkRef, *, event_id: str, payload: dict[str, Any], verdict_thread: str | None = None
    ) -> Claim:
        """Claim `ref` for this worker, atomically, before any side effect; `payload` is what a worker taking it
        over later needs to do the work. Returns who has it: this worker (NEW, RETAKEN) or not (BUSY, DONE).

        With `verdict_thread`, only if the thread starting at that ts in `ref`'s channel is a verdict's (the
        decision store's record of it), in the same round trip; else NOT_A_VERDICT_THREAD and nothing written."""
        payload_json = json.dumps(payload, separators=(",", ":"))
        return self._take(ref, event_id=event_id, payload=payload_json, thread=verdict_thread)

    def take_over(self, ref: WorkRef) -> Claim:
        """Take over work whose lease ran out (for the sweeper); never creates a claim."""
        return self._take(ref, event_id="", payload="", thread=None)

    def _take(self, ref: WorkRef, *, event_id: str, payload: str, thread: str | None) -> Claim:
        key = self._work_key(ref)
        threads = f"{channel_key(self._prefix, ref.workspace, ref.channel)}:threads"  # see DecisionStore
        token = secrets.token_hex(8)
        only_in = "" if thread is None else check_ts(thread)
        args: list[str | int] = [token, _ms(self.lease), _ms(self.claim_ttl), event_id, payload, only_in]
        reply = self._claim(keys=[key, threads], args=args)
        status = ClaimStatus(reply[0])
        if status not in {ClaimStatus.NEW, ClaimStatus.RETAKEN}:
            if status in {ClaimStatus.DONE, ClaimStatus.MISSING}:
                self._redis.zrem(self._pending_key, self._member(ref))
            return Claim(status, ref)
        # Outside the script: the pending set is in another Cluster slot. A worker that dies before this line has
        # not answered Slack yet either, so Slack redelivers the event and the redelivery takes the claim over.
        self._redis.zadd(self._pending_key, {self._member(ref): int(reply[2])})
        return Claim(
            status,
            ref,
            token=token,
            attempts=int(reply[1]),
            payload=json.loads(reply[3]) if reply[3] else None,
            outbox=json.loads(reply[4]) if len(reply) > 4 and reply[4] else None,
            version=int(reply[5]) if len(reply) > 5 and reply[5] and reply[5] != "0" else None,
        )

    def record(
        self,
        claim: Claim,
        *,
        thread_ts: str,
        conversation: Conversation,
        outbox: dict[str, Any],
        decision_id: str,
        version: NewVersion | None = None,
        versions_seen: int = 0,
        now: datetime | None = None,
    ) -> Version | None:
        """Record an answer atomically: the thread's new conversation state, the reply to send, and `version` as a
        new version of the decision (which must be in the thread's channel), made at `now` (the present by
        default). Raises `ThreadChanged` when the
        conversation or the versions changed since read (`conversation.revision`, `versions_seen`), `ClaimLost`
        when the claim is no longer held, `DecisionNotFound` when the decision is gone."""
        ref = claim.ref
        decision_key = f"{channel_key(self._prefix, ref.workspace, ref.channel)}:decision:"
        decision_key += check_id("decision", decision_id)
        stamped, row, at = None, "", check_aware("now", now) if now is not None else datetime.now(UTC)
        if version is not None:
            stamped = _stamp(version, number=versions_seen + 1, at=at)
            row = version_row(
                decision=decision_id, version=version.model_dump(mode="json"), requester=None, at=at.timestamp()
            )
        reply = self._record(
            keys=[
                self._work_key(ref),
                conversation_key(self._prefix, ref.workspace, ref.channel, thread_ts),
                decision_key,
                f"{decision_key}:versions",
                f"{channel_key(self._prefix, ref.workspace, ref.channel)}:activity",
                f"{channel_key(self._prefix, ref.workspace, ref.channel)}:rules",
            ],
            args=[
                claim.token,
                conversation.revision,
                conversation.model_dump_json(),
                _ms(self.conversation_ttl),
                json.dumps(outbox, separators=(",", ":")),
                versions_seen,
                _version_json(stamped) if stamped is not None else "",
                _ms(self.retention),
                row,
                repr(at.timestamp()),
            ],
        )
        outcome = reply[0]
        if outcome == "lost":
            raise ClaimLost(f"the claim on {ref.key} in {ref.channel} was taken over")
        if outcome == "conflict":
            raise ThreadChanged(f"thread {thread_ts} in {ref.channel} changed meanwhile")
        if outcome == "gone":
            raise DecisionNotFound(f"no decision {decision_id} in {ref.workspace}:{ref.channel}")
        return stamped

    def finish(self, claim: Claim) -> bool:
        """Mark claimed work done; False if the claim had been taken over (the other worker finishes it)."""
        done = bool(self._finish(keys=[self._work_key(claim.ref)], args=[claim.token]))
        if done:
            self._redis.zrem(self._pending_key, self._member(claim.ref))
        return done

    def extend(self, claim: Claim) -> bool:
        """Renew the claim's lease for another `lease` from now; False if it is no longer this worker's."""
        deadline = int(self._extend(keys=[self._work_key(claim.ref)], args=[claim.token, _ms(self.lease)]))
        if not deadline:
            return False
        # Outside the script: the pending set is in another Cluster slot (see `_take`).
        self._redis.zadd(self._pending_key, {self._member(claim.ref): deadline}, xx=True)
        return True

    def overdue(self, *, limit: int = 100) -> list[WorkRef]:
        """Claimed work whose lease ran out before it was finished, oldest first, for the sweeper to take over."""
        seconds, micros = self._redis.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        members = self._redis.zrangebyscore(self._pending_key, "-inf", now_ms, start=0, num=limit)
        refs = []
        for member in members:
            workspace, channel, key = str(member).split(":", 2)
            refs.append(WorkRef(workspace, channel, key))
        return refs


def _ms(duration: timedelta) -> int:
    return max(1, int(duration / timedelta(milliseconds=1)))
