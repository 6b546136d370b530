"""Faults across replicas: real `should-finetune` processes sharing one Redis and one fake Slack (`tests.replicas`).

- A retry storm: every event delivered four times (the original and Slack's retries 1-3 with their reasons),
  spread over two replicas, concurrently: each event's side effect happens exactly once.
- A replica killed after acknowledging and before posting: another replica finishes the work, once.
- Three digest runners at once, and one of them killed half-way: one digest per channel and period.

Side effects are counted at the fake Slack, per event. Sizes follow `tests.scale`: `SHOULD_FINETUNE_FULL_SUITE=1`
runs the storm at the issue's 10,000 events.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis

from bot.decisions import new_version
from bot.engine.answers import Answers
from bot.engine.ruleset import RuleSet
from bot.engine.verdict import evaluate
from bot.schedule import Schedule
from bot.store import DecisionStore, Delivery, DeliveryStatus, Trigger
from bot.store.digests import DigestStore
from tests.fakeslack import Call, FakeSlack
from tests.replicas import RETRY_REASONS, Process, Replica, Replicas, deliver, envelope
from tests.replicas import replicas as replicas  # noqa: PLC0414 - the fixture
from tests.scale import scaled
from tests.slack_support import CHANNEL, REQUIRED_ANSWERS, TEAM, USER, new_event_id, thread_message
from tests.test_followups import texts
from tests.test_reviews import reaction

# Slack's budget for an HTTP answer; anything slower counts as a failed delivery and is retried.
ACK_SECONDS = 3.0
# The bound for work a killed replica acknowledged: finished by another replica within 5 minutes.
TAKEOVER_SECONDS = 300.0


def ok_posts(fake: FakeSlack) -> list[Call]:
    """The chat.postMessage calls Slack accepted: the messages that exist."""
    return [c for c in fake.calls("chat.postMessage") if c.response is not None and c.response.get("ok")]


def ok_updates(fake: FakeSlack) -> list[Call]:
    """The chat.update calls Slack accepted."""
    return [c for c in fake.calls("chat.update") if c.response is not None and c.response.get("ok")]


def text(call: Call) -> str:
    """What a person reads in a posted or updated message."""
    return texts([call.args])[0]


def markers(pattern: re.Pattern[str], call: Call) -> set[str]:
    """What `pattern` captures in one message (its fallback text and its blocks may both say it)."""
    return {found.replace(",", "") for found in pattern.findall(text(call))}


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str | Callable[[], str], poll: float = 0.25
) -> float:
    """Poll `condition` until it holds; the seconds it took. Polls slowly: the fake's records can be long."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what if isinstance(what, str) else what()}: not within {timeout:.0f} s")
        time.sleep(poll)
    return time.monotonic() - started


def pending_work(client: redis.Redis, prefix: str) -> int:
    """Claimed work not yet marked done (the sorted set `bot.store` documents as `{prefix}:work:pending`)."""
    return int(client.zcard(f"{prefix}:work:pending"))


def report(line: str) -> None:
    """A measurement for the run's log (shown with `pytest -s`, and with a failure)."""
    print(f"[faults] {line}", file=sys.stderr)


# --- the retry storm --------------------------------------------------------------------------------------------------

STORM_EVENTS = scaled(400, 10_000)
STORM_DECISIONS = 12  # the threads the questions and reactions go to
STORM_SENDERS = 8  # concurrent deliveries in flight
REACTION_EVERY = 20  # one event in twenty is a re-review request; the rest are questions
# Where each delivery goes in the sending order, relative to its original: retry 1 "nearly immediately", retries 2
# and 3 after Slack's 1 and 5 minutes, compressed to this many events later.
RETRY_LAG = (0, 0, 16, 80)
WHAT_IF = re.compile(r"Stable examples: 30 → \*(\d[\d,]*)\*")  # 1000 is shown as 1,000
REREVIEWED = re.compile(r"Re-reviewed by <@(U[A-Z0-9]+)>\*, recorded as version")
UPDATED = re.compile(r"re-reviewed by <@(U[A-Z0-9]+)>")


