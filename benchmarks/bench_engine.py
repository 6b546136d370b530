"""Benchmark of the decision engine (issue 2), run as `.venv/bin/python benchmarks/bench_engine.py [--json]`.

Measures, in one run and on one CPU core:

* `evaluate(ruleset, answers)` with the full trace (every rule's status and every comparison's result recorded)
  over a fixed mix of 1,000 pre-built `Answers` drawn with `random.Random(42)`;
* the seed's checklist as a plain if-chain over the same inputs as dicts (those where the checklist's five facts
  are known, so that it does not crash), and the engine over exactly those inputs, for the ratio;
* `verdict_report(evaluate(...), trace=True)`: the JSON-ready explanation with the trace and the "what would
  change" counterfactual search, i.e. the cost of rendering one verdict for a person (no target);
* `load_ruleset(default_rules_dir())`, and the first import and first load in a fresh process.

Every figure is the median over repeated passes of the mean time per call within a pass. The garbage collector stays
enabled (as in the running bot); `gc.collect()` runs before each measurement. The script prints PASS/FAIL against
the issue's two targets but always exits 0: it is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic
import yaml

from bot.engine.answers import Answers, Failure
from bot.engine.changes import what_would_change
from bot.engine.report import verdict_report
from bot.engine.ruleset import VerdictKind, load_ruleset
from bot.engine.verdict import evaluate
from bot.resources import default_rules_dir

SEED = 42
N_INPUTS = 1_000
# How the 1,000 inputs split by kind: only the checklist's five facts, every fact, a random half, nothing.
MIX = {"checklist-only": 350, "fully-answered": 350, "partial": 200, "empty": 100}
CHECKLIST_FACTS = ("n_stable_examples", "primary_failure", "change_freq_days", "tried_prompt_iteration", "tried_dspy")

EVAL_REPEATS = 15
REPORT_REPEATS = 5
BREAKDOWN_REPEATS = 3
LOAD_REPEATS = 20
FRESH_PROCESSES = 3

TARGET_EVALS_PER_SECOND = 50_000
TARGET_LOAD_MS = 50.0


# --- the baseline -------------------------------------------------------------------------------------------


def should_finetune(p: dict[str, Any]) -> tuple[bool, str]:
    """The seed's pre-flight checklist as a plain if-chain."""
    if p["n_stable_examples"] < 50:
        return False, "few-shot"
    if p["primary_failure"] == "missing-knowledge":
        return False, "rag"
    if p["change_freq_days"] < 14:
        return False, "prompt-iteration"
    if not p["tried_prompt_iteration"]:
        return False, "try-prompts"
    if not p["tried_dspy"]:
        return False, "dspy"
    if p["primary_failure"] in ("style", "format", "tool-shape", "latency"):
        return True, "fine-tune"
    return False, "prompt-and-rag"


# --- the inputs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    kind: str
    answers: Answers


def _checklist_facts(rng: random.Random) -> dict[str, Any]:
    # Values cluster around the rules' thresholds (50, 200, 500 examples; 14 days) so every checklist rule fires.
    return {
        "n_stable_examples": rng.choice((0, 10, 49, 50, 120, 199, 200, 350, 499, 500, 2_000, 50_000)),
        "primary_failure": rng.choice([failure.value for failure in Failure]),
        "change_freq_days": rng.choice((1, 7, 13, 14, 30, 90, 365)),
        "tried_prompt_iteration": rng.random() < 0.75,
        "tried_dspy": rng.random() < 0.6,
    }


