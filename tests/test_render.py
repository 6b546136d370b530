"""Every Slack message and view the bot renders is valid Block Kit within Slack's limits, and shows user text and
rule text literally: nothing typed into the form or written in a rule can ping a channel or disguise a link.

The limits are Slack's published ones (Block Kit's reference), written out as literals in tests/render_support.py.
The tests run on the tests' own rule set; the shipped policy's messages are checked in tests/test_policy.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.answers import FACTS, Answers
from bot.engine.ruleset import RuleSet, VerdictKind, load_ruleset
from bot.engine.verdict import evaluate
from bot.settings import Settings
from bot.slack.forms import FormMetadata, form_initial
from bot.slack.render import escape_mrkdwn, mrkdwn_link
from bot.store import Trigger
from tests.conftest import answers as answers_strategy
from tests.render_support import (
    CHANNEL,
    CHANNEL_ERRORS,
    HOSTILE,
    REQUESTER,
    check_fits_whole,
    check_message,
    check_not_injected,
    check_view,
    decided,
    mrkdwn_texts,
    renderer,
    text_objects,
    verdict_messages,
)

# One set of answers for each next step the tests' fixture rule set can give (both verdicts among them), and two
# that are about the messages' size and safety rather than an outcome.
HAND_PICKED: dict[str, dict[str, Any]] = {
    "few-shot": {"n_stable_examples": 0},
    "rag": {"primary_failure": "missing-knowledge"},
    "rag-with-provenance": {"needs_citations": True},
    "prompt-iteration": {"change_freq_days": 1},
    "try-prompts": {"tried_prompt_iteration": False},
    "describe-tools": {"primary_failure": "tool-shape", "n_tools": 1},
    "dspy": {"n_stable_examples": 40, "tried_dspy": False},
    "build-eval": {"has_eval_set": False},
    "prompt-and-rag": {},
    "fine-tune": {
        "use_case": "Tag support tickets with our 40-label taxonomy",
        "n_stable_examples": 500,
        "primary_failure": "format",
        "change_freq_days": 90,
        "tried_prompt_iteration": True,
        "tried_dspy": True,
    },
    # Every question answered, with the largest values and the longest text: the biggest messages.
    "everything": {
        "use_case": "&<>" * 100,
        "n_stable_examples": 1_000_000_000,
        "primary_failure": "reasoning",
        "change_freq_days": 36_500,
        "tried_prompt_iteration": True,
        "prompt_iterations": 100_000,
        "prompt_authors": 100_000,
        "tried_few_shot": True,
        "tried_rag": True,
        "tried_cot": True,
        "tried_dspy": True,
        "has_eval_set": True,
        "needs_citations": True,
        "style_describable": True,
        "n_tools": 100_000,
        "daily_calls": 1_000_000_000,
        "latency_sensitive": True,
        "chasing_small_benchmark_gain": True,
        "retrain_cadence_days": 1,
        "notes": "<!here> " * 375,
    },
    "hostile": {
        "use_case": HOSTILE,
        "n_stable_examples": 500,
        "primary_failure": "style",
        "change_freq_days": 3,
        "notes": HOSTILE,
    },
}


# --- verdict, explanation and undelivered -----------------------------------------------------------------------


def test_hand_picked_answers_cover_every_outcome(fixture_ruleset: RuleSet) -> None:
    verdicts = [evaluate(fixture_ruleset, Answers.model_validate(values)) for values in HAND_PICKED.values()]
    assert {verdict.verdict for verdict in verdicts} == set(VerdictKind)
    given_by_rules = {rule.next_step for rule in fixture_ruleset.rules if rule.next_step is not None}
    assert {verdict.next_step for verdict in verdicts} == given_by_rules
    for name, verdict in zip(HAND_PICKED, verdicts, strict=True):
        if name in {step.value for step in given_by_rules}:
            assert verdict.next_step.value == name


@pytest.mark.parametrize("name", list(HAND_PICKED))
@pytest.mark.parametrize(("versions", "trigger"), [(1, Trigger.SUBMIT), (3, Trigger.EDIT)])
def test_verdict_messages_fit_slack(fixture_ruleset: RuleSet, name: str, versions: int, trigger: Trigger) -> None:
    item = decided(fixture_ruleset, Answers.model_validate(HAND_PICKED[name]), versions=versions, trigger=trigger)
    for message in verdict_messages(item).values():
        check_message(message)
        check_not_injected(message)
        check_fits_whole(message)


# Use cases full of what Slack would read as markup, up to the form's 300 characters.
hostile_text = (
    st.lists(
        st.sampled_from(["<!channel>", "<!here>", "&", "<@U999>", "<https://evil.example|x>", "*", "`"])
        | st.text(max_size=12),
        max_size=40,
    )
    .map(lambda parts: " ".join("".join(parts).split())[:300])
    # Text that already looks escaped is escaped again on purpose; the double-escape check cannot tell.
    .filter(lambda text: not re.search(r"&(?:amp|lt|gt);", text))
)


@settings(max_examples=60, deadline=None)
@given(
    answers=answers_strategy(),
    use_case=st.none() | hostile_text,
    versions=st.integers(1, 3),
    trigger=st.sampled_from(list(Trigger)),
)
def test_verdict_messages_fit_slack_for_any_answers(
    any_ruleset: RuleSet, answers: Answers, use_case: str | None, versions: int, trigger: Trigger
) -> None:
    """Whatever the answers and whichever rule set (the shipped one has the longest words): the messages fit."""
    answers = Answers.model_validate({**answers.known(), "use_case": use_case})
    for message in verdict_messages(decided(any_ruleset, answers, versions=versions, trigger=trigger)).values():
        check_message(message)
        check_not_injected(message)


@pytest.mark.parametrize("name", ["fine-tune", "few-shot"])
def test_verdict_says_what_was_decided(fixture_ruleset: RuleSet, name: str) -> None:
    item = decided(fixture_ruleset, Answers.model_validate(HAND_PICKED[name]))
    message = verdict_messages(item)["verdict"]
    header = message["blocks"][0]
    assert header["type"] == "header"
    fine_tune = item.verdict.verdict is VerdictKind.FINE_TUNE
    assert header["text"]["text"].startswith(":white_check_mark: Fine-tune" if fine_tune else ":raised_hand: Don't")
    assert escape_mrkdwn(item.step["title"]) in message["text"]
    assert f"<@{REQUESTER}>" in message["text"]
    buttons = next(block for block in message["blocks"] if block["type"] == "actions")["elements"]
    assert {button["value"] for button in buttons} == {item.decision.id}


# --- words defined once ------------------------------------------------------------------------------------------

# The bundled templates, every file of them (Slack's and the command line's).
TEMPLATE_FILES = sorted(path for path in Settings(_env_file=None).template_dirs[-1].rglob("*") if path.is_file())
VERDICTS = "_verdicts.j2"
# A verdict's id, as templates compare a report's verdict with it: the only way another template may spell one.
_VERDICT_ID = re.compile(r"""["'](?:dont-)?fine-tune["']""")
_VERDICT_WORDS = re.compile(r"(?i)don.?t fine-tune|fine-tune,? \(?yet")


def test_no_template_spells_a_verdict_but_the_one_that_defines_the_words() -> None:
    """The words of the verdicts are in templates/_verdicts.j2 alone: every other template (Slack's and the command
    line's) says a verdict with its `said` macro, and spells a verdict's id only to compare with it."""
    assert any(path.name == VERDICTS for path in TEMPLATE_FILES)
    for path in TEMPLATE_FILES:
        if path.name == VERDICTS:
            continue
        text = path.read_text()
        assert not _VERDICT_WORDS.search(text), path
        for found in _VERDICT_ID.finditer(text):
            assert re.search(r"[!=]=\s*$", text[: found.start()]), f"{path}: {text[found.start() - 40 : found.end()]}"


@pytest.mark.parametrize("name", ["fine-tune", "few-shot"])
def test_verdicts_are_said_in_the_defined_words(fixture_ruleset: RuleSet, name: str) -> None:
    item = decided(fixture_ruleset, Answers.model_validate(HAND_PICKED[name]))
    said = renderer().macro(VERDICTS, "said", item.verdict.verdict.value)
    assert said == {"fine-tune": "fine-tune", "few-shot": "don't fine-tune yet"}[name]
    messages = verdict_messages(item)
    assert said.capitalize() in messages["verdict"]["blocks"][0]["text"]["text"]
    assert f"*{said}*" in messages["undelivered/not_in_channel"]["text"]


def test_no_template_spells_a_facts_words() -> None:
    """Every question, hint, placeholder and labelled choice is the fact's own (bot/engine/facts.py): templates read
    them from `facts`, so none spells one."""
    words: set[str] = set()
    for fact in FACTS.values():
        words.update(filter(None, [fact.question, fact.hint, fact.placeholder]))
        words.update(option.label for option in (*fact.options, *([fact.tried] if fact.tried else ())))
    for path in TEMPLATE_FILES:
        text = path.read_text()
        assert [word for word in sorted(words) if " " in word and word in text] == [], path


def test_version_note_appears_from_the_second_version(fixture_ruleset: RuleSet) -> None:
    answers = Answers.model_validate(HAND_PICKED["few-shot"])
    first = verdict_messages(decided(fixture_ruleset, answers))["verdict"]
    third = verdict_messages(decided(fixture_ruleset, answers, versions=3, trigger=Trigger.EDIT))["verdict"]
    assert "version" not in " ".join(mrkdwn_texts(first))
    assert f"Version 3, edited by <@{REQUESTER}>" in " ".join(mrkdwn_texts(third))


@pytest.mark.parametrize("error", [*CHANNEL_ERRORS, "ratelimited"])
def test_undelivered_names_the_channel_and_the_fix(fixture_ruleset: RuleSet, error: str) -> None:
    item = decided(fixture_ruleset, Answers.model_validate(HAND_PICKED["few-shot"]))
    message = verdict_messages(item)[f"undelivered/{error}"]
    assert f"<#{CHANNEL}>" in message["text"]
    assert item.decision.id in message["text"]
    assert (f"`{error}`" in message["text"]) is (error not in CHANNEL_ERRORS)


# --- help, notice and the form ------------------------------------------------------------------------------------


@pytest.mark.parametrize("unknown", [None, "history", HOSTILE, "`<!here>`", "<" * 2000])
def test_help_fits_slack(unknown: str | None) -> None:
    message = renderer().message("help", command="/should-finetune", unknown=unknown)
    check_message(message)
    check_not_injected(message)
    assert message["response_type"] == "ephemeral"
    if unknown == HOSTILE:
        assert "&lt;!channel&gt; &amp;" in message["text"]


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("form-failed", {"error": "expired_trigger_id"}),
        ("form-failed", {"error": HOSTILE}),
        ("form-failed", {}),
        ("cooldown", {"minutes": 10}),
        ("gone", {}),
        ("unavailable", {}),
        *(
            ("refused", {"action": action, "external": external, "requester": "U123", "reviewers": reviewers})
            for action in ("edit", "answer", "apply")
            for external in (False, True)
            for reviewers in (["<@U0REV>", "<!subteam^S0GRP>"], [])
        ),
        ("refused", {"action": "edit", "external": True, "requester": None, "reviewers": []}),
    ],
)
def test_notice_fits_slack(kind: str, extra: dict[str, Any]) -> None:
    message = renderer().message("notice", kind=kind, **extra)
    check_message(message)
    check_not_injected(message, configured=extra.get("reviewers", []))
    assert message["response_type"] == "ephemeral"
    assert message["replace_original"] is False
    if "error" in extra:
        assert escape_mrkdwn(extra["error"]) in message["text"]


