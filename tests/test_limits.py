"""Slack's size limits (bot/slack/limits.py): `truncate` never breaks markup, `fit_message` and `fit_view` keep
every message and view within the numbers in /work/shared/docs/slack-platform.md sections 2 and 3.

The limits are written out here as literals, not imported, so that a wrong constant in the code fails a test.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.limits import ELLIPSIS, LimitError, fit_message, fit_view, truncate
from bot.slack.render import escape_mrkdwn

ENTITY = re.compile(r"&(?:amp|lt|gt);")
LINK = re.compile(r"<https://x\.example\|[^<>|]*>")


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def block_characters(blocks: list[dict[str, Any]]) -> int:
    """Every `text` string anywhere in the blocks, counted the way Slack's aggregate limit is observed."""
    total = 0

    def walk(item: Any) -> None:
        nonlocal total
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "text" and isinstance(value, str):
                    total += len(value)
                else:
                    walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(blocks)
    return total


# --- truncate ----------------------------------------------------------------------------------------------


def our_link(label: str) -> str:
    return f"<https://x.example|{escape_mrkdwn(label).replace('|', '¦')}>"


# Text as the templates produce it: escaped user text with the bot's own links in between.
mrkdwn_text = st.lists(
    st.one_of(
        st.text(max_size=30).map(escape_mrkdwn),
        st.text(alphabet="ab &<>|;", max_size=30).map(escape_mrkdwn),
        st.text(alphabet="ab &<>|;", max_size=12).map(our_link),
    ),
    max_size=8,
).map("".join)


def assert_clean_cut(original: str, limit: int, result: str) -> None:
    assert len(result) <= limit
    if len(original) <= limit:
        assert result == original
        return
    assert result.endswith(ELLIPSIS)
    body = result[: -len(ELLIPSIS)]
    assert original.startswith(body)
    # Every `&` left is a whole escape, and every `<` is closed: nothing half-cut reaches Slack.
    assert "&" not in ENTITY.sub("", body), (original, limit, result)
    assert "<" not in LINK.sub("", body), (original, limit, result)
    assert ">" not in LINK.sub("", body), (original, limit, result)


@settings(max_examples=400, deadline=None)
@given(text=mrkdwn_text, limit=st.integers(2, 250))
def test_truncate_never_splits_an_escape_or_a_link(text: str, limit: int) -> None:
    assert_clean_cut(text, limit, truncate(text, limit))


@settings(max_examples=100, deadline=None)
@given(text=mrkdwn_text, extra=st.integers(0, 50))
def test_truncate_leaves_short_text_alone(text: str, extra: int) -> None:
    assert truncate(text, len(text) + extra) == text


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abc", 3, "abc"),
        ("abcd", 3, "ab…"),
        ("abcd", 2, "a…"),
        ("a &amp; b", 5, "a…"),  # the cut would fall inside `&amp;`
        ("ab&lt;cd", 5, "ab…"),
        ("ab&lt;cd", 7, "ab&lt;…"),  # a whole escape before the cut stays
        ("see <https://x.example|label> now", 10, "see…"),
        ("see <https://x.example|a &amp; b> now", 31, "see…"),
        ("see <https://x.example|label> now", 31, "see <https://x.example|label>…"),
        ("words      then", 10, "words…"),  # trailing spaces before the ellipsis are dropped
    ],
)
def test_truncate_examples(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected


# --- fit_message --------------------------------------------------------------------------------------------


def test_sixty_blocks_become_fifty_with_a_note() -> None:
    blocks = [section(f"block {i}") for i in range(60)]
    message = fit_message({"text": "fallback", "blocks": copy.deepcopy(blocks)})
    assert len(message["blocks"]) == 50
    assert message["blocks"][:49] == blocks[:49]
    note = message["blocks"][-1]
    assert note["type"] == "context"
    assert re.search(r"\b11 more\b", note["elements"][0]["text"])  # 60 - 49 kept
    assert message["text"] == "fallback"


def test_fifty_blocks_are_left_alone() -> None:
    blocks = [section(f"block {i}") for i in range(50)]
    message = {"text": "fallback", "blocks": blocks}
    assert fit_message(copy.deepcopy(message)) == message


def test_long_section_is_cut_to_three_thousand() -> None:
    text = "word " * 1000
    message = fit_message({"text": "t", "blocks": [section(text)]})
    cut = message["blocks"][0]["text"]["text"]
    assert len(cut) <= 3000
    assert cut.endswith(ELLIPSIS)
    assert text.startswith(cut[: -len(ELLIPSIS)])
    assert len(cut) > 2900  # cut near the limit, not emptied


def test_section_fields_are_limited() -> None:
    many = [{"type": "mrkdwn", "text": f"field {i}"} for i in range(12)]
    message = fit_message({"text": "t", "blocks": [{"type": "section", "fields": copy.deepcopy(many)}]})
    assert message["blocks"][0]["fields"] == many[:10]
    long = [{"type": "mrkdwn", "text": "f" * 2500} for _ in range(3)]
    message = fit_message({"text": "t", "blocks": [{"type": "section", "fields": long}]})
    kept = message["blocks"][0]["fields"]
    assert len(kept) == 3
    assert all(len(field["text"]) <= 2000 and field["text"].endswith(ELLIPSIS) for field in kept)


def test_header_is_cut_to_one_hundred_fifty() -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 200}}
    message = fit_message({"text": "t", "blocks": [header]})
    text = message["blocks"][0]["text"]["text"]
    assert len(text) <= 150
    assert text.endswith(ELLIPSIS)


