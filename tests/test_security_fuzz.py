"""Payload fuzzing: every kind of payload the bot accepts, signed and unsigned, and bodies that are no payload at all.

The bot runs in-process (its real WSGI application, real Redis, the fake Slack): thousands of requests a minute.
What must hold, per request:

- never a 5xx;
- unsigned (or wrongly signed) requests get 401, before anything runs: no Slack call, nothing written to Redis,
  not even Bolt's middleware sees them;
- a signed payload with a field broken that every listener of its kind checks first (see `tests/payloads.py`) gets
  a 2xx or 4xx and has no effect: no Web API call, nothing written; the one thing allowed out is an ephemeral note
  to the response_url the payload named ("could not use this click");
- any other signed payload, however bent, gets a 2xx or 4xx, and whatever the bot sends Slack is accepted by it
  and shows no user-typed markup unescaped;
- memory does not grow with the number of requests.

`SHOULD_FINETUNE_FULL_SUITE=1` runs 10,000 cases per payload kind for each of the first three; the default run
is small enough for every CI run. A smaller sample goes through the real waitress server over HTTP.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.manifest import BOT_EVENTS
from bot.server import is_ssl_check
from bot.slack.ids import ActionId
from tests.inprocess import Answer, InProcessBot, changed_keys
from tests.payloads import KINDS, Payload, World, forged, garbage, payloads
from tests.scale import scaled
from tests.security_support import install_probe, malformed_calls, raw_markup, side_effects, world_bot
from tests.slack_support import SIGNING_SECRET, block_actions, http, serving_in_thread, slash_command

SIGNED = scaled(20, 10_000)
POISONED = scaled(20, 10_000)
UNSIGNED = scaled(20, 10_000)
GARBAGE = scaled(60, 10_000)
OVER_HTTP = scaled(30, 1_000)
MEMORY_BATCH = scaled(600, 10_000)


# Hypothesis remembers every case of a run (to steer towards new ones): tens of kilobytes each for payloads this size.
# In one 10,000-case run the process grew by about 2 MiB a second, without end; as fresh runs of at most this many
# cases, the same 10,000 cases peaked at 147 MiB.
ROUND = 1_000


def _fuzz(test: Callable[..., None], examples: int, **strategies: st.SearchStrategy[Any]) -> None:
    """Run `test` on `examples` cases drawn from `strategies`, in rounds of at most `ROUND`."""
    for done in range(0, examples, ROUND):
        rules = settings(
            max_examples=min(ROUND, examples - done),
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        )
        rules(given(**strategies)(test))()


# --- the bots ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quiet(redis_url: str) -> Iterator[tuple[InProcessBot, World]]:
    """A bot with one posted decision, for requests that must change nothing."""
    with world_bot(redis_url) as bot_and_world:
        yield bot_and_world


@pytest.fixture
def busy(redis_url: str) -> Iterator[tuple[InProcessBot, World]]:
    """A bot with one posted decision, for payloads that may do anything a person could make the bot do (one per
    kind: what they write is deleted after each, so that the quiet bot's checks stay quick)."""
    with world_bot(redis_url) as bot_and_world:
        yield bot_and_world


@pytest.fixture(scope="module")
def probe(quiet: tuple[InProcessBot, World]) -> list[str]:
    """Every request that reached Bolt (its global middleware, before any listener), by payload type."""
    return install_probe(quiet[0])


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _send(bot: InProcessBot, payload: Payload, headers: dict[str, str] | None = None) -> Answer:
    signed = bot.sign(payload.body) if headers is None else headers
    return bot.request(payload.body, headers=signed, content_type=payload.content_type)


# --- coverage of what the bot accepts -------------------------------------------------------------------------------


def test_the_fuzzed_kinds_cover_every_action_event_and_surface_the_bot_has() -> None:
    events = {name.split(".")[0] for name in BOT_EVENTS}  # message.channels and message.groups are `message`
    assert {f"event:{name}" for name in events} <= set(KINDS)
    assert {f"block_actions:{action.value}" for action in ActionId} <= set(KINDS)
    assert {"command", "view_submission", "edit_submission", "view_closed", "url_verification"} <= set(KINDS)
    assert {"shortcut", "message_action"} <= set(KINDS)  # the manifest's two shortcuts


# --- signed payloads --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_signed_payloads_never_get_a_5xx_and_everything_sent_is_well_formed_and_escaped(
    busy: tuple[InProcessBot, World], kind: str
) -> None:
    bot, world = busy

    def run(payload: Payload) -> None:
        bot.fake.forget_calls()  # ten thousand forms' worth would be hundreds of megabytes
        answer = _send(bot, payload)
        bot.drain()
        assert 200 <= answer.status < 500, f"{answer.status} {answer.body[:200]!r} for {payload.describe()}"
        sent = bot.calls()
        assert malformed_calls(sent) == [], payload.describe()
        assert raw_markup(sent, answer) == [], payload.describe()

    _fuzz(run, SIGNED, payload=payloads(kind, world, poison=False))


