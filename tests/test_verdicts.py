"""Posting verdicts through the durable work list: a verdict whose worker stopped is posted once by another.

Each test leaves behind what a replica that stopped at one moment would leave (a claim, a decision, maybe a message
in Slack), then lets the bot's sweeper take the claim over after its lease (0.5 s here) and counts what reaches the
fake Slack.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

import pytest
import redis

from bot.decisions import Decided
from bot.engine.answers import Answers
from bot.slack.delivery import EXPLANATION_EVENT, MAX_ATTEMPTS, VERDICT_EVENT, deliver_verdict
from bot.store import Claim, DeliveryStatus, StoreUnavailable, WorkRef, new_decision_id
from bot.store.base import channel_key
from bot.work import VerdictJob
from tests.fakeslack import FakeSlack
from tests.slack_support import CHANNEL, REQUIRED_ANSWERS, TEAM, USER, BotClient, served_bot

LEASE = 0.5


@pytest.fixture
def bot(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> Iterator[BotClient]:
    """A bot whose claims run out after half a second, so its sweeper takes over stopped work quickly."""
    with served_bot(fake_slack, redis_url, key_prefix, work_lease_seconds=LEASE) as bot:
        yield bot


def stopped_after_ack(bot: BotClient, channel: str = CHANNEL) -> tuple[Claim, Decided]:
    """What the form's handler leaves when its replica stops right after closing the form: a claim and a decision."""
    services = bot.services
    job = VerdictJob(TEAM, channel, new_decision_id())
    claim = services.worker.claim(job)
    assert claim.held
    answers = Answers(
        use_case="Support-ticket triage",
        primary_failure="style",
        n_stable_examples=30,
        change_freq_days=30,
        tried_prompt_iteration=True,
    )
    decided = services.decisions.decide(
        workspace=TEAM, channel=channel, requester=USER, answers=answers, decision_id=job.decision
    )
    return claim, decided


def posted_by_a_worker_that_stopped(bot: BotClient, decided: Decided) -> dict[str, object]:
    """Post the verdict of `decided` as its worker would have just before stopping (Slack has the message, Redis
    does not know); Slack's answer."""
    message = bot.services.renderer.message(
        "verdict",
        report=decided.report,
        step=decided.step,
        decision={"id": decided.decision.id, "requester": USER},
        version=decided.decision.latest.model_dump(mode="json"),
    )
    metadata = {"event_type": VERDICT_EVENT, "event_payload": {"decision_id": decided.decision.id}}
    response = bot.services.client.chat_postMessage(channel=decided.decision.channel, metadata=metadata, **message)
    assert isinstance(response.data, dict)
    return response.data


def posts(fake: FakeSlack, event_type: str, decision_id: str) -> list[dict[str, object]]:
    """The messages of `event_type` posted for `decision_id`, as Slack received them."""
    found = []
    for call in fake.calls("chat.postMessage"):
        metadata = call.args.get("metadata") or {}
        ours = metadata.get("event_type") == event_type and metadata["event_payload"]["decision_id"] == decision_id
        if call.status == 200 and ours:
            found.append(call.args)
    return found


def work_state(bot: BotClient, ref: WorkRef) -> str | None:
    """Where claimed work stands, read from its claim as `bot.store` documents the key: "claimed", "answered",
    "done", or None."""
    settings = bot.services.settings
    assert settings.redis_url is not None
    key = f"{channel_key(settings.redis_prefix, ref.workspace, ref.channel)}:work:{ref.key}"
    with redis.Redis.from_url(settings.redis_url.get_secret_value(), decode_responses=True) as client:
        state = client.hget(key, "state")
    return str(state) if state is not None else None


def wait_until_done(bot: BotClient, claim: Claim, timeout: float = 10.0) -> None:
    """Wait until the sweeper has finished the work of `claim`."""
    deadline = time.monotonic() + timeout
    while work_state(bot, claim.ref) != "done":
        assert time.monotonic() < deadline, "the sweeper did not finish the work"
        time.sleep(0.05)


