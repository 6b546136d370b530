"""Answering one follow-up in a verdict's thread: a pure function from the decision, the thread's conversation and
the parsed question to the reply's content, the conversation after it, and (for `apply`) the version to record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.decisions import new_version
from bot.engine.answers import FACTS, Answers, AnswersError, parse_answers
from bot.engine.report import verdict_report
from bot.engine.ruleset import RuleSet
from bot.engine.verdict import Verdict, evaluate
from bot.followups.history import decided_under_older_rules, history_rows
from bot.followups.parser import FollowUp, Intent, accepted_forms
from bot.store import Conversation, Decision, NewVersion, Trigger, Turn
from bot.store.threads import TURN_TEXT_CHARS

# How many reasons, rules and sources a reply shows: a thread reply is read on a phone.
MAX_REASONS = 3
# Facts a follow-up may change: everything but the free text.
CHANGEABLE = tuple(name for name, fact in FACTS.items() if fact.type != "text")


# What each kind of question gives: the reply's kind and context, the hypothetical it leaves, the verdict to record.
_Reply = tuple[str, dict[str, Any], dict[str, Any] | None, Verdict | None]


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply to one follow-up: template `kind` with `context`, the conversation after it, and the version to
    record as the decision's next (only for `apply`)."""

    kind: str
    context: dict[str, Any]
    conversation: Conversation
    verdict: Verdict | None = None  # for `apply`: the verdict the version records
    version: NewVersion | None = None


def answer_followup(
    *,
    ruleset: RuleSet,
    decision: Decision,
    conversation: Conversation,
    followup: FollowUp,
    user: str,
    text: str,
    mentioned: bool,
    now: datetime,
) -> Answer | None:
    """The answer to `followup`, asked by `user`; None when the bot should stay silent (not understood, and the
    bot was not mentioned)."""
    if followup.intent is Intent.NOT_UNDERSTOOD and not mentioned:
        return None
    stored = Answers.model_validate(decision.latest.answers)
    hypothetical = conversation.hypothetical
    base = {"stored": _stored(decision), "hypothetical_active": hypothetical is not None}
    kind, context, new_hypothetical, applied = _dispatch(ruleset, decision, stored, hypothetical, followup)
    turn = Turn(
        at=now,
        user=user,
        text=" ".join(text.split())[:TURN_TEXT_CHARS],
        intent=followup.intent.value,
        outcome=kind,
    )
    proposers = conversation.proposed_by
    if new_hypothetical is not None and new_hypothetical is not hypothetical:  # a what-if: its values are the asker's
        proposers = {**proposers, **dict.fromkeys(followup.changes, user)}
    after = conversation.after(turn, hypothetical=new_hypothetical, proposed_by=proposers)
    if applied is None:
        return Answer(kind, {**base, **context}, after)
    context["by"] = user
    # Who proposed each change applied, shown when it is not all the person applying them.
    for change in context["changes"]:
        change["proposed_by"] = proposers.get(change["fact"])
    context["proposers_shown"] = any(change["proposed_by"] not in {None, user} for change in context["changes"])
    return Answer(kind, {**base, **context}, after, applied, new_version(applied, by=user, trigger=Trigger.FOLLOW_UP))


def _dispatch(
    ruleset: RuleSet,
    decision: Decision,
    stored: Answers,
    hypothetical: dict[str, Any] | None,
    followup: FollowUp,
) -> _Reply:
    intent = followup.intent
    if intent in {Intent.WHY, Intent.WHY_NOT}:
        verdict = evaluate(ruleset, stored)
        return intent.value, _explained(verdict), hypothetical, None
    if intent is Intent.RULES:
        report = verdict_report(evaluate(ruleset, stored), trace=False)
        return "rules", {"reasons": report["reasons"], "warnings": report["warnings"]}, hypothetical, None
    if intent is Intent.ANSWERS:
        return "answers", {"rows": _rows(stored, hypothetical)}, hypothetical, None
    if intent is Intent.RESET:
        return "reset", {"had": hypothetical is not None}, None, None
    if intent is Intent.HISTORY:
        rows = history_rows(decision, ruleset)
        older = decided_under_older_rules(decision, ruleset)
        context = {"versions": rows, "older_rules": older, "current": ruleset.version}
        return "history", context, hypothetical, None
    if intent is Intent.APPLY:
        return _apply(ruleset, decision, stored, hypothetical)
    if intent in {Intent.WHAT_IF, Intent.AND_IF}:
        return _what_if(ruleset, decision, stored, hypothetical, followup)
    return ("help" if intent is Intent.HELP else "not-understood"), {}, hypothetical, None