@pytest.mark.parametrize(
    "initial",
    [
        {},
        form_initial(use_case=HOSTILE),
        form_initial(use_case="u" * 1000),
        form_initial(Answers.model_validate({**HAND_PICKED["everything"], "change_freq_days": 365})),
        form_initial(Answers.model_validate(HAND_PICKED["hostile"])),
    ],
)
def test_form_fits_slack(initial: dict[str, Any]) -> None:
    metadata = FormMetadata(team="T" * 40, channel="C" * 40, user="U" * 40).dump()
    view = renderer().view("form", metadata=metadata, facts=FACTS, initial=initial)
    check_view(view)
    assert "submit" in view  # required when a view has input blocks


# --- injection -----------------------------------------------------------------------------------------------------


def test_hostile_use_case_is_shown_not_sent(fixture_ruleset: RuleSet) -> None:
    messages = verdict_messages(decided(fixture_ruleset, Answers.model_validate(HAND_PICKED["hostile"])))
    escaped = "&lt;!channel&gt; &amp; &lt;https://evil.example|docs&gt; &lt;@U999&gt; &lt;!subteam^S1&gt;"
    for label in ["verdict", *(f"undelivered/{error}" for error in CHANNEL_ERRORS)]:
        message = messages[label]
        check_not_injected(message)
        assert escaped in message["text"], label
        assert any(escaped in text for text in mrkdwn_texts(message)[1:]), label


