"""Mention and link injection through every path where user text is shown.

One decision is asked for with hostile text in every field a person types (the use case, also typed after the
command, and the notes), then taken down every path that shows it again: the verdict and its explanation, questions
in the thread (a what-if with words the bot does not understand, a value it cannot read, the stored answers,
`apply`, `history`), the edit form and its result, a re-review, `/should-finetune history`, the digest (its summary,
its thread when the week is long, and the preview), the DM sent when the channel is out of reach, and the usage
answer to an unknown sub-command. Everything the fake Slack received, and every HTTP answer, is then searched.

What Slack acts on, and what is checked:

- `<!channel>`, `<!here>`, `<!everyone>`, `<@U…>`, `<!subteam^S…>` ping people and `<https://…|label>` hides where a
  link goes. In every string Slack reads as mrkdwn (a message's `text`, every `mrkdwn` text object), none of those
  typed by a person may appear as it was typed; each path must show the escaped text (`&lt;!channel&gt;`), so that
  the test cannot pass by the text being dropped; and every `<…>` left must be one the bot wrote itself.
- Plain `@channel`, `@here`, `@everyone` and `#general` are turned into mentions and links by Slack's "automatic
  parsing": for a message's `text` only when the call asks for it (`link_names=1` or `parse=full`; by default Slack
  "will not linkify channel names … and usernames", and `parse` defaults to `none`: Slack's message formatting
  reference, slackhq/slack-api-docs `page_formatting.md`, "Parsing modes"), and for a `mrkdwn` text object unless it
  says `verbatim: true` (Slack's text object reference: "When set to false (as is default) URLs will be
  auto-converted into links, conversation names will be link-ified, and certain mentions will be automatically
  parsed"; with `true` Slack "won't modify any plain-text content" and still reads the markup the bot writes). So:
  no call asks for link_names or full parsing, and every `mrkdwn` object that shows such text is verbatim.
- In a modal's input (`plain_text_input` initial values) the text is shown as typed, which is right: it is the
  person's own text in their own form, and plain text is never parsed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.digest.messages import INLINE_ROWS
from bot.engine.answers import Answers
from bot.slack.ids import ActionId
from tests.fakeslack import Call
from tests.inprocess import Answer, InProcessBot
from tests.payloads import World
from tests.security_support import mrkdwn_strings, raw_markup, world_bot
from tests.slack_support import (
    REQUIRED_ANSWERS,
    block_actions,
    event_callback,
    slash_command,
    submission_payload,
    thread_message,
)

PINGS = "<!channel> <!here> <!everyone> <@UEVIL0001> <!subteam^SEVIL0001|@admins>"
LINKS = "<https://evil.example/login|docs> <#CEVIL0001>"
PLAIN = "@channel @here @everyone #general https://evil.example/plain"
MARKS = "& &amp; *bold* _it_ ~s~ `c` > | \u202e"
HOSTILE = f"{PINGS} {LINKS} {PLAIN} {MARKS}"
ESCAPED = "&lt;!channel&gt;"  # what a shown <!channel> must look like
PLAIN_MENTIONS = ("@channel", "@here", "@everyone", "#general")
BLOCKED = "C0BLOCKED"

# The markup the bot writes itself: member mentions, channel links, dates, and links it trusts (rule sources and
# Slack's permalinks). Anything else between < and > came from a person.
_OWN_MARKUP = re.compile(
    r"<@[UW][A-Z0-9]{1,39}>"
    r"|<#[CGD][A-Z0-9]{1,39}>"
    r"|<!date\^\d+\^[^|<>]*\|[^<>]*>"
    r"|<https?://(?!evil\.example)[^\s<>|]+(\|[^<>]*)?>"
)
_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


@dataclass
class Scenario:
    """Everything the bot sent while the hostile decision went down every path, by path."""

    world: World
    paths: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # path -> messages (call args or answers)
    calls: list[Call] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)


def _signed(bot: InProcessBot, body: bytes, content_type: str = "application/x-www-form-urlencoded") -> Answer:
    answer = bot.request(body, headers=bot.sign(body), content_type=content_type)
    bot.drain()
    assert answer.status == 200, answer
    return answer


def _command(bot: InProcessBot, world: World, text: str, *, channel: str | None = None) -> Answer:
    fields = slash_command(
        text,
        team=world.team,
        channel=channel or world.channel,
        user=world.requester,
        trigger_id=world.new_trigger_id(),
        response_url=world.response_url,
    )
    return _signed(bot, urlencode(fields).encode())


def _submit(bot: InProcessBot, view: dict[str, Any], answers: dict[str, Any]) -> Answer:
    payload = submission_payload(view, answers, view_id=f"V{time.time_ns()}")
    return _signed(bot, urlencode({"payload": json.dumps(payload)}).encode())


def _opened(bot: InProcessBot) -> dict[str, Any]:
    view = bot.fake.calls("views.open")[-1].args["view"]
    return json.loads(view) if isinstance(view, str) else view


def _event(bot: InProcessBot, event: dict[str, Any]) -> Answer:
    body = json.dumps(event_callback(event, event_id=f"Ev{time.time_ns()}")).encode()
    return _signed(bot, body, "application/json")


def _new(bot: InProcessBot, since: int, keep: Callable[[Call], bool] = lambda call: True) -> list[dict[str, Any]]:
    return [call.args for call in bot.calls()[since:] if keep(call)]


def _in_thread(ts: str) -> Callable[[Call], bool]:
    return lambda call: call.method == "chat.postMessage" and call.args.get("thread_ts") == ts


def _updates(call: Call) -> bool:
    return call.method == "chat.update"


def _webhook(call: Call) -> bool:
    return call.method.startswith("webhook/")


def _answer_body(answer: Answer) -> dict[str, Any]:
    try:
        found = json.loads(answer.body)
    except ValueError:
        found = None
    return found if isinstance(found, dict) else {"text": answer.body.decode("utf-8", "replace")}


def _decide(bot: InProcessBot, world: World, paths: dict[str, list[dict[str, Any]]]) -> str:
    """The command with the use case typed after it, then the form: the verdict's ts."""
    _command(bot, world, HOSTILE)
    answers = {**REQUIRED_ANSWERS, "use_case": HOSTILE, "notes": f"Notes: {HOSTILE}"}
    _submit(bot, _opened(bot), answers)
    verdict_call, explanation_call = bot.fake.calls("chat.postMessage")[-2:]
    assert verdict_call.response is not None
    paths["verdict"] = [verdict_call.args]
    paths["explanation"] = [explanation_call.args]
    return str(verdict_call.response["ts"])


