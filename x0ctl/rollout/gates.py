"""Gate evaluation: every gate ends in pass, fail, inconclusive (no data, too little traffic) or error.

An evaluation never raises for a Prometheus problem: an unreachable server, an HTTP error or a
rejected query is the verdict `error`, which is never a pass. Every result records the PromQL as
sent, the value, the threshold, the verdict and the reason.

Gate kinds:
- slo:      the SLOs of `x0ctl slo` (default: the mesh's handshake SLOs) over the gate's window:
            fail when any SLO's error ratio over the window is above its error budget.
- promql:   any PromQL and a condition (`< 0.01`); every returned series must satisfy it.
- baseline: canary vs stable over the same window, sampled with query_range every `resolution`
            ({{resolution}} in their queries is that step, so samples do not overlap): a one-sided
            Mann-Whitney U test plus Cliff's delta as the effect size, with a minimum sample count.
"""

from __future__ import annotations

import math
import operator
import time
from dataclasses import replace

from x0ctl.durations import format_duration, promql_duration
from x0ctl.errors import X0ctlError
from x0ctl.rollout.plan import RESOLUTION_PLACEHOLDER, WINDOW_PLACEHOLDER, Gate

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
        "!=": operator.ne}


def result(gate: Gate, verdict: str, reason: str, *, query=None, value=None, threshold=None, at=None,
           **extra) -> dict:
    return {"gate": gate.name, "kind": gate.kind, "verdict": verdict, "reason": reason, "query": query,
            "value": value, "threshold": threshold, "at": at, **extra}


def evaluate_gate(gate: Gate, client, at: float | None = None) -> dict:
    """One evaluation of one gate at `at` (unix seconds; the server's now when None)."""
    moment = time.time() if at is None else float(at)
    try:
        volume = _volume(gate, client, moment)
        if volume is not None and gate.min_requests is not None and volume["value"] < gate.min_requests:
            return result(gate, "inconclusive", f"only {volume['value']:g} requests over "
                          f"{format_duration(gate.window)} (minimum {gate.min_requests:g})", query=volume["query"],
                          value=volume["value"], threshold=gate.min_requests, at=moment, volume=volume["value"])
        if gate.kind == "slo":
            outcome = _slo(gate, client, moment)
        elif gate.kind == "promql":
            outcome = _promql(gate, client, moment)
        else:
            outcome = _baseline(gate, client, moment)
        if volume is not None:
            outcome["volume"] = volume["value"]
        return outcome
    except X0ctlError as exc:  # IOFailure (unreachable, HTTP error), BadQuery: never a pass
        return result(gate, "error", exc.message, at=moment)


def _volume(gate: Gate, client, at: float) -> dict | None:
    if gate.min_requests is None:
        return None
    query = gate.volume_query
    if query is None and gate.kind == "slo":
        query = _slo_volume_query(gate)
    if query is None:
        return None
    query = query.replace(WINDOW_PLACEHOLDER, promql_duration(gate.window))
    answer = client.query(query, at)
    values = [s.value for s in answer.samples if s.value is not None]
    return {"query": query, "value": float(sum(values)) if values else 0.0}


def _spec(gate: Gate):
    from x0ctl.slo import Spec, default_spec, load_spec

    spec = load_spec(gate.spec) if gate.spec else default_spec()
    # the SLO window becomes the gate's: the verdict is about the canary's recent behaviour
    return Spec(tuple(replace(slo, window=int(gate.window)) for slo in spec.slos), spec.source)


def _slo_volume_query(gate: Gate) -> str | None:
    """Requests over the window, from the first ratio SLO written as series selectors (handshakes by default)."""
    from x0ctl.slo.spec import parse_label_selector

    extra = parse_label_selector(gate.selector) if gate.selector else ""
    window = WINDOW_PLACEHOLDER
    for slo in _spec(gate).slos:
        if slo.kind != "ratio" or not all(m.is_selector for m in slo.metrics()):
            continue
        matchers = ",".join(p for p in (slo.selector, extra) if p)
        if slo.total is not None:
            return f"sum({slo.total.over_window('increase', matchers, window)})"
        good = f"sum({slo.good.over_window('increase', matchers, window)})"
        errors = f"sum({slo.errors.over_window('increase', matchers, window)})"
        return f"({good} or vector(0)) + ({errors} or vector(0))"
    return None


def _slo(gate: Gate, client, at: float) -> dict:
    from x0ctl.slo import evaluate

    spec = _spec(gate)
    window = promql_duration(gate.window)
    details, failing, missing = [], [], []
    for slo_result in evaluate(spec, client, at=at, selector=gate.selector):
        slo = slo_result.slo
        measured = slo_result.window(window)
        ratio = measured.error_ratio if measured else None
        budget = slo.error_budget
        if ratio is None:
            verdict = "no-data"
            missing.append(slo.name)
        elif ratio > budget if budget > 0 else ratio > 0:
            verdict = "fail"
            failing.append((slo.name, ratio, budget))
        else:
            verdict = "pass"
        details.append({"slo": slo.name, "verdict": verdict, "error_ratio": ratio, "error_budget": budget,
                        "query": slo_result.query})
    queries = [d["query"] for d in details]
    if failing:
        name, ratio, budget = max(failing, key=lambda f: f[1] - f[2])
        reason = f"SLO {name}: {ratio:.4%} bad over {window}, budget {budget:.4%}"
        if len(failing) > 1:
            reason += f" (and {', '.join(f[0] for f in failing if f[0] != name)})"
        return result(gate, "fail", reason, query=queries, value=ratio, threshold=budget, at=at, slos=details)
    if len(missing) == len(details):
        return result(gate, "inconclusive", f"no data for any SLO over {window}", query=queries, at=at,
                      slos=details)
    worst = max((d for d in details if d["error_ratio"] is not None), key=lambda d: d["error_ratio"] - d["error_budget"])
    reason = f"all SLOs within budget over {window}"
    if missing:
        reason += f" (no events for {', '.join(missing)})"
    return result(gate, "pass", reason, query=queries, value=worst["error_ratio"], threshold=worst["error_budget"],
                  at=at, slos=details)


