"""The Jinja environment every message is rendered with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jinja2


def build_environment(directories: Sequence[Path]) -> jinja2.Environment:
    """Templates from `directories`, earlier ones first; an undefined name is an error, not an empty string."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in directories]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain-text templates; Slack templates escape mrkdwn explicitly
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Read once: a template is checked at start-up and a change takes a restart, like the rules. Rechecking
        # the file's time on every message cost a system call per render.
        auto_reload=False,
    )
    env.filters["yesno"] = _show
    return env


def _show(value: object) -> str:
    if value is None:
        return "unanswered"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
