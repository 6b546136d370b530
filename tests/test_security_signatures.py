"""Requests not signed as Slack signs them, copies of signed ones, and bodies over the size cap.

Every request here is one that would have an effect if it were accepted (a command opens the form, a submission
records and posts a decision, a question in a verdict's thread is answered), and each test first shows that the
correctly signed request has that effect: a 401 that stops nothing would prove nothing. "Nothing ran" is checked
three ways: no call reached the fake Slack, no key under the bot's prefix changed, and a probe installed as Bolt's
first middleware saw no request.

What a copy of a signed request gets (Slack's scheme accepts one for five minutes):

- a command or an interaction (button, form submission): 401. Slack never sends one twice, so a copy is a replay,
  and a copied form submission would otherwise record and post a second decision;
- an Events API request: 200, and nothing happens twice, because the listeners claim each message and reaction
  once; Slack itself sends events again when it had no answer in time, so a copy is not proof of a replay;
- any copy older than five minutes: 401, as for any stale request.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from bot.server import ReplayGuard
from bot.settings import SettingsError, load_settings
from bot.slack.ids import ActionId
from tests.inprocess import Answer, InProcessBot, call_wsgi, changed_keys, environ_for
from tests.payloads import NOT_NUMBERS, World, signature
from tests.security_support import install_probe, world_bot
from tests.slack_support import (
    REQUIRED_ANSWERS,
    SIGNING_SECRET,
    block_actions,
    event_callback,
    http,
    serving_in_thread,
    slash_command,
    submission_payload,
    thread_message,
)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class FrozenClock(Clock):
    """The signature check's clock, stopped, so that "301 s" is 301 s however slow the machine is."""

    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at


@pytest.fixture(scope="module")
def served(redis_url: str) -> Iterator[tuple[InProcessBot, World, list[str]]]:
    """The bot in-process with one posted decision, and a probe in front of its listeners."""
    with world_bot(redis_url) as (bot, world):
        yield bot, world, install_probe(bot)


@pytest.fixture
def frozen(served: tuple[InProcessBot, World, list[str]]) -> Iterator[FrozenClock]:
    """The bot's signature check with its clock stopped now."""
    bot = served[0]
    clock = FrozenClock(float(int(time.time())))
    real = bot.wsgi.verifier
    bot.wsgi.verifier = SignatureVerifier(SIGNING_SECRET, clock=clock)
    yield clock
    bot.wsgi.verifier = real


# --- requests that would have an effect -------------------------------------------------------------------------------


def command(world: World) -> tuple[bytes, str]:
    """`/should-finetune` in the world's channel: opens the form (views.open)."""
    fields = slash_command(
        "ticket triage",
        team=world.team,
        channel=world.channel,
        user=world.requester,
        trigger_id=world.new_trigger_id(),
        response_url=world.response_url,
    )
    return urlencode(fields).encode(), FORM


def submission(world: World) -> tuple[bytes, str]:
    """The decision form submitted: records a decision and posts its verdict (chat.postMessage)."""
    payload = submission_payload(world.form_view, REQUIRED_ANSWERS, user=world.requester)
    return urlencode({"payload": json.dumps(payload)}).encode(), FORM


def question(world: World) -> tuple[bytes, str]:
    """`why` in the verdict's thread: answered in the thread (chat.postMessage)."""
    event = event_callback(thread_message("why", thread_ts=world.verdict_ts), event_id=f"Ev{time.time_ns()}")
    return json.dumps(event).encode(), JSON


def rereview_click(world: World) -> tuple[bytes, str]:
    """The "Request re-review" button on the verdict: a re-review in the thread."""
    payload = block_actions(
        ActionId.REQUEST_REREVIEW.value,
        message_ts=world.verdict_ts,
        channel=world.channel,
        user=world.requester,
        response_url=world.response_url,
        trigger_id=world.new_trigger_id(),
    )
    return urlencode({"payload": json.dumps(payload)}).encode(), FORM


REQUESTS = {"command": command, "submission": submission, "question": question}


def send(bot: InProcessBot, body: bytes, content_type: str, headers: dict[str, str]) -> tuple[Answer, list[Any]]:
    """One request; its answer and the calls the fake Slack received because of it."""
    before = len(bot.calls())
    answer = bot.request(body, headers=headers, content_type=content_type)
    bot.drain()
    return answer, bot.calls()[before:]


