"""Evaluate SLOs against a Prometheus API: SLI and burn rate per window, budget left, a verdict.

Verdicts:
- no-data: the SLO window has no usable data (no series, or no traffic: 0/0). Never ok.
- breach:  the error budget of the SLO window is spent (any bad event for a 100% objective), or a
           page-level multiwindow burn-rate condition holds (1h and 5m above 14.4x, or 6h and 30m
           above 6x, for a 30-day window).
- ok:      otherwise. Ticket-level burn conditions are reported under `alerts` but do not breach.
- no-events: no data over the window for an SLO whose spec says `no_events: ok` (rare events such as
           key rotations); counted as ok, shown apart so nobody mistakes it for measured health.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from x0ctl.durations import format_time, promql_duration
from x0ctl.errors import CheckFailed, NoData
from x0ctl.slo.client import PrometheusClient
from x0ctl.slo.promql import MEASURE_LABEL, QUANTILE_MEASURE, WINDOW_LABEL, status_query
from x0ctl.slo.spec import SLO, Spec, parse_label_selector

VERDICTS = ("ok", "breach", "no-data", "no-events")


STATUS_WINDOWS = (300, 1800, 3600, 7200, 21600, 86400, 259200)  # 5m 30m 1h 2h 6h 1d 3d, plus the SLO window
REFERENCE_WINDOW = 30 * 86400


@dataclass(frozen=True)
class BurnRateAlert:
    """A multiwindow burn-rate condition (Google SRE workbook), with its factor for a 30-day window."""

    name: str
    severity: str
    long_window: int
    short_window: int
    factor: float

    def factor_for(self, slo_window: int) -> float:
        """The same share of budget spent in the long window, for SLO windows other than 30 days."""
        if slo_window == REFERENCE_WINDOW:
            return self.factor
        return round(self.factor * slo_window / REFERENCE_WINDOW, 6)


BURN_RATE_ALERTS = (
    BurnRateAlert("page-1h-5m", "page", 3600, 300, 14.4),
    BurnRateAlert("page-6h-30m", "page", 21600, 1800, 6.0),
    BurnRateAlert("ticket-1d-2h", "ticket", 86400, 7200, 3.0),
    BurnRateAlert("ticket-3d-6h", "ticket", 259200, 21600, 1.0),
)


@dataclass
class WindowResult:
    window: str
    seconds: int
    error_ratio: float | None
    burn_rate: float | None
    quantile_seconds: float | None = None

    @property
    def sli(self) -> float | None:
        return None if self.error_ratio is None else 1.0 - self.error_ratio

    def to_dict(self) -> dict:
        return {"window": self.window, "seconds": self.seconds, "sli": self.sli, "error_ratio": self.error_ratio,
                "burn_rate": self.burn_rate, "quantile_seconds": self.quantile_seconds}


@dataclass
class AlertResult:
    name: str
    severity: str
    long_window: str
    short_window: str
    factor: float
    firing: bool

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class SloResult:
    slo: SLO
    group: dict[str, str]
    verdict: str
    at: float
    windows: list[WindowResult]
    error_ratio: float | None  # over the SLO window
    budget_remaining: float | None
    alerts: list[AlertResult] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    query: str = ""

    @property
    def sli(self) -> float | None:
        return None if self.error_ratio is None else 1.0 - self.error_ratio

    def window(self, name: str) -> WindowResult | None:
        return next((w for w in self.windows if w.window == name), None)

    def to_dict(self) -> dict:
        return {
            "name": self.slo.name, "kind": self.slo.kind, "description": self.slo.description,
            "objective": self.slo.objective, "window": promql_duration(self.slo.window),
            "error_budget": self.slo.error_budget, "group": dict(self.group), "verdict": self.verdict,
            "reasons": list(self.reasons), "sli": self.sli, "error_ratio": self.error_ratio,
            "budget_remaining": self.budget_remaining,
            "windows": [w.to_dict() for w in self.windows], "alerts": [a.to_dict() for a in self.alerts],
        }


def windows_for(slo: SLO) -> list[int]:
    return sorted({*STATUS_WINDOWS, slo.window})


def burn_rate(error_ratio: float | None, budget: float) -> float | None:
    """error ratio / error budget; None without data, or for a 100% objective once anything went bad."""
    if error_ratio is None:
        return None
    if budget <= 0:
        return 0.0 if error_ratio <= 0 else None
    return error_ratio / budget


def evaluate(
    spec: Spec,
    client: PrometheusClient,
    at: float | None = None,
    selector: str | None = None,
    by: tuple[str, ...] | list[str] = (),
) -> list[SloResult]:
    """Evaluate every SLO of the spec at one instant (now when `at` is None), one query per SLO, concurrently.

    `selector` ('{job="x0"}') narrows every series; `by` ('instance',) gives one result per group,
    worst first within each SLO. Raises IOFailure (unreachable/HTTP error) or BadQuery (bad PromQL).
    """
    at = time.time() if at is None else float(at)
    extra = parse_label_selector(selector) if selector else ""
    by = tuple(by)
    queries = {slo.name: status_query(slo, windows_for(slo), extra, by) for slo in spec.slos}
    answers = client.query_many(queries, at)
    results: list[SloResult] = []
    for slo in spec.slos:
        results.extend(_results_for(slo, answers[slo.name], at, by))
    return results


def _results_for(slo: SLO, answer, at: float, by: tuple[str, ...]) -> list[SloResult]:
    windows = windows_for(slo)
    names = {promql_duration(s): s for s in windows}
    ratios: dict[tuple, dict[str, float | None]] = {}
    quantiles: dict[tuple, dict[str, float | None]] = {}
    for sample in answer.samples:
        window = sample.labels.get(WINDOW_LABEL)
        if window not in names:
            continue
        key = tuple((label, sample.labels.get(label, "")) for label in by)
        target = quantiles if sample.labels.get(MEASURE_LABEL) == QUANTILE_MEASURE else ratios
        target.setdefault(key, {})[window] = sample.value
    keys = (list(ratios) or [()]) if by else [()]
    results = [_result(slo, dict(key), ratios.get(key, {}), quantiles.get(key, {}), windows, at, answer.query)
               for key in keys]
    return sorted(results, key=_rank) if by else results


def _rank(result: SloResult) -> tuple:
    """Worst first: breaches, then the most budget spent over the SLO window, then the fastest 1h burn."""
    one_hour = result.window("1h")
    return (
        {"breach": 0, "ok": 1, "no-events": 2, "no-data": 3}[result.verdict],
        -(result.error_ratio if result.error_ratio is not None else -1.0),
        -(one_hour.error_ratio if one_hour and one_hour.error_ratio is not None else -1.0),
        tuple(sorted(result.group.items())),
    )


def _result(slo: SLO, group: dict, ratios: dict, quantiles: dict, windows: list[int], at: float,
            query: str) -> SloResult:
    budget = slo.error_budget
    window_results = []
    for seconds in windows:
        name = promql_duration(seconds)
        ratio = ratios.get(name)
        if ratio is not None:
            ratio = min(max(ratio, 0.0), 1.0)  # float noise around 0 and 1 only
        window_results.append(WindowResult(name, seconds, ratio, burn_rate(ratio, budget), quantiles.get(name)))
    by_seconds = {w.seconds: w for w in window_results}
    overall = by_seconds[slo.window].error_ratio
    reasons: list[str] = []
    alerts = []
    if slo.zero_tolerance:
        remaining = None if overall is None else (1.0 if overall <= 0 else 0.0)
    else:
        remaining = None if overall is None else 1.0 - overall / budget
        for alert in BURN_RATE_ALERTS:
            factor = alert.factor_for(slo.window)
            long_rate = by_seconds[alert.long_window].burn_rate
            short_rate = by_seconds[alert.short_window].burn_rate
            firing = long_rate is not None and short_rate is not None and long_rate > factor and short_rate > factor
            alerts.append(AlertResult(alert.name, alert.severity, promql_duration(alert.long_window),
                                      promql_duration(alert.short_window), factor, firing))
            if firing and alert.severity == "page":
                reasons.append(f"burning the error budget at {long_rate:.1f}x over "
                               f"{promql_duration(alert.long_window)} and {short_rate:.1f}x over "
                               f"{promql_duration(alert.short_window)} (page above {factor:g}x)")
    window_name = promql_duration(slo.window)
    if overall is None and slo.no_events_ok:
        verdict = "no-events"
        reasons.insert(0, f"no events over the {window_name} window: ok, as the spec says (no_events: ok)")
    elif overall is None:
        verdict = "no-data"
        reasons.insert(0, f"no data over the {window_name} window (no series or no traffic)")
    else:
        if slo.zero_tolerance and overall > 0:
            reasons.insert(0, f"{overall:.4%} bad over {window_name} with a 100% objective")
        elif not slo.zero_tolerance and overall > budget:
            reasons.insert(0, f"error budget exhausted: {overall / budget:.0%} of it spent over {window_name}")
        verdict = "breach" if reasons else "ok"
    return SloResult(slo=slo, group=group, verdict=verdict, at=at, windows=window_results, error_ratio=overall,
                     budget_remaining=remaining, alerts=alerts, reasons=reasons, query=query)


def overall_verdict(results: list[SloResult]) -> str:
    """'breach' if any result breaches, else 'no-data' if any has no data, else 'ok' (also for no results;
    `no-events` counts as ok)."""
    verdicts = {r.verdict for r in results}
    return "breach" if "breach" in verdicts else "no-data" if "no-data" in verdicts else "ok"


def result_name(result: SloResult) -> str:
    group = ",".join(f"{k}={v}" for k, v in result.group.items())
    return f"{result.slo.name}{'{' + group + '}' if group else ''}"


def raise_for_verdicts(results: list[SloResult], source: str = "") -> None:
    """What `slo check` does: CheckFailed (exit 1) on any breach, else NoData (exit 5) on any no-data."""
    breaches = [r for r in results if r.verdict == "breach"]
    if breaches:
        detail = "; ".join(f"{result_name(r)} ({r.reasons[0]})" for r in breaches)
        raise CheckFailed(f"SLO breach: {detail}")
    missing = [r for r in results if r.verdict == "no-data"]
    if missing:
        where = f" and that {source} holds the window" if source else ""
        raise NoData(f"no data for SLO {', '.join(result_name(r) for r in missing)} (check the metrics, the "
                     f"selector{where})")


@dataclass
class StatusReport:
    """What `slo status` and `slo check` show: every result at one instant, with counts and query timings."""

    prometheus: str  # the server's URL without secrets
    spec: str
    at: float
    selector: str | None
    by: tuple[str, ...]
    results: list[SloResult]
    query_seconds: list[dict]  # {"slo", "seconds"} per HTTP request

    def counts(self) -> dict[str, int]:
        return {verdict: sum(r.verdict == verdict for r in self.results) for verdict in VERDICTS}

    def to_dict(self) -> dict:
        counts = self.counts()
        return {
            "prometheus": self.prometheus, "spec": self.spec, "at": format_time(self.at), "at_unix": self.at,
            "selector": self.selector, "by": list(self.by), "slos": [r.to_dict() for r in self.results],
            "summary": {"ok": counts["ok"], "breach": counts["breach"], "no_data": counts["no-data"],
                        "no_events": counts["no-events"]},
            "queries": list(self.query_seconds),
        }

    def raise_for_verdicts(self) -> None:
        """CheckFailed (exit 1) on any breach, else NoData (exit 5) on any no-data; `no-events` is ok."""
        raise_for_verdicts(self.results, self.prometheus)


def status_report(spec: Spec, client: PrometheusClient, at: float | None = None, selector: str | None = None,
                  by: tuple[str, ...] | list[str] = ()) -> StatusReport:
    """Evaluate the spec (see `evaluate`) and keep what a status report shows."""
    at = time.time() if at is None else float(at)
    first_timing = len(client.timings)
    results = evaluate(spec, client, at=at, selector=selector, by=by)
    slo_of_query = {r.query: r.slo.name for r in results}
    timings = [{"slo": slo_of_query.get(t.query), "seconds": round(t.seconds, 6)}
               for t in client.timings[first_timing:]]
    return StatusReport(client.display_url, spec.source, at, selector, tuple(by), results, timings)
