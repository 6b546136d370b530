"""Where the default rule set and templates are: inside the installed package, or the source tree."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _default(name: str) -> Path:
    # A wheel carries them as bot/_defaults/<name> (see pyproject.toml); an editable install or a checkout
    # reads the top-level directories their owners edit.
    installed = _PACKAGE / "_defaults" / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


def default_rules_dir() -> Path:
    """The rule set that ships with the bot."""
    return _default("rules")


def default_templates_dir() -> Path:
    """The templates that ship with the bot."""
    return _default("templates")
