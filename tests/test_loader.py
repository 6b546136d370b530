"""Load-time validation: every way a rule file can be wrong stops loading with the file, the rule id and a hint.

Each test breaks a copy of the tests' own rule set (`fixture_rules_copy`), so the shipped policy can change freely.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.engine.ruleset import RuleSetError, load_ruleset


def write_rules(directory: Path, name: str, rules: list[dict[str, object]]) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump({"rules": rules}, sort_keys=False))
    return path


def rule(rule_id: str = "extra-rule", order: int = 500, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": rule_id,
        "title": "A rule for a test",
        "order": order,
        "when": {"fact": "n_tools", "op": "gt", "value": 40},
        "outcome": {"verdict": "dont-fine-tune", "next_step": "describe-tools"},
        "rationale": "Because the test says so.",
        "sources": [{"ref": "seed:situations", "as_of": "2026-11-28"}],
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        load_ruleset(directory)
    return [str(problem) for problem in caught.value.problems]


def only_problem(directory: Path) -> str:
    problems = problems_of(directory)
    assert len(problems) == 1, problems
    return problems[0]


def test_the_valid_extra_rule_loads(fixture_rules_copy: Path) -> None:
    """The helper's rule is valid, so each test below fails for the one thing it changes."""
    write_rules(fixture_rules_copy, "extra.yaml", [rule()])
    assert load_ruleset(fixture_rules_copy).rule("extra-rule").order == 500


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (
            {"fact": "n_stable_exampels", "op": "lt", "value": 5},
            'unknown fact "n_stable_exampels" (did you mean "n_stable_examples"?)',
        ),
        ({"fact": "n_tools", "op": "lessthan", "value": 5}, 'unknown operator "lessthan"'),
        ({"fact": "n_tools", "op": "lte", "value": 5}, 'unknown operator "lte" (did you mean "lt"?)'),
        ({"fact": "n_tools", "op": "lt", "value": "five"}, "n_tools is a whole number, got 'five'"),
        ({"fact": "n_tools", "op": "lt", "value": True}, "n_tools is a whole number, got True"),
        ({"fact": "tried_cot", "op": "eq", "value": "maybe"}, "tried_cot is yes/no, got 'maybe'"),
        ({"fact": "tried_cot", "op": "lt", "value": True}, "operator lt does not apply to tried_cot (bool)"),
        ({"fact": "primary_failure", "op": "eq", "value": "stlye"}, 'has no value "stlye" (did you mean "style"?)'),
        ({"fact": "primary_failure", "op": "in", "value": []}, "in takes a non-empty list"),
        ({"fact": "notes", "op": "eq", "value": "x"}, "notes is free text; rules cannot test it"),
        ({"all": []}, "when.all: expected a non-empty list of conditions"),
        ({"all": [{"fact": "n_tools", "op": "gt", "value": 1}], "any": []}, "a combinator stands alone"),
        ({"fact": "n_tools", "op": "gt"}, "missing ['value']"),
        ({"fact": "n_tools", "op": "gt", "value": 1, "vaule": 2}, '(did you mean "value"?)'),
        ({"all": [{"not": {"fact": "n_tools", "op": "gt", "valeu": 1}}]}, "when.all[0].not:"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_conditions(fixture_rules_copy: Path, when: dict[str, object], expected: str) -> None:
    path = write_rules(fixture_rules_copy, "extra.yaml", [rule(when=when)])
    problem = only_problem(fixture_rules_copy)
    assert problem.startswith(f"{path}: rule extra-rule: ")
    assert expected in problem


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"rationale": None}, "rationale: Field required"),
        ({"rationale": "  "}, "rationale: String should have at least 1 character"),
        ({"sources": []}, "sources: List should have at least 1 item"),
        ({"sources": None}, "sources: Field required"),
        ({"sources": [{"ref": "seed:checklst", "as_of": "2026-11-28"}]}, '(did you mean "checklist"?)'),
        ({"sources": [{"ref": "somewhere", "as_of": "2026-11-28"}]}, 'a source is "seed:<section>" or an http(s) URL'),
        ({"sources": [{"ref": "seed:faq"}]}, "sources.0.as_of: Field required"),
        ({"sources": [{"ref": "seed:faq", "as_of": "last week"}]}, "sources.0.as_of: Input should be a valid date"),
        ({"ratonale": "typo"}, 'ratonale: unknown field (did you mean "rationale"?)'),
        ({"id": "Extra Rule"}, "id: String should match pattern"),
        ({"outcome": {"verdict": "dont-fine-tune", "next_step": "fewshot"}}, '(did you mean "few-shot"?)'),
        ({"outcome": {"verdict": "fine-tune", "next_step": "rag"}}, "verdict fine-tune goes with next_step fine-tune"),
        ({"outcome": None}, "a decision rule needs an outcome"),
        ({"kind": "warning"}, "a warning rule needs a message"),
        ({"kind": "advice"}, "kind: Input should be 'decision' or 'warning'"),
        ({"order": "first"}, "order: Input should be a valid integer"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_rule_fields(fixture_rules_copy: Path, fields: dict[str, object], expected: str) -> None:
    path = write_rules(fixture_rules_copy, "extra.yaml", [rule(**fields)])
    problem = only_problem(fixture_rules_copy)
    label = "Extra Rule" if fields.get("id") else "extra-rule"
    assert problem.startswith(f"{path}: rule {label}: ")
    assert expected in problem


def test_misspelt_key_inside_an_outcome(fixture_rules_copy: Path) -> None:
    write_rules(fixture_rules_copy, "extra.yaml", [rule(outcome={"verdict": "dont-fine-tune", "next_stpe": "rag"})])
    problems = problems_of(fixture_rules_copy)
    assert any('outcome.next_stpe: unknown field (did you mean "next_step"?)' in p for p in problems)
    assert any("outcome.next_step: Field required" in p for p in problems)


def test_duplicate_id_names_both_files(fixture_rules_copy: Path) -> None:
    path = write_rules(fixture_rules_copy, "extra.yaml", [rule("missing-facts")])
    problem = only_problem(fixture_rules_copy)
    assert problem.startswith(f"{path}: rule missing-facts: duplicate id (also in ")
    assert "decisions.yaml" in problem


def test_duplicate_order(fixture_rules_copy: Path) -> None:
    write_rules(fixture_rules_copy, "extra.yaml", [rule(order=30)])
    assert "order 30 is taken by rule missing-facts" in only_problem(fixture_rules_copy)


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (
            {"all": [{"fact": "n_tools", "op": "lt", "value": 10}, {"fact": "n_tools", "op": "gt", "value": 20}]},
            "its condition is a contradiction",
        ),
        ({"fact": "n_stable_examples", "op": "lt", "value": 0}, "its condition is a contradiction"),
        ({"fact": "change_freq_days", "op": "le", "value": 0}, "its condition is a contradiction"),
        ({"fact": "n_stable_examples", "op": "lt", "value": 30}, "an earlier rule decides first (too-few-examples)"),
        (
            {
                "all": [
                    {"fact": "needs_citations", "op": "eq", "value": True},
                    {"fact": "n_tools", "op": "gt", "value": 1},
                ]
            },
            "an earlier rule decides first (citations-required)",
        ),
        (
            {
                "all": [
                    {"fact": "tried_cot", "op": "eq", "value": False},
                    {"not": {"fact": "tried_cot", "op": "eq", "value": False}},
                ]
            },
            "its condition is a contradiction",
        ),
    ],
    ids=["contradiction", "below-zero", "below-one-day", "shadowed", "shadowed-by-citations", "x-and-not-x"],
)
def test_rules_that_can_never_fire(fixture_rules_copy: Path, when: dict[str, object], reason: str) -> None:
    write_rules(fixture_rules_copy, "extra.yaml", [rule(when=when, order=990 if "shadow" in reason else 500)])
    problem = only_problem(fixture_rules_copy)
    assert problem.startswith(f"{fixture_rules_copy / 'extra.yaml'}: rule extra-rule: can never fire: ")
    assert reason in problem