@dataclass(frozen=True)
class StormEvent:
    """One event of the storm and the one side effect it must have: a reply in `thread` saying `marker`."""

    event_id: str
    thread: str
    body: bytes
    kind: str  # "question" (marker: the number of examples asked about) or "reaction" (marker: the reactor)
    marker: str


@dataclass(frozen=True)
class Sent:
    """One delivery and how the replica answered it."""

    event: StormEvent
    retry: int
    replica: str
    status: int
    seconds: float
    error: str = ""


def storm_events(verdicts: list[str], count: int) -> list[StormEvent]:
    """`count` events over the verdicts' threads: what-if questions, each about its own number of examples, and
    re-review reactions, each by a person of its own (so no cooldown applies)."""
    events = []
    for i in range(count):
        thread = verdicts[i % len(verdicts)]
        event_id = new_event_id()
        if i % REACTION_EVERY == REACTION_EVERY - 1:
            reactor = f"U0R{i:06d}"
            body = envelope(reaction(thread, user=reactor), event_id=event_id)
            events.append(StormEvent(event_id, thread, body, "reaction", reactor))
        else:
            number = 1000 + i
            body = envelope(thread_message(f"what if we had {number} examples", thread_ts=thread), event_id=event_id)
            events.append(StormEvent(event_id, thread, body, "question", str(number)))
    return events


def storm_schedule(events: list[StormEvent], pair: tuple[Replica, Replica]) -> list[tuple[StormEvent, int, Replica]]:
    """Every delivery of every event, in sending order: originals in turn to either replica, each retry to the other
    one than the delivery before it, retries lagging their original as `RETRY_LAG` says."""
    slots: list[tuple[int, int, StormEvent, Replica]] = []
    for i, event in enumerate(events):
        for retry, lag in enumerate(RETRY_LAG):
            slots.append((i + lag, retry, event, pair[(i + retry) % 2]))
    slots.sort(key=lambda slot: (slot[0], slot[1]))
    return [(event, retry, replica) for _, retry, event, replica in slots]


def send(event: StormEvent, retry: int, replica: Replica) -> Sent:
    """Deliver one copy of `event`; a connection error is an answer too (status 0)."""
    reason = RETRY_REASONS[(int(event.event_id[2:]) + retry) % len(RETRY_REASONS)]
    try:
        answer = deliver(replica.client, event.body, retry_num=retry, reason=reason)
    except OSError as exc:
        return Sent(event, retry, replica.name, 0, 0.0, f"{type(exc).__name__}: {exc}")
    return Sent(event, retry, replica.name, answer.status, answer.seconds)


def side_effects(fake: FakeSlack, threads: Iterable[str]) -> tuple[Counter[tuple[str, str, str]], list[str]]:
    """Replies in the threads, counted by (thread, kind, marker); and any reply that is neither kind of answer."""
    threads = set(threads)
    found: Counter[tuple[str, str, str]] = Counter()
    unexpected = []
    explanations: set[str] = set()
    for call in ok_posts(fake):
        thread = call.args.get("thread_ts")
        if thread not in threads:
            continue
        if thread not in explanations:  # the first message in each verdict's thread is its explanation
            explanations.add(thread)
            continue
        said = text(call)
        reviewed, what_if = markers(REREVIEWED, call), markers(WHAT_IF, call)
        if len(reviewed) == 1 and not what_if:
            found[(thread, "reaction", reviewed.pop())] += 1
        elif len(what_if) == 1 and not reviewed:
            found[(thread, "question", what_if.pop())] += 1
        else:
            unexpected.append(said[:200])
    return found, unexpected


