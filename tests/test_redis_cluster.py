"""The bot on a real Redis Cluster (three masters) and through a real Sentinel, and what stops start-up instead.

The store contract tests run on the cluster too (`tests/test_store.py` and its siblings, `[cluster]`); here: one
full scenario over HTTP with the fake Slack, the client's circuit breaker with a cluster node that hangs or dies, the
store through a Sentinel, and the settings and start-up errors of the cluster and sentinel modes.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot
from redis.exceptions import RedisError

from bot.cli import main
from bot.digest.runner import Result
from bot.runtime import open_redis, open_services
from bot.settings import SettingsError, load_settings
from bot.store import DecisionStore, NewVersion, RedisClient, Trigger, WorkQueue, WorkRef, connect_redis
from tests import fixture_rules
from tests.fakeslack import FakeSlack
from tests.redis_cluster import LocalCluster, LocalSentinel, admin, free_port
from tests.redis_support import OwnRedis, delete_keys
from tests.slack_support import CHANNEL, TEAM, bot_settings, served_bot
from tests.test_digest import summaries, text_of
from tests.test_followups import texts
from tests.test_reviews import OTHER, reaction

# A request on the ack path makes a handful of Redis calls; five is more than any of them makes.
CALLS_PER_REQUEST = 5
# The numbers, as for a standalone Redis (tests/test_store_breaker.py).
REQUEST_BUDGET = 1.0
RECOVERY_BUDGET = 2.0


@pytest.fixture(scope="module")
def redis_mode() -> str:
    """The `redis_client` and `key_prefix` fixtures of this module use the cluster."""
    return "cluster"


@pytest.fixture(scope="module")
def redis_url(redis_cluster: LocalCluster) -> str:
    return redis_cluster.url


@pytest.fixture
def key_prefix(redis_client: RedisClient, redis_cluster: LocalCluster) -> Iterator[str]:
    """A prefix of this test's own whose keys outside a channel (the channel list, the pending work) are on other
    nodes than the decisions channel's keys, so that a step of the bot touches several nodes."""
    channel_node = redis_cluster.node_for_slot(key_slot(f"{TEAM}:{CHANNEL}".encode()))
    while True:
        prefix = f"sf-test-{uuid.uuid4().hex}"
        nodes = {redis_cluster.node_for_slot(key_slot(f"{prefix}:{name}".encode())) for name in ("channels", "work")}
        if channel_node not in nodes:
            break
    yield prefix
    delete_keys(redis_client, prefix)


def keys_by_node(cluster: LocalCluster, prefix: str) -> dict[int, set[str]]:
    """The keys under `prefix` that each node holds, asked of each node directly."""
    found: dict[int, set[str]] = {}
    for n, node in enumerate(cluster.nodes):
        client = admin(node.port)
        try:
            keys = set(client.scan_iter(match=f"{prefix}*", count=1000))
        finally:
            client.close()
        if keys:
            found[n] = keys
    return found


# --- the bot on a cluster --------------------------------------------------------------------------------------------


def test_a_decision_a_follow_up_a_rereview_and_the_digest_on_a_cluster(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str, redis_cluster: LocalCluster
) -> None:
    with served_bot(fake_slack, redis_url, key_prefix, redis_mode="cluster") as bot:
        # A decision through the form: stored, and its verdict posted with the explanation in its thread.
        verdict = bot.decide()
        store = bot.services.store
        decision = store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
        assert decision is not None
        assert [v.trigger for v in decision.versions] == [Trigger.SUBMIT]

        # Follow-ups in the thread: a what-if, then `apply`, which records a version in the answer's script.
        assert bot.ask("what if we had 600 examples", thread_ts=verdict).status == 200
        assert "Stable examples: 30 → *600*" in texts(bot.wait_replies(verdict, 2))[1]
        assert bot.ask("apply", thread_ts=verdict).status == 200
        assert "Recorded as version 2" in texts(bot.wait_replies(verdict, 3))[2]

        # A reaction asks for a re-review: recorded as version 3, said in the thread.
        assert bot.event(reaction(verdict, user=OTHER)).status == 200
        assert f"Re-reviewed by <@{OTHER}>*, recorded as version 3" in texts(bot.wait_replies(verdict, 4))[3]
        decision = store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
        assert decision is not None
        assert [v.trigger for v in decision.versions] == [Trigger.SUBMIT, Trigger.FOLLOW_UP, Trigger.RE_REVIEW]
        assert decision.latest.answers["n_stable_examples"] == 600

        # The channel's weekly digest, for the week that holds all of this: sent once, then marked done.
        week_end = decision.created_at + timedelta(days=7)
        posted = len(summaries(fake_slack, CHANNEL))  # the verdict
        report = bot.services.digest.run_due(week_end)
        assert report.channels[(TEAM, CHANNEL)].result is Result.SENT
        [digest] = summaries(fake_slack, CHANNEL)[posted:]
        assert "*1 decision*" in text_of(digest)
        assert f"p{verdict.replace('.', '')}" in json.dumps(digest.args)  # the link to the verdict
        assert bot.services.digest.run_due(week_end + timedelta(minutes=5)).channels == {}

    # The keys are where the cluster put them: the channel's all on its slot's node, the others elsewhere.
    placed = keys_by_node(redis_cluster, key_prefix)
    channel_node = redis_cluster.nodes.index(redis_cluster.node_for_slot(key_slot(f"{TEAM}:{CHANNEL}".encode())))
    channel_keys = {key for keys in placed.values() for key in keys if f"{{{TEAM}:{CHANNEL}}}" in key}
    assert channel_keys <= placed[channel_node]
    assert f"{key_prefix}:channels" in set().union(*(keys for n, keys in placed.items() if n != channel_node))
    assert len(placed) >= 2