def test_a_form_acknowledged_by_a_replica_that_stopped_gets_its_verdict_from_the_sweeper(bot: BotClient) -> None:
    claim, decided = stopped_after_ack(bot)
    decision_id = decided.decision.id
    wait_until_done(bot, claim)
    (verdict,) = posts(bot.fake, VERDICT_EVENT, decision_id)
    assert verdict["channel"] == CHANNEL
    (explanation,) = posts(bot.fake, EXPLANATION_EVENT, decision_id)
    decision = bot.services.store.decision(workspace=TEAM, channel=CHANNEL, decision_id=decision_id)
    assert decision is not None
    assert decision.delivery.status is DeliveryStatus.POSTED
    assert explanation["thread_ts"] == decision.delivery.ts
    # The thread works like any other: it is indexed, and its explanation takes re-review reactions.
    assert (
        bot.services.store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=decision.delivery.ts)
        is not None
    )
    time.sleep(LEASE * 3)  # more sweeps change nothing
    assert len(posts(bot.fake, VERDICT_EVENT, decision_id)) == 1
    assert len(posts(bot.fake, EXPLANATION_EVENT, decision_id)) == 1


def test_a_verdict_posted_just_before_its_worker_stopped_is_found_not_posted_again(bot: BotClient) -> None:
    claim, decided = stopped_after_ack(bot)
    posted = posted_by_a_worker_that_stopped(bot, decided)
    services = bot.services
    wait_until_done(bot, claim)
    assert len(posts(bot.fake, VERDICT_EVENT, decided.decision.id)) == 1
    (explanation,) = posts(bot.fake, EXPLANATION_EVENT, decided.decision.id)
    assert explanation["thread_ts"] == posted["ts"]
    decision = services.store.decision(workspace=TEAM, channel=CHANNEL, decision_id=decided.decision.id)
    assert decision is not None
    assert (decision.delivery.status, decision.delivery.ts) == (DeliveryStatus.POSTED, posted["ts"])
    assert services.store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=posted["ts"]) is not None


def test_a_verdict_and_explanation_both_posted_are_only_recorded(bot: BotClient) -> None:
    claim, decided = stopped_after_ack(bot)
    services = bot.services
    # The worker posted both messages and recorded the delivery, then stopped before marking the work done.
    delivery = deliver_verdict(
        client=services.client, renderer=services.renderer, store=services.store, decided=decided
    )
    wait_until_done(bot, claim)
    assert len(posts(bot.fake, VERDICT_EVENT, decided.decision.id)) == 1
    assert len(posts(bot.fake, EXPLANATION_EVENT, decided.decision.id)) == 1
    assert delivery.ts is not None


def test_a_claim_whose_decision_was_never_stored_is_dropped_quietly(bot: BotClient) -> None:
    # The form's handler claimed the post, then Redis failed before the decision was stored: the form showed an
    # error and nothing was decided, so there is nothing to post.
    job = VerdictJob(TEAM, CHANNEL, new_decision_id())
    claim = bot.services.worker.claim(job)
    wait_until_done(bot, claim)
    assert bot.fake.calls("chat.postMessage") == []