@pytest.mark.parametrize("kind", KINDS)
def test_signed_poisoned_payloads_get_a_2xx_or_4xx_and_have_no_effect(
    quiet: tuple[InProcessBot, World], kind: str
) -> None:
    bot, world = quiet

    def run(payload: Payload) -> None:
        before_calls, before = len(bot.calls()), bot.fingerprint()
        answer = _send(bot, payload)
        bot.drain()
        assert 200 <= answer.status < 500, f"{answer.status} {answer.body[:200]!r} for {payload.describe()}"
        sent = bot.calls()[before_calls:]
        assert side_effects(sent) == [], payload.describe()
        assert changed_keys(before, bot.fingerprint()) == [], payload.describe()
        assert raw_markup(sent, answer) == [], payload.describe()

    _fuzz(run, POISONED, payload=payloads(kind, world, poison=True))


# --- unsigned payloads ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_unsigned_payloads_get_401_and_nothing_runs(
    quiet: tuple[InProcessBot, World], probe: list[str], kind: str
) -> None:
    bot, world = quiet

    def run(payload: Payload, data: st.DataObject) -> None:
        body, headers, way = data.draw(forged(payload.body, SIGNING_SECRET))
        before_calls, before_probe, before = len(bot.calls()), len(probe), bot.fingerprint()
        answer = bot.request(body, headers=headers, content_type=payload.content_type)
        bot.drain()
        if is_ssl_check(body):  # Slack's certificate check is never signed: answered 200, and nothing else
            assert (answer.status, answer.body) == (200, b"{}"), payload.describe()
        else:
            assert answer.status == 401, f"{answer.status} with {way}: {payload.describe()}"
            assert answer.body == b'{"error": "invalid request"}'
        assert len(probe) == before_probe, f"Bolt saw a request signed with {way}"
        assert bot.calls()[before_calls:] == []
        assert changed_keys(before, bot.fingerprint()) == []

    _fuzz(run, UNSIGNED, payload=payloads(kind, world, poison=False), data=st.data())


# --- bodies that are no payload ---------------------------------------------------------------------------------------


def test_garbage_signed_gets_a_2xx_or_4xx_and_has_no_effect(quiet: tuple[InProcessBot, World]) -> None:
    bot, _ = quiet
    cap = bot.services.settings.max_body_bytes

    def run(payload: Payload) -> None:
        before_calls, before = len(bot.calls()), bot.fingerprint()
        answer = _send(bot, payload)
        bot.drain()
        assert 200 <= answer.status < 500, f"{answer.status} {answer.body[:200]!r} for {payload.describe()}"
        assert side_effects(bot.calls()[before_calls:]) == [], payload.describe()
        assert changed_keys(before, bot.fingerprint()) == [], payload.describe()

    _fuzz(run, GARBAGE, payload=garbage(max_bytes=cap))


def test_garbage_unsigned_gets_401_or_413_and_nothing_runs(quiet: tuple[InProcessBot, World], probe: list[str]) -> None:
    bot, _ = quiet
    cap = bot.services.settings.max_body_bytes

    def run(payload: Payload, data: st.DataObject) -> None:
        body, headers, way = data.draw(forged(payload.body, SIGNING_SECRET))
        before_calls, before_probe = len(bot.calls()), len(probe)
        answer = bot.request(body, headers=headers, content_type=payload.content_type)
        bot.drain()
        assert answer.status == (413 if len(body) > cap else 401), f"{way}: {payload.describe()}"
        assert len(probe) == before_probe
        assert bot.calls()[before_calls:] == []

    _fuzz(run, GARBAGE, payload=garbage(max_bytes=cap + 100), data=st.data())


