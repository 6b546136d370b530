"""Rendering the bot's Slack messages outside a running bot, and checking them against Slack's limits: for the
rendering tests, and for the policy's tests of the shipped rules' messages.

The checks follow Slack's published limits for Block Kit (text objects, blocks, views, messages) and the bot's own rule
that no user or rule text ever turns into markup (docs/slack.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.decisions import Decided, new_version
from bot.engine.answers import Answers
from bot.engine.ruleset import RuleSet
from bot.engine.verdict import evaluate
from bot.settings import Settings
from bot.slack.render import Renderer
from bot.store import Decision, Delivery, DeliveryStatus, Trigger, Version

REQUESTER = "U123"
CHANNEL = "C0DECIDE"
HOSTILE = "<!channel> & <https://evil.example|docs> <@U999> <!subteam^S1>"
CHANNEL_ERRORS = ["not_in_channel", "channel_not_found", "is_archived", "restricted_action"]


@functools.cache
def renderer() -> Renderer:
    return Renderer(Settings(_env_file=None).template_dirs)  # type: ignore[call-arg]


def decided(ruleset: RuleSet, answers: Answers, *, versions: int = 1, trigger: Trigger = Trigger.SUBMIT) -> Decided:
    """A stored decision as DecisionService.decide returns it, with `versions` versions."""
    verdict = evaluate(ruleset, answers)
    now = datetime.now(UTC)
    data = new_version(verdict, by=REQUESTER, trigger=trigger).model_dump()
    decision = Decision(
        id="01JD0DECISION",
        workspace="T0TEAM",
        channel=CHANNEL,
        requester=REQUESTER,
        created_at=now,
        delivery=Delivery(status=DeliveryStatus.PENDING),
        versions=[Version(**data, number=number, at=now) for number in range(1, versions + 1)],
    )
    return Decided(decision, verdict)


def context(item: Decided) -> dict[str, Any]:
    """The context bot/slack/delivery.py deliver_verdict renders with."""
    return {
        "report": item.report,
        "step": item.step,
        "decision": {"id": item.decision.id, "requester": item.decision.requester},
        "version": item.decision.latest.model_dump(mode="json"),
    }


def verdict_messages(item: Decided) -> dict[str, dict[str, Any]]:
    """The verdict, its explanation, and the DM for each way posting can fail."""
    ctx = context(item)
    messages = {
        "verdict": renderer().message("verdict", **ctx),
        "explanation": renderer().message("explanation", **ctx),
    }
    for error in [*CHANNEL_ERRORS, "team_access_not_granted", "ratelimited", "<!channel>"]:
        messages[f"undelivered/{error}"] = renderer().message("undelivered", channel=CHANNEL, error=error, **ctx)
    return messages


# --- the checks ---------------------------------------------------------------------------------------------------


def text_objects(item: Any) -> Iterator[dict[str, Any]]:
    """Every text object (a dict with a string `text`) anywhere inside `item`."""
    if isinstance(item, dict):
        if isinstance(item.get("text"), str):
            yield item
        for value in item.values():
            yield from text_objects(value)
    elif isinstance(item, list):
        for value in item:
            yield from text_objects(value)


def mrkdwn_texts(message: Mapping[str, Any]) -> list[str]:
    """The fallback text and every mrkdwn text of a message: everything Slack parses for mentions and links."""
    texts = [message["text"]]
    texts += [obj["text"] for obj in text_objects(message.get("blocks", [])) if obj.get("type") == "mrkdwn"]
    return texts


def check_block(block: dict[str, Any]) -> None:
    parsed = Block.parse(block)
    assert parsed is not None, block
    assert parsed.to_dict() == block  # valid Block Kit, and nothing in it unknown to the SDK
    kind = block["type"]
    if kind == "section":
        assert "text" in block or "fields" in block
        if "text" in block:
            assert 1 <= len(block["text"]["text"]) <= 3000
        assert len(block.get("fields", [])) <= 10
        assert all(1 <= len(field["text"]) <= 2000 for field in block.get("fields", []))
    elif kind == "header":
        assert block["text"]["type"] == "plain_text"
        assert 1 <= len(block["text"]["text"]) <= 150
    elif kind == "context":
        assert 1 <= len(block["elements"]) <= 10
    elif kind == "actions":
        assert 1 <= len(block["elements"]) <= 25
        for button in block["elements"]:
            assert len(button["text"]["text"]) <= 75
            assert len(button.get("value", "")) <= 2000


def check_message(message: dict[str, Any]) -> None:
    text = message.get("text")
    assert isinstance(text, str)
    assert text.strip()
    assert len(text) <= 4000
    blocks = message.get("blocks", [])
    assert len(blocks) <= 50
    for block in blocks:
        check_block(block)
    assert sum(len(obj["text"]) for obj in text_objects(blocks)) <= 12_000


def check_view(view: dict[str, Any]) -> None:
    assert View(**view).to_dict() == view
    assert view["type"] == "modal"
    assert len(view["blocks"]) <= 100
    for key in ("title", "submit", "close"):
        assert view[key]["type"] == "plain_text"
        assert 1 <= len(view[key]["text"]) <= 24
    assert len(view.get("private_metadata", "")) <= 3000
    assert len(view.get("callback_id", "")) <= 255
    for block in view["blocks"]:
        check_block(block)
        if block["type"] != "input":
            continue
        assert len(block["block_id"]) <= 255
        assert len(block["label"]["text"]) <= 2000
        assert len(block.get("hint", {}).get("text", "")) <= 2000
        element = block["element"]
        assert len(element["action_id"]) <= 255
        assert len(element.get("placeholder", {}).get("text", "")) <= 150
        options = element.get("options", [])
        for option in options:
            assert 1 <= len(option["text"]["text"]) <= 75
            assert 1 <= len(option["value"]) <= 150
        if element["type"] in {"checkboxes", "radio_buttons"}:
            assert 1 <= len(options) <= 10
        if element["type"] == "static_select":
            assert 1 <= len(options) <= 100
        if element["type"] == "plain_text_input":
            assert 1 <= element.get("max_length", 3000) <= 3000
            assert len(element.get("initial_value", "")) <= element.get("max_length", 3000)
        if element["type"] == "number_input":
            assert isinstance(element["is_decimal_allowed"], bool)
            assert all(isinstance(element.get(key, ""), str) for key in ("min_value", "max_value", "initial_value"))


def check_not_injected(message: Mapping[str, Any], *, configured: Sequence[str] = ()) -> None:
    """No user or rule text turned into markup: no broadcast, no foreign link or mention, nothing escaped twice.
    `configured` mentions (the reviewers from the settings) are the bot's own markup."""
    for written in mrkdwn_texts(message):
        text = written
        for mention in configured:
            text = text.replace(mention, "")
        # Dates the bot writes for each reader's time zone: only their fallback text can carry anything typed.
        text = re.sub(r"<!date\^\d+\^\{date_short\} \{time\}\|([^<>|]*)>", r"\1", text)
        assert "<!" not in text, text
        assert "<https://evil" not in text, text
        assert "<http://evil" not in text, text
        assert "<@U999>" not in text, text
        assert "&amp;lt;" not in text, text
        assert "&amp;gt;" not in text, text
        assert "&amp;amp;" not in text, text
        # Every `&` is one of the three escapes, and every `<` opens markup the bot itself writes.
        assert "&" not in re.sub(r"&(?:amp|lt|gt);", "", text), text
        for markup in re.findall(r"<[^>]*>", text):
            assert re.fullmatch(rf"<@{REQUESTER}>|<#{CHANNEL}>|<https?://[^\s<>|]+\|[^<>|]+>", markup), markup


def check_fits_whole(message: Mapping[str, Any]) -> None:
    """Nothing of the message was cut to fit Slack's limits, and nothing left out."""
    assert not any(obj["text"].endswith("…") for obj in text_objects(message.get("blocks", []))), message
    assert "not shown" not in str(message.get("blocks", [])), message
