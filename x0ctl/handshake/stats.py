"""Outcome tallies and latency percentiles shared by selftest, serve and probe, and the SLO check."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from x0ctl.handshake.protocol import PHASES
from x0ctl.handshake.reasons import LOCAL, FailureReason

# shared/domain.md, "SLO targets"; operators may override them per command.
DEFAULT_MIN_SUCCESS_RATE = 99.0
DEFAULT_MAX_P95_MS = 100.0
FALLBACK_TTL_SECONDS = 3600


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Tally:
    """Thread-safe counts of successes, failures by reason (this side's own rejections), refusals the
    peer reported (never mixed into `failures`), cookie replies, latencies and per-phase time."""

    successes: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    peer_reported: dict[str, int] = field(default_factory=dict)
    cookies: int = 0
    latencies: list[float] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def success(self, seconds: float, *phase_maps: dict[str, float]) -> None:
        with self._lock:
            self.successes += 1
            self.latencies.append(seconds)
            for phases in phase_maps:
                for name, value in phases.items():
                    self.phase_seconds[name] += value

    def failure(self, reason: FailureReason, origin: str = LOCAL) -> None:
        counts = self.failures if origin == LOCAL else self.peer_reported
        with self._lock:
            counts[reason.value] = counts.get(reason.value, 0) + 1

    def cookie(self) -> None:
        with self._lock:
            self.cookies += 1

    @property
    def attempts(self) -> int:
        return self.successes + sum(self.failures.values()) + sum(self.peer_reported.values())

    @property
    def success_rate(self) -> float:
        return 100.0 * self.successes / self.attempts if self.attempts else 0.0

    def latency_ms(self) -> dict[str, float | None]:
        """Percentiles in ms; all None when nothing succeeded (a 0.0 would read as "fast")."""
        ordered = sorted(self.latencies)
        if not ordered:
            return dict.fromkeys(("p50", "p95", "p99", "max", "mean"))
        return {
            "p50": round(percentile(ordered, 0.50) * 1000, 3),
            "p95": round(percentile(ordered, 0.95) * 1000, 3),
            "p99": round(percentile(ordered, 0.99) * 1000, 3),
            "max": round(ordered[-1] * 1000, 3),
            "mean": round(sum(ordered) / len(ordered) * 1000, 3),
        }

    def phases_ms(self) -> dict[str, float]:
        """Mean time per successful handshake in each phase, both sides added together."""
        count = max(self.successes, 1)
        return {name: round(value / count * 1000, 4) for name, value in self.phase_seconds.items()}

    def to_dict(self) -> dict:
        return {"attempts": self.attempts, "successes": self.successes, "failures": dict(sorted(self.failures.items())),
                "peer_reported": dict(sorted(self.peer_reported.items())),
                "success_rate": round(self.success_rate, 3), "latency_ms": self.latency_ms()}


def slo_checks(tally: Tally, min_success_rate: float, max_p95_ms: float) -> dict[str, dict]:
    p95 = tally.latency_ms()["p95"]
    return {
        "success_rate": {"target": f">= {min_success_rate:g}%", "actual": round(tally.success_rate, 3),
                         "ok": tally.attempts > 0 and tally.success_rate >= min_success_rate},
        "p95_latency_ms": {"target": f"< {max_p95_ms:g}", "actual": p95,
                           "ok": p95 is not None and p95 < max_p95_ms},
    }
