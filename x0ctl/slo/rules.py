"""Prometheus rules for a spec: error-ratio recording rules and multiwindow multi-burn-rate alerts.

One rule group per SLO. Recording rules `slo:sli_error:ratio_rate<window>{slo="<name>"}` for every
status window and the SLO window, plus `slo:objective:ratio` and `slo:error_budget:ratio`.
Alerts, for an SLO with an error budget (factors for a 30-day window, scaled for others):

- SLOErrorBudgetBurn severity=page:   1h and 5m above 14.4x, or 6h and 30m above 6x
- SLOErrorBudgetBurn severity=ticket: 1d and 2h above 3x,    or 3d and 6h above 1x

and, for a 100% objective (no budget), SLOZeroToleranceViolation severity=page on any bad event in 5m.

An SLO's `alerting:` adds labels and annotations (a `runbook_url` becomes the annotation of that
name) and a `for:` per severity. By default there is no `for:`: the short window of each pair
already requires the burn to be happening now, and a `for:` only adds to the detection time.
"""

from __future__ import annotations

from x0ctl.durations import promql_duration
from x0ctl.slo.evaluate import BURN_RATE_ALERTS, windows_for
from x0ctl.slo.promql import error_ratio
from x0ctl.slo.spec import SLO, Spec, parse_label_selector

RECORD_PREFIX = "slo:sli_error:ratio_rate"
SHORTEST_WINDOW = 300


def record_name(window_seconds: int) -> str:
    return f"{RECORD_PREFIX}{promql_duration(window_seconds)}"


def _recorded(slo: SLO, window_seconds: int) -> str:
    return f'{record_name(window_seconds)}{{slo="{slo.name}"}}'


def _window_expression(slo: SLO, seconds: int, extra: str) -> str:
    # A gauge's bad time over days would be a subquery of tens of thousands of steps at every
    # evaluation; averaging the recorded 5m series is the same fraction at a fraction of the cost.
    if slo.kind == "gauge" and seconds != SHORTEST_WINDOW:
        return f"avg_over_time({_recorded(slo, SHORTEST_WINDOW)}[{promql_duration(seconds)}])"
    return error_ratio(slo, seconds, extra)


def _rules_for(slo: SLO, extra: str) -> dict:
    labels = {**slo.labels, "slo": slo.name}
    rules: list[dict] = [
        {"record": record_name(seconds), "expr": _window_expression(slo, seconds, extra), "labels": dict(labels)}
        for seconds in windows_for(slo)
    ]
    rules.append({"record": "slo:objective:ratio", "expr": f"vector({slo.objective:g})", "labels": dict(labels)})
    rules.append({"record": "slo:error_budget:ratio", "expr": f"vector({slo.error_budget:g})", "labels": dict(labels)})
    window = promql_duration(slo.window)
    if slo.zero_tolerance:
        rules.append(_alert(slo, "SLOZeroToleranceViolation", f"{_recorded(slo, SHORTEST_WINDOW)} > 0", "page", {
            "summary": f"SLO {slo.name}: a bad event with a 100% objective",
            "description": (f"{slo.description or slo.name}: {{{{ $value | humanizePercentage }}}} bad over the "
                            f"last 5m; the objective over {window} is 100%."),
        }))
        return {"name": f"x0ctl-slo-{slo.name}", "rules": rules}
    budget = f"{slo.error_budget:g}"
    for severity in ("page", "ticket"):
        conditions = []
        for alert in (a for a in BURN_RATE_ALERTS if a.severity == severity):
            factor = f"{alert.factor_for(slo.window):g}"
            conditions.append(f"({_recorded(slo, alert.long_window)} > ({factor} * {budget}) and "
                              f"{_recorded(slo, alert.short_window)} > ({factor} * {budget}))")
        rules.append(_alert(slo, "SLOErrorBudgetBurn", "\nor\n".join(conditions), severity, {
            "summary": f"SLO {slo.name} is burning its error budget ({severity})",
            "description": (f"{slo.description or slo.name}: error ratio {{{{ $value | humanizePercentage }}}} "
                            f"against a budget of {slo.error_budget:.4%} over {window}."),
        }))
    return {"name": f"x0ctl-slo-{slo.name}", "rules": rules}


def _alert(slo: SLO, name: str, expr: str, severity: str, annotations: dict) -> dict:
    """One alerting rule with the SLO's own `for:`, labels and annotations (theirs win over ours)."""
    for_seconds, extra_labels, extra_annotations = slo.alerting.for_severity(severity)
    rule: dict = {"alert": name, "expr": expr}
    if for_seconds:
        rule["for"] = promql_duration(for_seconds)
    rule["labels"] = {**slo.labels, **extra_labels, "slo": slo.name, "severity": severity}
    rule["annotations"] = {**annotations, **extra_annotations}
    return rule


def generate_rules(spec: Spec, selector: str | None = None) -> dict:
    """The rules file as data ({"groups": [...]}), valid for `promtool check rules`."""
    extra = parse_label_selector(selector) if selector else ""
    return {"groups": [_rules_for(slo, extra) for slo in spec.slos]}


class _Dumper:
    @staticmethod
    def dump(data: dict) -> str:
        import yaml

        class Dumper(yaml.SafeDumper):
            pass

        def text(dumper, value: str):
            style = "|" if "\n" in value else None
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

        Dumper.add_representer(str, text)
        return yaml.dump(data, Dumper=Dumper, sort_keys=False, width=1_000_000, allow_unicode=True)


def rules_yaml(spec: Spec, selector: str | None = None) -> str:
    header = f"# Generated by x0ctl slo rules from {spec.source}. Do not edit: regenerate.\n"
    return header + _Dumper.dump(generate_rules(spec, selector))