def _what_if(
    ruleset: RuleSet,
    decision: Decision,
    stored: Answers,
    hypothetical: dict[str, Any] | None,
    followup: FollowUp,
) -> _Reply:
    if followup.unreadable:
        unreadable = [{"fact": u.fact, "said": u.said, "accepted": u.accepted} for u in followup.unreadable]
        # What it did read, so the person only has to say again the part it could not.
        read = [{"fact": fact, "value": value} for fact, value in followup.changes.items()]
        return "unreadable", {"unreadable": unreadable, "read": read}, hypothetical, None
    if not followup.changes:
        return "no-facts", {"unrecognised": list(followup.unrecognised)}, hypothetical, None
    builds_on = followup.intent is Intent.AND_IF and hypothetical is not None
    changes = {**(hypothetical if builds_on and hypothetical else {}), **followup.changes}
    try:
        answers = _with(stored, changes)
    except AnswersError as exc:
        return "contradiction", {"problems": exc.problems, "changes": dict(followup.changes)}, hypothetical, None
    verdict = evaluate(ruleset, answers)
    context = {
        "builds_on": builds_on,
        "wanted_to_build_on": followup.intent is Intent.AND_IF and hypothetical is None,
        "changes": changed_facts(stored, answers),
        "said": dict(followup.changes),
        "outcome": outcome(verdict),
        "diff": verdict_diff(decision, verdict),
        "accepted": {fact: accepted_forms(fact) for fact in followup.changes},
        "unrecognised": list(followup.unrecognised),
    }
    return "what-if", context, changes, None


def _apply(ruleset: RuleSet, decision: Decision, stored: Answers, hypothetical: dict[str, Any] | None) -> _Reply:
    if hypothetical is None:
        return "nothing-to-apply", {"same": False}, None, None
    try:
        answers = _with(stored, hypothetical)
    except AnswersError as exc:  # the rules or the stored answers changed since the hypothetical was made
        return "contradiction", {"problems": exc.problems, "changes": dict(hypothetical)}, hypothetical, None
    if answers == stored:
        return "nothing-to-apply", {"same": True}, None, None
    verdict = evaluate(ruleset, answers)
    context = {
        "number": len(decision.versions) + 1,
        "changes": changed_facts(stored, answers),
        "outcome": outcome(verdict),
        "diff": verdict_diff(decision, verdict),
    }
    return "applied", context, None, verdict


def _with(stored: Answers, changes: dict[str, Any]) -> Answers:
    return parse_answers({**stored.known(), **changes})


def _stored(decision: Decision) -> dict[str, Any]:
    latest = decision.latest
    return {"verdict": latest.verdict, "next_step": latest.next_step, "number": latest.number}


def outcome(verdict: Verdict) -> dict[str, Any]:
    info = verdict.ruleset.next_steps.get(verdict.next_step)
    return {
        "verdict": verdict.verdict.value,
        "next_step": verdict.next_step.value,
        "next_step_title": info.title if info else verdict.next_step.value,
        "decided_by": {"id": verdict.decided_by.id, "title": verdict.decided_by.title},
    }


def verdict_diff(decision: Decision, verdict: Verdict) -> dict[str, Any]:
    """How `verdict` differs from the decision's stored verdict: verdict, next step, rules starting or stopping."""
    latest = decision.latest
    titles = {rule.id: rule.title for rule in verdict.ruleset.rules}
    now_fired = [rule.id for rule in verdict.fired]
    before = set(latest.fired)
    return {
        "verdict_changed": verdict.verdict.value != latest.verdict,
        "next_step_changed": verdict.next_step.value != latest.next_step,
        "started": [{"id": r, "title": titles.get(r, r)} for r in now_fired if r not in before],
        "stopped": [{"id": r, "title": titles.get(r, r)} for r in latest.fired if r not in set(now_fired)],
    }


def changed_facts(stored: Answers, answers: Answers) -> list[dict[str, Any]]:
    old, new = stored.known(), answers.known()
    return [
        {"fact": name, "from": old.get(name), "to": new.get(name)}
        for name in CHANGEABLE
        if old.get(name) != new.get(name)
    ]


def _rows(stored: Answers, hypothetical: dict[str, Any] | None) -> list[dict[str, Any]]:
    old = stored.known()
    try:
        new = _with(stored, hypothetical).known() if hypothetical is not None else None
    except AnswersError:
        new = {**old, **(hypothetical or {})}
    return [
        {"fact": name, "stored": old.get(name), "hypothetical": new.get(name) if new is not None else None}
        for name in FACTS
        if name in old or (new is not None and name in new)
    ]


def _explained(verdict: Verdict) -> dict[str, Any]:
    report = verdict_report(verdict, trace=False)
    return {
        "outcome": outcome(verdict),
        "reasons": report["reasons"][:MAX_REASONS],
        "more_reasons": max(0, len(report["reasons"]) - MAX_REASONS),
        "changes": report["what_would_change"],
        "unanswered": report["unanswered"][:MAX_REASONS],
    }
