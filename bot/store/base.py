"""What every store module shares: id and timestamp checks, the UTC datetime type, errors and the connection."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

import redis
from pydantic import AfterValidator, AwareDatetime
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, normalised to UTC; naive datetimes are rejected."""


class StoreError(Exception):
    """A store operation could not be done as asked."""


SLACK_ID = re.compile(r"[A-Z0-9]{1,64}")
SLACK_TS = re.compile(r"[0-9]{1,16}\.[0-9]{1,16}")
PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


def check_id(kind: str, value: str) -> str:
    """`value`, if it is a Slack-style id (team, channel, user, decision); else ValueError."""
    if not isinstance(value, str) or not SLACK_ID.fullmatch(value):
        raise ValueError(f"invalid {kind} id {value!r}: expected 1-64 characters of A-Z and 0-9")
    return value


def check_ts(value: str) -> str:
    """`value`, if it is a message ts; else ValueError."""
    if not isinstance(value, str) or not SLACK_TS.fullmatch(value):
        raise ValueError(f"invalid message ts {value!r}: expected digits, a dot and digits")
    return value


def check_aware(name: str, value: datetime) -> datetime:
    """`value` in UTC; ValueError if it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def check_prefix(value: str) -> str:
    """`value`, if it can start Redis keys; else ValueError."""
    if not PREFIX.fullmatch(value):
        raise ValueError(f"invalid key prefix {value!r}: expected 1-100 characters of A-Z a-z 0-9 _ . : -")
    return value


def check_client(client: redis.Redis) -> redis.Redis:
    """`client`, if it decodes replies to str; else ValueError."""
    if not client.get_connection_kwargs().get("decode_responses"):
        raise ValueError("the store needs a client made with decode_responses=True (see connect_redis)")
    return client


def channel_key(prefix: str, workspace: str, channel: str) -> str:
    """The start of every key of one channel: its hash tag puts them all in one Redis Cluster slot."""
    return f"{prefix}:{{{check_id('workspace', workspace)}:{check_id('channel', channel)}}}"


def connect_redis(url: str, *, socket_timeout: float = 0.5, retries: int = 2) -> redis.Redis:
    """A client for `redis://`, `rediss://` or `unix://` URLs with short timeouts and few retries, for the ack path."""
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries),
        health_check_interval=30,
        decode_responses=True,
    )
