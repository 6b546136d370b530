"""Benchmark of follow-ups, run as `.venv/bin/python benchmarks/bench_followups.py [--seconds 20] [--quick] [--json]`.

Two measurements, in one run, against one Redis (an embedded `redis-server`, see `bot.embedded_redis`, unless
REDIS_URL is set; then every key lives under a prefix of the run's own and only those keys are deleted at the end).

**Redis memory** (`MEMORY USAGE key SAMPLES 0`, which counts the key's name, its value and the allocator's rounding;
target 3 KB = 3,072 bytes each), with the bot's own services (`bot.runtime.open_services`) in this process, talking
to an in-process fake Slack (`tests.fakeslack.FakeSlack`) that answers at once:

* per stored decision: `--decisions` (200) decisions made through `DecisionService.decide` from varied, realistic
  answers (a use case of about 40 characters and notes of about 100 in every one), each with a POSTED delivery
  recorded through `DecisionStore.record_delivery`, all in one channel. Reported: the decision's hash plus its
  versions list (median and max over the decisions), and each decision's share of the channel's two indexes (the
  sorted set of decision ids and the threads hash): their total size divided by the number of decisions. The
  indexes' encoding (and so their size per entry) changes with their length, which the table shows.
* per 10-turn conversation: `--conversations` (50) verdict threads (decisions as above, in a second channel), each
  asked 10 follow-ups through the real code path without Slack's HTTP: `FollowUps.receive(Question(...))` with
  `parent_is_bot` true, the answer worked out on the bot's worker threads and posted to the fake Slack, waiting for
  each round's replies before the next question. Every thread gets the same ten questions ("why", "what if we had
  600 examples", "and if we tried dspy", "answers", ..., "help"), rotated by one per thread, so each question is
  asked at every position. Ten turns is the most a conversation keeps (`bot.store.MAX_TURNS`), so this is the
  largest a conversation key gets. Reported: the conversation key (median, max), one finished claim marker
  (`...:work:message.<ts>`, median) and the ten claim markers of one conversation together (they expire an hour after
  the message), all measured after the services shut down, so every claim is finished.

**Follow-up handling time** on loopback, open loop at `--rate` (50) events per second for `--seconds` (20): the
load generator sends signed `message` event callbacks (the shapes of `tests.slack_support.thread_message` and
`event_callback`, parent_user_id "U0BOT", the fake's bot user), one event per verdict thread, the questions
alternating between "why" and "what if we had N examples". The verdict threads are made beforehand by writing
decisions with POSTED deliveries straight into the bot's Redis under the bot's prefix (`DecisionService.decide` and
`record_delivery`, as above; quicker than going through the form). 10% of the events are delivered a second time
right after the first delivery's response, as Slack redelivers: same body and event_id, `X-Slack-Retry-Num: 1`.
Measured for each event:

* the HTTP response (send to last byte, on a new TCP connection);
* event to reply: the fake Slack's arrival time of the first `chat.postMessage` whose `thread_ts` is the event's
  thread, minus the time the event was sent (the fake stamps a call on arrival, before its `--delay-ms` delay);
* replies per thread: a thread with more than one reply is a duplicate, one with no reply within 5 s is lost.

The baseline is a bare Bolt app served by waitress with the same threads, whose `message` listener posts one fixed
reply into the event's thread (Bolt's default `process_before_response=False`: the event is acknowledged first and
the listener runs on Bolt's listener executor, here sized like the bot's worker pool). It gets the same event bodies
on the same schedule, redeliveries included (it does not deduplicate them, so its duplicates are expected and only
shown). Layout and garbage collection as in `bench_slack.py`: the fake Slack, the bot and the bare Bolt app each in a
process of their own (multiprocessing "spawn"); the bot's collector runs as in production, the load generator's is
off during a phase and the fake Slack's runs between phases only.

A request fails when it gets no answer or a status other than 200, or (for a first delivery) when its reply does
not reach the fake Slack with `ok: true` within 5 s. The script prints PASS/FAIL against the memory targets and for
duplicates and lost replies (both must be 0) but does not gate on them: it exits 0 unless it crashes, more than 1%
of the requests failed, or the bot posted a duplicate reply.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the bot, the fake Slack and request helpers
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the harness of bench_slack.py

import redis
from bench_slack import (
    DEFAULT_DELAY_MS,
    DEFAULT_THREADS,
    DEFAULT_WORKERS,
    FOLLOW_UP_TIMEOUT,
    MAX_FAILED_FRACTION,
    CallTuple,
    Child,
    Phase,
    Sample,
    Stats,
    _child_main,
    _json_ready,
    _loadavg,
    _ms,
    _ratio,
    await_follow_ups,
    bot_process,
    machine_info,
    on_schedule,
    redis_for_benchmark,
    send,
    serve_bare_app,
    summarize,
)
from bench_slack import (
    fake_slack_process as slack_fake_process,
)
from slack_bolt import App
from slack_sdk import WebClient

from bot.decisions import DecisionService
from bot.engine.answers import Answers, Failure
from bot.engine.ruleset import load_ruleset
from bot.resources import default_rules_dir
from bot.runtime import open_services
from bot.settings import Settings
from bot.slack.threads import Question
from bot.store import DecisionStore, Delivery, DeliveryStatus, connect_redis
from tests.fakeslack import FakeSlack
from tests.slack_support import (
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    TEAM,
    USER,
    event_callback,
    message_ts,
    new_event_id,
    thread_message,
)

TARGET_BYTES = 3 * 1024  # 3 KB per decision and per conversation

DEFAULT_RATE = 50.0
DEFAULT_SECONDS = 20.0
DEFAULT_WARMUP_SECONDS = 2.0
QUICK_SECONDS = 5.0
QUICK_WARMUP_SECONDS = 1.0
DEFAULT_DECISIONS = 200
DEFAULT_CONVERSATIONS = 50
TURNS = 10
REDELIVERED_FRACTION = 0.10
SEED = 42

JSON_TYPE = "application/json"
PRODUCTION_PREFIX: str = Settings.model_fields["redis_prefix"].default
MEMORY_CHANNEL = "C0MEMORY"  # the decisions measured one by one; nothing else lives in this channel
TALK_CHANNEL = "C0TALK"  # the threads of the 10-turn conversations
OTHER_USER = "U0OTHER"
BARE_REPLY = "Thanks, noted."

# The ten follow-ups of a conversation, in the order a person might ask them; each thread starts at another one.
CONVERSATION = (
    "why",
    "what if we had 600 examples",
    "and if we tried dspy",
    "answers",
    "what if requirements change monthly and it's a knowledge problem",
    "reset",
    "rules",
    "what if there is no eval set",
    "and if 120 examples",
    "help",
)
# How the bot's answers to the load's two questions begin (templates/slack/followup.json.j2).
EXPECTED_REPLY = {"why": ":mag:", "what-if": ":thinking_face:"}

USE_CASES = (
    "Support-ticket triage for the EMEA queue",
    "Invoice line-item extraction from PDFs",
    "Contract clause tagging for the legal team",
    "SQL generation over the analytics warehouse",
    "Tone rewrite of outbound sales emails",
    "Product attribute extraction from listings",
    "Claims coding suggestions for adjusters",
    "Summaries of code-review threads in GitLab",
    "Routing of IT helpdesk chats to resolver groups",
    "Release-note drafting from merged PR titles",
)
NOTES = (
    "Reviewers flagged hallucinated fields in about 4% of outputs; legal wants a human check before any launch.",
    "We have a labelled set from Q3 but the taxonomy changed in October, so roughly a third of labels are stale.",
    "Latency budget is 800 ms end to end; the current prompt is 3k tokens and the vendor bills per input token.",
    "Two teams own the prompt and keep overwriting each other's changes; no eval set yet, only spot checks.",
    "Pilot with 40 agents went well, but quality drops on non-English tickets (German and Polish especially).",
    "Output must follow the JSON schema exactly; today roughly 1 in 200 responses fails to parse downstream.",
)


# --- realistic decisions ------------------------------------------------------------------------------------


def realistic_answers(rng: random.Random) -> Answers:
    """Answers as a team fills in the form: a use case and notes always, most other facts, some left unanswered."""
    values: dict[str, Any] = {"use_case": rng.choice(USE_CASES), "notes": rng.choice(NOTES)}

    def maybe(name: str, value: Any, answered: float = 0.8) -> None:
        if rng.random() < answered:
            values[name] = value

    maybe("n_stable_examples", rng.choice([0, 25, 30, 80, 150, 400, 600, 1_200, 5_000, 20_000]), 0.95)
    maybe("primary_failure", rng.choice(list(Failure)).value, 0.95)
    maybe("change_freq_days", rng.choice([1, 7, 14, 30, 90, 180, 365]), 0.9)
    tried_prompt = rng.random() < 0.8
    values["tried_prompt_iteration"] = tried_prompt
    if tried_prompt:
        maybe("prompt_iterations", rng.randint(1, 40))
        if "prompt_iterations" in values:
            maybe("prompt_authors", rng.randint(1, 5), 0.6)
    for name in ("tried_few_shot", "tried_rag", "tried_cot", "tried_dspy", "has_eval_set"):
        maybe(name, rng.random() < 0.5)
    for name in ("needs_citations", "style_describable", "latency_sensitive", "chasing_small_benchmark_gain"):
        maybe(name, rng.random() < 0.3, 0.6)
    maybe("n_tools", rng.choice([0, 1, 3, 8, 20]), 0.5)
    maybe("daily_calls", rng.choice([100, 2_000, 15_000, 250_000]), 0.7)
    maybe("retrain_cadence_days", rng.choice([30, 90, 180]), 0.4)
    return Answers.model_validate(values)


def make_threads(
    decisions: DecisionService, channel: str, thread_ts: Sequence[str], rng: random.Random
) -> dict[str, str]:
    """One decision per thread ts, its verdict recorded as POSTED at that ts in `channel`; {ts: decision id}."""
    made: dict[str, str] = {}
    for ts in thread_ts:
        requester = rng.choice([USER, OTHER_USER])
        decided = decisions.decide(workspace=TEAM, channel=channel, requester=requester, answers=realistic_answers(rng))
        delivery = Delivery(status=DeliveryStatus.POSTED, channel=channel, ts=ts, at=datetime.now(UTC))
        decisions.store.record_delivery(
            workspace=TEAM, channel=channel, decision_id=decided.decision.id, delivery=delivery
        )
        made[ts] = decided.decision.id
    return made


def thread_timestamps(base: int, count: int) -> list[str]:
    """`count` verdict message ts, distinct from every other set (and from the people's messages of message_ts)."""
    return [f"{base}.{n:06d}" for n in range(1, count + 1)]


# --- part 1: Redis memory -----------------------------------------------------------------------------------


def memory_usage(client: redis.Redis, key: str) -> int:
    """MEMORY USAGE with every element counted (SAMPLES 0); KeyError when the key does not exist."""
    usage = client.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0")
    if usage is None:
        raise KeyError(key)
    return int(usage)


def encoding(client: redis.Redis, key: str) -> str:
    return str(client.object("encoding", key))


def byte_stats(values: Sequence[float]) -> dict[str, float]:
    return {"n": len(values), "median": statistics.median(values), "max": max(values)} if values else {"n": 0}


def _channel_key(prefix: str, channel: str) -> str:
    return f"{prefix}:{{{TEAM}:{channel}}}"  # the layout documented in bot/store/__init__.py


def wait_for_replies(fake: FakeSlack, threads: Sequence[str], count: int) -> int:
    """Wait until every thread has `count` replies (or FOLLOW_UP_TIMEOUT passed); how many threads fell short."""
    deadline = time.monotonic() + FOLLOW_UP_TIMEOUT
    while True:
        replies = Counter(str(call.args.get("thread_ts")) for call in fake.calls("chat.postMessage"))
        short = sum(1 for ts in threads if replies[ts] < count)
        if not short or time.monotonic() > deadline:
            return short
        time.sleep(0.01)


def measure_memory(redis_url: str, prefix: str, *, decisions: int, conversations: int) -> dict[str, Any]:
    """Part 1: the bytes one stored decision and one 10-turn conversation take in Redis."""
    rng = random.Random(SEED)
    mem_channel, talk_channel = _channel_key(prefix, MEMORY_CHANNEL), _channel_key(prefix, TALK_CHANNEL)
    with FakeSlack() as fake:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=fake.url,
            redis_url=redis_url,
            redis_prefix=prefix,
            threads=8,
        )
        with open_services(settings) as services:
            made = make_threads(services.decisions, MEMORY_CHANNEL, thread_timestamps(1740000000, decisions), rng)
            talks = list(
                make_threads(services.decisions, TALK_CHANNEL, thread_timestamps(1750000000, conversations), rng)
            )
            asked: dict[str, list[str]] = {ts: [] for ts in talks}
            short = 0
            for turn in range(TURNS):
                for n, thread in enumerate(talks):
                    ts = message_ts()
                    asked[thread].append(ts)
                    question = Question(
                        workspace=TEAM,
                        channel=TALK_CHANNEL,
                        thread_ts=thread,
                        ts=ts,
                        user=OTHER_USER if (n + turn) % 5 == 0 else USER,
                        text=CONVERSATION[(n + turn) % len(CONVERSATION)],
                        mentioned=False,
                        parent_is_bot=True,
                    )
                    services.followups.receive(question, event_id=new_event_id())
                short += wait_for_replies(fake, talks, turn + 1)
        # The services drained their worker threads on the way out: every claim is finished now.
        fake_errors = list(fake.errors)
    client = connect_redis(redis_url, socket_timeout=5.0)
    try:
        both, hashes, lists, json_bytes = [], [], [], []
        for decision_id in made.values():
            key = f"{mem_channel}:decision:{decision_id}"
            hashes.append(memory_usage(client, key))
            lists.append(memory_usage(client, f"{key}:versions"))
            both.append(hashes[-1] + lists[-1])
            fields = client.hgetall(key)
            version = client.lindex(f"{key}:versions", 0) or ""
            json_bytes.append(sum(len(v.encode()) for v in fields.values()) + len(version.encode()))
        index_key, threads_key = f"{mem_channel}:decisions", f"{mem_channel}:threads"
        index_share = memory_usage(client, index_key) / len(made)
        threads_share = memory_usage(client, threads_key) / len(made)
        conversation_bytes, data_bytes, markers, per_talk = [], [], [], []
        for thread, message_ts_list in asked.items():
            key = f"{talk_channel}:conversation:{thread}"
            conversation_bytes.append(memory_usage(client, key))
            data_bytes.append(len((client.hget(key, "data") or "").encode()))
            sizes = [memory_usage(client, f"{talk_channel}:work:message.{ts}") for ts in message_ts_list]
            markers += sizes
            per_talk.append(sum(sizes))
        sample_thread, sample_ts = talks[0], asked[talks[0]][0]
        marker_key = f"{talk_channel}:work:message.{sample_ts}"
        result = {
            "prefix": prefix,
            "decisions": len(made),
            "decision_hash": byte_stats(hashes),
            "versions_list": byte_stats(lists),
            "decision_keys": byte_stats(both),
            "decision_json_bytes": byte_stats(json_bytes),
            "index_share": index_share,
            "threads_share": threads_share,
            "decision_total": byte_stats([b + index_share + threads_share for b in both]),
            "conversations": len(talks),
            "turns": TURNS,
            "conversation": byte_stats(conversation_bytes),
            "conversation_json_bytes": byte_stats(data_bytes),
            "claim_marker": byte_stats(markers),
            "claim_markers_per_conversation": byte_stats(per_talk),
            "conversation_with_markers": byte_stats([a + b for a, b in zip(conversation_bytes, per_talk, strict=True)]),
            "claim_marker_fields": sorted(client.hkeys(marker_key)),
            "claim_marker_ttl_hours": client.pttl(marker_key) / 3_600_000,
            "conversation_ttl_days": client.pttl(f"{talk_channel}:conversation:{sample_thread}") / 86_400_000,
            "encodings": {
                "decision hash": encoding(client, f"{mem_channel}:decision:{next(iter(made.values()))}"),
                "versions list": encoding(client, f"{mem_channel}:decision:{next(iter(made.values()))}:versions"),
                "index sorted set": encoding(client, index_key),
                "threads hash": encoding(client, threads_key),
                "conversation hash": encoding(client, f"{talk_channel}:conversation:{sample_thread}"),
                "claim marker hash": encoding(client, marker_key),
            },
            "threads_short_of_replies": short,
            "pending_claims_left": client.zcard(f"{prefix}:work:pending"),
            "fake_slack_errors": fake_errors,
        }
    finally:
        client.close()
    return result