def _ask(bot: InProcessBot, world: World, verdict: str, paths: dict[str, list[dict[str, Any]]]) -> None:
    """Questions in the verdict's thread, and a what-if applied."""
    asked = {
        "what-if with words not understood": f"what if we had 600 examples and {PINGS} {LINKS}",
        "what-if with a value not readable": "what if we had <!channel> examples",
        "stored answers": "answers",
        "mention with hostile text": f"<@{world.bot_user}> {HOSTILE}",
        "thread history": "history",
    }
    for name, text in asked.items():
        since = len(bot.calls())
        _event(bot, thread_message(text, thread_ts=verdict, user=world.requester))
        paths[f"thread: {name}"] = _new(bot, since, _in_thread(verdict))
    since = len(bot.calls())
    _event(bot, thread_message("what if we had 900 examples", thread_ts=verdict, user=world.requester))
    _event(bot, thread_message("apply", thread_ts=verdict, user=world.requester))
    paths["verdict after apply"] = _new(bot, since, _updates)


def _edit_and_rereview(bot: InProcessBot, world: World, verdict: str, paths: dict[str, list[dict[str, Any]]]) -> None:
    """The edit form, opened prefilled by the requester's click and saved with another hostile use case; then a
    re-review on a reaction."""
    click = block_actions(
        ActionId.EDIT_ANSWERS.value,
        message_ts=verdict,
        message=bot.fake.message(world.channel, verdict),
        channel=world.channel,
        user=world.requester,
        response_url=world.response_url,
        trigger_id=world.new_trigger_id(),
    )
    _signed(bot, urlencode({"payload": json.dumps(click)}).encode())
    since = len(bot.calls())
    answers = {**REQUIRED_ANSWERS, "use_case": f"Edited {PINGS} {LINKS}", "notes": f"Notes: {HOSTILE}"}
    _submit(bot, _opened(bot), answers)
    paths["thread: edited"] = _new(bot, since, _in_thread(verdict))
    paths["verdict after edit"] = _new(bot, since, _updates)
    since = len(bot.calls())
    reaction = {
        "type": "reaction_added",
        "user": "U0OTHER",
        "reaction": world.rereview_emoji,
        "item_user": world.bot_user,
        "item": {"type": "message", "channel": world.channel, "ts": verdict},
        "event_ts": f"{time.time():.6f}",
    }
    _event(bot, reaction)
    paths["thread: re-reviewed"] = _new(bot, since, _in_thread(verdict))
    paths["verdict after re-review"] = _new(bot, since, _updates)


