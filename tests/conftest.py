"""Shared fixtures and strategies. Tests use the bundled rule set unless they make their own."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from bot.engine.answers import FACTS, MAX_COUNT, Answers, contradictions
from bot.engine.ruleset import RuleSet, load_ruleset
from bot.resources import default_rules_dir

pytest_plugins = ["tests.redis_support", "tests.slack_support"]


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return load_ruleset(default_rules_dir())


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled rule set, for tests that break or change it."""
    target = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), target, ignore=shutil.ignore_patterns("*.md"))
    return target


def _interesting_ints(minimum: int, maximum: int) -> st.SearchStrategy[int]:
    # Values around every threshold the rules use, and anywhere in the allowed range.
    near = [v for t in (1, 3, 5, 10, 14, 50, 200, 500, 10_000) for v in (t - 1, t, t + 1) if minimum <= v <= maximum]
    return st.one_of(st.sampled_from(near), st.integers(minimum, maximum))


def fact_values(name: str) -> st.SearchStrategy[Any]:
    """Any valid value of one fact (never None)."""
    fact = FACTS[name]
    if fact.type == "bool":
        return st.booleans()
    if fact.type == "enum":
        return st.sampled_from(fact.choices)
    if fact.type == "int":
        assert fact.minimum is not None
        return _interesting_ints(fact.minimum, fact.maximum or MAX_COUNT)
    return st.text(max_size=40)


@st.composite
def answers(draw: st.DrawFn, *, unanswered: float = 0.5) -> Answers:
    """Valid answers, each fact left unanswered with probability about `unanswered`."""
    values: dict[str, Any] = {}
    for name, fact in FACTS.items():
        if fact.type == "text" or draw(st.floats(0, 1)) < unanswered:
            continue
        values[name] = draw(fact_values(name))
    while found := contradictions(values):  # leave out the answers that contradict others
        for fact, _ in found:
            values.pop(fact, None)
    return Answers.model_validate(values)