def test_context_and_actions_are_limited() -> None:
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"e{i}"} for i in range(12)]}
    buttons = [
        {"type": "button", "action_id": f"a{i}", "text": {"type": "plain_text", "text": "b" * 100}, "value": "v"}
        for i in range(30)
    ]
    message = fit_message({"text": "t", "blocks": [context, {"type": "actions", "elements": buttons}]})
    assert len(message["blocks"][0]["elements"]) == 10
    actions = message["blocks"][1]["elements"]
    assert len(actions) == 25
    assert all(len(button["text"]["text"]) <= 75 for button in actions)


def test_button_value_over_the_limit_is_refused() -> None:
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "b"}, "value": "v" * 2001}
    with pytest.raises(LimitError):
        fit_message({"text": "t", "blocks": [{"type": "actions", "elements": [button]}]})


def test_blocks_over_twelve_thousand_characters_are_cut_with_a_note() -> None:
    blocks = [section(f"{i}" + "x" * 1999) for i in range(10)]  # 20,000 characters in all
    message = fit_message({"text": "t", "blocks": copy.deepcopy(blocks)})
    assert block_characters(message["blocks"]) <= 12_000
    kept, note = message["blocks"][:-1], message["blocks"][-1]
    assert kept == blocks[: len(kept)]
    assert len(kept) >= 5  # as much as fits is kept
    assert note["type"] == "context"
    assert re.search(rf"\b{10 - len(kept)} more\b", note["elements"][0]["text"])


def test_exactly_twelve_thousand_characters_are_left_alone() -> None:
    blocks = [section("y" * 3000) for _ in range(4)]
    message = {"text": "t", "blocks": blocks}
    assert fit_message(copy.deepcopy(message)) == message


def test_long_fallback_text_is_cut() -> None:
    message = fit_message({"text": "fallback " * 600, "blocks": []})
    assert len(message["text"]) <= 4000
    assert message["text"].endswith(ELLIPSIS)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 3500), max_size=70))
def test_any_message_of_sections_fits(sizes: list[int]) -> None:
    blocks = [section("z" * size) for size in sizes]
    message = fit_message({"text": "t", "blocks": copy.deepcopy(blocks)})
    fitted = message["blocks"]
    assert len(fitted) <= 50
    assert block_characters(fitted) <= 12_000
    assert all(len(block["text"]["text"]) <= 3000 for block in fitted if block["type"] == "section")
    within = len(blocks) <= 50 and sum(min(size, 3000) for size in sizes) <= 12_000
    if within and all(size <= 3000 for size in sizes):
        assert fitted == blocks


# --- fit_view -----------------------------------------------------------------------------------------------


def modal(**overrides: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Title"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": "",
        "blocks": [section("hello")],
    }
    view.update(overrides)
    return view


def test_view_with_one_hundred_and_one_blocks_is_refused() -> None:
    with pytest.raises(LimitError):
        fit_view(modal(blocks=[section(f"b{i}") for i in range(101)]))


def test_view_with_one_hundred_blocks_is_accepted() -> None:
    blocks = [section(f"b{i}") for i in range(100)]
    assert fit_view(modal(blocks=copy.deepcopy(blocks)))["blocks"] == blocks


def test_private_metadata_over_the_limit_is_refused() -> None:
    with pytest.raises(LimitError):
        fit_view(modal(private_metadata="m" * 3001))
    assert fit_view(modal(private_metadata="m" * 3000))["private_metadata"] == "m" * 3000


@pytest.mark.parametrize("key", ["title", "submit", "close"])
def test_modal_titles_are_cut_to_twenty_four(key: str) -> None:
    view = fit_view(modal(**{key: {"type": "plain_text", "text": "t" * 30}}))
    assert len(view[key]["text"]) <= 24
    assert view[key]["text"].endswith(ELLIPSIS)


def test_view_inputs_are_fitted() -> None:
    options = [{"text": {"type": "plain_text", "text": "o" * 100}, "value": "v"}]
    blocks = [
        {
            "type": "input",
            "block_id": "text",
            "label": {"type": "plain_text", "text": "l" * 2100},
            "element": {
                "type": "plain_text_input",
                "action_id": "text",
                "max_length": 300,
                "initial_value": "i" * 400,
                "placeholder": {"type": "plain_text", "text": "p" * 200},
            },
        },
        {
            "type": "input",
            "block_id": "select",
            "label": {"type": "plain_text", "text": "Pick"},
            "element": {"type": "static_select", "action_id": "select", "options": options},
        },
    ]
    view = fit_view(modal(blocks=blocks))
    text, select = view["blocks"]
    assert len(text["label"]["text"]) <= 2000
    assert text["element"]["initial_value"] == "i" * 300
    assert len(text["element"]["placeholder"]["text"]) <= 150
    assert len(select["element"]["options"][0]["text"]["text"]) <= 75
