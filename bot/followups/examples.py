"""The phrasings the bot shows people as examples of what it reads, in one place.

Templates get them as `examples` (see `bot.slack.render`): the thread's `help` shows the what-ifs and the command
text, the form's hint and the command's usage show the command text. Each states what it must read as, and
tests/test_command_prefill.py checks that the one reader (`bot.followups.parser`) reads it so: an example that
stopped working would teach people something that fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class Phrasing:
    """An example people are shown, and what it reads as: the facts it changes and, for command text, the use case."""

    text: str
    changes: Mapping[str, Any]
    use_case: str | None = None


def _phrasing(text: str, use_case: str | None = None, **changes: Any) -> Phrasing:
    return Phrasing(text, MappingProxyType(changes), use_case)


@dataclass(frozen=True, slots=True)
class Examples:
    """What a what-if in a verdict's thread, and the text after the slash command, can say."""

    what_ifs: tuple[Phrasing, ...]
    command: Phrasing


EXAMPLES = Examples(
    what_ifs=(
        _phrasing("what if we had 600 examples and tried DSPy", n_stable_examples=600, tried_dspy=True),
        _phrasing(
            "what if requirements change weekly and there is no eval set", change_freq_days=7, has_eval_set=False
        ),
    ),
    command=_phrasing(
        "support ticket triage: 120 examples, format problems, requirements change monthly,"
        " we tried prompt iteration and DSPy",
        use_case="support ticket triage",
        n_stable_examples=120,
        primary_failure="format",
        change_freq_days=30,
        tried_prompt_iteration=True,
        tried_dspy=True,
    ),
)
