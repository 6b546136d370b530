"""A Redis Sentinel failover while people use the bot: a real primary, a replica and three sentinels
(`tests/redis_sentinel.py`), the served bot in sentinel mode, the fake Slack, signed requests.

Forms are submitted once a second and questions asked five times a second in a verdict's thread, through a planned
switchover (`SENTINEL FAILOVER`) and through a `kill -9` of the primary. Afterwards every decision whose verdict was
posted must answer `why` in its thread: a form told "could not be saved" is honest and counts as not lost. Each
question gets one reply, an answer or "cannot reach my storage", never two. The figures of each run (forms, refused,
forgotten, questions answered twice, slowest answer) are printed; BENCHMARKS.md keeps them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from bot.listeners.submission import NOT_SAVED
from bot.store.sentinel import is_write
from tests.fakeslack import FakeSlack
from tests.redis_cluster import READY_SECONDS, Server, admin, free_port
from tests.redis_sentinel import PASSWORD, SERVICE, SentinelGroup
from tests.slack_support import REQUIRED_ANSWERS, BotClient, http, served_bot

T = TypeVar("T")

STORAGE_DOWN = "cannot reach my storage"
FORMS_PER_SECOND = 1.0
QUESTIONS_PER_SECOND = 5.0
BEFORE_SECONDS = 3.0  # of traffic before the failover
AFTER_SECONDS = 12.0  # of traffic after the sentinels name the new primary: past the old primary's demotion


@dataclass
class Run:
    """What happened to the traffic of one failover."""

    forms: int = 0
    refused: list[str] = field(default_factory=list)  # forms answered "could not be saved"
    closed: int = 0
    questions: int = 0
    question_failures: list[int] = field(default_factory=list)  # HTTP statuses other than 200
    slowest: float = 0.0  # the slowest answer to any request, in seconds
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, send: Callable[[], T]) -> T:
        started = time.monotonic()
        reply = send()
        with self.lock:
            self.slowest = max(self.slowest, time.monotonic() - started)
        return reply


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    sentinels = SentinelGroup(tmp_path / "redis").start()
    yield sentinels
    sentinels.stop()


@pytest.fixture
def sentinel_bot(fake_slack: FakeSlack, group: SentinelGroup, key_prefix: str) -> Iterator[BotClient]:
    sentinels = ",".join(f"{host}:{port}" for host, port in group.sentinel_addresses)
    with served_bot(
        fake_slack,
        f"redis://:{PASSWORD}@/0",
        key_prefix,
        redis_mode="sentinel",
        redis_sentinels=sentinels,
        redis_sentinel_service=SERVICE,
    ) as bot:
        yield bot


def submit_forms(bot: BotClient, run: Run, stop: threading.Event) -> None:
    """A form once a second until `stop`; each form opened, then submitted."""
    opened = len(bot.fake.calls("views.open"))
    while not stop.is_set():
        started = time.monotonic()
        run.forms += 1
        try:
            assert run.timed(bot.command).status == 200
            opened += 1
            bot.fake.wait_for("views.open", opened)
            reply = run.timed(lambda: bot.submit(REQUIRED_ANSWERS))
            assert reply.status == 200
            body = reply.json() if reply.body else {}
            if body.get("response_action") == "errors":
                assert NOT_SAVED in body["errors"].values(), body
                run.refused.append(str(body))
            else:
                run.closed += 1
        except Exception as exc:  # reported by the test, not lost in a thread
            run.errors.append(f"form {run.forms}: {exc!r}")
        stop.wait(max(0.0, 1 / FORMS_PER_SECOND - (time.monotonic() - started)))


def ask_questions(bot: BotClient, thread: str, run: Run, stop: threading.Event) -> None:
    """`why` in `thread` five times a second until `stop`."""
    while not stop.is_set():
        started = time.monotonic()
        run.questions += 1
        try:
            reply = run.timed(lambda: bot.ask("why?", thread_ts=thread))
            if reply.status != 200:
                run.question_failures.append(reply.status)
        except Exception as exc:
            run.errors.append(f"question {run.questions}: {exc!r}")
        stop.wait(max(0.0, 1 / QUESTIONS_PER_SECOND - (time.monotonic() - started)))


def verdicts(fake: FakeSlack) -> list[str]:
    """The ts of every verdict posted in the channel (the bot's top-level messages)."""
    return [
        str(call.response["ts"])
        for call in fake.calls("chat.postMessage")
        if call.response and call.response.get("ok") and "thread_ts" not in call.args
    ]


def answered_why(bot: BotClient, verdict: str, timeout: float = 5.0) -> bool:
    """Whether `why` in the verdict's thread gets an answer (not silence, not "cannot reach my storage")."""
    before = len(bot.replies(verdict))
    bot.ask("why?", thread_ts=verdict)
    try:
        found = bot.wait_replies(verdict, before + 1, timeout=timeout)
    except AssertionError:
        return False
    return STORAGE_DOWN not in str(found[before].get("text", ""))


def through_failover(bot: BotClient, group: SentinelGroup, failover: Callable[[], int]) -> Run:
    """Forms and questions before, during and after `failover`; what happened to them."""
    thread = bot.decide()
    bot.wait_replies(thread, 1)
    run = Run()
    stop = threading.Event()
    workers = [
        threading.Thread(target=submit_forms, args=(bot, run, stop)),
        threading.Thread(target=ask_questions, args=(bot, thread, run, stop)),
    ]
    for worker in workers:
        worker.start()
    try:
        time.sleep(BEFORE_SECONDS)
        failover()
        time.sleep(AFTER_SECONDS)
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
    assert run.errors == [], run.errors
    # Every question is replied to once: wait until each has its reply, then a moment for any second one.
    expected = 1 + run.questions  # the explanation, then one reply per question
    deadline = time.monotonic() + 30
    while len(bot.replies(thread)) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    replies = bot.replies(thread)
    assert len(replies) == expected, f"{len(replies) - 1} replies to {run.questions} questions"
    return run


def forgotten(bot: BotClient, run: Run) -> list[str]:
    """The posted verdicts whose decision does not answer `why`."""
    deadline = time.monotonic() + 30
    while len(verdicts(bot.fake)) < 1 + run.closed and time.monotonic() < deadline:
        time.sleep(0.1)
    posted = verdicts(bot.fake)
    assert len(posted) == 1 + run.closed, f"{run.closed} forms closed, {len(posted) - 1} verdicts posted"
    return [verdict for verdict in posted if not answered_why(bot, verdict)]


def report(name: str, run: Run, lost: list[str]) -> None:
    print(
        f"\n{name}: {run.forms} forms ({len(run.refused)} told not saved), {len(lost)} decisions forgotten, "
        f"{run.questions} questions (none answered twice), slowest answer {run.slowest * 1000:.0f} ms"
    )


def test_a_planned_switchover_forgets_no_decision(sentinel_bot: BotClient, group: SentinelGroup) -> None:
    run = through_failover(sentinel_bot, group, group.switchover)
    group.replicated(replicas=1)  # the old primary, demoted and resynced: what it took alone is gone now
    lost = forgotten(sentinel_bot, run)
    report("switchover", run, lost)
    assert lost == []
    assert run.question_failures == []
    assert run.slowest < 3.0  # Slack's deadline


def test_a_crash_of_the_primary_forgets_no_decision(sentinel_bot: BotClient, group: SentinelGroup) -> None:
    run = through_failover(sentinel_bot, group, group.crash)
    lost = forgotten(sentinel_bot, run)
    report("crash", run, lost)
    assert lost == []
    assert run.question_failures == []
    assert run.slowest < 3.0


# --- which commands wait for the replicas -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "write"),
    [
        ("SET", True),
        ("EVALSHA", True),  # the store's scripts: they write
        ("evalsha", True),
        (b"HSET", True),
        ("SCRIPT LOAD", False),
        ("GET", False),
        ("HGETALL", False),
        ("ZRANGEBYSCORE", False),
        ("PING", False),
        ("WAIT", False),
        ("SOMETHING NEW", True),  # unknown: treated as a write
    ],
)
def test_only_commands_that_may_change_data_wait_for_the_replicas(command: str | bytes, write: bool) -> None:
    assert is_write(command) is write


