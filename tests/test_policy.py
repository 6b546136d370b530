"""The shipped policy as people meet it: which version of it these tests were written for, realistic cases with the
expected verdict and next step, the advice around each verdict (what follows, what would change it, which questions
to ask), and the words people read.

The scenario table (`tests/data/policy_scenarios.yaml`) was written from the seed and first-party sources before
the rules were run; each case names the line that decides it. A policy change is an edit to `rules/` and to the
policy's tests only: the version and hash below, that table, and for a threshold `tests/test_rules_table.py` and
`tests/test_checklist.py`. Every other test runs on the tests' own rule set (see tests/README.md).
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.engine.advice import open_questions, what_follows, with_answers
from bot.engine.answers import FACTS, Answers, contradictions
from bot.engine.changes import is_lever, what_would_change
from bot.engine.report import verdict_report
from bot.engine.rulediff import snapshot
from bot.engine.ruleset import NextStep, RuleSet, VerdictKind
from bot.engine.verdict import evaluate
from bot.store import Trigger
from tests import policy
from tests.render_support import check_fits_whole, check_message, check_not_injected, decided, verdict_messages

SCENARIOS = yaml.safe_load((Path(__file__).parent / "data" / "policy_scenarios.yaml").read_text())

# The shipped rule set these tests were written for: its version and the hash of its meaning, as
# `should-finetune rules check` prints them. A change to rules/ changes the hash; give it a new version in
# rules/ruleset.yaml, check these tests against it, and write both here.
VERSION = "2026.12.0"
SHA256 = "d069c20523f0388b31cae56f07d6fb39348c723adf86ed586394eb058e3fc938"


def test_the_policy_is_the_version_these_tests_were_written_for(ruleset: RuleSet) -> None:
    if ruleset.sha256 != SHA256:
        assert ruleset.version != VERSION, (
            f"rules/ changed but kept version {VERSION}: give it a new version in rules/ruleset.yaml"
        )
    assert (ruleset.version, ruleset.sha256) == (VERSION, SHA256), (
        "rules/ changed: check the policy's tests against it, then write its version and sha256 here"
    )


def test_the_snapshot_kept_for_every_rule_set_stays_small(ruleset: RuleSet) -> None:
    """Each rule set's snapshot is kept in Redis, for re-reviews to say what changed (bot/engine/rulediff.py)."""
    text = json.dumps(snapshot(ruleset))
    assert len(text) < 12000  # measured: 8,130 characters for version 2026.11.0 (24 rules)


# Each outcome of the shipped rules, as a realistic form gives it.
OUTCOMES = {"fine-tune": policy.answers(), **{step: policy.not_yet(step) for step in policy.NOT_YET}}


@pytest.mark.parametrize("step", list(OUTCOMES))
@pytest.mark.parametrize(("versions", "trigger"), [(1, Trigger.SUBMIT), (3, Trigger.EDIT)])
def test_every_outcome_is_posted_whole_within_slacks_limits(
    ruleset: RuleSet, step: str, versions: int, trigger: Trigger
) -> None:
    """The shipped rules' words are the longest the messages carry: the verdict, its explanation and each
    undelivered notice fit Slack with nothing cut or left out."""
    item = decided(ruleset, OUTCOMES[step], versions=versions, trigger=trigger)
    assert item.verdict.next_step.value == step
    for message in verdict_messages(item).values():
        check_message(message)
        check_not_injected(message)
        check_fits_whole(message)


def test_the_verdicts_headline_says_the_verdict_once(ruleset: RuleSet) -> None:
    headlines = {
        step: verdict_messages(decided(ruleset, answers))["verdict"]["blocks"][0]["text"]["text"]
        for step, answers in OUTCOMES.items()
    }
    assert headlines["fine-tune"] == ":white_check_mark: Fine-tune, as a measured experiment"
    assert headlines["few-shot"] == f":raised_hand: Don't fine-tune yet: {ruleset.next_steps[NextStep.FEW_SHOT].title}"


# Next-step ids that are also the ordinary spelling of what they name may be read ("fine-tune", "few-shot", "dspy");
# the others are ids, like every rule id and every field name of the answers.
READABLE_STEP_IDS = {"fine-tune", "few-shot", "dspy"}


