"""The rule set: YAML files validated once at load time into immutable, ready-to-evaluate rules.

A rules directory holds `ruleset.yaml` (version, next steps, the ladder) and any number of other `*.yaml` files,
each with a `rules:` list. Every problem found is reported at once, naming the file and the rule id. The files'
formats are the models of `bot.engine.rulefiles`, importable from here too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from bot.engine.analysis import unreachable_rules
from bot.engine.conditions import (
    OPERATORS,
    Check,
    Condition,
    ConditionError,
    ConditionParser,
    Leaf,
    compile_condition,
)
from bot.engine.documents import load_yaml
from bot.engine.errors import suggest
from bot.engine.rulefiles import (
    SEED_SECTIONS,
    MetaFile,
    NextStep,
    NextStepInfo,
    Outcome,
    Playbook,
    PlaybookFile,
    PlaybookSource,
    RuleFile,
    Rung,
    Source,
    VerdictKind,
    messages,
)

__all__ = [
    "META_FILE",
    "PLAYBOOK_FILE",
    "SEED_SECTIONS",
    "MetaFile",
    "NextStep",
    "NextStepInfo",
    "Outcome",
    "Playbook",
    "PlaybookFile",
    "PlaybookSource",
    "Problem",
    "Rule",
    "RuleFile",
    "RuleSet",
    "RuleSetError",
    "Rung",
    "Source",
    "VerdictKind",
    "load_ruleset",
]

META_FILE = "ruleset.yaml"
PLAYBOOK_FILE = "playbooks.yaml"


class RuleSetError(Exception):
    """The rule set cannot be used. `problems` lists every (file, rule id, message) found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    rule: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: rule {self.rule}" if self.rule else self.file
        return f"{where}: {self.message}"


# --- the loaded rule set -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """A validated rule. `condition` is None for the default rule (it decides when no other rule does)."""

    id: str
    title: str
    order: int
    kind: Literal["decision", "warning"]
    condition: Condition | None
    verdict: VerdictKind | None
    next_step: NextStep | None
    message: str | None
    applies_to: frozenset[VerdictKind]
    because: str | None
    rationale: str
    sources: tuple[Source, ...]
    file: str
    check: Check | None = field(default=None, repr=False)

    @property
    def facts(self) -> tuple[str, ...]:
        """The facts this rule reads, in the order its condition mentions them."""
        if self.condition is None:
            return ()
        return tuple(dict.fromkeys(leaf.fact for leaf in self.condition.leaves()))


@dataclass(frozen=True, slots=True, eq=False)
class RuleSet:
    version: str
    sha256: str
    rules: tuple[Rule, ...]
    leaves: tuple[Leaf, ...]
    next_steps: Mapping[NextStep, NextStepInfo]
    ladder: tuple[Rung, ...]
    playbooks: tuple[Playbook, ...]
    directory: str
    # Precomputed for the evaluation loop: (fact, operator, value) per leaf, and positions of rule kinds.
    leaf_specs: tuple[tuple[str, Callable[[Any, Any], bool], Any], ...] = field(repr=False)
    decision_positions: tuple[int, ...] = field(repr=False)
    warning_positions: tuple[int, ...] = field(repr=False)

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def playbook(self, step: NextStep, failure: str | None, rule: str) -> Playbook | None:
        """The first playbook for `step` that fits the failure and the deciding rule, or None."""
        return next((p for p in self.playbooks if p.fits(step, failure, rule)), None)


