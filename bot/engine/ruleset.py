"""The rule set: YAML files validated once at load time into immutable, ready-to-evaluate rules.

A rules directory holds `ruleset.yaml` (version, next steps, the ladder) and any number of other `*.yaml` files,
each with a `rules:` list. Every problem found is reported at once, naming the file and the rule id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.engine.analysis import unreachable_rules
from bot.engine.answers import FACTS, Failure
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
from bot.engine.errors import suggest, validation_messages

META_FILE = "ruleset.yaml"
PLAYBOOK_FILE = "playbooks.yaml"
SEED_SECTIONS = ("checklist", "situations", "flowchart", "faq", "pitfalls")


class VerdictKind(StrEnum):
    FINE_TUNE = "fine-tune"
    DONT_FINE_TUNE = "dont-fine-tune"


class NextStep(StrEnum):
    """Next-step ids: a public contract shared by rule files, the JSON output and Slack messages."""

    FEW_SHOT = "few-shot"
    RAG = "rag"
    RAG_WITH_PROVENANCE = "rag-with-provenance"
    PROMPT_ITERATION = "prompt-iteration"
    TRY_PROMPTS = "try-prompts"
    BETTER_SYSTEM_PROMPT = "better-system-prompt"
    DESCRIBE_TOOLS = "describe-tools"
    COT = "cot"
    DSPY = "dspy"
    BETTER_MODEL = "better-model"
    BUILD_EVAL = "build-eval"
    PROMPT_AND_RAG = "prompt-and-rag"
    FINE_TUNE = "fine-tune"


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


# --- the file formats --------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Source(_Strict):
    """Where a rule's facts come from: a section of the seed document or a published URL, as of a date."""

    ref: str
    as_of: date
    note: str | None = None

    @field_validator("ref")
    @classmethod
    def _known_ref(cls, ref: str) -> str:
        if ref.startswith("seed:"):
            section = ref.removeprefix("seed:")
            if section not in SEED_SECTIONS:
                raise ValueError(
                    f'unknown seed section "{section}"{suggest(section, SEED_SECTIONS)}; '
                    f"use one of {', '.join(SEED_SECTIONS)}"
                )
        elif not ref.startswith(("https://", "http://")) or " " in ref:
            raise ValueError('a source is "seed:<section>" or an http(s) URL')
        return ref


class Outcome(_Strict):
    verdict: VerdictKind
    next_step: NextStep

    @model_validator(mode="after")
    def _consistent(self) -> Outcome:
        if (self.verdict is VerdictKind.FINE_TUNE) != (self.next_step is NextStep.FINE_TUNE):
            raise ValueError("verdict fine-tune goes with next_step fine-tune, and only with it")
        return self


class RuleFile(_Strict):
    """One rule as written in a rule file; `when` is parsed separately so its errors can name the rule."""

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)
    title: str = Field(min_length=1, max_length=150)
    order: int
    kind: Literal["decision", "warning"] = "decision"
    when: dict[str, Any] | None = None
    outcome: Outcome | None = None
    message: str | None = Field(None, min_length=1, max_length=500)
    applies_to: list[VerdictKind] | None = Field(None, min_length=1)
    because: str | None = Field(None, min_length=1, max_length=250)
    rationale: str = Field(min_length=1, max_length=2000)
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> RuleFile:
        if self.kind == "decision":
            if self.outcome is None:
                raise ValueError("a decision rule needs an outcome (verdict and next_step)")
            if self.message is not None or self.applies_to is not None:
                raise ValueError("message and applies_to belong to warning rules")
        elif self.because is not None:
            raise ValueError("because belongs to decision rules; a warning says it in its message")
        else:
            if self.message is None:
                raise ValueError("a warning rule needs a message")
            if self.outcome is not None:
                raise ValueError("a warning rule has no outcome; it never changes the verdict")
        return self


