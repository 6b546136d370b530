"""Where `should-finetune evaluate` gets its answers: a file or standard input (JSON or YAML), a batch of JSON lines,
or the questions asked one by one on a terminal. Input it cannot use raises `InputError`, whose message says which
and why.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO

import yaml
from pydantic import ValidationError

from bot.engine.answers import FACTS, Answers, AnswersError, Fact, parse_answers
from bot.engine.documents import DuplicateKeyError, load_json, load_yaml

STDIN = "-"


class InputError(Exception):
    """Input the command cannot use; the message says which and why."""


def batch_lines(name: str) -> Iterator[tuple[int, str | bytes]]:
    """Non-blank lines with their numbers, undecoded where the source is bytes: each line is decoded on its own
    (by `load_json`), so one bad line spoils only itself."""
    stream: IO[Any]
    if name == STDIN:
        stdin = read_stdin()
        stream = getattr(stdin, "buffer", stdin)
    else:
        try:
            stream = open(name, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InputError(f"cannot read {name}: {exc.strerror}") from None
    try:
        for number, raw in enumerate(stream, start=1):
            line = raw.strip()
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf" if isinstance(line, bytes) else "\ufeff")
            if line:
                yield number, line
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror}") from None
    finally:
        if name != STDIN:
            stream.close()


def read_stdin() -> TextIO:
    """Standard input, or an `InputError` when it is closed."""
    if sys.stdin is None:
        raise InputError("standard input is closed: give an answers FILE")
    return sys.stdin


def input_label(name: str) -> str:
    """How messages name an input: its path, or "standard input"."""
    return "standard input" if name == STDIN else name


def load_document(name: str) -> Any:
    """An answers document from a path or `-`: a `.json` file is JSON; anything else JSON or YAML."""
    label = input_label(name)
    try:
        text = read_stdin().read() if name == STDIN else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{label} is not UTF-8 text") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark, from a file or a pipe
    if not text.strip():
        raise InputError(f"{label} is empty")
    try:
        return load_json(text)
    except DuplicateKeyError as exc:
        raise InputError(f"{label}: {exc}") from None
    except json.JSONDecodeError as json_error:
        if name.endswith(".json"):
            raise InputError(
                f"{label} is not valid JSON ({json_error.msg} at line {json_error.lineno}, column {json_error.colno})"
            ) from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}: {getattr(exc, 'problem', '')})" if mark is not None else ""
        raise InputError(f"{label} is not valid YAML or JSON{where}") from None


def parse_answers_or_fail(data: Any, name: str) -> Answers:
    """`data` as answers, or an `InputError` naming the input and every problem."""
    try:
        return parse_answers(data)
    except AnswersError as exc:
        raise InputError(f"{input_label(name)}: " + "; ".join(exc.problems)) from None


def ask_answers(stdin: TextIO, out: TextIO) -> Answers:
    """Ask each question in turn; a blank answer leaves the fact unanswered. Re-asks until the answer is valid."""
    out.write("Answer what you know; press Enter to leave a question unanswered.\n\n")
    given: dict[str, Any] = {}
    for fact in FACTS.values():
        while True:
            out.write(f"{fact.question} {_hint(fact)}: ")
            out.flush()
            line = stdin.readline()
            if not line:
                raise InputError("input ended before all questions were answered")
            raw: Any = line.strip()
            if fact.type == "enum" and raw.isdecimal() and raw.isascii() and 1 <= int(raw) <= len(fact.choices):
                raw = fact.choices[int(raw) - 1]
            try:
                Answers.model_validate({**given, fact.name: raw})
            except ValidationError as exc:
                out.write(f"  {_reask(exc)}\n")
                continue
            given[fact.name] = raw
            break
    out.write("\n")
    return Answers.model_validate(given)


_PLEASE = {
    "int_parsing": "Please answer with a whole number, or press Enter to skip.",
    "bool_parsing": "Please answer yes or no, or press Enter to skip.",
    "enum": "Please answer with one of the numbers or names listed, or press Enter to skip.",
}


def _reask(exc: ValidationError) -> str:
    """Why an answer was refused, in the words of the prompt rather than of the validator."""
    error = exc.errors(include_url=False)[0]
    return _PLEASE.get(error["type"], error["msg"].removeprefix("Value error, "))


def _hint(fact: Fact) -> str:
    if fact.type == "bool":
        return "[yes/no]"
    if fact.type == "int":
        return "[a whole number of days]" if fact.name.endswith("_days") else "[a whole number]"
    if fact.type == "enum":
        return "[" + ", ".join(f"{i}={choice}" for i, choice in enumerate(fact.choices, start=1)) + "]"
    return "[text]"
