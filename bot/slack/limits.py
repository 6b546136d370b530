"""Slack's size limits, enforced in this one place for every message and view the bot sends.

Everything the renderer produces goes through `fit_message` or `fit_view`. Text is cut with `truncate`, which never
splits an escape (`&amp;`) or a piece of markup (`<https://...|label>`) and marks the cut with an ellipsis.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 4_000  # the notification fallback; Slack truncates at 40,000 but advises staying under 4,000
MESSAGE_BLOCK_CHARACTERS = 12_000  # Slack refuses messages whose blocks hold ~13.2k characters in all
SECTION_TEXT = 3_000
SECTION_FIELD = 2_000
SECTION_FIELDS = 10
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
CONTEXT_TEXT = 2_000
ACTIONS_ELEMENTS = 25
BUTTON_TEXT = 75
BUTTON_VALUE = 2_000
MODAL_TITLE = 24
MODAL_BUTTON = 24
PRIVATE_METADATA = 3_000
INPUT_LABEL = 2_000
INPUT_HINT = 2_000
PLACEHOLDER = 150
OPTION_TEXT = 75
PLAIN_TEXT_INPUT_VALUE = 3_000

ELLIPSIS = "…"
_ENTITIES = ("&amp;", "&lt;", "&gt;")


class LimitError(ValueError):
    """Something that cannot be shortened without breaking it (private metadata, a value, an id)."""


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, never inside an escape or a `<...>` sequence."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - len(ELLIPSIS), 0)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:] and text.startswith(_ENTITIES, amp):
        cut = cut[:amp]
    opening = cut.rfind("<")
    if opening != -1 and ">" not in cut[opening:]:
        cut = cut[:opening]
    return cut.rstrip() + ELLIPSIS


def _text(obj: Any, limit: int) -> None:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        obj["text"] = truncate(obj["text"], limit)


def _element(element: dict[str, Any]) -> None:
    kind = element.get("type")
    if kind == "button":
        _text(element.get("text"), BUTTON_TEXT)
        if isinstance(element.get("value"), str) and len(element["value"]) > BUTTON_VALUE:
            raise LimitError(f"button {element.get('action_id')} carries a value over {BUTTON_VALUE} characters")
    _text(element.get("placeholder"), PLACEHOLDER)
    for option in [*element.get("options", []), *element.get("initial_options", [])]:
        _text(option.get("text"), OPTION_TEXT)
    if isinstance(element.get("initial_option"), dict):
        _text(element["initial_option"].get("text"), OPTION_TEXT)
    if isinstance(element.get("initial_value"), str) and kind == "plain_text_input":
        limit = min(element.get("max_length", PLAIN_TEXT_INPUT_VALUE), PLAIN_TEXT_INPUT_VALUE)
        element["initial_value"] = element["initial_value"][:limit]


def _section(block: dict[str, Any]) -> None:
    _text(block.get("text"), SECTION_TEXT)
    if "fields" in block:
        block["fields"] = block["fields"][:SECTION_FIELDS]
        for field in block["fields"]:
            _text(field, SECTION_FIELD)
    if isinstance(block.get("accessory"), dict):
        _element(block["accessory"])


def _context(block: dict[str, Any]) -> None:
    block["elements"] = block["elements"][:CONTEXT_ELEMENTS]
    for element in block["elements"]:
        _text(element, CONTEXT_TEXT)


def _actions(block: dict[str, Any]) -> None:
    block["elements"] = block["elements"][:ACTIONS_ELEMENTS]
    for element in block["elements"]:
        _element(element)


def _input(block: dict[str, Any]) -> None:
    _text(block.get("label"), INPUT_LABEL)
    _text(block.get("hint"), INPUT_HINT)
    _element(block["element"])


_FITTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "section": _section,
    "header": lambda block: _text(block.get("text"), HEADER_TEXT),
    "context": _context,
    "actions": _actions,
    "input": _input,
}


def fit_block(block: dict[str, Any]) -> dict[str, Any]:
    """`block` with every text within Slack's limit for its kind (changed in place and returned)."""
    fitter = _FITTERS.get(block.get("type", ""))
    if fitter:
        fitter(block)
    return block


