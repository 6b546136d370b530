"""Re-review and edit answers, the history reply, and which reaction events ask for a re-review: pure functions."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.engine.answers import FACTS, Answers, AnswersError
from bot.engine.rulediff import snapshot
from bot.engine.ruleset import RuleSet, load_ruleset
from bot.followups.history import decided_under_older_rules, history_rows
from bot.followups.review import MAX_RULE_CHANGES, answering, review_answer
from bot.settings import SettingsError, load_settings
from bot.slack.render import Renderer
from bot.slack.reviews import Review, reaction_from
from bot.store import Conversation, Decision, Trigger, Version
from tests import fixture_rules
from tests.render_support import HOSTILE, check_message, check_not_injected
from tests.test_followup_answers import NOW, STORED, decision_for
from tests.test_followup_answers import renderer as renderer  # noqa: PLC0414 - the fixture, shared

REVIEWERS = ["<@U0REV>", "<!subteam^S0GRP>"]


@pytest.fixture(scope="module")
def stricter(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The tests' own rules with too-few-examples at 20 instead of 40, and one rationale reworded."""
    rules = fixture_rules.copy(tmp_path_factory.mktemp("rules"))
    fixture_rules.edit(rules, "decisions.yaml", "op: lt, value: 40}", "op: lt, value: 20}")
    fixture_rules.edit(rules, "decisions.yaml", "Facts belong in a lookup at request time", "Facts belong in a lookup")
    return load_ruleset(rules)


def review(
    ruleset: RuleSet,
    decision: Decision,
    *,
    old: RuleSet | None = None,
    trigger: Trigger = Trigger.RE_REVIEW,
    answers: dict[str, Any] | None = None,
    conversation: Conversation | None = None,
) -> Any:
    return review_answer(
        ruleset=ruleset,
        snapshot=snapshot(ruleset),
        old_snapshot=snapshot(old) if old is not None else None,
        decision=decision,
        conversation=conversation or Conversation(),
        user="U0REV",
        trigger=trigger,
        answers=Answers.model_validate(answers) if answers is not None else None,
        now=NOW,
    )


def test_a_rereview_under_the_same_rules_records_the_same_verdict(fixture_ruleset: RuleSet) -> None:
    decision = decision_for(fixture_ruleset, STORED)
    answer = review(fixture_ruleset, decision, conversation=Conversation(hypothetical={"n_stable_examples": 600}))
    assert answer.kind == "re-reviewed"
    assert answer.version.trigger is Trigger.RE_REVIEW
    assert answer.version.by == "U0REV"
    assert answer.version.answers == decision.latest.answers
    assert answer.context["rules"] == {"changed": False, "version": fixture_ruleset.version}
    assert not answer.context["diff"]["verdict_changed"]
    assert answer.conversation.hypothetical == {"n_stable_examples": 600}  # a what-if in progress survives
    assert answer.conversation.turns[-1].intent == "re-review"


def test_a_rereview_under_changed_rules_names_the_rule_and_its_threshold(
    fixture_ruleset: RuleSet, stricter: RuleSet
) -> None:
    decision = decision_for(fixture_ruleset, STORED)
    answer = review(stricter, decision, old=fixture_ruleset)
    rules = answer.context["rules"]
    assert rules["changed"]
    assert rules["known"]
    assert (rules["before"], rules["after"]) == (fixture_ruleset.version, stricter.version)
    (change,) = rules["changes"]  # the reworded rationale is no change of substance
    assert change["rule"] == "too-few-examples"
    assert change["thresholds"] == [{"fact": "n_stable_examples", "before": "< 40", "after": "< 20"}]
    assert {r["id"] for r in answer.context["diff"]["stopped"]} == {"too-few-examples"}
    assert answer.version.ruleset_sha256 == stricter.sha256


def test_without_the_earlier_snapshot_the_reply_says_it_cannot_compare(
    fixture_ruleset: RuleSet, stricter: RuleSet
) -> None:
    answer = review(stricter, decision_for(fixture_ruleset, STORED))
    assert answer.context["rules"]["changed"]
    assert not answer.context["rules"]["known"]
    assert answer.context["rules"]["changes"] == []