# --- over HTTP, through waitress -------------------------------------------------------------------------------------


def test_a_sample_over_http_gets_the_same_answers(quiet: tuple[InProcessBot, World], probe: list[str]) -> None:
    bot, world = quiet
    cap = bot.services.settings.max_body_bytes
    with serving_in_thread(bot.app, bot.services) as url:

        def run(payload: Payload, signed: bool, data: st.DataObject) -> None:
            body, headers = payload.body, bot.sign(payload.body)
            if not signed:
                body, headers, _ = data.draw(forged(payload.body, SIGNING_SECRET))
            if payload.content_type is not None:
                headers["Content-Type"] = payload.content_type
            # Header values go out as UTF-8 bytes, as a client would send text that latin-1 cannot hold.
            headers = {name: value.encode().decode("latin-1") for name, value in headers.items()}
            before_calls, before = len(bot.calls()), bot.fingerprint()
            reply = http(url + "/slack/events", body, headers)
            bot.drain()
            if signed:
                assert 200 <= reply.status < 500, f"{reply.status} for {payload.describe()}"
            elif any(_CONTROL.search(value) for value in headers.values()):
                assert reply.status == 400  # waitress refuses a header HTTP does not allow, before the bot sees it
            else:
                assert reply.status == 401, payload.describe()
            assert side_effects(bot.calls()[before_calls:]) == [], payload.describe()
            assert changed_keys(before, bot.fingerprint()) == []

        _fuzz(
            run,
            OVER_HTTP,
            payload=st.one_of(*(payloads(kind, world, poison=True) for kind in KINDS), garbage(max_bytes=cap)),
            signed=st.booleans(),
            data=st.data(),
        )


# --- memory -----------------------------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# Per request, the bot keeps only what the replay guard needs (a signature until Slack's five minutes are over: about
# 200 bytes); holding on to any request, its parsed body, its Bolt request or a log record would cost far more.
RETAINED_PER_REQUEST = 1024
# Caches that fill once and stay (templates, regular expressions, Bolt's, pydantic's, the metrics' label sets).
RETAINED_ONCE = 2 * 1024 * 1024
_NOT_THE_BOT = (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "*/hypothesis/*"))


