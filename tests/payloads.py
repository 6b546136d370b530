"""Hypothesis strategies for every payload Slack sends the bot, well-formed or not, and for ways of signing them.

Each kind of payload the bot accepts (the slash command, the decision form submitted new or as an edit, the form
closed, each button, each event the manifest subscribes to, the URL check) has one builder. A builder draws a
payload as Slack would send it, with hostile text wherever a person types, and can then:

- leave it as it is, or bend it (delete keys, give values another JSON type) anywhere: `payloads(..., poison=False)`;
- poison it: break a field that every listener of that kind checks before doing anything (an id, a timestamp, the
  form's metadata, the emoji), and bend it elsewhere too: `payloads(..., poison=True)`. A poisoned payload must have
  no effect at all, so the tests can demand exactly that.

`garbage()` draws bodies that are no payload at all, and `forged()` the ways a request can fail Slack's signature.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

from bot.slack.forms import FormMetadata
from bot.slack.ids import COMMAND, ActionId, CallbackId
from tests.fakeslack import rich_text
from tests.slack_support import (
    APP_ID,
    BOT_ID,
    ENTERPRISE,
    OTHER_TEAM,
    block_actions,
    channel_type,
    event_context,
    global_shortcut,
    message_shortcut,
    submission_payload,
)

FORM = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"

# Markup that pings or disguises a link when it reaches Slack unescaped. The bot never writes these itself (no such
# member, group, channel or site exists in the tests), so finding one in what it sends means user text got through.
SENTINELS = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@UEVIL0001>",
    "<@UEVIL0001|boss>",
    "<!subteam^SEVIL0001>",
    "<!subteam^SEVIL0001|@admins>",
    "<https://evil.example/login|docs>",
    "<#CEVIL0001>",
    "<!date^1700000000^{date}|x>",
)
# Text that is harmless only if Slack does not parse it automatically (see the injection tests).
PLAIN_MENTIONS = ("@channel", "@here", "@everyone", "#general", "https://evil.example/plain")
_MARKUP_PIECES = (*SENTINELS, *PLAIN_MENTIONS, "&", "&amp;", "&lt;", "<", ">", "|", "*", "_", "~", "`", "```", "\n")
# Words the follow-up parser knows, so that thread messages reach the code that answers them.
_FOLLOWUP_WORDS = (
    "why",
    "why not",
    "what if we had 600 examples",
    "what if requirements change monthly",
    "and if we tried dspy",
    "what if it's a knowledge problem",
    "what if there is no eval set",
    "what if we had",
    "examples",
    "apply",
    "reset",
    "answers",
    "rules",
    "history",
    "help",
    "<@U0BOT>",
)
_COMMAND_WORDS = (
    "",
    "help",
    "history",
    "digest",
    "digest on",
    "digest off",
    "digest now",
    "digest preview",
    "digest sometimes",
    "--verbose",
    "status",
    "json payload extraction",
    "payload",
)
# A value of every JSON type, for replacing a field with one of another type.
_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(SENTINELS),
)
JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)
_DELETE = object()  # a poison or bend that removes the field


@dataclass(frozen=True)
class World:
    """What a payload can refer to: the bot's workspace, a channel with one posted decision, and the fake Slack."""

    team: str
    channel: str
    requester: str
    bot_user: str
    verdict_ts: str
    explanation_ts: str
    decision_id: str
    form_view: dict[str, Any]
    response_url: str
    new_trigger_id: Callable[[], str]
    rereview_emoji: str = "repeat"


@dataclass(frozen=True)
class Payload:
    """One request body, what kind of payload it is, and whether (and how) it was poisoned."""

    kind: str
    body: bytes
    content_type: str | None
    poisoned: str | None = None  # what was broken, for failure messages
    bent: tuple[str, ...] = field(default=())  # what else was changed

    def describe(self) -> str:
        """A line for an assertion message."""
        return f"{self.kind} poisoned={self.poisoned} bent={list(self.bent)} body={self.body[:300]!r}"


# --- building blocks ------------------------------------------------------------------------------------------------