def test_shadowing_is_about_order(fixture_rules_copy: Path) -> None:
    """The same condition is fine before the rule that would shadow it."""
    write_rules(
        fixture_rules_copy, "extra.yaml", [rule(when={"fact": "n_stable_examples", "op": "lt", "value": 30}, order=12)]
    )
    assert load_ruleset(fixture_rules_copy).rule("extra-rule").order == 12


def test_rule_after_the_default(fixture_rules_copy: Path) -> None:
    write_rules(fixture_rules_copy, "extra.yaml", [rule(order=1005)])
    assert "an earlier rule decides first (stay-with-prompts)" in only_problem(fixture_rules_copy)


def test_a_second_default_rule(fixture_rules_copy: Path) -> None:
    write_rules(fixture_rules_copy, "extra.yaml", [rule(when=None, order=500)])
    problems = problems_of(fixture_rules_copy)
    assert any("rule extra-rule: only the last decision rule may have no `when`" in p for p in problems)


def test_no_default_rule(fixture_rules_copy: Path) -> None:
    text = (fixture_rules_copy / "decisions.yaml").read_text()
    data = yaml.safe_load(text)
    data["rules"] = [r for r in data["rules"] if r["id"] != "stay-with-prompts"]
    (fixture_rules_copy / "decisions.yaml").write_text(yaml.safe_dump(data))
    assert "no default rule" in only_problem(fixture_rules_copy)


