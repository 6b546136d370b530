"""Table-driven tests of the bundled rule set: each of the seed's eight situations, each threshold on both sides,
and each pitfall. Every case starts from fully answered facts that lead to fine-tuning and changes only what the
case is about, so a case shows exactly which answer moves the verdict."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine.answers import Answers
from bot.engine.ruleset import RuleSet
from bot.engine.verdict import evaluate
from tests import policy

BASE: dict[str, Any] = policy.FINE_TUNE

FINE_TUNE = ("fine-tune", "fine-tune", "behaviour-fine-tune")


def run(ruleset: RuleSet, **changes: Any) -> tuple[str, str, str]:
    verdict = evaluate(ruleset, Answers.model_validate({**BASE, **changes}))
    return verdict.verdict.value, verdict.next_step.value, verdict.decided_by.id


def test_base_case_fine_tunes_with_nothing_assumed(ruleset: RuleSet) -> None:
    verdict = evaluate(ruleset, Answers.model_validate(BASE))
    assert (verdict.verdict.value, verdict.next_step.value, verdict.decided_by.id) == FINE_TUNE
    assert verdict.assumptions == ()
    assert verdict.unanswered == ()


SITUATIONS = [
    # (seed table row, change, expected next step, deciding rule)
    ("1: under 50 examples", {"n_stable_examples": 49}, "few-shot", "few-stable-examples"),
    ("1: no examples at all", {"n_stable_examples": 0}, "few-shot", "few-stable-examples"),
    ("2: knowledge gap", {"primary_failure": "missing-knowledge"}, "rag", "knowledge-gap"),
    ("3: requirements change weekly", {"change_freq_days": 7}, "prompt-iteration", "requirements-churn"),
    ("4: chasing an MMLU bump", {"chasing_small_benchmark_gain": True}, "better-model", "benchmark-chasing"),
    (
        "5: describable style",
        {"style_describable": True, "prompt_iterations": 6},
        "better-system-prompt",
        "describable-style",
    ),
    (
        "5: describable style, not enough said",
        {"style_describable": True, "prompt_authors": None},
        "better-system-prompt",
        "describable-style",
    ),
    ("6: fewer than 5 tools", {"primary_failure": "tool-shape", "n_tools": 4}, "describe-tools", "few-tools"),
    ("6: a single tool", {"primary_failure": "tool-shape", "n_tools": 1}, "describe-tools", "few-tools"),
    ("7: DSPy not tried", {"tried_dspy": False}, "dspy", "dspy-not-tried"),
    ("7: CoT not tried", {"primary_failure": "tool-shape", "n_tools": 8, "tried_cot": False}, "cot", "cot-not-tried"),
    ("7: CoT not tried, reasoning", {"primary_failure": "reasoning", "tried_cot": False}, "cot", "cot-not-tried"),
    ("8: citations required", {"needs_citations": True}, "rag-with-provenance", "compliance-citations"),
]


@pytest.mark.parametrize(("row", "change", "step", "rule"), SITUATIONS, ids=[s[0] for s in SITUATIONS])
def test_situations(ruleset: RuleSet, row: str, change: dict[str, Any], step: str, rule: str) -> None:
    assert run(ruleset, **change) == ("dont-fine-tune", step, rule)


THRESHOLDS = [
    # (what, change on the "not yet" side, rule, next step, change on the other side)
    ("50 examples", {"n_stable_examples": 49}, "few-stable-examples", "few-shot", {"n_stable_examples": 50}),
    ("14 days", {"change_freq_days": 13}, "requirements-churn", "prompt-iteration", {"change_freq_days": 14}),
    ("5 tools", {"primary_failure": "tool-shape", "n_tools": 4}, "few-tools", "describe-tools",
     {"primary_failure": "tool-shape", "n_tools": 5}),
    ("10 iterations", {"prompt_iterations": 9}, "prompting-not-plateaued", "prompt-iteration",
     {"prompt_iterations": 10}),
    ("3 authors", {"prompt_authors": 2}, "prompting-not-plateaued", "prompt-iteration", {"prompt_authors": 3}),
    ("10K calls a day, latency", {"primary_failure": "latency", "daily_calls": 10_000}, "latency-at-low-volume",
     "better-model", {"primary_failure": "latency", "daily_calls": 10_001}),
    ("two weeks between retrains", {"retrain_cadence_days": 13}, "retrain-too-often", "prompt-and-rag",
     {"retrain_cadence_days": 14}),
]  # fmt: skip


@pytest.mark.parametrize(("what", "below", "rule", "step", "above"), THRESHOLDS, ids=[t[0] for t in THRESHOLDS])
def test_thresholds_on_both_sides(
    ruleset: RuleSet, what: str, below: dict[str, Any], rule: str, step: str, above: dict[str, Any]
) -> None:
    assert run(ruleset, **below) == ("dont-fine-tune", step, rule)
    assert run(ruleset, **above) == FINE_TUNE


def test_prompting_never_tried(ruleset: RuleSet) -> None:
    changes = {"tried_prompt_iteration": False, "prompt_iterations": None, "prompt_authors": None}
    assert run(ruleset, **changes) == ("dont-fine-tune", "try-prompts", "prompting-not-tried")


def test_few_shot_comes_before_dspy_and_fine_tuning(ruleset: RuleSet) -> None:
    assert run(ruleset, tried_few_shot=False) == ("dont-fine-tune", "few-shot", "few-shot-not-tried")
    assert run(ruleset, tried_few_shot=False, tried_dspy=False)[2] == "few-shot-not-tried"


@pytest.mark.parametrize(
    ("examples", "rule"),
    [(50, "dspy-not-tried-small"), (199, "dspy-not-tried-small"), (200, "dspy-not-tried"), (5000, "dspy-not-tried")],
)
def test_about_200_examples_before_miprov2(ruleset: RuleSet, examples: int, rule: str) -> None:
    """The flowchart's 200: below it DSPy's bootstrap optimiser, from it MIPROv2; both are the `dspy` step."""
    assert run(ruleset, n_stable_examples=examples, tried_dspy=False) == ("dont-fine-tune", "dspy", rule)


def test_no_eval_set_blocks_fine_tuning(ruleset: RuleSet) -> None:
    assert run(ruleset, has_eval_set=False) == ("dont-fine-tune", "build-eval", "eval-before-fine-tune")


SCALE = {
    "primary_failure": "reasoning",
    "daily_calls": 10_001,
    "latency_sensitive": True,
    "n_stable_examples": 501,
}


@pytest.mark.parametrize(
    "change",
    [{}, {"primary_failure": "other"}, {"daily_calls": 10**7}],
    ids=["reasoning", "other", "ten-million-calls"],
)
def test_faq_scale_flip(ruleset: RuleSet, change: dict[str, Any]) -> None:
    """Stable, over 10K calls a day, latency-sensitive, more than 500 curated examples, held-out eval: fine-tune."""
    assert run(ruleset, **{**SCALE, **change}) == ("fine-tune", "fine-tune", "scale-flip")


@pytest.mark.parametrize(
    ("change", "step", "rule"),
    [
        ({"daily_calls": 10_000}, "better-model", "reasoning-stronger-model"),
        ({"latency_sensitive": False}, "better-model", "reasoning-stronger-model"),
        ({"n_stable_examples": 500}, "better-model", "reasoning-stronger-model"),
        ({"primary_failure": "other", "n_stable_examples": 500}, "prompt-and-rag", "default-prompt-and-rag"),
        ({"primary_failure": "other", "daily_calls": 10_000}, "prompt-and-rag", "default-prompt-and-rag"),
    ],
    ids=["10K-calls", "not-latency-sensitive", "exactly-500-examples", "other-500", "other-10K"],
)
def test_below_the_scale_flip(ruleset: RuleSet, change: dict[str, Any], step: str, rule: str) -> None:
    """Below the flip, a reasoning failure that survived the cheaper moves tries a stronger model; anything else
    stays with prompt and retrieval."""
    assert run(ruleset, **{**SCALE, **change}) == ("dont-fine-tune", step, rule)


def test_a_reasoning_failure_with_everything_tried_gets_a_stronger_model(ruleset: RuleSet) -> None:
    assert run(ruleset, primary_failure="reasoning") == ("dont-fine-tune", "better-model", "reasoning-stronger-model")
    assert run(ruleset, primary_failure="reasoning", tried_cot=None)[2] == "default-prompt-and-rag"


COST = {"primary_failure": "cost", "daily_calls": 10_001, "prompt_iterations": 10, "prompt_authors": 3}


def test_cost_at_scale_after_a_plateau_fine_tunes(ruleset: RuleSet) -> None:
    """The FAQ's cost answer: 4-8x cheaper at scale, only once prompting has plateaued; no latency condition."""
    assert run(ruleset, **COST, latency_sensitive=False) == ("fine-tune", "fine-tune", "cost-at-scale")