def characters(block: dict[str, Any]) -> int:
    """The characters of every `text` string in a block, as Slack's limit on a message's blocks counts them."""
    total = 0
    stack: list[Any] = [block]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("text"), str):
                total += len(item["text"])
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(item)
    return total


def _omitted(count: int) -> dict[str, Any]:
    noun = "part" if count == 1 else "parts"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{ELLIPSIS} {count} more {noun} not shown"}]}


def fit_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message within Slack's limits: fallback text, 50 blocks, each block's texts, and the blocks' total size."""
    if isinstance(message.get("text"), str):
        message["text"] = truncate(message["text"], MESSAGE_TEXT)
    blocks = [fit_block(block) for block in message.get("blocks", [])]
    sizes = [characters(block) for block in blocks]
    if len(blocks) > MESSAGE_BLOCKS or sum(sizes) > MESSAGE_BLOCK_CHARACTERS:
        # Keep what fits in one block less than the limit, and say in the last one how much was left out.
        kept: list[dict[str, Any]] = []
        budget = MESSAGE_BLOCK_CHARACTERS - 100
        for block, size in zip(blocks, sizes, strict=True):
            if len(kept) == MESSAGE_BLOCKS - 1 or size > budget:
                break
            kept.append(block)
            budget -= size
        blocks = [*kept, _omitted(len(blocks) - len(kept))]
    if "blocks" in message:
        message["blocks"] = blocks
    return message


def _text_fits(obj: Any, limit: int) -> bool:
    return not (isinstance(obj, dict) and isinstance(obj.get("text"), str) and len(obj["text"]) > limit)


def _block_fits(block: dict[str, Any]) -> bool:
    kind = block.get("type")
    if kind == "section" and "accessory" not in block:
        fields = block.get("fields", [])
        return (
            _text_fits(block.get("text"), SECTION_TEXT)
            and len(fields) <= SECTION_FIELDS
            and all(_text_fits(field, SECTION_FIELD) for field in fields)
        )
    if kind == "context":
        elements = block["elements"]
        return len(elements) <= CONTEXT_ELEMENTS and all(_text_fits(e, CONTEXT_TEXT) for e in elements)
    if kind == "header":
        return _text_fits(block.get("text"), HEADER_TEXT)
    return fit_block(copy.deepcopy(block)) == block  # the rarer kinds: whatever fit_block would change


def fits_message(message: dict[str, Any]) -> bool:
    """Whether `message` is within Slack's limits as it is: `fit_message` would leave it unchanged."""
    blocks = message.get("blocks", [])
    return (
        (not isinstance(message.get("text"), str) or len(message["text"]) <= MESSAGE_TEXT)
        and len(blocks) <= MESSAGE_BLOCKS
        and sum(characters(block) for block in blocks) <= MESSAGE_BLOCK_CHARACTERS
        and all(_block_fits(block) for block in blocks)
    )


def fit_view(view: dict[str, Any]) -> dict[str, Any]:
    """A modal within Slack's limits; refuses (LimitError) what cannot be cut: metadata and over-long block lists."""
    for key in ("title", "submit", "close"):
        _text(view.get(key), MODAL_TITLE)
    if len(view.get("private_metadata", "")) > PRIVATE_METADATA:
        raise LimitError(f"private_metadata is over {PRIVATE_METADATA} characters")
    if len(view.get("blocks", [])) > VIEW_BLOCKS:
        # A form that silently lost questions would be worse than no form: fail loudly where it is built.
        raise LimitError(f"a view holds at most {VIEW_BLOCKS} blocks, this one has {len(view['blocks'])}")
    view["blocks"] = [fit_block(block) for block in view.get("blocks", [])]
    return view
