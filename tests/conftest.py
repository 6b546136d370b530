"""Shared fixtures and strategies.

Two rule sets: the tests' own fixture (`fixture_ruleset`, `fixture_rules_copy`; tests/data/fixture_rules/), which every
test of the bot's machinery uses, and the shipped policy (`ruleset`, `rules_copy`; rules/), for the policy's own tests.
See tests/README.md.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from bot.engine.answers import FACTS, MAX_COUNT, Answers, contradictions
from bot.engine.ruleset import RuleSet, load_ruleset
from bot.resources import default_rules_dir
from tests import fixture_rules

pytest_plugins = ["tests.redis_support", "tests.slack_support"]


@pytest.fixture(scope="session")
def fixture_ruleset() -> RuleSet:
    """The tests' own rule set (tests/data/fixture_rules/), for every test that is not about the shipped policy."""
    return fixture_rules.ruleset()


@pytest.fixture
def fixture_rules_copy(tmp_path: Path) -> Path:
    """A writable copy of the tests' own rule set, for tests that break or change a rule set."""
    return fixture_rules.copy(tmp_path)


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    """The shipped policy (rules/): only for the policy's own tests (see tests/README.md)."""
    return load_ruleset(default_rules_dir())


@pytest.fixture(scope="session", params=["fixture", "shipped"])
def any_ruleset(request: pytest.FixtureRequest) -> RuleSet:
    """The tests' own rule set, then the shipped policy: for properties that hold whatever the rules say."""
    name = "fixture_ruleset" if request.param == "fixture" else "ruleset"
    ruleset: RuleSet = request.getfixturevalue(name)
    return ruleset


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped policy: only for tests about the shipped rules themselves."""
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