def test_no_ids_in_the_words_people_read(ruleset: RuleSet) -> None:
    """The Slack messages show these words as written (tests/test_questions.py checks the messages themselves)."""
    ids = (
        {rule.id for rule in ruleset.rules}
        | {step.value for step in ruleset.next_steps if step.value not in READABLE_STEP_IDS}
        | {name for name in FACTS if "_" in name}
    )
    found = re.compile(r"(?<![\w-])(" + "|".join(re.escape(name) for name in sorted(ids)) + r")(?![\w-])")
    words = [rung.title for rung in ruleset.ladder]
    for rule in ruleset.rules:
        words += [rule.title, rule.because or "", rule.rationale, rule.message or ""]
        words += [source.note or "" for source in rule.sources]
    for info in ruleset.next_steps.values():
        words += [info.title, info.summary, info.if_done or ""]
    for playbook in ruleset.playbooks:
        words += [*playbook.steps, *(source.title for source in playbook.sources)]
    assert len(words) > 300
    assert [(match.group(0), text) for text in words for match in found.finditer(text)] == []


def test_the_table_is_big_and_cited() -> None:
    assert len(SCENARIOS) >= 40
    assert len({case["name"] for case in SCENARIOS}) == len(SCENARIOS)
    for case in SCENARIOS:
        assert "seed" in case["source"] or "https://" in case["source"], case["name"]
        assert not contradictions(case["answers"]), case["name"]


@pytest.mark.parametrize("case", SCENARIOS, ids=[case["name"] for case in SCENARIOS])
def test_scenario(ruleset: RuleSet, case: dict[str, Any]) -> None:
    verdict = evaluate(ruleset, Answers.model_validate(case["answers"]))
    expected = case["expect"]
    assert (verdict.verdict.value, verdict.next_step.value) == (expected["verdict"], expected["next_step"]), (
        f"decided by {verdict.decided_by.id}; the case's source: {case['source']}"
    )


# A grid of realistic forms: what the form requires, plus the optional answers teams usually give or leave out.
GRID_AXES: dict[str, tuple[Any, ...]] = {
    "primary_failure": tuple(FACTS["primary_failure"].choices),
    "n_stable_examples": (20, 120, 300, 900),
    "change_freq_days": (7, 30),
    "tried_prompt_iteration": (True, False),
    "tried_dspy": (True, False, None),
    "tried_cot": (True, None),
    "has_eval_set": (True, False, None),
    "daily_calls": (2_000, 50_000, None),
}


def grid() -> list[Answers]:
    forms = []
    for values in itertools.product(*GRID_AXES.values()):
        form = {name: value for name, value in zip(GRID_AXES, values, strict=True) if value is not None}
        if form["tried_prompt_iteration"]:
            form.update(prompt_iterations=12, prompt_authors=3, tried_few_shot=True)
        if form["primary_failure"] == "tool-shape":
            form["n_tools"] = 8
        forms.append(Answers.model_validate(form))
    return forms


GRID = grid()


def test_no_suggestion_changes_a_fact_of_the_situation(ruleset: RuleSet) -> None:
    """What would change a verdict is only ever something the team can do or find out: never what is failing,
    whether citations are required, fewer examples, or requirements that change more often."""
    suggested = 0
    for answers in GRID:
        verdict = evaluate(ruleset, answers)
        for change in what_would_change(verdict):
            suggested += 1
            for name, (old, new) in change.facts.items():
                assert is_lever(name, old, new), (answers.known(), change)
                assert name not in ("primary_failure", "needs_citations", "change_freq_days")
                if name == "n_stable_examples":
                    assert new > old
            assert change.said()
            assert "_" not in change.said()
    assert suggested > 100  # the grid exercises the search, not just empty answers


def test_every_suggestion_and_every_step_that_follows_is_what_the_rules_say(ruleset: RuleSet) -> None:
    for answers in GRID[::7]:
        verdict = evaluate(ruleset, answers)
        for change in what_would_change(verdict):
            changed = Answers.model_validate({**answers.__dict__, **{n: new for n, (_, new) in change.facts.items()}})
            assert evaluate(ruleset, changed).next_step.value == change.next_step
        current = answers
        for follow in what_follows(verdict):
            info = ruleset.next_steps[evaluate(ruleset, current).next_step]
            assert info.done is not None
            applied = with_answers(
                current,
                {k: v if isinstance(v, bool) else max(v, current.__dict__[k] or 0) for k, v in info.done.items()},
            )
            assert applied is not None
            assert evaluate(ruleset, applied).next_step is follow.then.next_step
            current = applied


@pytest.mark.parametrize("decider", ["knowledge-gap", "compliance-citations", "benchmark-chasing"])
def test_the_plan_never_leads_to_fine_tuning_where_fine_tuning_is_the_wrong_tool(
    ruleset: RuleSet, decider: str
) -> None:
    seen = 0
    for answers in [*GRID, *policy.variants(needs_citations=True), *policy.variants(chasing_small_benchmark_gain=True)]:
        verdict = evaluate(ruleset, answers)
        if verdict.decided_by.id != decider:
            continue
        seen += 1
        report = verdict_report(verdict, trace=False)
        assert all(step["verdict"] == "dont-fine-tune" for step in report["follows"]), report["follows"]
        assert report["what_would_change"] == []
    assert seen > 0


