"""Scenario-test support: the real bot served over HTTP on loopback, the fake Slack, and signed requests.

Fixtures: `fake_slack` (a running FakeSlack), `bot` (the served bot wired to it and to real Redis); `served_bot` serves
one with settings of the test's choosing. Both decide by the tests' own rule set (`tests.fixture_rules`), not the
shipped policy. `BotClient` builds the payloads Slack would send: slash commands, and view
submissions filled in from the very view the bot opened.

The payload builders (`thread_message`, `bot_message`, `event_callback`, `block_actions`, `submission_payload`) are
shaped like what Slack sends (bolt-python's test fixtures, Slack's Events API and interactivity references), Slack
Connect (a person of another organization: `user_team=OTHER_TEAM`, `ext_shared=True`) and Enterprise Grid
(`enterprise_id=ENTERPRISE`) included.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import App

from bot.app import build_app
from bot.runtime import open_services
from bot.server import SlackWSGI, create_server
from bot.services import Services
from bot.settings import Settings
from tests import fixture_rules
from tests.fakeslack import FakeSlack, rich_text

SIGNING_SECRET = "8f742231b10e8888abcd99eeefff85a5"  # 32 hexadecimal characters, as Slack issues them
BOT_TOKEN = "xoxb-test-token"
TEAM, CHANNEL, USER = "T0FAKE", "C0DECIDE", "U0ASKER"
TEAM_DOMAIN = "fake"
APP_ID, BOT_USER, BOT_ID = "A0FAKE", "U0BOT", "B0BOT"
OTHER_TEAM = "T0OTHER"  # another organization's workspace, in a Slack Connect channel
ENTERPRISE = "E0FAKE"  # an Enterprise Grid organization
ENTERPRISE_NAME = "Fake Org"


def sign(body: bytes, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """The two headers Slack adds to a request: `v0=` HMAC-SHA256 over `v0:{timestamp}:{body}`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Reply:
    """An HTTP response from the bot."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def http(url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None, method: str = "POST") -> Reply:
    """One request over real HTTP; errors are replies too."""
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, dict(response.headers), response.read(), time.perf_counter() - started)
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read(), time.perf_counter() - started)


_TRIGGERS = iter(range(10**6))
_EVENTS = iter(range(1, 10**7))
_MESSAGES = iter(range(1, 10**7))


def trigger_id() -> str:
    """A fresh trigger id in Slack's format."""
    return f"{1000 + next(_TRIGGERS)}.98765.abcdef{next(_TRIGGERS):06x}"


_fresh_trigger_id = trigger_id  # for builders whose `trigger_id` argument hides the function


