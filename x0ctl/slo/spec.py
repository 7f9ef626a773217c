"""SLO specifications: the built-in default, x0ctl's YAML format and OpenSLO v1, with validation.

Every SLO is reduced to an *error ratio* (bad events / all events, or bad time / all time) so the
same budget, burn-rate and alert maths apply to all kinds:

- ratio:   counters; two of good / errors / total (series selectors or PromQL with {{window}}).
- latency: a histogram and a threshold; bad = requests slower than the threshold, counted exactly
           from the `le` bucket equal to the threshold; a quantile (p95 by default) is reported too.
- gauge:   a gauge and a bad condition (default `> 0`); bad = the fraction of time it held.

An objective of 100% is a zero-tolerance SLO: no error budget, any bad event is a breach.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from x0ctl.durations import DurationError, parse_duration, promql_duration
from x0ctl.errors import UsageError
from x0ctl.mesh.metric_names import equivalent_names, read_any
from x0ctl.textfile import nested_too_deeply, read_text

DEFAULT_WINDOW = 30 * 86400
WINDOW_PLACEHOLDER = "{{window}}"

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_MATCHER = rf'\s*{_LABEL_NAME}\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*'
_MATCHERS = re.compile(rf"^(?:{_MATCHER}(?:,{_MATCHER})*,?\s*)?$")
_SERIES_SELECTOR = re.compile(rf"^\s*({METRIC_NAME})\s*(?:\{{(.*)\}})?\s*$", re.S)
_LABEL_SELECTOR = re.compile(r"^\s*\{(.*)\}\s*$", re.S)
_GAUGE_CONDITION = re.compile(r"^\s*(==|!=|>=|<=|>|<)\s*(-?[0-9.eE+-]+)\s*$")


class SpecError(UsageError):
    """An invalid SLO specification: every problem, each with its file and field."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        first_field, first_message = problems[0]
        more = f" (and {len(problems) - 1} more; run 'x0ctl slo validate {source}')" if len(problems) > 1 else ""
        super().__init__(f"{source}: {first_field}: {first_message}{more}")


@dataclass(frozen=True)
class Metric:
    """A counter/gauge source: a series selector (x0ctl builds the PromQL) or PromQL with {{window}}."""

    name: str | None = None
    matchers: str = ""
    expression: str | None = None

    @property
    def is_selector(self) -> bool:
        return self.expression is None

    def selector(self, extra: str = "", suffix: str = "", name: str | None = None) -> str:
        parts = [p for p in (self.matchers.strip().rstrip(","), extra.strip().rstrip(",")) if p]
        name = name or self.name
        return f"{name}{suffix}{{{','.join(parts)}}}" if parts else f"{name}{suffix}"

    def over_window(self, function: str, extra: str, window: str) -> str:
        """`function(selector[window])` over this name and the mesh's other names for it, none counted twice."""
        names = (self.name, *equivalent_names(self.name))
        return read_any(function, [self.selector(extra, name=name) for name in names], window)

    def text(self) -> str:
        return self.expression if self.expression is not None else self.selector()


@dataclass(frozen=True)
class AlertSettings:
    """What one severity's alert carries: a `for:` duration (None: none) and extra labels/annotations."""

    for_seconds: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"for": promql_duration(self.for_seconds) if self.for_seconds else None, "labels": dict(self.labels),
                "annotations": dict(self.annotations)}


@dataclass(frozen=True)
class Alerting:
    """Per-SLO alert settings for `slo rules` (sloth's `alerting:`): shared labels, annotations and a
    runbook URL, plus per-severity (`page`, `ticket`) `for:`, labels and annotations, which win."""

    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    runbook_url: str | None = None
    page: AlertSettings = field(default_factory=AlertSettings)
    ticket: AlertSettings = field(default_factory=AlertSettings)

    def for_severity(self, severity: str) -> tuple[int | None, dict[str, str], dict[str, str]]:
        """(for seconds, labels, annotations) of the page or ticket alert."""
        own = self.page if severity == "page" else self.ticket
        annotations = {**self.annotations, **({"runbook_url": self.runbook_url} if self.runbook_url else {}),
                       **own.annotations}
        return own.for_seconds, {**self.labels, **own.labels}, annotations

    def to_dict(self) -> dict:
        return {"labels": dict(self.labels), "annotations": dict(self.annotations), "runbook_url": self.runbook_url,
                "page": self.page.to_dict(), "ticket": self.ticket.to_dict()}


