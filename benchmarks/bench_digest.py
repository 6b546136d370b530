"""Weekly digest benchmark, run as `.venv/bin/python benchmarks/bench_digest.py [--quick] [--json] [--repeats N]`.

Measures building and composing one channel's weekly digest. `--repeats` defaults to 15 (5 with `--quick`); `--json`
prints one JSON object with every number instead of the table. Redis is an embedded `redis-server` (see
`bot.embedded_redis`) unless REDIS_URL is set; either way every key lives under a prefix of the run's own, and with
REDIS_URL only the keys under that prefix are deleted at the end.

**Seed (not timed).** For N = 100 (the baseline), 1,000 and 10,000, N decisions in one channel (each N under a key
prefix of its own, so each channel holds exactly its N), all written through `DecisionStore.create_decision` in a
plain loop (no pipelining), their `created_at` spread evenly over the period that
`Schedule().latest_due(2026-11-30 09:30 UTC)` returns: Monday 23 Nov 09:00 to Monday 30 Nov 09:00 UTC. Each one's
answers are varied and realistic (a use case of about 40 characters, a few with `<`, `&` or `*`; `n_stable_examples`
and most other facts drawn at random; notes of about 100 characters), evaluated with the rule set of
`load_settings(_env_file=None).rules_dir` and stored as `new_version(verdict, by=requester, trigger=SUBMIT)`, the
requester one of 20 users. Each gets a POSTED delivery (`record_delivery`, a unique ts, 2 s after it was created),
and every 10th one a re-review an hour later (`append_version`, trigger RE_REVIEW, by another user, its answers
changed as a re-review changes them: more examples, DSPy and an eval set tried), so the channel's activity log holds
N + N/10 rows for the period. The few of those made in the period's last hour (6 of the 10,000, none of the 100 or
1,000) are re-reviewed half-way between their creation and the period's end instead, so that every re-review falls
within the period.

**Timed**, `--repeats` times each, after one untimed call of each; `gc.collect()` before every timed block and the
collector left enabled, as in production. Each round times the five blocks in turn, so a noisy moment on the machine
hits them alike:

* range: `store.activity_between(...)` for the period alone (one ZRANGEBYSCORE and parsing the rows);
* build: `build_digest(store, ruleset, workspace, channel, period, links=<a permalink function>)`: the range query,
  the deliveries of decisions made before the period (none here), the decisions whose verdict was reached under other
  rules (none here: all were evaluated under the loaded rules, so nothing is loaded for drift), the four earlier
  weeks' counts (four ZCOUNTs) and the counting;
* render: `compose(renderer, digest, schedule="Monday 09:00 UTC")` on the digest built untimed, with one
  `Renderer(settings.template_dirs)` made and warmed up (one compose) before anything is timed;
* total: build and render together in one timed block, the figure the targets apply to;
* rules changed: build and render as in total, but with the rules edited as a policy change edits them (the
  few-stable-examples threshold lowered from 50 to 20, version 2026.12.0): every decision of the channel was then
  decided under other rules, so each is loaded in full and evaluated again, and those that would now come out
  differently are listed. This is the first digest after a rule change, until the decisions are re-reviewed; the
  targets do not apply to it.

How many full (generation-2) collections ran inside each kind of timed block, over all repeats, is reported too (a
`gc.callbacks` hook, installed only around the timed call): with the collector enabled, one of them can land in a
block and is part of what production would see.

Reported per N: median, p90 (linear interpolation) and min in milliseconds; the ratio of each median to the N = 100
baseline's (linear scaling would be 10x and 100x); how many messages `compose` returned and the largest one's block
count and characters (the text of its blocks, as Slack's 12,000-character limit counts them, and its JSON). Targets:
total median <= 30 ms for 1,000 decisions and <= 300 ms for 10,000. The script prints PASS/FAIL but does not gate on
them: it exits 0 unless it crashes (or the digest does not hold what was seeded).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the bot, when run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the other benchmarks' helpers

from bench_followups import realistic_answers as followup_answers
from bench_slack import machine_info as slack_machine_info
from bench_slack import redis_for_benchmark

from bot.decisions import new_version
from bot.digest.build import Digest, build_digest
from bot.digest.messages import compose
from bot.engine.answers import Answers
from bot.engine.ruleset import RuleSet, load_ruleset
from bot.engine.verdict import evaluate
from bot.schedule import Period, Schedule
from bot.settings import load_settings
from bot.slack import limits
from bot.slack.render import Renderer
from bot.store import DecisionStore, Delivery, DeliveryStatus, Trigger, connect_redis
from bot.store.activity import VersionRow
from tests.rules_support import copy_with_fewer_examples_needed
from tests.store_support import append_version

SEED = 42
SIZES = (100, 1_000, 10_000)
BASELINE = 100
TARGETS_MS = {1_000: 30.0, 10_000: 300.0}  # total (build + render) median
DEFAULT_REPEATS = 15
QUICK_REPEATS = 5
DUE = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
SCHEDULE_TEXT = "Monday 09:00 UTC"
REREVIEW_EVERY = 10
REREVIEW_AFTER = timedelta(hours=1)
POSTED_AFTER = timedelta(seconds=2)
PROGRESS_EVERY = 1_000

TEAM = "T0BENCH"
CHANNEL = "C0DIGEST"
REQUESTERS = tuple(f"U0ASK{n:02d}" for n in range(1, 21))
MEASUREMENTS = ("range", "build", "render", "total", "rules changed")

# About 40 characters each; a few with the characters mrkdwn escapes (`<`, `&`) or formats (`*`).
USE_CASES = (
    "Support-ticket triage for the EMEA queue",
    "Invoice line-item extraction from PDFs",
    "Contract clause tagging for legal review",
    "SQL generation over the analytics warehouse",
    "Tone rewrite of outbound sales emails",
    "Product attribute extraction from listings",
    "Claims coding suggestions for adjusters",
    "Summaries of code-review threads in GitLab",
    "Routing IT helpdesk chats to resolver groups",
    "Release-note drafting from merged PR titles",
    "Q&A over HR policy docs for new hires",
    "Tagging <urgent> tickets in the billing queue",
    "Rewrite *bold* marketing copy for the app store",
    "R&D lab notebook summaries for the chemists",
    "Call-centre transcript sentiment per agent",
    "Medical coding hints for outpatient visits",
    "Translate FAQ answers into German and Polish",
    "Extract KPIs from quarterly board decks",
    "Chatbot for order status <via> the shop API",
    "Classify expense receipts into GL accounts",
)
TEAMS = ("", "", "", " (EMEA)", " (US)", " v2", " pilot")
NOTES = (
    "Reviewers flagged hallucinated fields in about 4% of outputs; legal wants a human check before any launch.",
    "We have a labelled set from Q3 but the taxonomy changed in October, so roughly a third of labels are stale.",
    "Latency budget is 800 ms end to end; the current prompt is 3k tokens and the vendor bills per input token.",
    "Two teams own the prompt & keep overwriting each other's changes; no eval set yet, only spot checks so far.",
    "Pilot with 40 agents went well, but quality drops on non-English tickets (German and Polish especially).",
    "Output must follow the JSON schema exactly; today roughly 1 in 200 responses fails to parse downstream.",
    "The <system> prompt grew to 90 rules over six months and nobody dares to delete any of them any more.",
    "Most failures are *formatting*: tables come back as prose, and dates in three different formats a week.",
)


# --- the seed -----------------------------------------------------------------------------------------------


def realistic_answers(rng: random.Random) -> dict[str, Any]:
    """Answers as a team fills in the form (bench_followups' mix), with this benchmark's use cases (some with `<`,
    `&` and `*` to escape), notes and example counts."""
    values = followup_answers(rng).known()
    values["use_case"] = rng.choice(USE_CASES) + rng.choice(TEAMS)
    values["notes"] = rng.choice(NOTES)
    values["n_stable_examples"] = rng.choice([0, 12, 25, 30, 49, 80, 150, 199, 400, 600, 1_200, 5_000, 20_000])
    return values


def reviewed_answers(values: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    """The answers after a re-review: more examples collected, DSPy and an eval set tried, prompts iterated."""
    changed = dict(values)
    changed["n_stable_examples"] = max(int(values["n_stable_examples"]) * 4, rng.choice([60, 250, 800]))
    changed.update(tried_dspy=True, has_eval_set=True, tried_prompt_iteration=True)
    return changed


def seed_channel(store: DecisionStore, ruleset: RuleSet, period: Period, n: int, rng: random.Random) -> dict[str, Any]:
    """N decisions in one channel, spread evenly over `period`, each POSTED, every 10th re-reviewed an hour later."""
    step = (period.end - period.start) / n
    started = time.perf_counter()
    rereviews = sooner = 0
    for i in range(n):
        created = period.start + step * (i + 0.5)
        requester = rng.choice(REQUESTERS)
        values = realistic_answers(rng)
        verdict = evaluate(ruleset, Answers.model_validate(values))
        decision = store.create_decision(
            workspace=TEAM,
            channel=CHANNEL,
            requester=requester,
            version=new_version(verdict, by=requester, trigger=Trigger.SUBMIT),
            now=created,
        )
        ts = f"{int(created.timestamp())}.{i + 1:06d}"
        delivery = Delivery(status=DeliveryStatus.POSTED, channel=CHANNEL, ts=ts, at=created + POSTED_AFTER)
        store.record_delivery(workspace=TEAM, channel=CHANNEL, decision_id=decision.id, delivery=delivery)
        if i % REREVIEW_EVERY == 0:
            at = created + REREVIEW_AFTER
            if at >= period.end:  # made in the period's last hour: re-reviewed sooner, so still within the period
                at = created + (period.end - created) / 2
                sooner += 1
            reviewer = rng.choice([user for user in REQUESTERS if user != requester])
            again = evaluate(ruleset, Answers.model_validate(reviewed_answers(values, rng)))
            append_version(
                store,
                workspace=TEAM,
                channel=CHANNEL,
                decision_id=decision.id,
                version=new_version(again, by=reviewer, trigger=Trigger.RE_REVIEW),
                now=at,
            )
            rereviews += 1
        if (i + 1) % PROGRESS_EVERY == 0 or i + 1 == n:
            elapsed = time.perf_counter() - started
            print(f"  seeding N={n:,}: {i + 1:,}/{n:,} decisions ({elapsed:.1f} s)", file=sys.stderr, flush=True)
    return {"decisions": n, "rereviews": rereviews, "sooner": sooner, "seconds": time.perf_counter() - started}


# --- timing -------------------------------------------------------------------------------------------------


def permalink(channel: str, ts: str) -> str:
    return f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}"


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(samples_ms: Sequence[float]) -> dict[str, Any]:
    return {
        "median_ms": statistics.median(samples_ms),
        "p90_ms": percentile(samples_ms, 90),
        "min_ms": min(samples_ms),
        "max_ms": max(samples_ms),
        "samples_ms": [round(sample, 3) for sample in samples_ms],
    }


def block_characters(message: Mapping[str, Any]) -> int:
    """The characters of every `text` string in the message's blocks, as Slack's 12,000-character limit counts."""
    return sum(limits.characters(block) for block in message.get("blocks", []))


def check_digest(digest: Digest, n: int, rereviews: int) -> None:
    """Stop when the digest does not hold what was seeded: the timings would then measure something else."""
    problems = []
    if len(digest.decisions) != n:
        problems.append(f"{len(digest.decisions)} decisions instead of {n}")
    if len(digest.changes) != rereviews:
        problems.append(f"{len(digest.changes)} changes instead of {rereviews}")
    unlinked = sum(entry.link is None for entry in digest.decisions)
    if unlinked:
        problems.append(f"{unlinked} decisions without a link to their verdict")
    if digest.trend[-1] != n:
        problems.append(f"trend ends at {digest.trend[-1]} instead of {n}")
    if problems:
        raise RuntimeError(f"the digest of the N={n:,} channel is not what was seeded: " + "; ".join(problems))


def measure(
    store: DecisionStore,
    ruleset: RuleSet,
    renderer: Renderer,
    *,
    period: Period,
    seeded: Mapping[str, Any],
    repeats: int,
    changed: RuleSet,
) -> dict[str, Any]:
    """Time range, build, render and total for one channel, one of each per round."""
    n = seeded["decisions"]

    def activity() -> list[VersionRow]:
        return store.activity_between(workspace=TEAM, channel=CHANNEL, start=period.start, end=period.end)

    def build() -> Digest:
        return build_digest(store, ruleset, workspace=TEAM, channel=CHANNEL, period=period, links=permalink)

    digest = build()  # untimed: the digest render times, and the checks
    check_digest(digest, n, seeded["rereviews"])
    rows = len(activity())

    def render() -> list[dict[str, Any]]:
        return compose(renderer, digest, schedule=SCHEDULE_TEXT)

    def total() -> list[dict[str, Any]]:
        return compose(renderer, build(), schedule=SCHEDULE_TEXT)

    def after_change() -> Digest:
        return build_digest(store, changed, workspace=TEAM, channel=CHANNEL, period=period, links=permalink)

    def rules_changed() -> list[dict[str, Any]]:
        return compose(renderer, after_change(), schedule=SCHEDULE_TEXT)

    drifted = after_change()
    blocks: dict[str, Callable[[], object]] = {
        "range": activity,
        "build": build,
        "render": render,
        "total": total,
        "rules changed": rules_changed,
    }
    for fn in blocks.values():
        fn()  # one untimed call of each
    samples: dict[str, list[float]] = {name: [] for name in blocks}
    full_collections = dict.fromkeys(blocks, 0)
    collections = [0, 0, 0]  # by generation, counted by the callback while a block runs

    def count(phase: str, info: Mapping[str, Any]) -> None:
        if phase == "start":
            collections[info["generation"]] += 1

    clock = time.perf_counter_ns
    for _ in range(repeats):
        for name, fn in blocks.items():
            gc.collect()
            collections[:] = [0, 0, 0]
            gc.callbacks.append(count)
            start = clock()
            fn()
            elapsed = clock() - start
            gc.callbacks.remove(count)
            samples[name].append(elapsed / 1e6)
            full_collections[name] += collections[2]

    messages = render()
    sizes = [
        {
            "blocks": len(message.get("blocks", [])),
            "characters": block_characters(message),
            "json_characters": len(json.dumps(message, ensure_ascii=False)),
        }
        for message in messages
    ]
    largest = max(sizes, key=lambda size: (size["characters"], size["json_characters"]))
    return {
        "decisions": n,
        "rereviews": seeded["rereviews"],
        "rereviews_sooner": seeded["sooner"],
        "seed_seconds": round(seeded["seconds"], 2),
        "activity_rows": rows,
        "digest": {
            "decisions": len(digest.decisions),
            "changes": len(digest.changes),
            "flips": digest.flips,
            "drift": len(digest.drift),
            "trend": digest.trend,
        },
        "rules_changed": {"drift": len(drifted.drift), "messages": len(rules_changed())},
        "messages": len(messages),
        "largest_message": largest,
        "most_blocks": max(size["blocks"] for size in sizes),
        "timings": {
            name: summary(values) | {"full_collections": full_collections[name]} for name, values in samples.items()
        },
    }


# --- Redis --------------------------------------------------------------------------------------------------


def machine_info(redis_url: str) -> dict[str, Any]:
    """bench_slack's machine description, with the date as `date` prints it."""
    info = slack_machine_info(redis_url)
    return {**info, "date": datetime.now(UTC).strftime("%a %b %d %H:%M:%S UTC %Y"), "cpus": info["cores"]}


# --- output -------------------------------------------------------------------------------------------------


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.1f}x" if base > 0 else "n/a"


