"""The shortcuts, through Slack: *Should we fine-tune this?* on a message opens the form prefilled from the message by
the command's reader, and the verdict goes to the message's channel with a link back to it; *New fine-tune decision*
opens the form with a channel to choose. Signed requests, the fake Slack, real Redis."""

from __future__ import annotations

import json
from typing import Any

from bot.manifest import build_manifest
from bot.slack.forms import CHOOSE_CHANNEL
from bot.slack.ids import CallbackId, PickerId
from tests.fakeslack import WEBHOOK_PREFIX, FakeSlack
from tests.render_support import check_view
from tests.slack_support import (
    CHANNEL,
    REQUIRED_ANSWERS,
    TEAM,
    TEAM_DOMAIN,
    USER,
    BotClient,
    global_shortcut,
    message_shortcut,
)

INVOICES = "We have 300 labelled examples for invoice extraction and the JSON format keeps breaking"
OTHER_CHANNEL = "C0OTHER"


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The form's input elements by block id."""
    return {block["block_id"]: block["element"] for block in view["blocks"] if block["type"] == "input"}


def shortcut_on(bot: BotClient, text: str, *, channel: str = CHANNEL) -> tuple[str, dict[str, Any]]:
    """A person wrote `text` in `channel`, and someone chose the message shortcut on it: the message's ts and the
    form that opened."""
    ts = bot.fake.add_message(channel, text, user="U0WRITER")
    message = bot.fake.message(channel, ts)
    assert message is not None
    opened = len(bot.fake.calls("views.open"))
    payload = message_shortcut(
        message,
        callback_id=CallbackId.MESSAGE_SHORTCUT.value,
        response_url=bot.fake.response_url("shortcut"),
        channel=channel,
    )
    assert bot.interaction(payload).status == 200
    bot.fake.wait_for("views.open", opened + 1)
    return ts, bot.opened_view()


def verdicts(fake: FakeSlack) -> list[dict[str, Any]]:
    return [call.args for call in fake.calls("chat.postMessage") if "thread_ts" not in call.args]


# --- the manifest -----------------------------------------------------------------------------------------------------


def test_the_manifest_has_both_shortcuts_with_the_ids_the_bot_listens_for() -> None:
    shortcuts = build_manifest(socket_mode=False, url="https://bot.example.com")["features"]["shortcuts"]
    assert [(s["type"], s["callback_id"], s["name"]) for s in shortcuts] == [
        ("message", CallbackId.MESSAGE_SHORTCUT.value, "Should we fine-tune this?"),
        ("global", CallbackId.GLOBAL_SHORTCUT.value, "New fine-tune decision"),
    ]


# --- the message shortcut ---------------------------------------------------------------------------------------------


def test_the_message_shortcut_opens_the_form_prefilled_from_the_message(bot: BotClient) -> None:
    _, view = shortcut_on(bot, INVOICES)
    check_view(view)
    elements = inputs(view)
    assert elements["n_stable_examples"]["initial_value"] == "300"
    assert elements["primary_failure"]["initial_option"]["value"] == "format"
    assert PickerId.CHANNEL.value not in elements  # the verdict goes to the message's channel
    context = view["blocks"][0]
    assert context["type"] == "context"
    assert context["elements"][0]["text"].startswith("*From the message:*")
    assert "command" not in json.dumps(context)


def test_the_verdict_goes_to_the_messages_channel_and_links_back_to_it(bot: BotClient) -> None:
    ts, view = shortcut_on(bot, INVOICES)
    posted = len(bot.fake.calls("chat.postMessage"))
    assert bot.submit({**REQUIRED_ANSWERS, "n_stable_examples": 300}, view=view).status == 200
    bot.fake.wait_for("chat.postMessage", posted + 2)
    (verdict,) = verdicts(bot.fake)
    assert verdict["channel"] == CHANNEL
    link = f"https://{TEAM_DOMAIN}.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"
    context = next(block for block in verdict["blocks"] if block["type"] == "context")
    assert f"Asked about <{link}|this message>" in context["elements"][0]["text"]
    (decision,) = bot.services.store.recent_decisions(workspace=TEAM, channel=CHANNEL, limit=5)
    assert decision.source == link