@pytest.mark.parametrize(
    ("change", "step", "rule"),
    [
        ({"daily_calls": 10_000}, "better-model", "cost-at-low-volume"),
        ({"daily_calls": 200, "tried_dspy": False}, "better-model", "cost-at-low-volume"),
        ({"prompt_iterations": 9}, "prompt-iteration", "prompting-not-plateaued"),
        ({"prompt_authors": 2}, "prompt-iteration", "prompting-not-plateaued"),
        ({"has_eval_set": False}, "build-eval", "eval-before-fine-tune"),
        ({"prompt_iterations": None}, "prompt-and-rag", "default-prompt-and-rag"),
    ],
    ids=["10K-calls", "low-volume-first", "9-iterations", "2-authors", "no-eval", "plateau-unknown"],
)
def test_cost_decided_on_its_own_evidence(ruleset: RuleSet, change: dict[str, Any], step: str, rule: str) -> None:
    assert run(ruleset, **{**COST, **change}) == ("dont-fine-tune", step, rule)


def test_a_described_style_that_prompting_plateaued_on_may_be_fine_tuned(ruleset: RuleSet) -> None:
    assert run(ruleset, style_describable=True) == ("fine-tune", "fine-tune", "describable-style-plateaued")
    # Every piece of evidence is needed; without one, the system prompt stays the advice.
    for missing in ("prompt_iterations", "tried_few_shot", "has_eval_set", "retrain_cadence_days"):
        assert run(ruleset, style_describable=True, **{missing: None})[2] == "describable-style", missing


