"""SLOs, error budgets and burn rates from a Prometheus HTTP API (a documented Python API, no CLI imports).

    from x0ctl.slo import client_from_options, default_spec, evaluate
    client = client_from_options("http://prometheus:9090", timeout=5)
    for result in evaluate(default_spec(), client, selector='{job="x0"}'):
        print(result.slo.name, result.verdict, result.budget_remaining)

See docs/slo.md for the spec format, the verdicts and the JSON schemas.
"""

from __future__ import annotations

from x0ctl.slo.client import BadQuery, PrometheusClient, QueryResult, Sample, client_from_options
from x0ctl.slo.evaluate import (
    BURN_RATE_ALERTS,
    STATUS_WINDOWS,
    VERDICTS,
    AlertResult,
    BurnRateAlert,
    NoData,
    SloResult,
    StatusReport,
    WindowResult,
    evaluate,
    overall_verdict,
    raise_for_verdicts,
    status_report,
)
from x0ctl.slo.rules import generate_rules, rules_yaml
from x0ctl.slo.spec import SLO, Alerting, AlertSettings, Metric, Spec, SpecError, default_spec, load_spec

__all__ = [
    "BURN_RATE_ALERTS", "SLO", "STATUS_WINDOWS", "VERDICTS", "AlertResult", "AlertSettings", "Alerting", "BadQuery",
    "BurnRateAlert", "Metric", "NoData", "PrometheusClient", "QueryResult", "Sample", "SloResult", "Spec",
    "SpecError", "StatusReport", "WindowResult", "client_from_options", "default_spec", "evaluate",
    "generate_rules", "load_spec", "overall_verdict", "raise_for_verdicts", "rules_yaml", "status_report",
]
