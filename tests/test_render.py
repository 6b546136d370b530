"""Every Slack message and view the bot renders is valid Block Kit within Slack's limits, and shows user text and
rule text literally: nothing typed into the form or written in a rule can ping a channel or disguise a link.

Limits come from /work/shared/docs/slack-platform.md sections 2, 3 and 10, written out here as literals.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.decisions import Decided, new_version
from bot.engine.answers import FACTS, Answers
from bot.engine.ruleset import NextStep, RuleSet, VerdictKind, load_ruleset
from bot.engine.verdict import evaluate
from bot.settings import Settings
from bot.slack.forms import FormMetadata, form_initial
from bot.slack.render import Renderer, escape_mrkdwn, mrkdwn_link
from bot.store import Decision, Delivery, DeliveryStatus, Trigger, Version
from tests.conftest import answers as answers_strategy

REQUESTER = "U123"
CHANNEL = "C0DECIDE"
HOSTILE = "<!channel> & <https://evil.example|docs> <@U999> <!subteam^S1>"
CHANNEL_ERRORS = ["not_in_channel", "channel_not_found", "is_archived", "restricted_action"]

# One set of answers for each next step the bundled rule set can give (both verdicts among them).
HAND_PICKED: dict[str, dict[str, Any]] = {
    "few-shot": {"n_stable_examples": 0},
    "rag": {"primary_failure": "missing-knowledge"},
    "rag-with-provenance": {"needs_citations": True},
    "prompt-iteration": {"change_freq_days": 1},
    "try-prompts": {"tried_prompt_iteration": False},
    "better-system-prompt": {"primary_failure": "style", "style_describable": True},
    "describe-tools": {"primary_failure": "tool-shape", "n_tools": 1},
    "cot": {"primary_failure": "tool-shape", "tried_cot": False},
    "dspy": {"n_stable_examples": 50, "tried_dspy": False},
    "better-model": {"chasing_small_benchmark_gain": True},
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


# --- the checks -----------------------------------------------------------------------------------------------


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


# --- verdict, explanation and undelivered -----------------------------------------------------------------------


def test_hand_picked_answers_cover_every_outcome(ruleset: RuleSet) -> None:
    verdicts = [evaluate(ruleset, Answers.model_validate(values)) for values in HAND_PICKED.values()]
    assert {verdict.verdict for verdict in verdicts} == set(VerdictKind)
    assert {verdict.next_step for verdict in verdicts} == set(NextStep)
    for name, verdict in zip(HAND_PICKED, verdicts, strict=True):
        if name in {step.value for step in NextStep}:
            assert verdict.next_step.value == name


@pytest.mark.parametrize("name", list(HAND_PICKED))
@pytest.mark.parametrize(("versions", "trigger"), [(1, Trigger.SUBMIT), (3, Trigger.EDIT)])
def test_verdict_messages_fit_slack(ruleset: RuleSet, name: str, versions: int, trigger: Trigger) -> None:
    item = decided(ruleset, Answers.model_validate(HAND_PICKED[name]), versions=versions, trigger=trigger)
    for message in verdict_messages(item).values():
        check_message(message)
        check_not_injected(message)
        # The bundled rule set's messages fit whole: nothing of them is cut or left out.
        assert not any(obj["text"].endswith("…") for obj in text_objects(message["blocks"]))
        assert "not shown" not in str(message["blocks"])


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
    ruleset: RuleSet, answers: Answers, use_case: str | None, versions: int, trigger: Trigger
) -> None:
    answers = Answers.model_validate({**answers.known(), "use_case": use_case})
    for message in verdict_messages(decided(ruleset, answers, versions=versions, trigger=trigger)).values():
        check_message(message)
        check_not_injected(message)


@pytest.mark.parametrize("name", ["fine-tune", "few-shot"])
def test_verdict_says_what_was_decided(ruleset: RuleSet, name: str) -> None:
    item = decided(ruleset, Answers.model_validate(HAND_PICKED[name]))
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
def test_verdicts_are_said_in_the_defined_words(ruleset: RuleSet, name: str) -> None:
    item = decided(ruleset, Answers.model_validate(HAND_PICKED[name]))
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


def test_version_note_appears_from_the_second_version(ruleset: RuleSet) -> None:
    answers = Answers.model_validate(HAND_PICKED["few-shot"])
    first = verdict_messages(decided(ruleset, answers))["verdict"]
    third = verdict_messages(decided(ruleset, answers, versions=3, trigger=Trigger.EDIT))["verdict"]
    assert "version" not in " ".join(mrkdwn_texts(first))
    assert f"Version 3, edited by <@{REQUESTER}>" in " ".join(mrkdwn_texts(third))


@pytest.mark.parametrize("error", [*CHANNEL_ERRORS, "ratelimited"])
def test_undelivered_names_the_channel_and_the_fix(ruleset: RuleSet, error: str) -> None:
    item = decided(ruleset, Answers.model_validate(HAND_PICKED["few-shot"]))
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


def test_hostile_use_case_is_shown_not_sent(ruleset: RuleSet) -> None:
    messages = verdict_messages(decided(ruleset, Answers.model_validate(HAND_PICKED["hostile"])))
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


def test_hostile_rule_text_is_escaped(rules_copy: Path) -> None:
    ruleset = edit_rules(
        rules_copy,
        {
            "checklist.yaml": [
                ('because: "you have fewer than 50', 'because: "you have <!here> & fewer than 50'),
                ("Under 50 good examples there is", "Under 50 <!here> good examples & <@U999> there is"),
            ],
            "playbooks.yaml": [
                ("Choose 3 to 5 worked examples", "Choose <!channel> & 3 to 5 worked examples"),
                (
                    'url: "https://ai.google.dev/gemini-api/docs/model-tuning/ai-studio"',
                    'url: "https://evil.example/a|<!channel>"',
                ),
                ('title: "DSPy Optimizers"', 'title: "DSPy <@U999> & Optimizers"'),
            ],
        },
    )
    item = decided(ruleset, Answers.model_validate({"n_stable_examples": 10, "use_case": "triage"}))
    assert item.verdict.decided_by.id == "few-stable-examples"
    messages = verdict_messages(item)
    for message in messages.values():
        check_message(message)
        check_not_injected(message)
    explanation = "\n".join(mrkdwn_texts(messages["explanation"]))
    assert "You have &lt;!here&gt; &amp; fewer than 50" in explanation
    assert "Under 50 &lt;!here&gt; good examples &amp; &lt;@U999&gt; there is" in explanation
    assert "Choose &lt;!channel&gt; &amp; 3 to 5 worked examples" in explanation
    # A real URL becomes a link labelled with its title; URL-ish text that is not a clean URL is only shown.
    assert "<https://dspy.ai/learn/optimization/optimizers|DSPy &lt;@U999&gt; &amp; Optimizers>" in explanation
    assert "https://evil.example/a|&lt;!channel&gt;" in explanation
    assert "Why: you have &lt;!here&gt; &amp; fewer than 50" in messages["explanation"]["text"]
    assert "you have &lt;!here&gt; &amp; fewer than 50" in "\n".join(mrkdwn_texts(messages["verdict"]))
    assert "you have &lt;!here&gt; &amp; fewer than 50" in messages["undelivered/not_in_channel"]["text"]


def test_hostile_next_step_title_is_escaped_in_the_messages_body(rules_copy: Path) -> None:
    ruleset = edit_rules(
        rules_copy,
        {"ruleset.yaml": [("title: Put worked examples in the prompt (few-shot)", "title: Few-shot <!everyone> & co")]},
    )
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


def test_hostile_next_step_title_is_escaped_in_the_verdicts_fallback_text(rules_copy: Path) -> None:
    ruleset = edit_rules(
        rules_copy,
        {"ruleset.yaml": [("title: Put worked examples in the prompt (few-shot)", "title: Few-shot <!everyone> & co")]},
    )
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
