"""Turn a finished `Simulation` into the result dictionary (schema in docs/quorum.md).

Everything here except `timing` is a function of the scenario and seed only.
"""

from __future__ import annotations

import math
from collections import Counter

from x0ctl.quorum.verifier import REJECTION_CAUSES

CAUSES = {**REJECTION_CAUSES, "contradicted_report": "false_report", "equivocation": "equivocation"}
CAUSE_NAMES = ("replay", "forgery", "rate_limit", "quarantine", "false_report", "equivocation", "other")


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (no interpolation, so the figure is one that was observed)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(round(fraction * len(ordered), 9)))
    return ordered[min(rank, len(ordered)) - 1]


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def build_result(sim) -> dict:
    from x0ctl.quorum.simulator import (
        GOVERNANCE_PROPOSAL,
        HONEST_PROPOSAL_SLOT,
        NODE_FAILURE,
    )

    s = sim.scenario
    honest, end = sim.honest, sim.duration_ms
    settle_ms = 3 * sim.sync_ms

    # Which values honest nodes validated, per event.
    decided: dict[tuple, dict[str, list]] = {}
    for node in honest:
        for event, (value, at) in node.decided_at.items():
            decided.setdefault(event, {}).setdefault(value, []).append((node.index, at))

    def is_false(event: tuple, value: str, at: float) -> bool:
        if event[0] == NODE_FAILURE:
            subject = sim.index_of.get(event[1])
            crashed = sim.crashed_at.get(subject)
            return crashed is None or crashed > at
        if event[0] == GOVERNANCE_PROPOSAL and event[2] == HONEST_PROPOSAL_SLOT:
            return value != "proposal-0"
        return False

    false_events = sorted({(event[0], event[2], sim.index_of.get(event[1], -1)) for event, values in decided.items()
                           for value, holders in values.items() if any(is_false(event, value, at) for _, at in holders)})
    conflicting = [event for event, values in decided.items() if len(values) > 1]
    quarantined_pairs = Counter()
    honest_quarantined = set()
    byzantine_index = {node.index: node for node in sim.byzantine}
    active = [node.index for node in sim.byzantine if node.strategies != {"silent"}]
    true_positive = false_positive = 0
    for node in honest:
        for target in node.verifier.reputation.quarantined:
            index = sim.index_of.get(target)
            if index in byzantine_index:
                true_positive += index in active
                quarantined_pairs["byzantine"] += 1
            else:
                false_positive += 1
                honest_quarantined.add(index)
    violations = len(false_events) + len(conflicting) + len(honest_quarantined)

    # Liveness: true events whose detection could complete before the end of the run.
    true_events = []
    for index, at in sorted(sim.crashed_at.items()):
        true_events.append(((NODE_FAILURE, sim.ids[index], 0), "down", at))
    proposed_at = sim.proposed_at
    if proposed_at is not None:
        true_events.append(((GOVERNANCE_PROPOSAL, "governance", HONEST_PROPOSAL_SLOT), "proposal-0", proposed_at))
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

    # Agreement: every event some honest node validated long enough before the end is validated, with
    # the same value, by every honest node.
    settled = [event for event, values in decided.items()
               if min(at for holders in values.values() for _, at in holders) <= end - settle_ms]
    disagreeing = [event for event in settled if len(decided[event]) > 1
                   or sum(len(holders) for holders in decided[event].values()) < len(honest)]

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
            "converged": bool(heal_in_run and all_cleared and not disagreeing),
            "convergence_s": (max(clear_times) / 1000.0 if clear_times else 0.0) if heal_in_run and all_cleared else None,
        })

    result = {
        "seed": s.seed, "nodes": sim.n, "byzantine": sim.f, "honest": len(honest), "duration_s": s.duration_s,
        "quorum_threshold": sim.q, "tolerated_faults": sim.f_max, "within_bound": sim.f <= sim.f_max,
        "safety": {
            "violations": violations, "ok": violations == 0,
            "false_events_validated": len(false_events),
            "conflicting_decisions": len(conflicting),
            "honest_quarantined": len(honest_quarantined),
            "false_accusations_attempted": len(sim.false_accusations),
        },
        "liveness": {
            "true_events": len(due),
            "validated_by_all_honest": validated_by_all,
            "validated_rate": _ratio(validated_pairs, len(due) * len(honest)),
            "time_to_quorum_s": {"p50": percentile(times, 0.50), "p95": percentile(times, 0.95), "count": len(times)},
        },
        "quarantine": {
            "precision": _ratio(true_positive, true_positive + false_positive),
            "recall": _ratio(true_positive, len(active) * len(honest)),
            "active_byzantine": len(active),
            "quarantined_byzantine_pairs": true_positive,
            "quarantined_honest_pairs": false_positive,
        },
        "rejections": {
            "by_cause": {cause: by_cause.get(cause, 0) for cause in CAUSE_NAMES},
            "by_reason": dict(sorted(rejections.items())),
        },
        "equivocations_detected": sim.equivocations_detected,
        "agreement": {"settled_events": len(settled), "disagreeing": len(disagreeing)},
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