@dataclass(frozen=True)
class SLO:
    name: str
    kind: str  # ratio | latency | gauge
    objective: float  # fraction of good events/time, e.g. 0.99
    window: int = DEFAULT_WINDOW
    description: str = ""
    good: Metric | None = None
    errors: Metric | None = None
    total: Metric | None = None
    histogram: Metric | None = None
    threshold: float | None = None  # latency: seconds
    quantile: float | None = None  # latency: reported quantile, e.g. 0.95
    gauge: Metric | None = None
    bad_when: tuple[str, float] = (">", 0.0)  # gauge: the bad condition
    selector: str = ""  # matchers added to every series selector of this SLO
    labels: dict[str, str] = field(default_factory=dict)
    # explicit per SLO: no events at all in the window (a rare event such as a key rotation) is ok,
    # shown as the verdict `no-events`; by default it is `no-data`, never ok
    no_events_ok: bool = False
    alerting: Alerting = field(default_factory=Alerting)

    @property
    def error_budget(self) -> float:
        return round(1.0 - self.objective, 12)

    @property
    def zero_tolerance(self) -> bool:
        return self.error_budget <= 0

    def metrics(self) -> list[Metric]:
        return [m for m in (self.good, self.errors, self.total, self.histogram, self.gauge) if m is not None]

    def to_dict(self) -> dict:
        data: dict[str, Any] = {
            "name": self.name, "kind": self.kind, "objective": self.objective, "window": promql_duration(self.window),
            "error_budget": self.error_budget, "description": self.description, "selector": self.selector or None,
            "labels": dict(self.labels), "no_events": "ok" if self.no_events_ok else "no-data",
            "alerting": self.alerting.to_dict(),
        }
        if self.kind == "ratio":
            data["ratio"] = {k: m.text() for k, m in (("good", self.good), ("errors", self.errors),
                                                       ("total", self.total)) if m is not None}
        elif self.kind == "latency":
            data["latency"] = {"histogram": self.histogram.text(), "threshold_seconds": self.threshold,
                               "quantile": self.quantile}
        else:
            data["gauge"] = {"metric": self.gauge.text(), "bad_when": f"{self.bad_when[0]} {self.bad_when[1]:g}"}
        return data


@dataclass(frozen=True)
class Spec:
    slos: tuple[SLO, ...]
    source: str = "built-in default"

    def to_dict(self) -> dict:
        return {"source": self.source, "slos": [slo.to_dict() for slo in self.slos]}


def default_spec() -> Spec:
    """The mesh's own targets (shared domain facts): success >= 99%, p95 < 100 ms, no fallback, no rotation failures."""
    return Spec(source="built-in default", slos=(
        SLO(name="handshake-success", kind="ratio", objective=0.99,
            description="PQC handshakes that succeed (target >= 99%)",
            good=Metric("pqc_handshake_success_total"), errors=Metric("pqc_handshake_failure_total")),
        SLO(name="handshake-latency", kind="latency", objective=0.95,
            description="PQC handshakes faster than 100 ms (p95 < 100 ms)",
            histogram=Metric("pqc_handshake_latency_seconds"), threshold=0.1, quantile=0.95),
        SLO(name="pqc-fallback", kind="gauge", objective=1.0,
            description="Time with PQC fallback to classical-only enabled (target 0)",
            gauge=Metric("pqc_fallback_enabled"), bad_when=(">", 0.0)),
        SLO(name="key-rotation", kind="ratio", objective=1.0,
            description="Key rotations that fail (target 0)",
            good=Metric("key_rotation_success_total"), errors=Metric("key_rotation_failure_total")),
    ))


# Loading and validation


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, where: str, message: str) -> None:
        self.items.append((where, message))


def parse_label_selector(text: str, where: str = "--selector") -> str:
    """'{job="x0",instance=~"a.*"}' -> the matchers inside the braces, validated."""
    match = _LABEL_SELECTOR.match(text or "")
    if not match or not _MATCHERS.match(match.group(1)):
        raise UsageError(f'{where}: {text!r} is not a label selector like {{job="x0"}}')
    return match.group(1).strip().rstrip(",").strip()