def _all_facts(rng: random.Random) -> dict[str, Any]:
    facts = _checklist_facts(rng)
    iterated = facts["tried_prompt_iteration"]
    iterations = rng.choice((1, 3, 9, 10, 12, 25)) if iterated else 0
    facts.update(
        use_case=rng.choice(("support replies", "invoice extraction", "SQL generation", "tool routing")),
        prompt_iterations=iterations,
        prompt_authors=rng.choice((1, 2, 3, 4)) if iterations else 0,
        tried_few_shot=rng.random() < 0.75,
        tried_rag=rng.random() < 0.5,
        tried_cot=rng.random() < 0.6,
        has_eval_set=rng.random() < 0.7,
        needs_citations=rng.random() < 0.1,
        style_describable=rng.random() < 0.3,
        n_tools=rng.choice((0, 1, 3, 4, 5, 12)),
        daily_calls=rng.choice((50, 2_000, 10_000, 10_001, 80_000, 1_000_000)),
        latency_sensitive=rng.random() < 0.5,
        chasing_small_benchmark_gain=rng.random() < 0.1,
        retrain_cadence_days=rng.choice((7, 13, 14, 30, 90)),
        notes=rng.choice(("", "owned by the platform team", "pilot in one region")) or None,
    )
    # Answers that contradict each other are refused; keep the same draws and repair them without using the rng.
    facts["prompt_authors"] = min(facts["prompt_authors"], iterations)
    if facts["primary_failure"] == "tool-shape" and facts["n_tools"] == 0:
        facts["n_tools"] = 1
    return facts


def build_cases(seed: int = SEED) -> list[Case]:
    rng = random.Random(seed)
    kinds = [kind for kind, count in MIX.items() for _ in range(count)]
    rng.shuffle(kinds)
    cases = []
    for kind in kinds:
        if kind == "checklist-only":
            facts = _checklist_facts(rng)
        elif kind == "fully-answered":
            facts = _all_facts(rng)
        elif kind == "partial":
            # Dropping answers never creates a contradiction the model rejects.
            facts = {name: value for name, value in _all_facts(rng).items() if rng.random() < 0.5}
        else:
            facts = {}
        cases.append(Case(kind, Answers.model_validate(facts)))
    return cases


# --- timing -------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Timing:
    """Per-call means of each pass, in nanoseconds; the figure reported is their median."""

    label: str
    calls_per_pass: int
    pass_means_ns: list[float] = field(default_factory=list)

    @property
    def median_ns(self) -> float:
        return statistics.median(self.pass_means_ns)

    @property
    def per_second(self) -> float:
        return 1e9 / self.median_ns

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_ns": round(self.median_ns, 1),
            "per_second": round(self.per_second, 1),
            "min_pass_ns": round(min(self.pass_means_ns), 1),
            "max_pass_ns": round(max(self.pass_means_ns), 1),
            "passes": len(self.pass_means_ns),
            "calls_per_pass": self.calls_per_pass,
        }


def time_passes(label: str, fn: Callable[[Any], object], inputs: Sequence[Any], repeats: int) -> Timing:
    """Time `repeats` full passes of `fn` over `inputs` (after one warm-up pass)."""
    return time_interleaved({label: (fn, inputs)}, repeats)[label]


def time_interleaved(
    benches: dict[str, tuple[Callable[[Any], object], Sequence[Any]]], repeats: int
) -> dict[str, Timing]:
    """Time full passes of each `fn` over its inputs, one pass of each in turn per round, so that a noisy moment
    on the machine hits every measurement alike rather than one of them."""
    timings = {label: Timing(label, len(inputs)) for label, (_, inputs) in benches.items()}
    clock = time.perf_counter_ns
    for fn, inputs in benches.values():
        for item in inputs:
            fn(item)
    gc.collect()
    for _ in range(repeats):
        for label, (fn, inputs) in benches.items():
            start = clock()
            for item in inputs:
                fn(item)
            timings[label].pass_means_ns.append((clock() - start) / len(inputs))
    return timings


def time_each(fn: Callable[[Any], object], inputs: Sequence[Any], repeats: int) -> list[list[int]]:
    """For slow calls: the time of every single call, `[pass][input]`, so results can be split by input."""
    clock = time.perf_counter_ns
    fn(inputs[0])
    gc.collect()
    passes = []
    for _ in range(repeats):
        times = []
        for item in inputs:
            start = clock()
            fn(item)
            times.append(clock() - start)
        passes.append(times)
    return passes


