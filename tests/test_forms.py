"""The decision form: the rendered modal and the parser agree, `parse_form` turns any submitted state into answers
or inline errors (never both, never an exception), and a form prefilled from answers submits back the same answers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot.engine.answers import FACTS, MAX_COUNT, MAX_DAYS, MAX_SMALL_COUNT, Answers, contradictions
from bot.settings import Settings
from bot.slack.forms import (
    FAILURE_CHOICES,
    FREQUENCY_CHOICES,
    NOTES_MAX,
    NOTHING_TRIED,
    TRIED_CHOICES,
    USE_CASE_MAX,
    YES_NO_CHOICES,
    FormMetadata,
    FormResult,
    form_initial,
    parse_form,
)
from bot.slack.ids import BlockId
from bot.slack.render import Renderer
from tests.conftest import fact_values
from tests.slack_support import state_values

METADATA = FormMetadata(team="T0TEAM", channel="C0CHAN", user="U0USER")
REQUIRED = [
    BlockId.USE_CASE,
    BlockId.PRIMARY_FAILURE,
    BlockId.N_STABLE_EXAMPLES,
    BlockId.CHANGE_FREQ_DAYS,
    BlockId.TRIED,
]
BLOCK_IDS = {block.value for block in BlockId}
NUMBER_BLOCKS = [name for name, fact in FACTS.items() if fact.type == "int" and name != "change_freq_days"]
YES_NO_BLOCKS = [name for name, fact in FACTS.items() if fact.type == "bool" and name not in TRIED_CHOICES.values()]
TRIED_FACTS = list(TRIED_CHOICES.values())

VALID = {
    "use_case": "Support-ticket triage",
    "primary_failure": "style",
    "n_stable_examples": "30",
    "change_freq_days": "30",
    "tried": ["prompt"],
}


@functools.cache
def renderer() -> Renderer:
    return Renderer(Settings(_env_file=None).template_dirs)  # type: ignore[call-arg]


def render_form(initial: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return renderer().view("form", metadata=METADATA.dump(), facts=FACTS, initial=dict(initial or {}))


@functools.cache
def _empty_form() -> dict[str, Any]:
    return render_form()


def inputs(view: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The form's input blocks by block id (a duplicate id fails here)."""
    blocks: dict[str, dict[str, Any]] = {}
    for block in view["blocks"]:
        if block["type"] == "input":
            assert block["block_id"] not in blocks, f"duplicate block id {block['block_id']}"
            blocks[block["block_id"]] = block
    return blocks


def option_values(view: Mapping[str, Any], block_id: str) -> list[str]:
    return [option["value"] for option in inputs(view)[block_id]["element"]["options"]]


def submit(answers: Mapping[str, Any], view: Mapping[str, Any] | None = None) -> FormResult:
    """`parse_form` of the state Slack would send for the form filled in with `answers` (by block id)."""
    return checked(parse_form(state_values(view or _empty_form(), answers)))


def checked(result: FormResult) -> FormResult:
    """`result`, after checking that it holds answers or errors, exactly one of them, and well-formed errors."""
    assert (result.answers is None) == bool(result.errors), result
    if result.answers is not None:
        assert isinstance(result.answers, Answers)
    for block, message in result.errors.items():
        assert block in BLOCK_IDS, block
        assert isinstance(message, str)
        assert message.strip()
    return result


def answers_of(**values: Any) -> Answers:
    """The answers VALID gives, with `values` changed."""
    base: dict[str, Any] = {
        "use_case": "Support-ticket triage",
        "primary_failure": "style",
        "n_stable_examples": 30,
        "change_freq_days": 30,
        "tried_prompt_iteration": True,
        "tried_few_shot": False,
        "tried_rag": False,
        "tried_cot": False,
        "tried_dspy": False,
    }
    return Answers.model_validate({**base, **values})


# --- the rendered form and the parser agree -----------------------------------------------------------------


