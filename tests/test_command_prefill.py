"""The slash command's text fills in the form: `/should-finetune support ticket triage: 120 examples, ...` opens the
form with the use case and every answer it names prefilled, and a context line saying what was taken and what was
not. Facts are read by the thread's reader (`read_facts`); the example phrasings the bot shows are checked here too.

Through Slack: signed slash commands to the served bot, the fake Slack recording views.open, real Redis. The split
into use case and facts, and the contradiction handling, are also tested on their own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.answers import FACTS, contradictions
from bot.followups.examples import EXAMPLES
from bot.followups.parser import Intent, parse_followup, read_facts
from bot.slack.forms import USE_CASE_MAX, FormMetadata, form_initial
from bot.slack.ids import COMMAND
from bot.slack.limits import CONTEXT_TEXT, VIEW_BLOCKS
from bot.slack.prefill import as_typed, command_prefill, separator_colons, split_command
from tests.fakeslack import Call
from tests.render_support import check_view
from tests.security_support import raw_markup
from tests.slack_support import CHANNEL, TEAM, USER, BotClient
from tests.test_forms import REQUIRED, inputs, prefilled, render_form, renderer, submit

# The issue's example: it gives all five required answers.
TRIAGE = (
    "support ticket triage: 120 examples, mostly format problems, requirements change monthly, "
    "we tried prompt iteration and DSPy"
)
PINGS = "<!channel> <!here> <@UEVIL0001> <!subteam^SEVIL0001|@admins> <https://evil.example/login|docs>"


def opened(bot: BotClient, text: str) -> dict[str, Any]:
    """The form `/should-finetune text` opens (the command's HTTP answer is an empty 200)."""
    reply = bot.command(text)
    assert reply.status == 200
    assert reply.body == b""
    return bot.opened_view()


def context_lines(view: Mapping[str, Any]) -> list[str]:
    """The texts of the context block at the top of the form (none: no context block)."""
    first = view["blocks"][0]
    if first["type"] != "context":
        assert all(block["type"] != "context" for block in view["blocks"])
        return []
    assert all(element["type"] == "mrkdwn" and element.get("verbatim") is True for element in first["elements"])
    return [element["text"] for element in first["elements"]]


def todays_form(text: str) -> dict[str, Any]:
    """The form the command opened before it read answers: only the use case prefilled, from the whole text."""
    metadata = FormMetadata(team=TEAM, channel=CHANNEL, user=USER).dump()
    return renderer().view("form", metadata=metadata, facts=FACTS, initial=form_initial(use_case=text))


# --- through Slack ---------------------------------------------------------------------------------------------------


def test_the_issues_example_opens_the_form_filled_in(bot: BotClient) -> None:
    view = opened(bot, TRIAGE)
    blocks = inputs(view)
    assert blocks["use_case"]["element"]["initial_value"] == "support ticket triage"
    assert blocks["n_stable_examples"]["element"]["initial_value"] == "120"
    assert blocks["primary_failure"]["element"]["initial_option"]["value"] == "format"
    assert blocks["change_freq_days"]["element"]["initial_option"]["value"] == "30"
    assert [o["value"] for o in blocks["tried"]["element"]["initial_options"]] == ["prompt", "dspy"]
    assert prefilled(view) == {
        "use_case": "support ticket triage",
        "n_stable_examples": "120",
        "primary_failure": "format",
        "change_freq_days": "30",
        "tried": ["prompt", "dspy"],
    }
    (line,) = context_lines(view)
    assert line == (
        "*From your command:* 120 stable examples, failing: output format, requirements change monthly, "
        "tried prompt iteration and DSPy."
    )
    assert "n_stable_examples" not in line  # people's words, not field names

    # The form as it opened is a complete answer: submitted untouched, it decides.
    assert bot.submit(prefilled(view)).status == 200
    verdict, _ = bot.fake.wait_for("chat.postMessage", 2)
    assert "support ticket triage" in verdict.args["text"]
    decision = bot.services.store.decision_for_message(
        workspace=TEAM, channel=CHANNEL, ts=str(verdict.response["ts"] if verdict.response else "")
    )
    assert decision is not None
    answers = decision.latest.answers
    assert answers["n_stable_examples"] == 120
    assert answers["primary_failure"] == "format"
    assert answers["change_freq_days"] == 30
    assert answers["tried_prompt_iteration"] is True
    assert answers["tried_dspy"] is True
    assert answers["tried_rag"] is False  # unticked, as the form always records it


@pytest.mark.parametrize(
    "text",
    ["Support-ticket triage", "history summariser", "invoice field extraction", "code review bot", "", "  "],
)
def test_a_command_naming_no_fact_opens_exactly_todays_form(bot: BotClient, text: str) -> None:
    view = opened(bot, text)
    assert context_lines(view) == []
    expected = todays_form(text)
    assert view["blocks"] == expected["blocks"]
    assert prefilled(view) == ({"use_case": text} if text.strip() else {})


@pytest.mark.parametrize("text", ["RAG chatbot for HR docs", "JSON payload extraction", "citation finder"])
def test_a_use_case_the_reader_takes_for_an_answer_keeps_its_words(bot: BotClient, text: str) -> None:
    # One clause in which the reader may find an answer ("RAG" as tried RAG): the words stay the use case, and
    # whatever was read is said at the top, so the person sees it and can undo it.
    view = opened(bot, text)
    assert inputs(view)["use_case"]["element"]["initial_value"] == text
    assert bool(context_lines(view)) is bool(read_facts(text).changes)
    if read_facts(text).changes:
        assert context_lines(view)[0].startswith("*From your command:* ")


def test_an_unreadable_fact_is_named_and_nothing_is_guessed(bot: BotClient) -> None:
    view = opened(bot, "we have loads of examples")
    # Nothing names no fact, so the text stays the use case, as it always was; no count is guessed.
    assert prefilled(view) == {"use_case": "we have loads of examples"}
    (line,) = context_lines(view)
    assert line == "I could not read *Stable examples* in “we have loads of examples”: the form asks for it below."


def test_an_unreadable_fact_beside_readable_ones(bot: BotClient) -> None:
    view = opened(bot, "Contract review: 40 examples, lots of tools, we love pizza")
    assert prefilled(view) == {"use_case": "Contract review", "n_stable_examples": "40"}
    taken, unread, left_out = context_lines(view)
    assert taken == "*From your command:* 40 stable examples."
    assert unread == "I could not read *Tools* in “lots of tools”: the form asks for it below."
    assert left_out == "I left out “we love pizza”: I could not tell which answer it gives."


def test_a_contradiction_is_not_prefilled_and_is_named(bot: BotClient) -> None:
    text = "Triage: 120 examples, we haven't iterated on the prompt, 12 prompt iterations"
    assert read_facts(text.partition(":")[2]).changes == {
        "n_stable_examples": 120,
        "tried_prompt_iteration": False,
        "prompt_iterations": 12,
    }
    view = opened(bot, text)
    # Neither side of the contradiction is filled in (which one is wrong is not known); the rest is.
    assert prefilled(view) == {"use_case": "Triage", "n_stable_examples": "120"}
    lines = context_lines(view)
    assert lines[0] == "*From your command:* 120 stable examples."
    assert lines[1] == (
        "I did not fill in answers that do not fit together. "
        "You say nobody iterated on the prompt but count 12 iterations: fix one of them."
    )


def test_a_period_the_form_does_not_offer_is_named(bot: BotClient) -> None:
    view = opened(bot, "Triage: 30 examples, requirements change every 10 days")
    assert prefilled(view) == {"use_case": "Triage", "n_stable_examples": "30"}
    assert context_lines(view)[1] == (
        "The form has no choice for *Requirements change* every 10 days: pick the nearest below."
    )


@pytest.mark.parametrize(
    "text",
    [
        f"{PINGS}: 120 examples, lots of tools {PINGS}",
        f"Triage {PINGS}, 120 examples, {PINGS} we love pizza",
        f"triage: 120 examples, {'lots of tools & <!here> ' * 20}",
        "triage: " + ", ".join(f"{PINGS} {n}" for n in range(12)) + ", 40 examples",
        "triage: 120 examples, " + "x" * 3000,  # past what the reader reads: the whole text is the use case
        "x" * 3000,
        "tri\x00age\x1b[31m: 12\x0700 examples, requirements\x08 change monthly",
        "\u202etriage\u200b: 120 examples\ufeff, <@U0ASKER|me> tried DSPy",
        ": 120 examples",
        ":::",
        "<!channel>: <!here>",
    ],
)
def test_hostile_command_text_is_escaped_and_the_form_opens(bot: BotClient, text: str) -> None:
    view = opened(bot, text)
    calls = bot.fake.calls("views.open")
    assert raw_markup(calls) == []
    assert len(view["blocks"]) <= VIEW_BLOCKS
    for line in context_lines(view):
        assert len(line) <= CONTEXT_TEXT
        assert "<!" not in line
        assert "<@" not in line
        assert "<https" not in line
    if "lots of tools" in text and "x" * 3000 not in text:
        # Slack's markup is read as the person saw it (bot.text.readable): "@here", as text, pinging nobody.
        assert any("@here" in line for line in context_lines(view))
    use_case = inputs(view)["use_case"]["element"].get("initial_value", "")
    assert len(use_case) <= USE_CASE_MAX


@pytest.mark.parametrize(
    "text",
    [
        TRIAGE,
        f"{PINGS}: 120 examples, lots of tools {PINGS}, we love {PINGS}, 3 prompt authors, 2 prompt iterations",
        "t: " + ", ".join(f"lots of {fact.replace('_', ' ')}" for fact in FACTS) + ", requirements change every 9 days",
        "t: " + ", ".join(["&" * 80] * 6) + ", 40 examples",
    ],
)
def test_the_prefilled_form_is_a_valid_slack_view(text: str) -> None:
    prefill = command_prefill(text)
    metadata = FormMetadata(team="T" * 40, channel="C" * 40, user="U" * 40).dump()
    view = renderer().view("form", metadata=metadata, facts=FACTS, initial=prefill.initial, command=prefill.note)
    check_view(view)
    assert context_lines(view)
    assert raw_markup([Call("views.open", {"view": view}, {}, None, 0.0, 200, None)]) == []


def test_sub_commands_are_unchanged(bot: BotClient) -> None:
    body = bot.command("help").json()
    assert body["response_type"] == "ephemeral"
    assert "/should-finetune [use case]" in body["text"]
    assert EXAMPLES.command.text in body["text"]  # the usage shows what command text can say
    assert bot.command("history").body == b""
    assert bot.command("--verbose 120 examples").json()["response_type"] == "ephemeral"
    assert bot.command("digest preview").body == b""
    assert bot.fake.calls("views.open") == []


# --- the use case and the facts, unit by unit ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "use_case", "changes"),
    [
        # A colon: the part before it, when it names no fact, is the use case, as typed.
        ("Support Ticket Triage: 120 examples", "Support Ticket Triage", {"n_stable_examples": 120}),
        ("  triage \n tickets  : 40 examples", "triage tickets", {"n_stable_examples": 40}),
        ("Project X: ticket triage, 40 examples", "Project X", {"n_stable_examples": 40}),
        # The part before the colon names a fact: the use case is what names none, anywhere.
        ("120 examples: ticket triage", "ticket triage", {"n_stable_examples": 120}),
        ("use case: Triage, 120 examples", "Triage", {"n_stable_examples": 120}),
        # No colon: the clauses naming no fact, as typed (letters, markup and punctuation between them).
        ("Triage tickets with 120 examples", "Triage tickets", {"n_stable_examples": 120}),
        ("Triage, for ACME; we have 40 examples", "Triage, for ACME", {"n_stable_examples": 40}),
        ("Summarise https://example.com/docs pages, 12 examples", "Summarise https://example.com/docs pages",
         {"n_stable_examples": 12}),
        ("Ask <@U123> about <https://x.example|it>, 12 examples", "Ask <@U123> about <https://x.example|it>",
         {"n_stable_examples": 12}),
        ("Standup notes at 9:30, 40 examples", "Standup notes at 9:30", {"n_stable_examples": 40}),
        ("Triage, 12 examples, for ACME", "Triage, for ACME", {"n_stable_examples": 12}),
        # Every clause names a fact: the whole text stays the use case, as it always was.
        ("120 examples, format problems", "120 examples, format problems",
         {"n_stable_examples": 120, "primary_failure": "format"}),
        ("we have loads of examples", "we have loads of examples", {}),
        # No fact at all: the whole text, untouched.
        ("Support-ticket triage", "Support-ticket triage", {}),
        ("  Triage:  tickets\t", "  Triage:  tickets\t", {}),
        ("use case: triage", "use case: triage", {}),
        ("", "", {}),
    ],
)  # fmt: skip
def test_use_case_split(text: str, use_case: str, changes: dict[str, Any]) -> None:
    split = split_command(text)
    assert split.use_case == use_case
    assert split.reading.changes == changes


