"""A form whose trigger has all but expired is not tried: the person is told to run the command again."""

from __future__ import annotations

import threading
import time

from bot.listeners.command import open_form
from bot.listeners.common import TRIGGER_BUDGET
from bot.slack.forms import FormMetadata
from tests.slack_support import CHANNEL, TEAM, USER, BotClient, trigger_id
from tests.test_metrics import scrape, value, wait_for_value

FORMS = "should_finetune_forms_total"


def test_a_form_asked_for_in_time_is_opened_and_counted(bot: BotClient) -> None:
    reply = bot.command("summarise support tickets", response_url=bot.fake.response_url("form"))
    assert reply.status == 200
    bot.fake.wait_for("views.open")
    wait_for_value(bot, FORMS, 1, outcome="opened")
    assert bot.fake.webhook_bodies("form") == []


def test_a_form_whose_trigger_is_nearly_expired_is_not_tried_and_the_person_is_told(bot: BotClient) -> None:
    open_form(
        services=bot.services,
        trigger_id=trigger_id(),
        metadata=FormMetadata(team=TEAM, channel=CHANNEL, user=USER),
        text="summarise support tickets",
        response_url=bot.fake.response_url("late"),
        received=time.monotonic() - TRIGGER_BUDGET - 0.05,
    )
    assert bot.fake.calls("views.open") == []
    (notice,) = [call.args for call in bot.fake.wait_for("webhook/late", 1)]
    assert notice["response_type"] == "ephemeral"
    assert "too busy to open the form" in notice["text"]
    assert "run the command again" in notice["text"]
    assert value(scrape(bot), FORMS, outcome="too-late") == 1


def test_commands_queued_behind_busy_form_threads_are_answered_not_opened_late(bot: BotClient) -> None:
    # Every thread kept for forms is busy for longer than the budget: the command queued behind them starts too late
    # for its trigger, so it must not call views.open (which Slack would refuse) but say so.
    release = threading.Event()
    busy = bot.services.worker.urgent._max_workers
    for _ in range(busy):
        bot.services.worker.urgent.submit(release.wait, TRIGGER_BUDGET + 0.5)
    try:
        reply = bot.command("summarise support tickets", response_url=bot.fake.response_url("queued"))
        assert reply.status == 200
        (notice,) = bot.fake.wait_for("webhook/queued", 1, timeout=10.0)
    finally:
        release.set()
    assert "too busy to open the form" in notice.args["text"]
    assert bot.fake.calls("views.open") == []
