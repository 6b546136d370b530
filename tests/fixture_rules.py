"""The tests' own rule set, `tests/data/fixture_rules/`, for every test that is not about the shipped policy.

Tests of the bot's machinery (Slack, the store, follow-ups, reviews, the digest, the CLI, the engine) run on it: the
`bot` fixture and `bot_settings` serve it, `fixture_ruleset` loads it and `fixture_rules_copy` copies it. They may
pin its version, thresholds and words, which change only with them; a change to `rules/` never reaches them. The
shipped policy has its own tests (see tests/README.md).
"""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

from bot.engine.ruleset import RuleSet, load_ruleset

DIRECTORY = Path(__file__).resolve().parent / "data" / "fixture_rules"

VERSION = "fixture-1"
"""The fixture's version, as its ruleset.yaml says it."""
EDITED_VERSION = "fixture-2"
"""The version of an edited copy (`lower_examples_threshold`)."""

EXAMPLES_THRESHOLD = 40
"""too-few-examples (next step few-shot) fires under this many stable examples."""


@cache
def ruleset() -> RuleSet:
    """The fixture rule set, loaded once."""
    return load_ruleset(DIRECTORY)


def titles() -> dict[str, str]:
    """Each next step's title, as the fixture's ruleset.yaml says it."""
    return {str(step): info.title for step, info in ruleset().next_steps.items()}


def copy(into: Path) -> Path:
    """A writable copy of the fixture rule set, as `into`/rules."""
    target = into / "rules"
    shutil.copytree(DIRECTORY, target)
    return target


def edit(rules: Path, name: str, old: str, new: str) -> None:
    """Replace `old`, which must be in `rules`/`name` exactly once, by `new`."""
    path = rules / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {name} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def lower_examples_threshold(rules: Path, to: int) -> None:
    """In the copy `rules`, too-few-examples fires under `to` examples instead of 40, and the version moves on to
    EDITED_VERSION."""
    threshold = "when: {fact: n_stable_examples, op: lt, value: %d}"
    edit(rules, "decisions.yaml", threshold % EXAMPLES_THRESHOLD, threshold % to)
    edit(rules, "ruleset.yaml", f'version: "{VERSION}"', f'version: "{EDITED_VERSION}"')


def copy_with_fewer_examples_needed(into: Path, to: int) -> Path:
    """A copy of the fixture rules under `into` whose too-few-examples fires under `to` examples, as EDITED_VERSION."""
    rules = copy(into)
    lower_examples_threshold(rules, to)
    return rules