def test_a_verdict_that_keeps_failing_is_given_up_and_the_requester_told(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    # A long lease keeps the sweeper away: this test is the worker that takes the claim over.
    with served_bot(fake_slack, redis_url, key_prefix, work_lease_seconds=60) as bot:
        claim, decided = stopped_after_ack(bot)
        # Every earlier holder stopped without finishing; the next one gives up and says so.
        bot.services.verdicts.resume(dataclasses.replace(claim, attempts=MAX_ATTEMPTS + 1))
        assert work_state(bot, claim.ref) == "done"
        assert posts(fake_slack, VERDICT_EVENT, decided.decision.id) == []
        (dm,) = [call.args for call in fake_slack.calls("chat.postMessage") if call.args["channel"] == USER]
        assert "failed several times in a row" in str(dm["text"])
        decision = bot.services.store.decision(workspace=TEAM, channel=CHANNEL, decision_id=decided.decision.id)
        assert decision is not None
        assert (decision.delivery.status, decision.delivery.error) == (DeliveryStatus.FAILED, "delivery_failed")


def test_when_slack_cannot_say_what_was_posted_the_verdict_is_posted_rather_than_lost(bot: BotClient) -> None:
    bot.fake.fail("conversations.history", status=503, times=10)
    claim, decided = stopped_after_ack(bot)
    wait_until_done(bot, claim)
    assert len(posts(bot.fake, VERDICT_EVENT, decided.decision.id)) == 1
    assert bot.fake.calls("conversations.history")


def test_a_verdict_posted_but_not_recorded_for_want_of_redis_is_finished_from_slacks_history(
    bot: BotClient,
) -> None:
    """The first worker's post went out, then recording it failed: the claim stays and the sweeper records it."""
    claim, decided = stopped_after_ack(bot)
    services = bot.services
    store = services.store
    original = store.record_delivery

    def redis_gone(**kwargs: object) -> None:
        raise StoreUnavailable("ConnectionError: Redis is down", kind="ConnectionError")

    store.record_delivery = redis_gone  # type: ignore[method-assign,assignment]
    try:
        assert services.verdicts.deliver(claim=claim, decided=decided) is None
    finally:
        store.record_delivery = original  # type: ignore[method-assign]
    assert len(posts(bot.fake, VERDICT_EVENT, decided.decision.id)) == 1
    wait_until_done(bot, claim)
    assert len(posts(bot.fake, VERDICT_EVENT, decided.decision.id)) == 1
    assert len(posts(bot.fake, EXPLANATION_EVENT, decided.decision.id)) == 1
    decision = store.decision(workspace=TEAM, channel=CHANNEL, decision_id=decided.decision.id)
    assert decision is not None
    assert decision.delivery.status is DeliveryStatus.POSTED


def test_a_normal_decision_posts_with_metadata_and_leaves_no_work_behind(bot: BotClient) -> None:
    verdict_ts = bot.decide()
    (call,) = bot.fake.calls("chat.postMessage")[:1]
    assert call.args["metadata"]["event_type"] == VERDICT_EVENT
    time.sleep(LEASE * 3)
    assert len([c for c in bot.fake.calls("chat.postMessage") if c.args.get("thread_ts") is None]) == 1
    assert bot.services.worker.queue.overdue(limit=1000) == []
    assert verdict_ts


# --- a live worker keeps its claim ------------------------------------------------------------------------------------


def test_a_worker_waiting_out_a_429_keeps_its_claim_so_the_verdict_is_posted_once(bot: BotClient) -> None:
    # The wait (2 s) is four leases long: without renewal the sweeper would take the post over and post it too.
    bot.fake.fail("chat.postMessage", status=429, retry_after=2)
    assert bot.command().status == 200
    assert bot.submit(REQUIRED_ANSWERS).status == 200
    bot.fake.wait_for("chat.postMessage", 3, timeout=10)  # the 429, the verdict, its explanation
    time.sleep(LEASE * 3)
    calls = bot.fake.calls("chat.postMessage")
    assert [(call.status, "thread_ts" in call.args) for call in calls] == [(429, False), (200, False), (200, True)]
    assert calls[1].at - calls[0].at >= 2.0  # Retry-After honoured
    assert bot.services.worker.queue.overdue(limit=1000) == []


def test_a_worker_waiting_out_a_429_keeps_its_claim_so_a_question_is_answered_once(bot: BotClient) -> None:
    verdict_ts = bot.decide()
    bot.wait_replies(verdict_ts, 1)
    bot.fake.fail("chat.postMessage", status=429, retry_after=2)
    assert bot.ask("what if we had 600 examples", thread_ts=verdict_ts).status == 200
    replies = bot.wait_replies(verdict_ts, 2, timeout=10)
    time.sleep(LEASE * 3)
    assert len(bot.replies(verdict_ts)) == 2
    assert "600" in json.dumps(replies[-1])


def test_extending_a_claim_that_was_taken_over_says_so(bot: BotClient) -> None:
    queue = bot.services.worker.queue
    job = VerdictJob(TEAM, CHANNEL, new_decision_id())  # no such decision: whoever takes it over drops it
    claim = queue.claim(job.ref, event_id="", payload=job.payload())
    assert queue.extend(claim)
    wait_until_done(bot, claim)  # the sweeper took it over once the lease ran out, and finished it
    assert not queue.extend(claim)