def parse_metric(value: Any, where: str, problems: _Problems) -> Metric | None:
    if not isinstance(value, str) or not value.strip():
        problems.add(where, "must be a series selector (metric{label=\"v\"}) or PromQL containing {{window}}")
        return None
    selector = _SERIES_SELECTOR.match(value)
    if selector:
        matchers = selector.group(2) or ""
        if not _MATCHERS.match(matchers):
            problems.add(where, f"bad label matchers in {value.strip()!r}")
            return None
        return Metric(name=selector.group(1), matchers=matchers.strip().rstrip(","))
    if WINDOW_PLACEHOLDER in value:
        return Metric(expression=value.strip())
    problems.add(where, f"{value.strip()!r} is neither a series selector nor PromQL containing {WINDOW_PLACEHOLDER}")
    return None


def parse_objective(value: Any, where: str, problems: _Problems, *, percent: bool = True) -> float | None:
    """x0ctl specs give percent (99, 99.9, '99%'); OpenSLO `target` gives a fraction (0.99)."""
    try:
        if isinstance(value, str) and value.strip().endswith("%"):
            number, percent = float(value.strip()[:-1]), True
        elif isinstance(value, bool):
            raise ValueError
        else:
            number = float(value)
    except (TypeError, ValueError):
        problems.add(where, f"{value!r} is not a number")
        return None
    fraction = number / 100 if percent else number
    if not math.isfinite(fraction) or not 0 < fraction <= 1:
        problems.add(where, f"{value!r} is out of range ({'0 < objective <= 100' if percent else '0 < target <= 1'})")
        return None
    return round(fraction, 12)


def _duration(value: Any, where: str, problems: _Problems, default: int) -> int:
    if value is None:
        return default
    try:
        seconds = parse_duration(value, where, allow_zero=False)
    except DurationError as exc:
        problems.add(where, exc.problem)
        return default
    if seconds < 1:
        problems.add(where, f"{value!r} is shorter than a second")
        return default
    return int(seconds)