# --- part 2: the servers ------------------------------------------------------------------------------------


def _thread_call(call: Any) -> CallTuple:
    """A call as bench_slack's helpers read it, keyed by the thread it was posted in."""
    thread_ts = call.args.get("thread_ts") if call.method == "chat.postMessage" else None
    key = str(thread_ts) if thread_ts else None
    ok = bool(call.response.get("ok")) if isinstance(call.response, dict) else False
    return (call.method, call.at, call.status, ok, key, key is not None)


def threaded_replies(fake: FakeSlack) -> list[tuple[str, str]]:
    """The (thread_ts, start of text) of every threaded `chat.postMessage` the fake received."""
    posts = fake.calls("chat.postMessage")
    return [(str(c.args["thread_ts"]), str(c.args.get("text"))[:40]) for c in posts if c.args.get("thread_ts")]


def fake_slack_process(conn: Connection) -> None:
    """bench_slack's fake Slack with calls keyed by thread_ts (bench_slack keys them by use case) and one more
    command, `replies`."""
    slack_fake_process(conn, _thread_call, {"replies": threaded_replies})


def build_bare_app(api_url: str, threads: int) -> App:
    """The baseline: Bolt whose `message` listener posts one fixed reply in the event's thread, after the ack."""
    app = App(
        client=WebClient(token=BOT_TOKEN, base_url=api_url),
        signing_secret=SIGNING_SECRET,
        token_verification_enabled=False,
        process_before_response=False,  # Bolt's default: ack at once, run the listener on the executor
        listener_executor=ThreadPoolExecutor(max_workers=threads),  # as many workers as the bot's pool
    )

    @app.event("message")
    def reply_in_thread(event: dict[str, Any], client: WebClient) -> None:
        client.chat_postMessage(channel=event["channel"], thread_ts=event["thread_ts"], text=BARE_REPLY)

    return app