def edit_rules(rules: Path, replacements: dict[str, list[tuple[str, str]]]) -> RuleSet:
    for name, pairs in replacements.items():
        path = rules / name
        text = path.read_text(encoding="utf-8")
        for old, new in pairs:
            assert old in text, (name, old)
            text = text.replace(old, new, 1)
        path.write_text(text, encoding="utf-8")
    return load_ruleset(rules)


def test_hostile_rule_text_is_escaped(fixture_rules_copy: Path) -> None:
    ruleset = edit_rules(
        fixture_rules_copy,
        {
            "decisions.yaml": [
                ('because: "you have under 40', 'because: "you have <!here> & under 40'),
                ("Under 40 examples there is", "Under 40 <!here> examples & <@U999> there is"),
            ],
            "playbooks.yaml": [
                ("Pick three real examples", "Pick <!channel> & three real examples"),
                (
                    'url: "https://docs.example.org/few-shot/choosing"',
                    'url: "https://evil.example/a|<!channel>"',
                ),
                ('title: "Examples in the prompt (fixture)"', 'title: "Examples <@U999> & in the prompt"'),
            ],
        },
    )
    item = decided(ruleset, Answers.model_validate({"n_stable_examples": 10, "use_case": "triage"}))
    assert item.verdict.decided_by.id == "too-few-examples"
    messages = verdict_messages(item)
    for message in messages.values():
        check_message(message)
        check_not_injected(message)
    explanation = "\n".join(mrkdwn_texts(messages["explanation"]))
    assert "You have &lt;!here&gt; &amp; under 40" in explanation
    assert "Under 40 &lt;!here&gt; examples &amp; &lt;@U999&gt; there is" in explanation
    assert "Pick &lt;!channel&gt; &amp; three real examples" in explanation
    # A real URL becomes a link labelled with its title; URL-ish text that is not a clean URL is only shown.
    assert "<https://docs.example.org/few-shot|Examples &lt;@U999&gt; &amp; in the prompt>" in explanation
    assert "https://evil.example/a|&lt;!channel&gt;" in explanation
    assert "Why: you have &lt;!here&gt; &amp; under 40" in messages["explanation"]["text"]
    assert "you have &lt;!here&gt; &amp; under 40" in "\n".join(mrkdwn_texts(messages["verdict"]))
    assert "you have &lt;!here&gt; &amp; under 40" in messages["undelivered/not_in_channel"]["text"]


