"""The shipped policy's answers, in one place, for the policy's own tests (`test_policy.py`, `test_rules_table.py`)
that need a form leading to a given outcome.

The other tests run on the tests' own rule set (`tests/fixture_rules.py`) and never read this module (see
tests/README.md). A policy change is one edit to `rules/`, one to the policy's tests and, if a form here no longer
leads where it says, one to this module.
"""

from __future__ import annotations

from typing import Any

from bot.engine.answers import Answers
from bot.engine.ruleset import load_ruleset
from bot.resources import default_rules_dir

# Everything answered: a stable style problem that prompting, few-shot and DSPy did not fix, with an eval set.
FINE_TUNE: dict[str, Any] = {
    "use_case": "support replies in the house tone",
    "n_stable_examples": 300,
    "primary_failure": "style",
    "change_freq_days": 30,
    "tried_prompt_iteration": True,
    "prompt_iterations": 12,
    "prompt_authors": 3,
    "tried_few_shot": True,
    "tried_rag": True,
    "tried_cot": True,
    "tried_dspy": True,
    "has_eval_set": True,
    "needs_citations": False,
    "style_describable": False,
    "n_tools": 0,
    "daily_calls": 50_000,
    "latency_sensitive": True,
    "chasing_small_benchmark_gain": False,
    "retrain_cadence_days": 30,
}

# Changes to FINE_TUNE that lead to each "not yet" next step (one realistic way each).
NOT_YET: dict[str, dict[str, Any]] = {
    "few-shot": {"n_stable_examples": 20},
    "rag": {"primary_failure": "missing-knowledge"},
    "rag-with-provenance": {"needs_citations": True},
    "prompt-iteration": {"change_freq_days": 7},
    "try-prompts": {"tried_prompt_iteration": False, "prompt_iterations": None, "prompt_authors": None},
    "better-system-prompt": {"style_describable": True, "prompt_iterations": 4},
    "describe-tools": {"primary_failure": "tool-shape", "n_tools": 3},
    "cot": {"primary_failure": "reasoning", "tried_cot": False},
    "dspy": {"tried_dspy": False},
    "better-model": {"chasing_small_benchmark_gain": True},
    "build-eval": {"has_eval_set": False},
    "prompt-and-rag": {"primary_failure": "other", "latency_sensitive": False},
}


def answers(**changes: Any) -> Answers:
    """FINE_TUNE with `changes` (None leaves a question unanswered)."""
    return Answers.model_validate({**FINE_TUNE, **changes})


def not_yet(step: str, **changes: Any) -> Answers:
    """Answers whose verdict is "don't fine-tune yet" with next step `step`."""
    return answers(**{**NOT_YET[step], **changes})


def variants(**fixed: Any) -> list[Answers]:
    """Realistic forms with `fixed` answers: the fine-tune form and each "not yet" form, plus sparse versions of
    them (only what the form requires), wherever `fixed` does not contradict them."""
    required = ("use_case", "n_stable_examples", "primary_failure", "change_freq_days", "tried_prompt_iteration")
    found = []
    for changes in [{}, *NOT_YET.values()]:
        full = {**FINE_TUNE, **changes, **fixed}
        for form in (full, {name: full[name] for name in (*required, *fixed)}):
            try:
                found.append(Answers.model_validate(form))
            except ValueError:
                continue
    return found


def _shipped() -> tuple[str, dict[str, str]]:
    rules = load_ruleset(default_rules_dir())
    return rules.version, {str(step): info.title for step, info in rules.next_steps.items()}


# The shipped rule set's version, the version tests give an edited copy of it, and each next step's title.
VERSION, TITLES = _shipped()
EDITED_VERSION = f"{VERSION}-edited"
