"""Contract tests of DecisionStore against a real Redis server (REDIS_URL, or the embedded one)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import redis
from redis.crc import key_slot

from bot.store import (
    Decision,
    DecisionExists,
    DecisionNotFound,
    DecisionStore,
    Delivery,
    DeliveryStatus,
    NewVersion,
    Trigger,
    Version,
    connect_redis,
    new_decision_id,
)
from tests.redis_support import REDIS_MODES, redis_url_of, undecoded_client
from tests.store_support import append_version

T = "T0001"
C = "C0001"
NOW = datetime(2025, 3, 3, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(scope="module", params=REDIS_MODES)
def redis_mode(request: pytest.FixtureRequest) -> str:
    """Every test here runs on a standalone Redis and on a Redis Cluster of three masters."""
    return str(request.param)


@pytest.fixture(scope="module")
def redis_url(redis_mode: str, request: pytest.FixtureRequest) -> str:
    return redis_url_of(request, redis_mode)


def new_version(*, verdict: str = "fine-tune", by: str = "U0001", trigger: Trigger = Trigger.SUBMIT) -> NewVersion:
    return NewVersion(
        answers={"examples": 5000, "tried_rag": True, "task": "classify <tickets> & route"},
        verdict=verdict,
        next_step="Collect 500 more labelled examples.",
        decided_by="enough-data",
        fired=["enough-data", "prompting-plateaued"],
        ruleset_version="2025.03",
        ruleset_sha256="ab" * 32,
        by=by,
        trigger=trigger,
    )


def create(store: DecisionStore, *, channel: str = C, workspace: str = T, at: datetime = NOW) -> Decision:
    return store.create_decision(workspace=workspace, channel=channel, requester="U0001", version=new_version(), now=at)


def prefix_keys(client: redis.Redis, prefix: str) -> set[str]:
    return {str(key) for key in client.scan_iter(match=f"{prefix}*", count=1000)}


# Create and read


def test_create_returns_and_stores_exactly_the_given_fields(store: DecisionStore) -> None:
    created = store.create_decision(
        workspace=T, channel=C, requester="U0002", version=new_version(), decision_id="D1", now=NOW
    )

    expected = Decision(
        id="D1",
        workspace=T,
        channel=C,
        requester="U0002",
        created_at=NOW,
        delivery=Delivery(status=DeliveryStatus.PENDING),
        versions=[
            Version(
                number=1,
                answers={"examples": 5000, "tried_rag": True, "task": "classify <tickets> & route"},
                verdict="fine-tune",
                next_step="Collect 500 more labelled examples.",
                decided_by="enough-data",
                fired=["enough-data", "prompting-plateaued"],
                ruleset_version="2025.03",
                ruleset_sha256="ab" * 32,
                by="U0001",
                at=NOW,
                trigger=Trigger.SUBMIT,
            )
        ],
    )
    assert created == expected
    assert store.decision(workspace=T, channel=C, decision_id="D1") == expected
    assert created.latest == expected.versions[0]


def test_timestamps_are_normalised_to_utc(store: DecisionStore) -> None:
    paris = timezone(timedelta(hours=1))
    created = create(store, at=NOW.astimezone(paris))

    stored = store.decision(workspace=T, channel=C, decision_id=created.id)

    assert stored is not None
    assert stored.created_at == NOW
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.latest.at.utcoffset() == timedelta(0)


def test_naive_times_are_rejected(store: DecisionStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        create(store, at=datetime(2025, 3, 3, 9, 30))


def test_generated_ids_are_unique_sortable_and_slack_id_shaped(store: DecisionStore) -> None:
    ids = [create(store, at=NOW + timedelta(milliseconds=i)).id for i in range(20)]

    assert len(set(ids)) == 20
    assert ids == sorted(ids)
    assert all(len(i) == 26 and i.isalnum() and i.isupper() for i in ids)
    assert new_decision_id(NOW)[:10] == new_decision_id(NOW)[:10]  # the time part comes first


def test_an_existing_id_cannot_be_created_again(store: DecisionStore) -> None:
    store.create_decision(workspace=T, channel=C, requester="U1", version=new_version(), decision_id="D1", now=NOW)

    with pytest.raises(DecisionExists):
        store.create_decision(
            workspace=T, channel=C, requester="U2", version=new_version(verdict="other"), decision_id="D1"
        )

    stored = store.decision(workspace=T, channel=C, decision_id="D1")
    assert stored is not None
    assert stored.requester == "U1"
    assert [v.verdict for v in stored.versions] == ["fine-tune"]


def test_unknown_decision_reads_as_none(store: DecisionStore) -> None:
    create(store)

    assert store.decision(workspace=T, channel=C, decision_id="NOPE") is None
    assert store.decision(workspace=T, channel="C0002", decision_id="NOPE") is None


# Versions


def test_versions_are_appended_and_numbered_by_position(store: DecisionStore) -> None:
    created = create(store)

    second = append_version(
        store,
        workspace=T,
        channel=C,
        decision_id=created.id,
        version=new_version(verdict="try-rag", by="U0009", trigger=Trigger.EDIT),
        now=NOW + timedelta(hours=1),
    )
    third = append_version(
        store, workspace=T, channel=C, decision_id=created.id, version=new_version(trigger=Trigger.FOLLOW_UP)
    )

    stored = store.decision(workspace=T, channel=C, decision_id=created.id)
    assert stored is not None
    assert [v.number for v in stored.versions] == [1, 2, 3]
    assert stored.versions[0] == created.versions[0]  # never rewritten
    assert stored.versions[1] == second
    assert stored.versions[2] == third
    assert (second.verdict, second.by, second.trigger, second.at) == (
        "try-rag",
        "U0009",
        Trigger.EDIT,
        NOW + timedelta(hours=1),
    )
    assert stored.latest == third
    assert third.at.tzinfo is not None


def test_appending_to_an_unknown_decision_fails_and_writes_nothing(
    store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    with pytest.raises(DecisionNotFound):
        append_version(store, workspace=T, channel=C, decision_id="NOPE", version=new_version())

    assert prefix_keys(redis_client, key_prefix) == set()


# Delivery and threads


def test_new_decisions_are_pending_delivery(store: DecisionStore) -> None:
    assert create(store).delivery == Delivery(status=DeliveryStatus.PENDING)


def test_posted_delivery_is_recorded_and_its_thread_finds_the_decision(store: DecisionStore) -> None:
    created = create(store)
    delivery = Delivery(status=DeliveryStatus.POSTED, channel=C, ts="1741000000.000100", at=NOW)

    store.record_delivery(workspace=T, channel=C, decision_id=created.id, delivery=delivery)

    stored = store.decision(workspace=T, channel=C, decision_id=created.id)
    assert stored is not None
    assert stored.delivery == delivery
    assert store.decision_for_thread(workspace=T, channel=C, thread_ts="1741000000.000100") == stored
    assert store.decision_for_thread(workspace=T, channel=C, thread_ts="1741000000.000101") is None
    assert store.decision_for_thread(workspace=T, channel="C0002", thread_ts="1741000000.000100") is None


def test_a_dm_delivery_is_found_from_the_dm_thread(store: DecisionStore) -> None:
    created = create(store)
    failed = Delivery(status=DeliveryStatus.FAILED, error="not_in_channel", at=NOW)
    store.record_delivery(workspace=T, channel=C, decision_id=created.id, delivery=failed)
    assert store.decision_for_thread(workspace=T, channel=C, thread_ts="1741000000.000200") is None

    dm = Delivery(status=DeliveryStatus.POSTED, channel="D0001", ts="1741000000.000200", at=NOW)
    store.record_delivery(workspace=T, channel=C, decision_id=created.id, delivery=dm)

    found = store.decision_for_thread(workspace=T, channel="D0001", thread_ts="1741000000.000200")
    assert found is not None
    assert (found.id, found.channel, found.delivery) == (created.id, C, dm)
    assert store.decision_for_thread(workspace=T, channel=C, thread_ts="1741000000.000200") is None


def test_delivery_to_an_unknown_decision_fails_and_indexes_nothing(store: DecisionStore) -> None:
    delivery = Delivery(status=DeliveryStatus.POSTED, channel=C, ts="1741000000.000100", at=NOW)

    with pytest.raises(DecisionNotFound):
        store.record_delivery(workspace=T, channel=C, decision_id="NOPE", delivery=delivery)

    assert store.decision_for_thread(workspace=T, channel=C, thread_ts="1741000000.000100") is None


def test_a_posted_delivery_needs_channel_and_ts(store: DecisionStore) -> None:
    created = create(store)

    with pytest.raises(ValueError, match="channel and ts"):
        store.record_delivery(
            workspace=T, channel=C, decision_id=created.id, delivery=Delivery(status=DeliveryStatus.POSTED)
        )


# Ranges


def test_decisions_between_includes_start_and_excludes_end(store: DecisionStore) -> None:
    start = NOW
    end = NOW + timedelta(days=7)
    at_start = create(store, at=start)
    inside = create(store, at=start + timedelta(days=3))
    just_before_end = create(store, at=end - timedelta(microseconds=1))
    create(store, at=start - timedelta(microseconds=1))
    create(store, at=end)

    found = store.decisions_between(workspace=T, channel=C, start=start, end=end)

    assert [d.id for d in found] == [at_start.id, inside.id, just_before_end.id]
    assert found[0] == at_start


def test_decisions_between_is_per_channel_and_workspace(store: DecisionStore) -> None:
    mine = create(store)
    create(store, channel="C0002")
    create(store, workspace="T0002")

    found = store.decisions_between(workspace=T, channel=C, start=NOW - timedelta(days=1), end=NOW + timedelta(days=1))

    assert [d.id for d in found] == [mine.id]
    assert store.decisions_between(workspace=T, channel="C0003", start=NOW, end=NOW + timedelta(days=1)) == []
    assert store.channels_with_decisions() == [(T, C), (T, "C0002"), ("T0002", C)]


def test_decisions_between_orders_oldest_first(store: DecisionStore) -> None:
    later = create(store, at=NOW + timedelta(hours=2))
    earlier = create(store, at=NOW + timedelta(hours=1))

    found = store.decisions_between(workspace=T, channel=C, start=NOW, end=NOW + timedelta(days=1))

    assert [d.id for d in found] == [earlier.id, later.id]


# Keys and values


@pytest.mark.parametrize(
    "bad",
    ["", "c0001", "C0001:evil", "C0001}", "{C0001}", "C*", "C 1", "C\n1", "../C1", "Ç1", "C" * 65],
)
def test_ids_that_could_address_other_keys_are_rejected(store: DecisionStore, bad: str) -> None:
    version = new_version()
    with pytest.raises(ValueError, match="invalid"):
        store.create_decision(workspace=T, channel=bad, requester="U1", version=version)
    with pytest.raises(ValueError, match="invalid"):
        store.create_decision(workspace=bad, channel=C, requester="U1", version=version)
    with pytest.raises(ValueError, match="invalid"):
        store.create_decision(workspace=T, channel=C, requester="U1", version=version, decision_id=bad)
    with pytest.raises(ValueError, match="invalid"):
        store.decision(workspace=T, channel=C, decision_id=bad)
    with pytest.raises(ValueError, match="invalid"):
        append_version(store, workspace=T, channel=bad, decision_id="D1", version=version)
    with pytest.raises(ValueError, match="invalid"):
        store.decision_for_thread(workspace=T, channel=bad, thread_ts="1741000000.000100")
    with pytest.raises(ValueError, match="invalid"):
        store.decisions_between(workspace=bad, channel=C, start=NOW, end=NOW)


def test_bad_thread_ts_and_delivery_channel_are_rejected(store: DecisionStore) -> None:
    created = create(store)
    with pytest.raises(ValueError, match="invalid message ts"):
        store.decision_for_thread(workspace=T, channel=C, thread_ts="1741000000.1:x")
    with pytest.raises(ValueError, match="invalid channel"):
        store.record_delivery(
            workspace=T,
            channel=C,
            decision_id=created.id,
            delivery=Delivery(status=DeliveryStatus.POSTED, channel="D1}x", ts="1741000000.000100"),
        )


@pytest.mark.parametrize("prefix", ["", "a{b}", "a b", "a*"])
def test_bad_prefixes_are_rejected(redis_client: redis.Redis, prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        DecisionStore(redis_client, prefix=prefix)


def test_a_client_without_decoded_responses_is_rejected(redis_url: str, redis_mode: str) -> None:
    client = undecoded_client(redis_url, redis_mode)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            DecisionStore(client)
    finally:
        client.close()


def test_key_layout_and_one_slot_per_channel(store: DecisionStore, redis_client: redis.Redis, key_prefix: str) -> None:
    created = create(store)
    append_version(store, workspace=T, channel=C, decision_id=created.id, version=new_version())
    dm = Delivery(status=DeliveryStatus.POSTED, channel="D0001", ts="1741000000.000200", at=NOW)
    store.record_delivery(workspace=T, channel=C, decision_id=created.id, delivery=dm)

    channel = f"{key_prefix}:{{{T}:{C}}}"
    # The second version was recorded as the bot records one: a claimed job's record step, which also leaves the
    # job's claim (marked done) and the thread's conversation, both in the channel's slot.
    keys = prefix_keys(redis_client, key_prefix)
    job_keys = {key for key in keys if key.startswith((f"{channel}:work:", f"{channel}:conversation:"))}
    assert len(job_keys) == 2
    assert keys - job_keys == {
        f"{channel}:decision:{created.id}",
        f"{channel}:decision:{created.id}:versions",
        f"{channel}:decisions",
        f"{channel}:activity",
        f"{channel}:rules",
        f"{key_prefix}:{{{T}:D0001}}:threads",
        f"{key_prefix}:channels",
        f"{key_prefix}:person:{{{T}:U0001}}:decisions",  # the requester's, for their Home tab: their own slot
    }
    channel_keys = [key for key in keys if key.startswith(channel)]
    assert len(channel_keys) == 7
    assert {key_slot(key.encode()) for key in channel_keys} == {key_slot(f"{T}:{C}".encode())}
    assert redis_client.smembers(f"{key_prefix}:channels") == {f"{T}:{C}"}


def test_values_are_json(store: DecisionStore, redis_client: redis.Redis, key_prefix: str) -> None:
    created = create(store)
    dm = Delivery(status=DeliveryStatus.POSTED, channel="D0001", ts="1741000000.000200", at=NOW)
    store.record_delivery(workspace=T, channel=C, decision_id=created.id, delivery=dm)
    channel = f"{key_prefix}:{{{T}:{C}}}"

    fields = redis_client.hgetall(f"{channel}:decision:{created.id}")
    meta = json.loads(fields["meta"])
    assert meta == {
        "id": created.id,
        "workspace": T,
        "channel": C,
        "requester": "U0001",
        "created_at": "2025-03-03T09:30:15.123456Z",
    }
    assert json.loads(fields["delivery"]) == {
        "status": "posted",
        "channel": "D0001",
        "ts": "1741000000.000200",
        "error": None,
        "at": "2025-03-03T09:30:15.123456Z",
    }
    [version] = redis_client.lrange(f"{channel}:decision:{created.id}:versions", 0, -1)
    assert json.loads(version)["trigger"] == "submit"
    assert json.loads(version)["at"] == "2025-03-03T09:30:15.123456Z"
    assert json.loads(version)["answers"]["task"] == "classify <tickets> & route"
    assert redis_client.zscore(f"{channel}:decisions", created.id) == NOW.timestamp()
    assert json.loads(redis_client.hget(f"{key_prefix}:{{{T}:D0001}}:threads", "1741000000.000200") or "") == {
        "channel": C,
        "decision": created.id,
    }


def test_ping(store: DecisionStore) -> None:
    assert store.ping() is True


def test_ping_is_false_when_redis_is_unreachable() -> None:
    client = connect_redis("unix:///nonexistent/sf-test.sock", socket_timeout=0.1, retries=0)
    try:
        assert DecisionStore(client).ping() is False
    finally:
        client.close()


# Retention


def test_a_created_decision_expires_after_its_retention(
    store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    created = create(store)
    key = f"{key_prefix}:{{{T}:{C}}}:decision:{created.id}"

    full = int(store.retention / timedelta(milliseconds=1))
    assert store.retention == timedelta(days=365)
    for each in (key, f"{key}:versions"):
        assert full - 10_000 < redis_client.pttl(each) <= full


def test_appending_a_version_restarts_the_retention(
    store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    created = create(store)
    key = f"{key_prefix}:{{{T}:{C}}}:decision:{created.id}"
    for each in (key, f"{key}:versions"):
        redis_client.pexpire(each, 5_000)  # as if the decision were about to expire

    append_version(store, workspace=T, channel=C, decision_id=created.id, version=new_version(trigger=Trigger.EDIT))

    full = int(store.retention / timedelta(milliseconds=1))
    for each in (key, f"{key}:versions"):
        assert full - 10_000 < redis_client.pttl(each) <= full


def test_retention_below_a_second_is_rejected(redis_client: redis.Redis, key_prefix: str) -> None:
    with pytest.raises(ValueError, match="at least one second"):
        DecisionStore(redis_client, prefix=key_prefix, retention=timedelta(milliseconds=999))


def test_an_expired_decision_is_gone_and_its_thread_reference_is_dropped(
    store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    short = DecisionStore(redis_client, prefix=key_prefix, retention=timedelta(seconds=1))
    expiring = create(short)
    kept = create(store)
    threads_key = f"{key_prefix}:{{{T}:{C}}}:threads"
    for decision, ts in ((expiring, "1741000000.000100"), (kept, "1741000000.000200")):
        delivery = Delivery(status=DeliveryStatus.POSTED, channel=C, ts=ts, at=NOW)
        short.record_delivery(workspace=T, channel=C, decision_id=decision.id, delivery=delivery)
    assert short.decision_for_thread(workspace=T, channel=C, thread_ts="1741000000.000100") is not None

    time.sleep(1.1)  # the smallest retention allowed, and a margin

    assert short.decision(workspace=T, channel=C, decision_id=expiring.id) is None
    assert redis_client.hexists(threads_key, "1741000000.000100")  # dropped when next met, not before
    assert short.decision_for_thread(workspace=T, channel=C, thread_ts="1741000000.000100") is None
    assert redis_client.hkeys(threads_key) == ["1741000000.000200"]
    found = short.decision_for_thread(workspace=T, channel=C, thread_ts="1741000000.000200")
    assert found is not None
    assert found.id == kept.id


def test_creating_a_decision_trims_index_entries_older_than_the_retention(
    store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    retention = store.retention
    too_old = create(store, at=NOW - retention - timedelta(microseconds=1))
    just_kept = create(store, at=NOW - retention)
    other_channel = create(store, channel="C0002", at=NOW - retention - timedelta(days=1))
    index = f"{key_prefix}:{{{T}:{C}}}:decisions"
    assert redis_client.zrange(index, 0, -1) == [too_old.id, just_kept.id]

    newest = create(store, at=NOW)

    assert redis_client.zrange(index, 0, -1) == [just_kept.id, newest.id]
    found = store.decisions_between(workspace=T, channel=C, start=NOW - 2 * retention, end=NOW + timedelta(days=1))
    assert [d.id for d in found] == [just_kept.id, newest.id]
    # Only the index entry goes: the decision itself expires on its own clock.
    assert store.decision(workspace=T, channel=C, decision_id=too_old.id) == too_old
    assert redis_client.zrange(f"{key_prefix}:{{{T}:C0002}}:decisions", 0, -1) == [other_channel.id]


# Messages that lead to a decision, recent decisions, rule-set snapshots


def posted(store: DecisionStore, ts: str = "1741000000.000100", *, at: datetime = NOW) -> Decision:
    created = create(store, at=at)
    delivery = Delivery(status=DeliveryStatus.POSTED, channel=C, ts=ts, at=at)
    store.record_delivery(workspace=T, channel=C, decision_id=created.id, delivery=delivery)
    found = store.decision(workspace=T, channel=C, decision_id=created.id)
    assert found is not None
    return found


def test_the_verdict_and_its_explanation_both_lead_to_the_decision(store: DecisionStore) -> None:
    decision = posted(store)
    store.record_explanation(
        workspace=T, channel=C, decision_id=decision.id, delivery=decision.delivery, ts="1741000000.000200"
    )
    for ts in ("1741000000.000100", "1741000000.000200"):
        assert store.decision_for_message(workspace=T, channel=C, ts=ts) == decision
    assert store.decision_for_message(workspace=T, channel=C, ts="1741000000.000300") is None
    assert store.decision_for_message(workspace=T, channel="C0002", ts="1741000000.000200") is None
    # The explanation is in the thread, not its start: it is no verdict thread of its own.
    assert store.decision_for_thread(workspace=T, channel=C, thread_ts="1741000000.000200") is None


def test_an_explanation_needs_a_posted_verdict(store: DecisionStore) -> None:
    created = create(store)
    with pytest.raises(ValueError, match="POSTED"):
        store.record_explanation(
            workspace=T, channel=C, decision_id=created.id, delivery=created.delivery, ts="1741000000.000200"
        )


def test_a_message_of_an_expired_decision_is_forgotten(
    store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    decision = posted(store)
    store.record_explanation(
        workspace=T, channel=C, decision_id=decision.id, delivery=decision.delivery, ts="1741000000.000200"
    )
    key = f"{key_prefix}:{{{T}:{C}}}:decision:{decision.id}"
    redis_client.delete(key, f"{key}:versions")
    assert store.decision_for_message(workspace=T, channel=C, ts="1741000000.000200") is None
    assert not redis_client.hexists(f"{key_prefix}:{{{T}:{C}}}:explanations", "1741000000.000200")
    assert store.decision_for_message(workspace=T, channel=C, ts="1741000000.000100") is None
    assert not redis_client.hexists(f"{key_prefix}:{{{T}:{C}}}:threads", "1741000000.000100")


def test_recent_decisions_are_newest_first_and_limited(store: DecisionStore) -> None:
    made = [create(store, at=NOW + timedelta(minutes=n)) for n in range(5)]
    recent = store.recent_decisions(workspace=T, channel=C, limit=3)
    assert [d.id for d in recent] == [d.id for d in reversed(made)][:3]
    assert store.recent_decisions(workspace=T, channel="C0002", limit=3) == []


def test_rule_set_snapshots_are_kept_once_by_hash(store: DecisionStore) -> None:
    sha = "cd" * 32
    assert store.ruleset_snapshot(sha) is None
    store.remember_ruleset(sha, '{"first": 1}')
    store.remember_ruleset(sha, '{"second": 2}')  # the same hash is the same rule set: the first stays
    assert store.ruleset_snapshot(sha) == '{"first": 1}'
    assert store.ruleset_snapshot("not a hash") is None
    with pytest.raises(ValueError, match="sha256"):
        store.remember_ruleset("../x", "{}")