# --- the breaker with a node that hangs or dies ----------------------------------------------------------------------


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of this test's own, whose nodes it may freeze or stop."""
    cluster = LocalCluster(tmp_path / "cluster")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def key_on(cluster: LocalCluster, node: int, name: str) -> str:
    """A key that lives on `cluster.nodes[node]`."""
    for n in range(10_000):
        key = f"breaker-test:{name}:{n}"
        if cluster.node_for_slot(key_slot(key.encode())) is cluster.nodes[node]:
            return key
    raise AssertionError("no key found for the node")


def request(client: RedisClient, key: str) -> tuple[float, list[str]]:
    """What one request does to Redis: several calls, each failing or not; (seconds taken, error names)."""
    started = time.monotonic()
    failures = []
    for _ in range(CALLS_PER_REQUEST):
        try:
            client.get(key)
        except RedisError as exc:
            failures.append(type(exc).__name__)
    return time.monotonic() - started, failures


def test_a_hung_node_costs_a_request_one_socket_timeout_while_the_other_nodes_go_on(own_cluster: LocalCluster) -> None:
    errors: list[str] = []
    client = connect_redis(own_cluster.url, mode="cluster", on_error=errors.append)
    hung, alive = key_on(own_cluster, 1, "hung"), key_on(own_cluster, 2, "alive")
    client.set(hung, "before")
    client.set(alive, "fine")
    own_cluster.nodes[1].freeze()
    try:
        elapsed, failures = request(client, hung)
        assert client.get(alive) == "fine"  # the channels on other nodes keep working meanwhile
    finally:
        own_cluster.nodes[1].thaw()
    thawed = time.monotonic()
    assert elapsed < REQUEST_BUDGET, f"a request waited {elapsed:.2f} s for a hung node"
    assert failures == ["TimeoutError"] + ["RedisUnavailable"] * (CALLS_PER_REQUEST - 1)
    assert errors == failures  # each error reported once

    while True:  # back once the node answers again, within the recovery budget
        try:
            assert client.get(hung) == "before"
            break
        except RedisError:
            assert time.monotonic() - thawed < RECOVERY_BUDGET, "the client did not come back to the node"
            time.sleep(0.05)
    client.close()


@pytest.fixture
def quickly_failing_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of this test's own whose nodes call a silent node failed after two seconds (not fifteen)."""
    cluster = LocalCluster(tmp_path / "cluster", node_timeout_ms=2_000)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_a_dead_node_fails_requests_fast_and_so_does_the_cluster_it_brings_down(
    quickly_failing_cluster: LocalCluster,
) -> None:
    cluster = quickly_failing_cluster
    errors: list[str] = []
    client = connect_redis(cluster.url, mode="cluster", on_error=errors.append)
    dead, alive = key_on(cluster, 0, "dead"), key_on(cluster, 2, "alive")
    client.set(dead, "before")
    client.set(alive, "fine")
    cluster.nodes[0].stop()  # the node the client was first given, too

    # Until the other nodes notice, the dead node's slots fail at once and the others work.
    elapsed, failures = request(client, dead)
    assert elapsed < REQUEST_BUDGET, f"a request waited {elapsed:.2f} s for a dead node"
    assert failures == ["ConnectionError"] * CALLS_PER_REQUEST
    assert errors == failures
    assert client.get(alive) == "fine"

    # Then the cluster, which has no replica to promote, says it is down (CLUSTERDOWN) for every slot; redis-py
    # waits 0.25 s and tries again on each such reply, which the breaker cuts short.
    deadline = time.monotonic() + 30
    while cluster.state(2) != "fail":
        assert time.monotonic() < deadline, "the other nodes never noticed the dead one"
        time.sleep(0.1)
    errors.clear()
    elapsed, failures = request(client, alive)
    assert elapsed < REQUEST_BUDGET, f"a request waited {elapsed:.2f} s for a cluster that is down"
    assert failures == ["ClusterDownError"] + ["RedisUnavailable"] * (CALLS_PER_REQUEST - 1)
    assert errors == failures
    client.close()


