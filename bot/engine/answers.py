"""The answers a decision is made from: the `Answers` model, what contradicts, and how answers are parsed.

The facts themselves (questions, bounds, choices, words) live in `bot.engine.facts`, `bot.engine.failures` and
`bot.engine.words`; the names importers use are re-exported here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.engine.errors import validation_messages
from bot.engine.facts import FACTS, MAX_COUNT, MAX_DAYS, MAX_SMALL_COUNT, Fact, FactType
from bot.engine.failures import FAILURE_OPTIONS, FAILURE_WORDS, Failure
from bot.engine.words import Choice, FailureWords, Words

__all__ = [
    "FACTS",
    "FAILURE_OPTIONS",
    "FAILURE_WORDS",
    "MAX_COUNT",
    "MAX_DAYS",
    "MAX_SMALL_COUNT",
    "Answers",
    "AnswersError",
    "Choice",
    "Fact",
    "FactType",
    "Failure",
    "FailureWords",
    "Words",
    "contradictions",
    "means_unanswered",
    "parse_answers",
]


Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
SmallCount = Annotated[int, Field(ge=0, le=MAX_SMALL_COUNT)]
Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]

_UNKNOWN_WORDS = frozenset({"", "unknown", "?", "n/a", "na", "none", "null", "-"})


def means_unanswered(text: str) -> bool:
    """Whether a typed answer is one of the words that mean "not answered" ("unknown", "n/a", "?", ...)."""
    return text.strip().lower() in _UNKNOWN_WORDS


class Answers(BaseModel):
    """Everything the form asks. `None` means "not answered"; no rule ever treats it as "no"."""

    # Enum values are stored as plain strings so that rule conditions compare them cheaply.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, use_enum_values=True)

    use_case: str | None = Field(None, max_length=300)
    n_stable_examples: Count | None = None
    primary_failure: Failure | None = None
    change_freq_days: Days | None = None
    tried_prompt_iteration: bool | None = None
    prompt_iterations: SmallCount | None = None
    prompt_authors: SmallCount | None = None
    tried_few_shot: bool | None = None
    tried_rag: bool | None = None
    tried_cot: bool | None = None
    tried_dspy: bool | None = None
    has_eval_set: bool | None = None
    needs_citations: bool | None = None
    style_describable: bool | None = None
    n_tools: SmallCount | None = None
    daily_calls: Count | None = None
    latency_sensitive: bool | None = None
    chasing_small_benchmark_gain: bool | None = None
    retrain_cadence_days: Days | None = None
    notes: str | None = Field(None, max_length=3000)

    @field_validator("*", mode="before")
    @classmethod
    def _unknown_words_mean_unanswered(cls, value: Any) -> Any:
        if isinstance(value, str) and means_unanswered(value):
            return None
        return value

    @field_validator("use_case", "notes", mode="before")
    @classmethod
    def _text_is_text(cls, value: Any) -> Any:
        # YAML reads `use_case: 2024 roadmap` as text but `use_case: 2024` as a number; both are meant as text.
        if isinstance(value, int | float | date) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("primary_failure", mode="before")
    @classmethod
    def _normalise_failure(cls, value: Any) -> Any:
        # "Missing knowledge", "missing_knowledge" and "tool shape" all mean the enum's kebab-case value.
        if isinstance(value, str):
            return "-".join(value.strip().lower().replace("_", " ").split())
        return value

    @field_validator(
        "n_stable_examples",
        "change_freq_days",
        "prompt_iterations",
        "prompt_authors",
        "n_tools",
        "daily_calls",
        "retrain_cadence_days",
        mode="before",
    )
    @classmethod
    def _counts_are_not_yes_no(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"a whole number is needed, not {'yes' if value else 'no'}")
        return value

    @model_validator(mode="after")
    def _no_contradictions(self) -> Answers:
        if found := contradictions(self.__dict__):
            raise ValueError(" ".join(dict.fromkeys(message for _, message in found)))
        return self

    def known(self) -> dict[str, Any]:
        """The answered facts only, JSON-ready."""
        return self.model_dump(mode="json", exclude_none=True)


def contradictions(facts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Answers that cannot all be true, as (the fact to fix, what is wrong in the form's words); empty when none.

    Each pair of answers is refused both ways round: the form, the command line and follow-ups all use this."""
    tried = facts.get("tried_prompt_iteration")
    iterations, authors = facts.get("prompt_iterations"), facts.get("prompt_authors")
    found: list[tuple[str, str]] = []
    if tried is False and iterations:
        found.append(
            (
                "prompt_iterations",
                f"You say nobody iterated on the prompt but count {iterations:,} iterations: fix one of them.",
            )
        )
    if tried is True and iterations == 0:
        found.append(
            ("prompt_iterations", "You say the prompt was iterated on but count 0 iterations: fix one of them.")
        )
    if tried is False and authors:
        found.append(
            ("prompt_authors", f"You say nobody iterated on the prompt but count {authors:,} authors: fix one of them.")
        )
    if tried is True and authors == 0:
        found.append(("prompt_authors", "You say the prompt was iterated on but count 0 authors: fix one of them."))
    if authors and iterations == 0:
        found.append(
            ("prompt_authors", "No iterations cannot have authors: leave this empty or fix the count of iterations.")
        )
    if iterations and authors == 0:
        found.append(
            ("prompt_authors", f"{iterations:,} iterations need at least one author: leave this empty or fix a count.")
        )
    if authors and iterations and authors > iterations:
        found.append(
            ("prompt_authors", "More authors than iterations? Each author wrote at least one; check both counts.")
        )
    if facts.get("primary_failure") == Failure.TOOL_SHAPE and facts.get("n_tools") == 0:
        found.append(("n_tools", "Tool calls are what is failing, but the model has 0 tools: fix one of them."))
    return found


class AnswersError(ValueError):
    """Answers that cannot be used; `problems` names each field and what is wrong with it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def parse_answers(data: object) -> Answers:
    """Validate one answers object (a mapping of fact names to values), or raise `AnswersError`."""
    if not isinstance(data, dict):
        raise AnswersError([f"expected an object of answers (fact: value pairs), got {_kind(data)}"])
    try:
        return Answers.model_validate(data)
    except ValidationError as exc:
        raise AnswersError(validation_messages(exc, lambda _loc: FACTS)) from None


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool | int | float):
        return "a number" if not isinstance(value, bool) else "yes/no"
    return type(value).__name__
