"""The open questions in a verdict's thread, answered with their buttons, over HTTP: the served bot, the fake Slack
and real Redis. And what people read in the channel and the thread: no rule ids, next-step ids, field names or
hashes, only the form's questions and the next steps' titles.

A click is acknowledged at once and done after the response; each test waits for what the bot sends (the thread
reply, the verdict's update, the private answer to the clicker's response_url) before it counts anything.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.engine.answers import FACTS
from bot.slack.ids import ActionId, BlockId
from bot.store import Trigger
from tests import fixture_rules
from tests.fakeslack import FakeSlack
from tests.slack_support import CHANNEL, TEAM, USER, BotClient, sign
from tests.test_followups import OwnRedis, texts
from tests.test_followups import own_redis as own_redis  # noqa: PLC0414 - the fixture, shared
from tests.test_reviews import (
    GROUP,
    MEMBER,
    OTHER,
    REVIEWER,
    decision_of,
    edit_form,
    explanation_ts,
    reaction,
    served_bot,
)

# A fine-tune verdict in every respect but one: nobody said whether there is a held-out eval set.
FINE_TUNE_FORM = {
    "use_case": "Invoice field extraction",
    "primary_failure": "format",
    "n_stable_examples": "5000",
    "change_freq_days": "90",
    "tried": ["prompt", "few-shot", "rag", "dspy"],
    "prompt_iterations": "20",
    "prompt_authors": "3",
}
FORM = "application/x-www-form-urlencoded"
EVAL_SET = "Do you have a held-out eval set with a metric?"
CITATIONS = "Do compliance or audit require a citation for each answer?"


@pytest.fixture
def reviewing(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> Iterator[BotClient]:
    """The bot with a reviewer and a reviewers' user group configured."""
    fake_slack.set_usergroup(GROUP, [MEMBER])
    with served_bot(fake_slack, redis_url, key_prefix) as bot:
        yield bot


# --- helpers --------------------------------------------------------------------------------------------------------


def blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = message.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def posted(bot: BotClient, ts: str) -> dict[str, Any]:
    """What the bot posted as the message at `ts` (a verdict, its explanation or a reply in its thread)."""
    for call in bot.fake.calls("chat.postMessage"):
        if call.response is not None and call.response.get("ts") == ts:
            return dict(call.args)
    raise AssertionError(f"no message posted at {ts}")


def reply_ts(bot: BotClient, verdict: str, index: int) -> str:
    """The ts of the `index`-th message the bot posted in the verdict's thread (0: the explanation)."""
    calls = [c for c in bot.fake.calls("chat.postMessage") if c.args.get("thread_ts") == verdict]
    response = calls[index].response
    assert response is not None
    return str(response["ts"])


def question_buttons(message: dict[str, Any], fact: str) -> dict[str, dict[str, Any]]:
    """The buttons of the open question about `fact` in `message`, by their label."""
    for block in blocks_of(message):
        if block.get("type") == "actions" and block.get("block_id") == f"question-{fact}":
            return {element["text"]["text"]: element for element in block["elements"]}
    raise AssertionError(f"no question about {fact} in {texts([message])[0][:300]}")


def asked(message: dict[str, Any]) -> list[str]:
    """The facts whose open question `message` asks, in order."""
    return [
        block["block_id"].removeprefix("question-")
        for block in blocks_of(message)
        if block.get("type") == "actions" and str(block.get("block_id", "")).startswith("question-")
    ]


