"""The client of the primary a Redis Sentinel names, made to follow a switchover without losing a write.

redis-py asks the sentinels for the primary only when it opens a connection, and drops a pooled connection only
when its server answers READONLY. After a planned switchover (`SENTINEL FAILOVER`) the old primary keeps taking
writes until the sentinels demote it, about ten seconds later, and its resync then throws them away. Two things
close that:

- **The watch** asks every sentinel, five times a second, which node is the primary and whether a failover is under
  way. When the primary changes, the pool asks again and drops its connections, so writes follow within about
  0.2 s.
- **Confirmed writes.** While the primary has replicas, every write is followed, on its connection and in the same
  round trip, by `WAIT <replicas> <ms>`: a write every replica has is kept by whichever of them the sentinels
  promote (one replica is not enough: with two, the one that is not promoted is resynced from the one that is). A
  write fewer replicas confirm counts only if every sentinel that answers (a majority at least) still names this
  primary and runs no failover; otherwise it fails as `UnconfirmedWrite`, so the caller says it was not saved
  rather than believe it was. The replica being promoted had the primary's stream up to its promotion, so nothing
  confirmed is lost; what is written to the old primary after that is refused.

A primary without replicas (its replica crashed, or it is the survivor of a crash) is written to without waiting,
once the sentinels agree it is the primary: there is no copy to wait for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import redis
from redis.client import Pipeline
from redis.connection import Connection
from redis.sentinel import Sentinel, SentinelConnectionPool

log = logging.getLogger(__name__)

WATCH_INTERVAL = 0.2
"""Seconds between two rounds of asking the sentinels."""
WAIT_MS = 100
"""How long a write waits for a replica to confirm it."""

# Commands that never change data: no WAIT after them. Anything else (scripts included) is a write.
_READS = """
GET MGET STRLEN GETRANGE EXISTS TYPE TTL PTTL EXPIRETIME PEXPIRETIME HGET HMGET HGETALL HLEN HEXISTS HKEYS HVALS HSCAN
SMEMBERS SISMEMBER SMISMEMBER SCARD SSCAN LRANGE LLEN LINDEX ZRANGE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZSCORE
ZMSCORE ZCARD ZCOUNT ZRANK ZREVRANK ZSCAN XRANGE XREVRANGE XLEN SCAN KEYS DBSIZE PING ECHO INFO ROLE TIME WAIT SCRIPT
CLIENT CONFIG MEMORY OBJECT EVALSHA_RO EVAL_RO SELECT
"""
READS = frozenset(_READS.split())


class UnconfirmedWrite(redis.ConnectionError):
    """A write no replica confirmed while the primary it went to may be being replaced: it may be lost."""


def is_write(command: object) -> bool:
    """Whether a command (its name, first word of the call) may change data."""
    name = command.decode() if isinstance(command, bytes) else str(command)
    return name.split(" ", 1)[0].upper() not in READS


class PrimaryWatch:
    """Asks the sentinels which node is the primary, keeps `pool` on it, and knows whether writes need a replica's
    confirmation."""

    def __init__(
        self,
        manager: Sentinel,
        service: str,
        pool: SentinelConnectionPool,
        *,
        password: str | None = None,
        username: str | None = None,
        timeout: float = 0.4,
        interval: float = WATCH_INTERVAL,
    ) -> None:
        self.manager = manager
        self.service = service
        self.pool = pool
        self.interval = interval
        # How many replicas must confirm a write: all those the primary has. It falls only while the sentinels are
        # settled; a replica leaving during a failover is the one being promoted, and must still have every write.
        self.replicas = 1
        self._password, self._username = password, username
        self._timeout = timeout
        self._primary: tuple[str, int] | None = None
        self._primary_client: redis.Redis | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"sentinel-watch-{self.service}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        if self._primary_client is not None:
            self._primary_client.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # the watch must outlive anything one round meets
                log.exception("watching the sentinels of %s failed", self.service)

    # One round

    def views(self) -> list[tuple[tuple[str, int], bool]]:
        """What each sentinel that answers says: the primary's address, and whether it runs a failover."""
        found = []
        for sentinel in self.manager.sentinels:
            try:
                state = sentinel.execute_command("SENTINEL MASTER", self.service)  # type: ignore[no-untyped-call]
            except redis.RedisError:
                continue
            if isinstance(state, dict) and state.get("ip") and state.get("port"):
                flags = state.get("flags")
                text = ",".join(sorted(flags)) if isinstance(flags, set) else str(flags or "")
                found.append(((str(state["ip"]), int(state["port"])), "failover_in_progress" in text))
        return found

    def settled(self, primary: tuple[str, int] | None, views: Sequence[tuple[tuple[str, int], bool]]) -> bool:
        """A majority of the sentinels answered, and every one that did names `primary` and runs no failover."""
        majority = len(self.manager.sentinels) // 2 + 1
        return len(views) >= majority and all(address == primary and not busy for address, busy in views)

    def check(self) -> None:
        """Follow a new primary; learn whether the primary has replicas to confirm writes."""
        views = self.views()
        named = [address for address, _ in views]
        if named:
            primary = max(set(named), key=named.count)
            if primary != self.pool.master_address:
                # Asks the sentinels again and drops the idle connections to the old primary; a connection in use
                # is dropped when it comes back to the pool (SentinelConnectionPool.owns_connection).
                try:
                    self.pool.get_master_address()  # type: ignore[no-untyped-call]
                except redis.RedisError:  # the sentinels disagree or went away meanwhile: next round
                    return
                if self._primary is not None and self.pool.master_address != self._primary:
                    log.warning("Redis primary of %s is now %s:%s", self.service, *primary)
            self._follow(primary)
        replicas = self._replicas()
        if replicas is not None and (replicas >= self.replicas or self.settled(self._primary, views)):
            self.replicas = replicas

    def _follow(self, primary: tuple[str, int]) -> None:
        if primary == self._primary:
            return
        if self._primary_client is not None:
            self._primary_client.close()
        self._primary = primary
        self._primary_client = redis.Redis(
            host=primary[0],
            port=primary[1],
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            decode_responses=True,
            password=self._password,
            username=self._username,
        )

    def _replicas(self) -> int | None:
        if self._primary_client is None:
            return None
        try:
            return int(self._primary_client.info("replication").get("connected_slaves", 0))
        except redis.RedisError:
            return None

    def connection(self) -> Connection:
        """A connection of the pool to the primary as the watch last saw it: one still open to a primary the watch
        has since left is reconnected (which asks the sentinels again) before it is written to."""
        connection = self.pool.get_connection()
        if self._primary is not None and (connection.host, connection.port) != self._primary:
            connection.disconnect()  # type: ignore[no-untyped-call]
            connection.connect()  # type: ignore[no-untyped-call]
        return connection

    def unconfirmed(self, written_to: tuple[str, int], confirmed: int) -> None:
        """A write to `written_to` fewer replicas confirmed than it has (`confirmed`): keep it if the sentinels agree
        that node is the primary and nothing is changing (a replica is slow or gone), expecting that many from now
        on; else UnconfirmedWrite."""
        if not self.settled(written_to, self.views()):
            raise UnconfirmedWrite(
                f"{confirmed} of {self.replicas} replicas confirmed the write, and the sentinels are replacing the "
                "primary"
            )
        self.replicas = confirmed