HOSTILE_TITLE = {"ruleset.yaml": [("title: Show the model examples (few-shot)", "title: Few-shot <!everyone> & co")]}


def test_hostile_next_step_title_is_escaped_in_the_messages_body(fixture_rules_copy: Path) -> None:
    ruleset = edit_rules(fixture_rules_copy, HOSTILE_TITLE)
    messages = verdict_messages(decided(ruleset, Answers.model_validate({"n_stable_examples": 10})))
    # The header is plain_text, which Slack shows literally: the title goes in unescaped, as it should.
    assert (
        messages["verdict"]["blocks"][0]["text"]["text"]
        == ":raised_hand: Don't fine-tune yet: Few-shot <!everyone> & co"
    )
    assert "Few-shot &lt;!everyone&gt; &amp; co" in messages["verdict"]["blocks"][1]["text"]["text"]
    assert "Few-shot &lt;!everyone&gt; &amp; co" in messages["undelivered/not_in_channel"]["text"]
    for label in ["explanation", *(f"undelivered/{error}" for error in CHANNEL_ERRORS)]:
        check_not_injected(messages[label])
    for block in messages["verdict"]["blocks"]:
        for obj in text_objects(block):
            if obj.get("type") == "mrkdwn":
                assert "<!everyone>" not in obj["text"]


