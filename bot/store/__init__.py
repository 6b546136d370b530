"""Where decisions and conversations live: the only package that knows Redis.

Key layout (all under a configurable prefix; one channel's keys share a hash tag, hence a Redis Cluster slot):

    {prefix}:{T123:C456}:decision:<id>            hash: `meta` and `delivery`, each a JSON object
    {prefix}:{T123:C456}:decision:<id>:versions   list of JSON objects, oldest first; a version's number is its position
    {prefix}:{T123:C456}:decisions                sorted set of decision ids, score = created_at in epoch seconds
    {prefix}:{T123:C456}:activity                 sorted set of small JSON rows, one per version and per posted verdict,
                                                  score = its time (the digest's read model, `bot.store.activity`)
    {prefix}:{T123:C456}:rules                    hash: decision id -> the first 16 hex digits of the sha256 of the rule
                                                  set that decided its latest version; "~" once every decision has one
    {prefix}:{T123:C456}:threads                  hash: verdict message ts -> {"channel": origin, "decision": id}
    {prefix}:{T123:C456}:explanations             hash: the explanation's ts in a verdict thread -> the same
    {prefix}:{T123:C456}:cooldown:<name>          string: who holds a cooldown (one person re-reviewing one decision)
    {prefix}:{T123:C456}:conversation:<ts>        hash: a verdict thread's conversation (`data` JSON, `revision`)
    {prefix}:{T123:C456}:work:<key>               hash: the claim on one event's work (see `bot.store.work`)
    {prefix}:{T123:C456}:digest                   hash: whether the channel's digest is off, who said so, when; `until`:
                                                  the end of the last period its scheduled digests covered (epoch ms)
    {prefix}:{T123:C456}:settings                 hash: the channel's own digest schedule and reviewers, who set them
                                                  and when (`bot.store.channels`); absent fields: the defaults
    {prefix}:{T123:C456}:digest:<week>            string: the marker of a sent digest (`bot.store.digests`); with
                                                  `:lock` (who is sending it) and `:progress` (how far they got)
    {prefix}:channels                             set of "T123:C456" that have at least one decision
    {prefix}:work:pending                         sorted set of claims not yet done, by lease deadline
    {prefix}:rulesets                             hash: rule-set sha256 -> its snapshot (`bot.engine.rulediff`)
    {prefix}:person:{T123:U789}:decisions         sorted set of "C456:<id>" a person asked for, by created_at, for
                                                  their Home tab (`bot.store.people`)
    {prefix}:person:{T123:U789}:home              string: set for 30 days when the person opens their Home tab

On a Redis Cluster every script and every atomic step touches the keys of one channel only (one hash tag, one
slot); the keys outside a channel (`channels`, `work:pending`, `rulesets`, `person:…`) are written by single
commands of their own, in an order that makes a step cut short between them harmless.

Every value is JSON and every timestamp a UTC ISO-8601 string. Decisions expire after their retention,
conversations after their idle time, claims an hour after
they were made, cooldowns when they run out.
"""

from bot.store.base import RedisClient, RedisMode, StoreError, StoreUnavailable, connect_redis
from bot.store.decisions import (
    DEFAULT_RETENTION,
    Decision,
    DecisionExists,
    DecisionNotFound,
    DecisionStore,
    Delivery,
    DeliveryStatus,
    NewVersion,
    Trigger,
    Version,
    new_decision_id,
)
from bot.store.threads import DEFAULT_CONVERSATION_TTL, MAX_TURNS, Conversation, ThreadStore, Turn
from bot.store.work import (
    DEFAULT_CLAIM_TTL,
    DEFAULT_LEASE,
    Claim,
    ClaimLost,
    ClaimStatus,
    ThreadChanged,
    WorkQueue,
    WorkRef,
)

__all__ = [
    "DEFAULT_CLAIM_TTL",
    "DEFAULT_CONVERSATION_TTL",
    "DEFAULT_LEASE",
    "DEFAULT_RETENTION",
    "MAX_TURNS",
    "Claim",
    "ClaimLost",
    "ClaimStatus",
    "Conversation",
    "Decision",
    "DecisionExists",
    "DecisionNotFound",
    "DecisionStore",
    "Delivery",
    "DeliveryStatus",
    "NewVersion",
    "RedisClient",
    "RedisMode",
    "StoreError",
    "StoreUnavailable",
    "ThreadChanged",
    "ThreadStore",
    "Trigger",
    "Turn",
    "Version",
    "WorkQueue",
    "WorkRef",
    "connect_redis",
    "new_decision_id",
]