def test_every_block_id_has_one_input_and_every_input_is_a_block_id() -> None:
    blocks = inputs(_empty_form())
    assert set(blocks) == BLOCK_IDS
    for block_id, block in blocks.items():
        # The parser reads values[block_id][block_id]: the action id must be the block id.
        assert block["element"]["action_id"] == block_id


def option_words(element: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(option["value"], option["text"]["text"]) for option in element["options"]]


def test_every_question_hint_placeholder_and_option_of_the_form_is_its_facts() -> None:
    """The form spells no fact's words: each input is its fact's question, with the fact's hint, placeholder and
    options (values and labels, in order), as bot/engine/facts.py defines them; so is each box of the tried group."""
    view = renderer().view("form", metadata=METADATA.dump(), facts=FACTS, initial={}, editing={"number": 2})
    blocks = inputs(view)
    asked = [name for name, fact in FACTS.items() if fact.tried is None]
    assert set(asked) < set(blocks)
    for name in asked:
        fact, block = FACTS[name], blocks[name]
        element = block["element"]
        assert block["label"]["text"] == fact.question, name
        assert block.get("hint", {}).get("text") == fact.hint, name
        if element["type"] in {"number_input", "plain_text_input"}:
            assert element.get("placeholder", {}).get("text") == fact.placeholder, name
        else:
            assert fact.placeholder is None, name
        if fact.options:
            assert option_words(element) == [(str(option.value), option.label) for option in fact.options], name
        elif fact.type == "bool":
            assert option_words(element) == [("yes", "Yes"), ("no", "No"), ("unknown", "Not sure")], name
        else:
            assert "options" not in element, name
    boxes = [(str(fact.tried.value), fact.tried.label) for fact in FACTS.values() if fact.tried is not None]
    assert option_words(blocks[BlockId.TRIED]["element"]) == [*boxes, (NOTHING_TRIED, "Nothing yet")]
    # A new decision's form hints at typing the answers after the command instead.
    assert inputs(_empty_form())[BlockId.USE_CASE]["hint"]["text"].startswith("Tip: type your answers")


def test_failure_options_equal_the_parser_and_the_engine() -> None:
    offered = option_values(_empty_form(), BlockId.PRIMARY_FAILURE)
    assert len(offered) == len(set(offered))
    assert set(offered) == set(FAILURE_CHOICES) == set(FACTS["primary_failure"].choices)


def test_frequency_options_equal_the_parser() -> None:
    offered = option_values(_empty_form(), BlockId.CHANGE_FREQ_DAYS)
    assert len(offered) == len(set(offered))
    assert set(offered) == set(FREQUENCY_CHOICES)
    fact = FACTS["change_freq_days"]
    assert fact.minimum is not None
    assert fact.maximum is not None
    assert all(fact.minimum <= int(value) <= fact.maximum for value in offered)


def test_tried_options_equal_the_parser() -> None:
    element = inputs(_empty_form())[BlockId.TRIED]["element"]
    assert element["type"] == "checkboxes"
    offered = option_values(_empty_form(), BlockId.TRIED)
    assert len(offered) == len(set(offered))
    assert set(offered) == {*TRIED_CHOICES, NOTHING_TRIED}
    assert set(TRIED_CHOICES.values()) == {name for name in FACTS if name.startswith("tried_")}


@pytest.mark.parametrize("block_id", YES_NO_BLOCKS)
def test_yes_no_options_equal_the_parser(block_id: str) -> None:
    element = inputs(_empty_form())[block_id]["element"]
    assert element["type"] in {"radio_buttons", "static_select"}
    offered = option_values(_empty_form(), block_id)
    assert len(offered) == len(set(offered))
    assert set(offered) == set(YES_NO_CHOICES)


def test_yes_no_blocks_are_every_yes_no_fact() -> None:
    assert len(YES_NO_BLOCKS) == 5
    radios = {
        block_id for block_id, block in inputs(_empty_form()).items() if block["element"]["type"] == "radio_buttons"
    }
    assert radios == set(YES_NO_BLOCKS)