def load_ruleset(directory: str | Path) -> RuleSet:
    """Read, validate and compile the rule set in `directory`; raise `RuleSetError` listing every problem."""
    root = Path(directory)
    problems: list[Problem] = []
    if not root.is_dir():
        raise RuleSetError([Problem(str(root), None, "not a directory")])
    files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    meta_path, playbook_path = root / META_FILE, root / PLAYBOOK_FILE
    if meta_path not in files:
        raise RuleSetError([Problem(str(meta_path), None, f"missing: every rule set has a {META_FILE}")])

    meta_raw = _read_yaml(meta_path, problems)
    meta = _validate_meta(meta_raw, str(meta_path), problems)

    playbooks = _read_playbooks(playbook_path, problems) if playbook_path in files else None

    written: list[tuple[RuleFile, str]] = []
    for path in files:
        if path in (meta_path, playbook_path):
            continue
        written.extend(_read_rule_file(path, problems))

    rules, leaves = _compile(written, problems)
    if meta is not None:
        _check_steps_described(rules, meta, str(meta_path), problems)
    if playbooks is not None:
        _check_playbooks(rules, playbooks, str(playbook_path), problems)
    if not problems:
        for rule, reason in unreachable_rules(rules):
            problems.append(Problem(rule.file, rule.id, f"can never fire: {reason}"))
    if problems or meta is None:
        raise RuleSetError(problems)

    return RuleSet(
        version=meta.version,
        sha256=_content_hash(meta, [w for w, _ in written], playbooks),
        rules=rules,
        leaves=leaves,
        next_steps=dict(meta.next_steps),
        ladder=tuple(meta.ladder),
        playbooks=tuple(playbooks.playbooks) if playbooks else (),
        directory=str(root),
        leaf_specs=tuple((leaf.fact, OPERATORS[leaf.op], leaf.value) for leaf in leaves),
        decision_positions=tuple(i for i, rule in enumerate(rules) if rule.kind == "decision"),
        warning_positions=tuple(i for i, rule in enumerate(rules) if rule.kind == "warning"),
    )


