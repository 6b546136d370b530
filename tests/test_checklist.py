"""The seed's pre-flight checklist is the rule set's backbone: for answers holding only the checklist's five facts,
the verdict and next step are exactly the checklist's own result."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.engine.answers import MAX_COUNT, MAX_DAYS, Answers, Failure
from bot.engine.ruleset import RuleSet
from bot.engine.verdict import evaluate
from tests.conftest import fact_values

CHECKLIST_FACTS = ("n_stable_examples", "primary_failure", "change_freq_days", "tried_prompt_iteration", "tried_dspy")

# The checklist's own labels, as next-step ids.
LABELS = {
    "Use few-shot": "few-shot",
    "Use RAG": "rag",
    "Prompt iteration": "prompt-iteration",
    "Try prompts": "try-prompts",
    "Try DSPy/MIPROv2": "dspy",
    "OK to fine-tune": "fine-tune",
    "Default to prompt+RAG": "prompt-and-rag",
}


def seed_should_finetune(p: dict[str, Any]) -> tuple[bool, str]:
    """The seed document's function, line for line (its "missing knowledge" is our "missing-knowledge")."""
    if p["n_stable_examples"] < 50:
        return False, "Use few-shot"
    if p["primary_failure"] == "missing-knowledge":
        return False, "Use RAG"
    if p["change_freq_days"] < 14:
        return False, "Prompt iteration"
    if not p["tried_prompt_iteration"]:
        return False, "Try prompts"
    if not p["tried_dspy"]:
        return False, "Try DSPy/MIPROv2"
    if p["primary_failure"] in ("style", "format", "tool-shape", "latency"):
        return True, "OK to fine-tune"
    return False, "Default to prompt+RAG"


def assert_matches_checklist(ruleset: RuleSet, facts: dict[str, Any]) -> None:
    fine_tune, label = seed_should_finetune(facts)
    verdict = evaluate(ruleset, Answers.model_validate(facts))
    assert (verdict.verdict.value, verdict.next_step.value) == (
        "fine-tune" if fine_tune else "dont-fine-tune",
        LABELS[label],
    ), facts


def test_every_band_of_the_checklist(ruleset: RuleSet) -> None:
    """Exhaustive over every side of every threshold: 12 x 8 x 6 x 2 x 2 = 2,304 cases."""
    examples = (0, 1, 48, 49, 50, 51, 199, 200, 201, 499, 500, MAX_COUNT)
    days = (1, 7, 13, 14, 15, MAX_DAYS)
    cases = itertools.product(examples, [f.value for f in Failure], days, (False, True), (False, True))
    count = 0
    for case in cases:
        assert_matches_checklist(ruleset, dict(zip(CHECKLIST_FACTS, case, strict=True)))
        count += 1
    assert count == 2304


@given(st.fixed_dictionaries({name: fact_values(name) for name in CHECKLIST_FACTS}))
def test_whole_input_space(ruleset: RuleSet, facts: dict[str, Any]) -> None:
    assert_matches_checklist(ruleset, facts)


@given(
    st.fixed_dictionaries({}, optional={name: fact_values(name) for name in CHECKLIST_FACTS}).filter(
        lambda facts: len(facts) < len(CHECKLIST_FACTS)
    )
)
def test_never_fine_tune_on_a_guess(ruleset: RuleSet, facts: dict[str, Any]) -> None:
    """With any checklist fact unanswered, fine-tuning is never the verdict, and the gap is named."""
    verdict = evaluate(ruleset, Answers.model_validate(facts))
    assert verdict.verdict.value == "dont-fine-tune"
    if verdict.decided_by.id == "default-prompt-and-rag":
        assert verdict.unanswered, "the default was reached on a guess, but no unanswered question was named"