def _history_and_digest(bot: InProcessBot, world: World, paths: dict[str, list[dict[str, Any]]]) -> None:
    """`/should-finetune history`; the digest of a short week (every decision in the summary), previewed; then of a
    week long enough to list its decisions in the summary's thread, posted."""
    for name, text in {"/should-finetune history": "history", "digest preview": "digest preview"}.items():
        since = len(bot.calls())
        _command(bot, world, text)
        paths[name] = _new(bot, since, _webhook)
    for i in range(INLINE_ROWS + 2):
        answers = {"use_case": f"{i} {PLAIN} {PINGS}", "primary_failure": "style", "n_stable_examples": 30}
        bot.services.decisions.decide(
            workspace=world.team, channel=world.channel, requester=world.requester, answers=Answers(**answers)
        )
    since = len(bot.calls())
    _command(bot, world, "digest now")
    posted = [c for c in bot.calls()[since:] if c.method == "chat.postMessage"]
    paths["digest summary"] = [c.args for c in posted if not c.args.get("thread_ts")]
    paths["digest thread"] = [c.args for c in posted if c.args.get("thread_ts")]


def _play(bot: InProcessBot, world: World) -> Scenario:
    """The hostile decision, down every path."""
    scenario = Scenario(world)
    paths = scenario.paths
    start = len(bot.calls())
    verdict = _decide(bot, world, paths)
    _ask(bot, world, verdict, paths)
    _edit_and_rereview(bot, world, verdict, paths)
    _history_and_digest(bot, world, paths)

    # A channel the bot is not in: the verdict goes to the requester's DM.
    bot.fake.set_channel(BLOCKED, "not_in_channel")
    _command(bot, world, "", channel=BLOCKED)
    since = len(bot.calls())
    _submit(bot, _opened(bot), {**REQUIRED_ANSWERS, "use_case": HOSTILE})
    paths["DM when the channel is out of reach"] = [
        c.args
        for c in bot.calls()[since:]
        if c.method == "chat.postMessage" and c.args.get("channel") == world.requester
    ]

    # An unknown sub-command is answered with usage naming it, in the HTTP answer.
    unknown = _command(bot, world, "--<!channel>")
    paths["usage for an unknown sub-command"] = [_answer_body(unknown)]
    scenario.answers.append(unknown)
    scenario.calls = bot.calls()[start:]
    return scenario


@pytest.fixture(scope="module")
def scenario(redis_url: str) -> Iterator[Scenario]:
    with world_bot(redis_url) as (bot, world):
        yield _play(bot, world)


def _shown(messages: list[dict[str, Any]]) -> list[str]:
    texts: list[str] = []
    for message in messages:
        args = dict(message)
        if isinstance(args.get("blocks"), str):
            args["blocks"] = json.loads(args["blocks"])
        texts += mrkdwn_strings(args, message=True)
    return texts


# --- nothing typed reaches Slack as markup ---------------------------------------------------------------------------


