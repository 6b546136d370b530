"""Slack's Web API misbehaving: 429s with Retry-After, 5xx answers, and slowness past the client's timeout.

The served bot, real Redis, and the fake Slack injecting the faults. For each way the bot posts (a verdict, a reply
in a verdict's thread, a re-review's update of the verdict message, a digest, the form), what the issue asks:

- 429 three times with `Retry-After`: the message goes out once, after waiting at least each Retry-After given, in
  exactly four calls (`RATE_LIMIT_RETRIES` in `bot.slack.api`);
- a 500 or 503, repeated: at most two calls per message (one retry, `ServerErrorRetryHandler(max_retry_count=1)` in
  `bot.slack.api.build_client`; a 502 or 504 is not retried), no storm of calls, and the person is told;
- slow Slack (past `POST_TIMEOUT`, or `TRIGGER_TIMEOUT` for the form): the HTTP answers to Slack stay within 1 s,
  the wait is bounded, and the person is told.

What `tests/test_slack_flow.py` and `tests/test_digest.py` cover already is not repeated here: one 429 and one 503
on a verdict, Slack down for good under a verdict (DM attempted), a form Slack refuses with `expired_trigger_id`,
`views.open` 0.3 s slow, two 429s and ten 503s on a digest, a channel the digest cannot post in.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from bot.digest.runner import Result
from bot.services import Services
from bot.slack.api import POST_TIMEOUT, RATE_LIMIT_RETRIES, TRIGGER_TIMEOUT
from bot.store import DeliveryStatus
from tests.fakeslack import Call, FakeSlack
from tests.slack_support import CHANNEL, REQUIRED_ANSWERS, TEAM, USER, BotClient, Reply
from tests.test_digest import CHANNELS, NOW, digest_services, seed, summaries
from tests.test_followups import texts

T = TypeVar("T")

RESPONSE_BUDGET = 1.0  # the bound on every HTTP answer to Slack
# The Retry-After of each 429 in turn: a 2 in the middle tells honouring it from a fixed or growing pause.
RETRY_AFTERS = (1, 2, 1)
# Calls per message for a 5xx or a dropped connection: the first and one retry.
SERVER_ERROR_CALLS = 2
# The error code each 5xx comes with: Slack's JSON `internal_error`, or a load balancer's page (no JSON, no code).
SERVER_ERROR_CODES = {500: "internal_error", 503: "http_503"}
# How soon after Slack failed for good the person must hear of it (the verdict's DM goes at once).
TOLD_WITHIN = 5.0
SHOWS_VERSION = "The verdict message above shows version"  # what a re-review's reply says of the verdict message
ASKER = "U0ASKS"  # asks in verdict threads; not the requester, who may get a DM of their own


def accepted(call: Call) -> bool:
    """Whether Slack answered the call with `ok`."""
    return call.status == 200 and call.response is not None and bool(call.response.get("ok"))


def gaps(calls: list[Call]) -> list[float]:
    """Seconds between consecutive calls' arrivals."""
    return [later.at - earlier.at for earlier, later in itertools.pairwise(calls)]