def click_payload(
    bot: BotClient,
    *,
    ts: str,
    thread_ts: str | None,
    button: dict[str, Any],
    block_id: str,
    user: str = USER,
    name: str = "answer",
    action_ts: str | None = None,
) -> dict[str, Any]:
    """The `block_actions` payload Slack posts when `user` presses `button` on the bot's message at `ts` (in the
    thread of `thread_ts`), shaped like Slack's own (bolt-python's test fixtures, the Block Kit reference)."""
    message: dict[str, Any] = {
        "bot_id": "B0BOT",
        "type": "message",
        "text": "open questions",
        "user": "U0BOT",
        "ts": ts,
        "app_id": "A0FAKE",
        "team": TEAM,
    }
    container: dict[str, Any] = {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False}
    if thread_ts is not None:
        message.update(thread_ts=thread_ts, parent_user_id="U0BOT")
        container["thread_ts"] = thread_ts
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": TEAM},
        "api_app_id": "A0FAKE",
        "token": "legacy-unused",
        "container": container,
        "trigger_id": bot.fake.new_trigger_id(),
        "team": {"id": TEAM, "domain": "fake"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": CHANNEL, "name": "decisions"},
        "message": message,
        "state": {"values": {}},
        "response_url": bot.fake.response_url(name),
        "actions": [
            {
                "action_id": button["action_id"],
                "block_id": block_id,
                "text": button["text"],
                **({"value": button["value"]} if "value" in button else {}),
                "type": "button",
                "action_ts": action_ts or f"{time.time():.6f}",
            }
        ],
    }


def press(
    bot: BotClient,
    ts: str,
    fact: str,
    label: str,
    *,
    thread_ts: str | None,
    user: str = USER,
    name: str = "answer",
) -> dict[str, Any]:
    """Press the `label` button of the open question about `fact` on the bot's message at `ts`; the payload sent."""
    button = question_buttons(posted(bot, ts), fact)[label]
    payload = click_payload(
        bot, ts=ts, thread_ts=thread_ts, button=button, block_id=f"question-{fact}", user=user, name=name
    )
    reply = bot.interaction(payload)
    assert reply.status == 200
    assert reply.body == b""  # acknowledged at once, with nothing to show
    return payload


def private(bot: BotClient, name: str, count: int = 1) -> list[str]:
    """The private answers sent to the response_url `name`, each checked to be ephemeral."""
    calls = bot.fake.wait_for(f"webhook/{name}", count)
    assert all(call.args.get("response_type") == "ephemeral" for call in calls)
    return [str(call.args["text"]) for call in calls]


def fine_tune_verdict(bot: BotClient) -> tuple[str, str]:
    """A fine-tune verdict whose eval-set question is open: its ts and its explanation's."""
    verdict = bot.decide(FINE_TUNE_FORM)
    return verdict, explanation_ts(bot, verdict)


def settle() -> None:
    """Give work that should not happen a moment to show itself (what should happen was waited for already)."""
    time.sleep(0.3)


# --- the question, asked ---------------------------------------------------------------------------------------------


def test_a_fine_tune_verdict_without_an_eval_set_says_so_and_the_thread_asks(bot: BotClient) -> None:
    verdict, explanation = fine_tune_verdict(bot)
    (message,) = texts([posted(bot, verdict)])
    assert "Fine-tune and measure it" in message  # the fixture's title for the fine-tune step
    assert "holds only with a held-out eval set" in message
    thread = posted(bot, explanation)
    assert thread["thread_ts"] == verdict
    assert EVAL_SET in texts([thread])[0]
    assert asked(thread)[0] == "has_eval_set"
    buttons = question_buttons(thread, "has_eval_set")
    assert list(buttons) == ["Yes", "No", "Not sure"]
    decision = decision_of(bot, verdict)
    for label, value in (("Yes", True), ("No", False), ("Not sure", None)):
        assert buttons[label]["action_id"].startswith(f"{ActionId.ANSWER_QUESTION.value}:")
        assert json.loads(buttons[label]["value"]) == {"d": decision.id, "f": "has_eval_set", "v": value}


# --- answering it ----------------------------------------------------------------------------------------------------