def bare_bolt_process(conn: Connection, api_url: str, threads: int) -> None:
    """The bare Bolt app, served as bench_slack serves its baseline."""
    _child_main("bare-bolt", conn, lambda conn: serve_bare_app(conn, build_bare_app(api_url, threads), threads))


# --- the load -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One `message` event callback in the thread `key`, and whether Slack delivers it twice."""

    key: str  # the verdict's ts, i.e. the thread
    body: bytes
    question: str  # "why" or "what-if"
    redeliver: bool


def make_events(thread_ts: Sequence[str], rng: random.Random) -> list[Event]:
    """One event per thread, "why" and "what if we had N examples" alternating; 10% of them redelivered."""
    redelivered = set(rng.sample(range(len(thread_ts)), k=round(len(thread_ts) * REDELIVERED_FRACTION)))
    events = []
    for n, ts in enumerate(thread_ts):
        kind = "why" if n % 2 == 0 else "what-if"
        text = "why" if kind == "why" else f"what if we had {rng.choice([40, 75, 120, 600, 2_500])} examples"
        callback = event_callback(thread_message(text, thread_ts=ts), event_id=new_event_id())
        events.append(Event(ts, json.dumps(callback).encode(), kind, n in redelivered))
    return events


def send_events(port: int, events: Sequence[Event], *, rate: float, workers: int) -> tuple[list[Sample], list[Sample]]:
    """Send event i at start + i/rate whatever the earlier answers take, and a redelivery right after its first
    delivery's response where asked; (first deliveries, redeliveries)."""
    firsts: list[Sample | None] = [None] * len(events)
    seconds: list[Sample | None] = [None] * len(events)
    redelivery = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}

    def job(i: int, lag: float) -> None:
        event = events[i]
        firsts[i] = send(port, event.key, event.body, lag, content_type=JSON_TYPE)
        if event.redeliver:
            seconds[i] = send(port, event.key, event.body, 0.0, content_type=JSON_TYPE, headers=redelivery)

    on_schedule(len(events), rate=rate, workers=workers, job=job)
    return [s for s in firsts if s is not None], [s for s in seconds if s is not None]


