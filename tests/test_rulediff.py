"""Rule-set snapshots and their differences: what a re-review says changed between two versions of the rules."""

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
from bot.resources import default_rules_dir
from tests.test_loader import rule, write_rules


def edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {name} exactly once"
    path.write_text(text.replace(old, new))


def diff_after(rules_copy: Path, name: str, old: str, new: str) -> list[RuleChange]:
    before = snapshot(load_ruleset(rules_copy))
    edit(rules_copy, name, old, new)
    return diff_snapshots(before, snapshot(load_ruleset(rules_copy)))


def test_snapshot_round_trips_through_json_and_is_small(ruleset: RuleSet) -> None:
    taken = snapshot(ruleset)
    text = json.dumps(taken)
    assert load_snapshot(text) == taken
    assert load_snapshot(text.encode()) == taken
    assert taken["format"] == SNAPSHOT_FORMAT
    assert [r["id"] for r in taken["rules"]] == [r.id for r in ruleset.rules]
    assert "rationale" not in text
    assert "sources" not in text
    # Measured: 8,130 characters for version 2026.11.0 (24 rules); it is kept in Redis for every rule set.
    assert len(text) < 12000


def test_snapshot_of_a_rule(ruleset: RuleSet) -> None:
    rules = {r["id"]: r for r in snapshot(ruleset)["rules"]}
    assert rules["prompting-not-plateaued"] == {
        "id": "prompting-not-plateaued",
        "title": "Prompting has not plateaued yet",
        "order": 90,
        "kind": "decision",
        "when": "tried_prompt_iteration = yes and (prompt_iterations < 10 or prompt_authors < 3)",
        "leaves": [
            ["tried_prompt_iteration", "eq", True],
            ["prompt_iterations", "lt", 10],
            ["prompt_authors", "lt", 3],
        ],
        "verdict": "dont-fine-tune",
        "next_step": "prompt-iteration",
        "applies_to": ["dont-fine-tune", "fine-tune"],
    }
    assert rules["default-prompt-and-rag"]["when"] is None
    assert rules["default-prompt-and-rag"]["leaves"] == []
    assert rules["catastrophic-forgetting"]["verdict"] is None
    assert rules["catastrophic-forgetting"]["applies_to"] == ["fine-tune"]


def test_in_lists_are_sorted(ruleset: RuleSet) -> None:
    """`describe()` lists an `in` set in hash order, which changes from one process to the next."""
    behaviour = next(r for r in snapshot(ruleset)["rules"] if r["id"] == "behaviour-fine-tune")
    assert ["primary_failure", "in", ["format", "latency", "style", "tool-shape"]] in behaviour["leaves"]
    assert "primary_failure in format, latency, style, tool-shape and" in behaviour["when"]


def test_snapshot_is_the_same_in_every_process() -> None:
    code = (
        "import json; from bot.engine.rulediff import snapshot; from bot.engine.ruleset import load_ruleset; "
        "from bot.resources import default_rules_dir; print(json.dumps(snapshot(load_ruleset(default_rules_dir()))))"
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


def test_identical_rule_sets_do_not_differ(ruleset: RuleSet) -> None:
    taken = snapshot(ruleset)
    assert diff_snapshots(taken, taken) == []
    assert diff_snapshots(taken, snapshot(load_ruleset(default_rules_dir()))) == []


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
    rules_copy: Path, old: dict[str, object], new: dict[str, object], threshold: ThresholdChange
) -> None:
    """A rule of the test's own, so that the shipped policy can change freely; it also needs more than 40 tools, so
    that it never stands in the way of a shipped rule."""
    narrow = {"fact": "n_tools", "op": "gt", "value": 40}
    write_rules(rules_copy, "extra.yaml", [rule(order=5, when={"all": [old, narrow]})])
    before = snapshot(load_ruleset(rules_copy))
    write_rules(rules_copy, "extra.yaml", [rule(order=5, when={"all": [new, narrow]})])
    detail = f"condition: {threshold.fact} {threshold.before} → {threshold.fact} {threshold.after}"
    changes = diff_snapshots(before, snapshot(load_ruleset(rules_copy)))
    assert changes == [RuleChange("extra-rule", "A rule for a test", "changed", (detail,), (threshold,))]