def test_the_requester_answers_no_and_the_verdict_becomes_build_an_eval_set(reviewing: BotClient) -> None:
    bot = reviewing
    verdict, explanation = fine_tune_verdict(bot)
    press(bot, explanation, "has_eval_set", "No", thread_ts=verdict)

    reply = texts(bot.wait_replies(verdict, 2))[1]
    assert f"<@{USER}> answered *{EVAL_SET}* with *No*, recorded as version 2." in reply
    assert "Now: don't fine-tune yet, *Make an eval set*, because" in reply
    assert "The verdict changes from version 1" in reply
    # The new next step comes with its playbook, since the explanation above describes the old one.
    assert ":clipboard: *Do this next: Make an eval set*\n1. " in reply
    assert f"<@{REVIEWER}> <!subteam^{GROUP}>: please take a look (the verdict changed)." in reply
    # What is still open is asked again, with its buttons; the eval-set question is not among them any more.
    answered = posted(bot, reply_ts(bot, verdict, 1))
    assert asked(answered)
    assert "has_eval_set" not in asked(answered)
    assert "Still open" in reply

    (update,) = bot.fake.wait_for("chat.update", 1)
    assert update.args["ts"] == verdict
    (updated,) = texts([update.args])
    assert "Don't fine-tune yet: Make an eval set" in updated
    assert f"Version 2, answered in the thread by <@{USER}>" in updated
    assert "holds only with a held-out eval set" not in updated

    decision = decision_of(bot, verdict)
    assert [(v.number, v.trigger, v.by) for v in decision.versions] == [
        (1, Trigger.SUBMIT, USER),
        (2, Trigger.ANSWERED, USER),
    ]
    assert decision.latest.answers == {**decision.versions[0].answers, "has_eval_set": False}
    assert (decision.latest.verdict, decision.latest.next_step) == ("dont-fine-tune", "build-eval")
    assert bot.fake.calls("webhook/answer") == []  # the clicker needs no private word: the thread says it all

    # `history` says how version 2 came about, in the words of the other triggers.
    bot.ask("history", thread_ts=verdict)
    assert f"answered in the thread by <@{USER}>" in texts(bot.wait_replies(verdict, 3))[2]


@pytest.mark.parametrize("who", [REVIEWER, MEMBER])
def test_reviewers_and_members_of_the_reviewers_group_may_answer(reviewing: BotClient, who: str) -> None:
    bot = reviewing
    verdict, explanation = fine_tune_verdict(bot)
    press(bot, explanation, "has_eval_set", "Yes", thread_ts=verdict, user=who)
    reply = texts(bot.wait_replies(verdict, 2))[1]
    assert f"<@{who}> answered *{EVAL_SET}* with *Yes*, recorded as version 2." in reply
    assert "Same advice as version 1" in reply
    bot.fake.wait_for("chat.update", 1)
    latest = decision_of(bot, verdict).latest
    assert (latest.trigger, latest.by, latest.answers["has_eval_set"]) == (Trigger.ANSWERED, who, True)
    assert latest.verdict == "fine-tune"


def test_a_question_asked_again_in_the_reply_can_be_answered_there(reviewing: BotClient) -> None:
    bot = reviewing
    verdict, explanation = fine_tune_verdict(bot)
    press(bot, explanation, "needs_citations", "No", thread_ts=verdict)
    bot.wait_replies(verdict, 2)
    first = reply_ts(bot, verdict, 1)
    assert "has_eval_set" in asked(posted(bot, first))
    # The reply is no verdict or explanation: the bot finds the decision from the thread the reply is in.
    press(bot, first, "has_eval_set", "No", thread_ts=verdict)
    reply = texts(bot.wait_replies(verdict, 3))[2]
    assert "recorded as version 3" in reply
    assert "*Make an eval set*" in reply
    decision = decision_of(bot, verdict)
    assert [v.trigger for v in decision.versions] == [Trigger.SUBMIT, Trigger.ANSWERED, Trigger.ANSWERED]
    assert (decision.latest.answers["needs_citations"], decision.latest.answers["has_eval_set"]) == (False, False)
    assert len(bot.fake.wait_for("chat.update", 2)) == 2