def split_timing(label: str, passes: list[list[int]], keep: Sequence[int]) -> Timing:
    timing = Timing(label, len(keep))
    for times in passes:
        timing.pass_means_ns.append(sum(times[i] for i in keep) / len(keep))
    return timing


def fresh_process_times() -> dict[str, float]:
    """The first `import bot.engine.ruleset` and the first load, each in a new interpreter; medians in ms."""
    code = (
        "import json, time\n"
        "t0 = time.perf_counter()\n"
        "import bot.engine.ruleset\n"
        "t1 = time.perf_counter()\n"
        "from bot.resources import default_rules_dir\n"
        "bot.engine.ruleset.load_ruleset(default_rules_dir())\n"
        "t2 = time.perf_counter()\n"
        "print(json.dumps({'import_ms': (t1 - t0) * 1e3, 'first_load_ms': (t2 - t1) * 1e3}))\n"
    )
    runs = []
    for _ in range(FRESH_PROCESSES):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def pin_to_one_core(cpu: int | None) -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (os.sched_setaffinity is not available on this platform)"
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[0] if cpu is None else cpu
    try:
        os.sched_setaffinity(0, {chosen})
    except OSError as exc:
        return f"not pinned (sched_setaffinity({chosen}) failed: {exc})"
    return f"pinned to CPU {chosen} of {allowed} with os.sched_setaffinity"


# --- the run ------------------------------------------------------------------------------------------------