def test_two_thresholds_of_one_rule(rules_copy: Path) -> None:
    before = snapshot(load_ruleset(rules_copy))
    edit(rules_copy, "thresholds.yaml", "op: lt, value: 10}", "op: le, value: 8}")
    edit(rules_copy, "thresholds.yaml", "op: lt, value: 3}", "op: lt, value: 2}")
    (change,) = diff_snapshots(before, snapshot(load_ruleset(rules_copy)))
    assert change.thresholds == (
        ThresholdChange("prompt_iterations", "< 10", "≤ 8"),
        ThresholdChange("prompt_authors", "< 3", "< 2"),
    )
    assert change.details == (
        "condition: prompt_iterations < 10 → prompt_iterations ≤ 8",
        "condition: prompt_authors < 3 → prompt_authors < 2",
    )


def test_a_changed_outcome(rules_copy: Path) -> None:
    changes = diff_after(
        rules_copy,
        "checklist.yaml",
        "outcome: {verdict: dont-fine-tune, next_step: few-shot}",
        "outcome: {verdict: fine-tune, next_step: fine-tune}",
    )
    assert changes == [
        RuleChange(
            "few-stable-examples",
            "Fewer than 50 stable, high-quality examples",
            "changed",
            ("outcome: dont-fine-tune/few-shot → fine-tune/fine-tune",),
            (),
        )
    ]