def test_a_question_about_a_number_opens_the_form_from_the_explanation_and_from_a_reply(reviewing: BotClient) -> None:
    bot = reviewing
    verdict, explanation = fine_tune_verdict(bot)
    assert "retrain_cadence_days" in asked(posted(bot, explanation))
    opened = len(bot.fake.calls("views.open"))
    press(bot, explanation, "retrain_cadence_days", "Answer in the form", thread_ts=verdict)
    view = bot.fake.wait_for("views.open", opened + 1)[-1].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["title"]["text"] == "Edit answers"

    press(bot, explanation, "needs_citations", "No", thread_ts=verdict)
    bot.wait_replies(verdict, 2)
    first = reply_ts(bot, verdict, 1)
    assert "retrain_cadence_days" in asked(posted(bot, first))
    press(bot, first, "retrain_cadence_days", "Answer in the form", thread_ts=verdict)
    bot.fake.wait_for("views.open", opened + 2)


def test_when_the_verdict_message_cannot_be_updated_the_reply_says_so(bot: BotClient) -> None:
    verdict, explanation = fine_tune_verdict(bot)
    bot.fake.fail("chat.update", status=200, error="message_not_found")
    press(bot, explanation, "has_eval_set", "No", thread_ts=verdict)
    reply = texts(bot.wait_replies(verdict, 2))[1]
    assert "recorded as version 2" in reply
    assert "I could not update the verdict message above, so it still shows version 1" in reply
    assert decision_of(bot, verdict).latest.trigger is Trigger.ANSWERED


# --- what records nothing ------------------------------------------------------------------------------------------


def test_someone_else_is_told_privately_and_nothing_is_recorded(reviewing: BotClient) -> None:
    bot = reviewing
    verdict, explanation = fine_tune_verdict(bot)
    press(bot, explanation, "has_eval_set", "No", thread_ts=verdict, user=OTHER, name="other")
    (note,) = private(bot, "other")
    assert (
        f"Only <@{USER}> (who asked for it) and the reviewers (<@{REVIEWER}>, <!subteam^{GROUP}>) can answer its"
        " open questions, so nothing was changed." in note
    )
    assert "ask `what if …` in its thread" in note
    settle()
    assert len(decision_of(bot, verdict).versions) == 1
    assert len(bot.replies(verdict)) == 1
    assert bot.fake.calls("chat.update") == []


def test_not_sure_records_nothing_and_the_question_stays_open(bot: BotClient) -> None:
    verdict, explanation = fine_tune_verdict(bot)
    press(bot, explanation, "has_eval_set", "Not sure", thread_ts=verdict, name="unsure")
    (note,) = private(bot, "unsure")
    assert "the advice stands as it is until someone answers" in note
    assert EVAL_SET in note
    assert "stays open in the thread" in note
    settle()
    assert len(decision_of(bot, verdict).versions) == 1
    assert len(bot.replies(verdict)) == 1
    assert bot.fake.calls("chat.update") == []


def test_a_redelivered_click_and_a_double_click_record_one_version(bot: BotClient) -> None:
    verdict, explanation = fine_tune_verdict(bot)
    payload = press(bot, explanation, "has_eval_set", "No", thread_ts=verdict, name="first")
    body = urlencode({"payload": json.dumps(payload)}).encode()
    for back in (1, 2):  # the same click sent again (the same action_ts), signed anew, as a resent request is
        again = bot.post(body, content_type=FORM, headers=sign(body, timestamp=int(time.time()) - back))
        assert again.status == 200
    bot.wait_replies(verdict, 2)
    press(bot, explanation, "has_eval_set", "No", thread_ts=verdict, name="second")  # a second click
    (note,) = private(bot, "second")
    assert f"*{EVAL_SET}* is already answered *No* (version 2), so nothing changed." in note
    settle()
    assert len(bot.replies(verdict)) == 2
    assert len(bot.fake.calls("chat.update")) == 1
    assert [v.trigger for v in decision_of(bot, verdict).versions] == [Trigger.SUBMIT, Trigger.ANSWERED]


def test_clicks_at_the_same_moment_record_one_version(bot: BotClient) -> None:
    verdict, explanation = fine_tune_verdict(bot)
    button = question_buttons(posted(bot, explanation), "has_eval_set")["No"]
    payloads = [
        click_payload(bot, ts=explanation, thread_ts=verdict, button=button, block_id="question-has_eval_set")
        for _ in range(4)
    ]
    for payload in payloads:
        assert bot.interaction(payload).status == 200
    bot.wait_replies(verdict, 2)
    settle()
    assert len(bot.replies(verdict)) == 2
    assert len(decision_of(bot, verdict).versions) == 2