def run(cpu: int | None) -> dict[str, Any]:
    pinning = pin_to_one_core(cpu)
    fresh = fresh_process_times()  # first, while nothing of ours is warm in the OS caches either

    rules_dir = default_rules_dir()
    start = time.perf_counter_ns()
    ruleset = load_ruleset(rules_dir)
    first_load_ns = time.perf_counter_ns() - start
    load = Timing("load_ruleset", 1)
    gc.collect()
    for _ in range(LOAD_REPEATS):
        start = time.perf_counter_ns()
        load_ruleset(default_rules_dir())
        load.pass_means_ns.append(time.perf_counter_ns() - start)

    cases = build_cases()
    answers = [case.answers for case in cases]
    kinds = sorted(MIX, key=list(MIX).index)
    by_kind = {kind: [i for i, case in enumerate(cases) if case.kind == kind] for kind in kinds}

    def engine(a: Answers) -> object:
        return evaluate(ruleset, a)

    # The baseline needs the checklist's five facts; the engine is timed again over exactly the same inputs.
    known = [a for a in answers if all(getattr(a, name) is not None for name in CHECKLIST_FACTS)]
    known_dicts = [a.model_dump() for a in known]
    benches: dict[str, tuple[Callable[[Any], object], Sequence[Any]]] = {"evaluate": (engine, answers)}
    for kind in kinds:
        benches[f"evaluate[{kind}]"] = (engine, [answers[i] for i in by_kind[kind]])
    benches["evaluate[checklist-known]"] = (engine, known)
    benches["baseline"] = (should_finetune, known_dicts)
    results: dict[str, Any] = {}
    timings = time_interleaved(benches, EVAL_REPEATS)

    # The if-chain and the engine must agree where only the checklist is answered (tests/test_checklist.py).
    checklist_only = [case.answers for case in cases if case.kind == "checklist-only"]
    agree = 0
    for a in checklist_only:
        verdict = evaluate(ruleset, a)
        fine_tune, step = should_finetune(a.model_dump())
        agree += (verdict.verdict is VerdictKind.FINE_TUNE) == fine_tune and verdict.next_step.value == step
    results["checklist_agreement"] = {"agree": agree, "of": len(checklist_only)}

    verdicts = [evaluate(ruleset, a) for a in answers]
    results["verdicts"] = dict(Counter(v.verdict.value for v in verdicts))

    report_passes = time_each(lambda a: verdict_report(evaluate(ruleset, a), trace=True), answers, REPORT_REPEATS)
    timings["report"] = split_timing("verdict_report(trace=True)", report_passes, range(len(answers)))
    for kind in kinds:
        timings[f"report[{kind}]"] = split_timing(kind, report_passes, by_kind[kind])
    timings["report.trace"] = time_passes("Verdict.trace()", lambda v: v.trace(), verdicts, BREAKDOWN_REPEATS)
    timings["report.changes"] = time_passes("what_would_change()", what_would_change, verdicts, BREAKDOWN_REPEATS)

    # Which deciding rules make verdict_report slow: mean over inputs of each input's median time.
    per_input = [statistics.median(times[i] for times in report_passes) for i in range(len(answers))]
    by_rule: dict[str, list[float]] = defaultdict(list)
    for verdict, ns in zip(verdicts, per_input, strict=True):
        by_rule[verdict.decided_by.id].append(ns)
    slowest = sorted(by_rule.items(), key=lambda item: -statistics.fmean(item[1]))
    results["report_by_deciding_rule"] = [
        {"rule": rule, "inputs": len(values), "mean_ns": round(statistics.fmean(values), 1)} for rule, values in slowest
    ]

    evals_per_second = timings["evaluate"].per_second
    engine_ns = timings["evaluate[checklist-known]"].median_ns
    load_ms = load.median_ns / 1e6
    results.update(
        machine={
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "pydantic": pydantic.VERSION,
            "pyyaml": yaml.__version__,
            "libyaml": bool(yaml.__with_libyaml__),
            "cpus": os.cpu_count(),
            "pinning": pinning,
            "gc": "enabled during timing (gc.collect() before each measurement)",
        },
        ruleset={
            "version": ruleset.version,
            "rules": len(ruleset.rules),
            "decision_rules": len(ruleset.decision_positions),
            "warning_rules": len(ruleset.warning_positions),
            "comparisons": len(ruleset.leaves),
        },
        inputs={"seed": SEED, "total": len(cases), "mix": MIX, "checklist_known": len(known)},
        timings={key: timing.to_dict() for key, timing in timings.items()},
        ratio_engine_to_baseline=round(engine_ns / timings["baseline"].median_ns, 1),
        load={
            **load.to_dict(),
            "median_ms": round(load_ms, 2),
            "first_in_process_ms": round(first_load_ns / 1e6, 2),
            "fresh_process_import_ms": round(fresh["import_ms"], 1),
            "fresh_process_first_load_ms": round(fresh["first_load_ms"], 1),
        },
        targets={
            "evaluations_per_second": {
                "target": TARGET_EVALS_PER_SECOND,
                "measured": round(evals_per_second),
                "pass": evals_per_second >= TARGET_EVALS_PER_SECOND,
            },
            "load_ms": {"target": TARGET_LOAD_MS, "measured": round(load_ms, 2), "pass": load_ms < TARGET_LOAD_MS},
        },
    )
    results["_timings"] = timings
    return results


# --- output -------------------------------------------------------------------------------------------------


def fmt_ns(ns: float) -> str:
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} us"
    return f"{ns / 1e6:.2f} ms"


