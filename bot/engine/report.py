"""The verdict as JSON-ready data: the stable output of `should-finetune evaluate --format json`, and what every
message about a verdict is rendered from.

Two audiences read it. People read `summary`, `because`, `playbook`, `follows`, `what_would_change[].if` and
`questions` (plain words, no ids); engineers read the ids, the rules that fired, the assumptions and the trace."""

from __future__ import annotations

from typing import Any

from bot.engine.advice import open_questions, what_follows
from bot.engine.answers import FACTS
from bot.engine.changes import what_would_change
from bot.engine.ruleset import Rule
from bot.engine.verdict import Verdict


def verdict_report(verdict: Verdict, *, trace: bool = True) -> dict[str, Any]:
    """Everything about `verdict`: outcome, reasons with sources, warnings, assumptions, what would change it."""
    ruleset, decider = verdict.ruleset, verdict.decided_by
    info = ruleset.next_steps.get(verdict.next_step)
    title = info.title if info else verdict.next_step.value
    because = decider.because or decider.title.lower()
    failure = verdict.answers.primary_failure
    playbook = ruleset.playbook(verdict.next_step, failure, decider.id)
    follows = what_follows(verdict)
    changes = what_would_change(verdict)
    if follows and follows[-1].then.verdict is not verdict.verdict:
        changes = []  # the plan already says how this leads to the other verdict
    questions = open_questions(verdict)
    data: dict[str, Any] = {
        "verdict": verdict.verdict.value,
        "next_step": verdict.next_step.value,
        "next_step_title": title,
        "summary": f"{title}: {because}.",
        "because": because,
        "decided_by": decider.id,
        "fired": [rule.id for rule in verdict.fired],
        "reasons": [_rule_dict(rule) for rule in verdict.reasons],
        "warnings": [{**_rule_dict(rule), "message": rule.message} for rule in verdict.warnings],
        "playbook": None
        if playbook is None
        else {
            "steps": list(playbook.steps),
            "sources": [source.model_dump(mode="json") for source in playbook.sources],
        },
        "follows": [
            {
                "after": follow.after.value,
                "if": follow.condition,
                "verdict": follow.then.verdict.value,
                "next_step": follow.then.next_step.value,
                "next_step_title": _title(verdict, follow.then.next_step),
                "rule": follow.then.decided_by.id,
            }
            for follow in follows
        ],
        "what_would_change": [
            {**change.to_dict(), "next_step_title": _title(verdict, change.next_step)} for change in changes
        ],
        "questions": [
            {
                "fact": question.fact,
                "question": FACTS[question.fact].question,
                "flips_verdict": question.flips_verdict,
                "answers": [
                    {
                        "value": outcome.value,
                        "label": outcome.label,
                        "verdict": outcome.verdict.verdict.value,
                        "next_step": outcome.verdict.next_step.value,
                        "next_step_title": _title(verdict, outcome.verdict.next_step),
                    }
                    for outcome in question.outcomes
                ],
            }
            for question in questions
        ],
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
        "answers": verdict.answers.known(),
        "ruleset": {"version": ruleset.version, "sha256": ruleset.sha256},
    }
    if trace:
        data["trace"] = verdict.trace()
    return data


def _title(verdict: Verdict, step: Any) -> str:
    info = verdict.ruleset.next_steps.get(step)
    return info.title if info else str(step)


def _rule_dict(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "title": rule.title,
        "because": rule.because,
        "rationale": rule.rationale,
        "sources": [source.model_dump(mode="json", exclude_none=True) for source in rule.sources],
    }