def test_an_answer_that_contradicts_another_is_refused_privately(bot: BotClient) -> None:
    # An old button, say: the form since said the prompt was iterated on 20 times; "No" to "Have you iterated on
    # the prompt?" cannot be recorded with that.
    verdict, explanation = fine_tune_verdict(bot)
    decision = decision_of(bot, verdict)
    button = {
        "action_id": f"{ActionId.ANSWER_QUESTION.value}:1",
        "text": {"type": "plain_text", "text": "No"},
        "value": json.dumps({"d": decision.id, "f": "tried_prompt_iteration", "v": False}),
    }
    payload = click_payload(
        bot, ts=explanation, thread_ts=verdict, button=button, block_id="question-tried_prompt_iteration", name="no"
    )
    assert bot.interaction(payload).status == 200
    (note,) = private(bot, "no")
    assert "*No* for *Have you iterated on the prompt?* does not fit the other stored answers" in note
    assert "20 iterations" in note
    assert "nothing was recorded" in note
    settle()
    assert len(decision_of(bot, verdict).versions) == 1
    assert len(bot.replies(verdict)) == 1


def test_with_redis_down_the_clicker_is_told_and_it_works_once_redis_is_back(
    fake_slack: FakeSlack, own_redis: OwnRedis
) -> None:
    with served_bot(fake_slack, own_redis.url, "sf") as bot:
        verdict, explanation = fine_tune_verdict(bot)
        own_redis.stop()
        started = time.monotonic()
        press(bot, explanation, "has_eval_set", "No", thread_ts=verdict, name="down")
        assert time.monotonic() - started < 3.0
        (note,) = private(bot, "down")
        assert "cannot reach my storage" in note
        own_redis.start()
        press(bot, explanation, "has_eval_set", "No", thread_ts=verdict, name="up")
        assert "recorded as version 2" in texts(bot.wait_replies(verdict, 2))[1]


# --- garbage ---------------------------------------------------------------------------------------------------------

UNREADABLE = "I could not read that answer"
GONE = "I no longer have this decision"


def garbage_values(decision: str, other: str) -> list[tuple[object, str]]:
    """Button values no template writes, and what the clicker is told for each."""

    def value(**fields: object) -> str:
        return json.dumps({"d": decision, "f": "has_eval_set", "v": False, **fields})

    return [
        ("", UNREADABLE),
        ("not json", UNREADABLE),
        (decision, UNREADABLE),  # the "Edit answers" button's value
        ("[1, 2]", UNREADABLE),
        ('{"d": null}', UNREADABLE),
        (json.dumps({"d": decision, "f": "has_eval_set"}), UNREADABLE),  # no answer at all
        (json.dumps({"d": decision, "f": "has_eval_set", "v": False, "x": 1}), UNREADABLE),
        (value(f="no_such_fact"), UNREADABLE),
        (value(f="n_stable_examples", v=600), UNREADABLE),  # a number is answered in the form
        (value(f="notes", v="hello"), UNREADABLE),
        (value(f=["has_eval_set"]), UNREADABLE),
        (value(v="yes"), UNREADABLE),  # a yes/no answer must be true, false or null
        (value(v=1), UNREADABLE),
        (value(v=[True]), UNREADABLE),
        (value(f="primary_failure", v="vibes"), UNREADABLE),  # not one of the choices
        (value(f="primary_failure", v=True), UNREADABLE),
        (value(d="01ARZ3NDEKTSV4RRFFQ69G5FA<"), UNREADABLE),
        (value(d=decision.lower()), UNREADABLE),
        (value(d=123), UNREADABLE),
        ("x" * 3000, UNREADABLE),
        (value(d="01ARZ3NDEKTSV4RRFFQ69G5FAV"), GONE),  # well-formed, but no such decision here
        (value(d=other), GONE),  # another decision's, pressed in this one's thread
        (None, UNREADABLE),  # no value at all
    ]