def test_a_message_with_no_answer_in_it_opens_the_form_with_its_text_as_the_use_case(bot: BotClient) -> None:
    _, view = shortcut_on(bot, "Route support tickets &lt;urgent&gt; to the right team")
    assert inputs(view)["use_case"]["initial_value"] == "Route support tickets <urgent> to the right team"
    assert view["blocks"][0]["type"] != "context"  # nothing was read, so nothing is said about it


def test_a_message_shortcut_without_a_trigger_is_answered_not_dropped(bot: BotClient) -> None:
    ts = bot.fake.add_message(CHANNEL, INVOICES, user="U0WRITER")
    message = bot.fake.message(CHANNEL, ts)
    assert message is not None
    payload = message_shortcut(
        message,
        callback_id=CallbackId.MESSAGE_SHORTCUT.value,
        response_url=bot.fake.response_url("broken"),
        trigger_id="",
    )
    assert bot.interaction(payload).status == 200
    bot.fake.wait_for(f"{WEBHOOK_PREFIX}broken")
    (answer,) = bot.fake.webhook_bodies("broken")
    assert "please try it again" in answer["text"]
    assert bot.fake.calls("views.open") == []


# --- the global shortcut ----------------------------------------------------------------------------------------------


def open_global(bot: BotClient) -> dict[str, Any]:
    opened = len(bot.fake.calls("views.open"))
    assert bot.interaction(global_shortcut(callback_id=CallbackId.GLOBAL_SHORTCUT.value)).status == 200
    bot.fake.wait_for("views.open", opened + 1)
    return bot.opened_view()


def test_the_global_shortcut_opens_the_form_with_a_channel_to_choose(bot: BotClient) -> None:
    view = open_global(bot)
    check_view(view)
    picker = inputs(view)[PickerId.CHANNEL.value]
    assert picker["type"] == "conversations_select"
    assert picker["filter"]["include"] == ["public", "private"]  # a verdict's thread needs a channel
    assert json.loads(view["private_metadata"]) == {"team": TEAM, "user": USER}


def test_the_form_asks_for_the_channel_when_none_was_chosen(bot: BotClient) -> None:
    view = open_global(bot)
    reply = bot.submit(REQUIRED_ANSWERS, view=view)
    assert reply.status == 200
    assert reply.json() == {"response_action": "errors", "errors": {PickerId.CHANNEL.value: CHOOSE_CHANNEL}}
    assert verdicts(bot.fake) == []


def test_the_verdict_goes_to_the_channel_chosen(bot: BotClient) -> None:
    view = open_global(bot)
    posted = len(bot.fake.calls("chat.postMessage"))
    reply = bot.submit({**REQUIRED_ANSWERS, PickerId.CHANNEL.value: OTHER_CHANNEL}, view=view)
    assert reply.status == 200
    assert not reply.body  # the form closes
    bot.fake.wait_for("chat.postMessage", posted + 2)
    (verdict,) = verdicts(bot.fake)
    assert verdict["channel"] == OTHER_CHANNEL
    assert "Asked about" not in json.dumps(verdict)
    (decision,) = bot.services.store.recent_decisions(workspace=TEAM, channel=OTHER_CHANNEL, limit=5)
    assert decision.requester == USER
    assert decision.source is None


def test_answers_with_mistakes_and_no_channel_get_both_errors_at_once(bot: BotClient) -> None:
    view = open_global(bot)
    reply = bot.submit({**REQUIRED_ANSWERS, "use_case": ""}, view=view)
    errors = reply.json()["errors"]
    assert set(errors) == {PickerId.CHANNEL.value, "use_case"}