def test_a_retry_storm_over_two_replicas_has_each_events_side_effect_exactly_once(
    replicas: Replicas, fake_slack: FakeSlack, redis_client: redis.Redis, key_prefix: str
) -> None:
    pair = (replicas.start("one"), replicas.start("two"))
    verdicts = [
        pair[i % 2].client.decide({**REQUIRED_ANSWERS, "use_case": f"Storm decision {i}"})
        for i in range(STORM_DECISIONS)
    ]
    events = storm_events(verdicts, STORM_EVENTS)
    schedule = storm_schedule(events, pair)
    reactions = [e for e in events if e.kind == "reaction"]
    posts_before = len(ok_posts(fake_slack))

    started = time.monotonic()
    with ThreadPoolExecutor(STORM_SENDERS, thread_name_prefix="slack") as senders:
        sent = list(senders.map(lambda delivery: send(*delivery), schedule))
    sending = time.monotonic() - started

    expected_posts = posts_before + len(events)
    waited = wait_until(
        lambda: len(ok_posts(fake_slack)) >= expected_posts and pending_work(redis_client, key_prefix) == 0,
        timeout=120 + len(events) * 0.05,
        what=lambda: (
            f"{len(events)} replies posted and no work pending: {len(ok_posts(fake_slack)) - posts_before} posted, "
            f"{pending_work(redis_client, key_prefix)} pending"
        ),
        poll=1.0,
    )
    time.sleep(1.0)  # anything sent twice would follow the last reply closely: every claim is marked done by now
    seconds = sorted(s.seconds for s in sent)
    report(
        f"retry storm: {len(events)} events ({len(reactions)} re-reviews), {len(sent)} deliveries in {sending:.1f} s "
        f"({len(sent) / sending:.0f}/s), side effects complete {waited:.1f} s later; answers p50 "
        f"{seconds[len(seconds) // 2] * 1000:.0f} ms, p99 {seconds[len(seconds) * 99 // 100] * 1000:.0f} ms, "
        f"max {seconds[-1] * 1000:.0f} ms; work taken over by a sweeper: "
        f"{sum(r.output().count('taking over') for r in pair)}"
    )

    # Every delivery answered 200 within Slack's 3 seconds.
    refused = [(s.event.event_id, s.retry, s.replica, s.status, s.error) for s in sent if s.status != 200]
    assert refused == [], refused[:10]
    slow = [(s.event.event_id, s.retry, s.replica, round(s.seconds, 2)) for s in sent if s.seconds >= ACK_SECONDS]
    assert slow == [], slow[:10]
    assert {s.replica for s in sent if s.retry == 0} == {"one", "two"}  # originals and retries on both
    assert {s.replica for s in sent if s.retry > 0} == {"one", "two"}

    # Exactly one reply per event, in its own thread; nothing else was posted.
    found, unexpected = side_effects(fake_slack, verdicts)
    assert unexpected == [], unexpected[:5]
    wanted = {(e.thread, e.kind, e.marker) for e in events}
    lost = sorted(wanted - set(found))
    duplicated = sorted((key, n) for key, n in found.items() if n > 1)
    strays = sorted(set(found) - wanted)
    assert (len(lost), len(duplicated), len(strays)) == (0, 0, 0), (lost[:10], duplicated[:10], strays[:10])
    assert len(ok_posts(fake_slack)) == expected_posts

    # Each re-review updated its verdict message once, and was recorded once.
    updates = Counter(who for call in ok_updates(fake_slack) for who in markers(UPDATED, call))
    assert updates == Counter(e.marker for e in reactions)
    store = DecisionStore(redis_client, prefix=key_prefix)
    for verdict in verdicts:
        decision = store.decision_for_thread(workspace=TEAM, channel=CHANNEL, thread_ts=verdict)
        assert decision is not None
        reviewers = [v.by for v in decision.versions[1:]]
        assert sorted(reviewers) == sorted(e.marker for e in reactions if e.thread == verdict)
        assert all(v.trigger is Trigger.RE_REVIEW for v in decision.versions[1:])
    assert [replica.terminate() for replica in pair] == [0, 0]  # SIGTERM: both drain and exit cleanly


# --- a replica killed after acknowledging, before posting -------------------------------------------------------------

