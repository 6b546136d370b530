"""The text typed after `/should-finetune`, turned into the decision form's prefilled answers and a note saying what
was taken from it.

The facts are read by `bot.followups.parser.read_facts`, the reader behind what-ifs in a verdict's thread, so the
command and the thread never read the same words two ways. The use case is the part that names no fact: the text
before the first colon when that part names none ("support ticket triage: 120 examples, ..."), otherwise the clauses
the reader could not place, as typed. A text that names no fact at all is the use case as it was typed, exactly as
before, and so is a text every clause of which names one (a use case is required, and the words typed are the best
description there is; nothing else in the form is guessed from them).

Nothing is guessed. A fact named with a value the reader cannot read, a period the form offers no choice for, and
answers that contradict each other (the engine's `contradictions`) are not prefilled; the note names each of them,
and the form asks for them as it always does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.engine.answers import FACTS, Answers, AnswersError, contradictions, parse_answers
from bot.followups.parser import Reading, read_facts
from bot.slack.forms import TRIED_CHOICES, form_initial

# A colon outside Slack markup (<https://...>, <@U123>), not a URL's "://" and not between digits (10:30, 1:2).
_COLON_OR_MARKUP = re.compile(r"<[^<>]*>|:")
_SHORTENED = "…"  # how the reader marks a clause it quotes shortened
# The reader quotes Slack markup (a mention, a link) as one of these words; in the typed text it is the markup itself.
_PLACEHOLDER = re.compile(r"\s*<(?:mention|link)>\s*")
_MARKUP = r"\s*<[^<>]*>\s*"
USE_CASE_JOIN = ", "
TRIED_FACTS = frozenset(TRIED_CHOICES.values())
NOTE_ITEMS = 5  # at most this many unread facts, contradictions and left-out clauses are named, each


@dataclass(frozen=True, slots=True)
class CommandText:
    """Command text split: the use case, the facts it names, and the clauses naming no fact that are not the use case
    (as typed, shortened like the reader's quotes)."""

    use_case: str
    reading: Reading
    left_out: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Prefill:
    """What the form opens with: `initial` for the template (as `form_initial` gives it), and `note`, what the form's
    context line says about the command text (None when it named no fact)."""

    initial: dict[str, Any]
    note: dict[str, Any] | None = None
    answers: Answers = field(default_factory=Answers)


def _is_answer(fact: str) -> bool:
    """Whether the form takes `fact` from command text: every fact but the free-text ones. The reader reports "use
    case" and "notes" as unreadable when they are named (it never takes free text as a value): those are labels."""
    return fact in FACTS and FACTS[fact].type != "text"


def names_fact(reading: Reading) -> bool:
    """Whether `reading` found any answer the form takes, readable or not."""
    return any(_is_answer(name) for name in reading.changes) or any(_is_answer(u.fact) for u in reading.unreadable)


def separator_colons(text: str) -> list[int]:
    """Where `text` has a colon that separates its parts."""
    found = []
    for match in _COLON_OR_MARKUP.finditer(text):
        at = match.start()
        if match[0] != ":" or text.startswith("//", at + 1):
            continue
        if text[at - 1 : at].isdigit() and text[at + 1 : at + 2].isdigit():
            continue
        found.append(at)
    return found


def _clauses_apart(text: str) -> str:
    """`text` with each separating colon made a clause break the reader knows (the same length, so it stays within
    the reader's cap exactly when `text` is)."""
    chars = list(text)
    for at in separator_colons(text):
        chars[at] = ";"
    return "".join(chars)


def _find(said: str, text: str, start: int) -> re.Match[str] | None:
    core = said.removesuffix(_SHORTENED)
    if not core:
        return None
    pattern = _MARKUP.join(re.escape(part) for part in _PLACEHOLDER.split(core))
    return re.compile(pattern, re.IGNORECASE).search(text, start)


def as_typed(clauses: tuple[str, ...], text: str) -> list[str]:
    """Clauses as the reader quotes them (lower case, spaces collapsed, markup as a placeholder word, maybe shortened)
    in the letters they were typed with where they can be found in `text`, in order; clauses that only punctuation
    separates in `text` ("https", "//example", "com") come back as one, as typed."""
    collapsed = " ".join(text.split())
    found: list[str] = []
    span: tuple[int, int] | None = None  # the typed text of the clauses joined so far
    position = 0
    for said in clauses:
        match = _find(said, collapsed, position)
        if match is None or said.endswith(_SHORTENED):
            if span:
                found.append(collapsed[span[0] : span[1]])
            span = None
            found.append(said if match is None else match[0] + _SHORTENED)
            position = match.end() if match else position
            continue
        if span and not any(char.isalnum() for char in collapsed[span[1] : match.start()]):
            span = (span[0], match.end())
        else:
            if span:
                found.append(collapsed[span[0] : span[1]])
            span = (match.start(), match.end())
        position = match.end()
    if span:
        found.append(collapsed[span[0] : span[1]])
    return found


def split_command(text: str) -> CommandText:
    """The use case and the facts of `/should-finetune` text (already known not to be a sub-command)."""
    whole = read_facts(_clauses_apart(text))
    if not names_fact(whole):
        return CommandText(use_case=text, reading=Reading({}, (), ()))
    colons = separator_colons(text)
    if colons:
        head, rest = text[: colons[0]], text[colons[0] + 1 :]
        said = read_facts(head)
        if not said.changes and not said.unreadable and said.unrecognised:  # the head names no fact, and says something
            reading = read_facts(_clauses_apart(rest))
            if names_fact(reading):
                left_out = tuple(as_typed(reading.unrecognised, rest))
                return CommandText(use_case=" ".join(head.split()), reading=reading, left_out=left_out)
    # Nothing left that names no fact: the text stays the use case, as it always was. A use case the reader takes
    # for an answer ("JSON payload extraction" for an output-format problem) keeps its words, and the answer it
    # seemed to give is prefilled and said, for the person to undo.
    use_case = USE_CASE_JOIN.join(as_typed(whole.unrecognised, text)) or text
    return CommandText(use_case=use_case, reading=whole)


def _involved(values: dict[str, Any], message: str) -> set[str]:
    """The facts of `values` a contradiction (the engine's `message`) is between: those without which the engine no
    longer finds it."""
    return {
        name
        for name in values
        if message not in {m for _, m in contradictions({k: v for k, v in values.items() if k != name})}
    }


def _without_contradictions(changes: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`changes` without the facts of each contradiction (both sides: which one is wrong is not known), and the
    engine's words for each contradiction."""
    values = dict(changes)
    problems: list[str] = []
    while found := contradictions(values):
        fact, message = found[0]
        for name in _involved(values, message) or {fact}:
            values.pop(name, None)
        problems.append(message)
    return values, problems


def _as_submitted(values: dict[str, Any]) -> dict[str, Any]:
    """`values` as the form prefilled with them submits them: the five `tried_*` facts are one checkbox group, so
    once a box is ticked (or "Nothing yet") an unticked one means "not tried", and with none ticked none is answered."""
    submitted = {name: value for name, value in values.items() if name not in TRIED_FACTS}
    tried = {fact: values.get(fact) for fact in TRIED_FACTS}
    if any(value is True for value in tried.values()) or all(value is False for value in tried.values()):
        submitted.update({fact: value is True for fact, value in tried.items()})
    return submitted


def _fit_the_checkboxes(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`values` without the facts that contradict what the tried checkboxes say once prefilled ("3 prompt authors"
    beside "we tried DSPy" alone: the form reads the unticked prompt iteration as not tried), and the engine's words
    for each. Only facts that were read are left out; a box is never ticked or unticked for them."""
    kept = dict(values)
    problems: list[str] = []
    while found := contradictions(submitted := _as_submitted(kept)):
        fact, message = found[0]
        read = (_involved(submitted, message) & (set(kept) - TRIED_FACTS)) or ({fact} & set(kept))
        if not read:  # cannot happen: every contradiction involves a count that was read; stop rather than loop
            break
        for name in read:
            kept.pop(name, None)
        problems.append(message)
    return kept, problems


def _valid(values: dict[str, Any]) -> Answers:
    """`values` as Answers; any value the engine refuses (the reader keeps to its bounds, so none should be) is left
    out rather than guessed at."""
    try:
        return parse_answers(values)
    except AnswersError:
        kept = {}
        for name, value in values.items():
            try:
                parse_answers({name: value})
            except AnswersError:
                continue
            kept[name] = value
        try:
            return parse_answers(kept)
        except AnswersError:
            return Answers()


def command_prefill(text: str) -> Prefill:
    """The form's prefilled values for `/should-finetune text`, and the note on what was read from it."""
    split = split_command(text)
    if not names_fact(split.reading):
        return Prefill(initial=form_initial(use_case=text))
    changes = {name: value for name, value in split.reading.changes.items() if _is_answer(name)}
    consistent, problems = _without_contradictions(changes)
    fitting, unticked = _fit_the_checkboxes(_valid(consistent).known())
    answers = _valid(fitting)
    initial = form_initial(answers, use_case=split.use_case)
    known = answers.known()
    # Only a period the form's select does not offer can be read but not shown; the others always are.
    shown = {name: value for name, value in known.items() if name in initial or name.startswith("tried_")}
    note = {
        "taken": [{"fact": name, "value": value} for name, value in shown.items()],
        "not_offered": [{"fact": name, "value": value} for name, value in known.items() if name not in shown],
        "unreadable": [
            {"fact": u.fact, "said": as_typed((u.said,), text)[0]}
            for u in split.reading.unreadable
            if _is_answer(u.fact)
        ],
        "conflicts": problems,
        "unticked": unticked,
        "left_out": list(split.left_out),
        "limit": NOTE_ITEMS,
    }
    return Prefill(initial=initial, note=note, answers=answers)
