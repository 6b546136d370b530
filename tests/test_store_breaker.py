"""The Redis client's circuit breaker, against a real redis-server that is frozen, killed and started again.

The bounds asserted are the requirements themselves: a request gets its answer to Slack within 1 s while Redis is
down or hung, and the bot is back within 2 s of Redis answering again.
"""

from __future__ import annotations

import time

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from bot.store import connect_redis
from bot.store.breaker import Breaker, RedisUnavailable
from tests.redis_support import OwnRedis

# A request on the ack path makes a handful of Redis calls; five is more than any of them makes.
CALLS_PER_REQUEST = 5


def client_for(server: OwnRedis, errors: list[str]) -> redis.Redis:
    """The bot's own kind of client, reporting each error it raises into `errors`."""
    return connect_redis(server.url, on_error=errors.append)


def request(client: redis.Redis) -> tuple[float, list[str]]:
    """What one request does to Redis: several calls, each failing or not; (seconds taken, error names)."""
    started = time.monotonic()
    failures = []
    for n in range(CALLS_PER_REQUEST):
        try:
            client.set(f"breaker-test:{n}", "x", ex=60)
        except RedisError as exc:
            failures.append(type(exc).__name__)
    return time.monotonic() - started, failures


def test_a_hung_redis_costs_a_request_one_socket_timeout_not_one_per_call(own_redis: OwnRedis) -> None:
    errors: list[str] = []
    client = client_for(own_redis, errors)
    client.ping()
    own_redis.freeze()
    try:
        elapsed, failures = request(client)
    finally:
        own_redis.thaw()
    assert elapsed < 1.0, f"a request waited {elapsed:.2f} s for a hung Redis"
    assert failures == ["TimeoutError"] + ["RedisUnavailable"] * (CALLS_PER_REQUEST - 1)
    assert errors == failures  # each error reported once, although connecting retries inside a command


def test_a_dead_redis_fails_fast_and_is_used_again_as_soon_as_it_is_back(own_redis: OwnRedis) -> None:
    errors: list[str] = []
    client = client_for(own_redis, errors)
    client.set("breaker-test:kept", "before")
    own_redis.stop()
    elapsed, failures = request(client)
    assert elapsed < 1.0
    assert failures == ["ConnectionError"] * CALLS_PER_REQUEST
    own_redis.start()
    # Redis refused connections outright: no cool-off, so the next call after it is back succeeds.
    assert client.get("breaker-test:kept") == "before"


def test_after_a_hang_the_client_is_back_within_two_seconds_of_redis(own_redis: OwnRedis) -> None:
    client = client_for(own_redis, [])
    client.ping()
    own_redis.freeze()
    try:
        request(client)
    finally:
        own_redis.thaw()
    thawed = time.monotonic()
    while True:
        try:
            client.ping()
            break
        except RedisUnavailable:
            assert time.monotonic() - thawed < 2.0, "still failing fast 2 s after Redis answered again"
            time.sleep(0.01)
    assert time.monotonic() - thawed < 2.0


def test_a_connection_redis_closed_is_retried_without_tripping_the_breaker(own_redis: OwnRedis) -> None:
    errors: list[str] = []
    client = client_for(own_redis, errors)
    own_id = client.client_id()
    admin = connect_redis(own_redis.url)
    admin.client_kill_filter(_id=own_id)  # what a Redis restart or an idle timeout does to pooled connections
    assert client.set("breaker-test:after-kill", "1")
    assert errors == []
    retry = client.get_retry()
    assert isinstance(retry, Breaker)
    assert not retry.is_open


def test_every_connection_shares_the_breaker(own_redis: OwnRedis) -> None:
    """redis-py copies the retry policy into each pooled connection; the copies must share the open state."""
    client = client_for(own_redis, [])
    retry = client.get_retry()
    assert isinstance(retry, Breaker)
    pool = client.connection_pool
    connections = [pool.get_connection() for _ in range(3)]
    try:
        assert all(connection.retry is retry for connection in connections)
    finally:
        for connection in connections:
            pool.release(connection)
    retry.trip()
    with pytest.raises(RedisUnavailable):
        client.ping()
    assert isinstance(RedisUnavailable("x"), RedisConnectionError)  # callers that handle RedisError handle it