# --- /readyz: ready only where writes are taken -------------------------------------------------------------------


def readiness(bot: BotClient) -> tuple[int, dict[str, object]]:
    reply = http(bot.url + "/readyz", method="GET")
    return reply.status, reply.json()


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[list[Server]]:
    """Two plain Redis servers, both primaries, no sentinels."""
    servers: list[Server] = []
    try:
        for name in ("a", "b"):
            servers.append(Server(tmp_path / name, free_port(), ["--save", "", "--appendonly", "no"]))
            servers[-1].wait_until_listening(time.monotonic() + READY_SECONDS)
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_readyz_says_no_while_the_node_is_a_replica_or_refuses_writes(
    fake_slack: FakeSlack, two_servers: list[Server], key_prefix: str
) -> None:
    node, other = two_servers
    with served_bot(fake_slack, f"redis://127.0.0.1:{node.port}/0", key_prefix) as bot:
        assert readiness(bot) == (200, {"ready": True})
        control = admin(node.port)
        control.replicaof("127.0.0.1", str(other.port))  # demoted, as a failover demotes the old primary
        status, body = readiness(bot)
        assert status == 503
        assert body["reason"] == "the Redis node is a replica, not the primary", body
        control.replicaof("NO", "ONE")
        assert readiness(bot) == (200, {"ready": True})
        control.config_set("min-replicas-to-write", 1)  # and it has none: every write is refused
        status, body = readiness(bot)
        assert status == 503
        assert "NOREPLICAS" in str(body["reason"]), body
        control.config_set("min-replicas-to-write", 0)
        assert readiness(bot) == (200, {"ready": True})
        control.config_set("maxmemory-policy", "noeviction")
        control.config_set("maxmemory", 1)  # out of memory: writes are refused, reads still work
        status, body = readiness(bot)
        assert status == 503
        assert str(body["reason"]).startswith("OutOfMemoryError"), body
        control.config_set("maxmemory", 0)
        assert readiness(bot) == (200, {"ready": True})


def test_readyz_says_no_through_sentinel_while_writes_cannot_be_confirmed(
    sentinel_bot: BotClient, group: SentinelGroup
) -> None:
    assert readiness(sentinel_bot) == (200, {"ready": True})
    primary = group.primary_port()
    group.client(primary).config_set("min-replicas-to-write", 2)
    try:
        status, body = readiness(sentinel_bot)
        assert status == 503, body
    finally:
        group.client(primary).config_set("min-replicas-to-write", 0)
    assert readiness(sentinel_bot) == (200, {"ready": True})