def test_what_names_no_fact_after_the_colon_is_left_out_and_said() -> None:
    split = split_command("Triage: 40 examples, we love Pizza, for ACME")
    assert split.use_case == "Triage"
    assert split.left_out == ("we love Pizza, for ACME",)


@pytest.mark.parametrize(
    ("text", "colons"),
    [
        ("a: b", [1]),
        ("a:b: c", [1, 3]),
        ("at 9:30: b", [7]),
        ("see https://x.example: b", [21]),
        ("<https://x.example|a:b>: c", [23]),
        ("<@U1>: c", [5]),
        ("no colon", []),
        (":", [0]),
    ],
)
def test_separator_colons(text: str, colons: list[int]) -> None:
    assert separator_colons(text) == colons


def test_as_typed_finds_quoted_clauses_in_the_typed_text() -> None:
    text = "Ask  <@U1|bob> about IT, then “Lots” of tools"
    assert as_typed(("ask <mention> about it",), text) == ["Ask <@U1|bob> about IT"]
    assert as_typed(("something else",), text) == ["something else"]  # not found: as quoted
    assert as_typed(("ask <mention> about it", "then"), text) == ["Ask <@U1|bob> about IT, then"]
    assert as_typed(("ask <mention…",), text) == ["ask <mention…"]
    assert as_typed(("ask",), text) == ["Ask"]
    assert as_typed(("ask…",), text) == ["Ask…"]