def test_a_describable_style_matters_only_for_style_problems(ruleset: RuleSet) -> None:
    for failure in ("format", "latency", "cost", "tool-shape", "reasoning"):
        step = run(ruleset, primary_failure=failure, style_describable=True, n_tools=8, daily_calls=50_000)[1]
        assert step != "better-system-prompt", failure


def test_few_shot_is_not_advised_for_latency_or_cost(ruleset: RuleSet) -> None:
    """Examples lengthen every prompt: slower and dearer."""
    assert run(ruleset, primary_failure="latency", tried_few_shot=False) == FINE_TUNE
    assert run(ruleset, primary_failure="format", tried_few_shot=False)[1] == "few-shot"


def test_a_fast_retrain_cadence_blocks_fine_tuning(ruleset: RuleSet) -> None:
    """The seed's pitfall: a cadence under two weeks is a process problem, not a fine-tuning problem."""
    assert run(ruleset, primary_failure="format", retrain_cadence_days=7) == (
        "dont-fine-tune",
        "prompt-and-rag",
        "retrain-too-often",
    )
    assert run(ruleset, retrain_cadence_days=7, tried_dspy=False)[2] == "dspy-not-tried"  # cheaper advice first


def warnings(ruleset: RuleSet, **changes: Any) -> set[str]:
    return {rule.id for rule in evaluate(ruleset, Answers.model_validate({**BASE, **changes})).warnings}


def test_pitfall_no_eval_set(ruleset: RuleSet) -> None:
    assert "no-eval-set" in warnings(ruleset, has_eval_set=False)
    assert "no-eval-set" in warnings(ruleset, has_eval_set=False, n_stable_examples=10)  # on any verdict
    assert "no-eval-set" not in warnings(ruleset)
    assert "no-eval-set" not in warnings(ruleset, has_eval_set=None)  # never on a guess


def test_pitfall_catastrophic_forgetting_on_every_fine_tune(ruleset: RuleSet) -> None:
    assert "catastrophic-forgetting" in warnings(ruleset)
    assert "catastrophic-forgetting" in warnings(ruleset, **SCALE)
    assert "catastrophic-forgetting" not in warnings(ruleset, n_stable_examples=10)


def test_pitfall_fine_tuning_as_a_knowledge_update(ruleset: RuleSet) -> None:
    assert "knowledge-via-fine-tuning" in warnings(ruleset, primary_failure="missing-knowledge")
    assert "knowledge-via-fine-tuning" not in warnings(ruleset)


def test_provider_availability_is_flagged_on_fine_tune_verdicts(ruleset: RuleSet) -> None:
    assert "provider-availability" in warnings(ruleset)
    assert "provider-availability" not in warnings(ruleset, tried_dspy=False)


def test_every_rule_is_exercised_by_these_tables(ruleset: RuleSet) -> None:
    """A new rule without a table case here fails this test."""
    decided = {run(ruleset, **change)[2] for _, change, _, _ in SITUATIONS}
    decided |= {rule for _, _, rule, _, _ in THRESHOLDS}
    decided |= {
        "prompting-not-tried",
        "few-shot-not-tried",
        "dspy-not-tried-small",
        "eval-before-fine-tune",
        "scale-flip",
        "default-prompt-and-rag",
        "behaviour-fine-tune",
        "cost-at-low-volume",
        "cost-at-scale",
        "reasoning-stronger-model",
        "describable-style-plateaued",
    }
    tested_warnings = {
        "no-eval-set",
        "catastrophic-forgetting",
        "knowledge-via-fine-tuning",
        "provider-availability",
    }
    assert {rule.id for rule in ruleset.rules} == decided | tested_warnings