def test_invalid_yaml_names_the_line(fixture_rules_copy: Path) -> None:
    path = fixture_rules_copy / "extra.yaml"
    path.write_text("rules:\n  - id: broken\n    title: [unclosed\n")
    problem = only_problem(fixture_rules_copy)
    assert problem.startswith(f"{path}: line ")
    assert "not valid YAML" in problem


def test_rule_file_shape(fixture_rules_copy: Path) -> None:
    (fixture_rules_copy / "extra.yaml").write_text("rulez: []\n")
    assert "a rule file holds one key, `rules:`, a list; found ['rulez']" in only_problem(fixture_rules_copy)


def test_missing_header(fixture_rules_copy: Path) -> None:
    (fixture_rules_copy / "ruleset.yaml").unlink()
    assert "missing: every rule set has a ruleset.yaml" in only_problem(fixture_rules_copy)


def test_not_a_directory(tmp_path: Path) -> None:
    assert "not a directory" in only_problem(tmp_path / "nowhere")


def test_next_step_must_be_described_and_on_the_ladder(fixture_rules_copy: Path) -> None:
    header = yaml.safe_load((fixture_rules_copy / "ruleset.yaml").read_text())
    del header["next_steps"]["describe-tools"]
    header["ladder"][0]["steps"].remove("describe-tools")
    (fixture_rules_copy / "ruleset.yaml").write_text(yaml.safe_dump(header))
    problems = problems_of(fixture_rules_copy)
    assert any("next step describe-tools is used by a rule but not described" in p for p in problems)
    assert any("next step describe-tools is used by a rule but is on no rung" in p for p in problems)


def test_every_problem_is_reported_at_once(fixture_rules_copy: Path) -> None:
    write_rules(
        fixture_rules_copy,
        "extra.yaml",
        [
            rule("first", order=501, when={"fact": "n_tols", "op": "gt", "value": 1}),
            rule("second", order=502, rationale=None),
            rule("third", order=503, outcome={"verdict": "dont-fine-tune", "next_step": "nope"}),
        ],
    )
    problems = problems_of(fixture_rules_copy)
    assert [re.search(r"rule (\w+):", p).group(1) for p in problems] == ["second", "third", "first"]  # type: ignore[union-attr]


def test_hash_ignores_layout_but_not_meaning(fixture_rules_copy: Path) -> None:
    before = load_ruleset(fixture_rules_copy).sha256
    path = fixture_rules_copy / "decisions.yaml"
    original = path.read_text()
    path.write_text("# a comment that changes nothing\n" + original.replace("\n\n", "\n\n\n"))
    assert load_ruleset(fixture_rules_copy).sha256 == before
    path.write_text(original.replace("{fact: n_tools, op: lt, value: 3}", "{fact: n_tools, op: lt, value: 4}"))
    assert load_ruleset(fixture_rules_copy).sha256 != before


def warning(when: dict[str, object] | None, applies_to: list[str] | None) -> dict[str, object]:
    return rule(kind="warning", outcome=None, message="Mind this.", when=when, applies_to=applies_to, order=1500)


@pytest.mark.parametrize(
    ("when", "applies_to", "reason"),
    [
        (
            {"fact": "primary_failure", "op": "eq", "value": "missing-knowledge"},
            ["fine-tune"],
            "it never holds when the verdict is fine-tune",  # missing-facts decides first, always
        ),
        (
            {"fact": "n_stable_examples", "op": "lt", "value": 20},
            ["fine-tune"],
            "it never holds when the verdict is fine-tune",
        ),
        (
            {"all": [{"fact": "n_tools", "op": "lt", "value": 2}, {"fact": "n_tools", "op": "gt", "value": 3}]},
            None,
            "its condition is a contradiction",
        ),
    ],
    ids=["missing-facts-never-fine-tune", "too-few-examples-never-fine-tune", "contradiction"],
)
def test_warnings_that_can_never_fire(
    fixture_rules_copy: Path, when: dict[str, object], applies_to: list[str] | None, reason: str
) -> None:
    write_rules(fixture_rules_copy, "extra.yaml", [warning(when, applies_to)])
    problem = only_problem(fixture_rules_copy)
    assert problem.startswith(f"{fixture_rules_copy / 'extra.yaml'}: rule extra-rule: can never fire: ")
    assert reason in problem