# --- through a Sentinel ----------------------------------------------------------------------------------------------


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[LocalSentinel]:
    """A password-protected master and one Sentinel watching it."""
    deployment = LocalSentinel(tmp_path / "sentinel")
    deployment.start()
    try:
        yield deployment
    finally:
        deployment.stop()


def first_version() -> NewVersion:
    return NewVersion(
        answers={"use_case": "Ticket triage", "n_stable_examples": 30},
        verdict="dont-fine-tune",
        next_step="few-shot",
        decided_by="too-few-examples",
        fired=["too-few-examples"],
        ruleset_version=fixture_rules.VERSION,
        ruleset_sha256="ab" * 32,
        by="U0ASKER",
        trigger=Trigger.SUBMIT,
    )


def test_the_stores_work_through_a_sentinel_on_the_masters_database(sentinel: LocalSentinel) -> None:
    settings = load_settings(
        _env_file=None,
        redis_mode="sentinel",
        redis_sentinels=sentinel.sentinel_address,
        redis_url=f"redis://:{sentinel.password}@/2",
    )
    assert settings.redis_url is not None
    client = open_redis(settings, settings.redis_url.get_secret_value())
    try:
        store = DecisionStore(client, prefix="sf-sentinel")
        made = store.create_decision(workspace="T1", channel="C1", requester="U0ASKER", version=first_version())
        assert store.decision(workspace="T1", channel="C1", decision_id=made.id) == made
        claim = WorkQueue(client, prefix="sf-sentinel").claim(
            WorkRef("T1", "C1", "message.1.2"), event_id="Ev1", payload={"text": "why"}
        )
        assert claim.held
    finally:
        client.close()
    assert sentinel.master is not None
    master = admin(sentinel.master.port, password=sentinel.password, db=2)
    try:
        assert master.exists(f"sf-sentinel:{{T1:C1}}:decision:{made.id}")  # on the master, in REDIS_URL's database
    finally:
        master.close()


def test_a_wrong_master_password_is_blamed_on_redis_url(sentinel: LocalSentinel) -> None:
    settings = load_settings(
        _env_file=None, redis_mode="sentinel", redis_sentinels=sentinel.sentinel_address, redis_url="redis://:nope@/0"
    )
    assert settings.redis_url is not None
    with pytest.raises(SettingsError, match=r'^setting REDIS_URL: cannot reach the master of "mymaster"') as caught:
        open_redis(settings, settings.redis_url.get_secret_value())
    assert "nope" not in str(caught.value)


def test_sentinels_that_do_not_answer_are_named() -> None:
    settings = load_settings(_env_file=None, redis_mode="sentinel", redis_sentinels=f"127.0.0.1:{free_port()}")
    with pytest.raises(SettingsError, match=r"^setting SHOULD_FINETUNE_REDIS_SENTINELS: cannot reach the master"):
        open_redis(settings, None)