class NextStepInfo(_Strict):
    title: str = Field(min_length=1, max_length=80)
    summary: str = Field(min_length=1, max_length=500)
    # The answers that mean the step was tried (a count is a minimum), and the condition as a person reads it.
    done: dict[str, bool | int] | None = None
    if_done: str | None = Field(None, min_length=1, max_length=120)

    @field_validator("done")
    @classmethod
    def _known_facts(cls, done: dict[str, bool | int] | None) -> dict[str, bool | int] | None:
        for name, value in (done or {}).items():
            fact = FACTS.get(name)
            if fact is None or fact.type not in ("bool", "int"):
                raise ValueError(f'"{name}" is not a yes/no or count fact{suggest(name, FACTS)}')
            if (fact.type == "bool") != isinstance(value, bool):
                raise ValueError(f"{name} takes {'yes/no' if fact.type == 'bool' else 'a whole number'}")
        return done

    @model_validator(mode="after")
    def _done_with_its_words(self) -> NextStepInfo:
        if bool(self.done) != bool(self.if_done):
            raise ValueError("done and if_done go together: what trying the step means, and how to say it")
        return self


class PlaybookSource(_Strict):
    title: str = Field(min_length=1, max_length=150)
    url: str = Field(pattern=r"^https://[^\s]+$", max_length=500)
    as_of: date


class Playbook(_Strict):
    """What to do for one next step: 3-5 concrete steps with sources; limited to some failures or deciding rules."""

    step: NextStep
    failures: list[Failure] | None = Field(None, min_length=1)
    rules: list[str] | None = Field(None, min_length=1)
    steps: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(min_length=3, max_length=5)
    sources: list[PlaybookSource] = Field(min_length=1, max_length=3)

    def fits(self, step: NextStep, failure: str | None, rule: str) -> bool:
        return (
            self.step == step
            and (self.failures is None or failure in self.failures)
            and (self.rules is None or rule in self.rules)
        )


class PlaybookFile(_Strict):
    playbooks: list[Playbook] = Field(min_length=1)


class Rung(_Strict):
    rung: str = Field(min_length=1, max_length=40)
    title: str = Field(min_length=1, max_length=80)
    steps: list[NextStep] = Field(min_length=1)
    tried: str | None = None

    @field_validator("tried")
    @classmethod
    def _boolean_fact(cls, name: str | None) -> str | None:
        if name is not None and (name not in FACTS or FACTS[name].type != "bool"):
            raise ValueError(f'"{name}" is not a yes/no fact{suggest(name, FACTS)}')
        return name


class MetaFile(_Strict):
    version: str = Field(min_length=1, max_length=40)
    description: str | None = None
    next_steps: dict[NextStep, NextStepInfo]
    ladder: list[Rung] = Field(min_length=2)

    @model_validator(mode="after")
    def _ladder_ends_in_fine_tune(self) -> MetaFile:
        if self.ladder[-1].steps != [NextStep.FINE_TUNE]:
            raise ValueError("the ladder's last rung is fine-tune alone")
        seen: set[NextStep] = set()
        for rung in self.ladder:
            for step in rung.steps:
                if step in seen:
                    raise ValueError(f"next step {step} is on two rungs of the ladder")
                seen.add(step)
        return self


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
        problems.extend(Problem(file, None, message) for message in _messages(exc, MetaFile))
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
            problems.extend(Problem(file, label, message) for message in _messages(exc, RuleFile))
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
        problems.extend(Problem(file, None, message) for message in _messages(exc, PlaybookFile))
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


def _messages(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    return validation_messages(exc, lambda loc: _known_keys(model, tuple(loc)))


def _known_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    nested: dict[str, type[BaseModel]] = {
        "outcome": Outcome,
        "sources": Source,
        "next_steps": NextStepInfo,
        "ladder": Rung,
        "playbooks": Playbook,
    }
    named = [part for part in loc if isinstance(part, str) and part in nested]
    target = nested[named[-1]] if named else model
    return list(target.model_fields)
