"""The `should-finetune` command line, run in-process through `bot.cli.main` (plus one run under a real terminal).

Commands decide by the tests' own rule set (tests/data/fixture_rules/, set as SHOULD_FINETUNE_RULES_DIR) unless a test
says otherwise; only the tests of the bundled default use the shipped one. With only the checklist's five facts
answered, the fixture gives: n_stable_examples < 40 few-shot, missing-knowledge rag, change_freq_days < 10
prompt-iteration, untried prompting try-prompts, untried DSPy dspy, a style, format or tool-shape failure fine-tune,
and anything else prompt-and-rag.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import re
import select
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import EXIT_BAD_INPUT, EXIT_BAD_RULES, EXIT_OK, InputError, ask_answers, main
from bot.engine.answers import FACTS
from bot.engine.ruleset import NextStep, RuleSet, load_ruleset
from bot.resources import default_rules_dir
from tests import fixture_rules

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "answers"
FINE_TUNE_YAML = DATA / "checklist-fine-tune.yaml"
KNOWLEDGE_GAP_JSON = DATA / "knowledge-gap.json"
BATCH = DATA / "batch.jsonl"

# batch.jsonl, line by line: the expected (verdict, next_step), or the words its error must contain.
BATCH_EXPECTED: dict[int, tuple[str, str]] = {
    1: ("dont-fine-tune", "few-shot"),
    4: ("fine-tune", "fine-tune"),
    6: ("dont-fine-tune", "prompt-iteration"),
    8: ("dont-fine-tune", "rag"),
}
BATCH_ERRORS: dict[int, tuple[str, ...]] = {
    2: ("not valid JSON",),
    3: ("n_examples", 'did you mean "n_stable_examples"'),
    5: ("n_stable_examples", "greater than or equal to 0"),
    7: ("expected an object of answers",),
}

REQUIRED_KEYS = {"verdict", "next_step", "fired", "warnings", "ruleset", "trace"}


class TerminalInput(io.StringIO):
    """Standard input that says it is a terminal, so `evaluate` with no FILE asks the questions."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting from the caller's environment but the tests' own rule set, which every command uses unless a test
    says otherwise, and a working directory without a stray .env file."""
    for name in list(os.environ):
        if name.startswith("SHOULD_FINETUNE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SHOULD_FINETUNE_RULES_DIR", str(fixture_rules.DIRECTORY))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture(scope="module")
def bundled() -> RuleSet:
    """The shipped rule set, for the tests of the default: which rules the CLI uses when nothing says otherwise."""
    return load_ruleset(default_rules_dir())


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> dict[str, Any]:
    code, out, err = run(capsys, *argv)
    assert code == EXIT_OK, err
    assert err == ""
    data: dict[str, Any] = json.loads(out)
    return data


def copy_rules(target: Path, *, version: str | None = None) -> Path:
    """A copy of the tests' own rule set, with its version changed when one is given."""
    shutil.copytree(fixture_rules.DIRECTORY, target)
    if version is not None:
        meta = target / "ruleset.yaml"
        text, count = re.subn(r"(?m)^version:.*$", f'version: "{version}"', meta.read_text(encoding="utf-8"))
        assert count == 1
        meta.write_text(text, encoding="utf-8")
    return target


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def make_dir(path: Path) -> Path:
    path.mkdir()
    return path


# --- answers files ---------------------------------------------------------------------------------------------


def test_yaml_file_with_yes_no_booleans_gives_fine_tune(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "evaluate", FINE_TUNE_YAML, "--format", "json")
    assert (data["verdict"], data["next_step"]) == ("fine-tune", "fine-tune")
    # yes/no became booleans; "unknown" and a blank value left their questions unanswered.
    assert data["answers"]["tried_prompt_iteration"] is True
    assert data["answers"]["tried_dspy"] is True
    assert "tried_few_shot" not in data["answers"]
    assert "has_eval_set" not in data["answers"]
    unanswered = {item["fact"] for item in data["unanswered"]}
    assert {"tried_few_shot", "has_eval_set"} <= unanswered


def test_json_file_normalises_missing_knowledge_and_gives_rag(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "evaluate", KNOWLEDGE_GAP_JSON, "--format", "json")
    assert (data["verdict"], data["next_step"]) == ("dont-fine-tune", "rag")
    assert data["answers"]["primary_failure"] == "missing-knowledge"
    assert data["answers"]["tried_prompt_iteration"] is True  # "yes" in the file
    assert data["answers"]["tried_dspy"] is False  # "false" in the file
    assert data["decided_by"] == "missing-facts"
    assert "missing-facts" in data["fired"]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"n_stable_examples": 10}, ("dont-fine-tune", "few-shot")),
        ({"primary_failure": "missing-knowledge"}, ("dont-fine-tune", "rag")),
        ({"change_freq_days": 7}, ("dont-fine-tune", "prompt-iteration")),
        ({"tried_prompt_iteration": "no"}, ("dont-fine-tune", "try-prompts")),
        ({"tried_dspy": "no"}, ("dont-fine-tune", "dspy")),
        ({"primary_failure": "format"}, ("fine-tune", "fine-tune")),
        ({"primary_failure": "reasoning"}, ("dont-fine-tune", "prompt-and-rag")),
    ],
)
def test_each_checklist_outcome_through_the_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, answers: dict[str, Any], expected: tuple[str, str]
) -> None:
    base = {
        "n_stable_examples": 300,
        "primary_failure": "style",
        "change_freq_days": 30,
        "tried_prompt_iteration": "yes",
        "tried_dspy": "yes",
    }
    path = write(tmp_path / "answers.json", json.dumps({**base, **answers}))
    data = run_json(capsys, "evaluate", path, "--format", "json", "--no-trace")
    assert (data["verdict"], data["next_step"]) == expected


