"""Pytest fixtures for tests that need a real Redis: REDIS_URL when set, else the bot's own embedded server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from bot.embedded_redis import EmbeddedRedis
from bot.store import DecisionStore, connect_redis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL if set; otherwise an embedded server in a session temporary directory, stopped at the end."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own; at teardown only keys under it are deleted (never FLUSHDB)."""
    prefix = f"sf-test-{uuid.uuid4().hex}"
    yield prefix
    with redis_client.pipeline(transaction=False) as pipe:
        for key in redis_client.scan_iter(match=f"{prefix}*", count=1000):
            pipe.delete(key)  # one key per DEL, so this also works when keys are in different cluster slots
        pipe.execute()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client with decoded responses and timeouts generous enough for a busy test machine."""
    client = connect_redis(redis_url, socket_timeout=5.0)
    yield client
    client.close()


@pytest.fixture
def store(redis_client: redis.Redis, key_prefix: str) -> DecisionStore:
    """A DecisionStore whose keys all start with this test's prefix."""
    return DecisionStore(redis_client, prefix=key_prefix)