def run_phase(
    name: str, fake: Child, server: Child, events: Sequence[Event], *, rate: float, workers: int, ours: bool
) -> dict[str, Any]:
    """One open-loop phase against one server; then the replies it caused, counted per thread."""
    firsts, redeliveries = send_events(server.ready, events, rate=rate, workers=workers)
    server.check_alive()
    replies_at = await_follow_ups(fake, firsts, "chat.postMessage", threaded=True)
    replies: list[tuple[str, str]] = fake.ask("replies")
    fake_errors: list[str] = fake.ask("reset")

    per_thread = Counter(ts for ts, _ in replies)
    first_text: dict[str, str] = {}
    for ts, text in replies:
        first_text.setdefault(ts, text)
    kinds = {event.key: event.question for event in events}
    lost = 0
    delays: dict[str, list[float]] = {kind: [] for kind in EXPECTED_REPLY}
    for sample in firsts:
        call = replies_at.get(sample.key)
        if call is None or call[1] - sample.sent_at > FOLLOW_UP_TIMEOUT:
            lost += 1
        else:
            delays[kinds[sample.key]].append(call[1] - sample.sent_at)
    # When the slowest 1% of the replies' events were sent: all close together means one stall (a collection, say).
    slow = sorted(
        (call[1] - sample.sent_at, sample.sent_at)
        for sample in firsts
        if (call := replies_at.get(sample.key)) is not None
    )[-max(1, len(firsts) // 100) :]
    phase_start = min((sample.sent_at for sample in firsts), default=0.0)
    slowest_sent = sorted(at - phase_start for _, at in slow)
    unexpected = 0
    if ours:  # the bot's answer must be the answer to the question, not a "storage unavailable" notice
        unexpected = sum(1 for ts, text in first_text.items() if not text.startswith(EXPECTED_REPLY[kinds[ts]]))
    return {
        "first": summarize(name, firsts, replies_at),
        "redelivered": summarize(f"{name} (redeliveries)", redeliveries),
        "by_question": {kind: Stats.of(values) for kind, values in delays.items()},
        "events": len(events),
        "redeliveries": len(redeliveries),
        "threads_replied": len(per_thread),
        "duplicates": sum(count - 1 for count in per_thread.values() if count > 1),
        "lost": lost,
        "unexpected_replies": unexpected,
        "stray_replies": sum(1 for ts in per_thread if ts not in kinds),
        "slowest_sent_s": slowest_sent,
        "fake_slack_errors": fake_errors,
    }


def measure_load(
    redis_url: str,
    prefix: str,
    *,
    rate: float,
    seconds: float,
    warmup: float,
    delay_ms: float,
    threads: int,
    workers: int,
) -> dict[str, Any]:
    """Part 2: follow-up handling time of the bot and the bare Bolt app, with the fake Slack answering late."""
    rng = random.Random(SEED + 1)
    n = max(1, round(seconds * rate))
    n_warm = max(5, round(warmup * rate))
    all_threads = thread_timestamps(1760000000, n_warm + n)
    client = connect_redis(redis_url, socket_timeout=5.0)
    try:
        decisions = DecisionService(
            store=DecisionStore(client, prefix=prefix), ruleset=load_ruleset(default_rules_dir())
        )
        started = time.perf_counter()
        make_threads(decisions, CHANNEL, all_threads, rng)
        setup_seconds = time.perf_counter() - started
    finally:
        client.close()
    warm_events, events = make_events(all_threads[:n_warm], rng), make_events(all_threads[n_warm:], rng)

    children: list[Child] = []
    try:
        fake = Child("fake-slack", fake_slack_process)
        children.append(fake)
        api_url = fake.ready["api_url"]
        bot = Child("bot", bot_process, api_url, redis_url, prefix, threads)
        children.append(bot)
        bare = Child("bare-bolt", bare_bolt_process, api_url, threads)
        children.append(bare)

        fake.ask("delay", delay_ms / 1000)
        for server, ours in ((bot, True), (bare, False)):  # unmeasured: Bolt's auth.test, first imports, pools
            run_phase("warm-up", fake, server, warm_events, rate=rate, workers=workers, ours=ours)
        gc.collect()
        phases = {
            "bot": run_phase("bot", fake, bot, events, rate=rate, workers=workers, ours=True),
            "bare": run_phase("bare Bolt", fake, bare, events, rate=rate, workers=workers, ours=False),
        }
    finally:
        for child in reversed(children):
            child.stop()
    return {"events_per_phase": n, "warmup_events": n_warm, "setup_seconds": setup_seconds, "phases": phases}


# --- reporting ----------------------------------------------------------------------------------------------


def _bytes(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f} B"


def _stat_cells(stats: Mapping[str, float]) -> tuple[str, str]:
    return _bytes(stats.get("median", math.nan)), _bytes(stats.get("max", math.nan))


def _pass(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def memory_table(memory: Mapping[str, Any]) -> list[str]:
    n, talks = memory["decisions"], memory["conversations"]
    enc = memory["encodings"]
    total, conversation = memory["decision_total"], memory["conversation"]
    target = f"≤ {TARGET_BYTES:,} B"
    rows = [
        (f"Decision: hash (`meta`, `delivery`), {n} decisions", *_stat_cells(memory["decision_hash"]), "", ""),
        ("Decision: versions list (one version)", *_stat_cells(memory["versions_list"]), "", ""),
        ("Decision: hash + versions list", *_stat_cells(memory["decision_keys"]), "", ""),
        ("  of which JSON values (meta + delivery + version)", *_stat_cells(memory["decision_json_bytes"]), "", ""),
        (f"Decision: share of the channel's `decisions` sorted set (total / {n})", _bytes(memory["index_share"]),
         "", "", ""),
        (f"Decision: share of the channel's `threads` hash (total / {n})", _bytes(memory["threads_share"]), "", "",
         ""),
        ("**Per stored decision** (keys + both shares)", *_stat_cells(total), target,
         _pass(total["max"] <= TARGET_BYTES)),
        (f"**Conversation key after {memory['turns']} turns** ({talks} threads)", *_stat_cells(conversation), target,
         _pass(conversation["max"] <= TARGET_BYTES)),
        ("  of which the `data` JSON", *_stat_cells(memory["conversation_json_bytes"]), "", ""),
        ("One finished claim marker (`work:message.<ts>`)", *_stat_cells(memory["claim_marker"]), "", ""),
        (f"The {memory['turns']} claim markers of one conversation (for an hour)",
         *_stat_cells(memory["claim_markers_per_conversation"]), "", ""),
        ("Conversation + its claim markers, during the first hour", *_stat_cells(memory["conversation_with_markers"]),
         "", ""),
    ]  # fmt: skip
    lines = [
        "| Redis key(s), `MEMORY USAGE … SAMPLES 0` | median | max | Target | Pass? |",
        "|---|---:|---:|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
        "Encodings: " + "; ".join(f"{name}: `{value}`" for name, value in enc.items()) + ". "
        f"Key prefix `{memory['prefix']}` ({len(memory['prefix'])} characters; every key name counts). "
        f"A finished claim marker keeps {', '.join(f'`{f}`' for f in memory['claim_marker_fields'])} and expires "
        f"after {memory['claim_marker_ttl_hours']:.1f} h; a conversation after {memory['conversation_ttl_days']:.0f} "
        f"days idle. Threads short of a reply: {memory['threads_short_of_replies']}; claims left pending: "
        f"{memory['pending_claims_left']}.",
    ]
    if memory["fake_slack_errors"]:
        lines += ["", f"The in-process fake Slack itself failed {len(memory['fake_slack_errors'])} time(s)."]
    return lines


def _row(label: str, stats: Stats) -> tuple[str, ...]:
    return (label, *(_ms(value) for value in stats.percentiles()), "")


def _ratio_row(label: str, ours: Stats, base: Stats) -> tuple[str, ...]:
    ratios = (_ratio(a, b) for a, b in zip(ours.percentiles(), base.percentiles(), strict=True))
    return (f"*{label}*", *ratios, "")


def load_table(load: Mapping[str, Any]) -> list[str]:
    bot, bare = load["phases"]["bot"], load["phases"]["bare"]
    bot_first, bare_first = bot["first"], bare["first"]
    assert bot_first.follow_up is not None
    assert bare_first.follow_up is not None
    rows = [
        _row("Event: HTTP response (bot)", bot_first.response),
        _row("Event: HTTP response (bare Bolt baseline)", bare_first.response),
        _ratio_row("ratio bot / baseline", bot_first.response, bare_first.response),
        _row("Event sent → reply at Slack (bot)", bot_first.follow_up),
        _row("Event sent → reply at Slack (bare Bolt baseline)", bare_first.follow_up),
        _ratio_row("ratio bot / baseline", bot_first.follow_up, bare_first.follow_up),
        _row('  bot, "why" events only', bot["by_question"]["why"]),
        _row('  bot, "what if we had N examples" events only', bot["by_question"]["what-if"]),
        _row("Redelivery (`X-Slack-Retry-Num: 1`): HTTP response (bot)", bot["redelivered"].response),
        _row("Redelivery: HTTP response (bare Bolt baseline)", bare["redelivered"].response),
    ]
    lines = [
        "| Metric | p50 | p99 | max | |",
        "|---|---:|---:|---:|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
        "| Server | Events | Redelivered | Failed | Duplicate replies | Lost (no reply in 5 s) | Wrong replies "
        "| Send lag p99 / max | Failures |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, phase, ours in (("bot", bot, True), ("bare Bolt", bare, False)):
        first: Phase = phase["first"]
        failed = first.failed + phase["redelivered"].failed
        failures = Counter(first.failures) + Counter(phase["redelivered"].failures)
        why = ", ".join(f"{reason}: {count}" for reason, count in failures.items()) or "none"
        duplicates = f"{phase['duplicates']} {_pass(phase['duplicates'] == 0)}" if ours else f"{phase['duplicates']}"
        lost = f"{phase['lost']} {_pass(phase['lost'] == 0)}" if ours else f"{phase['lost']}"
        wrong = str(phase["unexpected_replies"]) if ours else "n/a"
        lines.append(
            f"| {label} | {phase['events']} | {phase['redeliveries']} | {failed} | {duplicates} | {lost} | {wrong} "
            f"| {_ms(first.lag_p99_ms)} / {_ms(first.lag_max_ms)} | {why} |"
        )
    lines.append("")
    for label, phase in (("bot", bot), ("bare Bolt", bare)):
        sent = ", ".join(f"{at:.2f}" for at in phase["slowest_sent_s"])
        lines.append(
            f"- The {label}'s slowest 1% of replies were to events sent at {sent} s into its phase "
            "(several close together point to one stall, such as a garbage collection)."
        )
    errors = sum(len(p["fake_slack_errors"]) for p in (bot, bare))
    stray = sum(p["stray_replies"] for p in (bot, bare))
    if errors or stray:
        lines += ["", f"The fake Slack itself failed {errors} time(s); replies in threads not of this phase: {stray}."]
    return lines


def report(
    info: Mapping[str, Any], settings: Mapping[str, Any], memory: Mapping[str, Any], load: Mapping[str, Any]
) -> str:
    lines = [
        "## Follow-ups benchmark",
        "",
        f"**Date:** {info['date']}. **Machine:** {info['cpu']}, {info['cores']} cores ({info['platform']}); "
        f"{info['python']}, slack_bolt {info['slack_bolt']}, slack_sdk {info['slack_sdk']}, "
        f"waitress {info['waitress']}, redis-py {info['redis_py']}, redis-server {info['redis_server']}. "
        f"Load average at start / end: {_loadavg(info['loadavg_start'])} / {_loadavg(info['loadavg_end'])}.",
        "",
        f"**Redis:** {settings['redis']}.",
        "",
        f"### Redis memory (target ≤ 3 KB = {TARGET_BYTES:,} bytes per decision and per conversation)",
        "",
        *memory_table(memory),
        "",
        f"### Follow-up handling at {settings['rate']:g} events/s, the fake Slack answering after "
        f"{settings['delay_ms']:g} ms",
        "",
        f"**Settings:** {load['events_per_phase']} events per server ({settings['seconds']:g} s open-loop, after "
        f'{load["warmup_events"]} warm-up events), one verdict thread each, "why" and "what if we had N examples" '
        f"alternating, {REDELIVERED_FRACTION:.0%} redelivered right after their first response; "
        f"{settings['workers']} sender threads, a new TCP connection per request; the bot and the baseline each "
        f"served by waitress with {settings['threads']} threads. The "
        f"{load['events_per_phase'] + load['warmup_events']} verdict threads were written to Redis in "
        f"{load['setup_seconds']:.1f} s before the servers started.",
        "",
        f"**Layout:** {settings['layout']}",
        "",
        *load_table(load),
    ]
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="duration of each measured phase")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of unmeasured warm-up events")
    parser.add_argument("--quick", action="store_true", help=f"a {QUICK_SECONDS:g} s smoke run per phase")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="events per second")
    parser.add_argument("--delay-ms", type=float, default=DEFAULT_DELAY_MS, help="fake Slack answer delay in ms")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="waitress and background threads")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="load generator threads")
    parser.add_argument("--decisions", type=int, default=DEFAULT_DECISIONS, help="decisions measured for memory")
    parser.add_argument(
        "--conversations", type=int, default=DEFAULT_CONVERSATIONS, help="10-turn conversations measured for memory"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = QUICK_SECONDS
    if args.warmup is None:
        args.warmup = QUICK_WARMUP_SECONDS if args.quick else DEFAULT_WARMUP_SECONDS
    if args.decisions < 1 or args.conversations < 1:
        parser.error("--decisions and --conversations must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    prefix = f"bench-followups-{os.getpid()}-{int(time.time())}"
    with redis_for_benchmark(prefix) as (redis_url, redis_description):
        info = machine_info(redis_url)
        # A private embedded Redis gets the production prefix, so that key names are as long as in production.
        memory_prefix = f"{prefix}:mem" if os.environ.get("REDIS_URL") else PRODUCTION_PREFIX
        memory = measure_memory(redis_url, memory_prefix, decisions=args.decisions, conversations=args.conversations)
        gc.collect()  # the memory part's garbage is not the load phases' business
        load = measure_load(
            redis_url,
            f"{prefix}:load",
            rate=args.rate,
            seconds=args.seconds,
            warmup=args.warmup,
            delay_ms=args.delay_ms,
            threads=args.threads,
            workers=args.workers,
        )
    info["loadavg_end"] = os.getloadavg()
    settings = {
        "rate": args.rate,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "workers": args.workers,
        "threads": args.threads,
        "delay_ms": args.delay_ms,
        "redis": redis_description,
        "layout": (
            "load generator in the main process; fake Slack (tests/fakeslack.py), the bot (bot.server.SlackWSGI "
            "+ build_app, as `serve` runs it) and the bare Bolt app (slack_bolt.adapter.wsgi, its listener executor "
            "sized like the bot's worker pool) each in their own process; Redis in its own process."
        ),
    }
    if args.json:
        print(
            json.dumps(_json_ready({"machine": info, "settings": settings, "memory": memory, "load": load}), indent=2)
        )
    else:
        print(report(info, settings, memory, load))
    bot = load["phases"]["bot"]
    sent = sum(p[part].sent for p in load["phases"].values() for part in ("first", "redelivered"))
    failed = sum(p[part].failed for p in load["phases"].values() for part in ("first", "redelivered"))
    if sent and failed / sent > MAX_FAILED_FRACTION:
        print(f"\n{failed} of {sent} requests failed (over {MAX_FAILED_FRACTION:.0%}).", file=sys.stderr)
        return 1
    if bot["duplicates"]:
        print(f"\nThe bot posted {bot['duplicates']} duplicate replies.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
