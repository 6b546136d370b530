"""Writing a decision's later versions in tests the way the bot writes them: as a claimed job's record step
(`WorkQueue.record`), at a time of the test's choosing."""

from __future__ import annotations

import itertools
import secrets
from datetime import datetime

from bot.store import Conversation, DecisionNotFound, DecisionStore, NewVersion, Version, WorkQueue, WorkRef

_THREADS = itertools.count(1)


def append_version(
    store: DecisionStore,
    *,
    workspace: str,
    channel: str,
    decision_id: str,
    version: NewVersion,
    now: datetime | None = None,
) -> Version:
    """Record `version` as the decision's next one, made at `now`, through the work queue: the path a re-review, an
    edit or an applied what-if takes. Raises `DecisionNotFound` for a decision that is not stored."""
    decision = store.decision(workspace=workspace, channel=channel, decision_id=decision_id)
    if decision is None:
        raise DecisionNotFound(f"no decision {decision_id} in {workspace}:{channel}")
    queue = WorkQueue(store._redis, prefix=store._prefix)  # the same Redis and keys as the store under test
    claim = queue.claim(WorkRef(workspace, channel, f"test.{secrets.token_hex(6)}"), event_id="", payload={})
    thread = f"{next(_THREADS)}.{secrets.randbelow(10**6)}"  # a conversation of its own: no revision to race
    recorded = queue.record(
        claim,
        thread_ts=thread,
        conversation=Conversation(),
        outbox={},
        decision_id=decision_id,
        version=version,
        versions_seen=len(decision.versions),
        now=now,
    )
    queue.finish(claim)
    assert recorded is not None
    return recorded
