"""The decision form: what the modal carries, and its submitted state turned into `Answers` or inline errors.

The parser trusts nothing in `view.state.values`: a value of the wrong shape counts as empty, and every problem is
reported on the input block it belongs to, in words the person filling the form understands.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from bot.engine.answers import (
    FACTS,
    Answers,
    AnswersError,
    contradictions,
    means_unanswered,
    parse_answers,
)
from bot.slack.ids import BlockId, PickerId
from bot.store.base import SLACK_ID

SlackId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,40}$")]

USE_CASE_MAX = 300
NOTES_MAX = 3_000

# The values of the form's options, from the facts it renders them from (templates/slack/form.json.j2).
FAILURE_CHOICES = tuple(str(option.value) for option in FACTS["primary_failure"].options)
FREQUENCY_CHOICES = tuple(str(option.value) for option in FACTS["change_freq_days"].options)
# The boxes under "What have you tried already?": one per technique, by its value, and "Nothing yet".
TRIED_CHOICES = {str(fact.tried.value): fact.name for fact in FACTS.values() if fact.tried is not None}
NOTHING_TRIED = "nothing"
YES_NO_CHOICES = {"yes": True, "no": False, "unknown": None}

_NUMBER_BLOCKS = (
    BlockId.N_STABLE_EXAMPLES,
    BlockId.PROMPT_ITERATIONS,
    BlockId.PROMPT_AUTHORS,
    BlockId.N_TOOLS,
    BlockId.DAILY_CALLS,
    BlockId.RETRAIN_CADENCE_DAYS,
)
_YES_NO_BLOCKS = (
    BlockId.HAS_EVAL_SET,
    BlockId.NEEDS_CITATIONS,
    BlockId.STYLE_DESCRIBABLE,
    BlockId.CHASING_SMALL_BENCHMARK_GAIN,
    BlockId.LATENCY_SENSITIVE,
)
_REQUIRED = {
    BlockId.USE_CASE: "Say in a few words what the model is for.",
    BlockId.PRIMARY_FAILURE: "Pick what is failing today.",
    BlockId.N_STABLE_EXAMPLES: "Enter how many examples you have; 0 is a fine answer.",
    BlockId.CHANGE_FREQ_DAYS: "Pick how often the requirements change.",
    BlockId.TRIED: "Tick what you have tried, or Nothing yet.",
}
_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


SOURCE_LINK = re.compile(r"^https://[a-z0-9][a-z0-9-]{0,62}\.slack\.com/archives/[A-Z0-9]{1,64}/p[0-9]{1,32}$")
"""A link to a message, as Slack's permalinks are made: the workspace's domain, the channel, `p` and the ts."""


def message_link(domain: object, channel: str, ts: str) -> str | None:
    """The link to message `ts` in `channel` of the workspace at `domain` (a shortcut payload's `team.domain`), or
    None when the domain is not one."""
    if not isinstance(domain, str):
        return None
    link = f"https://{domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    return link if SOURCE_LINK.fullmatch(link) else None


class FormMetadata(BaseModel):
    """What the modal carries in `private_metadata`: where the verdict goes, and for whom."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    team: SlackId
    # None when the form was opened where there is no channel (a global shortcut): it asks for one.
    channel: SlackId | None = None
    user: SlackId
    # Set when the form edits the answers of an existing decision (in `channel`) rather than asking anew.
    decision: Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{26}$")] | None = None
    # The message a message shortcut asked about (its link), for the verdict to point back to.
    source: Annotated[str, StringConstraints(pattern=SOURCE_LINK.pattern)] | None = None

    @property
    def verdict_channel(self) -> str:
        """The channel the verdict goes to; ValueError while the form still asks for one."""
        if self.channel is None:
            raise ValueError("the form's channel is not chosen yet")
        return self.channel

    def dump(self) -> str:
        """The compact JSON Slack stores with the view."""
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def of(cls, **fields: object) -> FormMetadata | None:
        """Metadata from the ids a request carries, or None when any is missing or not a Slack id."""
        try:
            return cls.model_validate(fields)
        except ValidationError:
            return None

    @classmethod
    def load(cls, raw: object) -> FormMetadata | None:
        """The metadata of a submitted view, or None when it is missing or was not written by this bot."""
        if not isinstance(raw, str):
            return None
        try:
            return cls.model_validate_json(raw)
        except ValidationError:
            return None


@dataclass
class FormResult:
    """A submission: `answers` when it is valid, else `errors` by input block id (never both)."""

    answers: Answers | None = None
    errors: dict[str, str] = field(default_factory=dict)


def form_initial(answers: Answers | None = None, *, use_case: str | None = None) -> dict[str, Any]:
    """The form's prefilled values: a use case from the command text, or earlier answers to edit."""
    initial: dict[str, Any] = {}
    if answers is not None:
        known = answers.known()
        for name, value in known.items():
            if isinstance(value, bool):
                initial[name] = "yes" if value else "no"
            elif name == "change_freq_days":
                if str(value) in FREQUENCY_CHOICES:  # a period the select does not offer stays unselected
                    initial[name] = str(value)
            else:
                initial[name] = str(value) if FACTS[name].type == "int" else value
        initial["tried"] = [choice for choice, fact in TRIED_CHOICES.items() if known.get(fact) is True]
        if initial["tried"] == [] and all(known.get(fact) is False for fact in TRIED_CHOICES.values()):
            initial["tried"] = [NOTHING_TRIED]
    if use_case:
        initial["use_case"] = " ".join(use_case.split())[:USE_CASE_MAX]
    return initial


def _action(values: Mapping[str, Any], block: str) -> Mapping[str, Any]:
    action = values.get(block)
    action = action.get(block) if isinstance(action, Mapping) else None
    return action if isinstance(action, Mapping) else {}


def _value(values: Mapping[str, Any], block: str) -> str | None:
    value = _action(values, block).get("value")
    if not isinstance(value, str):
        return None
    value = _CONTROL.sub("", value).strip()  # control characters only garble messages; newlines and tabs stay
    return value or None


def _selected(values: Mapping[str, Any], block: str) -> str | None:
    option = _action(values, block).get("selected_option")
    value = option.get("value") if isinstance(option, Mapping) else None
    return value if isinstance(value, str) else None


def _ticked(values: Mapping[str, Any], block: str) -> list[str] | None:
    options = _action(values, block).get("selected_options")
    if not isinstance(options, list):
        return None
    return [o["value"] for o in options if isinstance(o, Mapping) and isinstance(o.get("value"), str)]


def _number(text: str, block: str) -> tuple[int | None, str | None]:
    fact = FACTS[block]
    assert fact.minimum is not None
    assert fact.maximum is not None
    compact = text.replace(",", "").replace("_", "").replace(" ", "")
    if not _WHOLE_NUMBER.fullmatch(compact):
        return None, f"Enter a whole number, like 120 (not “{text[:20]}”)."
    digits = compact.lstrip("+-").lstrip("0")
    if len(digits) > len(str(fact.maximum)):  # also keeps a forged 5,000-digit number away from int()
        return None, "Enter 0 or more." if compact.startswith(
            "-"
        ) else f"That is more than {fact.maximum:,}: is it a typo?"
    number = int(compact)
    if number < 0:
        return None, "Enter 0 or more."
    if number < fact.minimum:
        return None, f"Enter at least {fact.minimum}."
    if number > fact.maximum:
        return None, f"That is more than {fact.maximum:,}: is it a typo?"
    return number, None


CHOOSE_CHANNEL = "Choose the channel the verdict goes to."


def picked_channel(values: object) -> str | None:
    """The channel chosen in the form's channel picker (`PickerId.CHANNEL`), or None."""
    state: Mapping[str, Any] = values if isinstance(values, Mapping) else {}
    block = state.get(PickerId.CHANNEL.value)
    element = block.get(PickerId.CHANNEL.value) if isinstance(block, Mapping) else None
    chosen = element.get("selected_conversation") if isinstance(element, Mapping) else None
    return chosen if isinstance(chosen, str) and SLACK_ID.fullmatch(chosen) else None


def parse_form(values: object) -> FormResult:
    """`Answers` from a submitted form's `view.state.values`, or errors keyed by the input block at fault."""
    state: Mapping[str, Any] = values if isinstance(values, Mapping) else {}
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}
    _read_text(state, data, errors)
    _read_choices(state, data, errors)
    _read_tried(state, data, errors)
    for block in _NUMBER_BLOCKS:
        text = _value(state, block)
        if text is not None:
            number, problem = _number(text, block)
            if problem:
                errors[block] = problem
            else:
                data[block] = number
    for block, message in _REQUIRED.items():
        answered = block in data or (block == BlockId.TRIED and _ticked(state, block))
        if block not in errors and not answered:
            errors[block] = message
    for field_name, message in _contradictions(data).items():
        errors.setdefault(field_name, message)
    if errors:
        return FormResult(errors={str(block): message for block, message in errors.items()})
    try:
        return FormResult(answers=parse_answers({str(name): value for name, value in data.items()}))
    except AnswersError as exc:  # every rule of the model is checked above; this is a last line of defence
        return FormResult(errors={BlockId.USE_CASE.value: "; ".join(exc.problems)[:300]})


