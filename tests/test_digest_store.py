"""The digest's storage against a real Redis: the per-channel activity log kept by DecisionStore, the batched loads
the digest relies on, and DigestStore's settings, claims and markers. Fixed clocks only."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from bot.store import (
    Decision,
    DecisionStore,
    Delivery,
    DeliveryStatus,
    NewVersion,
    Trigger,
    connect_redis,
)
from bot.store.activity import USE_CASE_CHARS
from bot.store.digests import DigestClaim, DigestStore, Done, Outcome
from tests import fixture_rules
from tests.redis_support import REDIS_MODES, redis_url_of
from tests.store_support import append_version

T = "T0001"
C = "C0001"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
SHA_OLD = "ab" * 32
TRICKY = 'He said "ship it" \\ C:\\tmp\\x <!channel> <@U0VICTIM> & *bold* 🚀 ñ 👩‍💻'
PERIOD = "2026-W10"
LOCK = timedelta(seconds=30)


@pytest.fixture(scope="module", params=REDIS_MODES)
def redis_mode(request: pytest.FixtureRequest) -> str:
    """Every test here runs on a standalone Redis and on a Redis Cluster of three masters."""
    return str(request.param)


@pytest.fixture(scope="module")
def redis_url(redis_mode: str, request: pytest.FixtureRequest) -> str:
    return redis_url_of(request, redis_mode)


def new_version(
    *,
    verdict: str = "dont-fine-tune",
    next_step: str = "few-shot",
    use_case: str = "Route support tickets",
    by: str = "U0REQ",
    trigger: Trigger = Trigger.SUBMIT,
    sha: str = SHA_OLD,
) -> NewVersion:
    return NewVersion(
        answers={"use_case": use_case, "n_stable_examples": 30},
        verdict=verdict,
        next_step=next_step,
        decided_by="too-few-examples",
        fired=["too-few-examples"],
        ruleset_version=fixture_rules.VERSION,
        ruleset_sha256=sha,
        by=by,
        trigger=trigger,
    )


def create(
    store: DecisionStore,
    *,
    at: datetime = NOW,
    use_case: str = "Route support tickets",
    requester: str = "U0REQ",
    channel: str = C,
) -> Decision:
    return store.create_decision(
        workspace=T, channel=channel, requester=requester, version=new_version(use_case=use_case), now=at
    )


def post(store: DecisionStore, decision: Decision, ts: str, *, to: str = C) -> Delivery:
    delivery = Delivery(status=DeliveryStatus.POSTED, channel=to, ts=ts, at=decision.created_at)
    store.record_delivery(workspace=T, channel=decision.channel, decision_id=decision.id, delivery=delivery)
    return delivery


def activity_key(prefix: str, channel: str = C) -> str:
    return f"{prefix}:{{{T}:{channel}}}:activity"


def prefix_keys(client: redis.Redis, prefix: str) -> set[str]:
    return {str(key) for key in client.scan_iter(match=f"{prefix}*", count=1000)}


# The activity log


def test_the_log_has_one_row_per_version_with_what_it_replaced_and_where_it_was_posted(store: DecisionStore) -> None:
    created = create(store, at=NOW, use_case=TRICKY, requester="U0REQ")
    append_version(
        store,
        workspace=T,
        channel=C,
        decision_id=created.id,
        version=new_version(
            verdict="fine-tune", next_step="fine-tune", use_case=TRICKY, by="U0REV", trigger=Trigger.RE_REVIEW
        ),
        now=NOW + timedelta(hours=2),
    )
    append_version(
        store,
        workspace=T,
        channel=C,
        decision_id=created.id,
        version=new_version(
            verdict="fine-tune", next_step="build-eval", use_case=TRICKY, by="U0EDIT", trigger=Trigger.EDIT
        ),
        now=NOW + timedelta(hours=3),
    )
    post(store, created, "1772442000.000100")

    rows = store.activity_between(workspace=T, channel=C, start=NOW, end=NOW + timedelta(days=1))

    assert [row.number for row in rows] == [1, 2, 3]
    assert [row.at for row in rows] == [
        NOW.timestamp(),
        (NOW + timedelta(hours=2)).timestamp(),
        (NOW + timedelta(hours=3)).timestamp(),
    ]
    assert {row.decision for row in rows} == {created.id}
    assert [(row.verdict, row.next_step) for row in rows] == [
        ("dont-fine-tune", "few-shot"),
        ("fine-tune", "fine-tune"),
        ("fine-tune", "build-eval"),
    ]
    assert [(row.by, row.trigger) for row in rows] == [("U0REQ", "submit"), ("U0REV", "re-review"), ("U0EDIT", "edit")]
    assert [row.requester for row in rows] == ["U0REQ", None, None]
    assert [(row.verdict_before, row.step_before) for row in rows] == [
        (None, None),
        ("dont-fine-tune", "few-shot"),  # the flip
        ("fine-tune", "fine-tune"),  # only the next step moved
    ]
    assert [(row.posted_channel, row.posted_ts) for row in rows] == [
        (C, "1772442000.000100"),
        (None, None),
        (None, None),
    ]
    assert all(row.ruleset_sha256 == SHA_OLD[:16] and row.ruleset_version == fixture_rules.VERSION for row in rows)
    # Quotes, backslashes, Slack markup and emoji come back exactly, after the Lua rewrites too.
    assert [row.use_case for row in rows] == [TRICKY] * 3


def test_recording_the_delivery_again_replaces_the_first_row(
    store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    created = create(store)
    append_version(
        store, workspace=T, channel=C, decision_id=created.id, version=new_version(), now=NOW + timedelta(minutes=5)
    )
    post(store, created, "1772442000.000100")
    post(store, created, "1772442000.000100")  # the same again: still one row
    post(store, created, "1772442999.000200")

    rows = store.activity_between(workspace=T, channel=C, start=NOW, end=NOW + timedelta(days=1))

    assert redis_client.zcard(activity_key(key_prefix)) == 2
    assert [row.number for row in rows] == [1, 2]
    first = rows[0]
    assert (first.posted_channel, first.posted_ts, first.requester, first.at) == (
        C,
        "1772442999.000200",
        "U0REQ",
        NOW.timestamp(),
    )
    raw = redis_client.zrange(activity_key(key_prefix), 0, -1, withscores=True)
    assert [score for _, score in raw] == [NOW.timestamp(), (NOW + timedelta(minutes=5)).timestamp()]
    assert '"ts":"1772442000.000100"' not in raw[0][0]


def test_a_failed_delivery_leaves_the_row_unposted(store: DecisionStore) -> None:
    created = create(store)
    failed = Delivery(status=DeliveryStatus.FAILED, error="not_in_channel", at=NOW)
    store.record_delivery(workspace=T, channel=C, decision_id=created.id, delivery=failed)

    (row,) = store.activity_between(workspace=T, channel=C, start=NOW, end=NOW + timedelta(days=1))

    assert (row.posted_channel, row.posted_ts, row.requester) == (None, None, "U0REQ")


def test_the_log_range_includes_its_start_and_excludes_its_end(store: DecisionStore) -> None:
    start, end = NOW, NOW + timedelta(days=7)
    create(store, at=start - MICRO, use_case="just before")
    at_start = create(store, at=start, use_case="at the start")
    inside = create(store, at=start + timedelta(days=3), use_case="inside")
    last = create(store, at=end - MICRO, use_case="just before the end")
    create(store, at=end, use_case="at the end")
    # A later version of a decision from before the period is in it; one written at the end is not.
    earlier = create(store, at=start - timedelta(days=1), use_case="earlier")
    append_version(
        store,
        workspace=T,
        channel=C,
        decision_id=earlier.id,
        version=new_version(use_case="earlier"),
        now=start + MICRO,
    )
    append_version(
        store, workspace=T, channel=C, decision_id=inside.id, version=new_version(use_case="inside"), now=end
    )

    rows = store.activity_between(workspace=T, channel=C, start=start, end=end)

    assert [(row.decision, row.number) for row in rows] == [
        (at_start.id, 1),
        (earlier.id, 2),
        (inside.id, 1),
        (last.id, 1),
    ]
    assert store.activity_between(workspace=T, channel="C0002", start=start, end=end) == []


def test_a_long_use_case_is_cut_in_the_row(store: DecisionStore) -> None:
    long = "🚀" + "x" * 100 + "<!channel>"
    created = create(store, use_case=long)
    append_version(
        store, workspace=T, channel=C, decision_id=created.id, version=new_version(use_case=long), now=NOW + MICRO
    )

    rows = store.activity_between(workspace=T, channel=C, start=NOW, end=NOW + timedelta(days=1))

    assert USE_CASE_CHARS == 80
    assert [row.use_case for row in rows] == [long[:80], long[:80]]
    assert len(rows[0].use_case) == 80
    stored = store.decision(workspace=T, channel=C, decision_id=created.id)
    assert stored is not None
    assert stored.versions[0].answers["use_case"] == long  # the decision itself keeps all of it


def test_a_dm_delivery_is_logged_in_the_origin_channel(
    store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    created = create(store)
    post(store, created, "1772442000.000300", to="D0REQ")

    (row,) = store.activity_between(workspace=T, channel=C, start=NOW, end=NOW + timedelta(days=1))

    assert (row.decision, row.posted_channel, row.posted_ts) == (created.id, "D0REQ", "1772442000.000300")
    assert store.activity_between(workspace=T, channel="D0REQ", start=NOW, end=NOW + timedelta(days=1)) == []
    assert not redis_client.exists(activity_key(key_prefix, "D0REQ"))
    assert store.deliveries(workspace=T, channel=C, decision_ids=[created.id, "NOPE"]) == {
        created.id: Delivery(status=DeliveryStatus.POSTED, channel="D0REQ", ts="1772442000.000300", at=NOW)
    }


# Loading many decisions


def test_more_decisions_than_one_load_script_reads_come_back_in_the_order_asked(
    store: DecisionStore, redis_client: redis.Redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [create(store, at=NOW + timedelta(seconds=n), use_case=f"use case {n}") for n in range(1_200)]
    multi = made[777]
    append_version(
        store, workspace=T, channel=C, decision_id=multi.id, version=new_version(verdict="fine-tune"), now=NOW + MICRO
    )
    # Deleted decisions, at the edges of the batches of 500.
    gone = {made[i].id for i in (0, 499, 500, 999, 1_199)}
    for decision_id in gone:
        key = f"{key_prefix}:{{{T}:{C}}}:decision:{decision_id}"
        redis_client.delete(key, f"{key}:versions")
    # And ones that really expired, interleaved.
    short = DecisionStore(redis_client, prefix=key_prefix, retention=timedelta(seconds=1))
    expired = [short.create_decision(workspace=T, channel=C, requester="U0X", version=new_version(), now=NOW).id]
    expired.append(short.create_decision(workspace=T, channel=C, requester="U0X", version=new_version(), now=NOW).id)
    time.sleep(1.1)

    asked = [d.id for d in made]
    random.Random(7).shuffle(asked)
    asked[600:600] = [expired[0], "NEVER0001"]
    asked.insert(3, expired[1])

    scripts: list[int] = []
    load = store._load_script

    def counted(*, keys: list[str]) -> Any:
        scripts.append(len(keys))
        return load(keys=keys)

    monkeypatch.setattr(store, "_load_script", counted)  # a spy: the real script still runs on the real server

    found = store.decisions(workspace=T, channel=C, decision_ids=asked)

    assert scripts == [1_000, 1_000, 406]  # two keys a decision, 500 decisions a script

    kept = [i for i in asked if i not in gone and i not in expired and i != "NEVER0001"]
    assert len(kept) == 1_195
    assert [d.id for d in found] == kept
    by_id = {d.id: d for d in made}
    for decision in found:
        if decision.id != multi.id:
            assert decision == by_id[decision.id]
    loaded_multi = next(d for d in found if d.id == multi.id)
    assert [(v.number, v.verdict) for v in loaded_multi.versions] == [(1, "dont-fine-tune"), (2, "fine-tune")]
    # The ranged reads load the same way.
    between = store.decisions_between(workspace=T, channel=C, start=NOW, end=NOW + timedelta(hours=1))
    assert [d.id for d in between] == [d.id for d in made if d.id not in gone]
    recent = store.recent_decisions(workspace=T, channel=C, limit=2_000)
    assert [d.id for d in recent] == [d.id for d in reversed(made) if d.id not in gone]
    assert store.decisions(workspace=T, channel=C, decision_ids=[]) == []


def test_channels_with_decisions_include_added_ones(store: DecisionStore) -> None:
    create(store, channel="C0002")
    store.add_channel(workspace=T, channel="C0003")
    store.add_channel(workspace=T, channel="C0002")

    assert store.channels_with_decisions() == [(T, "C0002"), (T, "C0003")]
    with pytest.raises(ValueError, match="invalid"):
        store.add_channel(workspace=T, channel="C0003}x")


# The rules hash: which rule set decided each decision's latest version


SHA_NEW = "cd" * 32


def rules_key(prefix: str, channel: str = C) -> str:
    return f"{prefix}:{{{T}:{channel}}}:rules"


def test_stale_lists_the_decisions_whose_latest_version_other_rules_decided_oldest_first(
    store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    old = [create(store, at=NOW - timedelta(days=40 - i)) for i in range(3)]  # weeks before any digest period
    redone = create(store, at=NOW - timedelta(days=2))
    append_version(store, workspace=T, channel=C, decision_id=redone.id, version=new_version(sha=SHA_NEW), now=NOW)
    new = store.create_decision(workspace=T, channel=C, requester="U0REQ", version=new_version(sha=SHA_NEW), now=NOW)
    back = create(store, at=NOW - timedelta(days=1))  # decided under the new rules, then again under the old
    append_version(store, workspace=T, channel=C, decision_id=back.id, version=new_version(sha=SHA_NEW), now=NOW)
    append_version(store, workspace=T, channel=C, decision_id=back.id, version=new_version(sha=SHA_OLD), now=NOW)

    assert [d.id for d in store.stale(workspace=T, channel=C, ruleset_sha256=SHA_NEW)] == [
        *(d.id for d in old),
        back.id,
    ]
    assert [d.id for d in store.stale(workspace=T, channel=C, ruleset_sha256=SHA_OLD)] == [redone.id, new.id]
    assert [len(d.versions) for d in store.stale(workspace=T, channel=C, ruleset_sha256=SHA_OLD)] == [2, 1]
    assert store.stale(workspace=T, channel="C0EMPTY", ruleset_sha256=SHA_OLD) == []
    # A new channel's hash is complete from its first decision: no log to read.
    assert redis_client.hget(rules_key(key_prefix), "~") == "1"
    assert redis_client.hget(rules_key(key_prefix), new.id) == SHA_NEW[:16]


def test_stale_drops_the_entries_of_decisions_past_their_retention(
    store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    kept, gone = create(store), create(store, at=NOW + MICRO)
    decision_key = f"{key_prefix}:{{{T}:{C}}}:decision:{gone.id}"
    redis_client.delete(decision_key, f"{decision_key}:versions")  # as their expiry does

    assert [d.id for d in store.stale(workspace=T, channel=C, ruleset_sha256=SHA_NEW)] == [kept.id]
    assert not redis_client.hexists(rules_key(key_prefix), gone.id)
    assert redis_client.hexists(rules_key(key_prefix), kept.id)


def test_a_channel_written_before_the_rules_hash_existed_gets_it_from_its_log(
    store: DecisionStore, redis_client: redis.Redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [create(store, at=NOW + i * MICRO) for i in range(12)]
    for decision in made[::3]:
        append_version(store, workspace=T, channel=C, decision_id=decision.id, version=new_version(sha=SHA_NEW))
    expected = {d.id for i, d in enumerate(made) if i % 3}
    redis_client.delete(rules_key(key_prefix))  # as an older version of the bot left it
    # Written meanwhile, so newer than the log: kept as it is.
    redis_client.hset(rules_key(key_prefix), made[1].id, SHA_NEW[:16])
    expected.discard(made[1].id)

    monkeypatch.setattr("bot.store.decisions._INDEX_CHUNK", 5)  # several overlapping reads of the log
    monkeypatch.setattr("bot.store.decisions._INDEX_OVERLAP", 2)
    found = store.stale(workspace=T, channel=C, ruleset_sha256=SHA_NEW)

    assert {d.id for d in found} == expected
    assert redis_client.hget(rules_key(key_prefix), "~") == "1"
    assert redis_client.hlen(rules_key(key_prefix)) == 13
    assert redis_client.pttl(rules_key(key_prefix)) > 0
    # From now on the hash is read alone.
    redis_client.delete(activity_key(key_prefix))
    assert {d.id for d in store.stale(workspace=T, channel=C, ruleset_sha256=SHA_NEW)} == expected


# DigestStore: settings


@pytest.fixture
def digests(redis_client: redis.Redis, key_prefix: str) -> DigestStore:
    return DigestStore(redis_client, prefix=key_prefix)


def other_runner(redis_client: redis.Redis, key_prefix: str) -> DigestStore:
    """Another runner: its own store object (its claims have their own tokens)."""
    return DigestStore(redis_client, prefix=key_prefix)


def test_the_digest_is_on_by_default_and_can_be_turned_off_and_on(digests: DigestStore) -> None:
    assert digests.enabled(workspace=T, channel=C)

    digests.set_enabled(workspace=T, channel=C, enabled=False, by="U0ADMIN")
    assert not digests.enabled(workspace=T, channel=C)
    assert digests.enabled(workspace=T, channel="C0002")

    digests.set_enabled(workspace=T, channel=C, enabled=True, by="U0ADMIN")
    assert digests.enabled(workspace=T, channel=C)


def test_pending_skips_channels_turned_off_and_periods_done(digests: DigestStore) -> None:
    channels = [(T, "C0001"), (T, "C0002"), (T, "C0003"), ("T0002", "C0001")]
    digests.set_enabled(workspace=T, channel="C0002", enabled=False, by="U0ADMIN")
    claim = digests.claim(workspace=T, channel="C0003", period=PERIOD, ttl=LOCK)
    assert isinstance(claim, DigestClaim)
    assert digests.pending(channels, PERIOD) == channels[:1] + channels[2:]  # a held claim is still pending
    assert digests.finish(claim, Outcome.SENT, ts="1772442000.000100")

    assert digests.pending(channels, PERIOD) == [(T, "C0001"), ("T0002", "C0001")]
    assert digests.pending(channels, "2026-W11") == [(T, "C0001"), (T, "C0003"), ("T0002", "C0001")]
    assert digests.pending([], PERIOD) == []


# DigestStore: claims


def test_one_claim_at_a_time_then_a_marker(digests: DigestStore, redis_client: redis.Redis, key_prefix: str) -> None:
    other = other_runner(redis_client, key_prefix)

    claim = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert isinstance(claim, DigestClaim)
    assert (claim.workspace, claim.channel, claim.period) == (T, C, PERIOD)
    assert (claim.summary_ts, claim.posted, claim.attempts) == (None, 0, 0)
    assert other.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK) is None
    assert digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK) is None  # not even the same runner twice
    assert digests.done(workspace=T, channel=C, period=PERIOD) is None
    # Other periods and channels are claimed apart.
    assert isinstance(other.claim(workspace=T, channel=C, period="2026-W11", ttl=LOCK), DigestClaim)
    assert isinstance(other.claim(workspace=T, channel="C0002", period=PERIOD, ttl=LOCK), DigestClaim)

    assert digests.keep(claim, ttl=LOCK, summary_ts="1772442000.000100", posted=1)
    assert digests.finish(claim, Outcome.SENT, ts="1772442000.000100")

    for runner in (digests, other):
        done = runner.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
        assert isinstance(done, Done)
        assert (done.outcome, done.ts, done.error) == (Outcome.SENT, "1772442000.000100", None)
        assert done.at.tzinfo is not None
    assert digests.done(workspace=T, channel=C, period=PERIOD) == done
    assert not digests.keep(claim, ttl=LOCK, posted=2)  # done: nothing more to record
    assert not digests.finish(claim, Outcome.FAILED, error="late")  # the first marker stays
    assert digests.done(workspace=T, channel=C, period=PERIOD) == done
    base = f"{key_prefix}:{{{T}:{C}}}:digest:{PERIOD}"
    assert not redis_client.exists(f"{base}:lock", f"{base}:progress")


def test_a_failed_marker_keeps_its_error(digests: DigestStore) -> None:
    claim = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert isinstance(claim, DigestClaim)
    assert digests.finish(claim, Outcome.FAILED, error="channel_not_found")

    done = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)

    assert isinstance(done, Done)
    assert (done.outcome, done.ts, done.error) == (Outcome.FAILED, None, "channel_not_found")


def test_an_expired_lock_passes_to_the_next_runner_with_the_progress_so_far(
    digests: DigestStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    other = other_runner(redis_client, key_prefix)
    first = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert isinstance(first, DigestClaim)
    assert digests.keep(first, ttl=LOCK, summary_ts="1772442000.000100")
    assert other.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK) is None
    # The last renewal is short, and the runner dies after it.
    assert digests.keep(first, ttl=timedelta(milliseconds=200), posted=3)

    time.sleep(0.3)

    second = other.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert isinstance(second, DigestClaim)
    assert (second.summary_ts, second.posted, second.attempts) == ("1772442000.000100", 3, 0)
    assert second.token != first.token
    assert not digests.keep(first, ttl=LOCK, posted=4)  # the first runner lost it and records nothing
    assert other.keep(second, ttl=LOCK, posted=5)
    third = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert third is None


def test_releasing_counts_the_attempt_or_forgets_the_claim(
    digests: DigestStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    base = f"{key_prefix}:{{{T}:{C}}}:digest:{PERIOD}"
    claim = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert isinstance(claim, DigestClaim)
    assert digests.keep(claim, ttl=LOCK, summary_ts="1772442000.000100", posted=2)
    assert digests.release(claim, count=True)
    assert not digests.release(claim, count=True)  # released once only

    again = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert isinstance(again, DigestClaim)
    assert (again.summary_ts, again.posted, again.attempts) == ("1772442000.000100", 2, 1)
    assert digests.release(again)  # counting is the default
    third = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert isinstance(third, DigestClaim)
    assert third.attempts == 2

    assert digests.release(third, count=False)
    assert not redis_client.exists(f"{base}:lock", f"{base}:progress", base)
    fresh = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert isinstance(fresh, DigestClaim)
    assert (fresh.summary_ts, fresh.posted, fresh.attempts) == (None, 0, 0)


def test_a_lost_claim_cannot_be_released(digests: DigestStore, redis_client: redis.Redis, key_prefix: str) -> None:
    short = timedelta(milliseconds=200)
    first = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=short)
    assert isinstance(first, DigestClaim)
    time.sleep(0.3)
    second = other_runner(redis_client, key_prefix).claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert isinstance(second, DigestClaim)

    assert not digests.release(first, count=False)
    assert digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK) is None  # the second still holds it


def test_a_marker_with_a_short_ttl_expires(digests: DigestStore) -> None:
    claim = digests.claim(workspace=T, channel=C, period="now", ttl=LOCK)
    assert isinstance(claim, DigestClaim)
    assert digests.finish(claim, Outcome.QUIET, ttl=timedelta(milliseconds=200))
    done = digests.done(workspace=T, channel=C, period="now")
    assert done is not None
    assert done.outcome is Outcome.QUIET

    time.sleep(0.3)

    assert digests.done(workspace=T, channel=C, period="now") is None
    assert isinstance(digests.claim(workspace=T, channel=C, period="now", ttl=LOCK), DigestClaim)


def test_the_default_marker_lasts_sixty_days(digests: DigestStore, redis_client: redis.Redis, key_prefix: str) -> None:
    claim = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert isinstance(claim, DigestClaim)
    digests.finish(claim, Outcome.SENT, ts="1772442000.000100")

    left = redis_client.pttl(f"{key_prefix}:{{{T}:{C}}}:digest:{PERIOD}")

    sixty_days = int(timedelta(days=60) / timedelta(milliseconds=1))
    assert sixty_days - 10_000 < left <= sixty_days


@pytest.mark.parametrize("bad", ["", "2026-W1", "2026-w01", "2026W01", "2026-W01:lock", "2026-W01x", "NOW", "later"])
def test_invalid_period_keys_are_rejected(digests: DigestStore, bad: str) -> None:
    claim = DigestClaim(workspace=T, channel=C, period=bad, token="0" * 24, summary_ts=None, posted=0, attempts=0)
    with pytest.raises(ValueError, match="period"):
        digests.claim(workspace=T, channel=C, period=bad, ttl=LOCK)
    with pytest.raises(ValueError, match="period"):
        digests.done(workspace=T, channel=C, period=bad)
    with pytest.raises(ValueError, match="period"):
        digests.pending([(T, C)], bad)
    with pytest.raises(ValueError, match="period"):
        digests.keep(claim, ttl=LOCK)
    with pytest.raises(ValueError, match="period"):
        digests.finish(claim, Outcome.SENT)
    with pytest.raises(ValueError, match="period"):
        digests.release(claim)


def test_bad_ids_and_progress_ts_are_rejected(digests: DigestStore) -> None:
    with pytest.raises(ValueError, match="invalid channel"):
        digests.claim(workspace=T, channel="C1}x", period=PERIOD, ttl=LOCK)
    with pytest.raises(ValueError, match="invalid workspace"):
        digests.set_enabled(workspace="t1", channel=C, enabled=False, by="U0ADMIN")
    claim = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert isinstance(claim, DigestClaim)
    with pytest.raises(ValueError, match="invalid message ts"):
        digests.keep(claim, ttl=LOCK, summary_ts="not a ts")


def test_every_digest_key_is_in_the_channels_slot(
    digests: DigestStore, store: DecisionStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    create(store)
    digests.set_enabled(workspace=T, channel=C, enabled=True, by="U0ADMIN")
    sent = digests.claim(workspace=T, channel=C, period=PERIOD, ttl=LOCK)
    assert isinstance(sent, DigestClaim)
    digests.finish(sent, Outcome.SENT, ts="1772442000.000100")
    held = digests.claim(workspace=T, channel=C, period="2026-W11", ttl=LOCK)
    assert isinstance(held, DigestClaim)
    assert digests.keep(held, ttl=LOCK, summary_ts="1772442000.000200", posted=1)
    released = digests.claim(workspace=T, channel=C, period="now", ttl=LOCK)
    assert isinstance(released, DigestClaim)
    digests.release(released)

    channel = f"{key_prefix}:{{{T}:{C}}}"
    digest_keys = {key for key in prefix_keys(redis_client, key_prefix) if ":digest" in key}
    assert digest_keys == {
        f"{channel}:digest",
        f"{channel}:digest:{PERIOD}",
        f"{channel}:digest:2026-W11:lock",
        f"{channel}:digest:2026-W11:progress",
        f"{channel}:digest:now:progress",
    }
    channel_keys = {key for key in prefix_keys(redis_client, key_prefix) if key.startswith(channel)}
    assert {key_slot(key.encode()) for key in channel_keys} == {key_slot(f"{T}:{C}".encode())}


def test_racing_runners_get_exactly_one_claim_per_period(redis_url: str, redis_mode: str, key_prefix: str) -> None:
    runners, periods = 3, [f"2026-W{n:02d}" for n in range(1, 51)]
    clients = [connect_redis(redis_url, mode=redis_mode, socket_timeout=5.0) for _ in range(runners)]
    won: dict[str, list[int]] = {period: [] for period in periods}
    busy: dict[str, int] = dict.fromkeys(periods, 0)
    lock = threading.Lock()
    barrier = threading.Barrier(runners)
    errors: list[BaseException] = []

    def race(runner: int) -> None:
        store = DigestStore(clients[runner], prefix=key_prefix)
        try:
            for period in periods:
                barrier.wait()
                result = store.claim(workspace=T, channel=C, period=period, ttl=LOCK)
                with lock:
                    if isinstance(result, DigestClaim):
                        won[period].append(runner)
                    elif result is None:
                        busy[period] += 1
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=race, args=(runner,)) for runner in range(runners)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for client in clients:
            client.close()

    assert errors == []
    assert all(len(winners) == 1 for winners in won.values()), won
    assert all(count == runners - 1 for count in busy.values()), busy
