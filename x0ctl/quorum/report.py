"""Turn a finished `Simulation` into the result dictionary (schema in docs/quorum.md).

Everything here except `timing` is a function of the scenario and seed only.
"""

from __future__ import annotations

import math
from collections import Counter

from x0ctl.quorum.events import DOWN, GOVERNANCE_PROPOSAL, HONEST_PROPOSAL_VALUE, NODE_FAILURE, failure_event
from x0ctl.quorum.verifier import REJECTION_CAUSES

CAUSES = {**REJECTION_CAUSES, "equivocation": "equivocation"}
CAUSE_NAMES = ("replay", "forgery", "rate_limit", "quarantine", "equivocation", "other")
# Why an honest node suspected a live honest one (the adversary cannot silence an honest node; it
# can only add its votes to honest suspicions).
SUSPICION_CAUSES = ("partition", "loss", "adversary")


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (no interpolation, so the figure is one that was observed)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(round(fraction * len(ordered), 9)))
    return ordered[min(rank, len(ordered)) - 1]


def _split_during(sim, reporter: int, subject: int, at: float) -> bool:
    """Whether a partition separated the two during the reporter's detection window before `at`."""
    window_start = at - sim.suspect_ms - sim.beacon_ms
    for number, partition in enumerate(sim.scenario.partitions):
        if partition.start_s * 1000.0 <= at and partition.heal_s * 1000.0 > window_start \
                and sim.side[number][reporter] != sim.side[number][subject]:
            return True
    return False


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def build_result(sim) -> dict:
    s = sim.scenario
    honest, end = sim.honest, sim.duration_ms
    settle_ms = 3 * sim.sync_ms
    honest_set = sim.honest_set

    # Which values honest nodes validated, per event, with the supporters of the first validation.
    decided: dict[tuple, dict[str, list]] = {}
    supporters: dict[tuple, tuple] = {}  # (event, value) -> (time, attesters) of the first validation
    for node in honest:
        for event, (value, at) in node.decided_at.items():
            decided.setdefault(event, {}).setdefault(value, []).append((node.index, at))
            decision = node.tracker.decisions[event]
            known = supporters.get((event, value))
            if known is None or decision.at_ms < known[0]:
                supporters[(event, value)] = (decision.at_ms, decision.attesters)

    # Agreement: no two values for one event; totality over the events settled before the end.
    conflicting = [event for event, values in decided.items() if len(values) > 1]
    settled = [event for event, values in decided.items()
               if min(at for holders in values.values() for _, at in holders) <= end - settle_ms]
    decided_pairs = sum(len({index for holders in decided[event].values() for index, _ in holders})
                        for event in settled)
    incomplete = [event for event in settled
                  if sum(len(holders) for holders in decided[event].values()) < len(honest)]

    # Validity and the failure detector's accuracy.
    report_causes = {}
    for reporter, subject, at in sim.reports:
        if subject in honest_set:
            report_causes[(reporter, subject)] = "partition" if _split_during(sim, reporter, subject, at) else "loss"
    false_reports = Counter(report_causes.values())
    false_values, false_failures = set(), set()
    validated_false_suspicions = Counter()
    for (event, value), (_, attesters) in supporters.items():
        if event[0] == GOVERNANCE_PROPOSAL:
            owner = sim.index_of.get(event[1])
            if owner in honest_set:  # an honest owner proposes the run's honest proposal and nothing else
                proposed = sim.honest_proposal is not None and (event, value) == (
                    sim.honest_proposal[0], HONEST_PROPOSAL_VALUE)
            else:  # a Byzantine owner may propose anything it signs for its own slot
                proposed = owner is not None and (owner, event, value) in sim.statements
            if not proposed:
                false_values.add((event[1], event[2], value))
        elif event[0] == NODE_FAILURE:
            subject = sim.index_of.get(event[1])
            if subject not in honest_set:
                continue  # a Byzantine subject is faulty: declaring it failed is never false
            # An honest observer signed the report itself: a vote in its name it never signed (accepted
            # by rules that do not bind keys to senders) is the adversary's.
            observers = [sim.index_of[a] for a in attesters
                         if sim.index_of[a] in honest_set and (sim.index_of[a], event, value) in sim.statements]
            if not observers:
                false_failures.add(event[1])  # no honest node observed it: the event did not happen
            elif len(observers) < sim.q:
                validated_false_suspicions["adversary"] += 1  # Byzantine votes carried it over the threshold
            elif any(report_causes.get((observer, subject)) == "partition" for observer in observers):
                validated_false_suspicions["partition"] += 1
            else:
                validated_false_suspicions["loss"] += 1
    validity_violations = len(false_values) + len(false_failures)
    violations = len(conflicting) + validity_violations

    # Reputation: who honest nodes quarantined.
    honest_quarantined = set()
    active = [node.index for node in sim.byzantine if node.strategies != {"silent"}]
    active_set = set(active)
    true_positive = false_positive = 0
    for node in honest:
        for target in node.verifier.reputation.quarantined:
            index = sim.index_of.get(target)
            if index in honest_set:
                false_positive += 1
                honest_quarantined.add(index)
            elif index in active_set:
                true_positive += 1

    # Liveness: true events whose detection could complete before the end of the run.
    true_events = []
    for index, at in sorted(sim.crashed_at.items()):
        true_events.append((failure_event(sim.ids[index], 0), DOWN, at))
    if sim.proposed_at is not None:
        true_events.append((sim.honest_proposal[0], HONEST_PROPOSAL_VALUE, sim.proposed_at))

    # Due: detection (failure detector for crashes) plus three anti-entropy rounds fit in the run.
    def detection_ms(event: tuple) -> float:
        return sim.suspect_ms + sim.beacon_ms if event[0] == NODE_FAILURE else 0.0

    due = [item for item in true_events if item[2] + detection_ms(item[0]) + 3 * sim.sync_ms <= end]
    times, validated_pairs, validated_by_all = [], 0, 0
    for event, value, onset in due:
        holders = 0
        for node in honest:
            entry = node.decided_at.get(event)
            if entry is not None and entry[0] == value:
                holders += 1
                times.append((entry[1] - onset) / 1000.0)
        validated_pairs += holders
        validated_by_all += holders == len(honest)
    sim.time_to_quorum_samples = times

    rejections = Counter()
    for node in honest:
        rejections.update(node.verifier.rejections)
    by_cause = Counter()
    for reason, count in rejections.items():
        by_cause[CAUSES.get(reason, "other")] += count

    strategies: dict[str, dict] = {}
    for node in sim.byzantine:
        label = "+".join(sorted(node.strategies))
        entry = strategies.setdefault(label, {"nodes": 0, "messages_sent": 0, "quarantined_by": 0, "rejected": {}})
        entry["nodes"] += 1
        entry["messages_sent"] += node.sent
        entry["quarantined_by"] += sum(1 for h in honest if sim.ids[node.index] in h.verifier.reputation.quarantined)
    for label, counts in sim.rejections_by_strategy.items():
        strategies[label]["rejected"] = dict(sorted(counts.items()))

    partitions = []
    for number, partition in enumerate(s.partitions):
        start, heal = partition.start_s * 1000.0, partition.heal_s * 1000.0
        sides, clear_times, all_cleared = [], [], True
        for side_number in (0, 1):
            members = [index for index in range(sim.n) if sim.side[number][index] == side_number]
            side_honest = [node for node in honest if sim.side[number][node.index] == side_number]
            detected = 0
            split_decisions = set()
            for node in side_honest:
                flips = node.partition_log
                if any(on and start <= at <= heal + sim.suspect_ms for at, on in flips):
                    detected += 1
                    cleared = next((at for at, on in flips if not on and at >= heal), None)
                    if cleared is None:
                        all_cleared = False
                    else:
                        clear_times.append(cleared - heal)
                for event, (value, at) in node.decided_at.items():
                    if start <= at < heal:
                        split_decisions.add((event[0], event[2], value))
            sides.append({"side": "AB"[side_number], "nodes": len(members), "honest": len(side_honest),
                          "can_reach_quorum": len(members) >= sim.q, "detected_by": detected,
                          "decisions_while_split": len(split_decisions)})
        heal_in_run = heal < end
        partitions.append({
            "start_s": partition.start_s, "heal_s": partition.heal_s, "split": partition.split, "sides": sides,
            "healed_in_run": heal_in_run,
            "converged": bool(heal_in_run and all_cleared and not incomplete and not conflicting),
            "convergence_s": (max(clear_times) / 1000.0 if clear_times else 0.0) if heal_in_run and all_cleared else None,
        })

    result = {
        "seed": s.seed, "nodes": sim.n, "byzantine": sim.f, "honest": len(honest), "duration_s": s.duration_s,
        "quorum_threshold": sim.q, "tolerated_faults": sim.f_max, "within_bound": sim.f <= sim.f_max,
        "safety": {"ok": violations == 0, "violations": violations},
        "agreement": {
            "ok": not conflicting,
            "conflicting_decisions": len(conflicting),
            "settled_events": len(settled),
            "incomplete_events": len(incomplete),
            "totality": _ratio(decided_pairs, len(settled) * len(honest)),
        },
        "validity": {
            "ok": validity_violations == 0,
            "violations": validity_violations,
            "false_values": len(false_values),
            "false_failures": len(false_failures),
        },
        "liveness": {
            "true_events": len(due),
            "validated_by_all_honest": validated_by_all,
            "validated_rate": _ratio(validated_pairs, len(due) * len(honest)),
            "time_to_quorum_s": {"p50": percentile(times, 0.50), "p95": percentile(times, 0.95), "count": len(times)},
        },
        "failure_detector": {
            "reports": len(sim.reports),
            "false_suspicions": len(report_causes),
            "false_suspicions_by_cause": {cause: false_reports.get(cause, 0) for cause in SUSPICION_CAUSES},
            "false_failures_validated": sum(validated_false_suspicions.values()),
            "false_failures_validated_by_cause": {cause: validated_false_suspicions.get(cause, 0)
                                                  for cause in SUSPICION_CAUSES},
            "accuracy": None if not sim.reports else 1.0 - len(report_causes) / len(sim.reports),
        },
        "reputation": {
            "honest_quarantined": len(honest_quarantined),
            "false_positive_pairs": false_positive,
            "byzantine_quarantined_pairs": true_positive,
            "active_byzantine": len(active),
            "precision": _ratio(true_positive, true_positive + false_positive),
            "recall": _ratio(true_positive, len(active) * len(honest)),
            "false_reports_attempted": len(sim.false_accusations),
            "quarantines_expired": sum(getattr(node.verifier.reputation, "expired", 0) for node in honest),
        },
        "rejections": {
            "by_cause": {cause: by_cause.get(cause, 0) for cause in CAUSE_NAMES},
            "by_reason": dict(sorted(rejections.items())),
        },
        "equivocations_detected": sim.equivocations_detected,
        "messages": {
            "signed": sum(identity.signed for identity in sim.identities) + sim.forged_signatures,
            "sent": sim.sent, "delivered": sim.deliveries,
            "verified": sim.cache.real_verifications, "verification_cache_hits": sim.cache.cache_hits,
        },
        "strategies": dict(sorted(strategies.items())),
        "partitions": partitions,
        "timing": {"setup_s": round(sim.setup_seconds, 4), "loop_s": round(sim.loop_seconds, 4),
                   "loop_cpu_s": round(sim.loop_cpu_seconds, 4)},
    }
    return result