def wait_until(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `probe` until it gives something other than None or an empty list; that value."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


def wait_or_none(probe: Callable[[], list[Call]], timeout: float) -> list[Call]:
    """Poll `probe` until it finds calls or `timeout` passes; what it found last (maybe nothing)."""
    deadline = time.monotonic() + timeout
    while not (found := probe()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def in_thread(fake: FakeSlack, thread_ts: str) -> list[Call]:
    """Every chat.postMessage call made in the thread of `thread_ts`, answered or not."""
    return [c for c in fake.calls("chat.postMessage") if c.args.get("thread_ts") == thread_ts]


def reaching(fake: FakeSlack, *, user: str, thread_ts: str, since: float) -> list[Call]:
    """Calls Slack accepted after `since` that put something in front of `user`: a message in the thread where they
    asked, a DM, or a message only they see."""

    def to_them(call: Call) -> bool:
        if call.method == "chat.postEphemeral":
            return call.args.get("user") == user
        in_their_thread = call.args.get("thread_ts") == thread_ts
        return call.method == "chat.postMessage" and (in_their_thread or call.args.get("channel") in {user, f"D{user}"})

    return [call for call in fake.calls() if call.at > since and accepted(call) and to_them(call)]


def rate_limit(fake: FakeSlack, method: str) -> None:
    """The next three calls of `method` get 429 with RETRY_AFTERS in turn."""
    for seconds in RETRY_AFTERS:
        fake.fail(method, times=1, status=429, retry_after=seconds)


def assert_waited_out(calls: list[Call]) -> None:
    """Three 429s then the same call accepted: four calls, each gap at least the Retry-After just given."""
    assert len(calls) == RATE_LIMIT_RETRIES + 1, [c.status for c in calls]
    assert [c.status for c in calls] == [429, 429, 429, 200]
    assert accepted(calls[-1])
    assert all(c.args == calls[0].args for c in calls)  # the same message each time
    print(f"\n{calls[0].method}: gaps {[round(g, 2) for g in gaps(calls)]} s after Retry-After {RETRY_AFTERS} s")
    for waited, retry_after in zip(gaps(calls), RETRY_AFTERS, strict=True):
        assert waited >= retry_after, f"waited {waited:.2f} s after a Retry-After of {retry_after} s"


def react(bot: BotClient, ts: str, *, user: str = "U0REACTS") -> Reply:
    """React with the re-review emoji on the bot's message at `ts`; the HTTP answer."""
    event = {
        "type": "reaction_added",
        "user": user,
        "reaction": "repeat",
        "item_user": "U0BOT",
        "item": {"type": "message", "channel": CHANNEL, "ts": ts},
        "event_ts": f"{time.time():.6f}",
    }
    return bot.event(event)


def answered_fast(reply: Reply) -> bool:
    """Whether Slack got a 200 within the budget."""
    return reply.status == 200 and reply.seconds <= RESPONSE_BUDGET


@pytest.fixture
def digests(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> Iterator[Services]:
    """The bot's services for running digests, with no pause between posts."""
    with digest_services(fake_slack, redis_url, key_prefix) as services:
        yield services


# --- 429 three times, with Retry-After -----------------------------------------------------------------------------


def test_a_verdict_rate_limited_three_times_is_posted_once_after_each_retry_after(bot: BotClient) -> None:
    assert bot.command().status == 200
    form = bot.opened_view()
    rate_limit(bot.fake, "chat.postMessage")
    reply = bot.submit(REQUIRED_ANSWERS, view=form)
    assert answered_fast(reply)  # the form closes without waiting for Slack
    assert reply.body == b""
    calls = bot.fake.wait_for("chat.postMessage", 5, timeout=15)
    verdicts = [c for c in calls if not c.args.get("thread_ts")]
    assert_waited_out(verdicts)
    (explanation,) = [c for c in calls if c.args.get("thread_ts")]
    assert verdicts[-1].response is not None
    assert explanation.args["thread_ts"] == verdicts[-1].response["ts"]
    (decision,) = bot.services.store.recent_decisions(workspace=TEAM, channel=CHANNEL, limit=5)
    assert decision.delivery.status is DeliveryStatus.POSTED


def test_a_followup_reply_rate_limited_three_times_is_posted_once_after_each_retry_after(bot: BotClient) -> None:
    verdict = bot.decide()
    rate_limit(bot.fake, "chat.postMessage")
    assert answered_fast(bot.ask("why", thread_ts=verdict))
    calls = wait_until(lambda: [c for c in in_thread(bot.fake, verdict)[1:] if accepted(c)], 15, "the reply")
    time.sleep(0.3)
    assert_waited_out(in_thread(bot.fake, verdict)[1:])  # after the explanation
    assert "Why don't fine-tune yet" in texts([calls[0].args])[0]


def test_a_rereview_update_rate_limited_three_times_is_made_once_after_each_retry_after(bot: BotClient) -> None:
    verdict = bot.decide()
    rate_limit(bot.fake, "chat.update")
    assert answered_fast(react(bot, verdict))
    updates = bot.fake.wait_for("chat.update", RATE_LIMIT_RETRIES + 1, timeout=15)
    replies = wait_until(lambda: in_thread(bot.fake, verdict)[1:], 5, "the re-review's reply")
    time.sleep(0.3)
    assert_waited_out(bot.fake.calls("chat.update"))
    assert updates[-1].args["ts"] == verdict
    assert "Version 2" in texts([updates[-1].args])[0]
    assert len(replies) == 1
    assert "Re-reviewed by <@U0REACTS>" in texts([replies[0].args])[0]


def test_a_digest_rate_limited_three_times_is_posted_once_after_each_retry_after(
    digests: Services, fake_slack: FakeSlack
) -> None:
    seed(digests, fake_slack, count=2)
    rate_limit(fake_slack, "chat.postMessage")
    report = digests.digest.run_due(NOW)
    assert report.channels[(TEAM, CHANNEL)].result is Result.SENT
    assert_waited_out(fake_slack.calls("chat.postMessage"))
    assert len(summaries(fake_slack)) == 1


def test_a_rate_limited_form_is_not_waited_for_and_the_person_is_told_while_the_trigger_lives(
    bot: BotClient,
) -> None:
    # Waiting out a 30-second Retry-After would outlive the trigger_id (3 s): the person must hear at once instead.
    bot.fake.fail("views.open", status=429, retry_after=30)
    reply = bot.command(response_url=bot.fake.response_url("form"))
    assert answered_fast(reply)
    assert reply.body == b""
    (notice,) = bot.fake.wait_for("webhook/form", 1, timeout=3.0)
    assert notice.args["response_type"] == "ephemeral"
    assert "could not open the form" in notice.args["text"]
    assert "ratelimited" in notice.args["text"]
    assert len(bot.fake.calls("views.open")) == 1


# --- 500 and 503, repeated ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_a_verdict_slack_keeps_refusing_is_tried_twice_and_the_requester_gets_a_dm(bot: BotClient, status: int) -> None:
    assert bot.command().status == 200
    form = bot.opened_view()
    bot.fake.fail("chat.postMessage", times=SERVER_ERROR_CALLS, status=status)
    reply = bot.submit({**REQUIRED_ANSWERS, "use_case": "Invoice parsing"}, view=form)
    assert (reply.status, reply.body) == (200, b"")
    bot.fake.wait_for("chat.postMessage", SERVER_ERROR_CALLS + 1, timeout=10)
    time.sleep(0.5)  # a further attempt, were there one, would have come by now
    calls = bot.fake.calls("chat.postMessage")
    assert [(c.args["channel"], c.status) for c in calls] == [(CHANNEL, status), (CHANNEL, status), (USER, 200)]
    dm = texts([calls[-1].args])[0]
    assert "could not post the verdict for *Invoice parsing*" in dm
    code = SERVER_ERROR_CODES[status]
    assert f"`{code}`" in dm
    (decision,) = bot.services.store.recent_decisions(workspace=TEAM, channel=CHANNEL, limit=5)
    assert (decision.delivery.status, decision.delivery.error) == (DeliveryStatus.FAILED, code)


@pytest.mark.parametrize("status", [500, 503])
def test_a_followup_reply_slack_keeps_refusing_is_tried_twice_and_the_asker_is_told(
    bot: BotClient, status: int
) -> None:
    verdict = bot.decide()
    bot.fake.fail("chat.postMessage", times=SERVER_ERROR_CALLS, status=status)
    assert answered_fast(bot.ask("why", thread_ts=verdict, user=ASKER))

    def failures() -> list[Call]:
        return [c for c in in_thread(bot.fake, verdict)[1:] if c.status == status]

    wait_until(lambda: len(failures()) >= SERVER_ERROR_CALLS or None, 10, "the reply's attempts")
    time.sleep(0.5)  # a further attempt, were there one, would have come by now
    failed = failures()
    attempts = [c for c in in_thread(bot.fake, verdict)[1:] if c.args == failed[0].args]
    assert len(attempts) == SERVER_ERROR_CALLS  # bounded: the first call and one retry
    # Slack takes messages again; the asker must learn that the answer did not come (or get it after all).
    since = failed[-1].at
    deadline = time.monotonic() + TOLD_WITHIN
    while not reaching(bot.fake, user=ASKER, thread_ts=verdict, since=since) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reaching(bot.fake, user=ASKER, thread_ts=verdict, since=since), (
        f"after '{status}' twice on the reply to “why”, nothing reached the asker within {TOLD_WITHIN} s"
    )


def test_with_slack_down_questions_and_rereviews_make_no_storm_of_calls(bot: BotClient) -> None:
    verdict = bot.decide()
    before = len(bot.fake.calls())
    for method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
        bot.fake.fail(method, times=1000, status=503)
    asked = time.time()
    requests = [bot.ask(f"what if we had {n} examples", thread_ts=verdict, user=ASKER) for n in (100, 200, 300)]
    requests.append(react(bot, verdict))
    assert all(answered_fast(reply) for reply in requests)
    window = 6.0  # every chain of calls (a reply, then a notice, each retried once after a backoff) ends well before
    time.sleep(window)
    made = bot.fake.calls()[before:]
    trace = [(c.method, c.status, round(c.at - asked, 2)) for c in made]
    print(f"\nwith Slack down: {len(made)} calls for {len(requests)} requests: {trace}")
    # A question may cost two messages (its reply, and a private notice to who asked when the reply fails); a
    # re-review three (the verdict's update, the reply, the notice). Each message at most SERVER_ERROR_CALLS calls.
    messages = 3 * 2 + 1 * 3
    assert len(made) <= messages * SERVER_ERROR_CALLS, trace
    assert all(c.at - asked < window - 1.0 for c in made), trace  # then the bot has stopped trying: no loop


@pytest.mark.parametrize("status", [500, 503])
def test_a_rereview_whose_update_slack_refuses_does_not_claim_the_message_shows_it(bot: BotClient, status: int) -> None:
    verdict = bot.decide()
    bot.fake.fail("chat.update", times=SERVER_ERROR_CALLS, status=status)
    assert answered_fast(react(bot, verdict))
    (reply,) = wait_until(lambda: [c for c in in_thread(bot.fake, verdict)[1:] if accepted(c)], 10, "the reply")
    time.sleep(0.3)
    assert [c.status for c in bot.fake.calls("chat.update")] == [status] * SERVER_ERROR_CALLS  # bounded
    decision = bot.services.store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
    assert decision is not None
    assert len(decision.versions) == 2  # the re-review is recorded whatever Slack does
    said = texts([reply.args])[0]
    assert "Re-reviewed by <@U0REACTS>" in said
    # The verdict message still shows version 1: the reply must not tell the person otherwise.
    assert f"{SHOWS_VERSION} 2" not in said, said


@pytest.mark.parametrize("status", [500, 503])
def test_a_digest_slack_refuses_is_logged_and_the_other_channels_get_theirs(
    digests: Services, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    for channel in CHANNELS:
        seed(digests, fake_slack, channel=channel, count=2)
    fake_slack.fail("chat.postMessage", times=SERVER_ERROR_CALLS, status=status)
    with caplog.at_level(logging.WARNING, logger="bot.digest.runner"):
        report = digests.digest.run_due(NOW)
    first, *others = sorted(CHANNELS)  # the runner goes through the channels in order
    failed = report.channels[(TEAM, first)]
    assert (failed.result, failed.error) == (Result.RETRY, SERVER_ERROR_CODES[status])
    assert [report.channels[(TEAM, channel)].result for channel in others] == [Result.SENT] * len(others)
    assert [c.args["channel"] for c in fake_slack.calls("chat.postMessage")].count(first) == SERVER_ERROR_CALLS
    assert [c.args["channel"] for c in summaries(fake_slack)] == others
    assert any(first in r.getMessage() and SERVER_ERROR_CODES[status] in r.getMessage() for r in caplog.records)


def test_digest_now_slack_refuses_tells_the_person_who_asked(bot: BotClient) -> None:
    bot.decide()
    bot.fake.fail("chat.postMessage", times=SERVER_ERROR_CALLS, status=503)
    reply = bot.command("digest now", response_url=bot.fake.response_url("digest"))
    assert (reply.status, reply.body) == (200, b"")
    (notice,) = bot.fake.wait_for("webhook/digest", 1, timeout=10)
    assert "could not post the digest" in notice.args["text"]
    assert "http_503" in notice.args["text"]
    assert [c.status for c in bot.fake.calls("chat.postMessage")][-SERVER_ERROR_CALLS:] == [503] * SERVER_ERROR_CALLS


# --- slow Slack ------------------------------------------------------------------------------------------------------


def test_slow_slack_keeps_the_answers_fast_bounds_the_waits_and_tells_each_person(bot: BotClient) -> None:
    # Slack slow everywhere at once: each first call answers only after the client gave up on it (a gateway's 504,
    # which the client never reads). Each way of posting is checked, and every broken requirement is reported.
    fake = bot.fake
    verdict = bot.decide()
    form = bot.opened_view()  # the form decide() filled in: it can be submitted again
    slow, slow_form = POST_TIMEOUT + 2.0, TRIGGER_TIMEOUT + 0.5
    fake.fail("chat.postMessage", times=2, status=504, delay=slow)  # the new verdict and the follow-up reply
    fake.fail("chat.update", times=1, status=504, delay=slow)  # the re-review's update
    fake.fail("views.open", times=1, status=504, delay=slow_form)
    started = time.time()
    answers = {
        "form submission": bot.submit({**REQUIRED_ANSWERS, "use_case": "Slow lane"}, view=form),
        "question": bot.ask("why", thread_ts=verdict, user=ASKER),
        "command": bot.command(response_url=fake.response_url("form")),
        "reaction": react(bot, verdict),
    }
    problems = [
        f"the {kind} was answered {reply.status} in {reply.seconds:.2f} s"
        for kind, reply in answers.items()
        if not answered_fast(reply)
    ]

    # The form: the trigger dies at 3 s, so the person hears through the command's response_url.
    notices = wait_or_none(lambda: fake.calls("webhook/form"), slow_form + TOLD_WITHIN)
    if not notices or "could not open the form" not in notices[0].args.get("text", ""):
        problems.append(f"the form timed out and the person was not told: {notices}")
    opened = [c for c in fake.calls("views.open") if c.at >= started]
    if len(opened) > SERVER_ERROR_CALLS:
        problems.append(f"views.open called {len(opened)} times")

    # The verdict: its requester gets the DM.
    dm = wait_or_none(lambda: [c for c in fake.calls("chat.postMessage") if c.args["channel"] == USER], slow + 5)
    if not dm or not accepted(dm[0]) or "could not post the verdict for *Slow lane*" not in texts([dm[0].args])[0]:
        problems.append(f"the verdict timed out and its requester was not told: {dm}")
    attempts = [
        c for c in fake.calls("chat.postMessage") if c.args["channel"] == CHANNEL and not c.args.get("thread_ts")
    ]
    attempts = [c for c in attempts if "Slow lane" in texts([c.args])[0]]
    if len(attempts) > SERVER_ERROR_CALLS:
        problems.append(f"the verdict was tried {len(attempts)} times")

    # The re-review: its reply, which must not say the verdict message shows the new version.
    review = wait_or_none(
        lambda: [c for c in in_thread(fake, verdict) if "Re-reviewed" in texts([c.args])[0]], slow + 5
    )
    if not review:
        problems.append("the re-review's reply never came")
    elif f"{SHOWS_VERSION} 2" in texts([review[0].args])[0]:
        problems.append("the re-review's reply says the verdict message shows version 2; its update timed out")
    if len(fake.calls("chat.update")) > SERVER_ERROR_CALLS:
        problems.append(f"chat.update called {len(fake.calls('chat.update'))} times")

    # The follow-up: its reply timed out; the asker must hear of it (or get it after all).
    question_reply = [c for c in in_thread(fake, verdict)[1:] if "Why don't fine-tune yet" in texts([c.args])[0]]
    if len(question_reply) > SERVER_ERROR_CALLS:
        problems.append(f"the follow-up reply was tried {len(question_reply)} times")
    gave_up = started + POST_TIMEOUT
    told = wait_or_none(
        lambda: [
            c
            for c in reaching(fake, user=ASKER, thread_ts=verdict, since=gave_up)
            if "Re-reviewed" not in texts([c.args])[0]
        ],
        TOLD_WITHIN + 1.0,
    )
    if not told:
        problems.append(f"the reply to “why” timed out and nothing reached the asker within {TOLD_WITHIN} s")
    assert not problems, (
        "\n".join(problems)
        + "\ncalls: "
        + json.dumps([(c.method, c.status, round(c.at - started, 2)) for c in fake.calls() if c.at >= started])
    )