def _read_text(state: Mapping[str, Any], data: dict[str, Any], errors: dict[str, str]) -> None:
    use_case = _value(state, BlockId.USE_CASE)
    if use_case is not None and not means_unanswered(use_case):  # "n/a" is no use case: the required error follows
        use_case = " ".join(use_case.split())  # newlines and tabs would break the one-line summary
        if len(use_case) > USE_CASE_MAX:
            errors[BlockId.USE_CASE] = f"Keep it under {USE_CASE_MAX} characters (this is {len(use_case)})."
        data[BlockId.USE_CASE] = use_case
    notes = _value(state, BlockId.NOTES)
    if notes is not None:
        if len(notes) > NOTES_MAX:
            errors[BlockId.NOTES] = f"Keep it under {NOTES_MAX:,} characters (this is {len(notes):,})."
        data[BlockId.NOTES] = notes


def _read_choices(state: Mapping[str, Any], data: dict[str, Any], errors: dict[str, str]) -> None:
    failure = _selected(state, BlockId.PRIMARY_FAILURE)
    if failure is not None:
        if failure in FAILURE_CHOICES:
            data[BlockId.PRIMARY_FAILURE] = failure
        else:
            errors[BlockId.PRIMARY_FAILURE] = "Pick one of the listed options."
    frequency = _selected(state, BlockId.CHANGE_FREQ_DAYS)
    if frequency is not None:
        if frequency in FREQUENCY_CHOICES:
            data[BlockId.CHANGE_FREQ_DAYS] = int(frequency)
        else:
            errors[BlockId.CHANGE_FREQ_DAYS] = "Pick one of the listed options."
    for block in _YES_NO_BLOCKS:
        choice = _selected(state, block)
        if choice is not None:
            if choice in YES_NO_CHOICES:
                data[block] = YES_NO_CHOICES[choice]
            else:
                errors[block] = "Pick Yes, No or Not sure."


def _read_tried(state: Mapping[str, Any], data: dict[str, Any], errors: dict[str, str]) -> None:
    tried = _ticked(state, BlockId.TRIED)
    if not tried:
        return
    if any(choice not in TRIED_CHOICES and choice != NOTHING_TRIED for choice in tried):
        errors[BlockId.TRIED] = "Tick only the listed options."
    elif NOTHING_TRIED in tried and len(tried) > 1:
        errors[BlockId.TRIED] = "“Nothing yet” cannot go with other choices: untick one."
    else:
        data.update({fact: choice in tried for choice, fact in TRIED_CHOICES.items()})


def _contradictions(data: Mapping[str, Any]) -> dict[str, str]:
    """The first contradiction found on each input, keyed by its block id (each fact's block has the fact's name)."""
    errors: dict[str, str] = {}
    for fact, message in contradictions({str(name): value for name, value in data.items()}):
        errors.setdefault(fact, message)
    return errors
