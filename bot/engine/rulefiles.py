"""The rule files' formats: what `ruleset.yaml`, `playbooks.yaml` and each rule file may say, as pydantic models
that check every field when a rule set is loaded (`bot.engine.ruleset`), and the next-step and verdict ids they use.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.engine.answers import FACTS, Failure
from bot.engine.errors import suggest, validation_messages

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


def messages(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """A model's validation errors as one-line messages, suggesting the nearest field for a misspelt key."""
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
