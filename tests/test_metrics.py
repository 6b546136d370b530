"""Prometheus metrics, scraped over HTTP from the served bot after requests signed as Slack signs them."""

from __future__ import annotations

import json
import re
import socket
import time
from collections import Counter
from typing import Any
from urllib.error import URLError

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.manifest import BOT_EVENTS
from bot.metrics import EVENT_TYPES, KINDS, RETRY_REASONS, Metrics
from bot.slack.api import build_client
from bot.store import Trigger
from tests.fakeslack import FakeSlack
from tests.redis_support import OwnRedis
from tests.redis_support import own_redis as own_redis  # noqa: PLC0414 - the fixture, shared
from tests.slack_support import (
    CHANNEL,
    TEAM,
    USER,
    BotClient,
    app_mention,
    block_actions,
    bot_settings,
    http,
    message_ts,
    served_bot,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
# Someone joining the workspace: an event no listener of the bot takes, as Slack sends it.
TEAM_JOIN = {
    "type": "team_join",
    "user": {
        "id": "U0NEW",
        "team_id": TEAM,
        "name": "newcomer",
        "deleted": False,
        "real_name": "New Comer",
        "tz": "Europe/Paris",
        "is_admin": False,
        "is_owner": False,
        "is_bot": False,
        "is_app_user": False,
        "updated": 1700000000,
        "profile": {"real_name": "New Comer", "display_name": "newcomer", "team": TEAM},
    },
    "cache_ts": 1700000000,
    "event_ts": "1700000000.000100",
}


def scrape(bot: BotClient) -> Samples:
    """Every sample at GET /metrics, by name and labels."""
    reply = http(bot.url + "/metrics", method="GET")
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 for a series not exported (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for (sample, labels), _ in samples.items() if sample == name}


def wait_for_value(bot: BotClient, name: str, expected: float, *, timeout: float = 5.0, **labels: str) -> Samples:
    """Scrape until the series reaches `expected` (work after the response counts when it is done)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(bot)
        if value(samples, name, **labels) >= expected or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def quiet(bot: BotClient) -> Samples:
    """Scrape once no work handed over after a response is left (the gauge must come back to 0)."""
    deadline = time.monotonic() + 5
    while value(samples := scrape(bot), "should_finetune_background_work", pool="background") != 0:
        assert time.monotonic() < deadline, "background work never finished"
        time.sleep(0.05)
    return samples


def requests(samples: Samples, kind: str, status: int) -> float:
    return value(samples, "should_finetune_requests_total", kind=kind, status=str(status))


def api_calls(fake: FakeSlack) -> Counter[str]:
    """Web API requests the fake answered, by method (response_url posts are not Web API calls)."""
    return Counter(call.method for call in fake.calls() if not call.method.startswith("webhook/"))


def reaction(ts: str, *, user: str = USER) -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": "repeat",
        "item_user": "U0BOT",
        "item": {"type": "message", "channel": CHANNEL, "ts": ts},
        "event_ts": message_ts(),
    }


# --- requests ------------------------------------------------------------------------------------------------------


def test_each_request_is_counted_by_kind_and_status_with_its_latency(bot: BotClient) -> None:
    before = scrape(bot)
    verdict = bot.decide()  # a command and a view submission
    assert bot.ask("why", thread_ts=verdict).status == 200
    bot.wait_replies(verdict, 2)
    assert bot.event(TEAM_JOIN).status == 200
    assert bot.event(app_mention("<@U0BOT> hi")).status == 200
    challenge = json.dumps({"type": "url_verification", "token": "legacy-unused", "challenge": "c0ffee"}).encode()
    assert bot.post(challenge, content_type="application/json").json() == {"challenge": "c0ffee"}
    unsigned = http(bot.url + "/slack/events", b"command=/should-finetune", {"Content-Type": "application/x-www-form"})
    assert unsigned.status == 401
    assert http(bot.url + "/healthz", method="GET").status == 200
    assert http(bot.url + "/readyz", method="GET").status == 200
    assert http(bot.url + "/wp-login.php", method="GET").status == 404
    after = scrape(bot)

    def delta(kind: str, status: int) -> float:
        return requests(after, kind, status) - requests(before, kind, status)

    assert delta("command", 200) == 1
    assert delta("view_submission", 200) == 1
    assert delta("event:message", 200) == 1
    assert delta("event:app_mention", 200) == 1
    assert delta("event:other", 200) == 1
    assert delta("url_verification", 200) == 1
    assert delta("other", 401) == 1
    assert delta("other", 404) == 1
    assert delta("health", 200) == 2
    assert delta("metrics", 200) == 1  # the scrape before; a scrape is counted once it is answered
    histogram = "should_finetune_request_duration_seconds"
    for kind, count in (("command", 1), ("view_submission", 1), ("health", 2)):
        assert value(after, f"{histogram}_count", kind=kind) - value(before, f"{histogram}_count", kind=kind) == count
        assert value(after, f"{histogram}_sum", kind=kind) > value(before, f"{histogram}_sum", kind=kind)
        assert value(after, f"{histogram}_bucket", kind=kind, le="+Inf") == value(
            after, f"{histogram}_count", kind=kind
        )


def test_each_response_carries_a_fresh_request_id(bot: BotClient) -> None:
    first, second = bot.command(), http(bot.url + "/healthz", method="GET")
    ids = [first.headers["X-Request-Id"], second.headers["X-Request-Id"]]
    assert all(len(rid) == 12 and int(rid, 16) >= 0 for rid in ids)
    assert ids[0] != ids[1]


def test_the_subscribed_event_types_are_those_of_the_manifest() -> None:
    assert {event.split(".")[0] for event in BOT_EVENTS} == EVENT_TYPES


def test_slack_redeliveries_are_counted_by_reason(bot: BotClient) -> None:
    event = TEAM_JOIN
    assert bot.event(event, event_id="Ev0REDELIVER", retry_num=1, reason="http_timeout").status == 200
    assert bot.event(event, event_id="Ev0REDELIVER", retry_num=2, reason="http_timeout").status == 200
    assert bot.event(event, event_id="Ev0REDELIVER", retry_num=3, reason="<script>").status == 200
    samples = scrape(bot)
    assert value(samples, "should_finetune_slack_redeliveries_total", reason="http_timeout") == 2
    assert value(samples, "should_finetune_slack_redeliveries_total", reason="other") == 1


def test_label_values_stay_bounded_whatever_is_sent(bot: BotClient) -> None:
    for number in range(30):
        assert bot.event({"type": f"evil_{number}", "text": "C0SECRET U0SECRET"}).status == 200
    for number in range(5):
        bot.command(f"use case {number}", channel=f"C0CHAN{number}", user=f"U0USER{number}")
    for number in range(10):
        http(bot.url + f"/probe/C0PATH{number}", method="GET")
        bot.event(TEAM_JOIN, event_id=f"Ev0HOSTILE{number}", retry_num=1, reason=f"reason_{number}")
    for number in range(5):
        headers = {"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00"}
        body = json.dumps({"type": "event_callback", "event": {"type": f"unsigned_{number}"}}).encode()
        assert http(bot.url + "/slack/events", body, {"Content-Type": "application/json", **headers}).status == 401
    bot.fake.wait_for("views.open", 5)
    samples = scrape(bot)
    text = http(bot.url + "/metrics", method="GET").body.decode()

    assert label_values(samples, "should_finetune_requests_total", "kind") <= KINDS
    assert label_values(samples, "should_finetune_request_duration_seconds_bucket", "kind") <= KINDS
    assert label_values(samples, "should_finetune_slack_redeliveries_total", "reason") <= RETRY_REASONS | {"other"}
    assert value(samples, "should_finetune_requests_total", kind="event:other", status="200") == 40
    assert value(samples, "should_finetune_requests_total", kind="other", status="401") == 5
    assert value(samples, "should_finetune_requests_total", kind="other", status="404") == 10
    for forbidden in ("evil_", "unsigned_", "reason_", "C0CHAN", "U0USER", "C0PATH", "C0SECRET", TEAM, CHANNEL, USER):
        assert forbidden not in text


def test_metrics_can_be_turned_off(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> None:
    with served_bot(fake_slack, redis_url, key_prefix, metrics=False) as bot:
        assert http(bot.url + "/metrics", method="GET").status == 404
        assert http(bot.url + "/healthz", method="GET").status == 200


def test_metrics_answer_get_only(bot: BotClient) -> None:
    assert http(bot.url + "/metrics", b"", method="POST").status == 405


# --- what the bot did ----------------------------------------------------------------------------------------------


def test_a_decision_is_counted_by_its_verdict_and_next_step_and_the_background_work_drains(bot: BotClient) -> None:
    verdict = bot.decide()
    decision = bot.services.store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
    assert decision is not None
    latest = decision.latest
    samples = quiet(bot)
    decisions = {
        labels: count for (name, labels), count in samples.items() if name == "should_finetune_decisions_total"
    }
    assert decisions == {frozenset({("verdict", latest.verdict), ("next_step", latest.next_step)}): 1.0}
    assert value(samples, "should_finetune_background_work", pool="urgent") == 0
    assert value(samples, "should_finetune_background_failures_total", pool="background") == 0


def test_a_rereview_is_counted_by_trigger_and_source_and_a_cooldown_refusal_too(bot: BotClient) -> None:
    verdict = bot.decide()
    assert bot.event(reaction(verdict)).status == 200
    bot.wait_replies(verdict, 2)
    labels = {"trigger": Trigger.RE_REVIEW.value, "source": "reaction", "changed": "false"}
    samples = wait_for_value(
        bot, "should_finetune_rereviews_total", 1, trigger="re-review", source="reaction", changed="false"
    )
    assert value(samples, "should_finetune_rereviews_total", **labels) == 1
    assert value(samples, "should_finetune_rereview_cooldowns_total") == 0

    payload = block_actions(
        "request-rereview",
        message_ts=verdict,
        message=bot.fake.message(CHANNEL, verdict),
        response_url=bot.fake.response_url("button"),
        trigger_id=bot.fake.new_trigger_id(),
        action_ts=message_ts(),
    )
    assert bot.interaction(payload).status == 200  # the same person again, within the cooldown
    bot.fake.wait_for("webhook/button", 1)
    samples = wait_for_value(bot, "should_finetune_rereview_cooldowns_total", 1)
    assert value(samples, "should_finetune_rereview_cooldowns_total") == 1
    assert value(samples, "should_finetune_rereviews_total", **labels) == 1
    assert requests(samples, "block_actions", 200) == 1
    assert requests(samples, "event:reaction_added", 200) == 1


def test_digests_are_counted_sent_quiet_already_and_failed(bot: BotClient) -> None:
    bot.decide()
    posted = len(bot.fake.calls("chat.postMessage"))
    assert bot.command("digest now").status == 200
    bot.fake.wait_for("chat.postMessage", posted + 1)
    samples = wait_for_value(bot, "should_finetune_digests_total", 1, result="sent")
    assert value(samples, "should_finetune_digests_total", result="sent") == 1

    assert bot.command("digest now").status == 200  # within the minute: already sent
    bot.fake.wait_for("webhook/command", 1)
    assert bot.command("digest now", channel="C0QUIET").status == 200  # no decisions there
    bot.fake.wait_for("webhook/command", 2)

    bot.decide(channel="C0GONE")
    bot.fake.set_channel("C0GONE", "channel_not_found")
    assert bot.command("digest now", channel="C0GONE").status == 200
    bot.fake.wait_for("webhook/command", 3)
    samples = wait_for_value(bot, "should_finetune_digests_total", 1, result="failed")
    counts = {result: value(samples, "should_finetune_digests_total", result=result) for result in ("sent", "quiet")}
    assert counts == {"sent": 1, "quiet": 1}
    assert value(samples, "should_finetune_digests_total", result="already") == 1
    assert value(samples, "should_finetune_digests_total", result="failed") == 1
    assert value(
        samples, "should_finetune_slack_api_errors_total", method="chat.postMessage", error="channel_not_found"
    )


# --- failures of what the bot depends on ---------------------------------------------------------------------------


def test_redis_failures_are_counted_by_exception_class(fake_slack: FakeSlack, own_redis: OwnRedis) -> None:
    with served_bot(fake_slack, own_redis.url, "sf") as bot:
        assert value(scrape(bot), "should_finetune_redis_errors_total", error="ConnectionError") == 0
        own_redis.stop()
        assert http(bot.url + "/readyz", method="GET").status == 503
        samples = scrape(bot)
        own_redis.start()
    assert value(samples, "should_finetune_redis_errors_total", error="ConnectionError") >= 1
    assert all(
        re.fullmatch(r"[A-Z][A-Za-z]+", error)
        for error in label_values(samples, "should_finetune_redis_errors_total", "error")
    )
    assert requests(samples, "health", 503) == 1


# --- Web API errors ------------------------------------------------------------------------------------------------


def test_web_api_errors_are_counted_by_method_and_error(bot: BotClient) -> None:
    fake = bot.fake
    fake.fail("views.open", status=503)
    assert bot.command().status == 200  # the form does not open: Slack answered 503
    fake.wait_for("views.open", 1)
    verdict = bot.decide()
    fake.fail("chat.postMessage", status=429, retry_after=1)
    assert bot.ask("why", thread_ts=verdict).status == 200
    bot.wait_replies(verdict, 2)  # after waiting out the 429
    fake.fail("chat.postMessage", status=200, error="channel_not_found")
    assert bot.ask("rules", thread_ts=verdict).status == 200
    fake.wait_for("chat.postMessage", len(fake.calls("chat.postMessage")) + 1)
    samples = wait_for_value(
        bot, "should_finetune_slack_api_errors_total", 1, method="chat.postMessage", error="channel_not_found"
    )
    samples = quiet(bot)
    answered = api_calls(fake)

    def errors(method: str, error: str) -> float:
        return value(samples, "should_finetune_slack_api_errors_total", method=method, error=error)

    assert errors("views.open", "http_503") == 1
    assert errors("chat.postMessage", "channel_not_found") == 1
    assert errors("chat.postMessage", "ratelimited") == 1
    assert sum(count for (name, _), count in samples.items() if name == "should_finetune_slack_api_errors_total") == 3
    # Every request the fake answered was counted once, retries included.
    for method, count in answered.items():
        assert value(samples, "should_finetune_slack_api_requests_total", method=method) == count, method


def test_connection_errors_and_timeouts_are_counted(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens here once the probe is closed
    metrics = Metrics(process=False)
    unreachable = bot_settings(fake_slack, redis_url, key_prefix, slack_api_url=f"http://127.0.0.1:{closed}/api/")
    with pytest.raises(URLError):
        build_client(unreachable, metrics=metrics).chat_postMessage(channel=CHANNEL, text="hello")

    fake_slack.set_delay("views.open", 3.0)  # longer than the trigger client waits
    trigger_client = build_client(bot_settings(fake_slack, redis_url, key_prefix), for_triggers=True, metrics=metrics)
    with pytest.raises(TimeoutError):
        trigger_client.views_open(trigger_id=fake_slack.new_trigger_id(), view={"type": "modal"})

    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
    }
    errors = "should_finetune_slack_api_errors_total"
    # A dropped connection is tried once more; a timeout is not (the request may have been done).
    assert value(samples, errors, method="chat.postMessage", error="connection_error") == 2
    assert value(samples, errors, method="views.open", error="timeout") == 1


# --- the Metrics object --------------------------------------------------------------------------------------------


def test_free_form_label_values_are_capped_and_never_text() -> None:
    metrics = Metrics(process=False)
    metrics.redis_error("ConnectionError")
    metrics.redis_error("ConnectionError")
    metrics.followup("what if we had 600 examples")  # text, not an outcome code
    for number in range(100):
        metrics.followup(f"outcome_{number}")
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
    }
    assert value(samples, "should_finetune_redis_errors_total", error="ConnectionError") == 2
    outcomes = label_values(samples, "should_finetune_followups_total", "outcome")
    assert len(outcomes) <= 33
    assert "other" in outcomes
    assert "what if we had 600 examples" not in outcomes
    assert sum(count for (name, _), count in samples.items() if name == "should_finetune_followups_total") == 101
    assert value(samples, "should_finetune_followups_total", outcome="outcome_0") == 1


def test_two_bots_in_one_process_keep_their_own_counts() -> None:
    one, two = Metrics(process=False), Metrics(process=False)
    one.request("command", 200, 0.002)
    assert b'should_finetune_requests_total{kind="command",status="200"} 1.0' in one.render()
    assert b"should_finetune_requests_total{" not in two.render()
