"""Edited copies of the shipped rules, for the benchmarks that need a rule change (benchmarks/bench_digest.py).

Tests edit copies of their own rule set instead: `tests/fixture_rules.py`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests import policy

RULES = Path(__file__).resolve().parent.parent / "rules"


def lower_few_examples_threshold(rules: Path, to: int) -> None:
    """few-stable-examples fires under `to` examples instead of 50; the rule set's version moves on."""
    checklist, meta = rules / "checklist.yaml", rules / "ruleset.yaml"
    old = "when: {fact: n_stable_examples, op: lt, value: 50}"
    assert old in checklist.read_text()
    checklist.write_text(checklist.read_text().replace(old, f"when: {{fact: n_stable_examples, op: lt, value: {to}}}"))
    assert f'version: "{policy.VERSION}"' in meta.read_text()
    meta.write_text(meta.read_text().replace(f'version: "{policy.VERSION}"', f'version: "{policy.EDITED_VERSION}"'))


def copy_with_fewer_examples_needed(into: Path, to: int) -> Path:
    """A copy of the shipped rules under `into`, with few-stable-examples firing under `to` examples."""
    copy = into / "rules"
    shutil.copytree(RULES, copy)
    lower_few_examples_threshold(copy, to)
    return copy