@pytest.mark.parametrize("block_id", NUMBER_BLOCKS)
def test_number_inputs_have_the_engine_bounds(block_id: str) -> None:
    element = inputs(_empty_form())[block_id]["element"]
    fact = FACTS[block_id]
    assert element["type"] == "number_input"
    assert element["is_decimal_allowed"] is False
    assert element["min_value"] == str(fact.minimum)
    assert element["max_value"] == str(fact.maximum)


def test_number_inputs_are_exactly_the_count_facts() -> None:
    numbers = {
        block_id for block_id, block in inputs(_empty_form()).items() if block["element"]["type"] == "number_input"
    }
    assert numbers == set(NUMBER_BLOCKS)
    assert len(NUMBER_BLOCKS) == 6


def test_text_inputs_are_as_long_as_the_parser_allows() -> None:
    blocks = inputs(_empty_form())
    assert blocks[BlockId.USE_CASE]["element"]["max_length"] == USE_CASE_MAX
    assert blocks[BlockId.NOTES]["element"]["max_length"] == NOTES_MAX
    assert blocks[BlockId.NOTES]["element"].get("multiline") is True
    assert Answers.model_fields["use_case"].metadata[0].max_length == USE_CASE_MAX
    assert Answers.model_fields["notes"].metadata[0].max_length == NOTES_MAX


def test_required_inputs_are_not_optional_and_come_first() -> None:
    blocks = inputs(_empty_form())
    for block_id, block in blocks.items():
        assert block.get("optional", False) is (block_id not in REQUIRED), block_id
    order = list(blocks)
    assert set(order[: len(REQUIRED)]) == set(REQUIRED)


def test_form_carries_its_metadata() -> None:
    view = _empty_form()
    assert FormMetadata.load(view["private_metadata"]) == METADATA
    assert view["callback_id"] == "decision-form"


# --- parse_form: tables ---------------------------------------------------------------------------------------


def test_minimal_valid_answers() -> None:
    result = submit(VALID)
    assert result.answers == answers_of()
    assert result.errors == {}


@pytest.mark.parametrize(
    ("tried", "ticked"),
    [
        (["prompt"], {"tried_prompt_iteration"}),
        (["nothing"], set()),
        (["few-shot"], {"tried_few_shot"}),
        (["rag", "dspy"], {"tried_rag", "tried_dspy"}),
        (["cot"], {"tried_cot"}),
        (list(TRIED_CHOICES), set(TRIED_CHOICES.values())),
    ],
)
def test_tried_sets_all_five_facts(tried: list[str], ticked: set[str]) -> None:
    result = submit({**VALID, "tried": tried})
    assert result.answers is not None
    assert {fact: getattr(result.answers, fact) for fact in TRIED_FACTS} == {
        fact: fact in ticked for fact in TRIED_FACTS
    }


@pytest.mark.parametrize(
    ("block_id", "given", "expected"),
    [
        ("n_stable_examples", "0", 0),
        ("n_stable_examples", str(MAX_COUNT), MAX_COUNT),
        ("n_stable_examples", "1,200", 1200),
        ("n_stable_examples", "  42  ", 42),
        ("daily_calls", "1,000,000", 1_000_000),
        ("n_tools", "0", 0),
        ("n_tools", str(MAX_SMALL_COUNT), MAX_SMALL_COUNT),
        ("retrain_cadence_days", "1", 1),
        ("retrain_cadence_days", str(MAX_DAYS), MAX_DAYS),
        ("prompt_iterations", "12", 12),
        ("has_eval_set", "yes", True),
        ("has_eval_set", "no", False),
        ("has_eval_set", "unknown", None),
        ("needs_citations", "yes", True),
        ("style_describable", "no", False),
        ("chasing_small_benchmark_gain", "yes", True),
        ("latency_sensitive", "no", False),
        ("use_case", "  Triage\n\tsupport   tickets\r\ninto queues  ", "Triage support tickets into queues"),
        ("use_case", "x" * USE_CASE_MAX, "x" * USE_CASE_MAX),
        ("use_case", "a" + " " * 400 + "b", "a b"),  # measured after collapsing whitespace
        ("notes", "line one\nline two", "line one\nline two"),
        ("notes", "n" * NOTES_MAX, "n" * NOTES_MAX),
        *[("change_freq_days", value, int(value)) for value in FREQUENCY_CHOICES],
        *[("primary_failure", value, value) for value in FAILURE_CHOICES],
    ],
)
def test_valid_values(block_id: str, given: Any, expected: Any) -> None:
    result = submit({**VALID, block_id: given})
    assert result.answers is not None, result.errors
    assert getattr(result.answers, block_id) == expected


