"""What the security tests share: a bot in-process with one posted decision, and the judges of what it sent.

`world_bot` starts the bot as `serve` does (real Redis under a prefix of its own, the fake Slack) and asks for one
decision the usual way, so that payloads can point at a real verdict, its thread and its buttons. The judges read
what the fake Slack received: calls Slack would refuse as malformed, calls beyond an ephemeral note, and user-typed
markup (`tests.payloads.SENTINELS`) that reached Slack unescaped where Slack would act on it.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.store import connect_redis
from tests.fakeslack import Call, FakeSlack
from tests.inprocess import Answer, InProcessBot, in_process_bot, seed_world
from tests.payloads import SENTINELS, World
from tests.slack_support import bot_settings

# Slack's answers that mean the bot sent something malformed (its bug), as opposed to the state of the world
# (an expired trigger, a message that is gone).
MALFORMED_CALL = frozenset(
    {
        "invalid_arguments",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_attachments",
        "too_many_attachments",
        "no_text",
        "unknown_method",
        "not_authed",
        "invalid_auth",
        "users_list_not_supplied",
        "fatal_error",
    }
)


@contextmanager
def world_bot(redis_url: str, **overrides: Any) -> Iterator[tuple[InProcessBot, World]]:
    """A bot in-process with one posted decision, under a key prefix of its own (deleted afterwards)."""
    prefix = f"sf-test-{uuid.uuid4().hex}"
    client = connect_redis(redis_url, socket_timeout=5.0)
    try:
        with FakeSlack(tokens=overrides.pop("tokens", ("xoxb-test-token",))) as fake:
            # No pause between a digest's messages, and no taking over of unfinished work during the run: the
            # tests judge each request by what happened right after it.
            values = {"digest_post_interval_seconds": 0, "work_lease_seconds": 1800, **overrides}
            with in_process_bot(bot_settings(fake, redis_url, prefix, **values), fake, client) as bot:
                yield bot, seed_world(bot)
            assert not fake.errors, "the fake Slack itself failed:\n" + "\n".join(fake.errors)
    finally:
        for key in client.scan_iter(match=f"{prefix}:*", count=10_000):
            client.delete(key)
        client.close()


def install_probe(bot: InProcessBot) -> list[str]:
    """A global Bolt middleware that records every request reaching Bolt (before any listener), by payload type."""
    seen: list[str] = []

    @bot.app.use
    def record(body: dict[str, Any], next: Any) -> None:
        seen.append(str(body.get("type") or body.get("command") or "other"))
        next()

    return seen


def mrkdwn_strings(value: Any, *, message: bool) -> Iterator[str]:
    """Every string of a message or view that Slack reads as mrkdwn: a message's `text`, and the text of every
    `mrkdwn` text object. (plain_text objects, input values and private_metadata are shown as they are.)"""
    if isinstance(value, dict):
        if message and isinstance(value.get("text"), str):
            yield value["text"]
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            yield value["text"]
        for key, inner in value.items():
            if key == "text" and isinstance(inner, str):
                continue
            yield from mrkdwn_strings(inner, message=False)
    elif isinstance(value, list):
        for inner in value:
            yield from mrkdwn_strings(inner, message=False)


def raw_markup(calls: list[Call], answer: Answer | None = None) -> list[str]:
    """User-typed markup (see SENTINELS) found unescaped where Slack would act on it."""
    shown: list[str] = []
    for call in calls:
        args = dict(call.args)
        for key in ("view", "blocks"):
            if isinstance(args.get(key), str):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(args[key])
        shown += mrkdwn_strings(args, message=not call.method.startswith("views."))
    if answer is not None and answer.body[:1] == b"{":
        try:
            reply = json.loads(answer.body)
        except ValueError:
            reply = None
        if isinstance(reply, dict):
            reply.pop("errors", None)  # a form's field errors are plain text under the field
            shown += mrkdwn_strings(reply, message=True)
    elif answer is not None and answer.body:
        shown.append(answer.body.decode("utf-8", "replace"))  # a plain-text ack is shown as a message
    return [f"{markup!r} in {text[:200]!r}" for text in shown for markup in SENTINELS if markup in text]


def malformed_calls(calls: list[Call]) -> list[str]:
    """Calls Slack would have refused because of how the bot made them."""
    bad = []
    for call in calls:
        if call.method.startswith("webhook/"):
            if call.status != 200:
                bad.append(f"{call.method}: HTTP {call.status} for {call.args}")
        elif call.response is None or (not call.response.get("ok") and call.response.get("error") in MALFORMED_CALL):
            bad.append(f"{call.method}: {call.response} for {json.dumps(call.args)[:500]}")
    return bad


def side_effects(calls: list[Call]) -> list[str]:
    """Calls that are more than an ephemeral note to the clicker's response_url."""
    return [
        f"{call.method} {json.dumps(call.args)[:300]}"
        for call in calls
        if not (call.method.startswith("webhook/") and call.args.get("response_type") == "ephemeral")
    ]
