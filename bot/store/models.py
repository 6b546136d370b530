"""What the store keeps of a decision: its versions (each the answers, the verdict and who asked for it, when),
where its verdict was posted, and the errors of looking one up or creating it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.store.base import StoreError, UtcDatetime

__all__ = [
    "Decision",
    "DecisionExists",
    "DecisionNotFound",
    "Delivery",
    "DeliveryStatus",
    "NewVersion",
    "Trigger",
    "Version",
]


class Trigger(StrEnum):
    """What produced a version of a decision."""

    SUBMIT = "submit"
    EDIT = "edit"
    RE_REVIEW = "re-review"
    FOLLOW_UP = "follow-up"
    ANSWERED = "answered"  # an open question answered with its button in the verdict's thread


class NewVersion(BaseModel):
    """The data of a version as the caller knows it; the store assigns its number and time."""

    model_config = ConfigDict(frozen=True)

    answers: dict[str, Any]
    verdict: str
    next_step: str
    decided_by: str
    fired: list[str]
    ruleset_version: str
    ruleset_sha256: str
    by: str
    trigger: Trigger


class Version(NewVersion):
    """One stored version of a decision; never rewritten once written."""

    number: int = Field(ge=1)
    at: UtcDatetime


class DeliveryStatus(StrEnum):
    """Whether the verdict message reached Slack."""

    PENDING = "pending"
    POSTED = "posted"
    FAILED = "failed"


class Delivery(BaseModel):
    """Where the verdict message is (its channel, maybe a DM, and ts, which is also its thread), or why it is not."""

    model_config = ConfigDict(frozen=True)

    status: DeliveryStatus
    channel: str | None = None
    ts: str | None = None
    error: str | None = None
    at: UtcDatetime | None = None


class _Meta(BaseModel):
    """The immutable part of a decision, stored as the `meta` field."""

    model_config = ConfigDict(frozen=True)

    id: str
    workspace: str
    channel: str
    requester: str
    created_at: UtcDatetime
    # The link to the message the decision was asked about (a message shortcut), or None.
    source: str | None = None


class Decision(_Meta):
    """A decision asked for in one channel, with every version of its verdict, oldest first."""

    delivery: Delivery
    versions: list[Version] = Field(min_length=1)

    @property
    def latest(self) -> Version:
        """The newest version."""
        return self.versions[-1]


class DecisionNotFound(StoreError, LookupError):
    """No decision with that id in that channel."""


class DecisionExists(StoreError):
    """A decision with that id already exists in that channel."""