def test_an_added_rule(rules_copy: Path) -> None:
    before = snapshot(load_ruleset(rules_copy))
    write_rules(rules_copy, "extra.yaml", [rule()])
    assert diff_snapshots(before, snapshot(load_ruleset(rules_copy))) == [
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


def test_a_removed_rule(rules_copy: Path) -> None:
    before = snapshot(load_ruleset(rules_copy))
    remove_rule(rules_copy, "situations.yaml", "benchmark-chasing")
    remove_rule(rules_copy, "pitfalls.yaml", "catastrophic-forgetting")
    assert diff_snapshots(before, snapshot(load_ruleset(rules_copy))) == [
        RuleChange(
            "benchmark-chasing",
            "Chasing a small benchmark gain",
            "removed",
            ("condition: chasing_small_benchmark_gain = yes", "outcome: dont-fine-tune/better-model"),
            (),
        ),
        RuleChange(
            "catastrophic-forgetting",
            "Measure what the fine-tune forgets",
            "removed",
            ("condition: none", "warning for fine-tune"),
            (),
        ),
    ]


def test_changes_come_in_the_new_order_with_removed_rules_last(rules_copy: Path) -> None:
    before = snapshot(load_ruleset(rules_copy))
    remove_rule(rules_copy, "situations.yaml", "compliance-citations")
    write_rules(rules_copy, "extra.yaml", [rule(order=5)])
    edit(rules_copy, "thresholds.yaml", "order: 110", "order: 115")
    edit(
        rules_copy,
        "checklist.yaml",
        "{fact: n_stable_examples, op: lt, value: 50}",
        "{fact: n_stable_examples, op: lt, value: 40}",
    )
    changes = diff_snapshots(before, snapshot(load_ruleset(rules_copy)))
    assert [(c.rule, c.change) for c in changes] == [
        ("extra-rule", "added"),
        ("few-stable-examples", "changed"),
        ("few-shot-not-tried", "changed"),
        ("compliance-citations", "removed"),
    ]
    assert changes[2].details == ("order 110 → 115",)
    assert changes[2].thresholds == ()


@pytest.mark.parametrize(
    ("old", "new", "after"),
    [
        (
            "        - any:\n            - {fact: prompt_iterations, op: lt, value: 10}\n"
            "            - {fact: prompt_authors, op: lt, value: 3}\n",
            "        - {fact: prompt_iterations, op: lt, value: 10}\n",
            "tried_prompt_iteration = yes and prompt_iterations < 10",
        ),
        (
            "        - any:\n            - {fact: prompt_iterations",
            "        - all:\n            - {fact: prompt_iterations",
            "tried_prompt_iteration = yes and (prompt_iterations < 10 and prompt_authors < 3)",
        ),
        (
            "{fact: prompt_authors, op: lt, value: 3}",
            "{fact: n_tools, op: lt, value: 3}",
            "tried_prompt_iteration = yes and (prompt_iterations < 10 or n_tools < 3)",
        ),
    ],
    ids=["fewer-comparisons", "other-combinator", "other-fact"],
)
def test_a_condition_of_another_shape(rules_copy: Path, old: str, new: str, after: str) -> None:
    changes = diff_after(rules_copy, "thresholds.yaml", old, new)
    before = "tried_prompt_iteration = yes and (prompt_iterations < 10 or prompt_authors < 3)"
    assert changes == [
        RuleChange(
            "prompting-not-plateaued",
            "Prompting has not plateaued yet",
            "changed",
            (f"condition: {before} → {after}",),
            (),
        )
    ]


def test_rationale_and_sources_are_not_differences(rules_copy: Path) -> None:
    before = load_ruleset(rules_copy)
    edit(rules_copy, "situations.yaml", "It costs a prompt change;", "It costs one prompt change;")
    edit(rules_copy, "situations.yaml", 'note: "row 8: compliance', 'note: "row eight: compliance')
    after = load_ruleset(rules_copy)
    assert after.sha256 != before.sha256
    assert diff_snapshots(snapshot(before), snapshot(after)) == []


def test_a_new_title(rules_copy: Path) -> None:
    changes = diff_after(
        rules_copy, "thresholds.yaml", "title: Prompting has not plateaued yet", "title: Not plateaued"
    )
    assert changes == [RuleChange("prompting-not-plateaued", "Not plateaued", "changed", ("title changed",), ())]


def test_an_old_snapshot_with_its_in_list_in_another_order(ruleset: RuleSet) -> None:
    """A snapshot stored by another process, or before lists were sorted, reads the same."""
    new = snapshot(ruleset)
    old = copy.deepcopy(new)
    old["sha256"] = "0" * 64
    behaviour = next(r for r in old["rules"] if r["id"] == "behaviour-fine-tune")
    behaviour["when"] = behaviour["when"].replace(
        "format, latency, style, tool-shape", "style, tool-shape, format, latency"
    )
    behaviour["leaves"][1][2] = ["tool-shape", "style", "latency", "format"]
    assert diff_snapshots(old, new) == []


def test_unknown_keys_are_tolerated(ruleset: RuleSet) -> None:
    new = snapshot(ruleset)
    old = copy.deepcopy(new)
    old["sha256"] = "0" * 64
    old["written_by"] = "a later release"
    old["rules"][0]["message"] = "something new"
    assert load_snapshot(json.dumps(old)) == old
    assert diff_snapshots(old, new) == []


def valid() -> dict[str, Any]:
    return snapshot(load_ruleset(default_rules_dir()))


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


def test_diff_refuses_what_is_not_a_snapshot(ruleset: RuleSet) -> None:
    with pytest.raises(ValueError, match="not a rule-set snapshot"):
        diff_snapshots({"format": 99}, snapshot(ruleset))


@st.composite
def variants(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """The shipped snapshot with rules dropped, conditions and outcomes swapped between rules, and orders moved."""
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


SHIPPED = valid()


@settings(max_examples=150, deadline=None)
@given(variants(SHIPPED), variants(SHIPPED))
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
