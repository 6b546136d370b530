"""Contract tests of the work queue's claims and record script (`WorkQueue`) and of the conversations they write
(`ThreadStore`), against a real Redis server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest
import redis
from redis.crc import key_slot

from bot.store import (
    MAX_TURNS,
    Claim,
    ClaimLost,
    ClaimStatus,
    Conversation,
    Decision,
    DecisionNotFound,
    DecisionStore,
    Delivery,
    DeliveryStatus,
    NewVersion,
    StoreUnavailable,
    ThreadChanged,
    ThreadStore,
    Trigger,
    Turn,
    WorkQueue,
    WorkRef,
    connect_redis,
)
from tests.redis_support import REDIS_MODES, redis_url_of, undecoded_client

T = "T0001"
C = "C0001"
THREAD = "1741000000.000100"
NOW = datetime(2025, 3, 3, 9, 30, 15, 123456, tzinfo=UTC)
LEASE = timedelta(milliseconds=300)
PAST_LEASE = 0.4  # seconds: sleep this long for a lease of LEASE to run out
CLAIM_TTL = timedelta(seconds=30)
CONVERSATION_TTL = timedelta(days=30)
RETENTION = timedelta(days=365)
TTL_SLACK_MS = 10_000  # how far below its full length a TTL may be read, on a slow machine


@pytest.fixture(scope="module", params=REDIS_MODES)
def redis_mode(request: pytest.FixtureRequest) -> str:
    """Every test here runs on a standalone Redis and on a Redis Cluster of three masters."""
    return str(request.param)


@pytest.fixture(scope="module")
def redis_url(redis_mode: str, request: pytest.FixtureRequest) -> str:
    return redis_url_of(request, redis_mode)


class Threads:
    """A channel's claims and conversations as these tests use them: the work queue, and the thread store that
    reads what its record step writes."""

    def __init__(self, queue: WorkQueue, store: ThreadStore) -> None:
        self.queue, self.store = queue, store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store if name in {"conversation", "hold_cooldown"} else self.queue, name)


def threads_of(client: Any, prefix: str = "should-finetune", **durations: timedelta) -> Threads:
    return Threads(WorkQueue(client, prefix=prefix, **durations), ThreadStore(client, prefix=prefix))


@pytest.fixture
def threads(redis_client: redis.Redis, key_prefix: str) -> Threads:
    return threads_of(
        redis_client,
        key_prefix,
        lease=LEASE,
        claim_ttl=CLAIM_TTL,
        conversation_ttl=CONVERSATION_TTL,
        retention=RETENTION,
    )


@pytest.fixture
def offline() -> Iterator[Threads]:
    """Stores whose client has no server behind it: any call that touches Redis fails (StoreUnavailable)."""
    client = connect_redis("unix:///nonexistent/sf-test.sock", socket_timeout=0.1, retries=0)
    yield threads_of(client, lease=LEASE, claim_ttl=CLAIM_TTL)
    client.close()


def message(ts: str = "1741000000.000200", *, channel: str = C, workspace: str = T) -> WorkRef:
    return WorkRef(workspace, channel, f"message.{ts}")


def payload(ts: str = "1741000000.000200", text: str = "what if we had 10k examples?") -> dict[str, Any]:
    return {"ts": ts, "thread_ts": THREAD, "user": "U0002", "text": text, "mentioned": False}


def turn(text: str = "what if we had 10k examples?", *, user: str = "U0002", intent: str = "what-if") -> Turn:
    return Turn(at=NOW, user=user, text=text, intent=intent, outcome="verdict unchanged")


def new_version(*, verdict: str = "fine-tune", by: str = "U0001", trigger: Trigger = Trigger.SUBMIT) -> NewVersion:
    return NewVersion(
        answers={"examples": 5000, "tried_rag": True},
        verdict=verdict,
        next_step="Collect 500 more labelled examples.",
        decided_by="enough-data",
        fired=["enough-data"],
        ruleset_version="2025.03",
        ruleset_sha256="ab" * 32,
        by=by,
        trigger=trigger,
    )


def create(store: DecisionStore, *, channel: str = C) -> Decision:
    return store.create_decision(workspace=T, channel=channel, requester="U0001", version=new_version(), now=NOW)


def channel_prefix(key_prefix: str, channel: str = C) -> str:
    return f"{key_prefix}:{{{T}:{channel}}}"


def conversation_key(key_prefix: str, thread_ts: str = THREAD) -> str:
    return f"{channel_prefix(key_prefix)}:conversation:{thread_ts}"


def work_key(key_prefix: str, ref: WorkRef) -> str:
    return f"{key_prefix}:{{{ref.workspace}:{ref.channel}}}:work:{ref.key}"


def prefix_keys(client: redis.Redis, prefix: str) -> set[str]:
    return {str(key) for key in client.scan_iter(match=f"{prefix}*", count=1000)}


def record(
    threads: Threads,
    claim: Claim,
    *,
    conversation: Conversation | None = None,
    outbox: dict[str, Any] | None = None,
    decision_id: str = "D1",
    version: NewVersion | None = None,
    versions_seen: int = 0,
) -> Any:
    """Record one more turn (on the conversation as it is now, unless given) with a simple outbox."""
    if conversation is None:
        current = threads.conversation(workspace=T, channel=C, thread_ts=THREAD)
        conversation = current.after(turn(), hypothetical={"examples": 10_000})
    return threads.record(
        claim,
        thread_ts=THREAD,
        conversation=conversation,
        outbox=outbox if outbox is not None else {"reply": {"channel": C, "thread_ts": THREAD, "text": "ok"}},
        decision_id=decision_id,
        version=version,
        versions_seen=versions_seen,
    )


# Conversations


def test_a_thread_without_conversation_reads_as_empty(
    threads: Threads, redis_client: redis.Redis, key_prefix: str
) -> None:
    found = threads.conversation(workspace=T, channel=C, thread_ts=THREAD)

    assert found == Conversation()
    assert (found.hypothetical, found.turns, found.revision) == (None, (), 0)
    assert prefix_keys(redis_client, key_prefix) == set()


def test_a_recorded_conversation_reads_back_with_revision_one_and_its_ttl(
    threads: Threads, redis_client: redis.Redis, key_prefix: str
) -> None:
    claim = threads.claim(message(), event_id="Ev1", payload=payload())
    first = turn()
    written = Conversation().after(first, hypothetical={"examples": 10_000, "tried_rag": False})

    assert record(threads, claim, conversation=written) is None  # no version asked for, none made

    found = threads.conversation(workspace=T, channel=C, thread_ts=THREAD)
    assert found == Conversation(hypothetical={"examples": 10_000, "tried_rag": False}, turns=(first,), revision=1)
    assert found.revision == 1
    ttl = redis_client.pttl(conversation_key(key_prefix))
    full = int(CONVERSATION_TTL / timedelta(milliseconds=1))
    assert full - TTL_SLACK_MS < ttl <= full


def test_each_record_restarts_the_conversation_ttl(
    threads: Threads, redis_client: redis.Redis, key_prefix: str
) -> None:
    record(threads, threads.claim(message("1741000000.000200"), event_id="Ev1", payload=payload()))
    key = conversation_key(key_prefix)
    redis_client.pexpire(key, 5_000)  # as if the thread had been idle for most of its TTL

    record(threads, threads.claim(message("1741000000.000300"), event_id="Ev2", payload=payload()))

    full = int(CONVERSATION_TTL / timedelta(milliseconds=1))
    assert full - TTL_SLACK_MS < redis_client.pttl(key) <= full
    assert threads.conversation(workspace=T, channel=C, thread_ts=THREAD).revision == 2


def test_after_keeps_only_the_newest_max_turns() -> None:
    turns = [turn(f"question {i}") for i in range(MAX_TURNS + 3)]
    conversation = Conversation(revision=7)
    for i, each in enumerate(turns):
        before = conversation
        conversation = conversation.after(each, hypothetical={"examples": i})
        assert len(before.turns) == min(i, MAX_TURNS)  # the state it came from is unchanged

    assert conversation.turns == tuple(turns[-MAX_TURNS:])
    assert conversation.turns[-1].text == f"question {MAX_TURNS + 2}"
    assert conversation.hypothetical == {"examples": MAX_TURNS + 2}
    assert conversation.revision == 7  # the revision it was read at, for the store's check
    assert conversation.after(turn(), hypothetical=None).hypothetical is None


def test_turn_text_is_at_most_160_characters() -> None:
    assert turn("x" * 160).text == "x" * 160
    with pytest.raises(pydantic.ValidationError, match="160"):
        turn("x" * 161)


# Claims


def test_a_claim_is_new_then_busy_while_held_then_done(
    threads: Threads, redis_client: redis.Redis, key_prefix: str
) -> None:
    ref = message()

    first = threads.claim(ref, event_id="Ev1", payload=payload())
    assert (first.status, first.ref, first.attempts, first.payload) == (ClaimStatus.NEW, ref, 1, payload())
    assert first.token
    assert (first.outbox, first.version) == (None, None)
    assert first.held

    second = threads.claim(ref, event_id="Ev2", payload=payload(text="a duplicate"))
    assert second == Claim(ClaimStatus.BUSY, ref)
    assert not second.held
    assert second.token == ""

    assert threads.finish(first) is True
    third = threads.claim(ref, event_id="Ev3", payload=payload())
    assert third == Claim(ClaimStatus.DONE, ref)
    assert not third.held

    key = work_key(key_prefix, ref)
    ttl_ms = int(CLAIM_TTL / timedelta(milliseconds=1))
    assert ttl_ms - TTL_SLACK_MS < redis_client.pttl(key) <= ttl_ms
    assert redis_client.hget(key, "events") == "Ev1,Ev2,Ev3"
    assert redis_client.hget(key, "state") == "done"


def test_a_finished_claim_keeps_only_a_small_marker_and_its_expiry(
    threads: Threads, redis_client: redis.Redis, key_prefix: str
) -> None:
    ref = message()
    claim = threads.claim(ref, event_id="Ev1", payload=payload(text="x" * 500))
    conversation = threads.conversation(workspace=T, channel=C, thread_ts=THREAD)
    outbox = {"reply": {"text": "y" * 2000}}
    threads.record(claim, thread_ts=THREAD, conversation=conversation, outbox=outbox, decision_id="D1")
    key = work_key(key_prefix, ref)
    ttl_before = redis_client.pttl(key)

    assert threads.finish(claim) is True

    assert redis_client.hgetall(key) == {"state": "done", "attempts": "1", "events": "Ev1"}
    assert 0 < redis_client.pttl(key) <= ttl_before  # the marker expires when the claim would have
    # Written anew, the hash is in Redis's compact encoding again, not the one the long payload forced.
    assert redis_client.object("encoding", key) in {"ziplist", "listpack"}


def test_each_event_id_is_recorded_once(threads: Threads, redis_client: redis.Redis, key_prefix: str) -> None:
    ref = message()
    for event_id in ["Ev12", "Ev12", "Ev1", "Ev2", "Ev1"]:
        threads.claim(ref, event_id=event_id, payload=payload())

    # Ev1 is part of Ev12's text but another event all the same.
    assert redis_client.hget(work_key(key_prefix, ref), "events") == "Ev12,Ev1,Ev2"


@pytest.mark.parametrize("status", list(ClaimStatus))
def test_only_new_and_retaken_claims_are_held(status: ClaimStatus) -> None:
    assert Claim(status, message(), token="t").held is (status in {ClaimStatus.NEW, ClaimStatus.RETAKEN})


def test_claims_of_different_messages_are_independent(threads: Threads) -> None:
    one = threads.claim(message("1741000000.000200"), event_id="Ev1", payload=payload())
    other = threads.claim(message("1741000000.000300"), event_id="Ev1", payload=payload())
    elsewhere = threads.claim(message("1741000000.000200", channel="C0002"), event_id="Ev1", payload=payload())

    assert [c.status for c in (one, other, elsewhere)] == [ClaimStatus.NEW] * 3
    assert len({one.token, other.token, elsewhere.token}) == 3


def test_a_claim_made_only_in_a_verdict_thread_is_refused_elsewhere_and_writes_nothing(
    threads: Threads, store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    decision = create(store)
    posted = Delivery(status=DeliveryStatus.POSTED, channel=C, ts=THREAD)
    store.record_delivery(workspace=T, channel=C, decision_id=decision.id, delivery=posted)
    before = prefix_keys(redis_client, key_prefix)
    other_thread = "1741000000.000900"

    refused = threads.claim(message(), event_id="Ev1", payload=payload(), verdict_thread=other_thread)
    elsewhere = threads.claim(message(channel="C0002"), event_id="Ev1", payload=payload(), verdict_thread=THREAD)

    assert refused == Claim(ClaimStatus.NOT_A_VERDICT_THREAD, message())
    assert elsewhere.status is ClaimStatus.NOT_A_VERDICT_THREAD
    assert not elsewhere.held
    assert prefix_keys(redis_client, key_prefix) == before
    assert redis_client.zcard(f"{key_prefix}:work:pending") == 0

    held = threads.claim(message(), event_id="Ev1", payload=payload(), verdict_thread=THREAD)
    assert held.status is ClaimStatus.NEW
    again = threads.claim(message(), event_id="Ev2", payload=payload(), verdict_thread=THREAD)
    assert again.status is ClaimStatus.BUSY


# Leases


def test_a_claim_whose_lease_ran_out_is_retaken_and_the_first_holder_is_fenced_off(
    threads: Threads, redis_client: redis.Redis, key_prefix: str
) -> None:
    ref = message()
    first = threads.claim(ref, event_id="Ev1", payload=payload())
    time.sleep(PAST_LEASE)

    second = threads.claim(ref, event_id="Ev2", payload=payload(text="a redelivery"))

    assert (second.status, second.attempts, second.payload) == (ClaimStatus.RETAKEN, 2, payload())
    assert second.held
    assert second.token
    assert second.token != first.token
    assert (second.outbox, second.version) == (None, None)  # nothing was recorded before

    with pytest.raises(ClaimLost):
        record(threads, first)
    assert threads.finish(first) is False
    assert threads.conversation(workspace=T, channel=C, thread_ts=THREAD) == Conversation()
    assert redis_client.hget(work_key(key_prefix, ref), "state") == "claimed"

    record(threads, second)
    assert threads.finish(second) is True
    assert threads.conversation(workspace=T, channel=C, thread_ts=THREAD).revision == 1
    assert threads.claim(ref, event_id="Ev3", payload=payload()).status is ClaimStatus.DONE


def test_overdue_lists_claims_only_once_their_lease_ran_out(threads: Threads) -> None:
    late = message("1741000000.000200")
    finished = message("1741000000.000300")
    slow = message("1741000000.000400")
    late_claim = threads.claim(late, event_id="Ev1", payload=payload("1741000000.000200"))
    finished_claim = threads.claim(finished, event_id="Ev2", payload=payload("1741000000.000300"))
    slow_claim = threads.claim(slow, event_id="Ev3", payload=payload("1741000000.000400"))
    assert threads.finish(finished_claim) is True
    assert threads.overdue() == []  # the leases are still running

    time.sleep(PAST_LEASE)
    # A holder past its lease that nobody took over still finishes its work.
    assert threads.finish(slow_claim) is True

    assert threads.overdue() == [late]
    taken = threads.take_over(late)
    assert (taken.status, taken.attempts, taken.payload) == (ClaimStatus.RETAKEN, 2, payload("1741000000.000200"))
    assert taken.token not in {"", late_claim.token}
    assert threads.overdue() == []  # taken over: a new lease runs
    assert threads.take_over(late).status is ClaimStatus.BUSY


def test_overdue_is_oldest_first_and_limited(threads: Threads) -> None:
    # Claimed newest message first, so the order of their leases is not the order of their names.
    refs = [message(f"1741000000.00030{i}") for i in (2, 1, 0)]
    for i, ref in enumerate(refs):
        threads.claim(ref, event_id=f"Ev{i}", payload=payload())
        time.sleep(0.01)  # distinct lease deadlines (ms)
    time.sleep(PAST_LEASE)

    assert threads.overdue() == refs
    assert threads.overdue(limit=2) == refs[:2]


def test_taking_over_work_that_never_existed_is_missing_and_creates_nothing(
    threads: Threads, redis_client: redis.Redis, key_prefix: str
) -> None:
    claim = threads.take_over(message())

    assert claim == Claim(ClaimStatus.MISSING, message())
    assert not claim.held
    assert prefix_keys(redis_client, key_prefix) == set()


def test_taking_over_an_expired_claim_is_missing_and_clears_it_from_pending(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    short = threads_of(
        redis_client,
        key_prefix,
        lease=timedelta(milliseconds=100),
        claim_ttl=timedelta(milliseconds=200),
    )
    ref = message()
    short.claim(ref, event_id="Ev1", payload=payload())
    time.sleep(0.25)  # past the claim's TTL: its key is gone, its pending entry is not
    assert short.overdue() == [ref]

    assert short.take_over(ref) == Claim(ClaimStatus.MISSING, ref)

    assert short.overdue() == []
    assert redis_client.zcard(f"{key_prefix}:work:pending") == 0
    assert prefix_keys(redis_client, key_prefix) == set()  # the claim was not made again


# The outbox


def test_an_answered_claim_is_taken_over_with_its_outbox_and_not_recorded_twice(
    threads: Threads, store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    decision = create(store)
    ref = message()
    outbox = {
        "reply": {"channel": C, "thread_ts": THREAD, "text": "Still *fine-tune* — with 10k examples, even more so."},
        "update": {"channel": C, "ts": THREAD, "blocks": [{"type": "section", "text": {"type": "mrkdwn"}}]},
        "n": [1, 2.5, None, True],
    }
    first = threads.claim(ref, event_id="Ev1", payload=payload())
    version = record(
        threads,
        first,
        outbox=outbox,
        decision_id=decision.id,
        version=new_version(by="U0002", trigger=Trigger.FOLLOW_UP),
        versions_seen=1,
    )
    assert version.number == 2
    # The holder dies before sending; a redelivery while its lease runs changes nothing.
    assert threads.claim(ref, event_id="Ev2", payload=payload()).status is ClaimStatus.BUSY
    time.sleep(PAST_LEASE)
    assert threads.overdue() == [ref]

    taken = threads.take_over(ref)

    assert (taken.status, taken.attempts, taken.payload) == (ClaimStatus.RETAKEN, 2, payload())
    assert taken.outbox == outbox
    assert taken.version == 2
    # The answer is recorded already: the new holder only sends the outbox; recording again is refused.
    seen = threads.conversation(workspace=T, channel=C, thread_ts=THREAD)
    with pytest.raises(ClaimLost):
        record(threads, taken, decision_id=decision.id, version=new_version(), versions_seen=2)
    assert threads.conversation(workspace=T, channel=C, thread_ts=THREAD) == seen
    assert seen.revision == 1
    stored = store.decision(workspace=T, channel=C, decision_id=decision.id)
    assert stored is not None
    assert [v.number for v in stored.versions] == [1, 2]
    assert redis_client.hget(work_key(key_prefix, ref), "state") == "answered"

    assert threads.finish(first) is False
    assert threads.finish(taken) is True
    assert threads.overdue() == []
    assert threads.take_over(ref).status is ClaimStatus.DONE


def test_an_answered_claim_without_a_version_is_taken_over_with_its_outbox_only(threads: Threads) -> None:
    ref = message()
    outbox = {"reply": {"channel": C, "thread_ts": THREAD, "text": "Hypothetically: try RAG first."}, "update": None}
    record(threads, threads.claim(ref, event_id="Ev1", payload=payload()), outbox=outbox)
    time.sleep(PAST_LEASE)

    taken = threads.claim(ref, event_id="Ev2", payload=payload(text="a redelivery"))

    assert (taken.status, taken.outbox, taken.version, taken.payload) == (
        ClaimStatus.RETAKEN,
        outbox,
        None,
        payload(),
    )


# Recording answers with a version


def test_record_answer_appends_exactly_one_version_and_restarts_the_retention(
    threads: Threads, store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    decision = create(store)
    decision_key = f"{channel_prefix(key_prefix)}:decision:{decision.id}"
    for key in (decision_key, f"{decision_key}:versions"):
        redis_client.pexpire(key, 5_000)
    claim = threads.claim(message(), event_id="Ev1", payload=payload())

    version = record(
        threads,
        claim,
        decision_id=decision.id,
        version=new_version(verdict="try-rag", by="U0009", trigger=Trigger.FOLLOW_UP),
        versions_seen=1,
    )

    assert (version.number, version.verdict, version.by, version.trigger) == (2, "try-rag", "U0009", Trigger.FOLLOW_UP)
    stored = store.decision(workspace=T, channel=C, decision_id=decision.id)
    assert stored is not None
    assert stored.versions == [decision.versions[0], version]
    full = int(RETENTION / timedelta(milliseconds=1))
    for key in (decision_key, f"{decision_key}:versions"):
        assert full - TTL_SLACK_MS < redis_client.pttl(key) <= full
    assert threads.conversation(workspace=T, channel=C, thread_ts=THREAD).revision == 1


def test_a_version_recorded_from_a_thread_says_which_rules_decided_the_decision_now(
    threads: Threads, store: DecisionStore
) -> None:
    decision, other = create(store), create(store)
    claim = threads.claim(message(), event_id="Ev1", payload=payload())
    newer = new_version(trigger=Trigger.FOLLOW_UP).model_copy(update={"ruleset_sha256": "cd" * 32})

    record(threads, claim, decision_id=decision.id, version=newer, versions_seen=1)

    assert [d.id for d in store.stale(workspace=T, channel=C, ruleset_sha256="cd" * 32)] == [other.id]
    assert [d.id for d in store.stale(workspace=T, channel=C, ruleset_sha256="ab" * 32)] == [decision.id]


@pytest.mark.parametrize("versions_seen", [0, 2])
def test_record_answer_with_wrong_versions_seen_changes_nothing(
    threads: Threads, store: DecisionStore, redis_client: redis.Redis, key_prefix: str, versions_seen: int
) -> None:
    decision = create(store)
    ref = message()
    claim = threads.claim(ref, event_id="Ev1", payload=payload())

    with pytest.raises(ThreadChanged):
        record(threads, claim, decision_id=decision.id, version=new_version(), versions_seen=versions_seen)

    assert threads.conversation(workspace=T, channel=C, thread_ts=THREAD) == Conversation()
    assert store.decision(workspace=T, channel=C, decision_id=decision.id) == decision
    assert redis_client.hgetall(work_key(key_prefix, ref)).keys() == {
        "state",
        "token",
        "attempts",
        "lease",
        "payload",
        "events",
    }
    assert redis_client.hget(work_key(key_prefix, ref), "state") == "claimed"
    # Read again, it goes through.
    assert record(threads, claim, decision_id=decision.id, version=new_version(), versions_seen=1).number == 2


def test_record_answer_on_a_stale_conversation_changes_nothing(
    threads: Threads, store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    decision = create(store)
    stale = threads.conversation(workspace=T, channel=C, thread_ts=THREAD)
    winner = threads.claim(message("1741000000.000200"), event_id="Ev1", payload=payload())
    record(threads, winner, conversation=stale.after(turn("first"), hypothetical={"examples": 1}))
    after_winner = threads.conversation(workspace=T, channel=C, thread_ts=THREAD)
    loser_ref = message("1741000000.000300")
    loser = threads.claim(loser_ref, event_id="Ev2", payload=payload())

    with pytest.raises(ThreadChanged):
        record(
            threads,
            loser,
            conversation=stale.after(turn("second"), hypothetical={"examples": 2}),
            decision_id=decision.id,
            version=new_version(),
            versions_seen=1,
        )

    assert threads.conversation(workspace=T, channel=C, thread_ts=THREAD) == after_winner
    assert after_winner.revision == 1
    assert [t.text for t in after_winner.turns] == ["first"]
    assert store.decision(workspace=T, channel=C, decision_id=decision.id) == decision
    assert redis_client.hget(work_key(key_prefix, loser_ref), "state") == "claimed"


def test_record_answer_for_a_missing_decision_changes_nothing(
    threads: Threads, store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    other = create(store)  # another decision in the channel is no stand-in
    ref = message()
    claim = threads.claim(ref, event_id="Ev1", payload=payload())

    with pytest.raises(DecisionNotFound):
        record(threads, claim, decision_id="NOPE", version=new_version(), versions_seen=1)

    assert threads.conversation(workspace=T, channel=C, thread_ts=THREAD) == Conversation()
    channel = channel_prefix(key_prefix)
    assert not redis_client.exists(f"{channel}:decision:NOPE", f"{channel}:decision:NOPE:versions")
    assert store.decision(workspace=T, channel=C, decision_id=other.id) == other
    assert redis_client.hget(work_key(key_prefix, ref), "state") == "claimed"


# Concurrency


def test_concurrent_answers_in_one_thread_all_land(threads: Threads, store: DecisionStore) -> None:
    decision = create(store)
    workers = 8
    assert workers <= MAX_TURNS
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []
    finished: list[bool] = []

    def answer(worker: int) -> None:
        try:
            claim = threads.claim(
                message(f"1741000000.00100{worker}"), event_id=f"Ev{worker}", payload=payload(text=f"q{worker}")
            )
            assert claim.status is ClaimStatus.NEW
            barrier.wait()
            for _ in range(200):
                conversation = threads.conversation(workspace=T, channel=C, thread_ts=THREAD)
                current = store.decision(workspace=T, channel=C, decision_id=decision.id)
                assert current is not None
                try:
                    threads.record(
                        claim,
                        thread_ts=THREAD,
                        conversation=conversation.after(turn(f"q{worker}"), hypothetical={"worker": worker}),
                        outbox={"worker": worker},
                        decision_id=decision.id,
                        version=new_version(verdict=f"w{worker}", trigger=Trigger.FOLLOW_UP),
                        versions_seen=len(current.versions),
                    )
                except ThreadChanged:
                    continue
                finished.append(threads.finish(claim))
                return
            raise AssertionError(f"worker {worker} never got its answer recorded")
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=answer, args=(w,)) for w in range(workers)]
    for each in pool:
        each.start()
    for each in pool:
        each.join()

    assert errors == []
    assert finished == [True] * workers
    final = threads.conversation(workspace=T, channel=C, thread_ts=THREAD)
    assert final.revision == workers
    assert sorted(t.text for t in final.turns) == sorted(f"q{w}" for w in range(workers))
    stored = store.decision(workspace=T, channel=C, decision_id=decision.id)
    assert stored is not None
    assert [v.number for v in stored.versions] == list(range(1, workers + 2))
    assert sorted(v.verdict for v in stored.versions[1:]) == sorted(f"w{w}" for w in range(workers))
    # Each answer's version and turn were written together: the order of turns is the order of versions.
    assert [t.text for t in final.turns] == [v.verdict.replace("w", "q") for v in stored.versions[1:]]


def test_concurrent_claims_of_one_message_make_exactly_one_holder(
    threads: Threads, redis_client: redis.Redis, key_prefix: str
) -> None:
    ref = message()
    workers = 20
    barrier = threading.Barrier(workers)
    claims: list[Claim] = []
    lock = threading.Lock()

    def take(worker: int) -> None:
        barrier.wait()
        claim = threads.claim(ref, event_id=f"Ev{worker:02d}", payload=payload(text=f"from {worker}"))
        with lock:
            claims.append(claim)

    pool = [threading.Thread(target=take, args=(w,)) for w in range(workers)]
    for each in pool:
        each.start()
    for each in pool:
        each.join()

    statuses = [c.status for c in claims]
    assert statuses.count(ClaimStatus.NEW) == 1
    assert statuses.count(ClaimStatus.BUSY) == workers - 1
    [holder] = [c for c in claims if c.held]
    assert holder.attempts == 1
    events = redis_client.hget(work_key(key_prefix, ref), "events")
    assert events is not None
    assert sorted(events.split(",")) == [f"Ev{w:02d}" for w in range(workers)]


# Keys


def test_every_key_of_a_thread_is_in_its_channel_slot(
    threads: Threads, store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    decision = create(store)
    ref = message()
    claim = threads.claim(ref, event_id="Ev1", payload=payload())
    record(threads, claim, decision_id=decision.id, version=new_version(), versions_seen=1)

    channel = channel_prefix(key_prefix)
    thread_keys = {
        work_key(key_prefix, ref),
        conversation_key(key_prefix),
        f"{channel}:decision:{decision.id}",
        f"{channel}:decision:{decision.id}:versions",
    }
    assert prefix_keys(redis_client, key_prefix) == {
        *thread_keys,
        f"{channel}:decisions",
        f"{channel}:activity",
        f"{channel}:rules",
        f"{key_prefix}:channels",
        f"{key_prefix}:work:pending",
        f"{key_prefix}:person:{{{T}:U0001}}:decisions",  # the requester's, for their Home tab
    }
    assert work_key(key_prefix, ref) == f"{channel}:work:message.1741000000.000200"
    assert {key_slot(key.encode()) for key in thread_keys} == {key_slot(f"{T}:{C}".encode())}
    assert redis_client.zscore(f"{key_prefix}:work:pending", f"{T}:{C}:message.1741000000.000200") is not None


# Validation


@pytest.mark.parametrize("bad", ["", "a b", "k{x}", "k}", "k*", "k\n", "ç", "../k", "k" * 101])
def test_invalid_work_keys_are_rejected_before_redis(offline: Threads, bad: str) -> None:
    ref = WorkRef(T, C, bad)
    with pytest.raises(ValueError, match="invalid work key"):
        offline.claim(ref, event_id="Ev1", payload=payload())
    with pytest.raises(ValueError, match="invalid work key"):
        offline.take_over(ref)
    with pytest.raises(ValueError, match="invalid work key"):
        offline.finish(Claim(ClaimStatus.NEW, ref, token="t"))
    with pytest.raises(ValueError, match="invalid work key"):
        record(offline, Claim(ClaimStatus.NEW, ref, token="t"), conversation=Conversation())


@pytest.mark.parametrize("bad", ["", "1741000000", "1741000000.", "1741000000.1:x", "a.b", "1.2.3", "1" * 17 + ".1"])
def test_invalid_thread_ts_are_rejected_before_redis(offline: Threads, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid message ts"):
        offline.conversation(workspace=T, channel=C, thread_ts=bad)
    with pytest.raises(ValueError, match="invalid message ts"):
        offline.record(
            Claim(ClaimStatus.NEW, message(), token="t"),
            thread_ts=bad,
            conversation=Conversation(),
            outbox={},
            decision_id="D1",
        )
    with pytest.raises(ValueError, match="invalid message ts"):
        offline.claim(message(), event_id="Ev1", payload=payload(), verdict_thread=bad)


@pytest.mark.parametrize("bad", ["", "c0001", "C0001:evil", "C0001}", "{C0001}", "C*", "C 1", "Ç1", "C" * 65])
def test_invalid_ids_are_rejected_before_redis(offline: Threads, bad: str) -> None:
    held = Claim(ClaimStatus.NEW, message(), token="t")
    for ref in (message(channel=bad), message(workspace=bad)):
        with pytest.raises(ValueError, match="invalid"):
            offline.claim(ref, event_id="Ev1", payload=payload())
        with pytest.raises(ValueError, match="invalid"):
            offline.take_over(ref)
        with pytest.raises(ValueError, match="invalid"):
            offline.finish(Claim(ClaimStatus.NEW, ref, token="t"))
    with pytest.raises(ValueError, match="invalid channel"):
        offline.conversation(workspace=T, channel=bad, thread_ts=THREAD)
    with pytest.raises(ValueError, match="invalid decision"):
        offline.record(held, thread_ts=THREAD, conversation=Conversation(), outbox={}, decision_id=bad)


def test_valid_calls_do_reach_redis(offline: Threads) -> None:
    # The check on the tests above: the offline store fails differently once the arguments are valid.
    with pytest.raises(StoreUnavailable):
        offline.claim(message(), event_id="Ev1", payload=payload())
    with pytest.raises(StoreUnavailable):
        offline.conversation(workspace=T, channel=C, thread_ts=THREAD)


@pytest.mark.parametrize(
    ("lease", "claim_ttl"),
    [
        (timedelta(seconds=30), timedelta(seconds=30)),
        (timedelta(seconds=31), timedelta(seconds=30)),
        (timedelta(days=2), timedelta(days=1)),
    ],
)
def test_a_lease_must_be_shorter_than_the_claim(
    redis_client: redis.Redis, lease: timedelta, claim_ttl: timedelta
) -> None:
    with pytest.raises(ValueError, match="outlive"):
        WorkQueue(redis_client, lease=lease, claim_ttl=claim_ttl)


def test_a_lease_just_shorter_than_the_claim_is_accepted(redis_client: redis.Redis) -> None:
    store = WorkQueue(redis_client, lease=timedelta(seconds=30) - timedelta(milliseconds=1), claim_ttl=CLAIM_TTL)
    assert store.lease < store.claim_ttl


@pytest.mark.parametrize("field", ["conversation_ttl", "retention", "claim_ttl", "lease"])
def test_durations_below_a_millisecond_are_rejected(redis_client: redis.Redis, field: str) -> None:
    with pytest.raises(ValueError, match="millisecond"):
        WorkQueue(redis_client, **{field: timedelta(0)})


@pytest.mark.parametrize("prefix", ["", "a{b}", "a b", "a*"])
def test_bad_prefixes_are_rejected(redis_client: redis.Redis, prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        ThreadStore(redis_client, prefix=prefix)


def test_a_client_without_decoded_responses_is_rejected(redis_url: str, redis_mode: str) -> None:
    client = undecoded_client(redis_url, redis_mode)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            ThreadStore(client)
    finally:
        client.close()


# Cooldowns


def test_a_cooldown_is_held_by_one_holder_until_it_runs_out(threads: Threads) -> None:
    def hold(holder: str, name: str = "rereview.D1.U1") -> bool:
        return threads.hold_cooldown(
            workspace="T1", channel="C1", name=name, holder=holder, ttl=timedelta(milliseconds=300)
        )

    assert hold("first")
    assert hold("first")  # a retry of the same work
    assert not hold("second")
    assert hold("other", name="rereview.D1.U2")
    time.sleep(0.4)
    assert hold("second")


def test_a_cooldown_name_cannot_address_other_keys(threads: Threads) -> None:
    with pytest.raises(ValueError, match="cooldown"):
        threads.hold_cooldown(workspace="T1", channel="C1", name="x}:y z", holder="h", ttl=timedelta(seconds=1))