class ConfirmingPipeline(Pipeline):
    """A pipeline whose writes, when the primary has replicas, end with `WAIT` for all of them, on the same
    connection."""

    primary_watch: PrimaryWatch
    confirms = False  # a transaction (MULTI/EXEC) cannot end with WAIT; the store uses none

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        if not (self.confirms and not self.explicit_transaction and any(is_write(a[0]) for a, _ in self.command_stack)):
            return super().execute(raise_on_error)
        watch = self.primary_watch
        if self.connection is None:
            self.connection = watch.connection()  # released by execute's reset, as one it took itself
        written_to = (self.connection.host, self.connection.port)
        needed = watch.replicas
        if needed == 0:
            return super().execute(raise_on_error)
        self.execute_command("WAIT", needed, WAIT_MS)  # type: ignore[no-untyped-call]
        replies = super().execute(raise_on_error)
        confirmed = int(replies[-1])
        if confirmed < needed:
            watch.unconfirmed(written_to, confirmed)
        return replies[:-1]


class SentinelPrimary(redis.Redis):
    """The client of the primary a Sentinel names: it follows a switchover and confirms its writes (see the
    module). Closing it stops the watch and closes the connections to the sentinels."""

    primary_watch: PrimaryWatch

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        pipe = ConfirmingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.primary_watch = self.primary_watch
        pipe.confirms = not transaction
        return pipe

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if not (args and is_write(args[0])):
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        with self.pipeline(transaction=False) as pipe:
            pipe.execute_command(*args, **options)  # type: ignore[no-untyped-call]
            return pipe.execute()[0]

    def close(self) -> None:
        """Stop the watch; close the client's connections and its sentinels'."""
        self.primary_watch.stop()
        super().close()
        pool = self.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            pool.sentinel_manager.close()