def _labels(value: Any, where: str, problems: _Problems, what: str = "label") -> dict[str, str]:
    """A mapping of Prometheus label (or annotation) names to text, each problem filed under its key."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(where, f"must be a mapping of {what} names to text")
        return {}
    named = {}
    for key, item in value.items():
        if not isinstance(key, str) or not re.fullmatch(_LABEL_NAME, key):
            problems.add(f"{where}.{key}", f"is not a valid {what} name")
        elif not isinstance(item, str | int | float) or isinstance(item, bool):
            problems.add(f"{where}.{key}", "must be text")
        else:
            named[key] = str(item)
    return named


def _annotations(value: Any, where: str, problems: _Problems) -> dict[str, str]:
    return _labels(value, where, problems, "annotation")


def _alert_settings(value: Any, where: str, problems: _Problems, inherited_for: int | None) -> AlertSettings:
    if value is None:
        return AlertSettings(for_seconds=inherited_for)
    if not isinstance(value, dict):
        problems.add(where, "must be a mapping (for, labels, annotations)")
        return AlertSettings()
    for key in value:
        if key not in ("for", "labels", "annotations"):
            problems.add(f"{where}.{key}", "unknown field (expected for, labels, annotations)")
    for_seconds = _duration(value["for"], f"{where}.for", problems, 0) if "for" in value else inherited_for
    return AlertSettings(for_seconds=for_seconds or None, labels=_labels(value.get("labels"), f"{where}.labels",
                                                                          problems),
                         annotations=_annotations(value.get("annotations"), f"{where}.annotations", problems))


def _alerting(value: Any, where: str, problems: _Problems) -> Alerting:
    if value is None:
        return Alerting()
    if not isinstance(value, dict):
        problems.add(where, "must be a mapping (for, labels, annotations, runbook_url, page, ticket)")
        return Alerting()
    known = ("for", "labels", "annotations", "runbook_url", "page", "ticket")
    for key in value:
        if key not in known:
            problems.add(f"{where}.{key}", f"unknown field (expected one of {', '.join(known)})")
    shared_for = _duration(value["for"], f"{where}.for", problems, 0) if "for" in value else None
    runbook = value.get("runbook_url")
    if runbook is not None and not re.match(r"^https?://\S+$", str(runbook)):
        problems.add(f"{where}.runbook_url", f"{runbook!r} is not an http(s) URL")
        runbook = None
    labels = _labels(value.get("labels"), f"{where}.labels", problems)
    for reserved in ("severity", "slo"):
        if reserved in labels:
            problems.add(f"{where}.labels.{reserved}", "is set by x0ctl (severity: page or ticket; slo: the name)")
    return Alerting(labels=labels, annotations=_annotations(value.get("annotations"), f"{where}.annotations", problems),
                    runbook_url=str(runbook) if runbook else None,
                    page=_alert_settings(value.get("page"), f"{where}.page", problems, shared_for or None),
                    ticket=_alert_settings(value.get("ticket"), f"{where}.ticket", problems, shared_for or None))


def _selector(value: Any, where: str, problems: _Problems) -> str:
    if value in (None, ""):
        return ""
    try:
        return parse_label_selector(str(value), where)
    except UsageError:
        problems.add(where, f'{value!r} is not a label selector like {{job="x0"}}')
        return ""


def _name(value: Any, where: str, problems: _Problems) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", value):
        problems.add(where, "must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit")
        return str(value)
    return value


def _native_slo(item: Any, where: str, problems: _Problems, default_window: int, default_selector: str) -> SLO | None:
    if not isinstance(item, dict):
        problems.add(where, "must be a mapping")
        return None
    known = {"name", "description", "objective", "window", "ratio", "latency", "gauge", "selector", "labels",
             "no_events", "alerting"}
    for key in item:
        if key not in known:
            problems.add(f"{where}.{key}", f"unknown field (expected one of {', '.join(sorted(known))})")
    name = _name(item.get("name"), f"{where}.name", problems)
    if "objective" not in item:
        problems.add(f"{where}.objective", "is required (percent, e.g. 99.9)")
    objective = parse_objective(item.get("objective"), f"{where}.objective", problems) if "objective" in item else None
    window = _duration(item.get("window"), f"{where}.window", problems, default_window)
    own_selector = _selector(item.get("selector"), f"{where}.selector", problems)
    selector = ",".join(s for s in (default_selector, own_selector) if s)
    labels = _labels(item.get("labels"), f"{where}.labels", problems)
    no_events = item.get("no_events", "no-data")
    if no_events not in ("ok", "no-data"):
        problems.add(f"{where}.no_events", f"{no_events!r} is not 'ok' or 'no-data' (what no events in the window "
                     "means)")
    alerting = _alerting(item.get("alerting"), f"{where}.alerting", problems)
    kinds = [k for k in ("ratio", "latency", "gauge") if k in item]
    if len(kinds) != 1:
        problems.add(where, "needs exactly one of ratio, latency or gauge")
        return None
    kind = kinds[0]
    body = item[kind]
    if not isinstance(body, dict):
        problems.add(f"{where}.{kind}", "must be a mapping")
        return None
    common = dict(name=name, kind=kind, objective=objective or 0.0, window=window,
                  description=str(item.get("description") or ""), selector=selector, labels=labels,
                  no_events_ok=no_events == "ok", alerting=alerting)
    before = len(problems.items)
    if kind == "ratio":
        fields = _ratio_fields(body, f"{where}.ratio", problems)
        if fields is None:
            return None
        slo = SLO(**common, **fields)
    elif kind == "latency":
        slo = _latency(body, f"{where}.latency", problems, common)
    else:
        slo = _gauge(body, f"{where}.gauge", problems, common)
    if slo is None or objective is None or len(problems.items) > before:
        return None
    return slo


def _ratio_fields(body: dict, where: str, problems: _Problems) -> dict | None:
    for key in body:
        if key not in ("good", "errors", "bad", "total"):
            problems.add(f"{where}.{key}", "unknown field (expected two of good, errors, total)")
    if "bad" in body and "errors" not in body:
        body = {**body, "errors": body["bad"]}
    present = [k for k in ("good", "errors", "total") if body.get(k) is not None]
    if len(present) != 2:
        problems.add(where, "needs exactly two of good, errors, total")
        return None
    fields = {k: parse_metric(body[k], f"{where}.{k}", problems) for k in present}
    if any(m is None for m in fields.values()):
        return None
    return fields


def _latency(body: dict, where: str, problems: _Problems, common: dict) -> SLO | None:
    for key in body:
        if key not in ("histogram", "threshold", "quantile"):
            problems.add(f"{where}.{key}", "unknown field (expected histogram, threshold, quantile)")
    histogram = parse_metric(body.get("histogram"), f"{where}.histogram", problems)
    if histogram is not None and not histogram.is_selector:
        problems.add(f"{where}.histogram",
                     "must be a histogram metric name (without _bucket), optionally with matchers")
        histogram = None
    if histogram is not None and histogram.name.endswith(("_bucket", "_count", "_sum")):
        problems.add(f"{where}.histogram", "give the histogram's base name, without _bucket/_count/_sum")
    threshold = None
    raw = body.get("threshold")
    if raw is None:
        problems.add(f"{where}.threshold", "is required (e.g. 100ms or 0.1)")
    else:
        try:
            threshold = parse_duration(raw, f"{where}.threshold")
            if not math.isfinite(threshold) or threshold <= 0:
                raise ValueError
        except ValueError:
            problems.add(f"{where}.threshold", f"{raw!r} is not a positive duration (100ms) or number of seconds")
            threshold = None
    objective = common["objective"]
    quantile = body.get("quantile", objective if 0 < objective < 1 else None)
    if quantile is not None:
        try:
            quantile = float(quantile)
            if not 0 < quantile < 1:
                raise ValueError
        except (TypeError, ValueError):
            problems.add(f"{where}.quantile", f"{body.get('quantile')!r} must be a number between 0 and 1")
            quantile = None
    if histogram is None or threshold is None:
        return None
    return SLO(**common, histogram=histogram, threshold=threshold, quantile=quantile)


def _gauge(body: dict, where: str, problems: _Problems, common: dict) -> SLO | None:
    for key in body:
        if key not in ("metric", "bad_when"):
            problems.add(f"{where}.{key}", "unknown field (expected metric, bad_when)")
    metric = parse_metric(body.get("metric"), f"{where}.metric", problems)
    if metric is not None and not metric.is_selector:
        problems.add(f"{where}.metric", "must be a series selector")
        metric = None
    condition = _GAUGE_CONDITION.match(str(body.get("bad_when", "> 0")))
    if not condition:
        problems.add(f"{where}.bad_when", "must be a comparison like '> 0' or '== 1'")
        return None
    try:
        bad_when = (condition.group(1), float(condition.group(2)))
    except ValueError:
        problems.add(f"{where}.bad_when", "must compare with a number")
        return None
    if metric is None:
        return None
    return SLO(**common, gauge=metric, bad_when=bad_when)


def _openslo(documents: list[dict], problems: _Problems) -> list[SLO]:
    """OpenSLO v1 `kind: SLO` with a ratioMetric (inline indicator or indicatorRef to a `kind: SLI`)."""
    indicators = {}
    for index, doc in enumerate(documents):
        if doc.get("kind") == "SLI":
            name = (doc.get("metadata") or {}).get("name")
            indicators[name] = (doc.get("spec") or {}, f"documents[{index}]")
    slos: list[SLO] = []
    for index, doc in enumerate(documents):
        where = f"documents[{index}]" if len(documents) > 1 else ""
        if not isinstance(doc, dict):
            problems.add(where or "document", "must be a mapping")
            continue
        kind = doc.get("kind")
        if kind == "SLI":
            continue
        if kind != "SLO":
            problems.add(_join(where, "kind"), f"{kind!r} is not supported (x0ctl reads OpenSLO kind: SLO and SLI)")
            continue
        metadata = doc.get("metadata") or {}
        if not isinstance(metadata, dict):
            problems.add(_join(where, "metadata"), "must be a mapping")
            metadata = {}
        name = _name(metadata.get("name"), _join(where, "metadata.name"), problems)
        spec = doc.get("spec") or {}
        if not isinstance(spec, dict):
            problems.add(_join(where, "spec"), "must be a mapping")
            continue
        if "indicator" in spec:
            indicator_where = _join(where, "spec.indicator.spec")
            indicator = (spec.get("indicator") or {}).get("spec") or {}
        elif "indicatorRef" in spec:
            ref = spec["indicatorRef"]
            if ref not in indicators:
                problems.add(_join(where, "spec.indicatorRef"), f"no kind: SLI named {ref!r} in this file")
                continue
            indicator, indicator_where = indicators[ref][0], f"{indicators[ref][1]}.spec"
        else:
            problems.add(_join(where, "spec"), "needs indicator or indicatorRef")
            continue
        ratio = indicator.get("ratioMetric")
        if not isinstance(ratio, dict):
            problems.add(_join(indicator_where, "ratioMetric"),
                         "is required (x0ctl supports OpenSLO ratio metrics; use x0ctl's format for others)")
            continue
        body = {}
        for key, target in (("good", "good"), ("bad", "errors"), ("total", "total")):
            if key in ratio:
                source = (ratio[key] or {}).get("metricSource") or {}
                source_type = str(source.get("type", "Prometheus"))
                if source_type.lower() not in ("prometheus", "thanos", "mimir", "victoriametrics", "cortex"):
                    problems.add(_join(indicator_where, f"ratioMetric.{key}.metricSource.type"),
                                 f"{source_type!r} is not a Prometheus-API source")
                query = (source.get("spec") or {}).get("query")
                body[target] = _openslo_query(query)
        fields = _ratio_fields(body, _join(indicator_where, "ratioMetric"), problems)
        windows = spec.get("timeWindow") or [{}]
        window = _duration((windows[0] or {}).get("duration"), _join(where, "spec.timeWindow[0].duration"), problems,
                           DEFAULT_WINDOW)
        objectives = spec.get("objectives") or []
        if not objectives:
            problems.add(_join(where, "spec.objectives"), "needs at least one objective with target or targetPercent")
        for number, objective in enumerate(objectives):
            owhere = _join(where, f"spec.objectives[{number}]")
            if "target" in objective:
                fraction = parse_objective(objective["target"], f"{owhere}.target", problems, percent=False)
            elif "targetPercent" in objective:
                fraction = parse_objective(objective["targetPercent"], f"{owhere}.targetPercent", problems)
            else:
                problems.add(owhere, "needs target (0-1) or targetPercent")
                fraction = None
            if fraction is None or fields is None:
                continue
            suffix = f"-{objective.get('displayName') or number}" if len(objectives) > 1 else ""
            slos.append(SLO(name=f"{name}{suffix}", kind="ratio", objective=fraction, window=window,
                            description=str(spec.get("description") or metadata.get("displayName") or ""),
                            labels={"service": str(spec["service"])} if spec.get("service") else {}, **fields))
    return slos


_RANGE = re.compile(r"\[\s*\d+(?:ms|s|m|h|d|w|y)(?:\d+(?:ms|s|m|h|d|w|y))*\s*\]")


def _openslo_query(query: Any) -> Any:
    """OpenSLO queries carry a fixed range (rate(x[5m])): x0ctl evaluates them over each window instead."""
    if isinstance(query, str) and WINDOW_PLACEHOLDER not in query and not _SERIES_SELECTOR.match(query):
        return _RANGE.sub(f"[{WINDOW_PLACEHOLDER}]", query)
    return query


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def load_spec(path: str | Path) -> Spec:
    """Read an x0ctl or OpenSLO v1 YAML file; raises SpecError listing every problem with its field."""
    import yaml

    path = Path(path)
    source = str(path)
    text = read_text(path, "SLO spec")
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "yaml"
        raise SpecError(source, [(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]) from None
    except RecursionError:
        raise nested_too_deeply(path, "SLO spec") from None
    return spec_from_documents(documents, source)


def spec_from_documents(documents: list[Any], source: str = "<spec>") -> Spec:
    problems = _Problems()
    if not documents:
        raise SpecError(source, [("(file)", "is empty")])
    if not all(isinstance(d, dict) for d in documents):
        raise SpecError(source, [("(file)", "every YAML document must be a mapping")])
    api = str(documents[0].get("apiVersion", ""))
    if api.startswith("openslo/"):
        if api != "openslo/v1":
            problems.add("apiVersion", f"{api!r} is not supported (x0ctl reads openslo/v1)")
            raise SpecError(source, problems.items)
        slos = _openslo(documents, problems)
    else:
        if len(documents) > 1:
            problems.add("(file)", "x0ctl specs are one YAML document")
        doc = documents[0]
        if api and api != "x0ctl/v1":
            problems.add("apiVersion", f"{api!r} is not supported (x0ctl/v1 or openslo/v1)")
        for key in doc:
            if key not in ("apiVersion", "kind", "window", "selector", "slos"):
                problems.add(key, "unknown field (expected apiVersion, kind, window, selector, slos)")
        window = _duration(doc.get("window"), "window", problems, DEFAULT_WINDOW)
        selector = _selector(doc.get("selector"), "selector", problems)
        items = doc.get("slos")
        if not isinstance(items, list) or not items:
            problems.add("slos", "must be a non-empty list")
            items = []
        slos = [s for i, item in enumerate(items)
                if (s := _native_slo(item, f"slos[{i}]", problems, window, selector)) is not None]
    seen: set[str] = set()
    for slo in slos:
        if slo.name in seen:
            problems.add("slos", f"duplicate SLO name {slo.name!r}")
        seen.add(slo.name)
    if problems.items:
        raise SpecError(source, problems.items)
    return Spec(slos=tuple(slos), source=source)
