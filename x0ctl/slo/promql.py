"""PromQL for SLOs: the error ratio of every kind over a window, and one query per SLO for all windows.

Only standard PromQL (rate, sum by, histogram_quantile, subqueries, label_replace), so the queries
run on Prometheus, Thanos Query, Mimir and VictoriaMetrics alike.
"""

from __future__ import annotations

import re

from x0ctl.durations import promql_duration
from x0ctl.errors import UsageError
from x0ctl.slo.spec import SLO, WINDOW_PLACEHOLDER, Metric

WINDOW_LABEL = "x0ctl_window"
MEASURE_LABEL = "x0ctl_measure"
QUANTILE_MEASURE = "quantile"
# Gauge SLOs count bad *time*: the condition is sampled every minute, so a bad state shorter than a
# minute between two scrapes can be missed, and a 30d window costs 43200 steps per series.
GAUGE_STEP = "1m"


def _grouping(by: tuple[str, ...]) -> str:
    return f" by ({', '.join(by)})" if by else ""


def _check_expression(slo: SLO, metric: Metric, extra: str, by: tuple[str, ...]) -> None:
    if not metric.is_selector and (extra or by):
        raise UsageError(f"SLO {slo.name!r} uses a PromQL expression: --selector and --by only apply to SLOs "
                         "written as series selectors")


def _matchers(slo: SLO, extra: str) -> str:
    return ",".join(p for p in (slo.selector, extra) if p)


def _rate(slo: SLO, metric: Metric, window: str, extra: str, by: tuple[str, ...]) -> str:
    _check_expression(slo, metric, extra, by)
    if metric.is_selector:
        return f"sum{_grouping(by)} ({metric.over_window('rate', _matchers(slo, extra), window)})"
    return f"({metric.expression.replace(WINDOW_PLACEHOLDER, window)})"


def le_matcher(threshold: float) -> str:
    """`le` as Go clients ("1", "0.1") and Python clients ("1.0", "0.1") spell the same bound."""
    spellings = {repr(float(threshold)), f"{threshold:.15g}"}
    if float(threshold).is_integer():
        spellings |= {str(int(threshold)), f"{int(threshold)}.0"}
    pattern = "|".join(re.escape(s) for s in sorted(spellings))
    return 'le=~"' + pattern.replace("\\", "\\\\") + '"'


def error_ratio(slo: SLO, window_seconds: int, extra: str = "", by: tuple[str, ...] = ()) -> str:
    """Bad events (or bad time) divided by all events (or all time) over the window; NaN with no traffic."""
    window = promql_duration(window_seconds)
    if slo.kind == "ratio":
        rate = {name: _rate(slo, m, window, extra, by)
                for name, m in (("good", slo.good), ("errors", slo.errors), ("total", slo.total)) if m is not None}
        # A counter labelled by reason has no series until the first failure: `or 0 * other` keeps a
        # clean period at 0 errors instead of turning it into "no data".
        if "total" not in rate:
            errors = f"({rate['errors']} or 0 * {rate['good']})"
            good = f"({rate['good']} or 0 * {rate['errors']})"
            return f"{errors} / ({errors} + {good})"
        if "errors" in rate:
            return f"({rate['errors']} or 0 * {rate['total']}) / {rate['total']}"
        good = f"({rate['good']} or 0 * {rate['total']})"
        return f"({rate['total']} - {good}) / {rate['total']}"
    if slo.kind == "latency":
        _check_expression(slo, slo.histogram, extra, by)
        matchers = _matchers(slo, extra)
        fast_selector = slo.histogram.selector(",".join(p for p in (matchers, le_matcher(slo.threshold)) if p),
                                               suffix="_bucket")
        fast = f"sum{_grouping(by)} (rate({fast_selector}[{window}]))"
        total = f"sum{_grouping(by)} (rate({slo.histogram.selector(matchers, suffix='_count')}[{window}]))"
        return f"({total} - {fast}) / {total}"
    _check_expression(slo, slo.gauge, extra, by)
    operator, value = slo.bad_when
    selector = slo.gauge.selector(_matchers(slo, extra))
    return f"avg{_grouping(by)} (avg_over_time(({selector} {operator} bool {value:g})[{window}:{GAUGE_STEP}]))"


def quantile(slo: SLO, window_seconds: int, extra: str = "", by: tuple[str, ...] = ()) -> str | None:
    if slo.kind != "latency" or slo.quantile is None:
        return None
    window = promql_duration(window_seconds)
    bucket = slo.histogram.selector(_matchers(slo, extra), suffix="_bucket")
    return f"histogram_quantile({slo.quantile:g}, sum by ({', '.join(('le', *by))}) (rate({bucket}[{window}])))"


def _tag(expression: str, label: str, value: str) -> str:
    return f'label_replace({expression}, "{label}", "{value}", "", "")'


def status_query(slo: SLO, windows: list[int], extra: str = "", by: tuple[str, ...] = ()) -> str:
    """Every window's error ratio (and quantile) in one query, told apart by the x0ctl_window label."""
    parts = []
    for seconds in windows:
        name = promql_duration(seconds)
        parts.append(_tag(error_ratio(slo, seconds, extra, by), WINDOW_LABEL, name))
        q = quantile(slo, seconds, extra, by)
        if q is not None:
            parts.append(_tag(_tag(q, WINDOW_LABEL, name), MEASURE_LABEL, QUANTILE_MEASURE))
    return "\n  or ".join(parts)
