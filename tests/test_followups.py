"""Follow-ups in a verdict's thread, over HTTP: the served bot, the fake Slack, and real Redis.

Events the bot ignores are decided on the request path, before the HTTP response; so once a later question's reply
has arrived, every earlier ignored event has had its chance to cause a Slack call, and the counts are final.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any

import pytest

from bot.store import Claim, StoreUnavailable, Trigger, WorkRef
from bot.work import Question
from tests.fakeslack import FakeSlack
from tests.redis_support import OwnRedis
from tests.redis_support import own_redis as own_redis  # noqa: PLC0414 - the fixture, shared with tests.test_reviews
from tests.slack_support import (
    CHANNEL,
    TEAM,
    USER,
    BotClient,
    message_ts,
    new_event_id,
    served_bot,
    thread_message,
)


def texts(messages: list[dict[str, Any]]) -> list[str]:
    """Everything a person reads in each message: the fallback text and every block's text, joined."""
    found = []
    for message in messages:
        parts = [str(message.get("text", ""))]
        blocks = message.get("blocks") or []
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        for block in blocks:
            text = block.get("text")
            if isinstance(text, dict):
                parts.append(str(text.get("text", "")))
            for element in block.get("fields") or block.get("elements") or []:
                if isinstance(element, dict) and isinstance(element.get("text"), str):
                    parts.append(element["text"])
        found.append("\n".join(parts))
    return found


def last_reply(bot: BotClient, thread_ts: str, count: int) -> str:
    """Wait for the `count`-th message in the thread (the explanation is the first) and return its text."""
    return texts(bot.wait_replies(thread_ts, count))[count - 1]


@pytest.fixture
def verdict(bot: BotClient) -> str:
    """A posted verdict (30 examples: few-shot first, by the tests' own rules), whose thread holds the explanation; its
    ts."""
    return bot.decide()


# --- the conversation ---------------------------------------------------------------------------------------------


def test_a_conversation_builds_hypotheticals_resets_them_and_applies_one(bot: BotClient, verdict: str) -> None:
    store = bot.services.store
    assert bot.ask("why", thread_ts=verdict).status == 200
    why = last_reply(bot, verdict, 2)
    assert "Why don't fine-tune yet" in why
    assert "Under 40 examples" in why
    assert "Sources:" in why
    assert "too-few-examples" not in why  # people read this: the rule's title, not its id

    assert bot.ask("What if we had 600 examples?", thread_ts=verdict).status == 200
    what_if = last_reply(bot, verdict, 3)
    assert "Stable examples: 30 → *600*" in what_if
    assert "stops firing: Under 40 examples" in what_if
    assert "now fires:" in what_if
    assert "n_stable_examples" not in what_if
    assert "`" not in what_if.split("_Say")[0]  # no rule ids in code spans; only the commands to say are

    assert bot.ask("and if we tried dspy", thread_ts=verdict).status == 200
    and_if = last_reply(bot, verdict, 4)
    assert "Adding to your what-if" in and_if
    assert "Stable examples: 30 → *600*" in and_if  # the earlier change is still part of it
    assert "Tried DSPy: no → *yes*" in and_if

    assert bot.ask("answers", thread_ts=verdict).status == 200
    answers = last_reply(bot, verdict, 5)
    assert "Stable examples: 30 → *600*" in answers
    assert "Tried DSPy: no → *yes*" in answers
    assert "Use case: Support-ticket triage" in answers

    assert bot.ask("reset", thread_ts=verdict).status == 200
    assert "Dropped the what-if" in last_reply(bot, verdict, 6)
    assert bot.ask("apply", thread_ts=verdict).status == 200
    assert "Nothing to apply yet" in last_reply(bot, verdict, 7)
    decision = store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
    assert decision is not None
    assert len(decision.versions) == 1  # nothing but `apply` changes the decision
    assert bot.fake.calls("chat.update") == []