def test_default_format_is_text_with_verdict_next_step_and_rule_set(
    capsys: pytest.CaptureFixture[str], fixture_ruleset: RuleSet
) -> None:
    code, out, err = run(capsys, "evaluate", FINE_TUNE_YAML)
    assert code == EXIT_OK, err
    assert re.search(r"(?m)^VERDICT: fine-tune$", out)
    assert "don't fine-tune" not in out
    assert f"Next step: {fixture_ruleset.next_steps[NextStep.FINE_TUNE].title} [fine-tune]" in out
    assert f"Rule set {fixture_ruleset.version} (sha256 {fixture_ruleset.sha256[:12]})" in out
    assert "Use case: Tag support tickets with our 40-label taxonomy" in out
    assert not out.lstrip().startswith("{")


def test_text_format_for_a_dont_fine_tune_verdict(capsys: pytest.CaptureFixture[str], fixture_ruleset: RuleSet) -> None:
    code, out, err = run(capsys, "evaluate", KNOWLEDGE_GAP_JSON, "--format", "text")
    assert code == EXIT_OK, err
    assert re.search(r"(?m)^VERDICT: don't fine-tune", out)
    assert f"Next step: {fixture_ruleset.next_steps[NextStep.RAG].title} [rag]" in out
    assert "[missing-facts]" in out  # the deciding rule is named under "Why"
    assert f"Rule set {fixture_ruleset.version}" in out


def test_json_output_has_the_contract_keys(capsys: pytest.CaptureFixture[str], fixture_ruleset: RuleSet) -> None:
    data = run_json(capsys, "evaluate", FINE_TUNE_YAML, "--format", "json")
    assert set(data) >= REQUIRED_KEYS
    assert data["ruleset"] == {"version": fixture_ruleset.version, "sha256": fixture_ruleset.sha256}
    assert re.fullmatch(r"[0-9a-f]{64}", data["ruleset"]["sha256"])
    assert data["fired"]
    assert all(isinstance(rule_id, str) for rule_id in data["fired"])
    assert data["decided_by"] in data["fired"]
    # The warnings are exactly the warning rules that fired (the fine-tune verdict draws some), in order.
    fired_warnings = [rule_id for rule_id in data["fired"] if fixture_ruleset.rule(rule_id).kind == "warning"]
    assert fired_warnings
    assert [warning["id"] for warning in data["warnings"]] == fired_warnings
    assert all(warning["message"] for warning in data["warnings"])
    # The trace has one entry per rule of the rule set, in its order.
    assert [entry["rule"] for entry in data["trace"]] == [rule.id for rule in fixture_ruleset.rules]
    assert [entry["rule"] for entry in data["trace"] if entry["decisive"]] == [data["decided_by"]]


def test_no_trace_leaves_only_the_trace_out(capsys: pytest.CaptureFixture[str]) -> None:
    full = run_json(capsys, "evaluate", FINE_TUNE_YAML, "--format", "json")
    bare = run_json(capsys, "evaluate", FINE_TUNE_YAML, "--format", "json", "--no-trace")
    assert "trace" in full
    assert "trace" not in bare
    assert set(bare) >= REQUIRED_KEYS - {"trace"}
    assert bare == {key: value for key, value in full.items() if key != "trace"}


# --- standard input --------------------------------------------------------------------------------------------


def test_dash_reads_json_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(KNOWLEDGE_GAP_JSON.read_text(encoding="utf-8")))
    data = run_json(capsys, "evaluate", "-", "--format", "json")
    assert (data["verdict"], data["next_step"]) == ("dont-fine-tune", "rag")


