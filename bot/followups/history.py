"""A decision's history: its versions as people read them, and whether the rules loaded now decided it."""

from __future__ import annotations

from typing import Any

from bot.engine.ruleset import RuleSet
from bot.store import Decision


def history_rows(decision: Decision, ruleset: RuleSet) -> list[dict[str, Any]]:
    """Every version of `decision`, oldest first, as the `history` reply lists them."""
    return [
        {
            "number": version.number,
            "at": version.at.strftime("%Y-%m-%d %H:%M UTC"),
            "ts": int(version.at.timestamp()),
            "by": version.by,
            "trigger": version.trigger.value,
            "verdict": version.verdict,
            "next_step": version.next_step,
            "next_step_title": _step_title(ruleset, version.next_step),
            "ruleset_version": version.ruleset_version,
            "current_rules": version.ruleset_sha256 == ruleset.sha256,
        }
        for version in decision.versions
    ]


def decided_under_older_rules(decision: Decision, ruleset: RuleSet) -> bool:
    """Whether the decision's latest version was decided under another rule set than the one loaded now."""
    return decision.latest.ruleset_sha256 != ruleset.sha256


def _step_title(ruleset: RuleSet, step: str) -> str:
    info = next((info for key, info in ruleset.next_steps.items() if key.value == step), None)
    return info.title if info is not None else step
