"""The kinds of background work, each a small typed value that is also its claim's payload: posting a new
decision's verdict, answering a question in a verdict's thread, and a review (a re-review, an edit, or an answer
given with an open question's button).

A job's `ref` is its claim: the key that makes Slack's redelivery of the same request, or a double click, the same
work. `job_of` reads a claim's payload back into its job, for the worker that takes it over."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypeAlias

from bot.store import WorkRef
from bot.store.base import SLACK_ID

__all__ = ["Job", "Question", "Review", "VerdictJob", "job_of"]


@dataclass(frozen=True, slots=True)
class VerdictJob:
    """Posting a new decision's verdict: claimed before the form closes, so it happens even if this replica stops."""

    workspace: str
    channel: str
    decision: str

    @property
    def ref(self) -> WorkRef:
        """The claim: one per decision."""
        return WorkRef(self.workspace, self.channel, f"verdict.{self.decision}")

    def payload(self) -> dict[str, Any]:
        """What a worker taking the job over needs."""
        return {"work": "verdict", "workspace": self.workspace, "channel": self.channel, "decision": self.decision}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> VerdictJob | None:
        """The job in a claim's payload, or None if it is not a well-formed verdict job."""
        fields = [payload.get(name) for name in ("workspace", "channel", "decision")]
        if payload.get("work") != "verdict" or not all(isinstance(f, str) and SLACK_ID.fullmatch(f) for f in fields):
            return None
        return cls(*fields)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Question:
    """A person's message in a thread, as far as answering it goes."""

    workspace: str
    channel: str
    thread_ts: str
    ts: str
    user: str
    text: str
    mentioned: bool
    parent_is_bot: bool
    external: bool = False  # the author is from another organisation (Slack Connect): may ask, never apply

    @property
    def thread_channel(self) -> str:
        """Where the thread is: a question is asked in it."""
        return self.channel

    @property
    def ref(self) -> WorkRef:
        """The message's claim: keyed on the message, so `message` and `app_mention` events for it are one."""
        return WorkRef(self.workspace, self.channel, f"message.{self.ts}")

    def payload(self) -> dict[str, Any]:
        """The claim's payload (older claims hold the same fields, without a `work` kind)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Review:
    """One request to look at a decision again, as stored on its claim."""

    workspace: str
    channel: str  # the decision's channel
    decision: str
    thread_channel: str  # where the verdict message is (its thread gets the reply)
    thread_ts: str
    user: str  # a member id, or COMMAND_USER
    trigger: str  # Trigger.RE_REVIEW, Trigger.EDIT or Trigger.ANSWERED
    source: str  # "reaction", "button", "form", "command" or "question" (an open question's button)
    key: str  # the claim's key: what makes a redelivery or a double click the same request
    answers: dict[str, Any] | None = None  # for an edit: the answers submitted; for an answer: the latest, with it
    response_url: str | None = None  # for a button: where to tell the clicker that a cooldown holds
    work: str = "review"
    fact: str | None = None  # for an answer: the question's fact and the value clicked
    value: bool | str | None = None

    @property
    def ref(self) -> WorkRef:
        """The claim, in the decision's channel, where its versions and thread state live."""
        return WorkRef(self.workspace, self.channel, self.key)

    @property
    def gated(self) -> bool:
        """Whether the per-person cooldown applies: to reactions and the re-review button, not to edits, answered
        questions or the command."""
        return self.source in {"reaction", "button"}

    def payload(self) -> dict[str, Any]:
        """The claim's payload."""
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Review | None:
        """The review a claim holds, or None when the payload is not one."""
        if payload.get("work") != "review":
            return None
        try:
            return cls(**payload)
        except TypeError:
            return None


Job: TypeAlias = VerdictJob | Question | Review


def job_of(payload: dict[str, Any]) -> Job | None:
    """The job a claim's payload holds, or None when it is not one the bot wrote."""
    kind = payload.get("work")
    if kind == "verdict":
        return VerdictJob.from_payload(payload)
    if kind == "review":
        return Review.from_payload(payload)
    try:
        return Question(**payload)
    except TypeError:
        return None
