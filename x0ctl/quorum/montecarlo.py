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
from x0ctl.pqc import get_backend
from x0ctl.quorum.adversary import ScriptedAdversary, instantiate, load_adversary
from x0ctl.quorum.report import CAUSE_NAMES, SUSPICION_CAUSES, percentile
from x0ctl.quorum.rules import X0CTL_RULES, rules_named
from x0ctl.quorum.scenario import Scenario
from x0ctl.quorum.simulator import Simulation

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


@dataclasses.dataclass(frozen=True)
class Task:
    """One simulation for a worker: everything crosses the process boundary by value or by name."""

    scenario: Scenario
    backend: str
    rules: str = X0CTL_RULES.name
    adversary: str | None = None  # FILE.py[:Class], loaded in the worker
    script: tuple | None = None  # an action log played back by ScriptedAdversary


def run_task(task: Task, progress=None) -> dict:
    """Run one task (the worker entry point: module level, so `spawn` can import it);
    `progress(at_ms, end_ms)` follows the simulated clock."""
    adversary = label = None
    if task.adversary is not None:
        adversary_class, label = load_adversary(task.adversary)
        adversary = instantiate(adversary_class, label)
    elif task.script is not None:
        adversary, label = ScriptedAdversary(list(task.script)), "scripted"
    simulation = Simulation(task.scenario, get_backend(task.backend), rules=rules_named(task.rules),
                            adversary=adversary, adversary_label=label, progress=progress)
    result = simulation.run()
    result["_time_to_quorum"] = simulation.time_to_quorum_samples
    if simulation.adversary is not None:
        result["_actions"] = simulation.adversary.actions
    return result


def run_many(tasks: list[Task], jobs: int, progress=None) -> list[dict]:
    """Run tasks, `jobs` at a time; results in task order (so nothing depends on `jobs`)."""
    results: list[dict] = []
    if jobs <= 1 or len(tasks) <= 1:
        for done, task in enumerate(tasks, 1):
            results.append(run_task(task))
            if progress:
                progress(done, len(tasks))
        return results
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes=min(jobs, len(tasks))) as pool:
        for done, result in enumerate(pool.imap(run_task, tasks), 1):
            results.append(result)
            if progress:
                progress(done, len(tasks))
    return results


def aggregate(results: list[dict]) -> dict:
    """Per metric family: rates with Wilson 95% intervals over runs or pooled pairs, and sums."""
    trials = len(results)
    true_pairs = sum(r["liveness"]["true_events"] * r["honest"] for r in results)
    validated_pairs = sum(round((r["liveness"]["validated_rate"] or 0.0) * r["liveness"]["true_events"] * r["honest"])
                          for r in results)
    settled_pairs = sum(r["agreement"]["settled_events"] * r["honest"] for r in results)
    decided_pairs = sum(round((r["agreement"]["totality"] or 0.0) * r["agreement"]["settled_events"] * r["honest"])
                        for r in results)
    samples = [value for r in results for value in r.get("_time_to_quorum", [])]
    reputation = [r["reputation"] for r in results]
    tp = sum(item["byzantine_quarantined_pairs"] for item in reputation)
    fp = sum(item["false_positive_pairs"] for item in reputation)
    active_pairs = sum(r["reputation"]["active_byzantine"] * r["honest"] for r in results)
    honest_pairs = sum(r["honest"] * (r["honest"] - 1) for r in results)
    detector = [r["failure_detector"] for r in results]
    by_cause, validated_by_cause, causes = Counter(), Counter(), Counter()
    for item in detector:
        by_cause.update(item["false_suspicions_by_cause"])
        validated_by_cause.update(item["false_failures_validated_by_cause"])
    for r in results:
        causes.update(r["rejections"]["by_cause"])
    partition_runs = [p for r in results for p in r["partitions"] if p["healed_in_run"]]
    return {
        "trials": trials,
        "seeds": [r["seed"] for r in results],
        "safety_violation": _rate(sum(1 for r in results if not r["safety"]["ok"]), trials),
        "agreement": {
            "violation": _rate(sum(1 for r in results if not r["agreement"]["ok"]), trials),
            "conflicting_decisions": sum(r["agreement"]["conflicting_decisions"] for r in results),
            "totality": _rate(decided_pairs, settled_pairs),
        },
        "validity": {
            "violation": _rate(sum(1 for r in results if not r["validity"]["ok"]), trials),
            "violations": sum(r["validity"]["violations"] for r in results),
        },
        "liveness": _rate(validated_pairs, true_pairs),
        "time_to_quorum_s": {"p50": percentile(samples, 0.50), "p95": percentile(samples, 0.95),
                             "count": len(samples)},
        "failure_detector": {
            "false_suspicion": _rate(sum(item["false_suspicions"] for item in detector),
                                     sum(item["reports"] for item in detector)),
            "false_suspicions_by_cause": {cause: by_cause.get(cause, 0) for cause in SUSPICION_CAUSES},
            "false_failures_validated": sum(item["false_failures_validated"] for item in detector),
            "false_failures_validated_by_cause": {cause: validated_by_cause.get(cause, 0)
                                                  for cause in SUSPICION_CAUSES},
        },
        "reputation": {
            "honest_quarantined": sum(item["honest_quarantined"] for item in reputation),
            "false_positive": _rate(fp, honest_pairs),
            "precision": _rate(tp, tp + fp),
            "recall": _rate(tp, active_pairs),
        },
        "rejections_by_cause": {cause: causes.get(cause, 0) for cause in CAUSE_NAMES},
        "equivocations_detected": sum(r["equivocations_detected"] for r in results),
        "partitions_converged": _rate(sum(1 for p in partition_runs if p["converged"]), len(partition_runs)),
        "messages_signed": sum(r["messages"]["signed"] for r in results),
    }


