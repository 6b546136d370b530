"""A circuit breaker for the Redis client, so that a dead or hung Redis costs a request one short wait, not many.

Slack gives every request 3 seconds. Each Redis command already has a short socket timeout, but a request makes
several commands and redis-py retries each one, so while Redis hangs the waits add up (seen: 4.7 s for one
follow-up). The breaker is the client's retry policy, with two states besides healthy:

- after a timeout (Redis hangs, or its host does not answer), every command fails at once for `cool_off`
  seconds; the first command after that tries Redis again;
- after a command's retries all ended in a refused or reset connection (Redis is down but its host answers,
  which costs a millisecond), commands are tried once each, without retries, until one succeeds.

So a request waits for a missing Redis about one socket timeout at most, and the bot is back within `cool_off`
of Redis answering again (at once, when Redis had simply stopped).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

T = TypeVar("T")

DEFAULT_COOL_OFF = 1.0


class RedisUnavailable(RedisConnectionError):
    """Redis failed moments ago; the command was not sent (see `Breaker`)."""


class Breaker(Retry):
    """redis-py's `Retry`, plus a shared open/closed state: after a failure for want of Redis, fail fast.

    `on_error` is told the class name of every such error a caller sees (`RedisUnavailable` for fast failures).
    redis-py copies its retry object into every connection; the copies share this one's state, because the
    state is what the breaker is for.
    """

    def __init__(
        self,
        *,
        retries: int = 2,
        cool_off: float = DEFAULT_COOL_OFF,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries)
        if cool_off < 0:
            raise ValueError("cool_off must not be negative")
        self.cool_off = cool_off
        self.on_error = on_error
        self._open_until = 0.0
        self._failing = False  # the last command found Redis down: try each command once, without retries
        self._depth = threading.local()  # commands call the retry policy again to connect: count each error once

    def __deepcopy__(self, memo: dict[int, Any]) -> Breaker:
        return self

    @property
    def is_open(self) -> bool:
        """Whether commands fail at once now."""
        return time.monotonic() < self._open_until

    def trip(self) -> None:
        """Fail fast from now for `cool_off` seconds."""
        self._open_until = time.monotonic() + self.cool_off
        self._failing = True

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        """Run `do`, retrying connection errors with a short backoff; fail fast while the breaker is open."""
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        try:
            return self._call(do, fail, is_retryable, with_failure_count)
        except self._supported_errors as error:
            if depth == 0 and self.on_error is not None:
                self.on_error(type(error).__name__)
            raise
        finally:
            self._depth.value = depth

    def _call(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None,
        with_failure_count: bool,
    ) -> T:
        failures = 0
        retries = 0 if self._failing else self._retries
        while True:
            if self.is_open:
                raise RedisUnavailable("Redis failed moments ago; not trying again yet")
            try:
                result = do()
            except self._supported_errors as error:
                if isinstance(error, RedisUnavailable) or (is_retryable is not None and not is_retryable(error)):
                    raise
                failures += 1
                if with_failure_count:
                    fail(error, failures)
                else:
                    fail(error)
                # A timeout means Redis hangs: waiting for it again would spend the request's time for nothing.
                if isinstance(error, RedisTimeoutError | socket.timeout):
                    self.trip()
                    raise
                if failures > retries:
                    self._failing = True
                    raise
                time.sleep(self._backoff.compute(failures))
            else:
                self._failing = False
                return result
