"""Rule-set snapshots and their differences: what a re-review says changed between two versions of the rules.

On the tests' own rule set (`fixture_rules_copy`, `fixture_ruleset`), so the shipped policy can change freely.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.rulediff import (
    SNAPSHOT_FORMAT,
    RuleChange,
    ThresholdChange,
    diff_snapshots,
    load_snapshot,
    snapshot,
)
from bot.engine.ruleset import RuleSet, load_ruleset
from tests import fixture_rules
from tests.test_loader import rule, write_rules


def edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {name} exactly once"
    path.write_text(text.replace(old, new))


def diff_after(fixture_rules_copy: Path, name: str, old: str, new: str) -> list[RuleChange]:
    before = snapshot(load_ruleset(fixture_rules_copy))
    edit(fixture_rules_copy, name, old, new)
    return diff_snapshots(before, snapshot(load_ruleset(fixture_rules_copy)))


def test_snapshot_round_trips_through_json_without_rationale_or_sources(fixture_ruleset: RuleSet) -> None:
    taken = snapshot(fixture_ruleset)
    text = json.dumps(taken)
    assert load_snapshot(text) == taken
    assert load_snapshot(text.encode()) == taken
    assert taken["format"] == SNAPSHOT_FORMAT
    assert [r["id"] for r in taken["rules"]] == [r.id for r in fixture_ruleset.rules]
    assert "rationale" not in text
    assert "sources" not in text  # the shipped rules' snapshot is measured in test_rules_table.py


def test_snapshot_of_a_rule(fixture_ruleset: RuleSet) -> None:
    rules = {r["id"]: r for r in snapshot(fixture_ruleset)["rules"]}
    assert rules["prompting-unfinished"] == {
        "id": "prompting-unfinished",
        "title": "The prompt work is not finished",
        "order": 60,
        "kind": "decision",
        "when": "tried_prompt_iteration = yes and (prompt_iterations < 6 or prompt_authors < 2)",
        "leaves": [
            ["tried_prompt_iteration", "eq", True],
            ["prompt_iterations", "lt", 6],
            ["prompt_authors", "lt", 2],
        ],
        "verdict": "dont-fine-tune",
        "next_step": "prompt-iteration",
        "applies_to": ["dont-fine-tune", "fine-tune"],
    }
    assert rules["stay-with-prompts"]["when"] is None
    assert rules["stay-with-prompts"]["leaves"] == []
    assert rules["forgetting-warning"]["verdict"] is None
    assert rules["forgetting-warning"]["applies_to"] == ["fine-tune"]


def test_in_lists_are_sorted(fixture_ruleset: RuleSet) -> None:
    """`describe()` lists an `in` set in hash order, which changes from one process to the next."""
    pattern = next(r for r in snapshot(fixture_ruleset)["rules"] if r["id"] == "pattern-fine-tune")
    assert ["primary_failure", "in", ["format", "style", "tool-shape"]] in pattern["leaves"]
    assert "primary_failure in format, style, tool-shape and" in pattern["when"]


def test_snapshot_is_the_same_in_every_process() -> None:
    code = (
        "import json; from bot.engine.rulediff import snapshot; from bot.engine.ruleset import load_ruleset; "
        f"print(json.dumps(snapshot(load_ruleset({str(fixture_rules.DIRECTORY)!r}))))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1


def test_identical_rule_sets_do_not_differ(fixture_ruleset: RuleSet) -> None:
    taken = snapshot(fixture_ruleset)
    assert diff_snapshots(taken, taken) == []
    assert diff_snapshots(taken, snapshot(load_ruleset(fixture_rules.DIRECTORY))) == []


@pytest.mark.parametrize(
    ("old", "new", "threshold"),
    [
        (
            {"fact": "prompt_iterations", "op": "lt", "value": 10},
            {"fact": "prompt_iterations", "op": "lt", "value": 12},
            ThresholdChange("prompt_iterations", "< 10", "< 12"),
        ),
        (
            {"fact": "change_freq_days", "op": "lt", "value": 14},
            {"fact": "change_freq_days", "op": "le", "value": 14},
            ThresholdChange("change_freq_days", "< 14", "≤ 14"),
        ),
        (
            {"fact": "daily_calls", "op": "gt", "value": 10000},
            {"fact": "daily_calls", "op": "gt", "value": 20000},
            ThresholdChange("daily_calls", "> 10,000", "> 20,000"),
        ),
        (
            {"fact": "primary_failure", "op": "in", "value": ["style", "format", "tool-shape", "latency"]},
            {"fact": "primary_failure", "op": "in", "value": ["tool-shape", "format", "style"]},
            ThresholdChange("primary_failure", "in format, latency, style, tool-shape", "in format, style, tool-shape"),
        ),
    ],
    ids=["count", "operator", "thousands", "in-list"],
)
def test_a_changed_threshold(
    fixture_rules_copy: Path, old: dict[str, object], new: dict[str, object], threshold: ThresholdChange
) -> None:
    """A rule of the test's own; it also needs more than 40 tools, so that it never stands in the way of another
    rule."""
    narrow = {"fact": "n_tools", "op": "gt", "value": 40}
    write_rules(fixture_rules_copy, "extra.yaml", [rule(order=5, when={"all": [old, narrow]})])
    before = snapshot(load_ruleset(fixture_rules_copy))
    write_rules(fixture_rules_copy, "extra.yaml", [rule(order=5, when={"all": [new, narrow]})])
    detail = f"condition: {threshold.fact} {threshold.before} → {threshold.fact} {threshold.after}"
    changes = diff_snapshots(before, snapshot(load_ruleset(fixture_rules_copy)))
    assert changes == [RuleChange("extra-rule", "A rule for a test", "changed", (detail,), (threshold,))]


def test_two_thresholds_of_one_rule(fixture_rules_copy: Path) -> None:
    before = snapshot(load_ruleset(fixture_rules_copy))
    edit(
        fixture_rules_copy,
        "decisions.yaml",
        "prompt_iterations, op: lt, value: 6}",
        "prompt_iterations, op: le, value: 4}",
    )
    edit(fixture_rules_copy, "decisions.yaml", "prompt_authors, op: lt, value: 2}", "prompt_authors, op: lt, value: 3}")
    (change,) = diff_snapshots(before, snapshot(load_ruleset(fixture_rules_copy)))
    assert change.thresholds == (
        ThresholdChange("prompt_iterations", "< 6", "≤ 4"),
        ThresholdChange("prompt_authors", "< 2", "< 3"),
    )
    assert change.details == (
        "condition: prompt_iterations < 6 → prompt_iterations ≤ 4",
        "condition: prompt_authors < 2 → prompt_authors < 3",
    )


def test_a_changed_outcome(fixture_rules_copy: Path) -> None:
    changes = diff_after(
        fixture_rules_copy,
        "decisions.yaml",
        "value: 40}\n    outcome: {verdict: dont-fine-tune, next_step: few-shot}",
        "value: 40}\n    outcome: {verdict: fine-tune, next_step: fine-tune}",
    )
    assert changes == [
        RuleChange(
            "too-few-examples",
            "Under 40 examples",
            "changed",
            ("outcome: dont-fine-tune/few-shot → fine-tune/fine-tune",),
            (),
        )
    ]


def test_an_added_rule(fixture_rules_copy: Path) -> None:
    before = snapshot(load_ruleset(fixture_rules_copy))
    write_rules(fixture_rules_copy, "extra.yaml", [rule()])
    assert diff_snapshots(before, snapshot(load_ruleset(fixture_rules_copy))) == [
        RuleChange(
            "extra-rule",
            "A rule for a test",
            "added",
            ("condition: n_tools > 40", "outcome: dont-fine-tune/describe-tools"),
            (),
        )
    ]


def remove_rule(directory: Path, name: str, rule_id: str) -> None:
    path = directory / name
    data = yaml.safe_load(path.read_text())
    kept = [r for r in data["rules"] if r["id"] != rule_id]
    assert len(kept) == len(data["rules"]) - 1
    path.write_text(yaml.safe_dump({"rules": kept}, sort_keys=False))


def test_a_removed_rule(fixture_rules_copy: Path) -> None:
    before = snapshot(load_ruleset(fixture_rules_copy))
    remove_rule(fixture_rules_copy, "decisions.yaml", "eval-missing")
    remove_rule(fixture_rules_copy, "warnings.yaml", "forgetting-warning")
    assert diff_snapshots(before, snapshot(load_ruleset(fixture_rules_copy))) == [
        RuleChange(
            "eval-missing",
            "Nothing to measure against yet",
            "removed",
            ("condition: has_eval_set = no", "outcome: dont-fine-tune/build-eval"),
            (),
        ),
        RuleChange(
            "forgetting-warning",
            "Check what the tuned model forgets",
            "removed",
            ("condition: none", "warning for fine-tune"),
            (),
        ),
    ]


def test_changes_come_in_the_new_order_with_removed_rules_last(fixture_rules_copy: Path) -> None:
    before = snapshot(load_ruleset(fixture_rules_copy))
    write_rules(fixture_rules_copy, "extra.yaml", [rule(order=5)])
    edit(fixture_rules_copy, "decisions.yaml", "order: 70", "order: 72")
    edit(
        fixture_rules_copy,
        "decisions.yaml",
        "{fact: n_stable_examples, op: lt, value: 40}",
        "{fact: n_stable_examples, op: lt, value: 30}",
    )
    remove_rule(fixture_rules_copy, "decisions.yaml", "citations-required")
    changes = diff_snapshots(before, snapshot(load_ruleset(fixture_rules_copy)))
    assert [(c.rule, c.change) for c in changes] == [
        ("extra-rule", "added"),
        ("too-few-examples", "changed"),
        ("small-toolbox", "changed"),
        ("citations-required", "removed"),
    ]
    assert changes[2].details == ("order 70 → 72",)
    assert changes[2].thresholds == ()


@pytest.mark.parametrize(
    ("old", "new", "after"),
    [
        (
            "        - any:\n            - {fact: prompt_iterations, op: lt, value: 6}\n"
            "            - {fact: prompt_authors, op: lt, value: 2}\n",
            "        - {fact: prompt_iterations, op: lt, value: 6}\n",
            "tried_prompt_iteration = yes and prompt_iterations < 6",
        ),
        (
            "        - any:\n            - {fact: prompt_iterations",
            "        - all:\n            - {fact: prompt_iterations",
            "tried_prompt_iteration = yes and (prompt_iterations < 6 and prompt_authors < 2)",
        ),
        (
            "{fact: prompt_authors, op: lt, value: 2}",
            "{fact: n_tools, op: lt, value: 2}",
            "tried_prompt_iteration = yes and (prompt_iterations < 6 or n_tools < 2)",
        ),
    ],
    ids=["fewer-comparisons", "other-combinator", "other-fact"],
)
def test_a_condition_of_another_shape(fixture_rules_copy: Path, old: str, new: str, after: str) -> None:
    changes = diff_after(fixture_rules_copy, "decisions.yaml", old, new)
    before = "tried_prompt_iteration = yes and (prompt_iterations < 6 or prompt_authors < 2)"
    assert changes == [
        RuleChange(
            "prompting-unfinished",
            "The prompt work is not finished",
            "changed",
            (f"condition: {before} → {after}",),
            (),
        )
    ]


def test_rationale_and_sources_are_not_differences(fixture_rules_copy: Path) -> None:
    before = load_ruleset(fixture_rules_copy)
    edit(fixture_rules_copy, "decisions.yaml", "the cheapest thing to try.", "the cheapest move there is.")
    edit(fixture_rules_copy, "decisions.yaml", "learn/optimization/optimizers", "learn/optimization/overview")
    after = load_ruleset(fixture_rules_copy)
    assert after.sha256 != before.sha256
    assert diff_snapshots(snapshot(before), snapshot(after)) == []


def test_a_new_title(fixture_rules_copy: Path) -> None:
    changes = diff_after(
        fixture_rules_copy, "decisions.yaml", "title: The prompt work is not finished", "title: Not finished"
    )
    assert changes == [RuleChange("prompting-unfinished", "Not finished", "changed", ("title changed",), ())]


def test_an_old_snapshot_with_its_in_list_in_another_order(fixture_ruleset: RuleSet) -> None:
    """A snapshot stored by another process, or before lists were sorted, reads the same."""
    new = snapshot(fixture_ruleset)
    old = copy.deepcopy(new)
    old["sha256"] = "0" * 64
    pattern = next(r for r in old["rules"] if r["id"] == "pattern-fine-tune")
    pattern["when"] = pattern["when"].replace("format, style, tool-shape", "style, tool-shape, format")
    pattern["leaves"][1][2] = ["tool-shape", "style", "format"]
    assert diff_snapshots(old, new) == []


def test_unknown_keys_are_tolerated(fixture_ruleset: RuleSet) -> None:
    new = snapshot(fixture_ruleset)
    old = copy.deepcopy(new)
    old["sha256"] = "0" * 64
    old["written_by"] = "a later release"
    old["rules"][0]["message"] = "something new"
    assert load_snapshot(json.dumps(old)) == old
    assert diff_snapshots(old, new) == []


def valid() -> dict[str, Any]:
    return snapshot(load_ruleset(fixture_rules.DIRECTORY))


def broken(change: str) -> str:
    data = valid()
    rule_data = data["rules"][0]
    if change == "rule-without-id":
        del rule_data["id"]
    elif change == "duplicate-ids":
        data["rules"].append(copy.deepcopy(rule_data))
    elif change == "order-as-text":
        rule_data["order"] = "10"
    elif change == "leaf-as-dict":
        rule_data["leaves"][0] = {"fact": "needs_citations", "op": "eq", "value": True}
    elif change == "format-as-bool":
        data["format"] = True
    elif change == "no-sha":
        del data["sha256"]
    return json.dumps(data)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "[]",
        "{",
        b"\xff",
        "null",
        pytest.param("[" * 100_000, id="deep"),
        json.dumps({"format": 99}),
        json.dumps({"format": 1}),
        pytest.param(json.dumps({**valid(), "format": 2}), id="format-2"),
        *(
            pytest.param(broken(change), id=change)
            for change in (
                "rule-without-id",
                "duplicate-ids",
                "order-as-text",
                "leaf-as-dict",
                "format-as-bool",
                "no-sha",
            )
        ),
    ],
)
def test_load_snapshot_refuses_what_it_does_not_know(raw: str | bytes | None) -> None:
    assert load_snapshot(raw) is None


def test_diff_refuses_what_is_not_a_snapshot(fixture_ruleset: RuleSet) -> None:
    with pytest.raises(ValueError, match="not a rule-set snapshot"):
        diff_snapshots({"format": 99}, snapshot(fixture_ruleset))


@st.composite
def variants(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """The fixture's snapshot with rules dropped, conditions and outcomes swapped between rules, and orders moved."""
    data = copy.deepcopy(base)
    rules = data["rules"]
    donors = copy.deepcopy(rules)
    kept = [r for r in rules if draw(st.booleans()) or draw(st.booleans())]
    for target in kept:
        if draw(st.integers(0, 3)) == 0:
            donor = draw(st.sampled_from(donors))
            fields = draw(st.sets(st.sampled_from(["when", "verdict", "title"])))
            target.update({key: donor[key] for key in fields | ({"leaves"} if "when" in fields else set())})
        if draw(st.integers(0, 5)) == 0:
            target["order"] += draw(st.integers(-3, 3))
    data["rules"] = kept
    data["sha256"] = draw(st.sampled_from(["a", "b"]))
    return data


BASE = valid()


@settings(max_examples=150, deadline=None)
@given(variants(BASE), variants(BASE))
def test_any_two_snapshots_compare_both_ways(old: dict[str, Any], new: dict[str, Any]) -> None:
    forwards = diff_snapshots(old, new)
    backwards = diff_snapshots(new, old)
    if old["sha256"] == new["sha256"]:
        assert forwards == backwards == []
        return
    flipped = {"added": "removed", "removed": "added", "changed": "changed"}
    assert sorted((c.rule, flipped[c.change]) for c in forwards) == sorted((c.rule, c.change) for c in backwards)
    old_rules = {r["id"]: r for r in old["rules"]}
    new_rules = {r["id"]: r for r in new["rules"]}
    changed = {c.rule for c in forwards if c.change == "changed"}
    assert changed == {i for i in old_rules.keys() & new_rules.keys() if old_rules[i] != new_rules[i]}
    for change in forwards:
        assert change.details
        assert all(t.before != t.after for t in change.thresholds)