def test_no_file_and_stdin_not_a_terminal_reads_the_document(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = io.StringIO(FINE_TUNE_YAML.read_text(encoding="utf-8"))
    assert not stdin.isatty()
    monkeypatch.setattr(sys, "stdin", stdin)
    data = run_json(capsys, "evaluate", "--format", "json")
    assert (data["verdict"], data["next_step"]) == ("fine-tune", "fine-tune")  # and run_json saw no prompt on stderr


def test_empty_stdin_is_bad_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    code, out, err = run(capsys, "evaluate")
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert "empty" in err


def test_closed_stdin_is_bad_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    code, out, _err = run(capsys, "evaluate")
    assert code == EXIT_BAD_INPUT
    assert out == ""


# --- batches ---------------------------------------------------------------------------------------------------


def batch_results(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_batch_prints_one_result_per_line_in_order_and_goes_on_after_bad_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "evaluate", "--batch", BATCH)
    assert code == EXIT_BAD_INPUT
    results = batch_results(out)
    lines = len(BATCH.read_text(encoding="utf-8").splitlines())
    assert [result["line"] for result in results] == list(range(1, lines + 1))
    for result in results:
        number = result["line"]
        if number in BATCH_EXPECTED:
            assert "error" not in result
            assert (result["verdict"], result["next_step"]) == BATCH_EXPECTED[number]
            assert set(result) >= REQUIRED_KEYS
        else:
            assert set(result) == {"line", "error"}
            for word in BATCH_ERRORS[number]:
                assert word in result["error"]
    assert set(BATCH_EXPECTED) | set(BATCH_ERRORS) == set(range(1, lines + 1))
    # Every bad line is named on stderr with its problem, and only the bad ones.
    reported = [int(n) for n in re.findall(rf"{re.escape(str(BATCH))}, line (\d+): ", err)]
    assert reported == sorted(BATCH_ERRORS)
    for number, words in BATCH_ERRORS.items():
        line = next(text for text in err.splitlines() if f", line {number}: " in text)
        for word in words:
            assert word in line


def test_batch_of_good_lines_exits_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = [line for n, line in enumerate(BATCH.read_text(encoding="utf-8").splitlines(), 1) if n in BATCH_EXPECTED]
    path = write(tmp_path / "good.jsonl", "\n".join(good) + "\n")
    code, out, err = run(capsys, "evaluate", "--batch", path, "--format", "json")
    assert code == EXIT_OK, err
    assert err == ""
    results = batch_results(out)
    assert [(r["line"], r["verdict"], r["next_step"]) for r in results] == [
        (n, *BATCH_EXPECTED[m]) for n, m in enumerate(sorted(BATCH_EXPECTED), start=1)
    ]


def test_batch_line_numbers_are_file_line_numbers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(
        tmp_path / "gaps.jsonl", '{"n_stable_examples": 10}\n\n   \n{"primary_failure": "missing-knowledge"}\n'
    )
    code, out, err = run(capsys, "evaluate", "--batch", path)
    assert code == EXIT_OK, err
    assert [(r["line"], r["next_step"]) for r in batch_results(out)] == [(1, "few-shot"), (4, "rag")]


def test_batch_honours_no_trace(capsys: pytest.CaptureFixture[str]) -> None:
    _code, out, _err = run(capsys, "evaluate", "--batch", BATCH)
    with_trace = [r for r in batch_results(out) if "error" not in r]
    _code, out, _err = run(capsys, "evaluate", "--batch", BATCH, "--no-trace")
    without = [r for r in batch_results(out) if "error" not in r]
    assert len(with_trace) == len(without) == len(BATCH_EXPECTED)
    assert all("trace" in r for r in with_trace)
    assert not any("trace" in r for r in without)


def test_batch_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(BATCH.read_text(encoding="utf-8")))
    code, out, err = run(capsys, "evaluate", "--batch", "-", "--no-trace")
    assert code == EXIT_BAD_INPUT
    results = batch_results(out)
    assert {r["line"]: (r["verdict"], r["next_step"]) for r in results if "error" not in r} == BATCH_EXPECTED
    assert sorted(r["line"] for r in results if "error" in r) == sorted(BATCH_ERRORS)
    assert "line 3: n_examples" in err


def test_batch_with_text_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "evaluate", "--batch", BATCH, "--format", "text")
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert "--format text" in err
    assert "--batch" in err


def test_batch_with_a_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "evaluate", FINE_TUNE_YAML, "--batch", BATCH)
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert "FILE" in err
    assert "--batch" in err


def test_missing_batch_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "evaluate", "--batch", "nowhere.jsonl")
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert "cannot read nowhere.jsonl" in err
    assert "No such file" in err


