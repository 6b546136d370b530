"""What every store module shares: id and timestamp checks, the UTC datetime type, errors and the connection."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeAlias, TypeVar, cast

import redis
from pydantic import AfterValidator, AwareDatetime
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.retry import Retry
from redis.sentinel import Sentinel

from bot.store.breaker import DEFAULT_COOL_OFF, Breaker
from bot.store.cluster import BreakerCluster
from bot.store.sentinel import PrimaryWatch, SentinelPrimary

RedisClient: TypeAlias = redis.Redis | redis.RedisCluster
"""What the stores work with: a client of one Redis (standalone, or the master a Sentinel names) or of a Cluster."""

RedisMode: TypeAlias = Literal["standalone", "cluster", "sentinel"]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, normalised to UTC; naive datetimes are rejected."""


class StoreError(Exception):
    """A store operation could not be done as asked."""


class StoreUnavailable(StoreError):
    """Redis did not answer as it should (down, hung, refused, failing fast after such a failure, or an error of its
    own): the operation may or may not have happened. Callers outside the store catch this, never redis' errors.
    `kind` names redis' error (`ConnectionError`, `TimeoutError`, `RedisUnavailable`, ...), for logs."""

    def __init__(self, message: str, *, kind: str = "StoreUnavailable", reason: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason or message  # redis' own message, for a person fixing the settings


_C = TypeVar("_C", bound=type)


def raises_store_errors(cls: _C) -> _C:
    """The class, with every public method raising `StoreUnavailable` where Redis failed (redis' own exceptions
    never leave the store). Methods that return generators are wrapped while they are iterated."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        setattr(cls, name, _translated(member))
    return cls


def _translated(function: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def iterate(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from function(*args, **kwargs)
            except redis.RedisError as exc:
                raise unavailable(exc) from exc

        return iterate

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except redis.RedisError as exc:
            raise unavailable(exc) from exc

    return call


def unavailable(exc: BaseException) -> StoreUnavailable:
    """The store's error for a Redis failure, named after redis' own (`ConnectionError`, `RedisUnavailable`, ...)."""
    return StoreUnavailable(f"{type(exc).__name__}: {exc}", kind=type(exc).__name__, reason=str(exc))


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


def check_client(client: RedisClient) -> RedisClient:
    """`client`, if it decodes replies to str; else ValueError."""
    if not client.get_connection_kwargs().get("decode_responses"):
        raise ValueError("the store needs a client made with decode_responses=True (see connect_redis)")
    return client


def channel_key(prefix: str, workspace: str, channel: str) -> str:
    """The start of every key of one channel: its hash tag puts them all in one Redis Cluster slot."""
    return f"{prefix}:{{{check_id('workspace', workspace)}:{check_id('channel', channel)}}}"


def batch(client: RedisClient) -> Any:
    """Something to queue commands on and `execute()` them, used as a non-transactional pipeline: on one Redis, a
    pipeline (one round trip). On a Redis Cluster the commands are sent one by one instead, each through the client's
    per-node breaker: redis-py's cluster pipeline goes around it and, after a timeout, sends every unanswered command
    again on its own, each waiting out the timeout once more."""
    if isinstance(client, redis.RedisCluster):
        return _OneByOne(client)
    return client.pipeline(transaction=False)


class _OneByOne:
    """Takes a pipeline's place on a Redis Cluster: each command is sent when queued; `execute` returns the replies."""

    def __init__(self, client: redis.RedisCluster) -> None:
        self._client = client
        self._replies: list[Any] = []

    def __getattr__(self, name: str) -> Callable[..., _OneByOne]:
        command = getattr(self._client, name)

        def send(*args: Any, **kwargs: Any) -> _OneByOne:
            self._replies.append(command(*args, **kwargs))
            return self

        return send

    def execute(self) -> list[Any]:
        """The replies of the commands sent since the last call."""
        replies, self._replies = self._replies, []
        return replies

    def __enter__(self) -> _OneByOne:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._replies = []


def connect_redis(
    url: str | None,
    *,
    mode: RedisMode = "standalone",
    sentinels: Sequence[tuple[str, int]] = (),
    sentinel_service: str = "mymaster",
    socket_timeout: float = 0.4,
    retries: int = 2,
    cool_off: float = DEFAULT_COOL_OFF,
    on_error: Callable[[str], None] | None = None,
) -> RedisClient:
    """A client made for the ack path: short timeouts, few retries, and a circuit breaker, so that a request waits at
    most about one `socket_timeout` for a Redis (or a cluster node) that is down or hung. `on_error` is told the class
    name of each Redis error a caller sees.

    - standalone: `url` is a `redis://`, `rediss://` or `unix://` URL;
    - cluster: `url` names any one node (`redis://[:password@]host:port/0`); the others are found from it;
    - sentinel: `sentinels` are asked for the master of `sentinel_service`, again after a failover; `url`, if given,
      only brings the master's password and database (`redis://:password@/0`).
    """
    common: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "health_check_interval": 30,
        "decode_responses": True,
    }
    if mode == "cluster":
        if url is None:
            raise ValueError("a cluster client needs the URL of one node")
        return BreakerCluster(url, retries=retries, cool_off=cool_off, on_error=on_error, **common)
    breaker = Breaker(retries=retries, cool_off=cool_off, on_error=on_error)
    if mode == "sentinel":
        if not sentinels:
            raise ValueError("a sentinel client needs the address of at least one sentinel")
        # redis-py types Sentinel from 8.2 on; before that these calls are untyped (hence both codes).
        options: dict[str, Any] = parse_url(url) if url else {}  # type: ignore[no-untyped-call, unused-ignore]
        manager = Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
            list(sentinels),
            # Asking the sentinels happens inside a command's connect, under its breaker: no retries of its own, so a
            # sentinel that is gone costs one short timeout before the next one is asked.
            sentinel_kwargs={
                "socket_timeout": socket_timeout,
                "socket_connect_timeout": socket_timeout,
                "retry": Retry(NoBackoff(), 0),
            },
        )
        master = manager.master_for(  # type: ignore[no-untyped-call, unused-ignore]
            sentinel_service,
            redis_class=SentinelPrimary,
            username=options.get("username"),
            password=options.get("password"),
            db=options.get("db", 0),
            retry=breaker,
            **common,
        )
        master.primary_watch = PrimaryWatch(
            manager,
            sentinel_service,
            master.connection_pool,
            password=options.get("password"),
            username=options.get("username"),
            timeout=socket_timeout,
        )
        master.primary_watch.start()
        return cast(SentinelPrimary, master)
    if url is None:
        raise ValueError("a standalone client needs a URL")
    return redis.Redis.from_url(url, retry=breaker, **common)


def open_redis_client(
    url: str | None,
    *,
    mode: RedisMode,
    sentinels: Sequence[tuple[str, int]] = (),
    sentinel_service: str = "mymaster",
    on_error: Callable[[str], None] | None = None,
) -> RedisClient:
    """`connect_redis`, once Redis answers a PING; `StoreUnavailable` (closed again) when it does not."""
    client = None
    try:
        client = connect_redis(
            url, mode=mode, sentinels=sentinels, sentinel_service=sentinel_service, on_error=on_error
        )
        client.ping()
    except redis.RedisError as exc:
        if client is not None:
            client.close()
        raise unavailable(exc) from None
    return client


def is_cluster_node(client: RedisClient) -> bool:
    """Whether the server says it is a node of a Redis Cluster (a standalone client would meet MOVED errors there)."""
    try:
        info = client.info("cluster")
    except redis.ResponseError:  # INFO renamed or forbidden: nothing to learn
        return False
    except redis.RedisError as exc:
        raise unavailable(exc) from None
    return bool(isinstance(info, dict) and info.get("cluster_enabled"))
