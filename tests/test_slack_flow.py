"""Scenarios over HTTP: the served bot, signed requests, the fake Slack recording every call, and real Redis."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.app import build_app
from bot.embedded_redis import EmbeddedRedis
from bot.runtime import open_services
from bot.store import DeliveryStatus
from tests.fakeslack import FakeSlack
from tests.slack_support import (
    CHANNEL,
    REQUIRED_ANSWERS,
    TEAM,
    USER,
    BotClient,
    bot_settings,
    http,
    serving_in_thread,
    sign,
)

FORM = "application/x-www-form-urlencoded"


def decisions_in(bot: BotClient, channel: str = CHANNEL) -> list[Any]:
    now = datetime.now(UTC)
    return bot.services.store.decisions_between(
        workspace=TEAM, channel=channel, start=now - timedelta(hours=1), end=now + timedelta(hours=1)
    )


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def posted_text(bot: BotClient) -> str:
    """Everything the bot sent to Slack as message content, as one string."""
    parts = []
    for call in bot.fake.calls():
        if call.method in {"chat.postMessage", "chat.postEphemeral", "chat.update"} or call.method.startswith(
            "webhook"
        ):
            parts.append(json.dumps({k: call.args.get(k) for k in ("text", "blocks")}))
    return "\n".join(parts)


# --- the happy path -------------------------------------------------------------------------------------------


def test_command_opens_the_form_prefilled_then_the_verdict_lands_with_its_explanation(bot: BotClient) -> None:
    reply = bot.command("Support-ticket triage")
    assert reply.status == 200
    assert reply.body == b""  # nothing shown in the channel: the form opens instead

    (opened,) = bot.fake.wait_for("views.open", 1)
    view = bot.opened_view()
    assert opened.token == "xoxb-test-token"
    use_case = next(b for b in view["blocks"] if b.get("block_id") == "use_case")
    assert use_case["element"]["initial_value"] == "Support-ticket triage"
    assert json.loads(view["private_metadata"]) == {"team": TEAM, "channel": CHANNEL, "user": USER}

    reply = bot.submit(REQUIRED_ANSWERS)
    assert reply.status == 200
    assert reply.body == b""  # an empty 200 closes the form

    verdict, explanation = bot.fake.wait_for("chat.postMessage", 2)
    assert verdict.args["channel"] == CHANNEL
    assert "thread_ts" not in verdict.args
    assert verdict.args["unfurl_links"] is False
    assert "Don't fine-tune yet" in verdict.args["text"]
    assert "Support-ticket triage" in verdict.args["text"]
    header = verdict.args["blocks"][0]
    assert header["type"] == "header"
    assert "(few-shot)" in header["text"]["text"]  # 30 examples: under the fixture rules' 40
    buttons = [e["action_id"] for b in verdict.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["edit-answers", "request-rereview"]

    assert explanation.args["channel"] == CHANNEL
    assert explanation.args["thread_ts"] == verdict.response["ts"]
    thread = json.dumps(explanation.args["blocks"])
    # The plan in people's words: why, what to do next and where to read more, what would change it, and the
    # optional questions left empty that matter. Rule ids and the rule set's version are for `rules` and `history`.
    assert "under 40 examples, enough to show the model" in thread
    assert "Do this next" in thread
    assert "Read more:" in thread
    assert "What would change this" in thread
    assert "Open questions" in thread
    assert "too-few-examples" not in thread
    assert bot.services.decisions.ruleset.version not in thread

    (decision,) = decisions_in(bot)
    assert decision.requester == USER
    assert decision.latest.verdict == "dont-fine-tune"
    assert decision.latest.next_step == "few-shot"
    assert decision.latest.answers["n_stable_examples"] == 30
    assert decision.latest.trigger == "submit"
    wait_until(lambda: decisions_in(bot)[0].delivery.status == DeliveryStatus.POSTED)
    found = bot.services.store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=verdict.response["ts"])
    assert found is not None
    assert found.id == decision.id


def test_a_full_form_can_reach_fine_tune(bot: BotClient) -> None:
    bot.command()
    answers = {
        **REQUIRED_ANSWERS,
        "primary_failure": "format",
        "n_stable_examples": "800",
        "change_freq_days": "90",
        "tried": ["prompt", "few-shot", "rag", "cot", "dspy"],
        "prompt_iterations": "25",
        "prompt_authors": "4",
        "has_eval_set": "yes",
        "needs_citations": "no",
        "style_describable": "no",
        "chasing_small_benchmark_gain": "no",
        "n_tools": "2",
        "daily_calls": "50000",
        "latency_sensitive": "no",
        "retrain_cadence_days": "90",
        "notes": "Checked with the platform team.",
    }
    assert bot.submit(answers).status == 200
    verdict, explanation = bot.fake.wait_for("chat.postMessage", 2)
    assert verdict.args["text"].startswith("Fine-tune")
    thread = json.dumps(explanation.args["blocks"])
    assert "Watch out" in thread  # the warnings that hold for a fine-tune verdict
    assert "on a broad benchmark as well" in thread  # among them: the fixture's warning for fine-tune verdicts
    (decision,) = decisions_in(bot)
    assert decision.latest.verdict == "fine-tune"
    assert decision.latest.answers["tried_dspy"] is True


def test_the_decision_is_saved_before_anything_is_posted(bot: BotClient) -> None:
    bot.command()
    bot.fake.set_delay("chat.postMessage", 1.0)
    assert bot.submit(REQUIRED_ANSWERS).status == 200
    (decision,) = decisions_in(bot)  # already there while the post is still on its way
    assert decision.delivery.status == DeliveryStatus.PENDING
    bot.fake.wait_for("chat.postMessage", 2)


# --- the command's other answers -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["help", "HELP", "  help  ", "--help", "?"])
def test_help_answers_with_ephemeral_usage_and_opens_nothing(bot: BotClient, text: str) -> None:
    reply = bot.command(text)
    assert reply.status == 200
    body = reply.json()
    assert body["response_type"] == "ephemeral"
    assert "/should-finetune [use case]" in body["text"]
    assert "don't know" not in body["text"]
    assert bot.fake.calls("views.open") == []


@pytest.mark.parametrize("text", ["--verbose", "-x something", "settings", "rereview"])
def test_unknown_subcommands_name_themselves_in_the_usage(bot: BotClient, text: str) -> None:
    body = bot.command(text).json()
    assert body["response_type"] == "ephemeral"
    assert f"`{text.split(maxsplit=1)[0]}`" in body["text"]
    assert bot.fake.calls("views.open") == []


def test_a_subcommand_word_inside_a_use_case_is_a_use_case(bot: BotClient) -> None:
    assert bot.command("history summariser").body == b""
    bot.fake.wait_for("views.open", 1)


def test_hostile_subcommand_text_is_escaped_in_the_usage(bot: BotClient) -> None:
    body = bot.command("--<!channel>").json()
    assert "<!channel>" not in body["text"]
    assert "&lt;!channel&gt;" in body["text"]


def test_when_the_form_cannot_open_the_person_is_told(bot: BotClient) -> None:
    bot.fake.fail("views.open", status=200, error="expired_trigger_id")
    assert bot.command().status == 200
    (notice,) = bot.fake.wait_for("webhook/command", 1)
    assert "expired_trigger_id" in notice.args["text"]
    assert notice.args["response_type"] == "ephemeral"
    assert decisions_in(bot) == []


def test_the_form_opens_within_the_trigger_window_even_when_slack_is_slow(bot: BotClient) -> None:
    bot.fake.set_delay("views.open", 0.3)
    started = time.time()
    reply = bot.command()
    assert reply.status == 200
    (opened,) = bot.fake.wait_for("views.open", 1)
    # The response does not wait for views.open, and views.open is sent long before the 3-second trigger dies.
    assert reply.seconds < 0.3
    assert opened.at - started < 1.0


# --- invalid submissions --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "block", "words"),
    [
        ({"n_stable_examples": "lots"}, "n_stable_examples", "whole number"),
        ({"n_stable_examples": "12.5"}, "n_stable_examples", "whole number"),
        ({"n_stable_examples": "-3"}, "n_stable_examples", "0 or more"),
        ({"n_stable_examples": "99999999999"}, "n_stable_examples", "typo"),
        ({"n_stable_examples": None}, "n_stable_examples", "how many examples"),
        ({"use_case": "x" * 301}, "use_case", "under 300"),
        ({"use_case": None}, "use_case", "what the model is for"),
        ({"primary_failure": None}, "primary_failure", "failing"),
        ({"primary_failure": "vibes"}, "primary_failure", "listed options"),
        ({"change_freq_days": "3"}, "change_freq_days", "listed options"),
        ({"tried": []}, "tried", "Nothing yet"),
        ({"tried": ["nothing", "rag"]}, "tried", "cannot go with"),
        ({"tried": ["rag", "fine-tuning"]}, "tried", "listed options"),
        ({"tried": ["rag"], "prompt_iterations": "12"}, "prompt_iterations", "nobody iterated on the prompt"),
        ({"prompt_iterations": "0", "prompt_authors": "2"}, "prompt_authors", "No iterations"),
        ({"prompt_iterations": "3", "prompt_authors": "7"}, "prompt_authors", "More authors"),
        ({"retrain_cadence_days": "0"}, "retrain_cadence_days", "at least 1"),
        ({"has_eval_set": "maybe"}, "has_eval_set", "Yes, No or Not sure"),
        ({"notes": "n" * 3001}, "notes", "under 3,000"),
    ],
)
def test_invalid_submissions_get_inline_errors_and_nothing_is_posted(
    bot: BotClient, change: dict[str, Any], block: str, words: str
) -> None:
    bot.command()
    reply = bot.submit({**REQUIRED_ANSWERS, **change})
    assert reply.status == 200
    body = reply.json()
    assert body["response_action"] == "errors"
    assert block in body["errors"]
    assert words.lower() in body["errors"][block].lower()
    time.sleep(0.1)
    assert bot.fake.calls("chat.postMessage") == []
    assert decisions_in(bot) == []


def test_every_problem_is_reported_at_once(bot: BotClient) -> None:
    bot.command()
    body = bot.submit({"n_stable_examples": "-1", "tried": ["nothing", "rag"]}).json()
    assert set(body["errors"]) == {"use_case", "primary_failure", "n_stable_examples", "change_freq_days", "tried"}


@pytest.mark.parametrize(
    "metadata",
    ["", "not json", '{"team": "T1"}', '{"team": "T1", "channel": "C1}:x", "user": "U0ASKER"}', "[]"],
)
def test_a_form_with_unreadable_metadata_is_refused_inline(bot: BotClient, metadata: str) -> None:
    bot.command()
    view = {**bot.opened_view(), "private_metadata": metadata}
    body = bot.submit(REQUIRED_ANSWERS, view=view).json()
    assert body["response_action"] == "errors"
    assert "run /should-finetune again" in body["errors"]["use_case"]
    assert decisions_in(bot) == []


def test_a_form_submitted_by_someone_else_is_refused(bot: BotClient) -> None:
    bot.command()
    body = bot.submit(REQUIRED_ANSWERS, user="U0OTHER").json()
    assert body["response_action"] == "errors"
    assert decisions_in(bot) == []


def test_a_submission_without_state_gets_errors_not_a_crash(bot: BotClient) -> None:
    bot.command()
    view = bot.opened_view()
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": USER},
        "view": {"type": "modal", "callback_id": view["callback_id"], "private_metadata": view["private_metadata"]},
    }
    reply = bot.interaction(payload)
    assert reply.status == 200
    assert reply.json()["response_action"] == "errors"


# --- injection -------------------------------------------------------------------------------------------------


def test_typed_mentions_and_links_are_shown_never_sent(bot: BotClient) -> None:
    hostile = "<!channel> <!here> <@U0BOSS> <!subteam^S1> <https://evil.example|docs> & co"
    bot.command(hostile)
    assert bot.submit({**REQUIRED_ANSWERS, "use_case": hostile}).status == 200
    bot.fake.wait_for("chat.postMessage", 2)
    sent = posted_text(bot)
    for raw in ("<!channel>", "<!here>", "<@U0BOSS>", "<!subteam", "<https://evil"):
        assert raw not in sent
    assert "&lt;!channel&gt;" in sent
    assert "&amp; co" in sent
    assert "&amp;lt;" not in sent  # escaped once, not twice
    (decision,) = decisions_in(bot)
    assert decision.latest.answers["use_case"] == hostile  # stored as typed; escaping is for display


# --- when the channel is out of reach ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "advice"),
    [
        ("not_in_channel", "/invite @should-finetune"),
        ("channel_not_found", "/invite @should-finetune"),
        ("is_archived", "archived"),
    ],
)
def test_when_the_channel_is_out_of_reach_the_requester_gets_a_dm_and_the_decision_is_kept(
    bot: BotClient, state: str, advice: str
) -> None:
    bot.fake.set_channel(CHANNEL, state)
    bot.command()
    assert bot.submit(REQUIRED_ANSWERS).status == 200
    attempt, dm = bot.fake.wait_for("chat.postMessage", 2)
    assert attempt.args["channel"] == CHANNEL
    assert attempt.response == {"ok": False, "error": state}
    assert dm.args["channel"] == USER  # the app's DM with the requester
    assert advice in dm.args["text"]
    assert "(few-shot)" in dm.args["text"]  # the verdict still reaches the person
    wait_until(lambda: decisions_in(bot)[0].delivery.status == DeliveryStatus.FAILED)
    (decision,) = decisions_in(bot)
    assert decision.delivery.error == state
    assert decision.latest.next_step == "few-shot"


# --- Slack's rate limits and errors ------------------------------------------------------------------------------


def test_a_rate_limited_post_waits_for_retry_after_and_lands_once(bot: BotClient) -> None:
    bot.fake.fail("chat.postMessage", status=429, retry_after=1)
    bot.command()
    assert bot.submit(REQUIRED_ANSWERS).status == 200
    limited, verdict, explanation = bot.fake.wait_for("chat.postMessage", 3, timeout=10)
    assert limited.status == 429
    assert verdict.status == 200
    assert verdict.at - limited.at >= 1.0  # Retry-After honoured
    assert verdict.args == limited.args  # the same message, sent again once
    assert explanation.args["thread_ts"] == verdict.response["ts"]
    assert len([c for c in bot.fake.calls("chat.postMessage") if "thread_ts" not in c.args]) == 2
    wait_until(lambda: decisions_in(bot)[0].delivery.status == DeliveryStatus.POSTED)


def test_a_server_error_is_retried_once(bot: BotClient) -> None:
    bot.fake.fail("chat.postMessage", status=503)
    bot.command()
    bot.submit(REQUIRED_ANSWERS)
    failed, verdict, _ = bot.fake.wait_for("chat.postMessage", 3, timeout=10)
    assert failed.status == 503
    assert verdict.status == 200
    wait_until(lambda: decisions_in(bot)[0].delivery.status == DeliveryStatus.POSTED)


def test_slack_down_for_good_leaves_the_decision_stored_and_marked(bot: BotClient) -> None:
    bot.fake.fail("chat.postMessage", status=503, times=10)
    bot.command()
    bot.submit(REQUIRED_ANSWERS)
    wait_until(lambda: decisions_in(bot)[0].delivery.status == DeliveryStatus.FAILED, timeout=10)
    (decision,) = decisions_in(bot)
    assert decision.delivery.error == "http_503"
    # Bounded: the verdict twice (one retry), then the DM twice; no retry storm.
    calls = bot.fake.wait_for("chat.postMessage", 4, timeout=10)
    time.sleep(0.5)
    assert len(bot.fake.calls("chat.postMessage")) == 4
    assert [c.args["channel"] for c in calls] == [CHANNEL, CHANNEL, USER, USER]


# --- storage down -------------------------------------------------------------------------------------------------


def test_when_redis_is_down_the_form_says_so_and_nothing_is_posted(fake_slack: FakeSlack, tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "redis") as redis_server:
        settings = bot_settings(fake_slack, redis_server.url, "sf-test-down")
        with open_services(settings) as services, serving_in_thread(build_app(services), services) as url:
            bot = BotClient(url, services, fake_slack)
            bot.command()
            view = bot.opened_view()
            redis_server.stop()
            started = time.perf_counter()
            reply = bot.submit(REQUIRED_ANSWERS, view=view)
            assert time.perf_counter() - started < 3.0  # inside Slack's budget
            assert reply.status == 200
            assert "could not be saved" in reply.json()["errors"]["use_case"]
            assert http(bot.url + "/readyz", method="GET").status == 503
            time.sleep(0.1)
            assert fake_slack.calls("chat.postMessage") == []


# --- requests that are not Slack's ------------------------------------------------------------------------------


def _command_body() -> bytes:
    return urlencode({"command": "/should-finetune", "text": "", "team_id": TEAM, "user_id": USER}).encode()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": str(int(time.time()))},
        {"X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""},
        {"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": "v0=abc"},
    ],
)
def test_unsigned_or_malformed_signatures_get_401(bot: BotClient, headers: dict[str, str]) -> None:
    reply = http(bot.url + "/slack/events", _command_body(), {"Content-Type": FORM, **headers})
    assert reply.status == 401
    assert bot.fake.calls() == [call for call in bot.fake.calls() if call.method == "auth.test"]


@pytest.mark.parametrize("skew", [-301, 301, -3600])
def test_stale_or_future_timestamps_get_401(bot: BotClient, skew: int) -> None:
    body = _command_body()
    reply = http(
        bot.url + "/slack/events", body, {"Content-Type": FORM, **sign(body, timestamp=int(time.time()) + skew)}
    )
    assert reply.status == 401
    assert bot.fake.calls("views.open") == []


def test_a_wrong_secret_or_a_changed_byte_gets_401(bot: BotClient) -> None:
    body = _command_body()
    wrong = http(bot.url + "/slack/events", body, {"Content-Type": FORM, **sign(body, secret="0" * 32)})
    tampered = http(
        bot.url + "/slack/events", body.replace(b"U0ASKER", b"U0ASKES"), {"Content-Type": FORM, **sign(body)}
    )
    assert (wrong.status, tampered.status) == (401, 401)
    assert bot.fake.calls("views.open") == []


def test_a_signed_request_within_the_window_is_served(bot: BotClient) -> None:
    body = _command_body() + b"&trigger_id=1.2.abc&channel_id=" + CHANNEL.encode()
    reply = http(
        bot.url + "/slack/events", body, {"Content-Type": FORM, **sign(body, timestamp=int(time.time()) - 290)}
    )
    assert reply.status == 200


def test_an_oversized_body_gets_413_before_anything_else(bot: BotClient) -> None:
    body = b"payload=" + b"x" * (bot.services.settings.max_body_bytes + 10)
    reply = http(bot.url + "/slack/events", body, {"Content-Type": FORM, **sign(body)})
    assert reply.status == 413


def test_a_signed_body_that_is_not_json_gets_400(bot: BotClient) -> None:
    reply = bot.post(b"{not json", content_type="application/json")
    assert reply.status == 400


def test_url_verification_is_answered(bot: BotClient) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"}).encode()
    reply = bot.post(body, content_type="application/json")
    assert reply.status == 200
    assert "abc123" in reply.body.decode()


def test_events_the_bot_does_not_act_on_still_get_200(bot: BotClient) -> None:
    event = {
        "type": "event_callback",
        "team_id": TEAM,
        "api_app_id": "A0FAKE",
        "event_id": "Ev0001",
        "event_time": int(time.time()),
        "event": {"type": "channel_rename", "channel": {"id": CHANNEL, "name": "x"}},
    }
    reply = bot.post(json.dumps(event).encode(), content_type="application/json")
    assert reply.status == 200


def test_the_verdict_buttons_answer_without_an_error(bot: BotClient) -> None:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": USER},
        "channel": {"id": CHANNEL},
        "response_url": bot.fake.response_url("button"),
        "trigger_id": "1.2.abc",
        "actions": [{"action_id": "request-rereview", "block_id": "verdict-actions", "value": "01X", "type": "button"}],
    }
    assert bot.interaction(payload).status == 200
    (notice,) = bot.fake.wait_for("webhook/button", 1)
    assert notice.args["response_type"] == "ephemeral"


def test_health_and_readiness(bot: BotClient) -> None:
    assert http(bot.url + "/healthz", method="GET").json() == {"status": "ok"}
    assert http(bot.url + "/readyz", method="GET").json() == {"ready": True}
    assert http(bot.url + "/nope", method="GET").status == 404
    assert http(bot.url + "/slack/events", method="GET").status == 405


# --- signed but malformed: a 4xx (or a plain 200), never a 500, never a Slack call --------------------------------

_MALFORMED_PAYLOADS = [
    "{}",
    "[]",
    "null",
    "nope",
    '"text"',
    json.dumps({"type": "view_submission"}),
    json.dumps({"type": "view_submission", "view": {}}),
    json.dumps({"type": "view_submission", "view": {"callback_id": "decision-form"}}),
    json.dumps({"type": "view_submission", "view": {"type": "modal", "callback_id": "decision-form", "state": []}}),
    json.dumps(
        {
            "type": "view_submission",
            "user": {"id": 5},
            "view": {"type": "modal", "callback_id": "decision-form", "private_metadata": 5},
        }
    ),
    json.dumps({"type": "block_actions"}),
    json.dumps({"type": "block_actions", "actions": "x"}),
    json.dumps({"type": "block_actions", "actions": [{}]}),
    json.dumps({"type": "block_actions", "actions": [{"action_id": "edit-answers"}], "response_url": 5}),
    json.dumps({"type": "view_closed"}),
    json.dumps({"type": "shortcut"}),
    json.dumps({"type": "something_new"}),
]


@pytest.mark.parametrize("payload", _MALFORMED_PAYLOADS)
def test_signed_malformed_interactions_never_get_a_500(bot: BotClient, payload: str) -> None:
    reply = bot.post(urlencode({"payload": payload}).encode(), content_type=FORM)
    assert reply.status in {200, 400, 404}
    time.sleep(0.05)
    assert [c.method for c in bot.fake.calls()] == ["auth.test"]


@pytest.mark.parametrize(
    "body",
    [b"[]", b"null", b"1", b'"x"', b'{"type":"event_callback"}', b'{"type":"event_callback","event":[]}'],
)
def test_signed_malformed_json_never_gets_a_500(bot: BotClient, body: bytes) -> None:
    reply = bot.post(body, content_type="application/json")
    assert reply.status in {200, 400}
    assert [c.method for c in bot.fake.calls()] == ["auth.test"]


def test_a_command_with_odd_fields_gets_an_answer(bot: BotClient) -> None:
    reply = bot.post(urlencode({"command": "/should-finetune"}).encode(), content_type=FORM)
    assert reply.status == 200
    assert "run it again" in reply.body.decode()
