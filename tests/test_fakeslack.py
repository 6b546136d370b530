"""The Slack fake, driven through the real slack_sdk client (and raw urllib where headers matter)."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
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

from bot import manifest
from tests.fakeslack import DEFAULT_TOKEN, Call, FakeSlack
from tests.slack_support import (
    CHANNEL,
    ENTERPRISE,
    OTHER_TEAM,
    TEAM,
    USER,
    BotClient,
    app_mention,
    block_actions,
    bot_message,
    event_callback,
    submission_payload,
    thread_message,
)

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
    fake.scopes = (*fake.granted_scopes(), "im:write")
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
    fake.scopes = (*fake.granted_scopes(), "reactions:read", "reactions:write")
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


# ----- scopes ---------------------------------------------------------------------------------------------------------


def test_a_method_whose_scope_is_not_granted_answers_missing_scope_like_slack(fake: FakeSlack) -> None:
    fake.scopes = ("chat:write", "channels:history")
    ts = WebClient(token=DEFAULT_TOKEN, base_url=fake.url).chat_postMessage(channel="C1", text="verdict")["ts"]
    body = f"channel=C1&timestamp={ts}&name=eyes".encode()
    with urllib.request.urlopen(raw_post(fake.url + "reactions.add", body, "application/x-www-form-urlencoded")) as r:
        assert r.status == 200
        assert r.headers["X-OAuth-Scopes"] == "chat:write,channels:history"
        assert r.headers["X-Accepted-OAuth-Scopes"] == "reactions:write"
        answer = json.load(r)
    expected = {
        "ok": False,
        "error": "missing_scope",
        "needed": "reactions:write",
        "provided": "chat:write,channels:history",
    }
    assert answer == expected
    (call,) = fake.calls("reactions.add")  # recorded like any other call
    assert (call.status, call.response, call.args["name"]) == (200, expected, "eyes")
    assert "reactions" not in fake.messages[("C1", ts)]  # and nothing done


def test_the_granted_scopes_are_the_manifests_by_default_read_at_each_call(
    client: WebClient, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fake.scopes is None
    assert fake.granted_scopes() == tuple(manifest.BOT_SCOPES)
    monkeypatch.setattr(manifest, "BOT_SCOPES", ("commands", "chat:write", "im:history"))
    with pytest.raises(SlackApiError) as info:
        client.conversations_history(channel="C1")
    assert info.value.response.data == {
        "ok": False,
        "error": "missing_scope",
        "needed": "channels:history",
        "provided": "commands,chat:write,im:history",
    }
    assert client.conversations_history(channel="D0A")["ok"] is True


def test_scopes_given_to_the_constructor_replace_the_manifests() -> None:
    with FakeSlack(scopes=["chat:write"]) as fake:
        client = WebClient(token=DEFAULT_TOKEN, base_url=fake.url)
        assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
        with pytest.raises(SlackApiError) as info:
            client.usergroups_users_list(usergroup="S1")
        assert (info.value.response["needed"], info.value.response["provided"]) == ("usergroups:read", "chat:write")
        fake.reset()
        assert fake.granted_scopes() == ("chat:write",)  # a reset keeps them


def _open_mpim(fake: FakeSlack) -> str:
    scopes = fake.scopes
    fake.scopes = ("mpim:write",)
    opened = WebClient(token=DEFAULT_TOKEN, base_url=fake.url).conversations_open(users="U1,U2")["channel"]["id"]
    fake.scopes = scopes
    return str(opened)


@pytest.mark.parametrize(
    ("method", "args", "needed"),
    [
        ("chat.postMessage", {"channel": "C1", "text": "x"}, "chat:write"),
        ("chat.postMessage", {"channel": "U1", "text": "x"}, "chat:write"),
        ("chat.update", {"channel": "C1", "ts": "1.000001", "text": "x"}, "chat:write"),
        ("chat.delete", {"channel": "C1", "ts": "1.000001"}, "chat:write"),
        ("chat.postEphemeral", {"channel": "C1", "user": "U1", "text": "x"}, "chat:write"),
        ("conversations.history", {"channel": "C1"}, "channels:history"),
        ("conversations.history", {"channel": "G1"}, "groups:history"),
        ("conversations.history", {"channel": "D1"}, "im:history"),
        ("conversations.history", {"channel": "<mpim>"}, "mpim:history"),
        ("conversations.replies", {"channel": "C1", "ts": "1.000001"}, "channels:history"),
        ("conversations.replies", {"channel": "G1", "ts": "1.000001"}, "groups:history"),
        ("conversations.replies", {"channel": "D1", "ts": "1.000001"}, "im:history"),
        ("conversations.replies", {"channel": "<mpim>", "ts": "1.000001"}, "mpim:history"),
        ("conversations.info", {"channel": "C1"}, "channels:read"),
        ("conversations.info", {"channel": "G1"}, "groups:read"),
        ("conversations.info", {"channel": "D1"}, "im:read"),
        ("conversations.info", {"channel": "<mpim>"}, "mpim:read"),
        ("conversations.open", {"users": "U1"}, "im:write"),
        ("conversations.open", {"users": "U1,U2"}, "mpim:write"),
        ("usergroups.users.list", {"usergroup": "S1"}, "usergroups:read"),
        ("reactions.get", {"channel": "C1", "timestamp": "1.000001"}, "reactions:read"),
        ("reactions.add", {"channel": "C1", "timestamp": "1.000001", "name": "eyes"}, "reactions:write"),
        ("reactions.remove", {"channel": "C1", "timestamp": "1.000001", "name": "eyes"}, "reactions:write"),
    ],
)
def test_each_method_needs_its_scope(method: str, args: dict[str, str], needed: str) -> None:
    with FakeSlack(scopes=()) as fake:
        client = WebClient(token=DEFAULT_TOKEN, base_url=fake.url)
        if args.get("channel") == "<mpim>":
            args = {**args, "channel": _open_mpim(fake)}
        with pytest.raises(SlackApiError) as info:
            client.api_call(method, json=args)
        assert info.value.response.status_code == 200
        assert info.value.response.data == {"ok": False, "error": "missing_scope", "needed": needed, "provided": ""}
        assert fake.needed_scope(method, args) == needed
        fake.scopes = (needed,)  # granted, the call goes on to the method's own answer
        try:
            answer = client.api_call(method, json=args).data
        except SlackApiError as exc:
            answer = exc.response.data
        assert isinstance(answer, dict)
        assert answer.get("error") != "missing_scope"
        assert len(fake.calls(method)) == 2


def test_methods_that_need_no_scope(fake: FakeSlack) -> None:
    fake.scopes = ("chat:write",)
    client = WebClient(token=DEFAULT_TOKEN, base_url=fake.url)
    ts = client.chat_postMessage(channel="C1", text="x")["ts"]
    fake.scopes = ()
    assert client.auth_test()["ok"] is True
    assert client.chat_getPermalink(channel="C1", message_ts=ts)["ok"] is True
    view = client.views_open(trigger_id=fake.new_trigger_id(), view=MODAL)["view"]
    assert client.views_update(view_id=view["id"], view=MODAL)["ok"] is True
    assert client.views_publish(user_id="U1", view={"type": "home", "blocks": []})["ok"] is True


# ----- history and replies as Slack returns them ----------------------------------------------------------------------


def test_history_is_shaped_like_slacks(client: WebClient, fake: FakeSlack) -> None:
    verdict = client.chat_postMessage(channel="C1", text="*Not yet*: try few-shot")["ts"]
    client.chat_postMessage(channel="C1", thread_ts=verdict, text="why: you have 30 examples")
    asked = fake.add_message("C1", "why <@U0BOT>?", user="U0ASKER", thread_ts=verdict)
    top = fake.add_message("C1", "hi <!here> see <https://example.com|the doc>", user="U0ASKER")
    answer = client.conversations_history(channel="C1").data
    assert isinstance(answer, dict)
    assert list(answer) == [
        "ok",
        "messages",
        "has_more",
        "pin_count",
        "channel_actions_ts",
        "channel_actions_count",
        "response_metadata",
    ]
    assert (answer["ok"], answer["has_more"], answer["pin_count"]) == (True, False, 0)
    assert answer["response_metadata"] == {"next_cursor": ""}
    person, bot = answer["messages"]  # newest first; replies stay in their thread
    assert person["ts"] == top
    assert {"client_msg_id", "type", "text", "user", "ts", "blocks", "team"} <= set(person)
    assert (person["user"], person["team"], person["type"]) == ("U0ASKER", "T0FAKE", "message")
    assert person["blocks"][0]["type"] == "rich_text"
    elements = person["blocks"][0]["elements"][0]["elements"]
    assert elements == [
        {"type": "text", "text": "hi "},
        {"type": "broadcast", "range": "here"},
        {"type": "text", "text": " see "},
        {"type": "link", "url": "https://example.com", "text": "the doc"},
    ]
    assert bot["ts"] == verdict
    assert (bot["user"], bot["bot_id"], bot["app_id"], bot["team"]) == ("U0BOT", "B0BOT", "A0FAKE", "T0FAKE")
    profile = bot["bot_profile"]
    assert (profile["id"], profile["app_id"], profile["team_id"], profile["deleted"]) == (
        "B0BOT",
        "A0FAKE",
        "T0FAKE",
        False,
    )
    assert set(profile["icons"]) == {"image_36", "image_48", "image_72"}
    assert bot["blocks"][0]["type"] == "rich_text"  # Slack's blocks for a message posted as text only
    assert "blocks" not in fake.messages[("C1", verdict)]  # derived when listed, not stored (chat.update keeps it so)
    assert bot["thread_ts"] == verdict
    assert bot["reply_count"] == 2
    assert bot["reply_users"] == ["U0BOT", "U0ASKER"]
    assert bot["reply_users_count"] == 2
    assert bot["latest_reply"] == asked
    assert (bot["is_locked"], bot["subscribed"]) == (False, True)


def test_replies_hold_peoples_messages_shaped_like_slacks(client: WebClient, fake: FakeSlack) -> None:
    parent = client.chat_postMessage(channel="C1", text="verdict")["ts"]
    explanation = client.chat_postMessage(channel="C1", thread_ts=parent, text="explanation")["ts"]
    asked = fake.add_message("C1", "what if we had 600 examples", user="U0ASKER", thread_ts=parent)
    answer = client.conversations_replies(channel="C1", ts=parent).data
    assert isinstance(answer, dict)
    assert list(answer) == ["ok", "messages", "has_more", "response_metadata"]
    assert answer["response_metadata"] == {"next_cursor": ""}
    first, bot_reply, person = answer["messages"]  # the parent first, then the replies oldest first
    assert [m["ts"] for m in answer["messages"]] == [parent, explanation, asked]
    assert (first["reply_count"], first["latest_reply"], first["reply_users"]) == (2, asked, ["U0BOT", "U0ASKER"])
    assert (bot_reply["thread_ts"], bot_reply["parent_user_id"], bot_reply["bot_id"]) == (parent, "U0BOT", "B0BOT")
    assert person["user"] == "U0ASKER"
    assert (person["thread_ts"], person["parent_user_id"], person["team"]) == (parent, "U0BOT", "T0FAKE")
    assert person["client_msg_id"]
    assert person["blocks"][0]["elements"][0]["elements"] == [{"type": "text", "text": "what if we had 600 examples"}]
    assert "reply_count" not in person
    # The ts of a reply stands for its whole thread, as with Slack.
    assert [m["ts"] for m in client.conversations_replies(channel="C1", ts=asked)["messages"]] == [
        parent,
        explanation,
        asked,
    ]


def test_replies_and_history_page_with_cursors(client: WebClient, fake: FakeSlack) -> None:
    parent = fake.add_message("C1", "a person's question", user="U0ASKER")
    replies = [client.chat_postMessage(channel="C1", thread_ts=parent, text=f"r{i}")["ts"] for i in range(3)]
    first = client.conversations_replies(channel="C1", ts=parent, limit=2)
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    assert cursor
    second = client.conversations_replies(channel="C1", ts=parent, limit=2, cursor=cursor)
    assert [m["ts"] for m in [*first["messages"], *second["messages"]]] == [parent, *replies]
    assert second["has_more"] is False
    assert second["response_metadata"]["next_cursor"] == ""
    assert first["messages"][0]["subscribed"] is False  # a person's thread; the bot does not follow it


def test_metadata_is_listed_only_when_asked_for(client: WebClient) -> None:
    metadata = {"event_type": "verdict_posted", "event_payload": {"decision_id": "D1"}}
    client.chat_postMessage(channel="C1", text="v", metadata=metadata)
    assert "metadata" not in client.conversations_history(channel="C1")["messages"][0]
    assert client.conversations_history(channel="C1", include_all_metadata=True)["messages"][0]["metadata"] == metadata


def test_a_seeded_message_of_the_bot_is_the_bots_and_others_cannot_be_edited(
    client: WebClient, fake: FakeSlack
) -> None:
    ours = fake.add_message("C1", "verdict", user=fake.bot_user_id)
    message = fake.messages[("C1", ours)]
    assert (message["bot_id"], message["app_id"]) == ("B0BOT", "A0FAKE")
    assert "client_msg_id" not in message
    assert client.chat_update(channel="C1", ts=ours, text="edited")["ok"] is True
    theirs = fake.add_message("C1", "hello", ts="1700000000.000001")
    assert theirs == "1700000000.000001"
    assert api_error(lambda: client.chat_update(channel="C1", ts=theirs, text="x")) == "cant_update_message"
    assert api_error(lambda: client.chat_delete(channel="C1", ts=theirs)) == "cant_delete_message"
    with pytest.raises(ValueError, match="already"):
        fake.add_message("C1", "again", ts=theirs)


def test_slack_connect_fields_of_a_seeded_message_are_kept(client: WebClient, fake: FakeSlack) -> None:
    parent = client.chat_postMessage(channel="C1", text="verdict")["ts"]
    fake.add_message("C1", "why", user="U0GUEST", thread_ts=parent, team="T0OTHER", user_team="T0OTHER")
    person = client.conversations_replies(channel="C1", ts=parent)["messages"][-1]
    assert (person["user"], person["team"], person["user_team"]) == ("U0GUEST", "T0OTHER", "T0OTHER")


# ----- other realistic answers ----------------------------------------------------------------------------------------


def test_usergroups_users_list(client: WebClient, fake: FakeSlack) -> None:
    fake.set_usergroup("S0REVIEW", ["U1", "U2"])
    assert client.usergroups_users_list(usergroup="S0REVIEW").data == {"ok": True, "users": ["U1", "U2"]}
    assert api_error(lambda: client.usergroups_users_list(usergroup="S0NOPE")) == "no_such_subteam"
    assert api_error(lambda: client.api_call("usergroups.users.list", json={})) == "invalid_arguments"


def test_conversations_info(client: WebClient, fake: FakeSlack) -> None:
    fake.scopes = ("channels:read", "groups:read", "im:read")
    channel = client.conversations_info(channel="C0DECIDE")["channel"]
    assert (channel["id"], channel["is_channel"], channel["is_private"], channel["is_member"]) == (
        "C0DECIDE",
        True,
        False,
        True,
    )
    assert client.conversations_info(channel="G0SECRET")["channel"]["is_group"] is True
    assert client.conversations_info(channel="D0A")["channel"]["is_im"] is True
    fake.set_channel("C0GONE", "channel_not_found")
    assert api_error(lambda: client.conversations_info(channel="C0GONE")) == "channel_not_found"
    fake.set_channel("C0OUT", "not_in_channel")
    assert client.conversations_info(channel="C0OUT")["channel"]["is_member"] is False


def test_reactions_get_lists_the_message_with_its_permalink(client: WebClient, fake: FakeSlack) -> None:
    fake.scopes = ("chat:write", "reactions:read")
    ts = client.chat_postMessage(channel="C1", text="verdict")["ts"]
    answer = client.reactions_get(channel="C1", timestamp=ts)
    assert answer["type"] == "message"
    assert answer["message"]["permalink"] == client.chat_getPermalink(channel="C1", message_ts=ts)["permalink"]


# ----- the payload builders the suite sends (tests.slack_support) -----------------------------------------------------


def test_a_thread_message_is_shaped_like_slacks() -> None:
    event = thread_message("why <@U0BOT>", thread_ts="1700000000.000100")
    assert event["event_ts"] == event["ts"] != "1700000000.000100"
    assert (event["type"], event["channel"], event["channel_type"]) == ("message", CHANNEL, "channel")
    assert (event["team"], event["user_team"], event["source_team"]) == (TEAM, TEAM, TEAM)
    assert (event["thread_ts"], event["parent_user_id"]) == ("1700000000.000100", "U0BOT")
    assert event["client_msg_id"]
    assert event["blocks"][0]["elements"][0]["elements"] == [
        {"type": "text", "text": "why "},
        {"type": "user", "user_id": "U0BOT"},
    ]
    guest = thread_message("why", thread_ts="1.000001", user="U0GUEST", user_team=OTHER_TEAM, channel="G0PRIV")
    assert (guest["team"], guest["user_team"], guest["source_team"]) == (OTHER_TEAM, OTHER_TEAM, TEAM)
    assert guest["channel_type"] == "group"
    assert thread_message("x", thread_ts="1.000001", ts="2.000002", event_ts="3.000003")["event_ts"] == "3.000003"


def test_bot_messages_and_mentions_are_shaped_like_slacks() -> None:
    other = bot_message("hello", thread_ts="1.000001")
    assert (other["bot_id"], other["app_id"], other["bot_profile"]["app_id"]) == ("B0OTHER", "A0OTHER", "A0OTHER")
    assert other["event_ts"] == other["ts"]
    classic = bot_message("hello", classic=True)
    assert (classic["subtype"], classic["event_ts"], "user" in classic) == ("bot_message", classic["ts"], False)
    mention = app_mention("<@U0BOT> why", thread_ts="1.000001")
    assert mention["type"] == "app_mention"
    assert "channel_type" not in mention
    assert mention["event_ts"] == mention["ts"]


def test_an_envelope_is_shaped_like_slacks() -> None:
    event = thread_message("why", thread_ts="1.000001")
    plain = event_callback(event, event_id="Ev1")
    assert "enterprise_id" not in plain
    assert plain["authorizations"] == [
        {"enterprise_id": None, "team_id": TEAM, "user_id": "U0BOT", "is_bot": True, "is_enterprise_install": False}
    ]
    assert (plain["is_ext_shared_channel"], plain["context_team_id"], plain["context_enterprise_id"]) == (
        False,
        TEAM,
        None,
    )
    context = plain["event_context"]
    assert context.startswith("4-")
    decoded = json.loads(base64.urlsafe_b64decode(context[2:] + "=" * (-len(context[2:]) % 4)))
    assert decoded == {"et": "message", "tid": TEAM, "aid": "A0FAKE", "cid": CHANNEL}
    grid = event_callback(event, event_id="Ev2", ext_shared=True, enterprise_id=ENTERPRISE)
    assert grid["enterprise_id"] == ENTERPRISE
    assert grid["authorizations"][0]["enterprise_id"] == ENTERPRISE
    assert grid["authorizations"][0]["is_enterprise_install"] is False
    assert grid["is_ext_shared_channel"] is True


def test_a_button_click_is_shaped_like_slacks() -> None:
    click = block_actions(
        "request-rereview",
        "01ABC",
        message_ts="1.000002",
        thread_ts="1.000001",
        user_team=OTHER_TEAM,
        response_url="https://hooks.slack.com/actions/T0FAKE/1/x",
    )
    assert click["user"] == {"id": USER, "username": "asker", "name": "asker", "team_id": OTHER_TEAM}
    assert click["team"] == {"id": TEAM, "domain": "fake"}  # the app's workspace, even for a Slack Connect guest
    assert (click["enterprise"], click["is_enterprise_install"]) == (None, False)
    assert (click["api_app_id"], click["token"], click["state"]) == ("A0FAKE", "legacy-unused", {"values": {}})
    assert click["container"] == {
        "type": "message",
        "message_ts": "1.000002",
        "channel_id": CHANNEL,
        "is_ephemeral": False,
        "thread_ts": "1.000001",
    }
    assert (click["message"]["ts"], click["message"]["thread_ts"], click["message"]["team"]) == (
        "1.000002",
        "1.000001",
        TEAM,
    )
    (action,) = click["actions"]
    assert (action["action_id"], action["value"], action["type"]) == ("request-rereview", "01ABC", "button")
    assert re.fullmatch(r"\d+\.\d+\.[0-9a-f]+", click["trigger_id"])
    grid = block_actions("x", message_ts="1.000002", response_url="u", enterprise_id=ENTERPRISE, trigger_id="")
    assert grid["enterprise"] == {"id": ENTERPRISE, "name": "Fake Org"}
    assert grid["team"]["enterprise_id"] == ENTERPRISE
    assert grid["trigger_id"] == ""
    assert "value" not in grid["actions"][0]


def test_a_submission_is_shaped_like_slacks() -> None:
    payload = submission_payload(MODAL, {"task": "triage"}, user_team=OTHER_TEAM)
    assert payload["user"]["team_id"] == OTHER_TEAM
    assert payload["team"]["id"] == OTHER_TEAM  # submitted from the guest's own workspace
    view = payload["view"]
    assert (view["team_id"], view["app_installed_team_id"]) == (OTHER_TEAM, TEAM)
    assert view["state"] == {"values": {"task": {"value": {"type": "plain_text_input", "value": "triage"}}}}
    assert (payload["enterprise"], payload["is_enterprise_install"], payload["token"]) == (
        None,
        False,
        "legacy-unused",
    )
    assert submission_payload(MODAL, {})["team"] == {"id": TEAM, "domain": "fake"}


def test_asking_in_a_thread_puts_the_message_in_it_before_the_event(fake: FakeSlack, client: WebClient) -> None:
    verdict = client.chat_postMessage(channel=CHANNEL, text="verdict")["ts"]
    asker = BotClient(fake.base_url, services=None, fake=fake)  # type: ignore[arg-type]  # the fake answers 404
    assert asker.ask("why", thread_ts=verdict).status == 404
    (sent,) = fake.calls("/slack/events")
    event = sent.args["event"]
    replies = client.conversations_replies(channel=CHANNEL, ts=verdict)["messages"]
    assert [m["ts"] for m in replies] == [verdict, event["ts"]]
    assert float(event["ts"]) > float(verdict)  # a reply comes after its parent
    person = replies[1]
    assert (person["user"], person["text"], person["parent_user_id"]) == (USER, "why", "U0BOT")
    assert (event["event_ts"], event["parent_user_id"]) == (event["ts"], "U0BOT")
    asker.ask("why", thread_ts=verdict, subtype="message_changed")  # not a new message: only sent
    asker.ask("why", thread_ts=verdict, user="U0GUEST", user_team=OTHER_TEAM, ext_shared=True)
    guest = client.conversations_replies(channel=CHANNEL, ts=verdict)["messages"][-1]
    assert (guest["user"], guest["team"], guest["user_team"]) == ("U0GUEST", OTHER_TEAM, OTHER_TEAM)
    assert len(client.conversations_replies(channel=CHANNEL, ts=verdict)["messages"]) == 3
    assert fake.calls("/slack/events")[-1].args["is_ext_shared_channel"] is True
