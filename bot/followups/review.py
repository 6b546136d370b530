"""Looking at a decision again: a re-review under the rules loaded now, an edit of its answers, or one open question
answered with its button in the thread.

Pure functions from the stored decision, the thread's conversation and the rule sets to the reply's content, the
conversation after it and the version to record; the Slack layer claims, records and sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.decisions import new_version
from bot.engine.answers import FACTS, Answers, AnswersError, contradictions, parse_answers
from bot.engine.report import verdict_report
from bot.engine.rulediff import diff_snapshots
from bot.engine.ruleset import RuleSet
from bot.engine.verdict import Verdict, evaluate
from bot.followups.conversation import Answer, changed_facts, outcome, verdict_diff
from bot.store import Conversation, Decision, Trigger, Turn, Version

# How many rule-set differences a reply lists before it only counts the rest.
MAX_RULE_CHANGES = 5
# The reply's kind for each trigger (anything else is a re-review).
_KINDS = {Trigger.EDIT: "edited", Trigger.ANSWERED: "answered"}


def answering(answers: Mapping[str, Any], fact: str, value: Any) -> dict[str, Any]:
    """`answers` (a version's) with `fact` answered `value`, validated; raises `AnswersError` naming what the answer
    contradicts among the other answers, in the form's words."""
    merged = {**answers, fact: value}
    problems = list(dict.fromkeys(message for _, message in contradictions(merged)))
    if problems:
        raise AnswersError(problems)
    return parse_answers(merged).known()


def review_answer(
    *,
    ruleset: RuleSet,
    snapshot: Mapping[str, Any],
    old_snapshot: Mapping[str, Any] | None,
    decision: Decision,
    conversation: Conversation,
    user: str,
    trigger: Trigger,
    answers: Answers | None,
    now: datetime,
    question: str | None = None,
) -> Answer:
    """Evaluate the decision's answers (the latest, or `answers` for an edit or an answered question) under `ruleset`,
    whose snapshot is `snapshot`; `old_snapshot` is that of the rule set the latest version was decided under, when
    it is known. `question` is the fact an answered question set: the reply names it and asks what is still open."""
    latest = decision.latest
    stored = Answers.model_validate(latest.answers)
    evaluated = answers if answers is not None else stored
    verdict = evaluate(ruleset, evaluated)
    diff = verdict_diff(decision, verdict)
    context: dict[str, Any] = {
        "by": user,
        "number": len(decision.versions) + 1,
        "previous": {"number": latest.number, "verdict": latest.verdict, "next_step": latest.next_step},
        "outcome": outcome(verdict),
        "diff": diff,
        "changes": changed_facts(stored, evaluated),
        "rules": rule_changes(latest, ruleset, snapshot, old_snapshot, involved={*latest.fired, *verdict_ids(diff)}),
    }
    kind = _KINDS.get(trigger, "re-reviewed")
    if trigger is Trigger.ANSWERED and question is not None:
        context.update(_answered(verdict, decision, question))
    turn = Turn(at=now, user=user, text=f"({kind})", intent=trigger.value, outcome=kind)
    after = conversation.after(turn, hypothetical=conversation.hypothetical)
    return Answer(kind, context, after, verdict, new_version(verdict, by=user, trigger=trigger))


def _answered(verdict: Verdict, decision: Decision, fact: str) -> dict[str, Any]:
    """What the reply to an answered question says beyond a re-review's: the question and its answer, why the advice
    is what it is now (with its playbook, shown when the next step changed), and the questions still open (with the
    decision's id, for their buttons)."""
    report = verdict_report(verdict, trace=False)
    value = verdict.answers.known().get(fact)
    return {
        "question": {"fact": fact, "text": FACTS[fact].question, "value": value},
        "because": report["because"],
        "playbook": report["playbook"],
        "questions": report["questions"],
        "decision_id": decision.id,
    }


def verdict_ids(diff: Mapping[str, Any]) -> set[str]:
    """The rules a verdict diff names."""
    return {rule["id"] for rule in (*diff["started"], *diff["stopped"])}


def rule_changes(
    latest: Version,
    ruleset: RuleSet,
    snapshot: Mapping[str, Any],
    old_snapshot: Mapping[str, Any] | None,
    *,
    involved: set[str],
) -> dict[str, Any]:
    """How the rules loaded now differ from those `latest` was decided under: the rules involved in this decision
    first (at most `MAX_RULE_CHANGES`), then a count of the others."""
    if latest.ruleset_sha256 == ruleset.sha256:
        return {"changed": False, "version": ruleset.version}
    info: dict[str, Any] = {
        "changed": True,
        "before": latest.ruleset_version,
        "after": ruleset.version,
        "before_sha": latest.ruleset_sha256[:12],
        "after_sha": ruleset.sha256[:12],
        "known": old_snapshot is not None,
        "changes": [],
        "others": 0,
    }
    if old_snapshot is None:
        return info
    changes = diff_snapshots(old_snapshot, snapshot)
    mine = [change for change in changes if change.rule in involved or change.rule == latest.decided_by]
    rows = [
        {
            "rule": change.rule,
            "title": change.title,
            "change": change.change,
            "details": list(change.details),
            "thresholds": [{"fact": t.fact, "before": t.before, "after": t.after} for t in change.thresholds],
        }
        for change in (mine + [change for change in changes if change not in mine])[:MAX_RULE_CHANGES]
    ]
    info["changes"] = rows
    info["others"] = len(changes) - len(rows)
    return info