def render_table(results: dict[str, Any]) -> str:
    timings: dict[str, Timing] = results["_timings"]
    machine, rs, inputs, load = results["machine"], results["ruleset"], results["inputs"], results["load"]
    mix = ", ".join(f"{count} {kind}" for kind, count in inputs["mix"].items())
    lines = [
        "should-finetune decision engine benchmark (issue 2)",
        f"python {machine['python']} ({machine['implementation']}), pydantic {machine['pydantic']}, "
        f"PyYAML {machine['pyyaml']} (libyaml: {'yes' if machine['libyaml'] else 'no'}), {machine['cpus']} CPUs",
        f"{machine['pinning']}; gc {machine['gc']}",
        f"rule set {rs['version']}: {rs['rules']} rules ({rs['decision_rules']} decision, {rs['warning_rules']} "
        f"warning), {rs['comparisons']} comparisons",
        f"inputs: {inputs['total']:,} Answers from random.Random({inputs['seed']}): {mix}",
        "",
        f"{'measurement':<46} {'median':>10} {'per second':>12}   {'passes (min .. max)':<28}",
        "-" * 100,
    ]

    def row(label: str, timing: Timing, per_second: bool = True) -> None:
        spread = f"{len(timing.pass_means_ns)} ({fmt_ns(min(timing.pass_means_ns))} .. "
        spread += f"{fmt_ns(max(timing.pass_means_ns))})"
        rate = f"{timing.per_second:,.0f}" if per_second else ""
        lines.append(f"{label:<46} {fmt_ns(timing.median_ns):>10} {rate:>12}   {spread:<28}")

    row(f"evaluate, full trace ({inputs['total']:,} mixed inputs)", timings["evaluate"])
    for kind, count in inputs["mix"].items():
        row(f"  {kind} ({count})", timings[f"evaluate[{kind}]"])
    row(f"evaluate, checklist known ({inputs['checklist_known']} inputs)", timings["evaluate[checklist-known]"])
    row("baseline if-chain, same inputs as dicts", timings["baseline"])
    lines.append(f"{'ratio engine / baseline':<46} {results['ratio_engine_to_baseline']:>9}x")
    row(f"verdict_report(evaluate(..), trace=True) ({inputs['total']:,})", timings["report"])
    for kind, count in inputs["mix"].items():
        row(f"  {kind} ({count})", timings[f"report[{kind}]"])
    row("  of which Verdict.trace()", timings["report.trace"])
    row("  of which what_would_change()", timings["report.changes"])
    lines.append(
        f"{'load_ruleset(default_rules_dir())':<46} {load['median_ms']:>7.2f} ms {'':>12}   "
        f"{load['passes']} ({load['min_pass_ns'] / 1e6:.2f} ms .. {load['max_pass_ns'] / 1e6:.2f} ms)"
    )
    lines.append(f"{'  first load in this process':<46} {load['first_in_process_ms']:>7.2f} ms")
    lines.append(f"{'  first import bot.engine.ruleset, new process':<46} {load['fresh_process_import_ms']:>7.1f} ms")
    lines.append(f"{'  first load after that import':<46} {load['fresh_process_first_load_ms']:>7.1f} ms")
    lines.append("")
    slow = ", ".join(
        f"{item['rule']} {fmt_ns(item['mean_ns'])} ({item['inputs']})"
        for item in results["report_by_deciding_rule"][:3]
    )
    lines.append(f"slowest verdict_report by deciding rule (mean, inputs): {slow}")
    agreement = results["checklist_agreement"]
    verdicts = ", ".join(f"{count} {verdict}" for verdict, count in sorted(results["verdicts"].items()))
    lines.append(f"verdicts over the mix: {verdicts}")
    lines.append(f"engine agrees with the if-chain on {agreement['agree']}/{agreement['of']} checklist-only inputs")
    lines.append("")
    targets = results["targets"]
    evals, load_target = targets["evaluations_per_second"], targets["load_ms"]
    lines.append(
        f"target: >= {evals['target']:,} evaluations/s with the full trace: {evals['measured']:,}/s  "
        f"{'PASS' if evals['pass'] else 'FAIL'}"
    )
    lines.append(
        f"target: load and validate the rule set < {load_target['target']:.0f} ms: {load_target['measured']:.2f} ms  "
        f"{'PASS' if load_target['pass'] else 'FAIL'}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON instead of a table")
    parser.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: the lowest allowed)")
    args = parser.parse_args(argv)
    results = run(args.cpu)
    if args.json:
        print(json.dumps({key: value for key, value in results.items() if not key.startswith("_")}, indent=2))
    else:
        print(render_table(results))
    return 0  # always: machines are noisy, and this is a measurement, not a test


if __name__ == "__main__":
    sys.exit(main())