def test_an_edit_evaluates_the_new_answers_and_lists_what_changed(fixture_ruleset: RuleSet) -> None:
    decision = decision_for(fixture_ruleset, STORED)
    answer = review(fixture_ruleset, decision, trigger=Trigger.EDIT, answers={**STORED, "n_stable_examples": 600})
    assert answer.kind == "edited"
    assert answer.version.trigger is Trigger.EDIT
    assert answer.version.answers["n_stable_examples"] == 600
    assert answer.context["changes"] == [{"fact": "n_stable_examples", "from": 30, "to": 600}]
    assert answer.context["number"] == 2


def test_rule_changes_are_capped_and_counted(fixture_ruleset: RuleSet, tmp_path: Path) -> None:
    rules = fixture_rules.copy(tmp_path)
    for path in rules.glob("*.yaml"):  # every rule's title (not the playbooks' sources, which have titles too)
        path.write_text(re.sub(r"(?m)^(\s+)title: ", r"\1title: Now ", path.read_text()))
    answer = review(load_ruleset(rules), decision_for(fixture_ruleset, STORED), old=fixture_ruleset)
    rules_info = answer.context["rules"]
    assert len(rules_info["changes"]) == MAX_RULE_CHANGES
    assert rules_info["others"] == len(fixture_ruleset.rules) - MAX_RULE_CHANGES
    fired = set(decision_for(fixture_ruleset, STORED).latest.fired)
    assert {c["rule"] for c in rules_info["changes"][: len(fired)]} == fired  # this decision's rules come first


@pytest.mark.parametrize("trigger", [Trigger.RE_REVIEW, Trigger.EDIT])
@pytest.mark.parametrize("mentions", [[], REVIEWERS])
def test_rereview_and_edit_replies_render_within_limits_without_injection(
    fixture_ruleset: RuleSet, stricter: RuleSet, renderer: Renderer, trigger: Trigger, mentions: list[str]
) -> None:
    hostile = {**STORED, "use_case": HOSTILE}
    for old, new in ((fixture_ruleset, fixture_ruleset), (fixture_ruleset, stricter), (None, stricter)):
        answer = review(
            new,
            decision_for(fixture_ruleset, hostile),
            old=old,
            trigger=trigger,
            answers={**hostile, "n_stable_examples": 5},
        )
        message = renderer.message("followup", kind=answer.kind, **answer.context, reviewers=mentions)
        check_message(message)
        check_not_injected(message, configured=[*mentions, "<@U0REV>"])


# A fine-tune verdict but for the eval set, which nobody confirmed: the thread asks about it.
FINE_TUNE = {
    **STORED,
    "n_stable_examples": 5000,
    "primary_failure": "format",
    "change_freq_days": 90,
    "prompt_iterations": 20,
    "prompt_authors": 3,
    "tried_few_shot": True,
    "tried_rag": True,
    "tried_dspy": True,
}