def test_no_typed_mention_or_link_reaches_slack_unescaped(scenario: Scenario) -> None:
    found = raw_markup(scenario.calls)
    for answer in scenario.answers:
        found += raw_markup([], answer)
    assert found == []


# Each path that shows typed text, and how it shows it: the text escaped, or (where the follow-up parser read the
# question) the markup it could not read, named and escaped.
SHOWN = {
    "verdict": ESCAPED,
    "thread: what-if with words not understood": "&lt;mention&gt;",
    "thread: what-if with a value not readable": "&lt;mention&gt;",
    "thread: stored answers": ESCAPED,
    "verdict after apply": ESCAPED,
    "verdict after edit": ESCAPED,
    "verdict after re-review": ESCAPED,
    "/should-finetune history": ESCAPED,
    "digest preview": ESCAPED,
    "digest thread": ESCAPED,
    "DM when the channel is out of reach": ESCAPED,
    "usage for an unknown sub-command": ESCAPED,
}
PATHS = list(SHOWN)


@pytest.mark.parametrize("path", PATHS)
def test_each_path_shows_the_typed_text_escaped(scenario: Scenario, path: str) -> None:
    texts = _shown(scenario.paths[path])
    assert texts, f"nothing was sent on the path {path!r}"
    assert any(SHOWN[path] in text for text in texts), f"{path}: the typed text is not shown: {texts}"
    assert not any("&amp;lt;" in text for text in texts), f"{path}: escaped twice"


def test_every_angle_bracket_left_is_markup_the_bot_wrote(scenario: Scenario) -> None:
    strays = []
    for path, messages in scenario.paths.items():
        for text in _shown(messages):
            rest = _OWN_MARKUP.sub("", text)
            if "<" in rest or ">" in rest or _ENTITY.search(rest):
                strays.append(f"{path}: {text[:300]!r}")
    assert strays == []


def test_the_paths_that_only_show_the_bot_s_words_show_none_of_the_typed_text(scenario: Scenario) -> None:
    # The explanation, a mention's help, the re-review's note and the thread's history are the bot's own words.
    for path in ("explanation", "thread: mention with hostile text", "thread: re-reviewed", "thread: thread history"):
        for text in _shown(scenario.paths[path]):
            assert "evil" not in text.lower(), f"{path}: {text[:300]!r}"


# --- plain @channel and #channel are not parsed -----------------------------------------------------------------------


def test_no_call_asks_slack_to_turn_names_into_mentions(scenario: Scenario) -> None:
    for call in scenario.calls:
        if call.method.startswith("chat.") or call.method.startswith("webhook/"):
            assert str(call.args.get("link_names", "")).lower() not in {"1", "true"}, call
            assert call.args.get("parse") in (None, "none"), call


def _mrkdwn_objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            yield value
        for inner in value.values():
            yield from _mrkdwn_objects(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _mrkdwn_objects(inner)


def _unparsed(messages: list[dict[str, Any]]) -> list[str]:
    """mrkdwn objects that show a typed @channel (or the like) and would let Slack parse it."""
    return [
        obj["text"][:200]
        for message in messages
        for obj in _mrkdwn_objects(message.get("blocks") or [])
        if any(mention in obj["text"] for mention in PLAIN_MENTIONS) and obj.get("verbatim") is not True
    ]


@pytest.mark.parametrize("path", [path for path in PATHS if path != "digest thread"])
def test_typed_plain_mentions_are_shown_in_verbatim_text(scenario: Scenario, path: str) -> None:
    assert _unparsed(scenario.paths[path]) == []


def test_the_scenario_showed_plain_mentions_where_they_could_be_parsed(scenario: Scenario) -> None:
    # So that the verbatim tests above are about something: typed @channel text reached mrkdwn blocks.
    shown = [text for messages in scenario.paths.values() for text in _shown(messages)]
    assert sum("@channel @here @everyone #general" in text for text in shown) >= 5


def test_typed_plain_mentions_are_shown_in_verbatim_text_in_the_digest_thread(scenario: Scenario) -> None:
    assert scenario.paths["digest thread"]
    assert _unparsed(scenario.paths["digest thread"]) == []