def test_batch_with_a_non_utf8_line_goes_on(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(
        tmp_path / "mixed.jsonl",
        b'{"n_stable_examples": 10}\n{"use_case": "caf\xe9"}\n{"n_stable_examples": 100, "tried_dspy": "no"}\n',
    )
    code, out, err = run(capsys, "evaluate", "--batch", path, "--no-trace")
    assert code == EXIT_BAD_INPUT
    results = batch_results(out)
    assert [r["line"] for r in results] == [1, 2, 3]
    assert results[0]["next_step"] == "few-shot"
    assert "UTF-8" in results[1]["error"]
    assert results[2]["next_step"] == "dspy"
    assert "line 2" in err


def test_batch_json_error_column_points_into_the_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = '{"n_stable_examples": 10, "tried_dspy": "no"'
    path = write(tmp_path / "cut.jsonl", line + "\n")
    _code, out, _err = run(capsys, "evaluate", "--batch", path)
    error = batch_results(out)[0]["error"]
    assert f"column {len(line) + 1}" in error


def test_batch_file_with_a_byte_order_mark(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "bom.jsonl", b'\xef\xbb\xbf{"n_stable_examples": 10}\n')
    code, out, err = run(capsys, "evaluate", "--batch", path)
    assert code == EXIT_OK, err
    assert batch_results(out)[0]["next_step"] == "few-shot"


# --- bad answers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("unknown-field.json", None, ("n_examples", "unknown field", 'did you mean "n_stable_examples"')),
        ("negative-count.yaml", None, ("n_stable_examples", "greater than or equal to 0", "-5")),
        ("wrong-type.json", None, ("n_stable_examples", "valid integer", "lots")),
        ("not-a-mapping.yaml", None, ("expected an object of answers", "list")),
        ("bad-bool.yaml", "tried_dspy: maybe\n", ("tried_dspy", "valid boolean", "maybe")),
        ("bad-enum.json", '{"primary_failure": "knowledge"}', ("primary_failure", 'did you mean "missing-knowledge"')),
        ("yes-as-count.yaml", "n_stable_examples: yes\n", ("n_stable_examples", "a whole number is needed")),
        ("zero-days.json", '{"change_freq_days": 0}', ("change_freq_days", "greater than or equal to 1")),
        (
            "contradiction.yaml",
            "tried_prompt_iteration: no\nprompt_iterations: 4\n",
            ("nobody iterated on the prompt", "4 iterations"),
        ),
    ],
)
def test_bad_answers_exit_2_naming_field_and_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, content: str | None, words: tuple[str, ...]
) -> None:
    path = DATA / name if content is None else write(tmp_path / name, content)
    code, out, err = run(capsys, "evaluate", path, "--format", "json")
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert err.startswith(f"should-finetune: {path}: ")
    for word in words:
        assert word in err
    assert "Traceback" not in err


def test_every_bad_field_is_reported_at_once(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "two.json", '{"n_examples": 1, "tried_dspy": "maybe"}')
    code, _out, err = run(capsys, "evaluate", path)
    assert code == EXIT_BAD_INPUT
    assert "n_examples: unknown field" in err
    assert "tried_dspy: Input should be a valid boolean" in err


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "missing.json", ("cannot read", "missing.json", "No such file")),
        (lambda d: make_dir(d / "folder.yaml"), ("cannot read", "folder.yaml", "directory")),
        (lambda d: write(d / "empty.json", ""), ("empty.json is empty",)),
        (lambda d: write(d / "blank.yaml", " \n\n\t\n"), ("blank.yaml is empty",)),
        (lambda d: write(d / "latin1.yaml", b"use_case: caf\xe9\n"), ("latin1.yaml", "not UTF-8")),
        (lambda d: write(d / "broken.json", '{"n_stable_examples": 10'), ("broken.json", "not valid JSON")),
        (
            lambda d: write(d / "broken.yaml", "n_stable_examples: [10\n"),
            ("broken.yaml", "is not valid YAML or JSON (line 2"),
        ),
        (lambda d: write(d / "scalar.yaml", "just words\n"), ("expected an object of answers",)),
    ],
    ids=["missing", "directory", "empty", "blank", "not-utf8", "bad-json", "bad-yaml", "scalar"],
)
def test_unusable_answers_files_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make: Any, words: tuple[str, ...]
) -> None:
    path = make(tmp_path)
    code, out, err = run(capsys, "evaluate", path)
    assert code == EXIT_BAD_INPUT
    assert out == ""
    for word in words:
        assert word in err
    assert "Traceback" not in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads a file without read permission")
def test_unreadable_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "secret.json", '{"n_stable_examples": 10}')
    path.chmod(0)
    code, out, err = run(capsys, "evaluate", path)
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert "cannot read" in err
    assert "Permission denied" in err


# --- rule sets and settings ------------------------------------------------------------------------------------


def test_rules_check_on_the_bundled_rule_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, bundled: RuleSet
) -> None:
    monkeypatch.delenv("SHOULD_FINETUNE_RULES_DIR")  # nothing says which rules: the bundled ones
    code, out, err = run(capsys, "rules", "check")
    assert code == EXIT_OK, err
    assert out.startswith(f"ok: {default_rules_dir()}\n")
    assert re.search(rf"(?m)^version {re.escape(bundled.version)}$", out)
    sha = re.search(r"(?m)^sha256 (\S+)$", out)
    assert sha is not None
    assert re.fullmatch(r"[0-9a-f]{64}", sha.group(1))
    assert sha.group(1) == bundled.sha256
    count = re.search(r"(?m)^(\d+) rules \((\d+) decision, (\d+) warning\)$", out)
    assert count is not None
    total, decisions, warnings = map(int, count.groups())
    assert total == len(bundled.rules) == decisions + warnings
    assert decisions == sum(rule.kind == "decision" for rule in bundled.rules)


def test_rules_check_of_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules = copy_rules(tmp_path / "other", version="2099.1.0-test")
    code, out, err = run(capsys, "rules", "check", rules)
    assert code == EXIT_OK, err
    assert out.startswith(f"ok: {rules}\n")
    assert "version 2099.1.0-test\n" in out