TOKEN_A, TOKEN_B = "xoxb-replica-a", "xoxb-replica-b"
LEASE_SECONDS = 2  # how long a replica may hold work before another takes it over
KILLED_WORK = 3  # forms, questions or reactions acknowledged by the replica that is killed


@pytest.fixture
def pair(replicas: Replicas, fake_slack: FakeSlack) -> tuple[Replica, Replica]:
    """Replicas A and B with a short work lease; Slack makes A wait 30 s before each post or update (429)."""
    a = replicas.start("a", token=TOKEN_A, work_lease_seconds=LEASE_SECONDS)
    b = replicas.start("b", token=TOKEN_B, work_lease_seconds=LEASE_SECONDS)
    for method in ("chat.postMessage", "chat.update"):
        fake_slack.fail(method, token=TOKEN_A, status=429, retry_after=30, times=1000)
    return a, b


def attempts_by(fake: FakeSlack, token: str) -> list[Call]:
    """The posts and updates a replica tried and Slack answered with 429."""
    return [c for c in fake.calls() if c.token == token and c.status == 429]


def kill_after_attempts(fake: FakeSlack, replica: Replica, attempted: Callable[[list[Call]], bool]) -> None:
    """SIGKILL `replica` once its attempts to post satisfy `attempted` (or after 10 s: a replica may leave the
    posting to others; the kill is after the acknowledgement either way)."""
    try:
        wait_until(lambda: attempted(attempts_by(fake, replica.token)), timeout=10, what="attempts", poll=0.05)
        report(f"{replica.name} tried to post before it was killed")
    except AssertionError:
        report(f"{replica.name} had not tried to post when it was killed")
    replica.kill()


def settle() -> None:
    """Wait long enough for any second taker of the work to show itself: a few leases and sweeps."""
    time.sleep(2 * LEASE_SECONDS + 1)


@pytest.mark.parametrize("stalled", ["verdict", "explanation"])
def test_verdicts_acknowledged_by_a_replica_killed_before_posting_are_posted_once_by_another(
    pair: tuple[Replica, Replica], fake_slack: FakeSlack, redis_client: redis.Redis, key_prefix: str, stalled: str
) -> None:
    a, b = pair
    use_cases = [f"Acknowledged then killed {i}" for i in range(KILLED_WORK)]

    def explanations_tried(count: int) -> Callable[[], bool]:
        return lambda: len([c for c in attempts_by(fake_slack, TOKEN_A) if c.args.get("thread_ts")]) >= count

    for n, use_case in enumerate(use_cases, start=1):
        if stalled == "explanation":  # A's verdict goes out; its explanation waits, and A dies before posting it
            fake_slack.reset_faults("chat.postMessage")
            fake_slack.fail("chat.postMessage", token=TOKEN_A, status=429, retry_after=30, times=1000, after=1)
        opened = len(fake_slack.calls("views.open"))
        assert a.client.command().status == 200
        fake_slack.wait_for("views.open", opened + 1)
        submitted = a.client.submit({**REQUIRED_ANSWERS, "use_case": use_case})
        assert submitted.status == 200
        assert b"errors" not in submitted.body  # the form closed: the decision is acknowledged
        if stalled == "explanation":
            wait_until(
                explanations_tried(n),
                timeout=10,
                what=f"replica A trying to post explanation {n}",
            )
    if stalled == "verdict":
        kill_after_attempts(fake_slack, a, lambda calls: all(any(u in text(c) for c in calls) for u in use_cases))
    else:
        a.kill()  # its explanations are all waiting out their 429 (checked above)

    def verdicts_of(use_case: str) -> list[Call]:
        return [c for c in ok_posts(fake_slack) if not c.args.get("thread_ts") and use_case in text(c)]

    def explanations_of(use_case: str) -> list[Call]:
        timestamps = {str(c.response["ts"]) for c in verdicts_of(use_case) if c.response}
        return [c for c in ok_posts(fake_slack) if c.args.get("thread_ts") in timestamps]

    took = wait_until(
        lambda: all(verdicts_of(u) and explanations_of(u) for u in use_cases),
        timeout=TAKEOVER_SECONDS,
        what=f"verdicts and explanations of the {KILLED_WORK} decisions replica A acknowledged",
    )
    report(f"{stalled}s of the killed replica posted by another {took:.1f} s after the kill")
    settle()
    assert {u: (len(verdicts_of(u)), len(explanations_of(u))) for u in use_cases} == dict.fromkeys(use_cases, (1, 1))
    verdict_poster = a if stalled == "explanation" else b
    assert {c.token for u in use_cases for c in verdicts_of(u)} == {verdict_poster.token}
    assert {c.token for u in use_cases for c in explanations_of(u)} == {b.token}
    store = DecisionStore(redis_client, prefix=key_prefix)
    now = datetime.now(UTC)
    decisions = store.decisions_between(
        workspace=TEAM, channel=CHANNEL, start=now - timedelta(hours=1), end=now + timedelta(hours=1)
    )
    assert sorted(d.latest.answers["use_case"] for d in decisions) == sorted(use_cases)
    for decision in decisions:
        [verdict] = verdicts_of(decision.latest.answers["use_case"])
        assert verdict.response is not None
        assert (decision.delivery.status, decision.delivery.ts) == (DeliveryStatus.POSTED, verdict.response["ts"])
    assert pending_work(redis_client, key_prefix) == 0