def trial_scenarios(scenario: Scenario, trials: int) -> list[Scenario]:
    """One scenario per trial; trial i uses seed + i."""
    return [dataclasses.replace(scenario, seed=scenario.seed + offset) for offset in range(trials)]


def run_trials(scenario: Scenario, backend_name: str, trials: int, jobs: int = 1, progress=None, *,
               rules: str = X0CTL_RULES.name, adversary: str | None = None) -> dict:
    if trials < 1:
        raise UsageError("--trials must be at least 1")
    results = run_many([Task(item, backend_name, rules, adversary) for item in trial_scenarios(scenario, trials)],
                       jobs, progress)
    return {"aggregate": aggregate(results), "runs": [public_result(r) for r in results]}


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
              progress=None, *, rules: str = X0CTL_RULES.name, adversary: str | None = None) -> dict:
    """The safety/liveness curve over f Byzantine nodes (same seeds at every f)."""
    tasks, owners = [], []
    for count in counts:
        for item in trial_scenarios(dataclasses.replace(scenario, byzantine=count), trials):
            item.validate(f"sweep f={count}")
            tasks.append(Task(item, backend_name, rules, adversary))
            owners.append(count)
    results = run_many(tasks, jobs, progress)
    n = scenario.nodes
    points = []
    for count in counts:
        mine = [result for owner, result in zip(owners, results) if owner == count]
        summary = aggregate(mine)
        points.append({
            "byzantine": count,
            "within_bound": count <= rules_named(rules).tolerated_faults(n),
            "safety_violation": summary["safety_violation"],
            "agreement_violation": summary["agreement"]["violation"],
            "validity_violation": summary["validity"]["violation"],
            "conflicting_decisions": summary["agreement"]["conflicting_decisions"],
            "validity_violations": summary["validity"]["violations"],
            "honest_quarantined": summary["reputation"]["honest_quarantined"],
            "liveness": summary["liveness"],
            "totality": summary["agreement"]["totality"],
            "time_to_quorum_s": summary["time_to_quorum_s"],
        })
    unsafe_within = [p["byzantine"] for p in points if p["within_bound"] and p["safety_violation"]["count"]]
    first_unsafe = next((p["byzantine"] for p in points if p["safety_violation"]["count"]), None)
    first_stalled = next((p["byzantine"] for p in points if p["liveness"]["rate"] is not None
                          and p["liveness"]["rate"] < 1.0), None)
    return {
        "nodes": n, "quorum_threshold": rules_named(rules).threshold(n),
        "tolerated_faults": rules_named(rules).tolerated_faults(n),
        "trials_per_point": trials, "points": points,
        "safe_within_bound": not unsafe_within,
        "first_unsafe_byzantine": first_unsafe,
        "first_liveness_loss_byzantine": first_stalled,
    }


def public_result(result: dict) -> dict:
    return {key: value for key, value in result.items() if not key.startswith("_")}