def break_one_rule(rules: Path) -> tuple[Path, str, str]:
    """Misspell the fact of the first rule whose condition is one comparison: (file, rule id, misspelt fact)."""
    for path in sorted(rules.glob("*.yaml")):
        if path.name == "ruleset.yaml":
            continue
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in document["rules"]:
            when = rule.get("when")
            if isinstance(when, dict) and isinstance(when.get("fact"), str):
                fact = when["fact"]
                when["fact"] = fact[:-2] + fact[-1] + fact[-2]
                path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
                return path, rule["id"], when["fact"]
    raise AssertionError("no rule with a single comparison to break")


def test_rules_check_on_a_broken_rule_set_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules = copy_rules(tmp_path / "broken")
    path, rule_id, misspelt = break_one_rule(rules)
    code, out, err = run(capsys, "rules", "check", rules)
    assert code == EXIT_BAD_RULES
    assert out == ""
    assert f"{path}: rule {rule_id}: " in err
    assert misspelt in err


def test_evaluate_with_a_broken_rule_set_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules = copy_rules(tmp_path / "broken")
    path, rule_id, _misspelt = break_one_rule(rules)
    code, out, err = run(capsys, "evaluate", FINE_TUNE_YAML, "--rules-dir", rules)
    assert code == EXIT_BAD_RULES
    assert out == ""
    assert str(path) in err
    assert rule_id in err


def test_rules_dir_without_ruleset_yaml_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "rules", "check", tmp_path)
    assert code == EXIT_BAD_RULES
    assert out == ""
    assert str(tmp_path / "ruleset.yaml") in err


def test_rules_dir_option_selects_the_rule_set(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rules = copy_rules(tmp_path / "other", version="2099.2.0-test")
    data = run_json(capsys, "evaluate", FINE_TUNE_YAML, "--format", "json", "--rules-dir", rules)
    assert data["ruleset"]["version"] == "2099.2.0-test"
    assert data["ruleset"]["sha256"] == load_ruleset(rules).sha256
    code, out, _err = run(capsys, "evaluate", FINE_TUNE_YAML, "--rules-dir", rules)
    assert code == EXIT_OK
    assert "Rule set 2099.2.0-test" in out


def test_environment_selects_the_rule_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rules = copy_rules(tmp_path / "from-env", version="2099.3.0-env")
    monkeypatch.setenv("SHOULD_FINETUNE_RULES_DIR", str(rules))
    data = run_json(capsys, "evaluate", KNOWLEDGE_GAP_JSON, "--format", "json")
    assert data["ruleset"]["version"] == "2099.3.0-env"
    code, out, _err = run(capsys, "rules", "check")
    assert code == EXIT_OK
    assert out.startswith(f"ok: {rules}\n")
    assert "version 2099.3.0-env\n" in out
    # The batch path reads the same setting.
    code, out, _err = run(capsys, "evaluate", "--batch", BATCH, "--no-trace")
    assert {r["ruleset"]["version"] for r in batch_results(out) if "error" not in r} == {"2099.3.0-env"}


def test_rules_dir_option_wins_over_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHOULD_FINETUNE_RULES_DIR", str(copy_rules(tmp_path / "env", version="2099.4.0-env")))
    option = copy_rules(tmp_path / "option", version="2099.4.0-option")
    data = run_json(capsys, "evaluate", FINE_TUNE_YAML, "--format", "json", "--rules-dir", option)
    assert data["ruleset"]["version"] == "2099.4.0-option"


def test_dotenv_in_the_working_directory_is_honoured(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SHOULD_FINETUNE_RULES_DIR")  # the environment would win over .env
    rules = copy_rules(tmp_path / "from-dotenv", version="2099.5.0-dotenv")
    write(Path.cwd() / ".env", f"SHOULD_FINETUNE_RULES_DIR={rules}\n")
    data = run_json(capsys, "evaluate", FINE_TUNE_YAML, "--format", "json")
    assert data["ruleset"]["version"] == "2099.5.0-dotenv"


def test_environment_wins_over_dotenv(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write(Path.cwd() / ".env", f"SHOULD_FINETUNE_RULES_DIR={copy_rules(tmp_path / 'd', version='2099.6.0-dotenv')}\n")
    monkeypatch.setenv("SHOULD_FINETUNE_RULES_DIR", str(copy_rules(tmp_path / "e", version="2099.6.0-env")))
    data = run_json(capsys, "evaluate", FINE_TUNE_YAML, "--format", "json")
    assert data["ruleset"]["version"] == "2099.6.0-env"


@pytest.mark.parametrize("command", [["evaluate", str(FINE_TUNE_YAML)], ["rules", "check"]])
@pytest.mark.parametrize("value", ["/nonexistent", "a-file"])
def test_rules_dir_setting_that_is_not_a_directory_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str], value: str
) -> None:
    if value == "a-file":
        value = str(write(Path.cwd() / "rules.txt", "not a directory\n"))
    monkeypatch.setenv("SHOULD_FINETUNE_RULES_DIR", value)
    code, out, err = run(capsys, *command)
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert "SHOULD_FINETUNE_RULES_DIR" in err
    assert value in err
    assert "not a directory" in err


def test_invalid_setting_in_dotenv_exits_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOULD_FINETUNE_RULES_DIR")  # the environment would win over .env
    write(Path.cwd() / ".env", "SHOULD_FINETUNE_RULES_DIR=/nonexistent\n")
    code, out, err = run(capsys, "rules", "check")
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert "SHOULD_FINETUNE_RULES_DIR" in err


def test_empty_rules_dir_setting_means_unset(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`SHOULD_FINETUNE_RULES_DIR=` is "not set", not "the working directory": the bundled rules are used."""
    monkeypatch.setenv("SHOULD_FINETUNE_RULES_DIR", "")
    code, out, _err = run(capsys, "rules", "check")
    assert code == EXIT_OK
    assert f"ok: {default_rules_dir()}" in out


def test_setting_error_has_no_pydantic_prefix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOULD_FINETUNE_RULES_DIR", "/nonexistent")
    _code, _out, err = run(capsys, "rules", "check")
    assert "Value error" not in err


def readme_dotenv() -> str:
    """The `.env` of the README's set-up steps, placeholders and comments included, as a user copies it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```sh\n((?:[ ]*SLACK_[A-Z_]+=.*\n)+)[ ]*```", readme)
    assert found, "the README's .env example is gone"
    return textwrap.dedent(found.group(1))


# Settings no command below uses, each malformed: they must not stop it.
UNUSED_AND_MALFORMED = "REDIS_URL=postgres://db/1\nSHOULD_FINETUNE_DIGEST_TIME=25:99\nSHOULD_FINETUNE_PORT=eighty\n"


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", str(KNOWLEDGE_GAP_JSON), "--format", "json"],
        ["evaluate", str(FINE_TUNE_YAML)],
        ["rules", "check"],
        ["manifest", "--socket"],
    ],
    ids=" ".join,
)
def test_the_readmes_dotenv_placeholders_do_not_stop_commands_that_need_no_slack(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    dotenv = readme_dotenv()
    assert "SLACK_SIGNING_SECRET=..." in dotenv  # the placeholder that used to stop `evaluate`
    write(Path.cwd() / ".env", dotenv + UNUSED_AND_MALFORMED)
    code, out, err = run(capsys, *command)
    assert code == EXIT_OK, err
    assert err == ""
    assert out


def test_the_readmes_dotenv_placeholders_stop_serve_naming_each(capsys: pytest.CaptureFixture[str]) -> None:
    write(Path.cwd() / ".env", readme_dotenv())
    code, out, err = run(capsys, "serve")
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert err.splitlines() == [
        "should-finetune: setting SLACK_BOT_TOKEN: still a placeholder: paste the Bot User OAuth Token from OAuth & "
        "Permissions",
        "should-finetune: setting SLACK_SIGNING_SECRET: still a placeholder: paste the app's signing secret from "
        "Basic Information > App Credentials > Signing Secret",
    ]


def test_version_names_the_package_and_the_rule_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, bundled: RuleSet
) -> None:
    monkeypatch.delenv("SHOULD_FINETUNE_RULES_DIR")  # nothing says which rules: the bundled ones
    write(Path.cwd() / ".env", readme_dotenv() + UNUSED_AND_MALFORMED)
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    out, err = capsys.readouterr()
    assert (exited.value.code, err) == (EXIT_OK, "")
    assert out.splitlines() == [
        f"should-finetune {importlib.metadata.version('should-finetune')}",
        f"rule set {bundled.version}, sha256 {bundled.sha256} ({default_rules_dir()})",
    ]


