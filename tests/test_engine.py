"""Properties of evaluation that hold for any answers: three-valued logic, no firing on a guess, honest
assumptions, a complete trace, and verified "what would change" suggestions.

The properties hold for any rule set, so they run on both the tests' own (`fixture_ruleset`) and the shipped policy,
the richest input there is; the examples with named rules and thresholds run on the tests' own only.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.advice import what_follows
from bot.engine.analysis import candidate_values
from bot.engine.answers import FACTS, Answers
from bot.engine.changes import is_lever, what_would_change
from bot.engine.conditions import All, AnyOf, Condition, Leaf, Not, compile_condition
from bot.engine.report import verdict_report
from bot.engine.ruleset import RuleSet, VerdictKind
from bot.engine.verdict import evaluate
from tests.conftest import answers, fact_values

# --- three-valued logic -----------------------------------------------------------------------------------


@st.composite
def conditions(draw: st.DrawFn, leaves: int = 6, depth: int = 3) -> Condition:
    if depth == 0 or draw(st.booleans()):
        return Leaf(draw(st.integers(0, leaves - 1)), "n_tools", "gt", 0)
    kind = draw(st.sampled_from(["all", "any", "not"]))
    if kind == "not":
        return Not(draw(conditions(leaves, depth - 1)))
    parts = tuple(draw(st.lists(conditions(leaves, depth - 1), min_size=1, max_size=4)))
    return All(parts) if kind == "all" else AnyOf(parts)


@given(conditions(), st.lists(st.sampled_from([True, False, None]), min_size=6, max_size=6))
def test_compiled_conditions_agree_with_the_plain_definition(condition: Condition, results: list[Any]) -> None:
    assert compile_condition(condition)(results) is condition.evaluate(results)


@pytest.mark.parametrize(
    ("kind", "inputs", "expected"),
    [
        ("all", (True, True), True),
        ("all", (True, None), None),
        ("all", (False, None), False),
        ("any", (False, False), False),
        ("any", (False, None), None),
        ("any", (True, None), True),
        ("not", (None,), None),
        ("not", (True,), False),
    ],
)
def test_kleene_truth_table(kind: str, inputs: tuple[Any, ...], expected: Any) -> None:
    leaves = tuple(Leaf(i, "n_tools", "gt", 0) for i in range(len(inputs)))
    condition: Condition = Not(leaves[0]) if kind == "not" else (All if kind == "all" else AnyOf)(leaves)
    assert condition.evaluate(list(inputs)) is expected


# --- unanswered facts ---------------------------------------------------------------------------------------


@st.composite
def partial_and_completion(draw: st.DrawFn) -> tuple[Answers, Answers]:
    """Some answers, and the same answers with some of the unanswered facts filled in."""
    partial = draw(answers(unanswered=0.6))
    known = partial.model_dump()
    for name, fact in FACTS.items():
        if known[name] is None and fact.type != "text" and draw(st.booleans()):
            known[name] = draw(fact_values(name))
    if known["tried_prompt_iteration"] is False:
        known["prompt_iterations"] = partial.prompt_iterations
    if known["prompt_iterations"] == 0:
        known["prompt_authors"] = partial.prompt_authors
    try:
        return partial, Answers.model_validate(known)
    except ValueError:
        return partial, partial


@settings(max_examples=400)
@given(partial_and_completion())
def test_a_fired_rule_stays_fired_whatever_the_unanswered_facts_turn_out_to_be(
    any_ruleset: RuleSet, pair: tuple[Answers, Answers]
) -> None:
    partial, completed = pair
    before, after = evaluate(any_ruleset, partial), evaluate(any_ruleset, completed)
    for position, rule in enumerate(any_ruleset.rules):
        if rule.condition is not None and before.rule_results[position] is True:
            assert rule.check is not None
            assert rule.check(after.leaf_results) is True, rule.id


@settings(max_examples=400)
@given(partial_and_completion())
def test_only_the_named_unanswered_questions_can_change_the_outcome(
    any_ruleset: RuleSet, pair: tuple[Answers, Answers]
) -> None:
    partial, completed = pair
    before, after = evaluate(any_ruleset, partial), evaluate(any_ruleset, completed)
    if after.decided_by is not before.decided_by:
        filled = {name for name in FACTS if getattr(partial, name) is None and getattr(completed, name) is not None}
        assert filled & set(before.unanswered), (before.decided_by.id, after.decided_by.id, filled)


def test_assumptions_name_the_rule_and_its_missing_facts(fixture_ruleset: RuleSet) -> None:
    verdict = evaluate(
        fixture_ruleset,
        Answers(
            n_stable_examples=120,
            primary_failure="format",
            change_freq_days=30,
            tried_prompt_iteration=True,
            tried_dspy=True,
        ),
    )
    assert verdict.verdict is VerdictKind.FINE_TUNE
    by_rule = {a.rule.id: a.unanswered for a in verdict.assumptions}
    assert by_rule["citations-required"] == ("needs_citations",)
    assert by_rule["prompting-unfinished"] == ("prompt_iterations", "prompt_authors")
    assert set(by_rule) == {
        "citations-required",
        "prompting-unfinished",
        "few-shot-untried",
        "eval-missing",
        "retrain-weekly",
    }  # small-toolbox is settled: the failure is format
    assert verdict.unanswered[0] == "needs_citations"


def test_rules_after_the_deciding_one_are_not_assumptions(fixture_ruleset: RuleSet) -> None:
    verdict = evaluate(fixture_ruleset, Answers(n_stable_examples=10, primary_failure="format"))
    assert verdict.decided_by.id == "too-few-examples"
    assert [a.rule.id for a in verdict.assumptions] == ["citations-required"]
    assert verdict.unanswered == ("needs_citations",)


def test_nothing_answered(fixture_ruleset: RuleSet) -> None:
    verdict = evaluate(fixture_ruleset, Answers())
    assert (verdict.verdict, verdict.decided_by.id) == (VerdictKind.DONT_FINE_TUNE, "stay-with-prompts")
    assert verdict.reasons == (verdict.decided_by,)
    assert verdict.warnings == ()
    assert set(verdict.unanswered) >= {"n_stable_examples", "primary_failure", "tried_dspy", "has_eval_set"}


# --- the trace ----------------------------------------------------------------------------------------------


@given(answers())
def test_trace_covers_every_rule_with_the_values_compared(any_ruleset: RuleSet, given_answers: Answers) -> None:
    verdict = evaluate(any_ruleset, given_answers)
    trace = verdict.trace()
    assert [entry["rule"] for entry in trace] == [rule.id for rule in any_ruleset.rules]
    assert [entry["decisive"] for entry in trace].count(True) == 1
    assert {entry["rule"] for entry in trace if entry["status"] == "fired"} == {r.id for r in verdict.fired}

    def leaves(node: Any) -> list[dict[str, Any]]:
        if not isinstance(node, dict):
            return []
        if "fact" in node:
            return [node]
        inner = node.get("all") or node.get("any") or [node.get("not")]
        return [leaf for part in inner for leaf in leaves(part)]

    for entry in trace:
        for leaf in leaves(entry["condition"]):
            actual = getattr(given_answers, leaf["fact"])
            assert leaf["actual"] == actual
            assert (leaf["result"] is None) == (actual is None)


def test_report_has_the_public_keys(fixture_ruleset: RuleSet) -> None:
    report = verdict_report(evaluate(fixture_ruleset, Answers(n_stable_examples=10)))
    assert {"verdict", "next_step", "fired", "warnings", "ruleset", "trace"} <= set(report)
    assert report["ruleset"] == {"version": fixture_ruleset.version, "sha256": fixture_ruleset.sha256}
    assert report["fired"] == ["too-few-examples"]


# --- what would change the verdict -------------------------------------------------------------------------


def apply(base: Answers, change: dict[str, tuple[Any, Any]]) -> Answers:
    return Answers.model_validate({**base.model_dump(), **{name: new for name, (_, new) in change.items()}})


@settings(max_examples=300, deadline=None)
@given(answers(unanswered=0.3))
def test_every_suggested_change_really_flips_the_verdict(any_ruleset: RuleSet, given_answers: Answers) -> None:
    verdict = evaluate(any_ruleset, given_answers)
    for change in what_would_change(verdict):
        outcome = evaluate(any_ruleset, apply(given_answers, change.facts))
        assert outcome.verdict is not verdict.verdict
        assert (outcome.verdict, outcome.next_step.value, outcome.decided_by.id) == (
            change.verdict,
            change.next_step,
            change.rule,
        )
        assert all(getattr(given_answers, name) == old for name, (old, _) in change.facts.items())


@settings(max_examples=150, deadline=None)
@given(answers(unanswered=0.2))
def test_no_single_answer_flips_a_not_yet_when_a_larger_change_is_reported(
    any_ruleset: RuleSet, given_answers: Answers
) -> None:
    """Brute force over one lever at a time, on every side of every threshold: the search finds the smallest."""
    verdict = evaluate(any_ruleset, given_answers)
    if verdict.verdict is not VerdictKind.DONT_FINE_TUNE:
        return
    domains = candidate_values(leaf for rule in any_ruleset.rules if rule.condition for leaf in rule.condition.leaves())
    single_flip = False
    for name, values in domains.items():
        for value in values:
            if not is_lever(name, getattr(given_answers, name), value):
                continue
            try:
                changed = Answers.model_validate({**given_answers.model_dump(), name: value})
            except ValueError:
                continue
            if evaluate(any_ruleset, changed).verdict is VerdictKind.FINE_TUNE:
                single_flip = True
    found = what_would_change(verdict)
    if single_flip:
        assert found, "a one-answer change to fine-tune exists but none was reported"
        assert len(found[0].facts) == 1


def test_a_not_yet_says_what_leads_to_fine_tuning(fixture_ruleset: RuleSet) -> None:
    answers_ = Answers(
        n_stable_examples=30,
        primary_failure="format",
        change_freq_days=60,
        tried_prompt_iteration=True,
        tried_dspy=True,
    )
    (change,) = what_would_change(evaluate(fixture_ruleset, answers_))
    assert change.facts == {"n_stable_examples": (30, 40)}
    assert (change.verdict, change.rule) == (VerdictKind.FINE_TUNE, "pattern-fine-tune")


def test_a_fine_tune_suggests_nothing_a_team_would_not_do(fixture_ruleset: RuleSet) -> None:
    """Leading away from fine-tuning would take fewer examples or a different failure: facts, not levers."""
    answers_ = Answers(
        n_stable_examples=80,
        primary_failure="format",
        change_freq_days=60,
        tried_prompt_iteration=True,
        tried_dspy=True,
    )
    assert what_would_change(evaluate(fixture_ruleset, answers_)) == []


# --- the ladder ---------------------------------------------------------------------------------------------


def test_what_follows_a_knowledge_gap_never_reaches_fine_tuning(fixture_ruleset: RuleSet) -> None:
    verdict = evaluate(fixture_ruleset, Answers(primary_failure="missing-knowledge"))
    assert verdict.next_step.value == "rag"
    assert what_follows(verdict) == []  # with retrieval tried, retrieval is still the advice


def test_what_follows_is_the_rules_with_each_step_tried(fixture_ruleset: RuleSet) -> None:
    answers_ = Answers(
        n_stable_examples=120,
        primary_failure="format",
        change_freq_days=30,
        tried_prompt_iteration=True,
        prompt_iterations=12,
        prompt_authors=3,
        tried_few_shot=False,
        tried_dspy=False,
        has_eval_set=False,
    )
    plan = [
        (f.after.value, f.condition, f.then.next_step.value) for f in what_follows(evaluate(fixture_ruleset, answers_))
    ]
    assert plan == [
        ("few-shot", "examples in the prompt do not help", "dspy"),
        ("dspy", "DSPy does not help", "build-eval"),
        ("build-eval", "you keep an eval set", "fine-tune"),
    ]