def test_apply_records_a_version_updates_the_verdict_and_says_so(bot: BotClient, verdict: str) -> None:
    # Anyone may explore a what-if; the requester applies it, and the reply says whose proposal it was.
    store = bot.services.store
    assert bot.ask("what if we had 600 examples and tried dspy", thread_ts=verdict, user="U0OTHER").status == 200
    last_reply(bot, verdict, 2)
    assert bot.ask("apply", thread_ts=verdict, user=USER).status == 200
    applied = last_reply(bot, verdict, 3)
    assert "Recorded as version 2" in applied
    assert f"by <@{USER}>" in applied
    assert "proposed by <@U0OTHER>" in applied

    decision = store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
    assert decision is not None
    assert [v.trigger for v in decision.versions] == [Trigger.SUBMIT, Trigger.FOLLOW_UP]
    latest = decision.latest
    assert latest.by == USER
    assert latest.answers["n_stable_examples"] == 600
    assert latest.answers["tried_dspy"] is True
    assert latest.answers["use_case"] == "Support-ticket triage"  # untouched facts are kept
    (update,) = bot.fake.calls("chat.update")
    assert update.args["ts"] == verdict
    assert update.args["channel"] == CHANNEL
    assert f"Version 2, changed in the thread by <@{USER}>" in texts([update.args])[0]
    assert bot.fake.messages[(CHANNEL, verdict)]["edited"]  # the verdict message itself changed

    # After `apply` the what-if is gone: the stored answers are the new ones.
    assert bot.ask("answers", thread_ts=verdict).status == 200
    after = last_reply(bot, verdict, 4)
    assert "Stable examples: 600" in after
    assert "→" not in after


def test_why_not_rules_and_help(bot: BotClient, verdict: str) -> None:
    bot.ask("Why not fine-tune?", thread_ts=verdict)
    assert "Why not fine-tune" in last_reply(bot, verdict, 2)
    bot.ask("rules", thread_ts=verdict)
    rules = last_reply(bot, verdict, 3)
    assert "`too-few-examples`" in rules
    assert "(decides)" in rules
    bot.ask("help", thread_ts=verdict)
    assert "what if we had 600 examples" in last_reply(bot, verdict, 4)


@pytest.mark.parametrize(
    "text",
    ["hmm ok so what if we had like 5k exmaples though?!", "would it change anything with 5,000 examples?",
     "*what if* we had five thousand examples :thinking_face:"],
)  # fmt: skip
def test_a_casually_phrased_what_if_is_answered_with_the_new_verdict(bot: BotClient, verdict: str, text: str) -> None:
    assert bot.ask(text, thread_ts=verdict).status == 200
    reply = last_reply(bot, verdict, 2)
    assert "Stable examples: 30 → *5,000*" in reply
    assert "stops firing: Under 40 examples" in reply
    assert "Then:" in reply


