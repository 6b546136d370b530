"""The Answers model: the public field names, the forms a value may take in a file, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine.answers import FACTS, Answers, AnswersError, parse_answers

PUBLIC_FIELDS = [
    "use_case",
    "n_stable_examples",
    "primary_failure",
    "change_freq_days",
    "tried_prompt_iteration",
    "prompt_iterations",
    "prompt_authors",
    "tried_few_shot",
    "tried_rag",
    "tried_cot",
    "tried_dspy",
    "has_eval_set",
    "needs_citations",
    "style_describable",
    "n_tools",
    "daily_calls",
    "latency_sensitive",
    "chasing_small_benchmark_gain",
    "retrain_cadence_days",
    "notes",
]


def test_field_names_are_the_public_contract() -> None:
    assert list(Answers.model_fields) == PUBLIC_FIELDS
    assert list(FACTS) == PUBLIC_FIELDS


@pytest.mark.parametrize("name", [n for n, f in FACTS.items() if f.type == "int"])
def test_fact_bounds_match_the_model(name: str) -> None:
    fact = FACTS[name]
    assert fact.minimum is not None
    assert fact.maximum is not None
    assert getattr(parse_answers({name: fact.minimum}), name) == fact.minimum
    assert getattr(parse_answers({name: fact.maximum}), name) == fact.maximum
    for outside in (fact.minimum - 1, fact.maximum + 1):
        with pytest.raises(AnswersError, match=name):
            parse_answers({name: outside})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("yes", True), ("no", False), ("true", True), ("false", False), ("YES", True), (True, True), ("unknown", None),
     ("", None), (None, None)],
)  # fmt: skip
def test_yes_no_forms(raw: Any, expected: bool | None) -> None:
    assert parse_answers({"tried_dspy": raw}).tried_dspy is expected


@pytest.mark.parametrize("raw", ["Missing Knowledge", "missing_knowledge", " missing-knowledge ", "MISSING-KNOWLEDGE"])
def test_failure_spellings(raw: str) -> None:
    assert parse_answers({"primary_failure": raw}).primary_failure == "missing-knowledge"


def test_counts_from_text() -> None:
    assert parse_answers({"n_stable_examples": "600"}).n_stable_examples == 600


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"n_examples": 3}, 'n_examples: unknown field (did you mean "n_stable_examples"?)'),
        ({"n_stable_examples": -1}, "n_stable_examples: Input should be greater than or equal to 0"),
        ({"n_stable_examples": "lots"}, "n_stable_examples: Input should be a valid integer"),
        ({"n_stable_examples": 4.5}, "fractional part"),
        ({"n_stable_examples": True}, "n_stable_examples: a whole number is needed, not yes"),
        ({"change_freq_days": 0}, "change_freq_days: Input should be greater than or equal to 1"),
        ({"primary_failure": "stlye"}, '(did you mean "style"?)'),
        ({"tried_dspy": "maybe"}, "tried_dspy: Input should be a valid boolean"),
        ({"use_case": "x" * 301}, "use_case: String should have at most 300 characters"),
        (
            {"tried_prompt_iteration": "no", "prompt_iterations": 4},
            "You say nobody iterated on the prompt but count 4 iterations",
        ),
        ({"prompt_iterations": 0, "prompt_authors": 2}, "No iterations cannot have authors"),
        ({"tried_prompt_iteration": True, "prompt_iterations": 0}, "iterated on but count 0 iterations"),
        ({"prompt_iterations": 10, "prompt_authors": 0}, "10 iterations need at least one author"),
        ({"prompt_iterations": 3, "prompt_authors": 5}, "More authors than iterations"),
        ({"tried_prompt_iteration": False, "prompt_authors": 2}, "nobody iterated on the prompt but count 2 authors"),
        ({"tried_prompt_iteration": True, "prompt_authors": 0}, "iterated on but count 0 authors"),
        ({"primary_failure": "tool-shape", "n_tools": 0}, "the model has 0 tools"),
    ],
)
def test_refusals_name_the_field_and_the_problem(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(AnswersError) as caught:
        parse_answers(data)
    assert expected in str(caught.value)


@pytest.mark.parametrize("data", [[], "n_stable_examples: 5", 42, None])
def test_not_an_object(data: Any) -> None:
    with pytest.raises(AnswersError, match="expected an object of answers"):
        parse_answers(data)


@pytest.mark.parametrize("name", list(FACTS))
def test_every_fact_has_its_words(name: str) -> None:
    """Each fact has its question and the short label messages show; an enum offers each of its choices once; a
    sentence can say any answer: with the value in `{}`, or for yes/no a yes and a no, or as a technique tried."""
    fact = FACTS[name]
    assert fact.question.endswith("?")
    assert fact.label
    values = [option.value for option in fact.options]
    assert len(values) == len(set(values))
    assert all(option.label and option.said for option in fact.options)
    if fact.type == "enum":
        assert sorted(map(str, values)) == sorted(fact.choices)
    elif fact.type == "int":
        assert fact.said.count("{}") == 1
        assert all(fact.minimum <= value <= fact.maximum for value in values)
    elif fact.type == "bool":
        assert not values
        assert (fact.tried is not None) != bool(fact.said and fact.said_no)
    else:
        assert not values
        assert not fact.said