def test_version_reports_the_configured_rule_set_or_why_it_cannot(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rules = copy_rules(tmp_path / "mine", version="2099.7.0-mine")
    monkeypatch.setenv("SHOULD_FINETUNE_RULES_DIR", str(rules))
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == EXIT_OK
    assert f"rule set 2099.7.0-mine, sha256 {load_ruleset(rules).sha256} ({rules})" in capsys.readouterr().out
    write(rules / "ruleset.yaml", "version: [unclosed\n")
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    _out, err = capsys.readouterr()
    assert exited.value.code == EXIT_BAD_RULES
    assert "the rule set is invalid" in err
    assert "Traceback" not in err


# --- interactive ----------------------------------------------------------------------------------------------


def script(answers: dict[str, list[str]]) -> io.StringIO:
    """One line per question, in the order they are asked: the given answers, blank for the rest."""
    lines: list[str] = []
    for name in FACTS:
        lines.extend(answers.get(name, [""]))
    return io.StringIO("".join(line + "\n" for line in lines))


def choice_number(name: str, choice: str) -> str:
    return str(FACTS[name].choices.index(choice) + 1)


def test_ask_answers_blank_means_unanswered() -> None:
    out = io.StringIO()
    answers = ask_answers(script({"n_stable_examples": ["120"], "tried_dspy": ["unknown"]}), out)
    assert answers.known() == {"n_stable_examples": 120}
    for fact in FACTS.values():
        assert out.getvalue().count(fact.question) == 1


def test_ask_answers_re_asks_an_invalid_answer_with_a_message() -> None:
    out = io.StringIO()
    stdin = script({"n_stable_examples": ["lots", "-1", "500"], "tried_prompt_iteration": ["perhaps", "yes"]})
    answers = ask_answers(stdin, out)
    assert answers.n_stable_examples == 500
    assert answers.tried_prompt_iteration is True
    text = out.getvalue()
    assert text.count(FACTS["n_stable_examples"].question) == 3
    assert text.count(FACTS["tried_prompt_iteration"].question) == 2
    assert "Please answer with a whole number, or press Enter to skip." in text
    assert "greater than or equal to 0" in text
    assert "Please answer yes or no, or press Enter to skip." in text
    assert "Value error" not in text


def test_ask_answers_re_asks_a_contradiction() -> None:
    out = io.StringIO()
    answers = ask_answers(script({"tried_prompt_iteration": ["no"], "prompt_iterations": ["4", ""]}), out)
    assert answers.tried_prompt_iteration is False
    assert answers.prompt_iterations is None
    assert "You say nobody iterated on the prompt but count 4 iterations" in out.getvalue()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (choice_number("primary_failure", "format"), "format"),
        (choice_number("primary_failure", "missing-knowledge"), "missing-knowledge"),
        ("Missing Knowledge", "missing-knowledge"),
        ("tool shape", "tool-shape"),
    ],
)
def test_ask_answers_enum_by_number_or_name(given: str, expected: str) -> None:
    answers = ask_answers(script({"primary_failure": [given]}), io.StringIO())
    assert answers.primary_failure == expected


