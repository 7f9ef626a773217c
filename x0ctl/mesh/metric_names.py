"""Metric names as the mesh's code exports them, beside the names of its design documents (domain.md).

The design documents name the key-rotation counters `key_rotation_{success,failure}_total`; the
mesh's Python exporter (src/monitoring/pqc_metrics.py at the commit x0ctl was checked against)
registers them as `pqc_key_rotation_{success,failure}_total`. x0ctl reads either: a query for one
name also reads its equivalents, preferring the name asked for on any target (job, instance) that
exports both, so nothing is counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass

# The labels that tell one scraped target from another: where one target exports two names of the
# same counter, only the first is read.
TARGET_LABELS = ("job", "instance")


@dataclass(frozen=True)
class MetricName:
    """One metric as domain.md names it and as the mesh's code exports it."""

    domain: str
    mesh: str
    kind: str
    source: str

    @property
    def diverges(self) -> bool:
        return self.domain != self.mesh

    def to_dict(self) -> dict:
        return {"domain": self.domain, "mesh": self.mesh, "kind": self.kind, "source": self.source,
                "diverges": self.diverges}


METRIC_NAMES: tuple[MetricName, ...] = (
    MetricName("pqc_handshake_success_total", "pqc_handshake_success_total", "counter",
               "src/monitoring/pqc_metrics.py"),
    MetricName("pqc_handshake_failure_total", "pqc_handshake_failure_total", "counter{reason}",
               "src/monitoring/pqc_metrics.py"),
    MetricName("pqc_handshake_latency_seconds", "pqc_handshake_latency_seconds", "histogram",
               "src/monitoring/pqc_metrics.py"),
    MetricName("pqc_fallback_enabled", "pqc_fallback_enabled", "gauge", "src/monitoring/pqc_metrics.py"),
    MetricName("key_rotation_success_total", "pqc_key_rotation_success_total", "counter",
               "src/monitoring/pqc_metrics.py"),
    MetricName("key_rotation_failure_total", "pqc_key_rotation_failure_total", "counter{reason}",
               "src/monitoring/pqc_metrics.py"),
)


def equivalent_names(name: str) -> tuple[str, ...]:
    """The other names the same series are exported under ('key_rotation_success_total' -> the mesh's name)."""
    others: list[str] = []
    for metric in METRIC_NAMES:
        if name in (metric.domain, metric.mesh):
            others += [n for n in (metric.domain, metric.mesh) if n != name and n not in others]
    return tuple(others)


def read_any(function: str, selectors: list[str], window: str) -> str:
    """PromQL applying `function(selector[window])` to each name, first name winning per target.

    `a or on (job, instance) b`: series of a target that exports both names come from the first
    only; a target exporting only the second name still counts. rate()/increase() drop the metric
    name, so the result is one set of series whichever names exist.
    """
    on = ", ".join(TARGET_LABELS)
    return f" or on ({on}) ".join(f"{function}({selector}[{window}])" for selector in selectors)
