"""The Home tab, through Slack: opening it publishes the person's decisions, the questions waiting for them and their
channels' digests; its button opens the form with a channel to choose; it is published again when one of their
decisions changes. Signed requests, the fake Slack, real Redis, the tests' own rules."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.manifest import BOT_EVENTS, build_manifest
from bot.slack.ids import ActionId, PickerId
from tests.render_support import check_block, check_not_injected, mrkdwn_texts
from tests.slack_support import (
    CHANNEL,
    REQUIRED_ANSWERS,
    TEAM,
    USER,
    BotClient,
    block_actions,
    message_ts,
)

HOSTILE = "<!channel> triage & <https://evil.example|docs>"


def home_opened(bot: BotClient, *, user: str = USER, tab: str = "home") -> None:
    """`user` opened the bot's Home tab (or its Messages tab), as Slack sends `app_home_opened`."""
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab, "event_ts": message_ts()}
    assert bot.event(event).status == 200


def published(bot: BotClient, count: int, *, user: str = USER) -> dict[str, Any]:
    """The view of the `count`-th views.publish for `user`."""
    deadline = time.monotonic() + 5
    while True:
        calls = [call for call in bot.fake.calls("views.publish") if call.args.get("user_id") == user]
        if len(calls) >= count:
            view = calls[count - 1].args["view"]
            return json.loads(view) if isinstance(view, str) else dict(view)
        assert time.monotonic() < deadline, f"{len(calls)} of {count} Home tabs published for {user}"
        time.sleep(0.02)


def check_home(view: dict[str, Any]) -> str:
    """The view is a Home tab within Slack's limits with nothing injected; all its mrkdwn text."""
    assert view["type"] == "home"
    assert 1 <= len(view["blocks"]) <= 100
    for block in view["blocks"]:
        check_block(block)
    check_not_injected({"text": "home", "blocks": view["blocks"]})
    return "\n".join(mrkdwn_texts({"text": "", "blocks": view["blocks"]}))


def test_the_manifest_enables_the_home_tab_and_its_event() -> None:
    manifest = build_manifest(socket_mode=True)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert "app_home_opened" in BOT_EVENTS


def test_opening_the_home_tab_lists_the_persons_decision(bot: BotClient) -> None:
    bot.decide()
    home_opened(bot)
    text = check_home(published(bot, 1))
    assert "*Support-ticket triage* in <#C0DECIDE>" in text
    assert "Don't fine-tune yet: Show the model examples (few-shot)" in text  # the fixture's next step title
    assert "<https://" in text
    assert "|open the verdict>" in text
    assert "<#C0DECIDE>: weekly digest Monday 09:00 UTC" in text


def test_each_channel_shows_its_own_digest_schedule(bot: BotClient) -> None:
    bot.decide()
    assert bot.command("digest friday 16:00 Europe/Berlin").status == 200
    bot.fake.wait_for("chat.postMessage", 3)  # the verdict, its explanation, the change said in the channel
    home_opened(bot)
    assert "<#C0DECIDE>: weekly digest Friday 16:00 Europe/Berlin" in check_home(published(bot, 1))


def test_someone_with_no_decisions_sees_how_to_start(bot: BotClient) -> None:
    home_opened(bot, user="U0NEWBIE")
    text = check_home(published(bot, 1, user="U0NEWBIE"))
    assert "None yet" in text
    buttons = next(b for b in published(bot, 1, user="U0NEWBIE")["blocks"] if b["type"] == "actions")["elements"]
    assert [button["action_id"] for button in buttons] == [ActionId.HOME_NEW_DECISION.value]


def test_the_messages_tab_publishes_nothing(bot: BotClient) -> None:
    home_opened(bot, tab="messages")
    time.sleep(0.5)
    assert bot.fake.calls("views.publish") == []


def test_questions_waiting_for_the_person_are_listed(bot: BotClient) -> None:
    bot.decide()  # the fixture's rules leave questions open for these answers
    home_opened(bot)
    view = published(bot, 1)
    text = check_home(view)
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert "Waiting for your answer" in headers
    assert "|answer in its thread>" in text
    assert "• " in text


def test_many_decisions_show_the_newest_with_a_count_of_the_rest(bot: BotClient) -> None:
    for number in range(12):
        bot.decide({**REQUIRED_ANSWERS, "use_case": f"Use case {number}"})
    home_opened(bot)
    text = check_home(published(bot, 1))
    assert "*Use case 11*" in text  # the newest first
    assert "*Use case 2* in" in text
    assert "*Use case 1* in" not in text
    assert "And 2 earlier decisions" in text


def test_a_hostile_use_case_is_shown_not_sent(bot: BotClient) -> None:
    bot.decide({**REQUIRED_ANSWERS, "use_case": HOSTILE})
    home_opened(bot)
    text = check_home(published(bot, 1))
    assert "&lt;!channel&gt; triage &amp; &lt;https://evil.example|docs&gt;" in text


def test_the_home_tab_is_published_again_when_a_decision_of_theirs_is_posted_or_changes(bot: BotClient) -> None:
    home_opened(bot)
    assert "None yet" in check_home(published(bot, 1))
    verdict = bot.decide()
    assert "Support-ticket triage" in check_home(published(bot, 2))  # once the verdict was out
    bot.ask("what if we had 600 examples", thread_ts=verdict)
    bot.wait_replies(verdict, 2)
    bot.ask("apply", thread_ts=verdict)
    bot.wait_replies(verdict, 3)
    assert "version 2" in check_home(published(bot, 3))


def test_someone_who_never_opened_the_home_tab_costs_no_slack_call(bot: BotClient) -> None:
    verdict = bot.decide()
    bot.ask("what if we had 600 examples", thread_ts=verdict)
    bot.wait_replies(verdict, 2)
    bot.ask("apply", thread_ts=verdict)
    bot.wait_replies(verdict, 3)
    time.sleep(0.5)
    assert bot.fake.calls("views.publish") == []
    assert bot.fake.calls("chat.getPermalink") == []


def test_new_decision_opens_the_form_with_a_channel_to_choose(bot: BotClient) -> None:
    payload = block_actions(
        ActionId.HOME_NEW_DECISION.value, "new", message_ts=message_ts(), response_url=bot.fake.response_url("home")
    )
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    payload.pop("channel", None)
    payload.pop("message", None)
    assert bot.interaction(payload).status == 200
    bot.fake.wait_for("views.open")
    view = bot.opened_view()
    assert any(block.get("block_id") == PickerId.CHANNEL.value for block in view["blocks"])
    assert json.loads(view["private_metadata"]) == {"team": TEAM, "user": USER}
    assert CHANNEL not in view["private_metadata"]
