"""`rollout plan`: a plan's schedule, its timings and one evaluation of every gate, with nothing changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from x0ctl.errors import IOFailure, NoData
from x0ctl.rollout.gates import evaluate_gate
from x0ctl.rollout.plan import Plan


@dataclass(frozen=True)
class ScheduledStep:
    step: int
    weight: int
    bake_seconds: float
    ends_after_seconds: float  # from the start, when every gate passes at once

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def schedule(plan: Plan) -> list[ScheduledStep]:
    """Each step with the time it ends after the start: initial delay plus bake, summed."""
    rows, elapsed = [], 0.0
    for index, step in enumerate(plan.steps):
        elapsed += plan.initial_delay + step.bake
        rows.append(ScheduledStep(index + 1, step.weight, step.bake, elapsed))
    return rows


@dataclass
class DryRun:
    plan: Plan
    schedule: list[ScheduledStep]
    gates: list[dict] = field(default_factory=list)  # one evaluation per gate; empty when not queried

    def to_dict(self) -> dict:
        return {"plan": self.plan.to_dict(), "schedule": [row.to_dict() for row in self.schedule],
                "eta_seconds": self.plan.eta_seconds(),
                "worst_case_rollback_seconds": self.plan.worst_case_rollback_seconds(),
                "first_judgement": {"initial_delay_seconds": self.plan.initial_delay,
                                    "data_wait_seconds": self.plan.data_wait},
                "gates": list(self.gates)}

    def raise_for_gates(self) -> None:
        """IOFailure (exit 4) when a gate could not be evaluated, NoData (exit 5) when one had no data."""
        failed = [g for g in self.gates if g["verdict"] == "error"]
        if failed:
            raise IOFailure(f"gate {failed[0]['gate']!r} could not be evaluated: {failed[0]['reason']}"
                            + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))
        empty = [g for g in self.gates if g["verdict"] == "inconclusive"]
        if empty:
            raise NoData(f"gate {empty[0]['gate']!r} has no data yet: {empty[0]['reason']}"
                         + (f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""))


def dry_run(plan: Plan, client=None, at: float | None = None) -> DryRun:
    """The plan's schedule and, with a client, one evaluation of every gate at `at` (now when None)."""
    checks = [evaluate_gate(gate, client, at) for gate in plan.gates] if client is not None else []
    return DryRun(plan, schedule(plan), checks)