def test_questions_acknowledged_by_a_replica_killed_before_answering_are_answered_once_by_another(
    pair: tuple[Replica, Replica], fake_slack: FakeSlack, redis_client: redis.Redis, key_prefix: str
) -> None:
    a, b = pair
    verdict = b.client.decide()
    numbers = [str(600 + i) for i in range(KILLED_WORK)]
    for number in numbers:
        assert a.client.ask(f"what if we had {number} examples", thread_ts=verdict).status == 200
    kill_after_attempts(fake_slack, a, lambda calls: len(calls) >= KILLED_WORK)

    def answers() -> Counter[str]:
        replies = [c for c in ok_posts(fake_slack) if c.args.get("thread_ts") == verdict][1:]  # after the explanation
        return Counter(n for c in replies for n in markers(WHAT_IF, c))

    took = wait_until(
        lambda: set(answers()) >= set(numbers), timeout=TAKEOVER_SECONDS, what="answers to replica A's questions"
    )
    report(f"questions of the killed replica answered by another {took:.1f} s after the kill")
    settle()
    assert answers() == Counter(numbers)
    assert len([c for c in ok_posts(fake_slack) if c.args.get("thread_ts") == verdict]) == 1 + KILLED_WORK
    assert all(c.token == b.token for c in ok_posts(fake_slack))
    assert pending_work(redis_client, key_prefix) == 0


def test_rereviews_acknowledged_by_a_replica_killed_before_posting_are_done_once_by_another(
    pair: tuple[Replica, Replica], fake_slack: FakeSlack, redis_client: redis.Redis, key_prefix: str
) -> None:
    a, b = pair
    verdict = b.client.decide()
    reactors = [f"U0KILL{i}" for i in range(KILLED_WORK)]
    for reactor in reactors:
        assert a.client.event(reaction(verdict, user=reactor)).status == 200
    kill_after_attempts(fake_slack, a, lambda calls: len(calls) >= KILLED_WORK)

    def replies() -> Counter[str]:
        posted = [c for c in ok_posts(fake_slack) if c.args.get("thread_ts") == verdict]
        return Counter(who for c in posted for who in markers(REREVIEWED, c))

    took = wait_until(
        lambda: set(replies()) >= set(reactors), timeout=TAKEOVER_SECONDS, what="re-reviews replica A acknowledged"
    )
    report(f"re-reviews of the killed replica done by another {took:.1f} s after the kill")
    settle()
    assert replies() == Counter(reactors)
    assert len([c for c in ok_posts(fake_slack) if c.args.get("thread_ts") == verdict]) == 1 + KILLED_WORK
    updated = Counter(who for c in ok_updates(fake_slack) for who in markers(UPDATED, c))
    assert updated == Counter(reactors)  # the verdict message updated once per re-review
    decision = DecisionStore(redis_client, prefix=key_prefix).decision_for_thread(
        workspace=TEAM, channel=CHANNEL, thread_ts=verdict
    )
    assert decision is not None
    assert sorted(v.by for v in decision.versions) == sorted([USER, *reactors])
    assert pending_work(redis_client, key_prefix) == 0