# --- settings and start-up errors ------------------------------------------------------------------------------------


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An environment with none of the bot's settings, in a directory without a .env file."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "SHOULD_FINETUNE_", "REDIS_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "setting", "words"),
    [
        (
            {"SHOULD_FINETUNE_REDIS_MODE": "cluster", "REDIS_URL": "redis://:s3cret-pw@10.0.0.5:6379/1"},
            "REDIS_URL",
            "a Redis Cluster has only database 0, and the URL asks for database 1",
        ),
        (
            {"SHOULD_FINETUNE_REDIS_MODE": "cluster", "REDIS_URL": "redis://:s3cret-pw@10.0.0.5:6379?db=3"},
            "REDIS_URL",
            "asks for database 3",
        ),
        ({"SHOULD_FINETUNE_REDIS_MODE": "cluster"}, "REDIS_URL", "the embedded Redis is not a cluster"),
        (
            {"SHOULD_FINETUNE_REDIS_MODE": "cluster", "REDIS_URL": "unix:///run/redis.sock"},
            "REDIS_URL",
            "reached over TCP",
        ),
        ({"SHOULD_FINETUNE_REDIS_MODE": "sentinel"}, "SHOULD_FINETUNE_REDIS_SENTINELS", "needs the sentinels"),
        (
            {"SHOULD_FINETUNE_REDIS_MODE": "sentinel", "SHOULD_FINETUNE_REDIS_SENTINELS": "10.0.0.5:26379,10.0.0.6:x"},
            "SHOULD_FINETUNE_REDIS_SENTINELS",
            '"10.0.0.6:x" is not a sentinel address',
        ),
        (
            {
                "SHOULD_FINETUNE_REDIS_MODE": "sentinel",
                "SHOULD_FINETUNE_REDIS_SENTINELS": "10.0.0.5:26379",
                "REDIS_URL": "rediss://:s3cret-pw@/0",
            },
            "REDIS_URL",
            "only the master's password and database",
        ),
        ({"SHOULD_FINETUNE_REDIS_SENTINELS": "10.0.0.5:26379"}, "SHOULD_FINETUNE_REDIS_SENTINELS", "only used with"),
        ({"SHOULD_FINETUNE_REDIS_MODE": "raft"}, "SHOULD_FINETUNE_REDIS_MODE", "standalone, cluster or sentinel"),
        (
            {
                "SHOULD_FINETUNE_REDIS_MODE": "sentinel",
                "SHOULD_FINETUNE_REDIS_SENTINELS": "10.0.0.5:26379",
                "SHOULD_FINETUNE_REDIS_SENTINEL_SERVICE": "my master",
            },
            "SHOULD_FINETUNE_REDIS_SENTINEL_SERVICE",
            "such as mymaster",
        ),
    ],
)
def test_a_redis_mode_that_cannot_work_stops_start_up_naming_the_setting(
    shell: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], setting: str, words: str
) -> None:
    for name, value in env.items():
        shell.setenv(name, value)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert f"should-finetune: setting {setting}: " in err
    assert words in err
    assert "s3cret-pw" not in err


def test_the_modes_read_from_the_environment(shell: pytest.MonkeyPatch) -> None:
    shell.setenv("SHOULD_FINETUNE_REDIS_MODE", "Sentinel")
    shell.setenv("SHOULD_FINETUNE_REDIS_SENTINELS", "10.0.0.5:26379, 10.0.0.6 [::1]:26380")
    shell.setenv("SHOULD_FINETUNE_REDIS_SENTINEL_SERVICE", "bot-redis")
    shell.setenv("REDIS_URL", "redis://:pw@/3")
    settings = load_settings(_env_file=None)
    assert settings.redis_mode == "sentinel"
    assert settings.redis_sentinels == [("10.0.0.5", 26379), ("10.0.0.6", 26379), ("::1", 26380)]
    assert settings.redis_sentinel_service == "bot-redis"
    shell.setenv("SHOULD_FINETUNE_REDIS_MODE", "cluster")
    shell.delenv("SHOULD_FINETUNE_REDIS_SENTINELS")
    shell.setenv("REDIS_URL", "redis://:pw@10.0.0.5:7000/0")
    assert load_settings(_env_file=None).redis_mode == "cluster"
    shell.delenv("SHOULD_FINETUNE_REDIS_MODE")
    assert load_settings(_env_file=None).redis_mode == "standalone"


def test_cluster_mode_at_a_standalone_redis_stops_start_up(fake_slack: FakeSlack, own_redis: OwnRedis) -> None:
    settings = bot_settings(fake_slack, own_redis.url, "sf-test-mode", redis_mode="cluster")
    at = re.escape(f"setting REDIS_URL: cannot reach the Redis Cluster at redis://127.0.0.1:{own_redis.port}/0: ")
    with pytest.raises(SettingsError, match=f"^{at}"), open_services(settings):
        pass


def test_standalone_mode_at_a_cluster_node_stops_start_up(fake_slack: FakeSlack, redis_cluster: LocalCluster) -> None:
    settings = bot_settings(fake_slack, redis_cluster.url, "sf-test-mode")
    blamed = (
        r"^setting SHOULD_FINETUNE_REDIS_MODE: .* is a node of a Redis Cluster: set SHOULD_FINETUNE_REDIS_MODE=cluster$"
    )
    with pytest.raises(SettingsError, match=blamed), open_services(settings):
        pass


def test_cluster_mode_finds_every_node_from_the_one_it_is_given(redis_cluster: LocalCluster) -> None:
    client = connect_redis(redis_cluster.url, mode="cluster")
    try:
        assert isinstance(client, redis.RedisCluster)
        assert {node.name for node in client.get_primaries()} == {f"127.0.0.1:{n.port}" for n in redis_cluster.nodes}
        assert DecisionStore(client).ping()
    finally:
        client.close()