def _promql(gate: Gate, client, at: float) -> dict:
    query = (gate.query or "").replace(WINDOW_PLACEHOLDER, promql_duration(gate.window))
    op, threshold = gate.condition()
    answer = client.query(query, at)
    values = [s.value for s in answer.samples if s.value is not None]
    if not values:
        return result(gate, "inconclusive", "no data (no series, or NaN)", query=query, threshold=threshold, at=at,
                      condition=gate.pass_when)
    bad = [v for v in values if not _OPS[op](v, threshold)]
    if bad:
        worst = max(bad, key=lambda v: abs(v - threshold))
        return result(gate, "fail", f"{worst:g} is not {op} {threshold:g}", query=query, value=worst,
                      threshold=threshold, at=at, condition=gate.pass_when, series=len(values))
    worst = min(values, key=lambda v: abs(v - threshold))
    return result(gate, "pass", f"{worst:g} {op} {threshold:g}", query=query, value=worst, threshold=threshold,
                  at=at, condition=gate.pass_when, series=len(values))


# Baseline comparison


def mann_whitney(canary: list[float], stable: list[float]) -> tuple[float, float, float]:
    """(U of the canary, one-sided p that the canary is larger, Cliff's delta), normal approximation with ties."""
    n1, n2 = len(canary), len(stable)
    pooled = sorted([(v, 0) for v in canary] + [(v, 1) for v in stable])
    ranks = [0.0] * len(pooled)
    tie_term = 0.0
    index = 0
    while index < len(pooled):
        end = index
        while end + 1 < len(pooled) and pooled[end + 1][0] == pooled[index][0]:
            end += 1
        rank = (index + end) / 2 + 1
        for k in range(index, end + 1):
            ranks[k] = rank
        size = end - index + 1
        tie_term += size ** 3 - size
        index = end + 1
    rank_sum = sum(r for r, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    u_canary = rank_sum - n1 * (n1 + 1) / 2
    delta = 2 * u_canary / (n1 * n2) - 1
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return u_canary, 1.0, delta
    z = (u_canary - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    p_greater = 0.5 * math.erfc(z / math.sqrt(2))
    return u_canary, min(1.0, max(0.0, p_greater)), delta


def _range_values(client, query: str, start: float, end: float, step: float) -> list[float]:
    """The finite sample values of every series the range query returns."""
    values = []
    for series in client.query_range(query, start, end, step):
        for _, raw in series.get("values") or []:
            try:
                value = float(raw)
            except ValueError:
                continue
            if math.isfinite(value):
                values.append(value)
    return values


def _baseline(gate: Gate, client, at: float) -> dict:
    step = promql_duration(gate.resolution)
    canary_query = (gate.canary or "").replace(RESOLUTION_PLACEHOLDER, step)
    stable_query = (gate.stable or "").replace(RESOLUTION_PLACEHOLDER, step)
    start = at - gate.window
    canary = _range_values(client, canary_query, start, at, gate.resolution)
    stable = _range_values(client, stable_query, start, at, gate.resolution)
    queries = [canary_query, stable_query]
    counts = {"canary_samples": len(canary), "stable_samples": len(stable)}
    if len(canary) < gate.min_samples or len(stable) < gate.min_samples:
        return result(gate, "inconclusive", f"too few samples: canary {len(canary)}, stable {len(stable)} "
                      f"(minimum {gate.min_samples})", query=queries, threshold=gate.alpha, at=at, **counts)
    if gate.higher_is_worse:
        _, p_value, delta = mann_whitney(canary, stable)
    else:
        _, p_value, delta = mann_whitney([-v for v in canary], [-v for v in stable])
    worse = "higher" if gate.higher_is_worse else "lower"
    extra = {**counts, "p_value": p_value, "effect_size": delta, "min_effect": gate.min_effect,
             "canary_median": _median(canary), "stable_median": _median(stable)}
    if p_value < gate.alpha and delta >= gate.min_effect:
        return result(gate, "fail", f"canary is {worse} than stable: p={p_value:.3g} < {gate.alpha:g}, "
                      f"Cliff's delta {delta:.2f} >= {gate.min_effect:g}", query=queries, value=p_value,
                      threshold=gate.alpha, at=at, **extra)
    return result(gate, "pass", f"no meaningful difference: p={p_value:.3g}, Cliff's delta {delta:.2f}",
                  query=queries, value=p_value, threshold=gate.alpha, at=at, **extra)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