def report(info: Mapping[str, Any], settings: Mapping[str, Any], results: Mapping[int, Mapping[str, Any]]) -> str:
    base = results[BASELINE]["timings"]
    lines = [
        "## Weekly digest benchmark",
        "",
        f"**Date:** {info['date']}. **Machine:** {info['platform']}, {info['cpus']} CPUs ({info['cpu']}); "
        f"{info['python']}, redis-py {info['redis_py']}, redis-server {info['redis_server']}. "
        f"Load average at start / end: {', '.join(f'{v:.2f}' for v in info['loadavg_start'])} / "
        f"{', '.join(f'{v:.2f}' for v in info['loadavg_end'])}.",
        "",
        f"**Settings:** period {settings['period']}; rule set {settings['ruleset']}; {settings['repeats']} timed "
        "repeats of each block after one untimed call, the five blocks in turn each round, `gc.collect()` before each "
        "block, collector enabled. Full GCs: how many generation-2 collections ran inside the timed blocks, over all "
        f"repeats (from `gc.callbacks`). Redis: {settings['redis']}.",
        "",
        f"| Decisions | Measurement | median | p90 | min | median / N={BASELINE} | Full GCs | Target | Pass? |",
        "|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for n, result in results.items():
        for name in MEASUREMENTS:
            timing = result["timings"][name]
            target, verdict = "", ""
            if name == "total" and n in TARGETS_MS:
                target = f"median ≤ {TARGETS_MS[n]:g} ms"
                verdict = "**PASS**" if timing["median_ms"] <= TARGETS_MS[n] else "**FAIL**"
            label = f"**{name}**" if name == "total" else name
            if name == "rules changed":
                label += f" ({result['rules_changed']['drift']:,} would now differ)"
            lines.append(
                f"| {n:,} | {label} | {timing['median_ms']:.2f} ms | {timing['p90_ms']:.2f} ms | "
                f"{timing['min_ms']:.2f} ms | {_ratio(timing['median_ms'], base[name]['median_ms'])} | "
                f"{timing['full_collections']} | {target} | {verdict} |"
            )
    lines += [
        "",
        "| Decisions | Seeding | Re-reviews | Activity rows | In the digest: decisions / changes (flips) / drift "
        "| Trend | Messages | Largest message: blocks, characters (block text / JSON) |",
        "|---:|---:|---:|---:|---|---|---:|---|",
    ]
    for n, result in results.items():
        digest, largest = result["digest"], result["largest_message"]
        rereviews = f"{result['rereviews']:,}"
        if result["rereviews_sooner"]:
            rereviews += f" ({result['rereviews_sooner']} sooner)"
        lines.append(
            f"| {n:,} | {result['seed_seconds']:.1f} s | {rereviews} | {result['activity_rows']:,} "
            f"| {digest['decisions']:,} / {digest['changes']:,} ({digest['flips']:,}) / {digest['drift']:,} "
            f"| {digest['trend']} | {result['messages']:,} | {largest['blocks']}, {largest['characters']:,} / "
            f"{largest['json_characters']:,} |"
        )
    lines.append("")
    for n, target in TARGETS_MS.items():
        median = results[n]["timings"]["total"]["median_ms"]
        verdict = "PASS" if median <= target else "FAIL"
        ratio = _ratio(median, base["total"]["median_ms"])
        lines.append(
            f"- {verdict}: total (build + render) median for {n:,} decisions {median:.2f} ms, target ≤ {target:g} ms; "
            f"{ratio} the N={BASELINE} baseline's {base['total']['median_ms']:.2f} ms (linear: {n // BASELINE}x)."
        )
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REPEATS} timed repeats instead of 15")
    parser.add_argument("--repeats", type=int, default=None, help=f"timed repeats of each block ({DEFAULT_REPEATS})")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = QUICK_REPEATS if args.quick else DEFAULT_REPEATS
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings(_env_file=None)
    ruleset = load_ruleset(settings.rules_dir)
    period = Schedule().latest_due(DUE)
    renderer = Renderer(settings.template_dirs)
    prefix = f"bench-digest-{os.getpid()}-{int(time.time())}"
    results: dict[int, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory() as scratch,
        redis_for_benchmark(prefix) as (redis_url, redis_description),
    ):
        changed = load_ruleset(copy_with_fewer_examples_needed(Path(scratch), 20))
        info = machine_info(redis_url)
        client = connect_redis(redis_url, socket_timeout=5.0)
        try:
            stores = {n: DecisionStore(client, prefix=f"{prefix}:n{n}") for n in SIZES}
            seeded = {n: seed_channel(stores[n], ruleset, period, n, random.Random(SEED + n)) for n in SIZES}
            # The renderer's warm-up: one compose, which compiles the digest's templates.
            warm = build_digest(
                stores[BASELINE], ruleset, workspace=TEAM, channel=CHANNEL, period=period, links=permalink
            )
            compose(renderer, warm, schedule=SCHEDULE_TEXT)
            del warm
            for n in SIZES:
                print(f"  timing N={n:,} ({args.repeats} repeats)", file=sys.stderr, flush=True)
                results[n] = measure(
                    stores[n], ruleset, renderer, period=period, seeded=seeded[n], repeats=args.repeats, changed=changed
                )
        finally:
            client.close()
    info["loadavg_end"] = os.getloadavg()
    run_settings = {
        "period": f"{period.key}: {period.start:%Y-%m-%d %H:%M} to {period.end:%Y-%m-%d %H:%M} UTC",
        "ruleset": ruleset.version,
        "repeats": args.repeats,
        "redis": redis_description,
        "schedule": SCHEDULE_TEXT,
        "targets_total_median_ms": {str(n): target for n, target in TARGETS_MS.items()},
    }
    if args.json:
        base = results[BASELINE]["timings"]
        ratios = {
            str(n): {name: result["timings"][name]["median_ms"] / base[name]["median_ms"] for name in MEASUREMENTS}
            for n, result in results.items()
        }
        medians = {n: results[n]["timings"]["total"]["median_ms"] for n in TARGETS_MS}
        targets = {
            str(n): {"target_ms": target, "median_ms": medians[n], "pass": medians[n] <= target}
            for n, target in TARGETS_MS.items()
        }
        document = {
            "machine": info,
            "settings": run_settings,
            "results": {str(n): result for n, result in results.items()},
            "median_ratio_to_baseline": ratios,
            "targets": targets,
        }
        print(json.dumps(document, indent=2))
    else:
        print(report(info, run_settings, results))
    return 0  # the targets are reported, not gated on: this is a measurement, not a test


if __name__ == "__main__":
    sys.exit(main())