def test_format_and_reasoning_are_not_sent_to_retrieval_because_it_is_unanswered(ruleset: RuleSet) -> None:
    for failure in ("format", "reasoning"):
        for answers in policy.variants(primary_failure=failure):
            report = verdict_report(evaluate(ruleset, answers), trace=False)
            steps = [step["next_step"] for step in report["follows"]]
            assert NextStep.RAG.value not in steps, (answers.known(), steps)


def test_at_most_three_questions_and_each_really_changes_the_outcome(ruleset: RuleSet) -> None:
    asked = 0
    for answers in [Answers(), *GRID[::5]]:
        verdict = evaluate(ruleset, answers)
        questions = open_questions(verdict)
        assert len(questions) <= 3
        for question in questions:
            asked += 1
            assert answers.__dict__[question.fact] is None
            for outcome in question.outcomes:
                changed = with_answers(answers, {question.fact: outcome.value})
                assert changed is not None
                after = evaluate(ruleset, changed)
                assert (after.verdict, after.next_step) != (verdict.verdict, verdict.next_step)
                assert (after.verdict, after.next_step) == (outcome.verdict.verdict, outcome.verdict.next_step)
    assert asked > 50


def test_a_fine_tune_with_an_unconfirmed_eval_set_asks_about_it_first(ruleset: RuleSet) -> None:
    checked = 0
    for answers in GRID:
        if answers.has_eval_set is not None:
            continue
        verdict = evaluate(ruleset, answers)
        if verdict.verdict is not VerdictKind.FINE_TUNE:
            continue
        checked += 1
        [first, *_] = open_questions(verdict)
        assert first.fact == "has_eval_set"
        assert [(o.label, o.verdict.next_step) for o in first.outcomes] == [("no", NextStep.BUILD_EVAL)]
    assert checked > 0


def test_an_almost_empty_form_asks_three_questions_and_assumes_nothing_aloud(ruleset: RuleSet) -> None:
    report = verdict_report(evaluate(ruleset, Answers(use_case="support bot")), trace=False)
    asked = [question["fact"] for question in report["questions"]]
    assert asked == ["has_eval_set", "n_stable_examples", "tried_prompt_iteration"]


def test_every_next_step_has_a_playbook_of_three_to_five_steps_with_sources(ruleset: RuleSet) -> None:
    for step in NextStep:
        for failure in (None, *FACTS["primary_failure"].choices):
            playbook = ruleset.playbook(step, failure, "no-such-rule")
            assert playbook is not None, step
            assert 3 <= len(playbook.steps) <= 5
            assert all(source.url.startswith("https://") for source in playbook.sources)


@pytest.mark.parametrize(
    ("changes", "step", "words"),
    [
        (
            {
                "primary_failure": "format",
                "tried_prompt_iteration": False,
                "prompt_iterations": None,
                "prompt_authors": None,
            },
            "try-prompts",
            "schema",
        ),
        ({"prompt_iterations": 4, "prompt_authors": 1}, "prompt-iteration", "colleague"),
        ({"change_freq_days": 7}, "prompt-iteration", "version"),
        ({"retrain_cadence_days": 7}, "prompt-and-rag", "two weeks"),
        ({"primary_failure": "latency", "daily_calls": 3_000}, "better-model", "latency"),
        ({"primary_failure": "cost", "daily_calls": 3_000}, "better-model", "cost"),
        ({"primary_failure": "reasoning"}, "better-model", "reasoning"),
        ({"primary_failure": "missing-knowledge", "n_stable_examples": 20}, "few-shot", "retrieval in first"),
    ],
)
def test_the_playbook_fits_the_rule_and_the_failure(
    ruleset: RuleSet, changes: dict[str, Any], step: str, words: str
) -> None:
    report = verdict_report(evaluate(ruleset, policy.answers(**changes)), trace=False)
    assert report["next_step"] == step
    assert words in " ".join(report["playbook"]["steps"]).lower(), report["playbook"]["steps"]


def test_every_document_the_rules_point_to_exists() -> None:
    """A reader can open what the READMEs name: every relative link and every `*.md` path in backticks."""
    root = Path(__file__).resolve().parent.parent
    for readme in (root / "README.md", root / "rules" / "README.md"):
        text = readme.read_text()
        named = re.findall(r"\]\((?!https?://|#)([^)#\s]+)", text) + re.findall(r"`([\w./-]+\.md)`", text)
        for name in named:
            assert (readme.parent / name).exists() or (root / name).exists(), f"{readme.name} names {name}"