def test_an_unreadable_value_names_the_fact_and_the_accepted_forms(bot: BotClient, verdict: str) -> None:
    bot.ask("what if we had lots of examples", thread_ts=verdict)
    reply = last_reply(bot, verdict, 2)
    assert "Stable examples" in reply
    assert "whole number" in reply
    assert "Nothing was changed" in reply
    conversation = bot.services.threads.conversation(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
    assert conversation.hypothetical is None


def test_contradicting_answers_are_refused_with_the_reason(bot: BotClient, verdict: str) -> None:
    # The stored answers say the prompt was iterated on; 0 iterations with authors would contradict nothing,
    # but "prompt iteration not tried" with 20 iterations does.
    bot.ask("what if we haven't iterated on the prompt and 20 prompt iterations", thread_ts=verdict)
    reply = last_reply(bot, verdict, 2)
    assert "do not fit together" in reply
    assert "nobody iterated on the prompt but count 20 iterations" in reply


# --- what is a question, and what is not ---------------------------------------------------------------------------


def test_only_peoples_replies_in_verdict_threads_are_answered(bot: BotClient, verdict: str) -> None:
    other_thread = message_ts()
    ignored = [
        {**thread_message("why", thread_ts=verdict), "thread_ts": None},  # a top-level message
        thread_message("why", thread_ts=other_thread),  # a thread that is not a verdict's
        thread_message("why", thread_ts=verdict, user="U0BOT"),  # the bot itself
        thread_message("why", thread_ts=verdict, bot_id="B0OTHER"),  # another bot
        thread_message("why", thread_ts=verdict, subtype="bot_message"),
        thread_message("why", thread_ts=verdict, subtype="message_changed"),
        thread_message("why", thread_ts=verdict, subtype="message_deleted"),
        thread_message("why", thread_ts=verdict, subtype="channel_join"),
        thread_message("thanks, that helps!", thread_ts=verdict),  # not understood, not mentioned: silence
        thread_message("why", thread_ts=verdict, ts=verdict),  # the parent itself
        {"type": "message", "channel": CHANNEL, "subtype": "message_changed", "message": {"text": "why"}},
    ]
    ignored[0].pop("thread_ts")
    for event in ignored:
        assert bot.event(event).status == 200, event
    posted = len(bot.fake.calls("chat.postMessage"))
    bot.ask("why", thread_ts=verdict)
    bot.wait_replies(verdict, 2)
    time.sleep(0.2)
    assert len(bot.fake.calls("chat.postMessage")) == posted + 1
    assert bot.fake.calls("chat.update") == []


def test_a_thread_broadcast_reply_is_answered(bot: BotClient, verdict: str) -> None:
    bot.event(thread_message("why", thread_ts=verdict, subtype="thread_broadcast", root={"ts": verdict}))
    assert "Why don't fine-tune yet" in last_reply(bot, verdict, 2)


def test_a_reply_with_a_file_attached_is_answered(bot: BotClient, verdict: str) -> None:
    # As Slack sends a thread reply with a screenshot: subtype file_share, the file's object, `upload` true.
    file = {
        "id": "F0SHOT",
        "created": 1700000000,
        "name": "eval-results.png",
        "title": "eval-results.png",
        "mimetype": "image/png",
        "filetype": "png",
        "user": USER,
        "size": 48213,
        "mode": "hosted",
        "is_external": False,
        "url_private": "https://files.slack.com/files-pri/T0FAKE-F0SHOT/eval-results.png",
    }
    event = thread_message("why?", thread_ts=verdict, subtype="file_share", files=[file], upload=True)
    assert bot.event(event).status == 200
    assert "Why don't fine-tune yet" in last_reply(bot, verdict, 2)


def test_a_mention_the_bot_does_not_understand_gets_a_short_help(bot: BotClient, verdict: str) -> None:
    bot.ask("<@U0BOT> what's the weather like", thread_ts=verdict)
    reply = last_reply(bot, verdict, 2)
    assert "I did not understand that" in reply
    assert "`why`" in reply


def test_a_mention_arriving_as_message_and_app_mention_gets_one_answer(bot: BotClient, verdict: str) -> None:
    ts = message_ts()
    message = thread_message("<@U0BOT> why", thread_ts=verdict, ts=ts)
    mention = {**message, "type": "app_mention"}
    mention.pop("channel_type")
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda e=event: results.append(bot.event(e).status)) for event in (message, mention)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200, 200]
    bot.wait_replies(verdict, 2)
    time.sleep(0.3)
    assert len(bot.replies(verdict)) == 2  # the explanation and one answer


# --- exactly once ----------------------------------------------------------------------------------------------------