slack_ids = st.from_regex(r"[A-Z][A-Z0-9]{2,11}", fullmatch=True)
message_ts = st.builds(
    lambda seconds, micros: f"{seconds}.{micros:06d}",
    st.integers(1_500_000_000, 1_999_999_999),
    st.integers(0, 10**6 - 1),
)
hostile_text = st.lists(
    st.one_of(st.sampled_from(_MARKUP_PIECES), st.text(max_size=24), st.sampled_from(_FOLLOWUP_WORDS)), max_size=8
).map(" ".join)
# Values no listener accepts as a Slack id (wrong type, case, characters or length), or the field's absence.
bad_ids = st.sampled_from(
    [_DELETE, None, 5, 1.5, True, [], {}, "", "u0asker", "U0 ASKER", "U0ASKER!", "<!channel>", "U" * 65, "U0ASKER\n"]
)
bad_ts = st.sampled_from([_DELETE, None, 5, 1.5, [], "", "1.2.3", "abc", "1e9", "1" * 17 + ".1", ".5", "17000000001"])


def _ids(world: World, pool: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Mostly ids the world knows (so that payloads reach real decisions), sometimes any well-formed id."""
    return st.one_of(st.sampled_from(pool), slack_ids)


def _user_team(draw: st.DrawFn, world: World) -> str:
    """The workspace of the person acting: mostly the bot's, sometimes another organization's (Slack Connect)."""
    return OTHER_TEAM if draw(st.integers(0, 7)) == 0 else world.team


def _enterprise_id(draw: st.DrawFn) -> str | None:
    """The Enterprise Grid organization of the bot's workspace, now and then."""
    return ENTERPRISE if draw(st.integers(0, 9)) == 0 else None


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    parent = _get(data, path[:-1])
    if value is _DELETE:
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = None
    else:
        parent[path[-1]] = value


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `data` (dict keys and list indexes)."""
    found: list[tuple[Any, ...]] = []
    items: list[tuple[Any, Any]] = []
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list):
        items = list(enumerate(data))
    for key, value in items:
        path = (*prefix, key)
        found.append(path)
        found += _paths(value, path)
    return found


def _bend(draw: st.DrawFn, data: dict[str, Any], protected: set[tuple[Any, ...]]) -> tuple[str, ...]:
    """Delete up to three fields of `data`, or give them a value of another type; never a protected path, a path
    inside one, or a payload's `type` (which would make it another kind of payload)."""
    done: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        candidates = [
            p
            for p in _paths(data)
            if p[-1] != "type" and not any(p[: len(q)] == q or q[: len(p)] == p for q in protected)
        ]
        if not candidates:
            break
        path = draw(st.sampled_from(sorted(candidates, key=repr)))
        value = draw(st.one_of(st.just(_DELETE), JSON_VALUES))
        _set(data, path, value)
        done.append(f"{'/'.join(map(str, path))}={'<deleted>' if value is _DELETE else repr(value)[:40]}")
    return tuple(done)


def _poison(
    draw: st.DrawFn, data: dict[str, Any], choices: list[tuple[tuple[Any, ...], st.SearchStrategy[Any]]]
) -> tuple[str, tuple[Any, ...]]:
    path, values = draw(st.sampled_from(choices))
    value = draw(values)
    _set(data, path, value)
    shown = "<deleted>" if value is _DELETE else repr(value)[:60]
    return f"{'/'.join(map(str, path))}={shown}", path


def _interaction(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


# --- one builder per kind -------------------------------------------------------------------------------------------


@st.composite
def _command(draw: st.DrawFn, world: World, poison: bool) -> Payload:
    if not poison and draw(st.integers(0, 19)) == 0:  # Slack's periodic check of the command URL
        return Payload("command", urlencode({"ssl_check": "1", "token": draw(st.text(max_size=20))}).encode(), FORM)
    fields: dict[str, Any] = {
        "token": "legacy-unused",
        "team_id": draw(_ids(world, (world.team,))),
        "team_domain": "fake",
        "channel_id": draw(_ids(world, (world.channel,))),
        "channel_name": "decisions",
        "user_id": draw(_ids(world, (world.requester, "U0OTHER", world.bot_user))),
        "user_name": "someone",
        "command": COMMAND,
        "text": draw(st.one_of(st.sampled_from(_COMMAND_WORDS), hostile_text)),
        "api_app_id": "A0FAKE",
        "is_enterprise_install": "false",
        "response_url": world.response_url,
        "trigger_id": draw(st.one_of(st.builds(world.new_trigger_id), st.text(max_size=20))),
    }
    poisoned, duplicate = None, None
    protected: set[tuple[Any, ...]] = {("command",)}
    if poison:
        # Every path of the command (form, history, digest) needs the workspace and the channel.
        bad = st.sampled_from([_DELETE, "", "t0fake", "T0FAKE!", "<!here>", "T" * 65, "T0 FAKE"])
        name = draw(st.sampled_from(["team_id", "channel_id"]))
        good = fields[name]
        poisoned, path = _poison(draw, fields, [((name,), bad)])
        protected.add(path)
        if name in fields and draw(st.booleans()):
            # The same field twice, the bad value last: Bolt keeps the last one.
            duplicate = (name, good, fields.pop(name))
    bent = _bend(draw, fields, protected)
    pairs = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in fields.items()]
    if duplicate is not None:
        name, good, bad_value = duplicate
        pairs = [(name, good), *pairs, (name, bad_value)]
    return Payload("command", urlencode(pairs).encode(), FORM, poisoned, bent)


def _answers(draw: st.DrawFn) -> dict[str, Any]:
    """Answers for the decision form: mostly the offered options, sometimes anything."""
    number = st.one_of(st.integers(0, 10**6).map(str), st.text(max_size=12), st.sampled_from(["-1", "1e3", "10" * 30]))
    yes_no = st.sampled_from(["yes", "no", "unknown", "maybe", ""])
    answers = {
        "use_case": draw(hostile_text),
        "notes": draw(hostile_text),
        "primary_failure": draw(st.sampled_from(["style", "format", "missing-knowledge", "latency", "nope"])),
        "n_stable_examples": draw(number),
        "change_freq_days": draw(st.sampled_from(["1", "7", "30", "365", "2"])),
        "tried": draw(st.lists(st.sampled_from(["prompt", "rag", "dspy", "nothing", "other"]), max_size=3)),
        "prompt_iterations": draw(number),
        "prompt_authors": draw(number),
        "has_eval_set": draw(yes_no),
        "latency_sensitive": draw(yes_no),
        "daily_calls": draw(number),
    }
    return {k: v for k, v in answers.items() if draw(st.integers(0, 9)) > 0}  # leave some out


@st.composite
def _submission(draw: st.DrawFn, world: World, poison: bool, *, edit: bool) -> Payload:
    user = draw(_ids(world, (world.requester, "U0OTHER")))
    decision = draw(st.one_of(st.just(world.decision_id), st.from_regex(r"[0-9A-Z]{26}", fullmatch=True)))
    metadata = FormMetadata(team=world.team, channel=world.channel, user=user, decision=decision if edit else None)
    view = {**copy.deepcopy(world.form_view), "private_metadata": metadata.dump()}
    payload = submission_payload(
        view,
        _answers(draw),
        user=user,
        view_id=draw(slack_ids),
        user_team=_user_team(draw, world),
        enterprise_id=_enterprise_id(draw),
    )
    payload["trigger_id"] = world.new_trigger_id()
    kind = "edit_submission" if edit else "view_submission"
    poisoned = None
    protected: set[tuple[Any, ...]] = {("view", "callback_id"), ("view", "type")}
    if poison:
        foreign = FormMetadata(team=world.team, channel=world.channel, user="U0STRANGER").dump()
        broken_metadata = st.sampled_from(
            [
                _DELETE,
                None,
                5,
                "",
                "{",
                "[]",
                foreign.replace("U0STRANGER", "u0stranger"),
                json.dumps({"team": world.team, "channel": world.channel, "user": user, "extra": 1}),
                json.dumps({"team": world.team, "channel": "<!channel>", "user": user}),
                json.dumps({"team": world.team, "channel": world.channel, "user": user, "decision": "short"}),
            ]
        )
        # The person submitting must be the one the form was opened for.
        other_person = st.one_of(st.just("U0STRANGER"), bad_ids)
        choices = [(("view", "private_metadata"), broken_metadata), (("user", "id"), other_person)]
        if edit:
            choices.append((("view", "id"), bad_ids))
        poisoned, path = _poison(draw, payload, choices)
        protected.add(path)
    bent = _bend(draw, payload, protected)
    return Payload(kind, _interaction(payload), FORM, poisoned, bent)


@st.composite
def _view_closed(draw: st.DrawFn, world: World, poison: bool) -> Payload:
    view_id = draw(slack_ids)
    view = {
        **copy.deepcopy(world.form_view),
        "id": view_id,
        "team_id": world.team,
        "state": {"values": {}},
        "hash": "1700000000.abcDEF12",
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": APP_ID,
        "external_id": "",
        "app_installed_team_id": world.team,
        "bot_id": BOT_ID,
    }
    payload = {
        "type": "view_closed",
        "team": {"id": world.team, "domain": "fake"},
        "user": {"id": draw(_ids(world, (world.requester,))), "username": "x", "name": "x", "team_id": world.team},
        "api_app_id": APP_ID,
        "token": "legacy-unused",
        "view": view,
        "is_cleared": draw(st.booleans()),
        "is_enterprise_install": False,
        "enterprise": None,
    }
    # The bot never asks for notify_on_close, so no listener takes this: nothing to poison but the view itself.
    poisoned = None
    if poison:
        poisoned, _ = _poison(draw, payload, [(("view", "state"), JSON_VALUES), (("user", "id"), bad_ids)])
    return Payload("view_closed", _interaction(payload), FORM, poisoned, _bend(draw, payload, {("view", "type")}))


def _block_actions(action_id: str) -> Callable[..., st.SearchStrategy[Payload]]:
    @st.composite
    def build(draw: st.DrawFn, world: World, poison: bool) -> Payload:
        ts = draw(st.one_of(st.sampled_from([world.verdict_ts, world.explanation_ts]), message_ts))
        channel = draw(_ids(world, (world.channel,)))
        payload = block_actions(
            action_id,
            draw(st.one_of(st.just(world.decision_id), hostile_text)),
            message_ts=ts,
            channel=channel,
            user=draw(_ids(world, (world.requester, "U0OTHER"))),
            user_team=_user_team(draw, world),
            # The explanation is a reply in the verdict's thread, and Slack says so.
            thread_ts=world.verdict_ts if ts == world.explanation_ts else None,
            response_url=world.response_url,
            trigger_id=draw(st.one_of(st.builds(world.new_trigger_id), st.text(max_size=20))),
            action_ts=draw(message_ts),
            enterprise_id=_enterprise_id(draw),
        )
        payload["team"]["id"] = draw(_ids(world, (world.team,)))
        payload["message"]["user"] = world.bot_user
        poisoned = None
        protected: set[tuple[Any, ...]] = {("actions", 0, "action_id"), ("actions",), ("actions", 0)}
        if poison:
            choices = [
                (("team", "id"), bad_ids),
                (("channel", "id"), bad_ids),
                (("user", "id"), bad_ids),
                (("message", "ts"), bad_ts),
                (("actions", 0, "action_ts"), bad_ts),
            ]
            if action_id == ActionId.EDIT_ANSWERS:
                choices.append((("trigger_id",), st.sampled_from([_DELETE, None, 5, [], {}])))
            poisoned, path = _poison(draw, payload, choices)
            protected.add(path)
            if path == ("team", "id"):
                # The clicked message says which workspace posted it (in a Slack Connect channel `team` is the
                # clicker's): no workspace at all is left only with both broken.
                posted_by = draw(bad_ids)
                _set(payload, ("message", "team"), posted_by)
                poisoned += " message/team=" + ("<deleted>" if posted_by is _DELETE else repr(posted_by)[:60])
                protected.add(("message", "team"))
            # The click is refused with a note to the clicker's response_url; keep it a string so that the note
            # is part of what the tests check.
            protected.add(("response_url",))
        bent = _bend(draw, payload, protected)
        return Payload(f"block_actions:{action_id}", _interaction(payload), FORM, poisoned, bent)

    return build


def _envelope(
    world: World, event: dict[str, Any], event_id: str, *, ext_shared: bool = False, enterprise_id: str | None = None
) -> dict[str, Any]:
    """The Events API envelope, as `tests.slack_support.event_callback` builds it, about `world`."""
    envelope: dict[str, Any] = {"token": "legacy-unused", "team_id": world.team}
    if enterprise_id is not None:
        envelope["enterprise_id"] = enterprise_id
    authorization = {
        "enterprise_id": enterprise_id,
        "team_id": world.team,
        "user_id": world.bot_user,
        "is_bot": True,
        "is_enterprise_install": False,
    }
    envelope.update(
        {
            "context_team_id": world.team,
            "context_enterprise_id": enterprise_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [authorization],
            "is_ext_shared_channel": ext_shared,
            "event_context": event_context(event),
        }
    )
    return envelope


event_ids = st.from_regex(r"Ev[A-Z0-9]{8,12}", fullmatch=True)


def _thread_event(event_type: str) -> Callable[..., st.SearchStrategy[Payload]]:
    @st.composite
    def build(draw: st.DrawFn, world: World, poison: bool) -> Payload:
        text = draw(st.one_of(st.sampled_from(_FOLLOWUP_WORDS), hostile_text))
        if event_type == "app_mention":
            text = f"<@{world.bot_user}> {text}"
        ts = draw(message_ts)
        channel = draw(_ids(world, (world.channel,)))
        user_team = _user_team(draw, world)  # a person of another organization, in a Slack Connect channel
        # As Slack sends a message typed in its client (bolt-python's fixtures); app_mention has no channel_type.
        event: dict[str, Any] = {
            "client_msg_id": "0186b75a-2ad4-4f36-8ccc-18608b0ac5d1",
            "type": event_type,
            "text": text,
            "user": draw(_ids(world, (world.requester, "U0OTHER"))),
            "ts": ts,
            "blocks": rich_text(text),
            "team": user_team,
            "user_team": user_team,
            "source_team": world.team,
            "thread_ts": draw(st.one_of(st.sampled_from([world.verdict_ts, world.explanation_ts]), message_ts)),
            "parent_user_id": world.bot_user,
            "channel": channel,
            "event_ts": ts,
        }
        if event_type == "message":
            event["channel_type"] = channel_type(channel)
        if draw(st.integers(0, 9)) == 0:
            event["subtype"] = "thread_broadcast"
        ext_shared = user_team != world.team or draw(st.integers(0, 9)) == 0
        payload = _envelope(world, event, draw(event_ids), ext_shared=ext_shared, enterprise_id=_enterprise_id(draw))
        poisoned = None
        protected: set[tuple[Any, ...]] = {("event", "type"), ("event",)}
        if poison:
            choices = [
                (("event", "user"), st.one_of(bad_ids, st.just(world.bot_user))),
                (("event", "channel"), bad_ids),
                (("event", "ts"), bad_ts),
                (("event", "thread_ts"), bad_ts),
                (("event", "subtype"), st.sampled_from(["message_changed", "bot_message", "channel_join", 5])),
                (("event", "bot_id"), st.sampled_from(["B0BOT", "B0OTHER"])),
            ]
            poisoned, path = _poison(draw, payload, choices)
            protected.add(path)
            if path == ("event", "subtype"):
                protected.add(("event", "subtype"))
        bent = _bend(draw, payload, protected)
        return Payload(f"event:{event_type}", json.dumps(payload).encode(), JSON_TYPE, poisoned, bent)

    return build


@st.composite
def _reaction(draw: st.DrawFn, world: World, poison: bool) -> Payload:
    event: dict[str, Any] = {
        "type": "reaction_added",
        "user": draw(_ids(world, (world.requester, "U0OTHER"))),
        "reaction": draw(st.sampled_from([world.rereview_emoji, f"{world.rereview_emoji}::skin-tone-2", "eyes"])),
        "item_user": world.bot_user,
        "item": {
            "type": "message",
            "channel": draw(_ids(world, (world.channel,))),
            "ts": draw(st.one_of(st.sampled_from([world.verdict_ts, world.explanation_ts]), message_ts)),
        },
        "event_ts": draw(message_ts),
    }
    payload = _envelope(world, event, draw(event_ids), enterprise_id=_enterprise_id(draw))
    poisoned = None
    protected: set[tuple[Any, ...]] = {("event", "type"), ("event",)}
    if poison:
        choices = [
            (("event", "user"), st.one_of(bad_ids, st.just(world.bot_user))),
            (("event", "item", "channel"), bad_ids),
            (("event", "item", "ts"), bad_ts),
            (("event", "event_ts"), bad_ts),
            (("event", "reaction"), st.sampled_from([_DELETE, None, 5, "thumbsup", "", "repeat2", ["repeat"]])),
            (("event", "item", "type"), st.sampled_from([_DELETE, "file", None, 5])),
            (("event", "item"), st.sampled_from([_DELETE, None, "message", [], 5])),
        ]
        poisoned, path = _poison(draw, payload, choices)
        protected.add(path)
    bent = _bend(draw, payload, protected)
    return Payload("event:reaction_added", json.dumps(payload).encode(), JSON_TYPE, poisoned, bent)


# Events Slack may deliver that no listener of the bot acts on (the catch-all acknowledges them).
OTHER_EVENTS = ("reaction_removed", "channel_rename", "member_joined_channel", "message_deleted")


@st.composite
def _other_event(draw: st.DrawFn, world: World, poison: bool) -> Payload:
    event_type = draw(st.one_of(st.sampled_from(OTHER_EVENTS), st.from_regex(r"[a-z_]{1,30}", fullmatch=True)))
    event = {"type": event_type, "user": draw(slack_ids), "channel": world.channel, "event_ts": draw(message_ts)}
    payload = _envelope(world, event, draw(event_ids))
    poisoned = None
    if poison:
        poisoned, _ = _poison(draw, payload, [(("event", "user"), bad_ids), (("event", "channel"), bad_ids)])
    bent = _bend(draw, payload, {("event", "type"), ("event",)})
    return Payload("event:other", json.dumps(payload).encode(), JSON_TYPE, poisoned, bent)


@st.composite
def _home_opened(draw: st.DrawFn, world: World, poison: bool) -> Payload:
    event = {
        "type": "app_home_opened",
        "user": draw(_ids(world, (world.requester, "U0OTHER"))),
        "channel": "D0HOME",
        "tab": draw(st.sampled_from(["home", "messages"])),
        "event_ts": draw(message_ts),
    }
    payload = _envelope(world, event, draw(event_ids), enterprise_id=_enterprise_id(draw))
    poisoned = None
    protected: set[tuple[Any, ...]] = {("event", "type"), ("event",)}
    if poison:
        choices = [
            (("event", "user"), bad_ids),
            (("event", "tab"), st.sampled_from([_DELETE, None, 5, "Home", "", ["home"], "messages"])),
        ]
        poisoned, path = _poison(draw, payload, choices)
        protected.add(path)
    bent = _bend(draw, payload, protected)
    return Payload("event:app_home_opened", json.dumps(payload).encode(), JSON_TYPE, poisoned, bent)


_TRIGGERS = st.sampled_from([_DELETE, None, 5, [], {}, "", "a b", "x" * 300])


def _shortcut(kind: str) -> Callable[..., st.SearchStrategy[Payload]]:
    """A message shortcut (`message_action`) on a message in the world's channel, or the global `shortcut`."""

    @st.composite
    def build(draw: st.DrawFn, world: World, poison: bool) -> Payload:
        user = draw(_ids(world, (world.requester, "U0OTHER")))
        trigger_id = draw(st.one_of(st.builds(world.new_trigger_id), st.text(max_size=20)))
        if kind == "message_action":
            message = {"type": "message", "user": "U0WRITER", "ts": draw(message_ts), "text": draw(hostile_text)}
            payload = message_shortcut(
                message,
                callback_id=CallbackId.MESSAGE_SHORTCUT.value,
                response_url=world.response_url,
                channel=draw(_ids(world, (world.channel,))),
                user=user,
                team=world.team,
                trigger_id=trigger_id,
            )
        else:
            payload = global_shortcut(
                callback_id=CallbackId.GLOBAL_SHORTCUT.value, user=user, team=world.team, trigger_id=trigger_id
            )
        poisoned = None
        protected: set[tuple[Any, ...]] = {("type",), ("callback_id",), ("response_url",)}
        if poison:
            choices = [(("team", "id"), bad_ids), (("user", "id"), bad_ids), (("trigger_id",), _TRIGGERS)]
            if kind == "message_action":
                choices.append((("channel", "id"), bad_ids))
            poisoned, path = _poison(draw, payload, choices)
            protected.add(path)
        bent = _bend(draw, payload, protected)
        return Payload(kind, _interaction(payload), FORM, poisoned, bent)

    return build


@st.composite
def _home_button(draw: st.DrawFn, world: World, poison: bool) -> Payload:
    """The Home tab's *New decision*: a click in a view, with no channel and no message."""
    payload = block_actions(
        ActionId.HOME_NEW_DECISION.value,
        "new",
        message_ts=draw(message_ts),
        user=draw(_ids(world, (world.requester, "U0OTHER"))),
        response_url=world.response_url,
        trigger_id=draw(st.one_of(st.builds(world.new_trigger_id), st.text(max_size=20))),
    )
    for name in ("channel", "message", "response_url"):
        payload.pop(name, None)
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    poisoned = None
    protected: set[tuple[Any, ...]] = {("actions", 0, "action_id"), ("actions",), ("actions", 0), ("type",)}
    if poison:
        choices = [(("team", "id"), bad_ids), (("user", "id"), bad_ids), (("trigger_id",), _TRIGGERS)]
        poisoned, path = _poison(draw, payload, choices)
        protected.add(path)
    bent = _bend(draw, payload, protected)
    return Payload(f"block_actions:{ActionId.HOME_NEW_DECISION.value}", _interaction(payload), FORM, poisoned, bent)


@st.composite
def _url_verification(draw: st.DrawFn, world: World, poison: bool) -> Payload:
    payload: dict[str, Any] = {"token": "legacy-unused", "challenge": draw(hostile_text), "type": "url_verification"}
    poisoned = None
    if poison:
        poisoned, _ = _poison(draw, payload, [(("challenge",), JSON_VALUES), (("token",), JSON_VALUES)])
    return Payload("url_verification", json.dumps(payload).encode(), JSON_TYPE, poisoned, _bend(draw, payload, set()))


BUILDERS: dict[str, Callable[..., st.SearchStrategy[Payload]]] = {
    "command": _command,
    "view_submission": lambda world, poison: _submission(world, poison, edit=False),
    "edit_submission": lambda world, poison: _submission(world, poison, edit=True),
    "view_closed": _view_closed,
    **{f"block_actions:{action.value}": _block_actions(action.value) for action in ActionId},
    f"block_actions:{ActionId.HOME_NEW_DECISION.value}": _home_button,
    "shortcut": _shortcut("shortcut"),
    "message_action": _shortcut("message_action"),
    "event:app_home_opened": _home_opened,
    "event:message": _thread_event("message"),
    "event:app_mention": _thread_event("app_mention"),
    "event:reaction_added": _reaction,
    "event:other": _other_event,
    "url_verification": _url_verification,
}
KINDS = tuple(BUILDERS)
# The modal callback ids the builders cover (new and edit submissions, and view_closed, use the decision form).
CALLBACK_IDS = frozenset({CallbackId.DECISION_FORM.value})


def payloads(kind: str, world: World, *, poison: bool) -> st.SearchStrategy[Payload]:
    """Payloads of `kind` about `world`: poisoned (a field every listener of the kind checks is broken) or not."""
    return BUILDERS[kind](world, poison)


# --- bodies that are no payload at all --------------------------------------------------------------------------------


def _nested(depth: int, opener: str, closer: str) -> str:
    return opener * depth + closer * depth


@st.composite
def garbage(draw: st.DrawFn, *, max_bytes: int) -> Payload:
    """A body that is not a payload the bot accepts: random bytes, any JSON, deep nesting, a huge string under
    the size cap, a known payload type with fields of the wrong JSON type, under any content type."""
    content_type = draw(
        st.sampled_from(
            [FORM, JSON_TYPE, None, "text/plain", "multipart/form-data; boundary=x", "application/xml", "a" * 300]
        )
    )
    shape = draw(st.sampled_from(["bytes", "json", "nested", "huge", "wrong-types", "form-payload", "form"]))
    if shape == "bytes":
        body = draw(st.binary(max_size=2000))
    elif shape == "json":
        body = json.dumps(draw(JSON_VALUES)).encode()
    elif shape == "nested":
        depth = draw(st.integers(1, min(100_000, (max_bytes - 200) // 6)))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        text = '{"a":' * depth + "1" + "}" * depth if opener.startswith("{") else _nested(depth, opener, closer)
        body = (text if draw(st.booleans()) else "payload=" + text).encode()
    elif shape == "huge":
        size = draw(st.integers(10_000, max_bytes - 200))
        filler = draw(st.sampled_from(["a", "<!channel>", "%", "\u00e9", "&"]))
        text = (filler * (size // len(filler.encode()) + 1))[: size // len(filler.encode())]
        wrapper = draw(st.sampled_from(["json-string", "form-text", "payload-string", "raw"]))
        if wrapper == "json-string":
            body = json.dumps({"type": "event_callback", "event": {"type": "message", "text": text}}).encode()
        elif wrapper == "form-text":
            body = urlencode({"command": COMMAND, "text": text}).encode()
        elif wrapper == "payload-string":
            body = urlencode({"payload": json.dumps({"type": "block_actions", "actions": text})}).encode()
        else:
            body = text.encode()
        body = body[:max_bytes]
    elif shape == "wrong-types":
        kind = draw(st.sampled_from(["view_submission", "view_closed", "block_actions", "event_callback", "shortcut"]))
        wrong = st.one_of(_JSON_SCALARS, st.lists(_JSON_SCALARS, max_size=3))
        payload = {"type": kind, **draw(st.dictionaries(st.sampled_from(_TOP_KEYS), wrong, max_size=5))}
        body = (json.dumps(payload) if kind == "event_callback" else "payload=" + json.dumps(payload)).encode()
    elif shape == "form-payload":
        body = urlencode({"payload": draw(st.text(max_size=200))}).encode()
    else:
        body = urlencode(draw(st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=6))).encode()
    return Payload(f"garbage:{shape}", body, content_type, "not a payload")


_TOP_KEYS = ("view", "actions", "event", "user", "team", "channel", "command", "callback_id", "message", "container")


# --- ways of failing the signature ------------------------------------------------------------------------------------


def signature(body: bytes, timestamp: str, secret: str) -> str:
    """`v0=` HMAC-SHA256 of `v0:{timestamp}:{body}` with `secret`, as Slack computes it."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


# Timestamps that are not a plain count of seconds (each signed correctly, so only the timestamp is wrong).
NOT_NUMBERS = (
    "",
    " ",
    "abc",
    "1e9",
    "-1",
    "+{now}",
    " {now}",
    "{now} ",
    "{now}.5",
    "0x65",
    "{now}\x00",
    "\u00b9\u00b2\u00b3",
    "\uff11\uff12\uff13",
    "9" * 5000,
    "{now}{now}",
    "{wide}",
)


@st.composite
def forged(draw: st.DrawFn, body: bytes, secret: str) -> tuple[bytes, dict[str, str], str]:
    """`body` (or a changed copy) with headers that fail Slack's signature check, and what is wrong with them."""
    now = int(time.time())
    way = draw(
        st.sampled_from(
            [
                "none",
                "timestamp only",
                "signature only",
                "wrong secret",
                "stale",
                "future",
                "byte changed",
                "not a number",
                "bad signature text",
                "empty",
            ]
        )
    )
    good = str(now)
    if way == "none":
        return body, {}, way
    if way == "timestamp only":
        return body, {"X-Slack-Request-Timestamp": good}, way
    if way == "signature only":
        return body, {"X-Slack-Signature": signature(body, good, secret)}, way
    if way == "wrong secret":
        other = draw(st.text("0123456789abcdef", min_size=16, max_size=40).filter(lambda s: s != secret))
        return body, {"X-Slack-Request-Timestamp": good, "X-Slack-Signature": signature(body, good, other)}, way
    if way in {"stale", "future"}:
        # 302 s or more: a second may pass between signing and checking, and 301 must still be too far.
        skew = draw(st.integers(302, 10**6)) * (-1 if way == "stale" else 1)
        stamp = str(now + skew)
        return body, {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature(body, stamp, secret)}, way
    if way == "byte changed":
        headers = {"X-Slack-Request-Timestamp": good, "X-Slack-Signature": signature(body, good, secret)}
        changed = bytearray(body or b"x")
        index = draw(st.integers(0, len(changed) - 1))
        changed[index] ^= draw(st.integers(1, 255))
        return bytes(changed), headers, f"{way} at {index}"
    if way == "not a number":
        wide = "".join(chr(0xFF10 + int(digit)) for digit in good)  # the current time in full-width digits
        stamp = draw(st.sampled_from(NOT_NUMBERS)).replace("{now}", good).replace("{wide}", wide)
        return body, {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature(body, stamp, secret)}, way
    if way == "bad signature text":
        right = signature(body, good, secret)
        # Each differs from Slack's signature. (Spaces around it would not: HTTP drops them from a header's value.)
        text = draw(
            st.sampled_from(
                [
                    right.upper(),
                    right.replace("v0=", "v1="),
                    right[3:],
                    right[:-1] + ("1" if right.endswith("0") else "0"),
                    right[:-1],
                    "v0=" + "0" * 64,
                    "v0=" + right[3:].upper(),
                    "v0=\u00e9" + right[4:],
                    right * 50,
                ]
            )
        )
        return body, {"X-Slack-Request-Timestamp": good, "X-Slack-Signature": text}, way
    return body, {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""}, way
