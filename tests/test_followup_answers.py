"""`answer_followup`: the answer to each kind of question, from a decision and a thread's conversation (no I/O), under
the tests' own rule set (`fixture_ruleset`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.decisions import new_version
from bot.engine.answers import Answers
from bot.engine.ruleset import RuleSet
from bot.engine.verdict import evaluate
from bot.followups.conversation import Answer, answer_followup
from bot.followups.parser import parse_followup
from bot.settings import Settings
from bot.slack.render import Renderer
from bot.slack.threads import question_from
from bot.store import MAX_TURNS, Conversation, Decision, Delivery, DeliveryStatus, Trigger, Version

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
STORED = {
    "use_case": "Support-ticket triage",
    "n_stable_examples": 30,
    "primary_failure": "style",
    "change_freq_days": 30,
    "tried_prompt_iteration": True,
    "tried_few_shot": False,
    "tried_rag": False,
    "tried_cot": False,
    "tried_dspy": False,
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    renderer = Renderer(Settings(_env_file=None).template_dirs)  # type: ignore[call-arg]
    renderer.check()
    return renderer


def decision_for(ruleset: RuleSet, answers: dict[str, Any]) -> Decision:
    verdict = evaluate(ruleset, Answers.model_validate(answers))
    version = new_version(verdict, by="U0ASKER", trigger=Trigger.SUBMIT)
    return Decision(
        id="D1",
        workspace="T1",
        channel="C1",
        requester="U0ASKER",
        created_at=NOW,
        delivery=Delivery(status=DeliveryStatus.POSTED, channel="C1", ts="1.2", at=NOW),
        versions=[Version(**version.model_dump(), number=1, at=NOW)],
    )


def ask(
    ruleset: RuleSet,
    text: str,
    *,
    conversation: Conversation | None = None,
    answers: dict[str, Any] | None = None,
    mentioned: bool = False,
) -> Answer | None:
    return answer_followup(
        ruleset=ruleset,
        decision=decision_for(ruleset, answers or STORED),
        conversation=conversation or Conversation(),
        followup=parse_followup(text),
        user="U0ASKER",
        text=text,
        mentioned=mentioned,
        now=NOW,
    )


def test_chatter_is_silent_unless_the_bot_is_mentioned(fixture_ruleset: RuleSet) -> None:
    assert ask(fixture_ruleset, "thanks, makes sense") is None
    answer = ask(fixture_ruleset, "thanks, makes sense", mentioned=True)
    assert answer is not None
    assert answer.kind == "not-understood"


def test_what_if_changes_only_the_hypothetical_and_records_a_turn(fixture_ruleset: RuleSet) -> None:
    answer = ask(fixture_ruleset, "what if we had 600 examples")
    assert answer is not None
    assert answer.kind == "what-if"
    assert answer.conversation.hypothetical == {"n_stable_examples": 600}
    assert answer.version is None
    assert answer.context["changes"] == [{"fact": "n_stable_examples", "from": 30, "to": 600}]
    assert "too-few-examples" in [rule["id"] for rule in answer.context["diff"]["stopped"]]
    (turn,) = answer.conversation.turns
    assert (turn.user, turn.intent, turn.outcome) == ("U0ASKER", "what-if", "what-if")


def test_words_a_what_if_could_not_place_are_named_beside_what_it_could(
    fixture_ruleset: RuleSet, renderer: Renderer
) -> None:
    answer = ask(fixture_ruleset, "what if we had 600 examples and purple <!channel> cows")
    assert answer is not None
    assert answer.kind == "what-if"
    assert answer.conversation.hypothetical == {"n_stable_examples": 600}
    text = json.dumps(renderer.message("followup", kind=answer.kind, **answer.context), ensure_ascii=False)
    assert "I left out “purple" in text
    assert "<!channel>" not in text


def test_and_if_builds_on_the_previous_hypothetical_and_what_if_starts_again(fixture_ruleset: RuleSet) -> None:
    first = ask(fixture_ruleset, "what if we had 600 examples")
    assert first is not None
    second = ask(fixture_ruleset, "and if we tried dspy", conversation=first.conversation)
    assert second is not None
    assert second.conversation.hypothetical == {"n_stable_examples": 600, "tried_dspy": True}
    assert second.context["builds_on"] is True
    fresh = ask(fixture_ruleset, "what if we tried dspy", conversation=second.conversation)
    assert fresh is not None
    assert fresh.conversation.hypothetical == {"tried_dspy": True}


def test_and_if_without_an_earlier_what_if_says_it_starts_from_the_stored_answers(fixture_ruleset: RuleSet) -> None:
    answer = ask(fixture_ruleset, "and if we tried dspy")
    assert answer is not None
    assert answer.context["wanted_to_build_on"] is True
    assert answer.conversation.hypothetical == {"tried_dspy": True}


def test_unreadable_values_change_nothing(fixture_ruleset: RuleSet) -> None:
    before = Conversation(hypothetical={"tried_dspy": True})
    answer = ask(fixture_ruleset, "what if we had lots of examples", conversation=before)
    assert answer is not None
    assert answer.kind == "unreadable"
    assert answer.conversation.hypothetical == {"tried_dspy": True}
    assert answer.context["unreadable"][0]["fact"] == "n_stable_examples"


def test_an_unreadable_value_says_what_was_read_and_how_to_say_the_rest(
    fixture_ruleset: RuleSet, renderer: Renderer
) -> None:
    answer = ask(fixture_ruleset, "what if we tried dspy and had lots of examples")
    assert answer is not None
    assert answer.kind == "unreadable"
    assert answer.context["read"] == [{"fact": "tried_dspy", "value": True}]
    message = renderer.message("followup", kind=answer.kind, **answer.context)
    reply = "\n".join(block["text"]["text"] for block in message["blocks"] if "text" in block)
    assert "I read Tried DSPy: yes." in reply
    assert "I could not read a value for *Stable examples* in “had lots of examples”" in reply
    assert '"what if we had 600 examples"' in reply  # one phrasing that works for the part it could not read


def test_apply_gives_a_follow_up_version_by_the_asker_and_clears_the_hypothetical(fixture_ruleset: RuleSet) -> None:
    answer = ask(fixture_ruleset, "apply", conversation=Conversation(hypothetical={"n_stable_examples": 600}))
    assert answer is not None
    assert answer.kind == "applied"
    assert answer.version is not None
    assert answer.version.trigger is Trigger.FOLLOW_UP
    assert answer.version.by == "U0ASKER"
    assert answer.version.answers["n_stable_examples"] == 600
    assert answer.version.answers["use_case"] == "Support-ticket triage"
    assert answer.context["number"] == 2
    assert answer.conversation.hypothetical is None


@pytest.mark.parametrize(
    ("hypothetical", "same"), [(None, False), ({"n_stable_examples": 30}, True)], ids=["none", "same-answers"]
)
def test_apply_with_nothing_new_records_nothing(fixture_ruleset: RuleSet, hypothetical: Any, same: bool) -> None:
    answer = ask(fixture_ruleset, "apply", conversation=Conversation(hypothetical=hypothetical))
    assert answer is not None
    assert answer.kind == "nothing-to-apply"
    assert answer.version is None
    assert answer.context["same"] is same


def test_contradicting_changes_are_refused_and_the_hypothetical_kept(fixture_ruleset: RuleSet) -> None:
    before = Conversation(hypothetical={"tried_dspy": True})
    answer = ask(
        fixture_ruleset, "what if we haven't iterated on the prompt and 20 prompt iterations", conversation=before
    )
    assert answer is not None
    assert answer.kind == "contradiction"
    assert answer.conversation.hypothetical == {"tried_dspy": True}


def test_why_not_on_a_fine_tune_verdict_explains_it_and_what_would_lead_away(fixture_ruleset: RuleSet) -> None:
    fine_tune = {
        **STORED,
        "n_stable_examples": 5000,
        "tried_few_shot": True,
        "tried_rag": True,
        "tried_cot": True,
        "tried_dspy": True,
        "prompt_iterations": 40,
        "prompt_authors": 3,
        "has_eval_set": True,
        "style_describable": False,
    }
    answer = ask(fixture_ruleset, "why not", answers=fine_tune)
    assert answer is not None
    assert answer.context["outcome"]["verdict"] == "fine-tune"
    assert answer.context["reasons"]


def test_the_conversation_keeps_only_the_last_turns(fixture_ruleset: RuleSet) -> None:
    conversation = Conversation()
    for n in range(MAX_TURNS + 5):
        answer = ask(fixture_ruleset, f"what if we had {100 + n} examples", conversation=conversation)
        assert answer is not None
        conversation = answer.conversation
    assert len(conversation.turns) == MAX_TURNS
    assert conversation.turns[-1].text == f"what if we had {100 + MAX_TURNS + 4} examples"


@pytest.mark.parametrize(
    "text",
    [
        "why",
        "why not",
        "what if we had 600 examples",
        "and if we tried dspy",
        "reset",
        "answers",
        "rules",
        "help",
        "apply",
        "what if we had lots of examples",
        "what if the moon was green",
        "what if we haven't iterated on the prompt and 20 prompt iterations",
    ],
)
@pytest.mark.parametrize("hypothetical", [None, {"n_stable_examples": 600}])
def test_every_answer_renders_within_slacks_limits(
    fixture_ruleset: RuleSet, renderer: Renderer, text: str, hypothetical: Any
) -> None:
    answer = ask(fixture_ruleset, text, conversation=Conversation(hypothetical=hypothetical), mentioned=True)
    assert answer is not None
    message = renderer.message("followup", kind=answer.kind, **answer.context)
    assert message["text"]
    assert 1 <= len(message["blocks"]) <= 50
    assert all(len(block["text"]["text"]) <= 3000 for block in message["blocks"])


@pytest.mark.parametrize("kind", ["unavailable", "retrying"])
def test_replies_without_a_decision_render(renderer: Renderer, kind: str) -> None:
    assert renderer.message("followup", kind=kind)["text"]


def test_a_failed_question_is_quoted_escaped(renderer: Renderer) -> None:
    message = renderer.message("followup", kind="failed", asked="<!channel> why")
    assert "<!channel>" not in message["text"]
    assert "&lt;!channel&gt;" in message["text"]


# --- which events are questions ---------------------------------------------------------------------------------


def event(**fields: Any) -> dict[str, Any]:
    return {"type": "message", "channel": "C1", "user": "U1", "text": "why", "ts": "2.1", "thread_ts": "1.1", **fields}


@pytest.mark.parametrize(
    "fields",
    [
        {"thread_ts": None},
        {"ts": "1.1"},
        {"user": "U0BOT"},
        {"bot_id": "B1"},
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"subtype": "bot_message"},
        {"user": None},
        {"channel": 5},
        {"ts": "not-a-ts"},
        {"type": "reaction_added"},
    ],
)
def test_events_that_are_not_a_persons_thread_reply_are_not_questions(fields: dict[str, Any]) -> None:
    assert question_from(event(**fields), workspace="T1", bot_user_id="U0BOT") is None


def test_a_reply_a_broadcast_and_a_mention_are_questions() -> None:
    plain = question_from(event(), workspace="T1", bot_user_id="U0BOT")
    assert plain is not None
    assert not plain.mentioned
    broadcast = question_from(event(subtype="thread_broadcast"), workspace="T1", bot_user_id="U0BOT")
    assert broadcast is not None
    mention = question_from(event(text="<@U0BOT|bot> why"), workspace="T1", bot_user_id="U0BOT")
    assert mention is not None
    assert mention.mentioned
    app_mention = question_from(event(type="app_mention"), workspace="T1", bot_user_id="U0BOT")
    assert app_mention is not None
    assert app_mention.mentioned
    assert app_mention.ref == plain.ref  # one claim for both events of one message


def test_a_huge_message_is_cut_before_it_is_stored() -> None:
    question = question_from(event(text="why " * 10_000), workspace="T1", bot_user_id="U0BOT")
    assert question is not None
    assert len(question.text) == 2001