def test_unanswered_optional_inputs_stay_unanswered() -> None:
    result = submit(VALID)
    assert result.answers is not None
    unanswered = {name for name, value in result.answers.model_dump().items() if value is None}
    assert unanswered == set(FACTS) - {*VALID, *TRIED_FACTS}


@pytest.mark.parametrize("block_id", REQUIRED)
def test_each_required_input_left_empty_is_an_error_on_it(block_id: str) -> None:
    answers = {key: value for key, value in VALID.items() if key != block_id}
    result = submit(answers)
    assert set(result.errors) == {block_id}


@pytest.mark.parametrize(
    ("block_id", "given"),
    [
        ("use_case", "   "),
        ("use_case", "\n\t"),
        ("tried", []),
        ("n_stable_examples", "  "),
    ],
)
def test_blank_required_inputs_are_errors(block_id: str, given: Any) -> None:
    assert set(submit({**VALID, block_id: given}).errors) == {block_id}


def test_empty_form_names_every_required_input() -> None:
    assert set(submit({}).errors) == set(REQUIRED)


@pytest.mark.parametrize("block_id", NUMBER_BLOCKS)
@pytest.mark.parametrize("given", ["abc", "1.5", "1e3", "-3", "99999999999", "12abc", "0x10", "½", "1 2.0"])
def test_bad_numbers_are_errors_on_their_block(block_id: str, given: str) -> None:
    result = submit({**VALID, block_id: given})
    assert set(result.errors) == {block_id}


def test_number_error_messages_say_what_is_wrong() -> None:
    assert "abc" in submit({**VALID, "n_stable_examples": "abc"}).errors["n_stable_examples"]
    assert "0" in submit({**VALID, "n_stable_examples": "-3"}).errors["n_stable_examples"]
    assert f"{MAX_COUNT:,}" in submit({**VALID, "n_stable_examples": "99999999999"}).errors["n_stable_examples"]


def test_retrain_cadence_of_zero_days_is_an_error() -> None:
    result = submit({**VALID, "retrain_cadence_days": "0"})
    assert set(result.errors) == {"retrain_cadence_days"}
    assert "1" in result.errors["retrain_cadence_days"]


@pytest.mark.parametrize(
    ("block_id", "given"),
    [("use_case", "x" * (USE_CASE_MAX + 1)), ("notes", "n" * (NOTES_MAX + 1))],
)
def test_over_long_text_is_an_error(block_id: str, given: str) -> None:
    result = submit({**VALID, block_id: given})
    assert set(result.errors) == {block_id}


@pytest.mark.parametrize("other", list(TRIED_CHOICES))
def test_nothing_with_another_choice_is_an_error(other: str) -> None:
    assert set(submit({**VALID, "tried": [NOTHING_TRIED, other]}).errors) == {"tried"}


@pytest.mark.parametrize(
    ("block_id", "forged"),
    [
        ("primary_failure", "fine-tune-now"),
        ("primary_failure", "Style"),
        ("change_freq_days", "3"),
        ("change_freq_days", "0"),
        ("has_eval_set", "maybe"),
        ("latency_sensitive", "true"),
        ("tried", ["prompt", "lora"]),
        ("tried", ["Nothing"]),
    ],
)
def test_values_the_form_does_not_offer_are_errors(block_id: str, forged: Any) -> None:
    assert set(submit({**VALID, block_id: forged}).errors) == {block_id}