def test_an_answered_question_is_recorded_and_the_reply_asks_what_is_still_open(
    fixture_ruleset: RuleSet, renderer: Renderer
) -> None:
    decision = decision_for(fixture_ruleset, FINE_TUNE)
    answers = answering(decision.latest.answers, "has_eval_set", False)
    assert answers == {**FINE_TUNE, "has_eval_set": False}
    answer = review_answer(
        ruleset=fixture_ruleset,
        snapshot=snapshot(fixture_ruleset),
        old_snapshot=None,
        decision=decision,
        conversation=Conversation(),
        user="U0ASKER",
        trigger=Trigger.ANSWERED,
        answers=Answers.model_validate(answers),
        now=NOW,
        question="has_eval_set",
    )
    assert answer.kind == "answered"
    assert (answer.version.trigger, answer.version.by) == (Trigger.ANSWERED, "U0ASKER")
    assert (answer.version.verdict, answer.version.next_step) == ("dont-fine-tune", "build-eval")
    context = answer.context
    assert context["question"] == {"fact": "has_eval_set", "text": FACTS["has_eval_set"].question, "value": False}
    assert context["changes"] == [{"fact": "has_eval_set", "from": None, "to": False}]
    assert context["decision_id"] == decision.id
    assert "has_eval_set" not in [q["fact"] for q in context["questions"]]
    assert context["diff"]["verdict_changed"]
    message = renderer.message("followup", kind=answer.kind, **context, reviewers=REVIEWERS)
    check_message(message)
    check_not_injected(message, configured=[*REVIEWERS, "<@U0ASKER>"])
    first = message["blocks"][0]["text"]["text"]
    assert first.endswith(f"answered *{FACTS['has_eval_set'].question}* with *No*, recorded as version 2.")
    buttons = [block for block in message["blocks"] if block["type"] == "actions"]
    assert [block["block_id"] for block in buttons] == [f"question-{q['fact']}" for q in context["questions"]]


def test_an_answer_that_contradicts_another_is_named_in_the_forms_words() -> None:
    with pytest.raises(AnswersError) as caught:
        answering({"tried_prompt_iteration": True, "prompt_iterations": 20}, "tried_prompt_iteration", False)
    assert caught.value.problems == ["You say nobody iterated on the prompt but count 20 iterations: fix one of them."]
    assert answering({"n_tools": 0}, "primary_failure", "format") == {"n_tools": 0, "primary_failure": "format"}
    with pytest.raises(AnswersError):
        answering({"n_tools": 0}, "primary_failure", "tool-shape")


def test_an_answer_review_payload_round_trips_and_is_not_held_by_the_cooldown() -> None:
    review = Review(
        "T1",
        "C1",
        "D1",
        "C1",
        "1.2",
        "U1",
        "answered",
        "question",
        "answer.1.3.U1.4.5",
        fact="has_eval_set",
        value=False,
    )
    assert Review.from_payload(review.payload()) == review
    assert not review.gated


def versions_of(decision: Decision, count: int, *, by: str) -> Decision:
    latest = decision.latest
    more = [
        Version(**{**latest.model_dump(), "number": n, "by": by, "trigger": Trigger.RE_REVIEW})
        for n in range(2, count + 1)
    ]
    return decision.model_copy(update={"versions": [latest, *more]})


@pytest.mark.parametrize("by", ["U0REV", "cli", HOSTILE, "W0ENTERPRISE"])
def test_history_lists_versions_within_limits(fixture_ruleset: RuleSet, renderer: Renderer, by: str) -> None:
    decision = versions_of(decision_for(fixture_ruleset, STORED), 14, by=by)
    rows = history_rows(decision, fixture_ruleset)
    assert [row["number"] for row in rows] == list(range(1, 15))
    assert all(row["current_rules"] for row in rows)
    assert not decided_under_older_rules(decision, fixture_ruleset)
    context = {"versions": rows, "older_rules": True, "current": fixture_ruleset.version, "stored": {"number": 14}}
    message = renderer.message("followup", kind="history", hypothetical_active=False, **context)
    check_message(message)
    check_not_injected(message, configured=["<@U0ASKER>", f"<@{by}>"])
    text = message["blocks"][1]["text"]["text"]
    assert "*v5*" in text
    assert "*v4*" not in text
    assert "the last 10 shown" in message["text"]


def test_the_history_marks_versions_decided_under_other_rules(fixture_ruleset: RuleSet, stricter: RuleSet) -> None:
    decision = decision_for(fixture_ruleset, STORED)
    assert decided_under_older_rules(decision, stricter)
    assert [row["current_rules"] for row in history_rows(decision, stricter)] == [False]