def test_memory_does_not_grow_with_the_number_of_requests(redis_url: str) -> None:
    batch: list[tuple[Payload, bool]] = []
    with world_bot(redis_url) as (bot, world):
        cap = bot.services.settings.max_body_bytes

        # The requests are drawn first, so that what is measured is the bot handling them, not Hypothesis.
        @settings(max_examples=MEMORY_BATCH, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(
            payload=st.one_of(*(payloads(kind, world, poison=True) for kind in KINDS), garbage(max_bytes=cap // 8)),
            signed=st.booleans(),
        )
        def draw(payload: Payload, signed: bool) -> None:
            batch.append((payload, signed))

        draw()
        forgery = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64}

        def handle(items: list[tuple[Payload, bool]]) -> None:
            for payload, signed in items:
                answer = _send(bot, payload, None if signed else forgery)
                assert answer.status < 500, payload.describe()
            bot.drain()
            # The fake Slack keeps a record of every call it answered; that is the test's memory, not the bot's.
            bot.fake.reset()

        warm_up = len(batch) // 5
        # pytest keeps every log record of a test for its report, where the bot's own handler writes and drops them.
        logging.disable(logging.CRITICAL)
        try:
            handle(batch[:warm_up])  # every code path once: caches fill here
            gc.collect()
            rss_before = _rss_bytes()
            tracemalloc.start()
            try:
                before = tracemalloc.take_snapshot().filter_traces(_NOT_THE_BOT)
                handle(batch[warm_up:])
                gc.collect()
                after = tracemalloc.take_snapshot().filter_traces(_NOT_THE_BOT)
            finally:
                tracemalloc.stop()
            rss_growth = _rss_bytes() - rss_before
        finally:
            logging.disable(logging.NOTSET)
    growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    measured = len(batch) - warm_up
    top = "\n".join(str(stat) for stat in after.compare_to(before, "lineno")[:8])
    print(
        f"memory: {measured} requests, traced growth {growth / 1024:.0f} KiB ({growth / measured:.0f} B a request), "
        f"RSS growth {rss_growth / 2**20:.1f} MiB\n{top}"
    )
    assert growth < RETAINED_ONCE + RETAINED_PER_REQUEST * measured, top
    assert rss_growth < 20 * 2**20


# --- what the fuzzing found -------------------------------------------------------------------------------------------


def _command_body(world: World, **fields: str) -> bytes:
    values = slash_command(
        "",
        team=world.team,
        channel=world.channel,
        user=world.requester,
        trigger_id=world.new_trigger_id(),
        response_url=world.response_url,
    )
    return urlencode({**values, **fields}).encode()


@pytest.mark.parametrize("text", ["JSON payload extraction", "payload", "payloads=1 & more"])
def test_a_command_whose_text_says_payload_opens_the_form(quiet: tuple[InProcessBot, World], text: str) -> None:
    # Bolt reads any form body containing the word "payload" as an interactivity payload, and found none: the
    # command was answered 404 ("unhandled request") and Slack showed the person an error.
    bot, world = quiet
    opened = len(bot.fake.calls("views.open"))
    body = _command_body(world, text=text)
    answer = bot.request(body, headers=bot.sign(body))
    bot.drain()
    assert answer.status == 200, answer.body
    (call,) = bot.fake.calls("views.open")[opened:]
    view = call.args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    use_case = next(block for block in view["blocks"] if block.get("block_id") == "use_case")
    assert use_case["element"]["initial_value"] == text


@pytest.mark.parametrize("surface", ["command", "edit button"])
def test_an_empty_trigger_id_is_answered_as_incomplete_without_calling_views_open(
    quiet: tuple[InProcessBot, World], surface: str
) -> None:
    bot, world = quiet
    opened = len(bot.fake.calls("views.open"))
    if surface == "command":
        body = _command_body(world, trigger_id="")
    else:
        click = block_actions(
            ActionId.EDIT_ANSWERS.value,
            message_ts=world.verdict_ts,
            channel=world.channel,
            user=world.requester,
            response_url=world.response_url,
            trigger_id="",
            action_ts="1700000000.000100",
        )
        body = urlencode({"payload": json.dumps(click)}).encode()
    assert bot.request(body, headers=bot.sign(body)).status == 200
    bot.drain()
    assert bot.fake.calls("views.open")[opened:] == []


@pytest.mark.parametrize("kind", ["shortcut", "message_action", "view_submission", "block_actions", "no_such_type"])
@pytest.mark.parametrize("view", [None, 5, "view", []])
def test_a_payload_whose_view_is_not_an_object_is_refused_not_a_500(
    quiet: tuple[InProcessBot, World], kind: str, view: object
) -> None:
    # Found at full size: Bolt's warning for an unhandled request read view.type of any payload with a `view`, and
    # crashed on one that was not an object (a 500).
    bot, _ = quiet
    payload = {"type": kind, "view": view, "callback_id": "0", "actions": [{"action_id": "x"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    before_calls, before = len(bot.calls()), bot.fingerprint()
    answer = bot.request(body, headers=bot.sign(body))
    bot.drain()
    assert 400 <= answer.status < 500, answer
    assert bot.calls()[before_calls:] == []
    assert changed_keys(before, bot.fingerprint()) == []


@pytest.mark.parametrize("kind", ["shortcut", "message_action", "interactive_message", "dialog_submission", "x"])
@pytest.mark.parametrize(
    "field", ["actions", "event", "user", "team", "channel", "response_url", "container", "command"]
)
def test_a_payload_of_a_type_the_bot_does_not_handle_gets_a_4xx_whatever_its_fields(
    quiet: tuple[InProcessBot, World], kind: str, field: str
) -> None:
    # Found at full size: `{"type": "shortcut", "actions": null, ...}` went through Bolt's unhandled-request path,
    # which indexes into such fields, and was answered 500.
    bot, _ = quiet
    for value in (None, 5, "x", [], [None], {}):
        body = urlencode({"payload": json.dumps({"type": kind, "callback_id": "0", field: value})}).encode()
        before_calls, before = len(bot.calls()), bot.fingerprint()
        answer = bot.request(body, headers=bot.sign(body))
        bot.drain()
        # 404 as Bolt answers an unhandled request; 400 when a field the bot reads first is unreadable.
        assert answer.status in {400, 404}, (value, answer)
        assert bot.calls()[before_calls:] == []
        assert changed_keys(before, bot.fingerprint()) == []
