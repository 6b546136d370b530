"""Turning validation failures into one-line messages people can act on."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence

from pydantic import ValidationError


def suggest(word: str, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def validation_messages(exc: ValidationError, known_keys: Callable[[Sequence[int | str]], Iterable[str]]) -> list[str]:
    """pydantic's errors as `field: problem` lines, suggesting the nearest name for a misspelt key or value.

    `known_keys(loc)` gives the valid keys of the object at `loc`, for "did you mean".
    """
    messages = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"]) or "value"
        message = error["msg"]
        given = error.get("input")
        if error["type"] == "extra_forbidden":
            key = str(error["loc"][-1])
            message = f"unknown field{suggest(key, known_keys(error['loc'][:-1]))}"
        elif error["type"] == "enum" and isinstance(given, str):
            expected = str((error.get("ctx") or {}).get("expected", ""))
            choices = [part.strip(" '") for part in expected.replace(" or ", ",").split(",")]
            message = f"{message}{suggest(given, choices)}"
        elif error["type"] not in ("missing", "value_error", "model_type", "dict_type"):
            message = f"{message} (got {_short(given)})"
        elif error["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        messages.append(message if loc == "value" and error["type"] == "value_error" else f"{loc}: {message}")
    return messages


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