def _read_yaml(path: Path, problems: list[Problem]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), None, f"cannot read: {exc}"))
        return None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problems.append(Problem(str(path), None, f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"))
        return None


def _validate_meta(raw: Any, file: str, problems: list[Problem]) -> MetaFile | None:
    if raw is None:
        if not any(p.file == file for p in problems):
            problems.append(Problem(file, None, "empty"))
        return None
    if not isinstance(raw, dict):
        problems.append(Problem(file, None, "expected a mapping with version, next_steps and ladder"))
        return None
    try:
        return MetaFile.model_validate(raw)
    except ValidationError as exc:
        problems.extend(Problem(file, None, message) for message in messages(exc, MetaFile))
        return None


def _read_rule_file(path: Path, problems: list[Problem]) -> list[tuple[RuleFile, str]]:
    file = str(path)
    raw = _read_yaml(path, problems)
    if raw is None:
        return []
    if not isinstance(raw, dict) or set(raw) != {"rules"} or not isinstance(raw["rules"], list):
        keys = sorted(map(str, raw)) if isinstance(raw, dict) else type(raw).__name__
        problems.append(Problem(file, None, f"a rule file holds one key, `rules:`, a list; found {keys}"))
        return []
    parsed = []
    for position, item in enumerate(raw["rules"], start=1):
        rule_id = item.get("id") if isinstance(item, dict) else None
        label = rule_id if isinstance(rule_id, str) else f"#{position}"
        if not isinstance(item, dict):
            problems.append(Problem(file, label, "expected a mapping"))
            continue
        try:
            parsed.append((RuleFile.model_validate(item), file))
        except ValidationError as exc:
            problems.extend(Problem(file, label, message) for message in messages(exc, RuleFile))
    return parsed


def _compile(written: list[tuple[RuleFile, str]], problems: list[Problem]) -> tuple[tuple[Rule, ...], tuple[Leaf, ...]]:
    parser = ConditionParser()
    seen_ids: dict[str, str] = {}
    seen_orders: dict[int, str] = {}
    rules: list[Rule] = []
    for spec, file in sorted(written, key=lambda item: item[0].order):
        if spec.id in seen_ids:
            problems.append(Problem(file, spec.id, f"duplicate id (also in {seen_ids[spec.id]})"))
            continue
        seen_ids[spec.id] = file
        if spec.order in seen_orders:
            problems.append(Problem(file, spec.id, f"order {spec.order} is taken by rule {seen_orders[spec.order]}"))
        seen_orders[spec.order] = spec.id
        try:
            condition = None if spec.when is None else parser.parse(spec.when)
        except ConditionError as exc:
            problems.append(Problem(file, spec.id, str(exc)))
            continue
        rules.append(
            Rule(
                id=spec.id,
                title=spec.title,
                order=spec.order,
                kind=spec.kind,
                condition=condition,
                verdict=spec.outcome.verdict if spec.outcome else None,
                next_step=spec.outcome.next_step if spec.outcome else None,
                message=spec.message,
                applies_to=frozenset(spec.applies_to or VerdictKind),
                because=spec.because,
                rationale=spec.rationale,
                sources=tuple(spec.sources),
                file=file,
                check=None if condition is None else compile_condition(condition),
            )
        )
    defaults = [rule for rule in rules if rule.kind == "decision" and rule.condition is None]
    decisions = [rule for rule in rules if rule.kind == "decision"]
    if not defaults and decisions:
        problems.append(
            Problem(decisions[-1].file, None, "no default rule: the last decision rule must have no `when`")
        )
    for rule in defaults[:-1] if defaults else ():
        problems.append(Problem(rule.file, rule.id, "only the last decision rule may have no `when`"))
    if not decisions and written:
        problems.append(Problem(written[0][1], None, "the rule set has no decision rules"))
    return tuple(rules), tuple(parser.leaves)


def _check_steps_described(rules: tuple[Rule, ...], meta: MetaFile, file: str, problems: list[Problem]) -> None:
    on_ladder = {step for rung in meta.ladder for step in rung.steps}
    for step in sorted({rule.next_step for rule in rules if rule.next_step is not None}):
        if step not in meta.next_steps:
            problems.append(Problem(file, None, f"next step {step} is used by a rule but not described"))
        if step not in on_ladder:
            problems.append(Problem(file, None, f"next step {step} is used by a rule but is on no rung"))
    for rung in meta.ladder:
        for step in rung.steps:
            if step not in meta.next_steps:
                problems.append(Problem(file, None, f"next step {step} is on the ladder but not described"))


def _read_playbooks(path: Path, problems: list[Problem]) -> PlaybookFile | None:
    file = str(path)
    raw = _read_yaml(path, problems)
    if raw is None:
        if not any(p.file == file for p in problems):
            problems.append(Problem(file, None, "empty"))
        return None
    try:
        return PlaybookFile.model_validate(raw)
    except ValidationError as exc:
        problems.extend(Problem(file, None, message) for message in messages(exc, PlaybookFile))
        return None


def _check_playbooks(rules: tuple[Rule, ...], found: PlaybookFile, file: str, problems: list[Problem]) -> None:
    """Every next step a rule gives has a default playbook; a playbook names only rules that give its step."""
    steps_of = {rule.id: rule.next_step for rule in rules if rule.next_step is not None}
    for position, playbook in enumerate(found.playbooks, start=1):
        for rule_id in playbook.rules or ():
            if rule_id not in steps_of:
                problems.append(
                    Problem(file, None, f"playbook #{position}: no decision rule {rule_id}{suggest(rule_id, steps_of)}")
                )
            elif steps_of[rule_id] != playbook.step:
                problems.append(
                    Problem(
                        file,
                        None,
                        f"playbook #{position}: rule {rule_id} gives {steps_of[rule_id]}, not {playbook.step}",
                    )
                )
    defaults = {p.step for p in found.playbooks if p.failures is None and p.rules is None}
    for step in sorted(set(steps_of.values()) - defaults):
        problems.append(
            Problem(file, None, f"next step {step} has no default playbook (one without failures or rules)")
        )


def _content_hash(meta: MetaFile, rules: list[RuleFile], playbooks: PlaybookFile | None) -> str:
    """sha256 of the rule set's meaning: comments, key order and file layout do not change it."""
    content: dict[str, Any] = {
        "meta": meta.model_dump(mode="json"),
        "rules": [rule.model_dump(mode="json") for rule in sorted(rules, key=lambda r: r.order)],
    }
    if playbooks is not None:
        content["playbooks"] = playbooks.model_dump(mode="json")
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