# --- three digest runners at once -------------------------------------------------------------------------------------

AT = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # a Monday after 09:00 UTC: the digest of 2026-W49 is due
PERIOD = Schedule().latest_due(AT)
PER_CHANNEL = 60  # a summary and two thread messages
RUNNERS = ("xoxb-digest-a", "xoxb-digest-b", "xoxb-digest-c")


def seed_week(store: DecisionStore, ruleset: RuleSet, fake: FakeSlack, channel: str, count: int) -> None:
    """`count` decisions in `channel` during the due week, each with its verdict message in the fake Slack."""
    for i in range(count):
        at = PERIOD.start + timedelta(hours=1, minutes=7 * i)
        answers = Answers.model_validate({"use_case": f"{channel} case {i}", "n_stable_examples": 30})
        version = new_version(evaluate(ruleset, answers), by=USER, trigger=Trigger.SUBMIT)
        decision = store.create_decision(workspace=TEAM, channel=channel, requester=USER, version=version, now=at)
        ts = fake.add_message(channel, "verdict", user=fake.bot_user_id)
        delivery = Delivery(status=DeliveryStatus.POSTED, channel=channel, ts=ts, at=at + timedelta(seconds=2))
        store.record_delivery(workspace=TEAM, channel=channel, decision_id=decision.id, delivery=delivery)


def digest_run(replicas: Replicas, name: str, token: str, **settings: object) -> Process:
    """`should-finetune digest --at AT` as a cron job runs it, with no pause between posts."""
    return replicas.command(
        name, "digest", "--at", AT.isoformat(), token=token, digest_post_interval_seconds=0, **settings
    )


def check_one_digest_each(fake: FakeSlack, channels: list[str]) -> dict[str, Call]:
    """Each channel has one summary, and in its thread every decision of the week listed exactly once; the
    summaries by channel."""
    posts = ok_posts(fake)
    summaries = {}
    for channel in channels:
        [summary] = [c for c in posts if c.args["channel"] == channel and not c.args.get("thread_ts")]
        assert summary.response is not None
        thread = [c for c in posts if c.args.get("thread_ts") == summary.response["ts"]]
        assert len(thread) == 2, [text(c)[:80] for c in thread]
        listed = "\n".join(text(c) for c in thread)
        counts = [listed.count(f"|{channel} case {i}>") for i in range(PER_CHANNEL)]
        assert counts == [1] * PER_CHANNEL, counts
        summaries[channel] = summary
    assert len(posts) == 3 * len(channels)  # nothing else was posted anywhere
    return summaries


def results(run: Process) -> dict[str, str]:
    """What a digest run printed for each channel: sent, busy, already..."""
    found = {}
    for line in run.output().splitlines():
        match = re.fullmatch(rf"{TEAM}:(C[A-Z0-9]+): (\w+).*", line)
        if match:
            found[match[1]] = match[2]
    return found