@pytest.mark.parametrize(
    ("state", "errors"),
    [
        # Wrong shapes count as empty: a required input becomes "please answer", an optional one is ignored.
        ({"n_stable_examples": {"n_stable_examples": {"type": "number_input", "value": 30}}}, {"n_stable_examples"}),
        ({"primary_failure": {"primary_failure": {"selected_option": "style"}}}, {"primary_failure"}),
        ({"primary_failure": {"other_action": {"selected_option": {"value": "style"}}}}, {"primary_failure"}),
        ({"tried": {"tried": {"selected_options": {"value": "prompt"}}}}, {"tried"}),
        ({"tried": {"tried": {"selected_options": [{"value": 1}, "prompt"]}}}, {"tried"}),
        ({"use_case": ["Support-ticket triage"]}, {"use_case"}),
        ({"has_eval_set": {"has_eval_set": {"selected_option": {"value": True}}}}, set()),
        ({"notes": {"notes": {"value": ["a", "b"]}}}, set()),
    ],
)
def test_malformed_state_counts_as_empty(state: dict[str, Any], errors: set[str]) -> None:
    values = {**state_values(_empty_form(), VALID)}
    values.update(state)
    assert set(checked(parse_form(values)).errors) == errors


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"tried": ["rag"], "prompt_iterations": "5"}, {"prompt_iterations"}),
        ({"tried": ["nothing"], "prompt_iterations": "1"}, {"prompt_iterations"}),
        ({"tried": ["rag"], "prompt_iterations": "0", "prompt_authors": "2"}, {"prompt_authors"}),
        ({"prompt_iterations": "3", "prompt_authors": "5"}, {"prompt_authors"}),
        # Each contradiction is refused both ways round.
        ({"prompt_iterations": "0"}, {"prompt_iterations"}),
        ({"prompt_iterations": "10", "prompt_authors": "0"}, {"prompt_authors"}),
        ({"tried": ["rag"], "prompt_authors": "2"}, {"prompt_authors"}),
        ({"primary_failure": "tool-shape", "n_tools": "0"}, {"n_tools"}),
        ({"primary_failure": "tool-shape", "n_tools": "1"}, set()),
        ({"tried": ["rag"], "prompt_iterations": "5", "prompt_authors": "9"}, {"prompt_iterations", "prompt_authors"}),
        # Consistent combinations are accepted.
        ({"tried": ["rag"], "prompt_iterations": "0"}, set()),
        ({"tried": ["nothing"], "prompt_iterations": "0", "prompt_authors": "0"}, set()),
        ({"prompt_iterations": "3", "prompt_authors": "3"}, set()),
        ({"prompt_iterations": "3", "prompt_authors": "1"}, set()),
        ({"prompt_authors": "2"}, set()),
        ({"tried": ["rag"], "prompt_iterations": "0", "prompt_authors": "0"}, set()),
    ],
)
def test_contradictions(changes: dict[str, Any], errors: set[str]) -> None:
    result = submit({**VALID, **changes})
    assert set(result.errors) == errors
    if not errors:
        assert result.answers is not None
        for block_id in ("prompt_iterations", "prompt_authors"):
            expected = int(changes[block_id]) if block_id in changes else None
            assert getattr(result.answers, block_id) == expected


def test_every_problem_is_reported_at_once() -> None:
    result = submit(
        {"use_case": "x" * 400, "primary_failure": "nope", "n_stable_examples": "-1", "tried": ["nothing", "rag"]}
    )
    assert set(result.errors) == {"use_case", "primary_failure", "n_stable_examples", "change_freq_days", "tried"}


@pytest.mark.parametrize("block_id", ["n_stable_examples", "daily_calls"])
def test_a_huge_forged_number_is_an_error_not_an_exception(block_id: str) -> None:
    result = submit({**VALID, block_id: "9" * 5000})
    assert set(result.errors) == {block_id}