def test_garbage_values_get_a_short_private_answer_never_a_500(reviewing: BotClient) -> None:
    bot = reviewing
    other = decision_of(bot, bot.decide()).id
    verdict, explanation = fine_tune_verdict(bot)
    decision = decision_of(bot, verdict).id
    cases = garbage_values(decision, other)
    for index, (value, _) in enumerate(cases):
        button: dict[str, Any] = {
            "action_id": f"{ActionId.ANSWER_QUESTION.value}:1",
            "text": {"type": "plain_text", "text": "No"},
        }
        if value is not None:
            button["value"] = value
        payload = click_payload(
            bot, ts=explanation, thread_ts=verdict, button=button, block_id="question-has_eval_set", name=f"g{index}"
        )
        assert bot.interaction(payload).status == 200, value
    for index, (value, told) in enumerate(cases):
        (note,) = private(bot, f"g{index}")
        assert told in note, (value, note)
        assert len(note) < 300
    settle()
    assert len(decision_of(bot, verdict).versions) == 1
    assert len(bot.replies(verdict)) == 1
    assert bot.fake.calls("chat.update") == []


def test_clicks_slack_sent_incomplete_get_a_private_answer_where_possible(bot: BotClient) -> None:
    verdict, explanation = fine_tune_verdict(bot)
    button = question_buttons(posted(bot, explanation), "has_eval_set")["No"]

    def payload(name: str) -> dict[str, Any]:
        return click_payload(
            bot, ts=explanation, thread_ts=verdict, button=button, block_id="question-has_eval_set", name=name
        )

    broken = [
        ("no-user", lambda p: p.pop("user")),
        ("bad-user", lambda p: p["user"].update(id="not a user")),
        ("no-channel", lambda p: p.pop("channel")),
        ("no-message", lambda p: p.pop("message")),
        ("bad-ts", lambda p: p["message"].update(ts="yesterday")),
        ("no-action-ts", lambda p: p["actions"][0].pop("action_ts")),
        ("no-team", lambda p: (p.pop("team"), p["message"].pop("team"))),  # neither the click's nor the message's
    ]
    for name, breaking in broken:
        body = payload(name)
        breaking(body)
        assert bot.interaction(body).status == 200, name
    for name, _ in broken:
        (note,) = private(bot, name)
        assert "Slack sent this click without" in note
    # Without a response_url there is nobody to tell: still no 500, and nothing recorded.
    body = payload("nowhere")
    body.pop("response_url")
    assert bot.interaction(body).status == 200
    body = payload("bare-action")  # the action id without a button's index: the same listener
    body["actions"][0]["action_id"] = ActionId.ANSWER_QUESTION.value
    body["actions"][0]["value"] = "garbage"
    assert bot.interaction(body).status == 200
    assert UNREADABLE in private(bot, "bare-action")[0]
    settle()
    assert len(decision_of(bot, verdict).versions) == 1
    assert len(bot.replies(verdict)) == 1


# --- no ids where people read --------------------------------------------------------------------------------------

_RULESET = fixture_rules.ruleset()  # the rules the served bot decides by
# Next-step ids that are also the ordinary spelling of what they name may be read ("fine-tune", "few-shot", and
# "dspy", the library's own name in code: `dspy.MIPROv2`); the others are ids, like every rule id and every field
# name of the answers and the form.
_WORDS = {"fine-tune", "few-shot", "dspy"}
_IDS = sorted(
    {rule.id for rule in _RULESET.rules}
    | {step.value for step in _RULESET.next_steps if step.value not in _WORDS}
    | {name for name in FACTS if "_" in name}
    | {block.value for block in BlockId if "_" in block.value}
)
_ID = re.compile(r"(?<![\w-])(" + "|".join(re.escape(name) for name in _IDS) + r")(?![\w-])")
_HASH = re.compile(r"(?<![0-9A-Za-z])([0-9a-f]{64}|[0-9a-f]{12})(?![0-9A-Za-z])")
# A link's address is not read, its label is: `<https://…|label>` counts as the label.
_LINK = re.compile(r"<(https?://[^|>]*)\|([^>]*)>")
# Machine fields of blocks: what a button sends back, and the ids Slack routes by.
_MACHINE = {"value", "action_id", "block_id", "type", "url"}