def test_an_event_delivered_four_times_is_answered_once(bot: BotClient, verdict: str) -> None:
    event = thread_message("what if we had 600 examples", thread_ts=verdict)
    event_id = new_event_id()
    for retry in range(4):
        reason = "http_timeout" if retry else ""
        assert bot.event(event, event_id=event_id, retry_num=retry, reason=reason).status == 200
    bot.wait_replies(verdict, 2)
    time.sleep(0.3)
    assert len(bot.replies(verdict)) == 2
    conversation = bot.services.threads.conversation(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
    assert len(conversation.turns) == 1


def test_two_processes_sharing_redis_answer_a_redelivered_event_once(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    with served_bot(fake_slack, redis_url, key_prefix) as one, served_bot(fake_slack, redis_url, key_prefix) as two:
        verdict = one.decide()
        for round_ in range(5):
            event = thread_message(f"what if we had {600 + round_} examples", thread_ts=verdict)
            event_id = new_event_id()
            statuses: list[int] = []

            def deliver(bot: BotClient, retry: int, event: dict[str, Any], event_id: str, into: list[int]) -> None:
                into.append(bot.event(event, event_id=event_id, retry_num=retry).status)

            senders = [
                threading.Thread(target=deliver, args=(bot, n, event, event_id, statuses))
                for n, bot in enumerate([one, two, one, two])
            ]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            assert statuses == [200] * 4
            one.wait_replies(verdict, 2 + round_)
        time.sleep(0.3)
        replies = one.replies(verdict)
        assert len(replies) == 6  # the explanation and one answer per question
        assert [f"*{600 + n}*" in text for n, text in enumerate(texts(replies[1:]))] == [True] * 5


def test_the_hypothetical_survives_a_restart_of_the_bot(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> None:
    with served_bot(fake_slack, redis_url, key_prefix) as bot:
        verdict = bot.decide()
        bot.ask("what if we had 600 examples", thread_ts=verdict)
        bot.wait_replies(verdict, 2)
    with served_bot(fake_slack, redis_url, key_prefix) as bot:
        bot.ask("and if we tried dspy", thread_ts=verdict)
        reply = last_reply(bot, verdict, 3)
    assert "Adding to your what-if" in reply
    assert "Stable examples: 30 → *600*" in reply


def test_work_claimed_by_a_worker_that_died_is_finished_by_the_sweeper(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    with served_bot(fake_slack, redis_url, key_prefix, work_lease_seconds=0.5) as bot:
        verdict = bot.decide()
        # A worker claims the message, then dies before doing anything: only its claim is left.
        ts = message_ts()
        question = {
            "workspace": TEAM,
            "channel": CHANNEL,
            "thread_ts": verdict,
            "ts": ts,
            "user": USER,
            "text": "what if we had 600 examples",
            "mentioned": False,
            "parent_is_bot": True,
        }
        ref = WorkRef(TEAM, CHANNEL, f"message.{ts}")
        assert bot.services.worker.queue.claim(ref, event_id="Ev0DIED", payload=question).held
        reply = last_reply(bot, verdict, 2)
        assert "Stable examples: 30 → *600*" in reply
        # Slack's redelivery after the sweeper finished it changes nothing.
        assert bot.ask("what if we had 600 examples", thread_ts=verdict, ts=ts).status == 200
        time.sleep(1.5)
        assert len(bot.replies(verdict)) == 2
        assert bot.services.worker.queue.overdue() == []


def test_an_answer_recorded_but_not_sent_is_sent_once_without_recomputing(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    with served_bot(fake_slack, redis_url, key_prefix, work_lease_seconds=0.5) as bot:
        verdict = bot.decide()
        threads = bot.services.threads
        ts = message_ts()
        ref = WorkRef(TEAM, CHANNEL, f"message.{ts}")
        question = Question(TEAM, CHANNEL, verdict, ts, USER, "unused", mentioned=False, parent_is_bot=True)
        queue = bot.services.worker.queue
        claim = queue.claim(ref, event_id="Ev0DIED", payload=question.payload())
        conversation = threads.conversation(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
        outbox = {"reply": {"channel": CHANNEL, "thread_ts": verdict, "text": "the recorded answer"}, "update": None}
        decision = bot.services.store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
        assert decision is not None
        queue.record(claim, thread_ts=verdict, conversation=conversation, outbox=outbox, decision_id=decision.id)
        # ...and the worker dies before sending it.
        replies = bot.wait_replies(verdict, 2)
        assert replies[1]["text"] == "the recorded answer"
        time.sleep(1.5)
        assert len(bot.replies(verdict)) == 2
        assert threads.conversation(workspace=TEAM, channel=CHANNEL, thread_ts=verdict).revision == 1


def test_an_answer_sent_but_not_marked_done_is_not_sent_again_by_the_sweeper(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    """Redis goes away after the reply went out, for longer than the worker keeps trying to mark it done: the worker
    that takes the work over finds the reply in the thread (by its metadata) and does not post it again."""
    with served_bot(fake_slack, redis_url, key_prefix, work_lease_seconds=0.5, work_finish_seconds=0) as bot:
        verdict = bot.decide()
        queue = bot.services.worker.queue
        original = queue.finish
        failed: list[str] = []

        def redis_gone_once(claim: Claim) -> None:
            if not failed and claim.ref.key.startswith("message."):  # the question's work, not the verdict's
                failed.append(claim.ref.key)
                raise StoreUnavailable("ConnectionError: Redis is down", kind="ConnectionError")
            original(claim)

        queue.finish = redis_gone_once  # type: ignore[method-assign]
        try:
            assert bot.ask("what if we had 600 examples", thread_ts=verdict).status == 200
            reply = last_reply(bot, verdict, 2)
            deadline = time.monotonic() + 10
            while queue.overdue() or not failed:  # taken over once its lease ran out, then marked done
                assert time.monotonic() < deadline, "the work was never marked done"
                time.sleep(0.1)
        finally:
            queue.finish = original  # type: ignore[method-assign]
        time.sleep(1.0)
        assert "Stable examples: 30 → *600*" in reply
        replies = bot.replies(verdict)
        assert len(replies) == 2  # the explanation and the one answer
        assert replies[1]["metadata"] == {"event_type": "should_finetune_reply", "event_payload": {"work": failed[0]}}
        looked = [c for c in bot.fake.calls("conversations.replies") if c.args.get("include_all_metadata")]
        assert looked, "the worker that took over did not look in the thread"


# --- Redis trouble ---------------------------------------------------------------------------------------------------


def test_redis_stopped_mid_conversation_gets_a_clear_message_and_no_500(
    fake_slack: FakeSlack, own_redis: OwnRedis
) -> None:
    with served_bot(fake_slack, own_redis.url, "sf") as bot:
        verdict = bot.decide()
        bot.ask("what if we had 600 examples", thread_ts=verdict)
        bot.wait_replies(verdict, 2)
        own_redis.stop()

        started = time.monotonic()
        reply = bot.ask("and if we tried dspy", thread_ts=verdict)
        elapsed = time.monotonic() - started
        assert reply.status == 200
        assert elapsed < 3.0
        assert "cannot reach my storage" in last_reply(bot, verdict, 3)
        # Chatter gets no reply, even now.
        assert bot.ask("thanks", thread_ts=verdict).status == 200

        # Redis comes back with its data: the conversation goes on where it was, with no restart of the bot.
        own_redis.start()
        bot.ask("and if we tried dspy", thread_ts=verdict)
        reply_text = last_reply(bot, verdict, 4)
    assert "Stable examples: 30 → *600*" in reply_text
    assert "Tried DSPy: no → *yes*" in reply_text


def test_a_hung_redis_still_gets_an_http_answer_within_slacks_budget(
    fake_slack: FakeSlack, own_redis: OwnRedis
) -> None:
    with served_bot(fake_slack, own_redis.url, "sf") as bot:
        verdict = bot.decide()
        assert own_redis.process is not None
        os.kill(own_redis.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            reply = bot.ask("why", thread_ts=verdict)
            elapsed = time.monotonic() - started
        finally:
            os.kill(own_redis.process.pid, signal.SIGCONT)
        assert reply.status == 200
        assert elapsed < 3.0
        assert "cannot reach my storage" in last_reply(bot, verdict, 2)


def redeliver(bot: BotClient, text: str, *, thread_ts: str, ts: str, event_id: str, retry_num: int = 1) -> None:
    """Slack's redelivery of the message event `event_id` (the person's message `ts`, in the fake's thread)."""
    stored = bot.fake.message(CHANNEL, ts) or {}
    event = thread_message(text, thread_ts=thread_ts, ts=ts, parent_user_id=stored.get("parent_user_id", "U0BOT"))
    assert bot.event(event, event_id=event_id, retry_num=retry_num).status == 200


def test_a_redelivery_of_an_answered_question_while_redis_is_away_gets_nothing_once_it_is_back(
    fake_slack: FakeSlack, own_redis: OwnRedis
) -> None:
    with served_bot(fake_slack, own_redis.url, "sf") as bot:
        verdict = bot.decide()
        ts = bot.fake.add_message(CHANNEL, "why?", user=USER, thread_ts=verdict)
        stored = bot.fake.message(CHANNEL, ts) or {}
        event = thread_message("why?", thread_ts=verdict, ts=ts, parent_user_id=stored["parent_user_id"])
        assert bot.event(event, event_id="Ev0WHY").status == 200
        bot.wait_replies(verdict, 2)  # answered; Slack missed the 200 and redelivers while Redis is away
        own_redis.stop()
        redeliver(bot, "why?", thread_ts=verdict, ts=ts, event_id="Ev0WHY")
        time.sleep(1.0)
        assert len(bot.replies(verdict)) == 2  # no "ask again" for a question that may have been answered
        own_redis.start()
        time.sleep(3.0)  # it is claimed again, finds the answer given, and says nothing
        assert len(bot.replies(verdict)) == 2


def test_a_redelivery_of_a_question_never_answered_is_answered_once_redis_is_back(
    fake_slack: FakeSlack, own_redis: OwnRedis
) -> None:
    with served_bot(fake_slack, own_redis.url, "sf") as bot:
        verdict = bot.decide()
        ts = bot.fake.add_message(CHANNEL, "what if we had 600 examples", user=USER, thread_ts=verdict)
        own_redis.stop()  # the first delivery never arrived; the redelivery finds Redis away
        redeliver(bot, "what if we had 600 examples", thread_ts=verdict, ts=ts, event_id="Ev0LOST", retry_num=2)
        time.sleep(1.0)
        own_redis.start()
        reply = last_reply(bot, verdict, 2)
        time.sleep(1.0)
        assert len(bot.replies(verdict)) == 2
    assert "Stable examples: 30 → *600*" in reply


def test_a_redelivery_told_to_ask_again_when_redis_stays_away(fake_slack: FakeSlack, own_redis: OwnRedis) -> None:
    with served_bot(fake_slack, own_redis.url, "sf") as bot:
        bot.services.followups.park_seconds = 1.0
        verdict = bot.decide()
        ts = bot.fake.add_message(CHANNEL, "why?", user=USER, thread_ts=verdict)
        own_redis.stop()
        redeliver(bot, "why?", thread_ts=verdict, ts=ts, event_id="Ev0AWAY")
        assert "cannot reach my storage" in last_reply(bot, verdict, 2)


# --- hostile input ---------------------------------------------------------------------------------------------------


HOSTILE = [
    "<@U0BOT> " + "why " * 2500,  # 10 kB, mentioning the bot
    "<@U0BOT> what if <!channel> <@U0VICTIM> <!subteam^S0TEAM> <https://evil.example|docs> had 600 examples",
    "what if \"we had 600 examples and it's a 'knowledge problem",
    "<@U0BOT> \x00\x07\x1b[31m what if \u202e\u200b emoji 🚀🔥 " + "😀" * 500,
    "<@U0BOT> what if requirements change <!here> monthly & <script>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_messages_get_a_bounded_escaped_reply_or_silence(bot: BotClient, verdict: str, text: str) -> None:
    assert bot.ask(text, thread_ts=verdict).status == 200
    bot.ask("rules", thread_ts=verdict)  # a sentinel: when it is answered, the hostile one was handled
    replies = bot.wait_replies(verdict, 3 if "<@U0BOT>" in text or text.startswith("what if") else 2)
    for reply in replies[1:]:
        body = json.dumps(reply)
        for markup in ("<!channel>", "<!here>", "<@U0VICTIM>", "<!subteam", "<https://evil", "<script>"):
            assert markup not in body
        assert len(reply.get("text", "")) <= 4000
        assert len(reply.get("blocks") or []) <= 50


# --- how long things are kept, and work that keeps failing ------------------------------------------------------------


def test_retention_and_idle_time_come_from_the_settings(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> None:
    with served_bot(fake_slack, redis_url, key_prefix, retention_days=400, conversation_idle_days=7) as bot:
        verdict = bot.decide()
        bot.ask("what if we had 600 examples", thread_ts=verdict)
        bot.wait_replies(verdict, 2)
        decision = bot.services.store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
        assert decision is not None
        client = bot.services.store._redis  # the test reads the TTLs the bot set
        channel_key = f"{key_prefix}:{{{TEAM}:{CHANNEL}}}"
        day = 86_400_000
        assert 400 * day - 60_000 < client.pttl(f"{channel_key}:decision:{decision.id}") <= 400 * day
        assert 400 * day - 60_000 < client.pttl(f"{channel_key}:decision:{decision.id}:versions") <= 400 * day
        assert 7 * day - 60_000 < client.pttl(f"{channel_key}:conversation:{verdict}") <= 7 * day


def test_work_that_keeps_failing_is_reported_in_the_thread_after_three_tries(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str
) -> None:
    with served_bot(fake_slack, redis_url, key_prefix, work_lease_seconds=0.5) as bot:
        verdict = bot.decide()
        decision = bot.services.store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
        assert decision is not None
        # A stored version the engine cannot read makes every attempt to answer fail.
        client = bot.services.store._redis
        versions = f"{key_prefix}:{{{TEAM}:{CHANNEL}}}:decision:{decision.id}:versions"
        broken = {**json.loads(client.lindex(versions, 0)), "answers": {"n_stable_examples": -5}}
        client.lset(versions, 0, json.dumps(broken))

        assert bot.ask("why", thread_ts=verdict).status == 200
        reply = last_reply(bot, verdict, 2)
        assert "I could not answer “why” after several tries" in reply
        time.sleep(1.5)
        assert len(bot.replies(verdict)) == 2  # reported once, then left alone
        assert bot.services.worker.queue.overdue() == []