def test_hostile_next_step_title_is_escaped_in_the_verdicts_fallback_text(fixture_rules_copy: Path) -> None:
    ruleset = edit_rules(fixture_rules_copy, HOSTILE_TITLE)
    message = verdict_messages(decided(ruleset, Answers.model_validate({"n_stable_examples": 10})))["verdict"]
    assert "<!everyone>" not in message["text"]
    assert message["text"].startswith("Don't fine-tune yet: Few-shot &lt;!everyone&gt; &amp; co for ")


# --- escape_mrkdwn and mrkdwn_link --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "He said \"hi\" and 'bye'",
        "*bold* _italic_ ~strike~ `code` ```block```",
        ":tada: 🎉 émoji ✓ 日本語",
        "#channel @user !here ^caret |pipe| \\back\\slash",
        "&#169; is not an escape Slack knows; neither is &quot;",
        "",
    ],
)
def test_escape_mrkdwn_touches_only_the_three_control_characters(text: str) -> None:
    expected = text.replace("&", "&amp;")
    assert escape_mrkdwn(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a & b", "a &amp; b"),
        ("<!channel>", "&lt;!channel&gt;"),
        ("&lt;", "&amp;lt;"),  # raw text that looks escaped is escaped again: it is shown as typed
        ("1 < 2 > 0", "1 &lt; 2 &gt; 0"),
        (42, "42"),
        (None, "None"),
    ],
)
def test_escape_mrkdwn_examples(value: object, expected: str) -> None:
    assert escape_mrkdwn(value) == expected


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_escape_mrkdwn_is_reversible_and_leaves_no_markup(text: str) -> None:
    escaped = escape_mrkdwn(text)
    assert "<" not in escaped
    assert ">" not in escaped
    assert escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text
    assert re.sub(r"&(?:amp|lt|gt);", "", escaped) == re.sub(r"[&<>]", "", text)


@pytest.mark.parametrize(
    ("url", "label", "expected"),
    [
        ("https://a.example/x?y=1", "a.example", "<https://a.example/x?y=1|a.example>"),
        ("http://a.example", None, "<http://a.example|http://a.example>"),
        ("https://a.example", "a|b", "<https://a.example|a¦b>"),
        ("https://a.example", "<!here> & co", "<https://a.example|&lt;!here&gt; &amp; co>"),
        ("https://a.example/<!here>", "x", "https://a.example/&lt;!here&gt;"),
        ("https://a.example/a|b", "x", "https://a.example/a|b"),
        ("https://a.example/a b", "x", "https://a.example/a b"),
        ("https://", "x", "https://"),
        ("seed:faq", "x", "seed:faq"),
        ("javascript:alert(1)", "x", "javascript:alert(1)"),
        ("ftp://a.example", "x", "ftp://a.example"),
        (" https://a.example", "x", " https://a.example"),
    ],
)
def test_mrkdwn_link(url: str, label: str | None, expected: str) -> None:
    assert mrkdwn_link(url, label) == expected