def signed(body: bytes, stamp: int | str, secret: str = SIGNING_SECRET) -> dict[str, str]:
    return {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": signature(body, str(stamp), secret)}


def assert_nothing_ran(
    served: tuple[InProcessBot, World, list[str]], body: bytes, content_type: str, headers: dict[str, str]
) -> None:
    bot, _, probe = served
    seen, before = len(probe), bot.fingerprint()
    answer, calls = send(bot, body, content_type, headers)
    assert answer.status == 401, answer
    assert answer.body == b'{"error": "invalid request"}'
    assert calls == []
    assert changed_keys(before, bot.fingerprint()) == []
    assert probe[seen:] == []


# --- the signature ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", REQUESTS)
def test_a_correctly_signed_request_has_its_effect(served: tuple[InProcessBot, World, list[str]], kind: str) -> None:
    bot, world, probe = served
    body, content_type = REQUESTS[kind](world)
    answer, calls = send(bot, body, content_type, signed(body, int(time.time()) - 290))
    assert answer.status == 200
    assert {"command": "views.open", "submission": "chat.postMessage", "question": "chat.postMessage"}[kind] in [
        c.method for c in calls
    ]
    assert probe[-1] in {"view_submission", "event_callback", "/should-finetune"}


def _forgeries(body: bytes, now: int) -> dict[str, tuple[bytes, dict[str, str]]]:
    good = signed(body, now)
    changed = bytearray(body)
    changed[len(changed) // 2] ^= 0x01  # one bit of one byte
    return {
        "no headers": (body, {}),
        "timestamp only": (body, {"X-Slack-Request-Timestamp": str(now)}),
        "signature only": (body, {"X-Slack-Signature": good["X-Slack-Signature"]}),
        "empty headers": (body, {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""}),
        "another secret": (body, signed(body, now, secret="0123456789abcdef0123456789abcdef")),
        "first byte changed": (b"X" + body[1:], good),
        "a byte in the middle changed": (bytes(changed), good),
        "last byte changed": (body[:-1] + b"X", good),
        "a byte added": (body + b"&", good),
        "301 s old": (body, signed(body, now - 301)),
        "301 s ahead": (body, signed(body, now + 301)),
        "a day old": (body, signed(body, now - 86_400)),
        "signature in capitals": (body, {**good, "X-Slack-Signature": good["X-Slack-Signature"].upper()}),
        "signature version v1": (body, {**good, "X-Slack-Signature": "v1=" + good["X-Slack-Signature"][3:]}),
        "signature without version": (body, {**good, "X-Slack-Signature": good["X-Slack-Signature"][3:]}),
        "two signatures": (body, {**good, "X-Slack-Signature": f"{good['X-Slack-Signature']},v0={'0' * 64}"}),
    }


@pytest.mark.parametrize("kind", REQUESTS)
@pytest.mark.parametrize("forgery", list(_forgeries(b"names only", 0)))
def test_a_request_not_signed_as_slack_signs_gets_401_and_nothing_runs(
    served: tuple[InProcessBot, World, list[str]], frozen: FrozenClock, kind: str, forgery: str
) -> None:
    body, content_type = REQUESTS[kind](served[1])
    changed_body, headers = _forgeries(body, int(frozen.at))[forgery]
    assert_nothing_ran(served, changed_body, content_type, headers)


@pytest.mark.parametrize("stamp", NOT_NUMBERS)
def test_a_timestamp_that_is_not_a_number_gets_401_never_500(
    served: tuple[InProcessBot, World, list[str]], stamp: str
) -> None:
    # Each is signed with the right secret over that very timestamp: only the timestamp is wrong.
    now = str(int(time.time()))
    text = stamp.replace("{now}", now).replace("{wide}", "".join(chr(0xFF10 + int(d)) for d in now))
    body, content_type = command(served[1])
    assert_nothing_ran(served, body, content_type, signed(body, text))


def test_a_timestamp_just_inside_the_five_minutes_is_accepted_either_way(
    served: tuple[InProcessBot, World, list[str]],
) -> None:
    # 290 s rather than 300: Bolt checks the signature again after us, with its own clock a moment later.
    bot, world, _ = served
    for skew in (-290, 290):
        body, content_type = command(world)
        answer = send(bot, body, content_type, signed(body, int(time.time()) + skew))[0]
        assert answer.status == 200, (skew, answer)


def test_headers_bolt_obeys_but_slack_never_signs_are_ignored(served: tuple[InProcessBot, World, list[str]]) -> None:
    # With these, Bolt would skip the listener's acknowledgement and run a named lazy function instead.
    bot, world, _ = served
    body, content_type = command(world)
    headers = {**bot.sign(body), "X-Slack-Bolt-Lazy-Only": "1", "X-Slack-Bolt-Lazy-Function-Name": "open_form"}
    answer, calls = send(bot, body, content_type, headers)
    assert answer.status == 200
    assert [c.method for c in calls] == ["views.open"]


def test_duplicate_signature_headers_over_http_get_401(served: tuple[InProcessBot, World, list[str]]) -> None:
    bot, world, probe = served
    body, content_type = command(world)
    good = bot.sign(body)
    with serving_in_thread(bot.app, bot.services) as url:
        # urllib sends one header per name; HTTPConnection sends both, as a proxy or an attacker could.
        host, port = url.removeprefix("http://").split(":")
        connection = HTTPConnection(host, int(port), timeout=10)
        connection.putrequest("POST", "/slack/events")
        for name, value in [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("X-Slack-Request-Timestamp", good["X-Slack-Request-Timestamp"]),
            ("X-Slack-Signature", "v0=" + "0" * 64),
            ("X-Slack-Signature", good["X-Slack-Signature"]),
        ]:
            connection.putheader(name, value)
        connection.endheaders(body)
        seen = len(probe)
        assert connection.getresponse().status == 401
        connection.close()
        assert probe[seen:] == []


def test_serving_without_a_signing_secret_is_refused() -> None:
    for secret in ("", "   ", "short", "has spaces in it, sixteen+", "8f742231b10e8888abcd99yyyzzz85a5"):
        settings = load_settings(_env_file=None, slack_bot_token="xoxb-test-token", slack_signing_secret=secret)
        with pytest.raises(SettingsError, match="setting SLACK_SIGNING_SECRET: Slack issues signing secrets of 32"):
            settings.require("slack_bot_token", "slack_signing_secret")
    settings = load_settings(_env_file=None, slack_bot_token="xoxb-test-token", slack_signing_secret=None)
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET must be set"):
        settings.require("slack_bot_token", "slack_signing_secret")


# --- copies of signed requests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["command", "submission", "rereview"])
def test_a_copy_of_a_command_or_an_interaction_gets_401_and_nothing_runs_twice(
    served: tuple[InProcessBot, World, list[str]], kind: str
) -> None:
    bot, world, _ = served
    body, content_type = {"command": command, "submission": submission, "rereview": rereview_click}[kind](world)
    headers = bot.sign(body)
    first, calls = send(bot, body, content_type, headers)
    assert first.status == 200
    assert calls  # it did something: opened the form, posted a verdict, or re-reviewed in the thread
    assert_nothing_ran(served, body, content_type, headers)


def test_a_copy_of_an_event_is_answered_once(served: tuple[InProcessBot, World, list[str]]) -> None:
    bot, world, _ = served
    body, content_type = question(world)
    headers = bot.sign(body)
    first, calls = send(bot, body, content_type, headers)
    assert first.status == 200
    assert [c.method for c in calls] == ["chat.postMessage"]
    before = bot.fingerprint()
    for copy in (headers, {**bot.sign(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}):
        answer, again = send(bot, body, content_type, copy)
        assert answer.status == 200  # Slack counts anything else as a failed delivery
        assert again == []
    assert changed_keys(before, bot.fingerprint()) == []


def test_a_copy_older_than_five_minutes_gets_401(
    served: tuple[InProcessBot, World, list[str]], frozen: FrozenClock
) -> None:
    bot, world, _ = served
    start = frozen.at
    for make in (question, command):
        frozen.at = start
        body, content_type = make(world)
        headers = signed(body, int(start))
        assert send(bot, body, content_type, headers)[0].status == 200
        frozen.at = start + 301
        assert_nothing_ran(served, body, content_type, headers)


def test_a_copy_of_a_request_that_failed_on_our_side_is_served(served: tuple[InProcessBot, World, list[str]]) -> None:
    # A 5xx means the request was not done: a copy of it (a proxy retrying, say) gets done.
    bot, world, _ = served
    attempts: list[int] = []

    @bot.app.command("/security-probe-fails-once")
    def fails_once(ack: Any) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the first attempt fails")
        ack()

    body = urlencode({"command": "/security-probe-fails-once", "team_id": world.team, "text": ""}).encode()
    headers = bot.sign(body)
    assert send(bot, body, FORM, headers)[0].status == 500
    assert send(bot, body, FORM, headers)[0].status == 200
    assert send(bot, body, FORM, headers)[0].status == 401  # taken: from now on a copy is a replay
    assert len(attempts) == 2


def test_the_replay_guard_forgets_what_is_stale_and_stays_bounded() -> None:
    clock = FrozenClock(1_800_000_000.0)
    guard = ReplayGuard(limit=3, clock=clock.now)
    now = int(clock.at)
    assert guard.first("a", now)
    assert not guard.first("a", now)
    clock.at += 300
    assert not guard.first("a", now)  # still within the five minutes its timestamp allows
    clock.at += 2
    assert guard.first("b", now + 302)  # "a" is stale now: the signature check refuses it anyway
    assert len(guard) == 1
    for name in ("c", "d", "e"):
        assert guard.first(name, now + 302)
    assert len(guard) == 3  # the limit: the oldest went first
    assert guard.first("b", now + 302)


# --- the size cap -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signed_", [True, False])
def test_a_body_over_the_cap_gets_413_unread(served: tuple[InProcessBot, World, list[str]], signed_: bool) -> None:
    bot, _, probe = served
    cap = bot.services.settings.max_body_bytes
    body = json.dumps({"type": "event_callback", "event": {"type": "message", "text": "x" * cap}}).encode()
    environ_headers = bot.sign(body) if signed_ else {}
    seen, before = len(probe), bot.fingerprint()
    environ = environ_for(body, environ_headers, content_type=JSON)
    answer = call_wsgi(bot.wsgi, environ)
    assert answer.status == 413
    assert not environ["wsgi.input"].touched  # not even read, let alone parsed
    assert probe[seen:] == []
    assert changed_keys(before, bot.fingerprint()) == []


def test_a_body_of_exactly_the_cap_is_read(served: tuple[InProcessBot, World, list[str]]) -> None:
    bot, world, _ = served
    cap = bot.services.settings.max_body_bytes
    event = event_callback({"type": "member_joined_channel", "user": world.requester, "text": ""}, event_id="EvCAP")
    padding = cap - len(json.dumps(event).encode())
    event["event"]["text"] = "x" * padding
    body = json.dumps(event).encode()
    assert len(body) == cap
    assert send(bot, body, JSON, bot.sign(body))[0].status == 200


@pytest.mark.parametrize("length", ["abc", "1e3", "-1", " "])
def test_a_content_length_that_is_not_a_size_gets_a_4xx(
    served: tuple[InProcessBot, World, list[str]], length: str
) -> None:
    bot, world, probe = served
    body, content_type = command(world)
    seen = len(probe)
    answer = bot.request(body, headers=bot.sign(body), content_type=content_type, content_length=length)
    assert 400 <= answer.status < 500
    assert probe[seen:] == []


def test_over_http_a_body_over_the_cap_gets_413_with_or_without_a_length(
    served: tuple[InProcessBot, World, list[str]],
) -> None:
    bot, _, probe = served
    cap = bot.services.settings.max_body_bytes
    with serving_in_thread(bot.app, bot.services) as url:
        seen = len(probe)
        body = b"payload=" + b"x" * cap
        assert http(url + "/slack/events", body, {"Content-Type": FORM, **bot.sign(body)}).status == 413
        # Without a Content-Length (chunked): the server counts as it reads.
        chunks = iter([b"payload=", b"x" * cap])
        assert http(url + "/slack/events", chunks, {"Content-Type": FORM, **bot.sign(body)}).status == 413  # type: ignore[arg-type]
        # Far over the cap, waitress answers from the headers alone, before the body is sent.
        huge = {"Content-Type": FORM, "Content-Length": str(5 * cap), **bot.sign(b"")}
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            head = "".join(f"{k}: {v}\r\n" for k, v in huge.items())
            raw.sendall(f"POST /slack/events HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode())
            assert raw.recv(100).startswith(b"HTTP/1.1 413")
        assert probe[seen:] == []
