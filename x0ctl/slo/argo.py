"""x0ctl's SLOs as an Argo Rollouts AnalysisTemplate, so that Argo itself can gate a canary on them.

One Prometheus metric per SLO: the query is the SLO's error ratio over `window` (the same PromQL
`slo status` and the rollout `slo` gate evaluate, every metric name of the mesh included), checked
against the SLO's error budget (1 - objective):

    successCondition: len(result) > 0 && result[0] <= BUDGET
    failureCondition: len(result) > 0 && result[0] > BUDGET

No series, or NaN (no traffic in the window), matches neither: Argo reports the measurement
Inconclusive, as x0ctl never takes "no data" for a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from x0ctl.durations import promql_duration
from x0ctl.errors import UsageError
from x0ctl.slo.promql import error_ratio
from x0ctl.slo.spec import Spec, parse_label_selector

ARGO_API_VERSION = "argoproj.io/v1alpha1"


@dataclass
class AnalysisTemplate:
    """What `x0ctl slo analysis-template` emits; `to_dict()` is the AnalysisTemplate object."""

    name: str
    metrics: list = field(default_factory=list)
    namespace: str | None = None

    def to_dict(self) -> dict:
        metadata = {"name": self.name, **({"namespace": self.namespace} if self.namespace else {})}
        return {"apiVersion": ARGO_API_VERSION, "kind": "AnalysisTemplate", "metadata": metadata,
                "spec": {"metrics": self.metrics}}


def _budget(objective: float) -> str:
    return f"{1.0 - objective:.10g}"


def analysis_template(spec: Spec, *, name: str = "x0ctl-slos", namespace: str | None = None,
                      address: str = "http://prometheus:9090", window_seconds: int = 300,
                      interval_seconds: int = 60, count: int | None = None, failure_limit: int = 0,
                      selector: str | None = None) -> AnalysisTemplate:
    """An AnalysisTemplate with one Prometheus metric per SLO of `spec` (see the module docstring)."""
    if not address.startswith(("http://", "https://")):
        raise UsageError(f"--address {address!r}: give the Prometheus URL Argo's controller reaches (http:// or https://)")
    if window_seconds <= 0 or interval_seconds <= 0:
        raise UsageError("--window and --interval must be positive")
    if failure_limit < 0 or (count is not None and count < 1):
        raise UsageError("--failure-limit must be >= 0 and --count >= 1")
    extra = parse_label_selector(selector) if selector else ""
    metrics = []
    for slo in spec.slos:
        budget = _budget(slo.objective)
        metric = {
            "name": slo.name,
            "interval": promql_duration(interval_seconds),
            "failureLimit": failure_limit,
            "successCondition": f"len(result) > 0 && result[0] <= {budget}",
            "failureCondition": f"len(result) > 0 && result[0] > {budget}",
            "provider": {"prometheus": {"address": address,
                                        "query": error_ratio(slo, window_seconds, extra)}},
        }
        if count is not None:
            metric["count"] = count
        metrics.append(metric)
    return AnalysisTemplate(name, metrics, namespace)
