"""The verdict as JSON-ready data: the stable output of `should-finetune evaluate --format json`, and what every
message about a verdict is rendered from."""

from __future__ import annotations

from typing import Any

from bot.engine.answers import FACTS
from bot.engine.changes import what_would_change
from bot.engine.ruleset import Rule
from bot.engine.verdict import Verdict


def verdict_report(verdict: Verdict, *, trace: bool = True) -> dict[str, Any]:
    """Everything about `verdict`: outcome, reasons with sources, warnings, assumptions, what would change it."""
    rung = verdict.next_rung()
    info = verdict.ruleset.next_steps.get(verdict.next_step)
    data: dict[str, Any] = {
        "verdict": verdict.verdict.value,
        "next_step": verdict.next_step.value,
        "next_step_title": info.title if info else verdict.next_step.value,
        "decided_by": verdict.decided_by.id,
        "fired": [rule.id for rule in verdict.fired],
        "reasons": [_rule_dict(rule) for rule in verdict.reasons],
        "warnings": [{**_rule_dict(rule), "message": rule.message} for rule in verdict.warnings],
        "assumptions": [
            {
                "rule": a.rule.id,
                "title": a.rule.title,
                "unanswered": list(a.unanswered),
                "if_it_applied": a.rule.next_step.value if a.rule.next_step else None,
            }
            for a in verdict.assumptions
        ],
        "unanswered": [{"fact": fact, "question": FACTS[fact].question} for fact in verdict.unanswered],
        "what_would_change": [change.to_dict() for change in what_would_change(verdict)],
        "next_rung": None
        if rung is None
        else {"rung": rung.rung, "title": rung.title, "steps": [step.value for step in rung.steps]},
        "answers": verdict.answers.known(),
        "ruleset": {"version": verdict.ruleset.version, "sha256": verdict.ruleset.sha256},
    }
    if trace:
        data["trace"] = verdict.trace()
    return data


def _rule_dict(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "title": rule.title,
        "rationale": rule.rationale,
        "sources": [source.model_dump(mode="json", exclude_none=True) for source in rule.sources],
    }