def test_a_command_naming_no_fact_prefills_as_before() -> None:
    for text in ("Support-ticket triage", "y" * 1000, "", "a\nb\tc"):
        prefill = command_prefill(text)
        assert prefill.initial == form_initial(use_case=text)
        assert prefill.note is None


def test_the_use_case_keeps_the_forms_length_limit() -> None:
    prefill = command_prefill("t" * 500 + ": 120 examples")
    assert prefill.initial["use_case"] == "t" * USE_CASE_MAX
    assert prefill.initial["n_stable_examples"] == "120"


@pytest.mark.parametrize(
    ("text", "kept", "left_out"),
    [
        ("t: 3 prompt authors, 2 prompt iterations, 40 examples", {"n_stable_examples": 40},
         {"prompt_authors", "prompt_iterations"}),
        ("t: tool calls are the problem, the model has 0 tools, 40 examples", {"n_stable_examples": 40},
         {"primary_failure", "n_tools"}),
        ("t: we iterated on the prompt, 0 prompt iterations, we tried rag",
         {"tried_rag": True}, {"tried_prompt_iteration", "prompt_iterations"}),
        ("t: 3 prompt authors, 5 prompt iterations", {"prompt_authors": 3, "prompt_iterations": 5}, set()),
    ],
)  # fmt: skip
def test_contradicting_facts_are_left_out_both_sides(text: str, kept: dict[str, Any], left_out: set[str]) -> None:
    read = split_command(text).reading.changes
    assert set(read) == set(kept) | left_out, read
    prefill = command_prefill(text)
    assert prefill.answers.known() == kept
    assert prefill.note is not None
    assert bool(prefill.note["conflicts"]) == bool(left_out)
    assert contradictions(prefill.answers.known()) == []