@pytest.mark.parametrize("word", ["n/a", "?", "-", "none", "Unknown"])
def test_a_use_case_that_means_unanswered_is_an_error(word: str) -> None:
    result = submit({**VALID, "use_case": word})
    assert set(result.errors) == {"use_case"}


# --- parse_form: properties -------------------------------------------------------------------------------------

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)

OFFERED = [*FAILURE_CHOICES, *FREQUENCY_CHOICES, *TRIED_CHOICES, NOTHING_TRIED, *YES_NO_CHOICES]
small_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=4,
)
text_leaf = st.one_of(
    st.sampled_from(OFFERED),
    st.integers(-(10**12), 10**12).map(str),
    st.from_regex(r"\A[ +\-]?[0-9][0-9,_ ]{0,14}\Z"),
    st.text(max_size=30),
    st.text(alphabet="x \n", min_size=290, max_size=320),
)
leaf = text_leaf | small_json
option = st.fixed_dictionaries({"value": leaf}) | small_json
action = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["plain_text_input", "number_input", "static_select", "checkboxes"]),
        "value": leaf,
        "selected_option": option,
        "selected_options": st.lists(option, max_size=4) | small_json,
    },
)
block_key = st.sampled_from(sorted(BLOCK_IDS)) | st.text(max_size=6)
state_shaped = st.dictionaries(
    block_key,
    st.dictionaries(block_key, action | small_json, max_size=2) | small_json,
    max_size=len(BLOCK_IDS),
)


