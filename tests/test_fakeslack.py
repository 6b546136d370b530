"""The Slack fake, driven through the real slack_sdk client (and raw urllib where headers matter)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.webhook import WebhookClient

from tests.fakeslack import DEFAULT_TOKEN, Call, FakeSlack

MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "ask",
    "title": {"type": "plain_text", "text": "Should I fine-tune?"},
    "submit": {"type": "plain_text", "text": "Ask"},
    "blocks": [
        {
            "type": "input",
            "block_id": "task",
            "label": {"type": "plain_text", "text": "Task"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        }
    ],
}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running
    assert running.errors == [], "the fake itself raised"


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=DEFAULT_TOKEN, base_url=fake.url)


def raw_post(url: str, data: bytes, content_type: str, token: str | None = DEFAULT_TOKEN) -> urllib.request.Request:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return urllib.request.Request(url, data=data, headers=headers, method="POST")


def api_error(call: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        call()
    assert info.value.response.status_code == 200
    return str(info.value.response["error"])


# ----- lifecycle and auth ---------------------------------------------------------------------------------------------


def test_url_shape_and_stop() -> None:
    fake = FakeSlack().start()
    assert fake.url.startswith("http://127.0.0.1:")
    assert fake.url.endswith("/api/")
    assert fake.response_url("cmd") == fake.url.removesuffix("/api/") + "/webhook/cmd"
    fake.stop()
    fake.stop()
    with pytest.raises(RuntimeError):
        _ = fake.url


def test_auth_test_ok_with_configured_ids() -> None:
    with FakeSlack(team_id="T1", bot_user_id="U1", bot_id="B1") as fake:
        data = WebClient(token=DEFAULT_TOKEN, base_url=fake.url).auth_test().data
        assert isinstance(data, dict)
        assert data["ok"] is True
        assert (data["team_id"], data["user_id"], data["bot_id"]) == ("T1", "U1", "B1")
        assert data["url"] == "https://fake.slack.com/"
        assert data["user"] == "should-finetune"
        (call,) = fake.calls("auth.test")
        assert call.token == DEFAULT_TOKEN
        assert call.headers["authorization"] == f"Bearer {DEFAULT_TOKEN}"
        assert call.status == 200
        assert call.response == data


def test_invalid_and_missing_token(fake: FakeSlack) -> None:
    assert api_error(WebClient(token="xoxb-wrong", base_url=fake.url).auth_test) == "invalid_auth"
    assert api_error(WebClient(base_url=fake.url).auth_test) == "not_authed"
    assert [c.token for c in fake.calls("auth.test")] == ["xoxb-wrong", None]
    assert all(c.status == 200 and c.response and c.response["ok"] is False for c in fake.calls())


def test_token_as_form_argument_and_get_query(fake: FakeSlack) -> None:
    body = f"token={DEFAULT_TOKEN}".encode()
    req = raw_post(fake.url + "auth.test", body, "application/x-www-form-urlencoded", token=None)
    with urllib.request.urlopen(req) as resp:
        assert json.load(resp)["ok"] is True
    with urllib.request.urlopen(f"{fake.url}auth.test?token={DEFAULT_TOKEN}") as resp:
        assert json.load(resp)["ok"] is True
    assert [c.token for c in fake.calls()] == [DEFAULT_TOKEN, DEFAULT_TOKEN]


def test_unknown_method(client: WebClient, fake: FakeSlack) -> None:
    assert api_error(lambda: client.api_call("chat.frobnicate")) == "unknown_method"
    assert fake.calls()[0].method == "chat.frobnicate"


# ----- messages -------------------------------------------------------------------------------------------------------


def test_post_message_increasing_ts_and_json_args(client: WebClient, fake: FakeSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Try RAG first*"}}]
    timestamps = [client.chat_postMessage(channel="C1", text=f"m{i}", blocks=blocks)["ts"] for i in range(5)]
    assert len(set(timestamps)) == 5
    assert timestamps == sorted(timestamps, key=float)
    first = fake.calls("chat.postMessage")[0]
    assert first.headers["content-type"].startswith("application/json")
    assert first.args == {"channel": "C1", "text": "m0", "blocks": blocks}
    stored = fake.messages[("C1", timestamps[0])]
    assert stored["text"] == "m0"
    assert stored["blocks"] == blocks
    assert stored["bot_id"] == "B0BOT"


def test_post_message_response_shape(client: WebClient) -> None:
    resp = client.chat_postMessage(channel="C1", text="hello")
    assert resp["channel"] == "C1"
    assert resp["message"]["text"] == "hello"
    assert resp["message"]["ts"] == resp["ts"]
    assert resp["message"]["user"] == "U0BOT"


def test_post_message_to_user_goes_to_dm(client: WebClient, fake: FakeSlack) -> None:
    resp = client.chat_postMessage(channel="U123", text="hi there")
    assert resp["channel"] == "DU123"
    assert fake.messages[("DU123", resp["ts"])]["text"] == "hi there"
    assert client.conversations_open(users="U123")["channel"]["id"] == "DU123"


@pytest.mark.parametrize("state", ["not_in_channel", "is_archived", "channel_not_found"])
def test_channel_states(client: WebClient, fake: FakeSlack, state: str) -> None:
    ts = client.chat_postMessage(channel="C9", text="before")["ts"]
    fake.set_channel("C9", state)
    assert api_error(lambda: client.chat_postMessage(channel="C9", text="x")) == state
    assert api_error(lambda: client.chat_postEphemeral(channel="C9", user="U1", text="x")) == state
    assert api_error(lambda: client.chat_update(channel="C9", ts=ts, text="x")) == state
    assert api_error(lambda: client.chat_getPermalink(channel="C9", message_ts=ts)) == state
    client.chat_postMessage(channel="C10", text="other channels are unaffected")


def test_set_channel_rejects_unknown_state(fake: FakeSlack) -> None:
    with pytest.raises(ValueError, match="unknown channel state"):
        fake.set_channel("C1", "frozen")


def test_message_argument_errors(client: WebClient) -> None:
    assert api_error(lambda: client.api_call("chat.postMessage", json={"text": "x"})) == "channel_not_found"
    assert api_error(lambda: client.api_call("chat.postMessage", json={"channel": "C1"})) == "no_text"
    too_many = [{"type": "divider"}] * 51
    assert api_error(lambda: client.chat_postMessage(channel="C1", text="x", blocks=too_many)) == "invalid_blocks"
    bad_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="x", blocks=bad_section)
    assert info.value.response["error"] == "invalid_blocks"
    assert "/blocks/0/text/text" in info.value.response["response_metadata"]["messages"][0]


def test_long_text_is_truncated(client: WebClient, fake: FakeSlack) -> None:
    resp = client.chat_postMessage(channel="C1", text="a" * 45_000)
    assert len(resp["message"]["text"]) == 40_000
    assert len(fake.messages[("C1", resp["ts"])]["text"]) == 40_000


def test_form_encoded_blocks_are_decoded(client: WebClient, fake: FakeSlack) -> None:
    blocks = [{"type": "divider"}]
    client.api_call("chat.postMessage", params={"channel": "C1", "text": "t", "blocks": json.dumps(blocks)})
    assert fake.calls("chat.postMessage")[0].args["blocks"] == blocks


def test_chat_update(client: WebClient, fake: FakeSlack) -> None:
    assert api_error(lambda: client.chat_update(channel="C1", ts="1.000001", text="x")) == "message_not_found"
    ts = client.chat_postMessage(channel="C1", text="thinking…")["ts"]
    resp = client.chat_update(channel="C1", ts=ts, text="Fine-tune: not yet")
    assert (resp["channel"], resp["ts"], resp["text"]) == ("C1", ts, "Fine-tune: not yet")
    assert fake.messages[("C1", ts)]["text"] == "Fine-tune: not yet"
    assert "edited" in fake.messages[("C1", ts)]


def test_post_ephemeral(client: WebClient, fake: FakeSlack) -> None:
    resp = client.chat_postEphemeral(channel="C1", user="U7", text="only you")
    assert resp["message_ts"]
    assert fake.ephemerals == [{"channel": "C1", "user": "U7", "ts": resp["message_ts"], "text": "only you"}]
    assert fake.messages == {}


def test_get_permalink(client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="x")["ts"]
    resp = client.chat_getPermalink(channel="C1", message_ts=ts)
    assert resp["channel"] == "C1"
    assert resp["permalink"] == f"https://fake.slack.com/archives/C1/p{ts.replace('.', '')}"
    assert api_error(lambda: client.chat_getPermalink(channel="C1", message_ts="1.000002")) == "message_not_found"


def test_threads_replies_and_reactions(client: WebClient, fake: FakeSlack) -> None:
    parent = fake.add_message("C1", "should we fine-tune?")
    first = client.chat_postMessage(channel="C1", thread_ts=parent, text="a")["ts"]
    client.chat_postMessage(channel="C1", thread_ts=parent, text="b")
    replies = client.conversations_replies(channel="C1", ts=parent)["messages"]
    assert [m["text"] for m in replies] == ["should we fine-tune?", "a", "b"]
    assert replies[0]["reply_count"] == 2
    assert fake.messages[("C1", first)]["thread_ts"] == parent
    assert [m["ts"] for m in client.conversations_history(channel="C1")["messages"]] == [parent]
    assert api_error(lambda: client.conversations_replies(channel="C1", ts="1.000003")) == "thread_not_found"

    client.reactions_add(channel="C1", timestamp=parent, name="eyes")
    assert api_error(lambda: client.reactions_add(channel="C1", timestamp=parent, name="eyes")) == "already_reacted"
    message = client.reactions_get(channel="C1", timestamp=parent)["message"]
    assert message["reactions"] == [{"name": "eyes", "users": ["U0BOT"], "count": 1}]
    client.reactions_remove(channel="C1", timestamp=parent, name="eyes")
    assert "reactions" not in client.reactions_get(channel="C1", timestamp=parent)["message"]


# ----- views ----------------------------------------------------------------------------------------------------------


def test_views_open_form_encoded_and_trigger_reuse(client: WebClient, fake: FakeSlack) -> None:
    trigger = "12345.98765.abcd12"
    resp = client.api_call("views.open", params={"trigger_id": trigger, "view": json.dumps(MODAL)})
    view = resp["view"]
    assert view["id"].startswith("V")
    assert view["hash"]
    assert view["callback_id"] == "ask"
    assert view["blocks"] == MODAL["blocks"]
    call = fake.calls("views.open")[0]
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.args["view"] == MODAL
    assert fake.views[view["id"]]["title"] == MODAL["title"]
    assert api_error(lambda: client.views_open(trigger_id=trigger, view=MODAL)) == "exchanged_trigger_id"


def test_views_open_bad_and_expired_trigger(client: WebClient, fake: FakeSlack) -> None:
    assert api_error(lambda: client.views_open(trigger_id="not-a-trigger", view=MODAL)) == "invalid_trigger_id"
    trigger = fake.new_trigger_id()
    fake.expire_trigger(trigger)
    assert api_error(lambda: client.views_open(trigger_id=trigger, view=MODAL)) == "expired_trigger_id"
    assert api_error(lambda: client.api_call("views.open", json={"view": MODAL})) == "invalid_arguments"


def test_views_open_invalid_view_keeps_trigger(client: WebClient, fake: FakeSlack) -> None:
    trigger = fake.new_trigger_id()
    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    with pytest.raises(SlackApiError) as info:
        client.views_open(trigger_id=trigger, view=no_submit)
    assert info.value.response["error"] == "invalid_arguments"
    assert "submit" in info.value.response["response_metadata"]["messages"][0]
    no_title = {k: v for k, v in MODAL.items() if k != "title"}
    assert api_error(lambda: client.views_open(trigger_id=trigger, view=no_title)) == "invalid_arguments"
    too_big = {**MODAL, "blocks": [{"type": "divider"}] * 101}
    assert api_error(lambda: client.views_open(trigger_id=trigger, view=too_big)) == "invalid_arguments"
    assert client.views_open(trigger_id=trigger, view=MODAL)["ok"] is True


def test_views_update_and_push(client: WebClient, fake: FakeSlack) -> None:
    opened = client.views_open(trigger_id=fake.new_trigger_id(), view={**MODAL, "external_id": "ext-1"})["view"]
    changed = {**MODAL, "title": {"type": "plain_text", "text": "Verdict"}}
    updated = client.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])["view"]
    assert updated["id"] == opened["id"]
    assert updated["hash"] != opened["hash"]
    assert updated["title"]["text"] == "Verdict"
    stale = lambda: client.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])  # noqa: E731
    assert api_error(stale) == "hash_conflict"
    assert client.views_update(external_id="ext-1", view=changed)["view"]["id"] == opened["id"]
    assert api_error(lambda: client.views_update(view_id="VNOPE", view=changed)) == "not_found"
    pushed = client.views_push(trigger_id=fake.new_trigger_id(), view=MODAL)["view"]
    assert pushed["id"] != opened["id"]


# ----- faults and delays ----------------------------------------------------------------------------------------------


def test_429_header_and_body_over_raw_http(fake: FakeSlack) -> None:
    fake.fail("auth.test", retry_after=7)
    req = raw_post(fake.url + "auth.test", b"", "application/x-www-form-urlencoded")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)
    assert info.value.code == 429
    assert info.value.headers["Retry-After"] == "7"
    assert json.loads(info.value.read()) == {"ok": False, "error": "ratelimited"}
    info.value.close()
    (call,) = fake.calls("auth.test")
    assert (call.status, call.response) == (429, {"ok": False, "error": "ratelimited"})


def test_429_then_success_with_retry_handler(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=429, retry_after=1)
    client = WebClient(token=DEFAULT_TOKEN, base_url=fake.url, retry_handlers=[RateLimitErrorRetryHandler()])
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    first, second = fake.calls("chat.postMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0
    assert first.args == second.args


def test_server_errors_then_success(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=500)
    fake.fail("chat.postMessage", status=503)
    handler = ServerErrorRetryHandler(max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01))
    client = WebClient(token=DEFAULT_TOKEN, base_url=fake.url, retry_handlers=[handler])
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    calls = fake.calls("chat.postMessage")
    assert [c.status for c in calls] == [500, 503, 200]
    assert calls[0].response == {"ok": False, "error": "internal_error"}
    assert calls[1].response is None  # plain-text body
    assert len(fake.messages) == 1


def test_503_body_is_plain_text(fake: FakeSlack) -> None:
    fake.fail("auth.test", status=503)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(raw_post(fake.url + "auth.test", b"", "application/x-www-form-urlencoded"))
    assert info.value.code == 503
    assert info.value.headers["Content-Type"].startswith("text/plain")
    info.value.close()


def test_unretried_server_error_raises(client: WebClient, fake: FakeSlack) -> None:
    fake.fail("auth.test", status=500)
    assert api_error_status(client.auth_test) == 500
    assert client.auth_test()["ok"] is True  # the fault was consumed


def api_error_status(call: Any) -> int:
    with pytest.raises(SlackApiError) as info:
        call()
    return int(info.value.response.status_code)


def test_fault_with_api_error_and_times(client: WebClient, fake: FakeSlack) -> None:
    fake.fail("auth.test", times=2, status=200, error="account_inactive")
    assert api_error(client.auth_test) == "account_inactive"
    assert api_error(client.auth_test) == "account_inactive"
    assert client.auth_test()["ok"] is True
    with pytest.raises(ValueError, match="error"):
        fake.fail("auth.test", status=200)


def test_delays_are_honoured(client: WebClient, fake: FakeSlack) -> None:
    fake.set_delay("auth.test", 0.3)
    start = time.monotonic()
    client.auth_test()
    assert time.monotonic() - start >= 0.3
    fake.set_delay("auth.test", 0)
    fake.fail("auth.test", status=200, error="fatal_error", delay=0.2)
    start = time.monotonic()
    assert api_error(client.auth_test) == "fatal_error"
    assert time.monotonic() - start >= 0.2


def test_global_delay_times_out_a_client(fake: FakeSlack) -> None:
    fake.set_delay(None, 0.5)
    req = raw_post(fake.url + "auth.test", b"", "application/x-www-form-urlencoded")
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        urllib.request.urlopen(req, timeout=0.1)
    (call,) = fake.wait_for("auth.test", timeout=2)
    assert call.status == 200


# ----- recording ------------------------------------------------------------------------------------------------------


def test_wait_for(client: WebClient, fake: FakeSlack) -> None:
    threading.Timer(0.05, lambda: client.chat_postMessage(channel="C1", text="later")).start()
    assert len(fake.wait_for("chat.postMessage", timeout=2)) == 1
    client.auth_test()
    with pytest.raises(AssertionError, match=r"expected 2 call\(s\) to chat.postMessage") as info:
        fake.wait_for("chat.postMessage", count=2, timeout=0.1)
    assert "auth.test" in str(info.value)


def test_calls_are_frozen_and_reset_clears(client: WebClient, fake: FakeSlack) -> None:
    client.chat_postMessage(channel="C1", text="x")
    fake.set_channel("C2", "is_archived")
    fake.fail("auth.test")
    call = fake.calls()[0]
    assert isinstance(call, Call)
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.method = "other"  # type: ignore[misc]
    fake.reset()
    assert fake.calls() == []
    assert fake.messages == {}
    assert client.auth_test()["ok"] is True
    assert client.chat_postMessage(channel="C2", text="x")["ok"] is True


def test_concurrent_posts_get_unique_ts(client: WebClient, fake: FakeSlack) -> None:
    def post(n: int) -> None:
        for i in range(5):
            client.chat_postMessage(channel="C1", text=f"{n}-{i}")

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake.calls("chat.postMessage")) == 40
    assert len({ts for _, ts in fake.messages}) == 40


def test_custom_handler(client: WebClient, fake: FakeSlack) -> None:
    fake.on("users.info", lambda args: {"ok": True, "user": {"id": args["user"], "tz": "Europe/Paris"}})
    assert client.users_info(user="U5")["user"]["tz"] == "Europe/Paris"
    assert api_error(lambda: WebClient(token="bad", base_url=fake.url).users_info(user="U5")) == "invalid_auth"


def test_response_url_records_body(fake: FakeSlack) -> None:
    webhook = WebhookClient(fake.response_url("cmd"))
    resp = webhook.send(text="Try prompting first", response_type="ephemeral")
    assert (resp.status_code, resp.body) == (200, "ok")
    (call,) = fake.wait_for("webhook/cmd")
    assert call.args == {"text": "Try prompting first", "response_type": "ephemeral"}
    assert call.token is None
    assert fake.webhook_bodies("cmd") == [call.args]
    assert webhook.send_dict({}).status_code == 400
    assert fake.webhook_bodies() == [call.args]