def test_a_count_that_the_ticked_boxes_contradict_is_not_prefilled() -> None:
    # Prefilled, "tried DSPy" ticks one box; the form reads the unticked prompt iteration as not tried, which
    # 3 prompt authors contradict. The boxes stay as read; the count is left out and named.
    text = "t: we tried DSPy, 3 prompt authors, 40 examples"
    assert split_command(text).reading.changes == {"tried_dspy": True, "prompt_authors": 3, "n_stable_examples": 40}
    prefill = command_prefill(text)
    assert prefill.answers.known() == {"tried_dspy": True, "n_stable_examples": 40}
    assert prefill.note is not None
    assert prefill.note["unticked"] == ["You say nobody iterated on the prompt but count 3 authors: fix one of them."]
    view = renderer().view("form", metadata="{}", facts=FACTS, initial=prefill.initial, command=prefill.note)
    assert "(a box left unticked means not tried)" in context_lines(view)[1]
    assert set(submit(prefilled(view), view).errors) == {"primary_failure", "change_freq_days"}


def test_tried_read_as_not_tried_is_unticked_and_unmentioned_is_left_as_today() -> None:
    assert command_prefill("t: 40 examples, we tried RAG but not DSPy").initial["tried"] == ["rag"]
    assert command_prefill("t: 40 examples, we haven't tried DSPy").initial["tried"] == []
    assert "tried" not in prefilled(render_form(command_prefill("t: 40 examples").initial))


