"""Scenario-test support: the real bot served over HTTP on loopback, the fake Slack, and signed requests.

Fixtures: `fake_slack` (a running FakeSlack), `bot` (the served bot wired to it and to real Redis); `served_bot` serves
one with settings of the test's choosing. `BotClient` builds the payloads Slack would send: slash commands, and view
submissions filled in from the very view the bot opened.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
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
from tests.fakeslack import FakeSlack

SIGNING_SECRET = "8f742231b10e8888abcd99eeefff85a5"  # 32 hexadecimal characters, as Slack issues them
BOT_TOKEN = "xoxb-test-token"
TEAM, CHANNEL, USER = "T0FAKE", "C0DECIDE", "U0ASKER"


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


def thread_message(
    text: str, *, thread_ts: str, ts: str | None = None, user: str = USER, channel: str = CHANNEL, **extra: Any
) -> dict[str, Any]:
    """The `message` event of `user` writing `text` in the thread of the bot's message `thread_ts`."""
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts or message_ts(),
        "thread_ts": thread_ts,
        "parent_user_id": "U0BOT",
        "channel_type": "channel",
        "event_ts": ts or "1700000000.000000",
        **extra,
    }


def event_callback(event: Mapping[str, Any], *, event_id: str) -> dict[str, Any]:
    """The Events API envelope Slack posts for `event`."""
    return {
        "token": "legacy-unused",
        "team_id": TEAM,
        "api_app_id": "A0FAKE",
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": "U0BOT", "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
        "event_context": "4-fake",
    }


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
        """`/should-finetune text` typed in `channel` by `user`."""
        fields = {
            "token": "legacy-unused",
            "team_id": TEAM,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "decisions",
            "user_id": user,
            "user_name": "asker",
            "command": "/should-finetune",
            "text": text,
            "api_app_id": "A0FAKE",
            "response_url": self.fake.response_url("command"),
            "trigger_id": trigger_id(),
            **extra,
        }
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
    ) -> Reply:
        """Submit `view` (default: the last one opened) filled in with `answers`."""
        return self.interaction(submission_payload(view or self.opened_view(), answers, user=user, view_id=view_id))

    def event(
        self, event: Mapping[str, Any], *, event_id: str | None = None, retry_num: int = 0, reason: str = "http_timeout"
    ) -> Reply:
        """`event` delivered as Slack delivers it; `retry_num` > 0 makes it a redelivery of `event_id`."""
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason} if retry_num else {}
        body = json.dumps(event_callback(event, event_id=event_id or new_event_id())).encode()
        return self.post(body, content_type="application/json", headers=headers)

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

    def ask(self, text: str, *, thread_ts: str, **fields: Any) -> Reply:
        """`text` written by a person in the thread of `thread_ts`, as a `message` event."""
        return self.event(thread_message(text, thread_ts=thread_ts, **fields))

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


def submission_payload(
    view: Mapping[str, Any], answers: Mapping[str, Any], *, user: str = USER, view_id: str = "V0FORM"
) -> dict[str, Any]:
    """The `view_submission` payload Slack sends when `user` submits `view` filled in with `answers`."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "fake"},
        "user": {"id": user, "username": "asker", "team_id": TEAM},
        "api_app_id": "A0FAKE",
        "trigger_id": trigger_id(),
        "view": {
            "id": view_id,
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view.get("private_metadata", ""),
            "blocks": view["blocks"],
            "state": {"values": state_values(view, answers)},
            "hash": "1.abc",
        },
        "response_urls": [],
    }


def bot_settings(fake: FakeSlack, redis_url: str, prefix: str, **overrides: Any) -> Settings:
    """Settings for a bot that talks to `fake` and keeps its keys under `prefix`."""
    values: dict[str, Any] = {
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
