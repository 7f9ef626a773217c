"""Monte Carlo over seeds and the Byzantine sweep, in parallel processes.

Workers are started with the `spawn` method (safe on every platform and with native libraries
loaded): each one loads its own PQC backend by name and runs whole simulations, so nothing
crosses a process boundary but scenarios and result dictionaries. Results come back in task
order, so the aggregate of a given (scenario, seeds) does not depend on the number of jobs.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
from collections import Counter

from x0ctl.errors import UsageError
from x0ctl.quorum.consensus import quorum_threshold, tolerated_faults
from x0ctl.quorum.report import CAUSE_NAMES, percentile
from x0ctl.quorum.scenario import Scenario

Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval for a binomial proportion (95% by default); None without trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _rate(successes: int, trials: int) -> dict:
    interval = wilson_interval(successes, trials)
    return {"count": successes, "of": trials, "rate": successes / trials if trials else None,
            "ci95": list(interval) if interval else None}


def _run_one(task: tuple) -> dict:
    """Worker entry point (module level, so `spawn` can import it)."""
    scenario, backend_name = task
    from x0ctl.pqc import get_backend
    from x0ctl.quorum.simulator import Simulation

    simulation = Simulation(scenario, get_backend(backend_name))
    result = simulation.run()
    result["_time_to_quorum"] = simulation.time_to_quorum_samples
    return result


def run_many(tasks: list[tuple], jobs: int, progress=None) -> list[dict]:
    """Run (scenario, backend name) tasks, `jobs` at a time; results in task order."""
    results: list[dict] = []
    if jobs <= 1 or len(tasks) <= 1:
        for done, task in enumerate(tasks, 1):
            results.append(_run_one(task))
            if progress:
                progress(done, len(tasks))
        return results
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes=min(jobs, len(tasks))) as pool:
        for done, result in enumerate(pool.imap(_run_one, tasks), 1):
            results.append(result)
            if progress:
                progress(done, len(tasks))
    return results


def aggregate(results: list[dict]) -> dict:
    """Rates with Wilson 95% intervals, pooled time to quorum, pooled quarantine precision/recall."""
    trials = len(results)
    unsafe = sum(1 for r in results if r["safety"]["violations"] > 0)
    true_pairs = sum(r["liveness"]["true_events"] * r["honest"] for r in results)
    validated_pairs = sum(round((r["liveness"]["validated_rate"] or 0.0) * r["liveness"]["true_events"] * r["honest"])
                          for r in results)
    samples = [value for r in results for value in r.get("_time_to_quorum", [])]
    tp = sum(r["quarantine"]["quarantined_byzantine_pairs"] for r in results)
    fp = sum(r["quarantine"]["quarantined_honest_pairs"] for r in results)
    active_pairs = sum(r["quarantine"]["active_byzantine"] * r["honest"] for r in results)
    causes = Counter()
    for r in results:
        causes.update(r["rejections"]["by_cause"])
    partition_runs = [p for r in results for p in r["partitions"] if p["healed_in_run"]]
    return {
        "trials": trials,
        "seeds": [r["seed"] for r in results],
        "safety_violation": _rate(unsafe, trials),
        "false_events_validated": sum(r["safety"]["false_events_validated"] for r in results),
        "conflicting_decisions": sum(r["safety"]["conflicting_decisions"] for r in results),
        "honest_quarantined": sum(r["safety"]["honest_quarantined"] for r in results),
        "liveness": _rate(validated_pairs, true_pairs),
        "time_to_quorum_s": {"p50": percentile(samples, 0.50), "p95": percentile(samples, 0.95),
                             "count": len(samples)},
        "quarantine_precision": _rate(tp, tp + fp),
        "quarantine_recall": _rate(tp, active_pairs),
        "rejections_by_cause": {cause: causes.get(cause, 0) for cause in CAUSE_NAMES},
        "equivocations_detected": sum(r["equivocations_detected"] for r in results),
        "partitions_converged": _rate(sum(1 for p in partition_runs if p["converged"]), len(partition_runs)),
        "messages_signed": sum(r["messages"]["signed"] for r in results),
    }


def trial_scenarios(scenario: Scenario, trials: int) -> list[Scenario]:
    """One scenario per trial; trial i uses seed + i."""
    return [dataclasses.replace(scenario, seed=scenario.seed + offset) for offset in range(trials)]


def run_trials(scenario: Scenario, backend_name: str, trials: int, jobs: int = 1, progress=None) -> dict:
    if trials < 1:
        raise UsageError("--trials must be at least 1")
    results = run_many([(item, backend_name) for item in trial_scenarios(scenario, trials)], jobs, progress)
    return {"aggregate": aggregate(results), "runs": [_public(r) for r in results]}


def parse_range(text: str, nodes: int) -> list[int]:
    """`0..16`, `4..10` or `16` (meaning 0..16) -> the Byzantine counts to sweep, each < nodes."""
    text = text.strip()
    try:
        if ".." in text:
            low_text, high_text = text.split("..", 1)
            low, high = int(low_text), int(high_text)
        else:
            low, high = 0, int(text)
    except ValueError:
        raise UsageError(f"--sweep-byzantine: expected a range like 0..16, got {text!r}") from None
    if low < 0 or high < low:
        raise UsageError(f"--sweep-byzantine: {text!r} is not an ascending range of non-negative counts")
    if high >= nodes:
        raise UsageError(f"--sweep-byzantine: f = {high} must be smaller than n = {nodes}")
    return list(range(low, high + 1))


def run_sweep(scenario: Scenario, backend_name: str, counts: list[int], trials: int = 1, jobs: int = 1,
              progress=None) -> dict:
    """The safety/liveness curve over f Byzantine nodes (same seeds at every f)."""
    tasks, owners = [], []
    for count in counts:
        for item in trial_scenarios(dataclasses.replace(scenario, byzantine=count), trials):
            item.validate(f"sweep f={count}")
            tasks.append((item, backend_name))
            owners.append(count)
    results = run_many(tasks, jobs, progress)
    n = scenario.nodes
    points = []
    for count in counts:
        mine = [result for owner, result in zip(owners, results) if owner == count]
        summary = aggregate(mine)
        points.append({
            "byzantine": count,
            "within_bound": count <= tolerated_faults(n),
            "safety_violation": summary["safety_violation"],
            "false_events_validated": summary["false_events_validated"],
            "conflicting_decisions": summary["conflicting_decisions"],
            "honest_quarantined": summary["honest_quarantined"],
            "liveness": summary["liveness"],
            "time_to_quorum_s": summary["time_to_quorum_s"],
        })
    unsafe_within = [p["byzantine"] for p in points if p["within_bound"] and p["safety_violation"]["count"]]
    first_unsafe = next((p["byzantine"] for p in points if p["safety_violation"]["count"]), None)
    first_stalled = next((p["byzantine"] for p in points if p["liveness"]["rate"] is not None
                          and p["liveness"]["rate"] < 1.0), None)
    return {
        "nodes": n, "quorum_threshold": quorum_threshold(n), "tolerated_faults": tolerated_faults(n),
        "trials_per_point": trials, "points": points,
        "safe_within_bound": not unsafe_within,
        "first_unsafe_byzantine": first_unsafe,
        "first_liveness_loss_byzantine": first_stalled,
    }


def _public(result: dict) -> dict:
    return {key: value for key, value in result.items() if not key.startswith("_")}