def test_three_digest_runners_started_together_send_one_digest_per_channel(
    replicas: Replicas,
    fake_slack: FakeSlack,
    store: DecisionStore,
    fixture_ruleset: RuleSet,
    redis_client: redis.Redis,
    key_prefix: str,
) -> None:
    channels = ["C0DIGESTA", "C0DIGESTB", "C0DIGESTC", "C0DIGESTD"]
    for channel in channels:
        seed_week(store, fixture_ruleset, fake_slack, channel, PER_CHANNEL)
    fake_slack.set_delay("chat.postMessage", 0.5)  # alone, one runner would take 6 s: the three overlap
    runs = [digest_run(replicas, f"digest-{n}", token) for n, token in enumerate(RUNNERS)]
    codes = [run.wait(120) for run in runs]
    assert codes == [0, 0, 0], replicas.report()
    check_one_digest_each(fake_slack, channels)
    sent = Counter(channel for run in runs for channel, result in results(run).items() if result == "sent")
    assert sent == Counter(channels)
    senders = {run.name for run in runs if "sent" in results(run).values()}
    assert len(senders) >= 2, f"the runs did not overlap, so this proves little: {senders}"
    digests = DigestStore(redis_client, prefix=key_prefix)
    assert all(digests.done(workspace=TEAM, channel=c, period=PERIOD.key) for c in channels)

    # Run again, all three: the period is marked done, nothing more is posted.
    fake_slack.set_delay("chat.postMessage", 0)
    again = [digest_run(replicas, f"again-{n}", token) for n, token in enumerate(RUNNERS)]
    assert [run.wait(60) for run in again] == [0, 0, 0]
    assert all(results(run) == {} for run in again)
    check_one_digest_each(fake_slack, channels)


def test_a_digest_runner_killed_half_way_is_continued_once_by_another(
    replicas: Replicas,
    fake_slack: FakeSlack,
    store: DecisionStore,
    fixture_ruleset: RuleSet,
    redis_client: redis.Redis,
    key_prefix: str,
) -> None:
    lock_seconds = 6
    channels = ["C0DIGESTA", "C0DIGESTB", "C0DIGESTC"]
    for channel in channels:
        seed_week(store, fixture_ruleset, fake_slack, channel, PER_CHANNEL)
    doomed, *others = RUNNERS
    # The doomed runner's summary goes out; its next post hangs until it is killed (and would fail after).
    fake_slack.fail("chat.postMessage", token=doomed, status=503, delay=600, after=1)
    # The others wait out a 429 while building their first digest, so the doomed one gets a channel of its own.
    for token in others:
        fake_slack.fail("chat.getPermalink", token=token, status=429, retry_after=3)
    runs = [
        digest_run(replicas, f"digest-{n}", token, digest_lock_seconds=lock_seconds) for n, token in enumerate(RUNNERS)
    ]

    def doomed_posts() -> list[Call]:
        return [c for c in ok_posts(fake_slack) if c.token == doomed]

    wait_until(lambda: bool(doomed_posts()), timeout=60, what="the doomed runner posting a summary")
    time.sleep(0.5)  # it is in its next, hanging, post by now
    runs[0].kill()
    killed = time.monotonic()
    [half_sent] = doomed_posts()
    channel = half_sent.args["channel"]

    # Later runs (the scheduler's next looks, or cron's) by the other two finish it once the dead runner's lock has
    # run out; until then they report the channel busy.
    digests = DigestStore(redis_client, prefix=key_prefix)
    rounds = [runs[1:]]
    while True:
        assert [run.wait(120) for run in rounds[-1]] == [0, 0], replicas.report()
        if digests.done(workspace=TEAM, channel=channel, period=PERIOD.key):
            break
        assert time.monotonic() - killed < lock_seconds + 60, "the killed runner's digest was not taken over"
        n = len(rounds)
        rounds.append(
            [
                digest_run(replicas, f"round-{n}-{i}", token, digest_lock_seconds=lock_seconds)
                for i, token in enumerate(others)
            ]
        )
    report(
        f"digest of a killed runner finished {time.monotonic() - killed:.1f} s after the kill, {len(rounds)} round(s)"
    )

    summaries = check_one_digest_each(fake_slack, channels)
    assert summaries[channel] == half_sent  # continued in the killed runner's thread, not started again
    assert half_sent.response is not None
    thread = [c for c in ok_posts(fake_slack) if c.args.get("thread_ts") == half_sent.response["ts"]]
    assert {c.token for c in thread} <= set(others)
    # Nobody took the channel over while the dead runner's lock lasted (renewed after its summary was accepted).
    assert min(c.at for c in thread) >= half_sent.at + lock_seconds
    assert all(digests.done(workspace=TEAM, channel=c, period=PERIOD.key) for c in channels)