def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` seven times in eight, else `other`."""
    return st.tuples(st.integers(0, 7), valid, other).map(lambda drawn: drawn[2] if drawn[0] == 0 else drawn[1])


@settings(max_examples=150, deadline=None)
@given(values=json_like)
def test_parse_form_never_raises_on_any_json(values: Any) -> None:
    checked(parse_form(values))


@settings(max_examples=200, deadline=None)
@given(values=state_shaped, corrupt_a_valid_state=st.booleans())
def test_parse_form_never_raises_on_state_shaped_input(values: dict[str, Any], corrupt_a_valid_state: bool) -> None:
    if corrupt_a_valid_state:
        values = {**state_values(_empty_form(), VALID), **values}
    checked(parse_form(values))


def _likely_valid(block_id: str) -> st.SearchStrategy[Any]:
    """Mostly values the form offers or accepts for `block_id`, sometimes anything a forged payload could hold."""
    if block_id == BlockId.TRIED:
        ticked = st.lists(st.sampled_from(list(TRIED_CHOICES)), min_size=1, max_size=5, unique=True)
        anything = st.lists(st.sampled_from([*TRIED_CHOICES, NOTHING_TRIED]) | text_leaf, max_size=4)
        return mostly(ticked | st.just([NOTHING_TRIED]), anything)
    if block_id in NUMBER_BLOCKS:
        fact = FACTS[block_id]
        valid = st.integers(fact.minimum or 0, fact.maximum or MAX_COUNT).map(str)
        return mostly(valid | st.sampled_from(["0", "1", "2", "3", "1,000"]), text_leaf)
    choices = {
        "primary_failure": FAILURE_CHOICES,
        "change_freq_days": FREQUENCY_CHOICES,
        **{name: tuple(YES_NO_CHOICES) for name in YES_NO_BLOCKS},
    }.get(block_id)
    if choices is not None:
        return mostly(st.sampled_from(choices), text_leaf)
    return mostly(st.text(max_size=30), text_leaf)


# The control characters the form drops from typed text (all but tab and newline).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@settings(max_examples=200, deadline=None)
@given(
    values=st.fixed_dictionaries(
        {block: _likely_valid(block) for block in REQUIRED},
        optional={block: _likely_valid(block) for block in sorted(BLOCK_IDS - set(REQUIRED))},
    )
)
@example(  # a number input holding only a control character: dropped, so left blank
    values={
        BlockId.USE_CASE: "missing-knowledge",
        BlockId.PRIMARY_FAILURE: "missing-knowledge",
        BlockId.N_STABLE_EXAMPLES: "1",
        BlockId.CHANGE_FREQ_DAYS: "1",
        BlockId.TRIED: ["prompt"],
        BlockId.RETRAIN_CADENCE_DAYS: "\x08",
    }
)
def test_parse_form_of_random_answers_in_the_real_form(values: dict[str, Any]) -> None:
    result = submit(values)
    # An optional input left blank is never an error; only what was filled in, or a required input, can be. Control
    # characters are dropped from typed text (they only garble messages), so an input of nothing else is blank.
    kinds = {block_id: block["element"]["type"] for block_id, block in inputs(_empty_form()).items()}
    filled = {
        block
        for block, value in values.items()
        if (
            _CONTROLS.sub("", value).strip()
            if kinds[block] in {"plain_text_input", "number_input"}
            else value not in (None, [])
        )
    }
    assert set(result.errors) <= filled | set(REQUIRED)
    if result.answers is not None:
        for block in NUMBER_BLOCKS:
            assert (getattr(result.answers, block) is None) == (block not in filled)


# --- FormMetadata -------------------------------------------------------------------------------------------

slack_ids = st.from_regex(r"\A[A-Z0-9]{1,40}\Z")


@settings(max_examples=100, deadline=None)
@given(team=slack_ids, channel=slack_ids, user=slack_ids)
def test_metadata_round_trip(team: str, channel: str, user: str) -> None:
    metadata = FormMetadata(team=team, channel=channel, user=user)
    dumped = metadata.dump()
    assert len(dumped) <= 3000  # private_metadata limit
    assert FormMetadata.load(dumped) == metadata


@pytest.mark.parametrize(
    "raw",
    [
        None,
        42,
        b'{"team":"T1","channel":"C1","user":"U1"}',
        {"team": "T1", "channel": "C1", "user": "U1"},
        "",
        "not json",
        "[]",
        "{}",
        "null",
        '{"team":"T1","channel":"C1"}',
        '{"team":"T1","channel":"C1","user":"U1","admin":true}',
        '{"team":"T1","channel":"c1","user":"U1"}',
        '{"team":"T1","channel":"C1}:x","user":"U1"}',
        '{"team":"T1","channel":"C1","user":"<@U1>"}',
        '{"team":"T1","channel":"C1\\n","user":"U1"}',
        '{"team":"T1","channel":"","user":"U1"}',
        '{"team":"T1","channel":"' + "C" * 41 + '","user":"U1"}',
        '{"team":1,"channel":"C1","user":"U1"}',
        '{"team":"T1","channel":["C1"],"user":"U1"}',
        '{"team":"T1","channel":"C1","user":null}',
        '{"team":"T1","channel":"C\u0661","user":"U1"}',  # an Arabic-Indic digit
    ],
)
def test_metadata_load_refuses_anything_else(raw: object) -> None:
    assert FormMetadata.load(raw) is None


# --- form_initial: the edit flow prefills exactly --------------------------------------------------------------

# Text as a person types it: the form drops control characters (tests below), so the round trip leaves them out.
short_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=40)


@st.composite
def form_answers(draw: st.DrawFn) -> Answers:
    """Answers the form itself can produce: the required ones answered, all five `tried_*` known, consistent."""
    values: dict[str, Any] = {
        "use_case": draw(short_text),
        "primary_failure": draw(st.sampled_from(FAILURE_CHOICES)),
        "n_stable_examples": draw(fact_values("n_stable_examples")),
        "change_freq_days": int(draw(st.sampled_from(FREQUENCY_CHOICES))),
        **{fact: draw(st.booleans()) for fact in TRIED_FACTS},
    }
    optional = [name for name in FACTS if name not in values and name not in {"use_case", "notes"}]
    for name in optional:
        if draw(st.booleans()):
            values[name] = draw(fact_values(name))
    if draw(st.booleans()):
        values["notes"] = draw(short_text)
    while found := contradictions(values):  # leave out the answers that contradict others
        for fact, _ in found:
            values.pop(fact, None)
    answers = Answers.model_validate(values)
    assume(answers.use_case is not None and answers.use_case == " ".join(answers.use_case.split()))
    return answers


def prefilled(view: Mapping[str, Any]) -> dict[str, Any]:
    """What the form shows before anyone touches it, by block id, in the shape `state_values` takes."""
    shown: dict[str, Any] = {}
    for block_id, block in inputs(view).items():
        element = block["element"]
        if "initial_value" in element:
            shown[block_id] = element["initial_value"]
        if "initial_option" in element:
            assert element["initial_option"] in element["options"]  # Slack requires an exact copy of an option
            shown[block_id] = element["initial_option"]["value"]
        if "initial_options" in element:
            assert all(option in element["options"] for option in element["initial_options"])
            shown[block_id] = [option["value"] for option in element["initial_options"]]
    return shown


@settings(max_examples=120, deadline=None)
@given(answers=form_answers())
def test_form_prefilled_from_answers_submits_the_same_answers(answers: Answers) -> None:
    view = render_form(form_initial(answers))
    result = submit(prefilled(view), view)
    assert result.errors == {}
    assert result.answers == answers


@settings(max_examples=60, deadline=None)
@given(answers=form_answers())
def test_form_from_parsed_answers_is_a_fixed_point(answers: Answers) -> None:
    # Answers as the parser returns them, prefilled again: the form shows the same values the second time.
    first = render_form(form_initial(answers))
    parsed = submit(prefilled(first), first).answers
    assert parsed is not None
    second = render_form(form_initial(parsed))
    assert prefilled(second) == prefilled(first)


def test_prefill_shows_every_answer() -> None:
    answers = answers_of(
        prompt_iterations=4,
        prompt_authors=2,
        has_eval_set=True,
        needs_citations=False,
        n_tools=3,
        daily_calls=1200,
        retrain_cadence_days=30,
        notes="Reviewed by legal",
        tried_rag=True,
    )
    assert prefilled(render_form(form_initial(answers))) == {
        "use_case": "Support-ticket triage",
        "primary_failure": "style",
        "n_stable_examples": "30",
        "change_freq_days": "30",
        "tried": ["prompt", "rag"],
        "prompt_iterations": "4",
        "prompt_authors": "2",
        "has_eval_set": "yes",
        "needs_citations": "no",
        "n_tools": "3",
        "daily_calls": "1200",
        "retrain_cadence_days": "30",
        "notes": "Reviewed by legal",
    }


def test_prefill_of_nothing_tried() -> None:
    answers = answers_of(tried_prompt_iteration=False)
    assert prefilled(render_form(form_initial(answers)))["tried"] == [NOTHING_TRIED]


def test_prefill_leaves_a_frequency_the_form_does_not_offer_unchosen() -> None:
    view = render_form(form_initial(answers_of(change_freq_days=3)))
    assert "change_freq_days" not in prefilled(view)
    assert set(submit(prefilled(view), view).errors) == {"change_freq_days"}


def test_prefill_of_a_use_case_from_the_command() -> None:
    initial = form_initial(use_case="  triage\n support\ttickets ")
    assert initial == {"use_case": "triage support tickets"}
    assert prefilled(render_form(initial)) == {"use_case": "triage support tickets"}
    long = form_initial(use_case="y" * 1000)
    assert long["use_case"] == "y" * USE_CASE_MAX
    assert form_initial() == {}


def test_control_characters_are_dropped_from_typed_text() -> None:
    result = submit({**VALID, "use_case": "Ticket\x00 triage\x1b[31m", "notes": "line one\nline\ttwo\x07"})
    assert result.answers is not None
    assert result.answers.use_case == "Ticket triage[31m"
    assert result.answers.notes == "line one\nline\ttwo"
