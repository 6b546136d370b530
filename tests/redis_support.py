"""Pytest fixtures for tests that need a real Redis: REDIS_URL when set, else the bot's own embedded server; and
`own_redis`, a server of the test's own that can be stopped, killed, frozen and started again.

`redis_url` and `redis_mode` say which Redis the `redis_client`, `key_prefix` and `store` fixtures use: the standalone
one. A test module that overrides both runs each of its tests twice, on the standalone Redis (`[standalone]`) and on
`redis_cluster`, a real Redis Cluster of three masters (`[cluster]`) started once per session when first needed:

    @pytest.fixture(scope="module", params=REDIS_MODES)
    def redis_mode(request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture(scope="module")
    def redis_url(redis_mode: str, request: pytest.FixtureRequest) -> str:
        return redis_url_of(request, redis_mode)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.embedded_redis import EmbeddedRedis, find_redis_server
from bot.store import DecisionStore, RedisClient, connect_redis
from tests.redis_cluster import LocalCluster

REDIS_MODES = ("standalone", "cluster")
"""The kinds of Redis the store contract tests run on."""


@pytest.fixture(scope="session")
def standalone_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL if set; otherwise an embedded server in a session temporary directory, stopped at the end."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(scope="session")
def redis_url(standalone_redis_url: str) -> str:
    """The Redis tests use: the standalone one (a module may override this and `redis_mode`)."""
    return standalone_redis_url


@pytest.fixture(scope="session")
def redis_mode() -> str:
    """How `redis_url` is reached, as `SHOULD_FINETUNE_REDIS_MODE` says it: standalone."""
    return "standalone"


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A Redis Cluster of three masters on loopback ports, from `redis-server` binaries, for the whole session."""
    cluster = LocalCluster(tmp_path_factory.mktemp("redis-cluster"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def redis_url_of(request: pytest.FixtureRequest, mode: str) -> str:
    """The URL of the Redis of `mode`: the standalone one, or the session's cluster (one node, which finds the rest)."""
    if mode == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        return cluster.url
    return str(request.getfixturevalue("standalone_redis_url"))


def undecoded_client(url: str, mode: str) -> RedisClient:
    """A client of the kind `mode` names, made without decode_responses (which the stores refuse)."""
    return redis.RedisCluster.from_url(url) if mode == "cluster" else redis.Redis.from_url(url)


@pytest.fixture
def key_prefix(redis_client: RedisClient) -> Iterator[str]:
    """A key prefix of this test's own; at teardown only keys under it are deleted (never FLUSHDB)."""
    prefix = f"sf-test-{uuid.uuid4().hex}"
    yield prefix
    delete_keys(redis_client, prefix)


def delete_keys(client: RedisClient, prefix: str) -> None:
    """Delete every key that starts with `prefix` (on a cluster, on every node)."""
    with client.pipeline(transaction=False) as pipe:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            pipe.delete(key)  # one key per DEL, so this also works when keys are in different cluster slots
        pipe.execute()


@pytest.fixture
def redis_client(redis_url: str, redis_mode: str) -> Iterator[RedisClient]:
    """The bot's own kind of client for `redis_mode`, with timeouts generous enough for a busy test machine."""
    client = connect_redis(redis_url, mode=redis_mode, socket_timeout=5.0)
    yield client
    client.close()


@pytest.fixture
def store(redis_client: RedisClient, key_prefix: str) -> DecisionStore:
    """A DecisionStore whose keys all start with this test's prefix."""
    return DecisionStore(redis_client, prefix=key_prefix)


class OwnRedis:
    """A redis-server of the test's own on a fixed loopback port, with an append-only file: it can be stopped,
    killed, frozen and started again at the same URL, as an external Redis would be."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False

    def start(self) -> None:
        """Start the server and return once it accepts connections (it may still be loading its append-only file)."""
        args = [find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir)]
        args += ["--appendonly", "yes", "--save", ""]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server cleanly: SIGTERM, so Redis flushes its append-only file and exits."""
        if self.process is not None:
            self.thaw()
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash or the OOM killer would: no chance to flush or say goodbye."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None
            self.frozen = False

    def freeze(self) -> None:
        """Stop the server with SIGSTOP: connections stay open and nothing answers, like a hung server."""
        assert self.process is not None, "the server is not running"
        os.kill(self.process.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        """Let a frozen server go on (SIGCONT)."""
        if self.process is not None and self.frozen:
            os.kill(self.process.pid, signal.SIGCONT)
            self.frozen = False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A Redis server of this test's own, so that it can be stopped, killed, frozen and started."""
    server = OwnRedis(tmp_path / "redis")
    server.start()
    yield server
    if server.process is not None:
        # A test may have frozen it with os.kill directly; SIGCONT to a running process is harmless.
        os.kill(server.process.pid, signal.SIGCONT)
        server.frozen = False
    server.stop()