def test_the_channel_history_escapes_use_cases_and_fits(fixture_ruleset: RuleSet, renderer: Renderer) -> None:
    decision = decision_for(fixture_ruleset, {**STORED, "use_case": HOSTILE})
    row = {
        **history_rows(decision, fixture_ruleset)[-1],
        "use_case": HOSTILE,
        "requester": "U0ASKER",
        "versions": 1,
        "created": 1,
        "created_text": "2026-11-29 09:00 UTC",
        "older_rules": True,
    }
    rows = [{**row, "permalink": link} for link in ("https://fake.slack.com/archives/C1/p1", None)] * 10
    message = renderer.message("history", decisions=rows, current=fixture_rules.VERSION)
    check_message(message)
    check_not_injected(message, configured=["<@U0ASKER>"])
    assert message["response_type"] == "ephemeral"


# --- reactions ------------------------------------------------------------------------------------------------------

EMOJI = frozenset({"repeat", "eyes"})


def reaction(**fields: Any) -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": "U1",
        "reaction": "repeat",
        "item": {"type": "message", "channel": "C1", "ts": "1.2"},
        "event_ts": "3.4",
        **fields,
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "reaction_removed"},
        {"reaction": "thumbsup"},
        {"reaction": "repeatx"},
        {"reaction": None},
        {"user": "U0BOT"},
        {"user": "u1"},
        {"user": None},
        {"item": {"type": "file", "file": "F1"}},
        {"item": {"type": "message", "channel": "C1"}},
        {"item": {"type": "message", "channel": "C1", "ts": "yesterday"}},
        {"item": {"type": "message", "channel": "c/1", "ts": "1.2"}},
        {"item": None},
        {"event_ts": None},
    ],
)
def test_reactions_that_do_not_ask_for_a_rereview(fields: dict[str, Any]) -> None:
    assert reaction_from(reaction(**fields), workspace="T1", bot_user_id="U0BOT", emoji=EMOJI) is None


@pytest.mark.parametrize("name", ["repeat", "eyes", "eyes::skin-tone-3"])
def test_reactions_that_ask_for_one(name: str) -> None:
    found = reaction_from(reaction(reaction=name), workspace="T1", bot_user_id="U0BOT", emoji=EMOJI)
    assert found is not None
    assert (found.workspace, found.channel, found.ts, found.user, found.event_ts) == ("T1", "C1", "1.2", "U1", "3.4")
    assert reaction_from(reaction(reaction=name), workspace=None, bot_user_id="U0BOT", emoji=EMOJI) is None


def test_a_review_payload_round_trips_and_other_payloads_are_not_reviews() -> None:
    review = Review("T1", "C1", "D1", "C1", "1.2", "U1", "re-review", "reaction", "rereview.1.2.U1.3.4")
    assert Review.from_payload(review.payload()) == review
    assert review.gated
    assert Review.from_payload({"work": "review", "nonsense": 1}) is None
    assert Review.from_payload({"channel": "C1"}) is None


# --- settings -------------------------------------------------------------------------------------------------------


def test_rereview_settings_read_lists_and_name_the_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        _env_file=None, rereview_emoji=":repeat:, eyes", reviewers="U0REV S0GRP,U0REV", rereview_cooldown_seconds=30
    )
    assert settings.rereview_emoji == ["repeat", "eyes"]
    assert settings.reviewers == ["U0REV", "S0GRP"]
    assert timedelta(seconds=settings.rereview_cooldown_seconds) == timedelta(seconds=30)
    for name, value, words in [
        ("SHOULD_FINETUNE_REVIEWERS", "U0REV,@alice", '"@alice" is not a member id'),
        ("SHOULD_FINETUNE_REREVIEW_EMOJI", "Repeat!", '"Repeat!" is not an emoji name'),
        ("SHOULD_FINETUNE_REREVIEW_EMOJI", ",", "name at least one emoji"),
        ("SHOULD_FINETUNE_REREVIEW_COOLDOWN_SECONDS", "-1", "greater than or equal to 0"),
    ]:
        monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError, match=name) as caught:
            load_settings(_env_file=None)
        assert words in str(caught.value)
        monkeypatch.delenv(name)
