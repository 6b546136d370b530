"""Making a decision: evaluate the answers under the loaded rule set and store the result before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from bot.engine.answers import Answers
from bot.engine.report import verdict_report
from bot.engine.ruleset import RuleSet
from bot.engine.verdict import Verdict, evaluate
from bot.metrics import Metrics
from bot.store import Decision, DecisionStore, NewVersion, Trigger


@dataclass
class Decided:
    """A stored decision with the verdict it was made from."""

    decision: Decision
    verdict: Verdict

    @cached_property
    def report(self) -> dict[str, Any]:
        """The verdict's report, what messages show; built when first needed, after the HTTP response."""
        return verdict_report(self.verdict, trace=False)

    @property
    def step(self) -> dict[str, str]:
        """Title and summary of the verdict's next step."""
        info = self.verdict.ruleset.next_steps.get(self.verdict.next_step)
        if info is None:
            return {"title": self.verdict.next_step.value, "summary": ""}
        return {"title": info.title, "summary": info.summary}


def new_version(verdict: Verdict, *, by: str, trigger: Trigger) -> NewVersion:
    """The version a verdict becomes in the store."""
    return NewVersion(
        answers=verdict.answers.known(),
        verdict=verdict.verdict.value,
        next_step=verdict.next_step.value,
        decided_by=verdict.decided_by.id,
        fired=[rule.id for rule in verdict.fired],
        ruleset_version=verdict.ruleset.version,
        ruleset_sha256=verdict.ruleset.sha256,
        by=by,
        trigger=trigger,
    )


class DecisionService:
    """Decisions as the Slack layer needs them: evaluated, stored, then handed back for rendering."""

    def __init__(self, *, store: DecisionStore, ruleset: RuleSet, metrics: Metrics | None = None) -> None:
        self.store = store
        self.ruleset = ruleset
        self.metrics = metrics if metrics is not None else Metrics(process=False)

    def decide(
        self,
        *,
        workspace: str,
        channel: str,
        requester: str,
        answers: Answers,
        decision_id: str | None = None,
        source: str | None = None,
    ) -> Decided:
        """Evaluate `answers` and store the decision (under `decision_id` when given, linked to the message `source`
        when it was asked about one); raises the store's error if it cannot be saved."""
        verdict = evaluate(self.ruleset, answers)
        decision = self.store.create_decision(
            workspace=workspace,
            channel=channel,
            requester=requester,
            version=new_version(verdict, by=requester, trigger=Trigger.SUBMIT),
            decision_id=decision_id,
            source=source,
        )
        self.metrics.decision(verdict.verdict.value, verdict.next_step.value)
        return Decided(decision, verdict)
