"""The Redis Cluster client: redis-py's, with the ack path's circuit breaker applied per node and to the cluster.

redis-py 8.1 gives every node connection a retry policy of its own (no retries) and refuses one passed for them;
the cluster client retries a failed command itself, refreshing its map of slots to nodes in between, as many times
as its own `retry` says (10 unless told), and on CLUSTERDOWN it also sleeps 0.25 s before each try. Left like that,
a node that hangs costs each command eleven socket timeouts (measured: 23 s for a request of five commands with
0.4 s timeouts; 6 s with two retries), and a cluster that is down 3 s per command. So, per command:

- the cluster's own retries are `retries` (2): enough to follow a failover or a moved slot;
- each node has a `Breaker`: a timeout on it makes commands to that node fail at once for `cool_off` seconds, so a
  request waits for a hung node about one socket timeout, while channels on the other nodes go on working;
- the cluster has one more: when the cluster says it is down (CLUSTERDOWN), or no node can be reached to learn its
  layout, every command fails at once for `cool_off` seconds;
- errors that mean "Redis is unavailable" are `redis.ConnectionError`s (redis-py raises some of them as
  `RedisClusterException`, which is not a `RedisError`: from 8.2 on, a command that gives up after a refresh of the
  layout reached no node raises `RedisClusterUnreachableError`, outside `_execute_command`), so callers handle them
  as they handle a standalone Redis that is down, and `on_error` is told of each one a caller sees.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode
from redis.exceptions import ClusterDownError, ClusterError, RedisClusterException, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from bot.store.breaker import DEFAULT_COOL_OFF, Breaker, RedisUnavailable

__all__ = ["BreakerCluster", "ClusterUnavailable"]

_TIMEOUTS = (RedisTimeoutError, socket.timeout)
# redis-py 8.2's error for a cluster whose layout no node would give (earlier versions have no such class).
_UNREACHABLE: tuple[type[Exception], ...] = tuple(
    error for error in [getattr(redis.exceptions, "RedisClusterUnreachableError", None)] if error is not None
)


class ClusterUnavailable(RedisConnectionError):
    """No node of the cluster could be reached to learn which node serves a slot, or no node serves it."""


class BreakerCluster(redis.RedisCluster):
    """`redis.RedisCluster` for the ack path: few retries, and a circuit breaker per node and for the cluster."""

    def __init__(
        self,
        url: str,
        *,
        retries: int = 2,
        cool_off: float = DEFAULT_COOL_OFF,
        on_error: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> None:
        # Set before the parent's __init__, which already sends a command (COMMAND, to learn where keys are).
        self._cool_off = cool_off
        self._on_error = on_error
        self._breakers: dict[str, Breaker] = {}
        self._breakers_lock = threading.Lock()
        self._whole = Breaker(retries=0, cool_off=cool_off)
        self._attempt = threading.local()  # the error that opened a breaker during this thread's command
        try:
            # Only the count of this policy is used for commands: the retries happen after a refresh of the layout.
            super().__init__(url=url, retry=Retry(NoBackoff(), retries), **kwargs)
        except RedisClusterException as error:  # no node answered, or the node is not in cluster mode
            raise ClusterUnavailable(str(error)) from error

    def node_breaker(self, name: str) -> Breaker:
        """The breaker of the node `host:port` (made on first use)."""
        with self._breakers_lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                breaker = self._breakers[name] = Breaker(retries=0, cool_off=self._cool_off)
            return breaker

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """Run one command on the cluster; Redis being unavailable is always a `redis.ConnectionError`."""
        self._attempt.cause = None
        try:
            return super().execute_command(*args, **kwargs)  # type: ignore[no-untyped-call]
        except SlotNotCoveredError as error:
            unavailable = ClusterUnavailable(str(error))
            self._report(unavailable)
            raise unavailable from error
        except _UNREACHABLE as error:
            self._whole.trip()
            unavailable = ClusterUnavailable(f"no node of the Redis Cluster answers: {error}")
            self._report(unavailable)
            raise unavailable from error
        except (RedisConnectionError, RedisTimeoutError, ClusterError) as error:
            cause = self._attempt.cause
            if isinstance(error, RedisUnavailable) and cause is not None:
                # redis-py tried again after a timeout or CLUSTERDOWN, which had just opened a breaker: that first
                # error is what the caller should hear of, as from a standalone Redis.
                self._report(cause)
                raise cause from None
            self._report(error)
            raise

    def _execute_command(self, target_node: ClusterNode, *args: Any, **kwargs: Any) -> Any:
        # Called by redis-py once per attempt of a command, with the node the slot's map names.
        breaker = self.node_breaker(target_node.name)
        if self._whole.is_open:
            raise RedisUnavailable("the Redis Cluster failed moments ago; not trying again yet")
        if breaker.is_open:
            raise RedisUnavailable(f"Redis node {target_node.name} failed moments ago; not trying again yet")
        try:
            return super()._execute_command(target_node, *args, **kwargs)  # type: ignore[no-untyped-call]
        except _TIMEOUTS as error:
            breaker.trip()
            self._attempt.cause = error
            raise
        except ClusterDownError as error:
            self._whole.trip()
            self._attempt.cause = error
            raise
        except RedisClusterException as error:
            # After a failure redis-py refreshes the map of slots; when no node answers that, its error replaces the
            # failure's.
            if isinstance(error.__context__, _TIMEOUTS):
                breaker.trip()
            self._whole.trip()
            raise ClusterUnavailable(f"no node of the Redis Cluster answers: {error}") from error

    def _report(self, error: Exception) -> None:
        if self._on_error is not None:
            self._on_error(type(error).__name__)