def readable(message: dict[str, Any]) -> list[str]:
    """Every text string of a posted message that a person may read: the fallback text and every string in its
    blocks but the machine fields."""
    found: list[str] = []

    def walk(item: object, key: str | None = None) -> None:
        if isinstance(item, dict):
            for name, inner in item.items():
                if name not in _MACHINE:
                    walk(inner, name)
        elif isinstance(item, list):
            for inner in item:
                walk(inner, key)
        elif isinstance(item, str):
            found.append(_LINK.sub(r"\2", item))

    walk(message.get("text"))
    walk(blocks_of(message))
    return found


def leaks(message: dict[str, Any]) -> list[str]:
    """The ids and hashes in what people read of `message`."""
    return [match.group(0) for text in readable(message) for match in (*_ID.finditer(text), *_HASH.finditer(text))]


def test_the_leak_check_finds_what_it_looks_for() -> None:
    message = {
        "text": "rule `pattern-fine-tune`",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "next step prompt-and-rag; has_eval_set"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "sha256 0123456789ab → " + "f" * 64}]},
            {"type": "actions", "elements": [{"type": "button", "value": "has_eval_set", "action_id": "x"}]},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "<https://x.example/rag-0123456789ab|docs> few-shot"},
            },
        ],
    }
    assert sorted(leaks(message)) == sorted(
        ["pattern-fine-tune", "prompt-and-rag", "has_eval_set", "0123456789ab", "f" * 64]
    )


def _forms() -> list[dict[str, Any]]:
    """Realistic forms: every failure, few to many examples, nothing to everything tried, with and without the
    prompt-work counts and the optional questions (left open in most)."""
    tried_sets: list[list[str]] = [
        ["nothing"],
        ["prompt"],
        ["prompt", "few-shot", "rag"],
        ["prompt", "few-shot", "rag", "cot", "dspy"],
    ]
    failures = ["missing-knowledge", "style", "format", "tool-shape", "reasoning", "latency", "cost", "other"]
    counts = ["8", "120", "5000"]
    extras: list[dict[str, Any]] = [
        {},
        {"has_eval_set": "no", "needs_citations": "yes"},
        {"has_eval_set": "yes", "style_describable": "yes", "daily_calls": "2000000", "latency_sensitive": "yes"},
        {"chasing_small_benchmark_gain": "yes", "n_tools": "4", "retrain_cadence_days": "7"},
    ]
    forms = []
    for index, (failure, count, tried) in enumerate(itertools.product(failures, counts, tried_sets)):
        form: dict[str, Any] = {
            "use_case": f"Case {index}: {failure} with {count} examples",
            "primary_failure": failure,
            "n_stable_examples": count,
            "change_freq_days": ["7", "30", "90", "365"][index % 4],
            "tried": tried,
            **extras[index % len(extras)],
        }
        if "prompt" in tried and index % 3:
            form.update(prompt_iterations=str(5 + index % 20), prompt_authors=str(1 + index % 3))
        if failure == "tool-shape" and form.get("n_tools") is None:
            form["n_tools"] = "3"
        forms.append(form)
    # And the forms that reach fine-tuning: with the eval set confirmed, denied, or not said.
    for eval_set in ("yes", "no", None):
        forms.append({**FINE_TUNE_FORM, **({"has_eval_set": eval_set} if eval_set else {})})
    return forms


def test_no_ids_in_the_verdict_or_its_explanation_for_a_grid_of_forms(bot: BotClient) -> None:
    forms = _forms()
    verdicts: set[tuple[str, str]] = set()
    questions: set[str] = set()
    for form in forms:
        verdict = bot.decide(form)
        explanation = posted(bot, explanation_ts(bot, verdict))
        for message, what in ((posted(bot, verdict), "verdict"), (explanation, "explanation")):
            assert leaks(message) == [], f"{what} for {form}: {leaks(message)}"
        latest = decision_of(bot, verdict).latest
        verdicts.add((latest.verdict, latest.next_step))
        questions.update(asked(explanation))
    # The grid reaches both verdicts, many next steps, and asks several different questions.
    assert {verdict for verdict, _ in verdicts} == {"fine-tune", "dont-fine-tune"}
    assert len({step for _, step in verdicts}) >= 6
    assert len(questions) >= 3