@pytest.mark.parametrize(
    ("when", "applies_to"),
    [
        (None, ["dont-fine-tune"]),
        ({"fact": "n_stable_examples", "op": "ge", "value": 5000}, ["fine-tune"]),
        ({"fact": "primary_failure", "op": "eq", "value": "missing-knowledge"}, ["dont-fine-tune"]),
        ({"fact": "daily_calls", "op": "gt", "value": 10}, None),
    ],
)
def test_warnings_that_can_fire_load(
    fixture_rules_copy: Path, when: dict[str, object] | None, applies_to: list[str] | None
) -> None:
    write_rules(fixture_rules_copy, "extra.yaml", [warning(when, applies_to)])
    assert load_ruleset(fixture_rules_copy).rule("extra-rule").kind == "warning"


def test_a_key_given_twice_is_refused(fixture_rules_copy: Path) -> None:
    """Plain YAML keeps the last of two `when:` keys silently; a rule file must not."""
    path = fixture_rules_copy / "extra.yaml"
    text = yaml.safe_dump({"rules": [rule()]}, sort_keys=False)
    path.write_text(text.replace("  order: 500\n", "  order: 500\n  order: 501\n"))
    problem = only_problem(fixture_rules_copy)
    assert problem.startswith(f"{path}: line 5: ")  # the second `order:`
    assert "duplicate key 'order'" in problem


# --- playbooks ----------------------------------------------------------------------------------------------


def playbook(step: str = "rag", **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "step": step,
        "steps": ["One.", "Two.", "Three."],
        "sources": [{"title": "A page", "url": "https://example.com/page", "as_of": "2026-12-06"}],
    }
    base.update(fields)
    return base


def write_playbooks(fixture_rules_copy: Path, *entries: dict[str, object]) -> None:
    existing = yaml.safe_load((fixture_rules_copy / "playbooks.yaml").read_text())["playbooks"]
    (fixture_rules_copy / "playbooks.yaml").write_text(
        yaml.safe_dump({"playbooks": [*entries, *existing]}, sort_keys=False)
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (playbook(steps=["Only one."]), "at least 3 items"),
        (playbook(steps=["s"] * 6), "at most 5 items"),
        (playbook(sources=[{"title": "x", "url": "http://example.com", "as_of": "2026-12-06"}]), "pattern"),
        (playbook(sources=[]), "at least 1 item"),
        (playbook(step="rag-please"), "playbooks.0.step: Input should be"),
        (playbook(failures=["stlye"]), "(did you mean \"style\"?)"),
        (playbook(rules=["missing-factz"]), 'no decision rule missing-factz (did you mean "missing-facts"?)'),
        (playbook(rules=["too-few-examples"]), "rule too-few-examples gives few-shot, not rag"),
    ],
    ids=["too-few-steps", "too-many-steps", "not-https", "no-source", "unknown-step", "unknown-failure", "unknown-rule",
         "rule-of-another-step"],
)  # fmt: skip
def test_a_broken_playbook_is_refused_naming_the_problem(
    fixture_rules_copy: Path, entry: dict[str, object], message: str
) -> None:
    write_playbooks(fixture_rules_copy, entry)
    problems = problems_of(fixture_rules_copy)
    assert any(message in problem and "playbooks.yaml" in problem for problem in problems), problems


def test_every_next_step_a_rule_gives_needs_a_default_playbook(fixture_rules_copy: Path) -> None:
    existing = yaml.safe_load((fixture_rules_copy / "playbooks.yaml").read_text())["playbooks"]
    kept = [entry for entry in existing if entry["step"] != "dspy" or entry.get("failures") or entry.get("rules")]
    (fixture_rules_copy / "playbooks.yaml").write_text(yaml.safe_dump({"playbooks": kept}, sort_keys=False))
    assert only_problem(fixture_rules_copy).endswith(
        "next step dspy has no default playbook (one without failures or rules)"
    )


def test_a_rule_set_without_playbooks_still_loads(fixture_rules_copy: Path) -> None:
    """A team's own rule directory from before playbooks existed: the thread then has no "Do this next" list."""
    (fixture_rules_copy / "playbooks.yaml").unlink()
    assert load_ruleset(fixture_rules_copy).playbooks == ()
