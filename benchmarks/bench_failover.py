"""Sentinel failover benchmark, run as `.venv/bin/python benchmarks/bench_failover.py [--runs 3] [--json]`.

A real Sentinel deployment on loopback (`tests/redis_sentinel.py`: a primary, one or two replicas, three sentinels,
`down-after-milliseconds 1000`), the `redis-server` the tests use. A writer sends `SET` 200 times a second for 2 s
before a failover and 15 s after it, through a client of the primary the sentinels name, and records each write it
was told succeeded. After the failover settles (the demoted primary resynced, or the crashed one left dead), every
acknowledged write is read back from the new primary: **lost** are acknowledged writes that are gone. **Refused**
are writes the client was told failed (honest: the caller says "not saved"), with the longest stretch of time in
which every write failed. `/readyz`'s view (the bot's `DecisionStore.unwritable`) is sampled ten times a second:
the seconds it said "not ready".

Scenarios: a planned switchover (`SENTINEL FAILOVER`) and a crash (`kill -9` of the primary), each with one and
with two replicas, each without and with `min-replicas-to-write 1` (`min-replicas-max-lag 10`) on every node.
Clients: the bot's (`bot.store.connect_redis(mode="sentinel")`: the watch and confirmed writes) and, for the
comparison, redis-py's plain `Sentinel.master_for` with the same timeouts.

`--latency` measures instead what confirming costs without a failover: the median time of one `SET` (3,000 in a
row) through each client, with one and with two replicas.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from redis.sentinel import Sentinel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.store import DecisionStore, connect_redis
from tests.redis_sentinel import PASSWORD, SERVICE, SentinelGroup

RATE = 200.0
BEFORE, AFTER = 2.0, 15.0


def client_of(kind: str, group: SentinelGroup) -> redis.Redis:
    if kind == "bot":
        made = connect_redis(
            f"redis://:{PASSWORD}@/0", mode="sentinel", sentinels=group.sentinel_addresses, sentinel_service=SERVICE
        )
        assert isinstance(made, redis.Redis)
        return made
    manager = Sentinel(group.sentinel_addresses, sentinel_kwargs={"socket_timeout": 0.4})
    return manager.master_for(SERVICE, password=PASSWORD, socket_timeout=0.4, decode_responses=True)


def run_once(kind: str, scenario: str, replicas: int, min_replicas: bool) -> dict[str, Any]:
    options = ("--min-replicas-to-write", "1", "--min-replicas-max-lag", "10") if min_replicas else ()
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as directory:
        group = SentinelGroup(Path(directory), replicas=replicas, primary_options=options).start()
        client = client_of(kind, group)
        store = DecisionStore(client, prefix="bench")
        acked: list[int] = []
        failures: list[float] = []
        unready: list[float] = []
        stop = threading.Event()
        started = time.monotonic()

        def write() -> None:
            number = 0
            while not stop.is_set():
                number += 1
                try:
                    client.set(f"k:{number}", number)
                    acked.append(number)
                except redis.RedisError:
                    failures.append(time.monotonic() - started)
                stop.wait(max(0.0, number / RATE - (time.monotonic() - started)))

        def probe() -> None:
            while not stop.is_set():
                if store.unwritable():
                    unready.append(time.monotonic() - started)
                stop.wait(0.1)

        threads = [threading.Thread(target=write), threading.Thread(target=probe)]
        for thread in threads:
            thread.start()
        time.sleep(BEFORE)
        failover: Callable[[], int] = group.switchover if scenario == "switchover" else group.crash
        failover()
        time.sleep(AFTER)
        stop.set()
        for thread in threads:
            thread.join()
        if scenario == "switchover":
            group.replicated(replicas=replicas)
        reader = group.client(group.primary_port())
        values: list[Any] = []
        keys = [f"k:{n}" for n in acked]
        for first in range(0, len(keys), 1000):
            values += reader.mget(keys[first : first + 1000])
        client.close()
        group.stop()
    return {
        "client": kind,
        "scenario": scenario,
        "replicas": replicas,
        "min_replicas_to_write": 1 if min_replicas else 0,
        "acknowledged": len(acked),
        "lost": sum(1 for value in values if value is None),
        "refused": len(failures),
        "refused_seconds": round(_longest_stretch(failures), 1),
        "unready_seconds": round(len(unready) * 0.1, 1),
    }


def write_latency(kind: str, replicas: int, writes: int = 3000) -> float:
    """The median time of one SET, in milliseconds, with no failover: what confirming writes costs."""
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as directory:
        group = SentinelGroup(Path(directory), replicas=replicas).start()
        client = client_of(kind, group)
        try:
            time.sleep(0.5)  # the watch has seen the replicas
            times = []
            for number in range(writes):
                started = time.perf_counter()
                client.set(f"k:{number}", number)
                times.append(time.perf_counter() - started)
        finally:
            client.close()
            group.stop()
    return statistics.median(times) * 1000


def _longest_stretch(times: list[float], gap: float = 0.5) -> float:
    """The longest span of failures with no more than `gap` seconds between two of them."""
    best, start, last = 0.0, None, None
    for at in times:
        if start is None or last is None or at - last > gap:
            start = at
        last = at
        best = max(best, last - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each scenario (the median is shown)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="only the bot's client, without min-replicas-to-write")
    parser.add_argument("--client", choices=["plain", "bot"], help="only this client")
    parser.add_argument("--min-replicas", type=int, choices=[0, 1], help="only this min-replicas-to-write")
    parser.add_argument("--latency", action="store_true", help="only the median SET time of each client, no failover")
    args = parser.parse_args()
    if args.latency:
        print("| client | replicas | median SET (runs) |")
        print("|---|---|---|")
        for replicas in (1, 2):
            for kind in ("plain", "bot"):
                medians = [write_latency(kind, replicas) for _ in range(args.runs)]
                shown = ", ".join(f"{median:.3f}" for median in medians)
                print(f"| {kind} | {replicas} | {statistics.median(medians):.3f} ms ({shown}) |")
        return
    kinds = (args.client,) if args.client else ("bot",) if args.quick else ("plain", "bot")
    settings = (False,) if args.quick else (False, True)
    if args.min_replicas is not None:
        settings = (bool(args.min_replicas),)
    cases = [
        (kind, scenario, replicas, min_replicas)
        for kind in kinds
        for scenario in ("switchover", "crash")
        for replicas in (1, 2)
        for min_replicas in settings
    ]
    rows = []
    for case in cases:
        results = [run_once(*case) for _ in range(args.runs)]
        row = {key: results[0][key] for key in ("client", "scenario", "replicas", "min_replicas_to_write")}
        for key in ("acknowledged", "lost", "refused", "refused_seconds", "unready_seconds"):
            row[key] = statistics.median(result[key] for result in results)
        row["lost_max"] = max(result["lost"] for result in results)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        "| client | failover | replicas | min-replicas-to-write | acknowledged | lost (max) | refused | "
        "writes refused for | /readyz not ready for |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['client']} | {row['scenario']} | {row['replicas']} | {row['min_replicas_to_write']} | "
            f"{row['acknowledged']:.0f} | {row['lost']:.0f} ({row['lost_max']}) | {row['refused']:.0f} | "
            f"{row['refused_seconds']:.1f} s | {row['unready_seconds']:.1f} s |"
        )


if __name__ == "__main__":
    main()