def test_no_ids_in_the_threads_replies_except_rules_and_history(
    fake_slack: FakeSlack, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    rules = fixture_rules.copy(tmp_path)
    fake_slack.set_usergroup(GROUP, [MEMBER])
    with served_bot(fake_slack, redis_url, key_prefix, rules_dir=rules) as bot:
        verdict = bot.decide({**FINE_TUNE_FORM, "n_stable_examples": "35", "tried": ["prompt", "few-shot"]})
    fixture_rules.lower_examples_threshold(rules, 30)  # the rules change: a re-review says which rule, and how
    with served_bot(fake_slack, redis_url, key_prefix, rules_dir=rules) as bot:
        assert bot.event(reaction(verdict, user=OTHER)).status == 200
        rereviewed = texts(bot.wait_replies(verdict, 2))[-1]
        assert "The rules changed since version 1" in rereviewed
        assert "changed: *Under 40 examples*: threshold Stable examples" in rereviewed
        replies = 2
        for text in ("why", "why not", "what if we had 600 examples and tried dspy", "and if we tried rag", "apply"):
            bot.ask(text, thread_ts=verdict)
            replies += 1
            bot.wait_replies(verdict, replies)
        assert "Recorded as version 3" in texts(bot.replies(verdict))[-1]
        view = edit_form(bot, verdict)
        edited = {**FINE_TUNE_FORM, "n_stable_examples": "700", "tried": ["prompt", "few-shot", "rag", "dspy"]}
        assert bot.submit(edited, view=view, view_id="V0EDITIDS").status == 200
        replies += 1
        assert "Answers edited by" in texts(bot.wait_replies(verdict, replies))[-1]

        explanation = explanation_ts(bot, verdict)
        open_now = [fact for fact in asked(posted(bot, explanation)) if fact in {"has_eval_set", "needs_citations"}]
        assert open_now
        press(bot, explanation, open_now[0], "Yes", thread_ts=verdict)
        replies += 1
        assert "answered" in texts(bot.wait_replies(verdict, replies))[-1]

        for text in ("rules", "history"):  # engineers read these two: ids and versions stay
            bot.ask(text, thread_ts=verdict)
            replies += 1
            bot.wait_replies(verdict, replies)
        thread = bot.replies(verdict)
        kinds = texts(thread)
        assert "`" in kinds[-2]  # `rules` names the rule ids
        assert leaks(thread[-2])
        for message, text in zip(thread[1:-2], kinds[1:-2], strict=True):
            assert leaks(message) == [], text
        for call in bot.fake.calls("chat.update"):
            assert leaks(dict(call.args)) == []


def test_an_answer_is_in_the_channels_activity_log_and_its_digest(bot: BotClient) -> None:
    """The weekly digest reads the activity log: an answered question is a version like any other there."""
    verdict, explanation = fine_tune_verdict(bot)
    press(bot, explanation, "has_eval_set", "No", thread_ts=verdict)
    bot.wait_replies(verdict, 2)
    rows = bot.services.store.activity_between(
        workspace=TEAM, channel=CHANNEL, start=datetime(2000, 1, 1, tzinfo=UTC), end=datetime(2100, 1, 1, tzinfo=UTC)
    )
    assert [(r.number, r.trigger, r.verdict_before, r.verdict) for r in rows][-1] == (
        2,
        "answered",
        "fine-tune",
        "dont-fine-tune",
    )
    assert bot.command("digest preview").status == 200
    preview = texts([bot.fake.wait_for("webhook/command", 1)[0].args])[0]
    assert f"v2 answered in the thread by <@{USER}>" in preview
    assert "Re-reviews, edits and answers" in preview