def test_ask_answers_shows_the_numbered_choices_and_rejects_out_of_range_numbers() -> None:
    out = io.StringIO()
    fact = FACTS["primary_failure"]
    answers = ask_answers(script({"primary_failure": ["0", str(len(fact.choices) + 1), "2"]}), out)
    assert answers.primary_failure == fact.choices[1]
    assert out.getvalue().count(fact.question) == 3
    assert f"1={fact.choices[0]}" in out.getvalue()


def test_ask_answers_re_asks_a_superscript_digit() -> None:
    out = io.StringIO()
    answers = ask_answers(script({"primary_failure": ["²", "2"]}), out)
    assert answers.primary_failure == FACTS["primary_failure"].choices[1]
    assert "Please answer with one of the numbers or names listed" in out.getvalue()


def test_ask_answers_end_of_input_is_an_input_error() -> None:
    with pytest.raises(InputError, match="input ended"):
        ask_answers(io.StringIO("a use case\n120\n"), io.StringIO())


def test_evaluate_asks_when_stdin_is_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {
        "n_stable_examples": ["500"],
        "primary_failure": [choice_number("primary_failure", "style")],
        "change_freq_days": ["90"],
        "tried_prompt_iteration": ["yes"],
        "tried_dspy": ["yes"],
    }
    monkeypatch.setattr(sys, "stdin", TerminalInput(script(answers).getvalue()))
    code, out, err = run(capsys, "evaluate", "--format", "json")
    assert code == EXIT_OK, err
    data = json.loads(out)  # the questions went to stderr, stdout holds the JSON alone
    assert (data["verdict"], data["next_step"]) == ("fine-tune", "fine-tune")
    assert data["answers"]["primary_failure"] == "style"
    assert FACTS["tried_dspy"].question in err


def test_evaluate_interactive_end_of_input_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", TerminalInput("a use case\n"))
    code, out, err = run(capsys, "evaluate")
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert "input ended" in err


# --- a real terminal ------------------------------------------------------------------------------------------


