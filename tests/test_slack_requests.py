"""Requests Slack sends that are not a person's action: the certificate check, the rate-limit notice, and how the
command's text arrives (escaped, and sometimes starting with a word that is also a sub-command)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from bot.manifest import build_manifest
from bot.metrics import PREFIX
from bot.text import readable
from tests.slack_support import REQUIRED_ANSWERS, TEAM, BotClient, http

FORM = "application/x-www-form-urlencoded"


def metric(bot: BotClient, name: str) -> float:
    text = bot.services.metrics.render().decode()
    for line in text.splitlines():
        if line.startswith(PREFIX + name + " ") or line.startswith(PREFIX + name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


# --- ssl_check -------------------------------------------------------------------------------------------------------


def test_slacks_certificate_check_gets_200_without_a_signature(bot: BotClient) -> None:
    # What Slack sends to a slash command's URL to check its certificate: no X-Slack-Signature at all.
    before = len(bot.fake.calls())
    body = urlencode({"ssl_check": "1", "token": "legacy-verification-token"}).encode()
    reply = http(bot.url + "/slack/events", body, {"Content-Type": FORM})
    assert reply.status == 200
    assert len(bot.fake.calls()) == before  # nothing is done for it


@pytest.mark.parametrize(
    "fields",
    [
        {"ssl_check": "0", "token": "t"},
        {"ssl_check": "1", "token": "t", "command": "/should-finetune", "text": "x"},  # a command riding on it
        {"ssl_check": "1", "payload": "{}"},
    ],
)
def test_anything_else_unsigned_is_still_refused(bot: BotClient, fields: dict[str, str]) -> None:
    reply = http(bot.url + "/slack/events", urlencode(fields).encode(), {"Content-Type": FORM})
    assert reply.status == 401
    assert bot.fake.calls("views.open") == []


# --- app_rate_limited ------------------------------------------------------------------------------------------------


def test_the_events_rate_limit_notice_gets_200_and_is_logged_and_counted(
    bot: BotClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Slack's documented body: sent on its own, not wrapped in event_callback, and signed like every delivery.
    notice = {
        "token": "legacy-unused",
        "type": "app_rate_limited",
        "team_id": TEAM,
        "minute_rate_limited": 1518467820,
        "api_app_id": "A0FAKE",
    }
    before = metric(bot, "slack_events_rate_limited_total")
    reply = bot.post(json.dumps(notice).encode(), content_type="application/json")
    assert reply.status == 200
    assert metric(bot, "slack_events_rate_limited_total") == before + 1
    assert any("dropping events" in r.getMessage() and TEAM in r.getMessage() for r in caplog.records)
    requests = bot.services.metrics.render().decode()
    assert f'{PREFIX}requests_total{{kind="app_rate_limited",status="200"}} 1.0' in requests


def test_an_unsigned_rate_limit_notice_is_refused(bot: BotClient) -> None:
    body = json.dumps({"type": "app_rate_limited", "team_id": TEAM, "minute_rate_limited": 1}).encode()
    reply = http(bot.url + "/slack/events", body, {"Content-Type": "application/json"})
    assert reply.status == 401


# --- the command's text ----------------------------------------------------------------------------------------------


def use_case_shown(bot: BotClient) -> str:
    bot.fake.wait_for("views.open", 1)
    view = bot.opened_view()
    block = next(b for b in view["blocks"] if b.get("block_id") == "use_case")
    return str(block["element"]["initial_value"])


@pytest.mark.parametrize(
    "text", ["Help desk ticket routing", "usage forecasting for cloud bills", "help me route tickets"]
)
def test_a_use_case_that_begins_with_a_help_word_opens_the_form(bot: BotClient, text: str) -> None:
    reply = bot.command(text)
    assert reply.status == 200
    assert reply.body == b""  # no usage text
    assert use_case_shown(bot) == text


@pytest.mark.parametrize("text", ["help", "usage", "-h", "?", " HELP "])
def test_the_bare_help_word_is_the_help(bot: BotClient, text: str) -> None:
    body = bot.command(text).json()
    assert "/should-finetune [use case]" in body["text"]
    assert bot.fake.calls("views.open") == []


def test_slacks_escapes_in_the_command_are_decoded_once(bot: BotClient) -> None:
    # Slack sends `&`, `<` and `>` of the typed text as entities.
    bot.command("R&amp;D &lt;triage&gt; bot")
    assert use_case_shown(bot) == "R&D <triage> bot"

    answers = {**REQUIRED_ANSWERS, "use_case": "R&D <triage> bot"}
    assert bot.submit(answers).status == 200
    verdict = bot.fake.wait_for("chat.postMessage", 1)[0]
    shown = json.dumps(verdict.args)
    assert "R&amp;D &lt;triage&gt; bot" in shown  # escaped once for mrkdwn, so Slack shows what was typed
    assert "&amp;amp;" not in shown
    assert "&amp;lt;" not in shown


def test_an_escaped_entity_typed_on_purpose_survives(bot: BotClient) -> None:
    # Someone who typed "&lt;" literally: Slack sends "&amp;lt;", which is decoded to what they typed.
    bot.command("parse &amp;lt; in HTML")
    assert use_case_shown(bot) == "parse &lt; in HTML"


# --- mentions, channels and links: the command is escaped (`should_escape`), a use case shows them as typed ---------


def test_the_manifest_asks_slack_to_escape_the_commands_mentions() -> None:
    (command,) = build_manifest(socket_mode=True)["features"]["slash_commands"]
    assert command["should_escape"] is True


def test_mentions_channels_and_links_in_a_use_case_read_as_the_person_saw_them(bot: BotClient) -> None:
    bot.command(
        "triage for <#C0OPS|ops> with <@U0BOB|bob> and <!subteam^S0ML|@ml-team>, see <https://x.example/a|the doc>"
    )
    assert use_case_shown(bot) == "triage for #ops with @bob and @ml-team, see the doc"


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("<@U0BOB|bob> and <@U0ANN>", "@bob and @U0ANN"),
        ("<#C0OPS|ops> <#C0DEV>", "#ops #C0DEV"),
        ("<!here> <!channel> <!subteam^S0ML|@ml-team> <!subteam^S0X>", "@here @channel @ml-team subteam"),
        ("<https://a.example> <https://b.example|b>", "https://a.example b"),
        ("&lt;b&gt; R&amp;D <not markup", "&lt;b&gt; R&amp;D <not markup"),  # entities are unescape's
        ("a < b > c", "a < b > c"),
    ],
)
def test_readable(sent: str, shown: str) -> None:
    assert readable(sent) == shown