def state_values(view: Mapping[str, Any], answers: Mapping[str, Any]) -> dict[str, Any]:
    """`view.state.values` as Slack would send them for `view` filled in with `answers` (by block id).

    Selects take the option value; checkboxes a list of values; text and number inputs a string. Anything left out
    is submitted empty, as Slack does for optional inputs."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        block_id, element = block["block_id"], block["element"]
        kind, action = element["type"], element["action_id"]
        given = answers.get(block_id)
        if kind in {"plain_text_input", "number_input"}:
            state: dict[str, Any] = {"type": kind, "value": None if given is None else str(given)}
        elif kind in {"static_select", "radio_buttons"}:
            option = next((o for o in element["options"] if o["value"] == given), None)
            if given is not None and option is None:  # a value the form does not offer (a forged payload)
                option = {"text": {"type": "plain_text", "text": str(given)}, "value": str(given)}
            state = {"type": kind, "selected_option": option}
        elif kind == "checkboxes":
            chosen = list(given or [])
            options = [o for o in element["options"] if o["value"] in chosen]
            options += [
                {"text": {"type": "plain_text", "text": c}, "value": c}
                for c in chosen
                if c not in {o["value"] for o in options}
            ]
            state = {"type": kind, "selected_options": options}
        elif kind == "conversations_select":
            state = {"type": kind, "selected_conversation": given}
        else:
            raise AssertionError(f"no state builder for {kind}")
        values[block_id] = {action: state}
    return values


def new_event_id() -> str:
    """A fresh Events API `event_id`."""
    return f"Ev{next(_EVENTS):08d}"


def message_ts() -> str:
    """A fresh message ts for a person's message (the fake Slack's own are counted from the current time)."""
    return f"1700000000.{next(_MESSAGES):06d}"


def channel_type(channel: str) -> str:
    """The `channel_type` of a message event in `channel`: "channel" (C…), "group" (G…) or "im" (D…)."""
    return {"G": "group", "D": "im"}.get(channel[:1], "channel")


def thread_message(
    text: str,
    *,
    thread_ts: str,
    ts: str | None = None,
    user: str = USER,
    channel: str = CHANNEL,
    user_team: str = TEAM,
    source_team: str = TEAM,
    **extra: Any,
) -> dict[str, Any]:
    """The `message` event of `user` writing `text` in the thread of the bot's message `thread_ts`, as Slack sends a
    message typed in its client: `client_msg_id`, `rich_text` blocks, the author's `team` and `user_team`, the
    channel host's `source_team`, `parent_user_id`, `channel_type`, and `event_ts` equal to `ts`.

    A person of another organization in a Slack Connect channel: `user_team=OTHER_TEAM` (their `team` too), while
    `source_team` stays the channel's host. `extra` fields are added, or replace these (e.g. `parent_user_id`,
    `subtype`, `event_ts`)."""
    ts = ts or message_ts()
    return {
        "client_msg_id": str(uuid.uuid4()),
        "type": "message",
        "text": text,
        "user": user,
        "ts": ts,
        "blocks": rich_text(text),
        "team": user_team,
        "user_team": user_team,
        "source_team": source_team,
        "thread_ts": thread_ts,
        "parent_user_id": BOT_USER,
        "channel": channel,
        "event_ts": ts,
        "channel_type": channel_type(channel),
        **extra,
    }


def app_mention(
    text: str,
    *,
    ts: str | None = None,
    user: str = USER,
    channel: str = CHANNEL,
    thread_ts: str | None = None,
    user_team: str = TEAM,
    source_team: str = TEAM,
    **extra: Any,
) -> dict[str, Any]:
    """The `app_mention` event of `user` writing `text` (which mentions the bot) in `channel`, in the thread of
    `thread_ts` when given: as a thread message (see `thread_message`) but with no `channel_type`, as Slack sends it."""
    ts = ts or message_ts()
    event: dict[str, Any] = {
        "client_msg_id": str(uuid.uuid4()),
        "type": "app_mention",
        "text": text,
        "user": user,
        "ts": ts,
        "blocks": rich_text(text),
        "team": user_team,
        "user_team": user_team,
        "source_team": source_team,
    }
    if thread_ts is not None:
        event.update(thread_ts=thread_ts, parent_user_id=BOT_USER)
    event.update(channel=channel, event_ts=ts)
    return {**event, **extra}


def bot_message(
    text: str,
    *,
    thread_ts: str | None = None,
    ts: str | None = None,
    channel: str = CHANNEL,
    bot_id: str = "B0OTHER",
    app_id: str = "A0OTHER",
    user: str = "U0OTHERBOT",
    classic: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """The `message` event of another app's bot posting `text` (in the thread of `thread_ts` when given): `bot_id`,
    `app_id` and `bot_profile`; or, `classic`, a legacy `subtype: bot_message` with a `username` and no user. Either
    way with `event_ts` equal to `ts`, as Slack sends it."""
    ts = ts or message_ts()
    event: dict[str, Any]
    if classic:
        event = {"type": "message", "subtype": "bot_message", "text": text, "ts": ts, "username": "classic-bot"}
        event["bot_id"] = bot_id
    else:
        profile = {
            "id": bot_id,
            "deleted": False,
            "name": "other-app",
            "updated": 1700000000,
            "app_id": app_id,
            "icons": {"image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png"},
            "team_id": TEAM,
        }
        event = {"bot_id": bot_id, "type": "message", "text": text, "user": user, "ts": ts, "app_id": app_id}
        event.update(blocks=rich_text(text), team=TEAM, bot_profile=profile)
    if thread_ts is not None:
        event.update(thread_ts=thread_ts, parent_user_id=BOT_USER)
    event.update(channel=channel, event_ts=ts, channel_type=channel_type(channel))
    return {**event, **extra}


def event_context(event: Mapping[str, Any]) -> str:
    """An opaque `event_context` as Slack writes it: "4-" and base64url JSON naming the event, team, app, channel."""
    channel = event.get("channel")
    if isinstance(event.get("item"), dict):
        channel = event["item"].get("channel")
    fields = {"et": str(event.get("type")), "tid": TEAM, "aid": APP_ID}
    if isinstance(channel, str):
        fields["cid"] = channel
    encoded = base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode()).decode()
    return "4-" + encoded.rstrip("=")


def event_callback(
    event: Mapping[str, Any], *, event_id: str, ext_shared: bool = False, enterprise_id: str | None = None
) -> dict[str, Any]:
    """The Events API envelope Slack posts for `event`, to the app installed in TEAM: `authorizations`,
    `is_ext_shared_channel` (`ext_shared`: the event happened in a Slack Connect channel), `event_context`; on
    Enterprise Grid (`enterprise_id`), `enterprise_id` at the top and in the authorization."""
    envelope: dict[str, Any] = {"token": "legacy-unused", "team_id": TEAM}
    if enterprise_id is not None:
        envelope["enterprise_id"] = enterprise_id
    authorization = {
        "enterprise_id": enterprise_id,
        "team_id": TEAM,
        "user_id": BOT_USER,
        "is_bot": True,
        "is_enterprise_install": False,
    }
    envelope.update(
        {
            "context_team_id": TEAM,
            "context_enterprise_id": enterprise_id,
            "api_app_id": APP_ID,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [authorization],
            "is_ext_shared_channel": ext_shared,
            "event_context": event_context(event),
        }
    )
    return envelope


REQUIRED_ANSWERS = {
    "use_case": "Support-ticket triage",
    "primary_failure": "style",
    "n_stable_examples": "30",
    "change_freq_days": "30",
    "tried": ["prompt"],
}


class BotClient:
    """The served bot, and requests to it as Slack makes them."""

    def __init__(self, url: str, services: Services, fake: FakeSlack) -> None:
        self.url = url
        self.services = services
        self.fake = fake

    def post(self, body: bytes, *, content_type: str, headers: Mapping[str, str] | None = None) -> Reply:
        """A signed POST to /slack/events (extra `headers` override the signature's)."""
        all_headers = {"Content-Type": content_type, **sign(body), **(headers or {})}
        return http(self.url + "/slack/events", body, all_headers)

    def command(self, text: str = "", *, channel: str = CHANNEL, user: str = USER, **extra: str) -> Reply:
        """`/should-finetune text` typed in `channel` by `user` (`extra` fields added or replacing Slack's)."""
        extra.setdefault("response_url", self.fake.response_url("command"))
        fields = slash_command(text, channel=channel, user=user, **extra)
        return self.post(urlencode(fields).encode(), content_type="application/x-www-form-urlencoded")

    def interaction(self, payload: Mapping[str, Any]) -> Reply:
        """An interactivity payload (view submission, button) as Slack posts it: form field `payload`."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, content_type="application/x-www-form-urlencoded")

    def opened_view(self, index: int = -1) -> dict[str, Any]:
        """The modal the bot opened with views.open (the latest by default)."""
        view = self.fake.wait_for("views.open", 1)[index].args["view"]
        return json.loads(view) if isinstance(view, str) else view

    def submit(
        self,
        answers: Mapping[str, Any],
        *,
        view: Mapping[str, Any] | None = None,
        user: str = USER,
        view_id: str = "V0FORM",
        user_team: str = TEAM,
    ) -> Reply:
        """Submit `view` (default: the last one opened) filled in with `answers`."""
        payload = submission_payload(
            view or self.opened_view(), answers, user=user, view_id=view_id, user_team=user_team
        )
        return self.interaction(payload)

    def click(
        self, action_id: str, value: str | None = None, *, message_ts: str, name: str = "button", **fields: Any
    ) -> Reply:
        """`block_actions(...)` for a button on the message at `message_ts`, with the message as the fake Slack holds
        it (its blocks, its thread) when it does; Slack's answers to the click go to response_url `name`."""
        channel = fields.get("channel", CHANNEL)
        stored = self.fake.message(channel, message_ts)
        if stored is not None:
            fields.setdefault("message", stored)
            if stored.get("thread_ts") not in (None, message_ts):
                fields.setdefault("thread_ts", stored["thread_ts"])
        payload = block_actions(
            action_id, value, message_ts=message_ts, response_url=self.fake.response_url(name), **fields
        )
        return self.interaction(payload)

    def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int = 0,
        reason: str = "http_timeout",
        ext_shared: bool = False,
        enterprise_id: str | None = None,
    ) -> Reply:
        """`event` delivered as Slack delivers it; `retry_num` > 0 makes it a redelivery of `event_id`. `ext_shared`
        and `enterprise_id` as for `event_callback`."""
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason} if retry_num else {}
        envelope = event_callback(
            event, event_id=event_id or new_event_id(), ext_shared=ext_shared, enterprise_id=enterprise_id
        )
        return self.post(json.dumps(envelope).encode(), content_type="application/json", headers=headers)

    def decide(self, answers: Mapping[str, Any] = REQUIRED_ANSWERS, *, channel: str = CHANNEL) -> str:
        """Ask for a decision through the form and wait for its verdict and explanation; the verdict's ts."""
        posted = len(self.fake.calls("chat.postMessage"))
        opened = len(self.fake.calls("views.open"))
        assert self.command(channel=channel).status == 200
        self.fake.wait_for("views.open", opened + 1)
        assert self.submit(answers).status == 200
        verdict = self.fake.wait_for("chat.postMessage", posted + 2)[posted]
        assert verdict.response is not None
        assert verdict.response["ok"], verdict.response
        return str(verdict.response["ts"])

    def ask(
        self,
        text: str,
        *,
        thread_ts: str,
        ext_shared: bool = False,
        enterprise_id: str | None = None,
        **fields: Any,
    ) -> Reply:
        """`text` written by a person in the thread of `thread_ts`, as a `message` event (`fields` as for
        `thread_message`; `ext_shared` and `enterprise_id` as for `event_callback`).

        As in Slack, the message is in the thread before its event arrives: the fake Slack holds it (a fresh ts of
        its own unless `ts` is given), so conversations.replies lists it, and `parent_user_id` is the thread
        parent's author. Bots' messages and subtypes (edits, joins...) are only sent."""
        channel = fields.get("channel", CHANNEL)
        if "subtype" not in fields and "bot_id" not in fields:
            ts = fields.get("ts")
            if ts is None or self.fake.message(channel, ts) is None:
                user, team = fields.get("user", USER), fields.get("user_team", TEAM)
                extra = {} if team == TEAM else {"team": team, "user_team": team, "source_team": TEAM}
                ts = self.fake.add_message(channel, text, user=user, thread_ts=thread_ts, ts=ts, **extra)
            stored = self.fake.message(channel, ts) or {}
            fields = {"ts": ts, **fields}
            if "parent_user_id" in stored:
                fields.setdefault("parent_user_id", stored["parent_user_id"])
        event = thread_message(text, thread_ts=thread_ts, **fields)
        return self.event(event, ext_shared=ext_shared, enterprise_id=enterprise_id)

    def replies(self, thread_ts: str) -> list[dict[str, Any]]:
        """What the bot posted in the thread of `thread_ts`, oldest first, the explanation included."""
        return [call.args for call in self.fake.calls("chat.postMessage") if call.args.get("thread_ts") == thread_ts]

    def wait_replies(self, thread_ts: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until the bot has posted `count` messages in the thread; all of them."""
        deadline = time.monotonic() + timeout
        while len(found := self.replies(thread_ts)) < count:
            if time.monotonic() > deadline:
                texts = [m.get("text") for m in found]
                raise AssertionError(f"{len(found)} of {count} replies in thread {thread_ts}: {texts}")
            time.sleep(0.01)
        return found


def slash_command(
    text: str = "",
    *,
    response_url: str,
    channel: str = CHANNEL,
    user: str = USER,
    team: str = TEAM,
    trigger_id: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The form fields Slack posts for `/should-finetune text` typed in `channel` by `user` (`trigger_id` defaults to
    a fresh one; `extra` fields are added, or replace these)."""
    return {
        "token": "legacy-unused",
        "team_id": team,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel,
        "channel_name": "decisions" if channel == CHANNEL else channel.lower(),
        "user_id": user,
        "user_name": "asker" if user == USER else user.lower(),
        "command": "/should-finetune",
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": _fresh_trigger_id() if trigger_id is None else trigger_id,
        **extra,
    }


def _team(team: str, enterprise_id: str | None) -> dict[str, Any]:
    """An interaction payload's `team` object."""
    found: dict[str, Any] = {"id": team, "domain": TEAM_DOMAIN if team == TEAM else "other-org"}
    if enterprise_id is not None:
        found.update(enterprise_id=enterprise_id, enterprise_name=ENTERPRISE_NAME)
    return found


def _person(user: str, team: str) -> dict[str, Any]:
    """An interaction payload's `user` object."""
    name = "asker" if user == USER else user.lower()
    return {"id": user, "username": name, "name": name, "team_id": team}


def _enterprise(enterprise_id: str | None) -> dict[str, Any] | None:
    return None if enterprise_id is None else {"id": enterprise_id, "name": ENTERPRISE_NAME}


def message_shortcut(
    message: Mapping[str, Any],
    *,
    callback_id: str,
    response_url: str,
    channel: str = CHANNEL,
    user: str = USER,
    team: str = TEAM,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A `message_action` payload: `user` chose a message shortcut on `message` (as the channel holds it), as Slack
    sends it (the Slack API's "Message shortcuts" reference, bolt-python's shortcut tests)."""
    return {
        "type": "message_action",
        "token": "verification-token-unused",
        "action_ts": message_ts(),
        "team": _team(team, None),
        "user": _person(user, team),
        "channel": {"id": channel, "name": "decisions" if channel == CHANNEL else channel.lower()},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": _fresh_trigger_id() if trigger_id is None else trigger_id,
        "response_url": response_url,
        "message_ts": message["ts"],
        "message": dict(message),
    }


def global_shortcut(
    *, callback_id: str, user: str = USER, team: str = TEAM, trigger_id: str | None = None
) -> dict[str, Any]:
    """A `shortcut` payload: `user` chose a global shortcut (no channel, no response_url), as Slack sends it."""
    return {
        "type": "shortcut",
        "token": "verification-token-unused",
        "action_ts": message_ts(),
        "team": _team(team, None),
        "user": _person(user, team),
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": _fresh_trigger_id() if trigger_id is None else trigger_id,
    }


def submission_payload(
    view: Mapping[str, Any],
    answers: Mapping[str, Any],
    *,
    user: str = USER,
    view_id: str = "V0FORM",
    user_team: str = TEAM,
    enterprise_id: str | None = None,
) -> dict[str, Any]:
    """The `view_submission` payload Slack sends when `user` submits `view` filled in with `answers`.

    A person of another organization (`user_team`, in a Slack Connect channel) submits from their own workspace:
    `team`, `user.team_id` and `view.team_id` are theirs, and `view.app_installed_team_id` says where the app is."""
    title = view.get("title") or {"type": "plain_text", "text": "Should I fine-tune?"}
    return {
        "type": "view_submission",
        "team": _team(user_team, enterprise_id),
        "user": _person(user, user_team),
        "api_app_id": APP_ID,
        "token": "legacy-unused",
        "trigger_id": trigger_id(),
        "view": {
            "id": view_id,
            "team_id": user_team,
            "type": "modal",
            "blocks": view["blocks"],
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view["callback_id"],
            "state": {"values": state_values(view, answers)},
            "hash": "1700000000.abcDEF12",
            "title": title,
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": APP_ID,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": TEAM,
            "bot_id": BOT_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": _enterprise(enterprise_id),
    }


def block_actions(
    action_id: str,
    value: str | None = None,
    *,
    message_ts: str,
    channel: str = CHANNEL,
    user: str = USER,
    user_team: str = TEAM,
    thread_ts: str | None = None,
    response_url: str,
    trigger_id: str | None = None,
    block_id: str = "verdict-actions",
    text: str = "Button",
    action_ts: str | None = None,
    message: Mapping[str, Any] | None = None,
    enterprise_id: str | None = None,
) -> dict[str, Any]:
    """The `block_actions` payload Slack posts when `user` presses the button `action_id` (carrying `value`) on the
    bot's message at `message_ts` in `channel` (in the thread of `thread_ts` when given), shaped like bolt-python's
    fixtures: `user` with `id`, `username`, `name`, `team_id`; `team`; `enterprise` and `is_enterprise_install`;
    `container`; the clicked `message` (`message`, e.g. as the fake Slack holds it, or a plain one of the bot);
    `state`; one action. `trigger_id` defaults to a fresh one. In a Slack Connect channel (`user_team` of another
    organization) `team` stays the app's workspace and `user.team_id` is the person's."""
    clicked: dict[str, Any] = {
        "bot_id": BOT_ID,
        "type": "message",
        "text": "verdict",
        "user": BOT_USER,
        "ts": message_ts,
        "app_id": APP_ID,
        "blocks": [],
        "team": TEAM,
    }
    if message is not None:
        clicked = {key: item for key, item in message.items() if key != "metadata"}
        clicked["ts"] = message_ts
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel,
        "is_ephemeral": False,
    }
    if thread_ts is not None:
        clicked.update(thread_ts=thread_ts, parent_user_id=clicked.get("parent_user_id", BOT_USER))
        container["thread_ts"] = thread_ts
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "type": "button",
        "action_ts": action_ts or f"{time.time():.6f}",
    }
    if value is not None:
        action["value"] = value
    return {
        "type": "block_actions",
        "user": _person(user, user_team),
        "api_app_id": APP_ID,
        "token": "legacy-unused",
        "container": container,
        "trigger_id": _fresh_trigger_id() if trigger_id is None else trigger_id,
        "team": _team(TEAM, enterprise_id),
        "enterprise": _enterprise(enterprise_id),
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "decisions" if channel == CHANNEL else channel.lower()},
        "message": clicked,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def bot_settings(fake: FakeSlack, redis_url: str, prefix: str, **overrides: Any) -> Settings:
    """Settings for a bot that talks to `fake`, keeps its keys under `prefix` and decides by the tests' own rule set
    (tests/data/fixture_rules/, not the shipped policy)."""
    values: dict[str, Any] = {
        "rules_dir": fixture_rules.DIRECTORY,
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake.url,
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "threads": 8,
    }
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A running fake of the Slack Web API."""
    with FakeSlack() as fake:
        yield fake
        assert not fake.errors, "the fake Slack itself failed:\n" + "\n".join(fake.errors)


@pytest.fixture
def bot(fake_slack: FakeSlack, redis_url: str, key_prefix: str) -> Iterator[BotClient]:
    """The bot served over HTTP on loopback, wired to the fake Slack and real Redis."""
    with open_services(bot_settings(fake_slack, redis_url, key_prefix)) as services:
        app = build_app(services)
        with serving_in_thread(app, services) as url:
            yield BotClient(url, services, fake_slack)


@contextmanager
def served_bot(fake: FakeSlack, redis_url: str, prefix: str, **settings: Any) -> Iterator[BotClient]:
    """A bot served over HTTP on loopback with these `settings` overrides, wired to `fake` and Redis at `redis_url`."""
    with ExitStack() as stack:
        services = stack.enter_context(open_services(bot_settings(fake, redis_url, prefix, **settings)))
        url = stack.enter_context(serving_in_thread(build_app(services), services))
        yield BotClient(url, services, fake)


@contextmanager
def serving_in_thread(app: App, services: Services) -> Iterator[str]:
    """Serve `app` with the production server on a loopback port, in a thread; yields the base URL."""
    server = create_server(SlackWSGI(app, services), host="127.0.0.1", port=0, threads=8, loop_timeout=0.05)
    closing = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:  # waitress's loop sees its sockets closed under it: that is the stop we asked for
            if not closing.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        closing.set()
        server.close()
        thread.join(5)