class Terminal:
    """A child process with its stdin and stderr on a pseudo-terminal and its stdout on a pipe."""

    def __init__(self, argv: list[str], cwd: Path, deadline: float) -> None:
        self.deadline = time.monotonic() + deadline
        self.screen = bytearray()
        self.stdout = bytearray()
        self.master, slave = os.openpty()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOULD_FINETUNE_")}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
        try:
            self.proc = subprocess.Popen(
                argv, stdin=slave, stdout=subprocess.PIPE, stderr=slave, cwd=cwd, env=env, start_new_session=True
            )
        finally:
            os.close(slave)
        assert self.proc.stdout is not None
        self.out_fd = self.proc.stdout.fileno()
        self.open = {self.master, self.out_fd}

    def pump(self, done: Any) -> None:
        """Read the terminal and stdout until `done()` holds; fail at the deadline."""
        while not done():
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; the terminal showed:\n{self.screen.decode(errors='replace')}")
            if not self.open:
                if self.proc.poll() is None:
                    time.sleep(0.05)
                    continue
                raise AssertionError(f"gave up waiting; the terminal showed:\n{self.screen.decode(errors='replace')}")
            ready, _, _ = select.select(list(self.open), [], [], min(remaining, 0.5))
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the terminal's other side is closed
                    chunk = b""
                if not chunk:
                    self.open.discard(fd)
                elif fd == self.master:
                    self.screen += chunk
                else:
                    self.stdout += chunk

    def answer(self, after: int, prompt: str, text: str) -> int:
        """Wait for `prompt` past offset `after` on the terminal, type `text` and Enter; the offset past the prompt."""
        needle = prompt.encode()
        self.pump(lambda: self.screen.find(needle, after) >= 0)
        at = self.screen.find(needle, after) + len(needle)
        os.write(self.master, text.encode() + b"\n")
        return at

    def finish(self) -> int:
        self.pump(lambda: self.out_fd not in self.open and self.proc.poll() is not None)
        return self.proc.wait(timeout=max(1.0, self.deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        os.close(self.master)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs pseudo-terminals")
def test_interactive_evaluate_under_a_real_terminal(tmp_path: Path) -> None:
    answers = {
        "n_stable_examples": ["lots", "500"],
        "primary_failure": [choice_number("primary_failure", "format")],
        "change_freq_days": ["90"],
        "tried_prompt_iteration": ["yes"],
        "tried_dspy": ["y"],
    }
    terminal = Terminal([sys.executable, "-m", "bot", "evaluate", "--format", "json"], cwd=tmp_path, deadline=60)
    try:
        offset = 0
        for name, fact in FACTS.items():
            for text in answers.get(name, [""]):
                offset = terminal.answer(offset, f"{fact.question} ", text)
        code = terminal.finish()
    finally:
        terminal.close()
    screen = terminal.screen.decode(errors="replace")
    assert code == EXIT_OK, screen
    assert "press Enter to leave a question unanswered" in screen
    assert "Please answer with a whole number" in screen  # "lots" was re-asked on the terminal
    assert screen.count(FACTS["n_stable_examples"].question) == 2
    data = json.loads(terminal.stdout.decode())
    assert (data["verdict"], data["next_step"]) == ("fine-tune", "fine-tune")
    assert data["answers"]["n_stable_examples"] == 500
    assert data["answers"]["primary_failure"] == "format"
    assert data["answers"]["tried_dspy"] is True
    assert "trace" in data


# --- rough edges, smoothed ------------------------------------------------------------------------------------


def test_ctrl_c_while_asking_exits_130_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Interrupting(io.StringIO):
        def isatty(self) -> bool:
            return True

        def readline(self, size: int | None = -1) -> str:
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", Interrupting())
    code, out, err = run(capsys, "evaluate")
    assert code == 130
    assert out == ""
    assert "Traceback" not in err


def test_an_empty_batch_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "evaluate", "--batch", write(tmp_path / "empty.jsonl", "\n \n"))
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert "has no answers" in err


def test_a_json_file_is_read_as_json_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A trailing comma is YAML-readable but not JSON: a .json file is held to JSON."""
    code, out, err = run(capsys, "evaluate", write(tmp_path / "a.json", '{"n_stable_examples": 10,}'))
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert "a.json is not valid JSON" in err
    assert "column" in err


def test_stdin_is_called_standard_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"n_stable_examples": -3}'))
    code, _out, err = run(capsys, "evaluate")
    assert code == EXIT_BAD_INPUT
    assert "standard input: n_stable_examples: Input should be greater than or equal to 0" in err


def test_yaml_numbers_and_dates_are_fine_as_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", "use_case: 2024\nnotes: 2024-01-01\nn_stable_examples: 10\n")
    report = run_json(capsys, "evaluate", path, "--format", "json", "--no-trace")
    assert report["answers"]["use_case"] == "2024"
    assert report["answers"]["notes"] == "2024-01-01"


@pytest.mark.parametrize(("content", "kind"), [("[1, 2]", "a list"), ("null", "nothing"), ('"hello"', "text")])
def test_not_an_object_is_described_in_words(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, kind: str
) -> None:
    code, _out, err = run(capsys, "evaluate", write(tmp_path / "a.json", content))
    assert code == EXIT_BAD_INPUT
    assert f"expected an object of answers (fact: value pairs), got {kind}" in err


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.json", '{"tried_dspy": "no", "tried_dspy": "yes"}', "a.json: duplicate key 'tried_dspy'"),
        (
            "a.yaml",
            "tried_dspy: no\nn_tools: 3\ntried_dspy: yes\n",
            "a.yaml is not valid YAML or JSON (line 3: duplicate key 'tried_dspy')",
        ),
    ],
)
def test_a_fact_given_twice_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, content: str, expected: str
) -> None:
    code, out, err = run(capsys, "evaluate", write(tmp_path / name, content))
    assert code == EXIT_BAD_INPUT
    assert out == ""
    assert expected in err


def test_a_batch_line_with_a_fact_given_twice(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "b.jsonl", '{"n_stable_examples": 10}\n{"n_tools": 1, "n_tools": 2}\n')
    code, out, _err = run(capsys, "evaluate", "--batch", path, "--no-trace")
    assert code == EXIT_BAD_INPUT
    results = batch_results(out)
    assert results[0]["next_step"] == "few-shot"
    assert results[1] == {"line": 2, "error": "duplicate key 'n_tools'"}


@pytest.mark.parametrize("name", ["bom.json", "bom.yaml"])
def test_a_byte_order_mark_in_an_answers_file_is_ignored(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    path = write(tmp_path / name, b'\xef\xbb\xbf{"n_stable_examples": 10}\n')
    report = run_json(capsys, "evaluate", path, "--format", "json", "--no-trace")
    assert report["next_step"] == "few-shot"