def test_the_context_line_names_each_kind_once_and_fits() -> None:
    text = "t: " + ", ".join(["lots of examples", "lots of tools", "lots of calls a day", "we love <!here>"] * 3)
    prefill = command_prefill(text)
    view = renderer().view("form", metadata="{}", facts=FACTS, initial=prefill.initial, command=prefill.note)
    lines = context_lines(view)
    assert lines[0].startswith("I could not read *Stable examples* in “lots of examples”; *Tools* in “lots of tools”")
    assert "&lt;!here&gt;" in lines[1]
    assert all(len(line) <= CONTEXT_TEXT for line in lines)


# Phrases the reader knows, and noise around them, in any order: what a person might type after the command.
_PIECES = st.sampled_from(
    [
        "120 examples", "lots of examples", "format problems", "requirements change monthly", "every 10 days",
        "we tried DSPy", "we haven't tried rag", "3 prompt authors", "2 prompt iterations", "0 tools", "tool calls",
        "we iterated on the prompt", "no eval set", "latency matters", "triage", "for ACME", "<!channel>", "&", ":",
        "https://x.example/a", "\x00", "ticket triage", "100k calls a day", "retrain weekly",
    ]
)  # fmt: skip
_JOINS = st.sampled_from([", ", ": ", " and ", " ", "; ", "\n"])


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(st.tuples(_PIECES | st.text(max_size=12), _JOINS), max_size=10))
def test_any_command_text_gives_a_form_whose_prefilled_answers_submit(pieces: list[tuple[str, str]]) -> None:
    text = "".join(piece + join for piece, join in pieces)
    prefill = command_prefill(text)
    view = renderer().view("form", metadata="{}", facts=FACTS, initial=prefill.initial, command=prefill.note)
    assert len(view["blocks"]) <= VIEW_BLOCKS
    shown = prefilled(view)
    # What the form shows is accepted as it is: only the required answers it does not show (or a use case as the
    # person typed it) can be an error.
    errors = submit(shown, view).errors
    assert set(errors) <= (set(REQUIRED) - set(shown)) | {"use_case"}, (text, errors)
    assert contradictions(prefill.answers.known()) == []


# --- the example phrasings the bot shows ------------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES.what_ifs, ids=lambda e: e.text)
def test_each_what_if_example_reads_as_intended(example: Any) -> None:
    followup = parse_followup(example.text)
    assert followup.intent == Intent.WHAT_IF
    assert followup.changes == dict(example.changes)
    assert followup.unreadable == ()
    assert followup.unrecognised == ()
    assert len(example.changes) >= 2  # each shows that several answers go in one question


def test_the_command_example_reads_as_intended() -> None:
    example = EXAMPLES.command
    split = split_command(example.text)
    assert split.use_case == example.use_case
    assert split.reading.changes == dict(example.changes)
    assert split.reading.unreadable == ()
    assert split.left_out == ()
    assert read_facts(example.text.partition(":")[2]).changes == dict(example.changes)
    prefill = command_prefill(example.text)
    assert prefill.note is not None
    assert prefill.note["conflicts"] == []
    assert {item["fact"] for item in prefill.note["taken"]} == set(example.changes)


def test_help_in_a_thread_and_the_forms_hint_show_the_examples() -> None:
    help_text = json.dumps(renderer().message("followup", kind="help"))
    for example in EXAMPLES.what_ifs:
        assert f"`{example.text}`" in help_text
    assert f"`{COMMAND} {EXAMPLES.command.text}`" in help_text
    hint = inputs(render_form())["use_case"]["hint"]["text"]
    assert f"{COMMAND} {EXAMPLES.command.text}" in hint
    editing = renderer().view("form", metadata="{}", facts=FACTS, initial={}, editing={"number": 2})
    assert "hint" not in inputs(editing)["use_case"]  # editing an answer, the command is no help
