"""Verdict threads: each thread's conversation state (the what-if being explored, who proposed it, the last
turns) and the per-person cooldowns of re-reviews. A conversation is written together with the answer that changes
it, by the work queue's record step (`bot.store.work`)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.store.base import (
    RedisClient,
    UtcDatetime,
    channel_key,
    check_client,
    check_prefix,
    check_ts,
    raises_store_errors,
)

__all__ = ["DEFAULT_CONVERSATION_TTL", "MAX_TURNS", "Conversation", "ThreadStore", "Turn", "conversation_key"]

MAX_TURNS = 10
TURN_TEXT_CHARS = 160
DEFAULT_CONVERSATION_TTL = timedelta(days=30)
_COOLDOWN_NAME = re.compile(r"[A-Za-z0-9._:-]{1,100}")


def conversation_key(prefix: str, workspace: str, channel: str, thread_ts: str) -> str:
    """The key of a verdict thread's conversation (hash: `data` JSON, `revision`), in its channel's slot."""
    return f"{channel_key(prefix, workspace, channel)}:conversation:{check_ts(thread_ts)}"


class Turn(BaseModel):
    """One question in a thread and the gist of its answer, kept so the conversation can be followed."""

    model_config = ConfigDict(frozen=True)

    at: UtcDatetime
    user: str
    text: str = Field(max_length=TURN_TEXT_CHARS)
    intent: str
    outcome: str = ""


class Conversation(BaseModel):
    """A thread's state: the hypothetical answers being explored (changes to the stored ones), who proposed each of
    them, and the last turns."""

    model_config = ConfigDict(frozen=True)

    hypothetical: dict[str, Any] | None = None
    proposed_by: dict[str, str] = Field(default_factory=dict)  # fact -> the member who proposed its hypothetical value
    turns: tuple[Turn, ...] = ()
    # Not stored in the JSON: the number of writes so far, which makes concurrent writes detectable.
    revision: int = Field(0, exclude=True)

    def after(
        self, turn: Turn, *, hypothetical: dict[str, Any] | None, proposed_by: dict[str, str] | None = None
    ) -> Conversation:
        """The state after one more turn: the hypothetical it leaves and who proposed each of its values (kept as
        they were when not given), and only the newest `MAX_TURNS` turns."""
        proposers = self.proposed_by if proposed_by is None else proposed_by
        return Conversation(
            hypothetical=hypothetical,
            proposed_by={fact: who for fact, who in proposers.items() if hypothetical and fact in hypothetical},
            turns=(*self.turns, turn)[-MAX_TURNS:],
            revision=self.revision,
        )


@raises_store_errors
class ThreadStore:
    """Conversation state per verdict thread (read here, written by the work queue's record step) and cooldowns.

    Keys, in the thread's channel slot: `{prefix}:{T:C}:conversation:<thread ts>` and `{prefix}:{T:C}:cooldown:<name>`.
    """

    def __init__(self, redis: RedisClient, *, prefix: str = "should-finetune") -> None:
        self._redis = check_client(redis)
        self._prefix = check_prefix(prefix)

    def conversation(self, *, workspace: str, channel: str, thread_ts: str) -> Conversation:
        """The thread's conversation; an empty one (revision 0) if it never had one or it expired."""
        fields = self._redis.hgetall(conversation_key(self._prefix, workspace, channel, thread_ts))
        if "data" not in fields:
            return Conversation()
        return Conversation.model_validate({**json.loads(fields["data"]), "revision": int(fields["revision"])})

    def hold_cooldown(self, *, workspace: str, channel: str, name: str, holder: str, ttl: timedelta) -> bool:
        """Whether `holder` holds cooldown `name`: it takes it when free, and keeps holding it until it runs out, so
        work retried after a crash is not turned away by its own first attempt."""
        if not _COOLDOWN_NAME.fullmatch(name):
            raise ValueError(f"invalid cooldown name {name!r}")
        key = f"{channel_key(self._prefix, workspace, channel)}:cooldown:{name}"
        if self._redis.set(key, holder, nx=True, px=max(1, int(ttl / timedelta(milliseconds=1)))):
            return True
        return bool(self._redis.get(key) == holder)
